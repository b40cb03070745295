"""The model directory on disk: atomic writes, manifest and format checks, JSON/npz reading.

It knows files, not models: `classifier` decides what goes in them. Nothing here unpickles.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from topicclf.errors import ModelBundleError
from topicclf.fileio import current_umask

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_FILES = (MANIFEST, "model.keras", "features.json", "labels.json", "thresholds.json")
TRACKED_PACKAGES = ("topicclf", "tensorflow", "keras", "numpy", "scikit-learn", "nltk")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def new_manifest(**fields: Any) -> dict[str, Any]:
    """A manifest with the format version, creation time and package versions filled in."""
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        **fields,
    }


_HELD: set[str] = set()


@contextlib.contextmanager
def output_lock(target: str | Path) -> Iterator[None]:
    """Hold the right to write `target`; refuse at once if another process holds it.

    The lock is an flock on a hidden `.NAME.lock` file beside the target, so the operating
    system releases it when its holder dies, however it dies. Taking it again in the same
    process is allowed, so a command can hold it for a whole training and `save` still works.
    """
    target = Path(target).absolute()
    if str(target) in _HELD:
        yield
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelBundleError(f"cannot create {target.parent}: {exc.strerror}") from None
    lock_path = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ModelBundleError(
                f"{target} is being written by another process right now (lock file "
                f"{lock_path}); wait for it to finish or choose another output"
            ) from None
        # The previous holder may have removed the file we locked: then lock the new one.
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (
            locked.st_ino,
            locked.st_dev,
        ):
            break
        os.close(fd)
    _HELD.add(str(target))
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        _HELD.discard(str(target))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `target` only if the block succeeds.

    An interrupted or failed save leaves no partial model behind, and an existing model is
    replaced only after the new one is complete.
    """
    with output_lock(target):
        yield from _replace_directory(Path(target), overwrite)


def _replace_directory(target: Path, overwrite: bool) -> Iterator[Path]:
    if target.exists() and not overwrite:
        raise ModelBundleError(
            f"{target} already exists; choose another path or allow overwriting (--force)"
        )
    if target.exists() and not target.is_dir():
        raise ModelBundleError(f"{target} exists and is not a directory")
    parent = target.parent  # created by output_lock
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    # mkdtemp makes the directory private (0700); a model directory is shared like any other.
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / "model")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write JSON (UTF-8, non-ASCII kept readable)."""
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def read_json(directory: Path, name: str) -> Any:
    """Read one JSON file of a model directory, with a ModelBundleError on any problem."""
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, {name} is missing"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelBundleError(f"{path}: corrupt or truncated JSON ({exc})") from None


def read_npz(directory: Path, name: str) -> dict[str, np.ndarray]:
    """Read a numpy archive without allowing pickled objects."""
    path = directory / name
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, {name} is missing"
        ) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelBundleError(f"{path}: corrupt or unreadable numpy archive ({exc})") from None


def check_directory(directory: str | Path) -> dict[str, Any]:
    """Check that a directory is a model this version can read; return its manifest."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelBundleError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelBundleError(f"{directory}: not a model directory (it is a file)")
    manifest = read_json(directory, MANIFEST)
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise ModelBundleError(f"{directory}/{MANIFEST}: not a topicclf manifest")
    version = manifest["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        recorded = manifest.get("versions", {}).get("topicclf", "unknown")
        raise ModelBundleError(
            f"{directory}: model format {version} (made by topicclf {recorded}) is newer than "
            f"this topicclf {package_versions()['topicclf']} reads (format {FORMAT_VERSION}); "
            "upgrade topicclf"
        )
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, missing {', '.join(missing)}"
        )
    return manifest


def describe_versions(manifest: dict[str, Any]) -> str:
    """'package recorded -> installed' for packages whose versions differ."""
    recorded = manifest.get("versions", {})
    installed = package_versions()
    diffs = [
        f"{name} {recorded[name]} -> {installed.get(name)}"
        for name in sorted(recorded)
        if recorded[name] != installed.get(name)
    ]
    return "; ".join(diffs) if diffs else "same package versions"


def _describe_blend(blend: dict[str, Any]) -> str:
    if "linear_weight" not in blend:
        return "off"
    chosen = "chosen on validation" if "validation_micro_f1_by_weight" in blend else "fixed"
    return (
        f"{blend['linear_weight']} of a linear SVM's calibrated scores (C={blend.get('svm_c')}), "
        f"{chosen}"
    )


def describe(directory: str | Path) -> dict[str, Any]:
    """What a model is, from its JSON files alone (no network is loaded)."""
    directory = Path(directory)
    manifest = check_directory(directory)
    labels = read_json(directory, "labels.json")
    thresholds = read_json(directory, "thresholds.json")
    config = manifest.get("config", {})
    net = config.get("network", {})
    network = manifest.get("network", "?")
    if network == "dense":
        shape = f"dense, hidden layers {net.get('hidden_units')}, dropout {net.get('dropout')}"
    else:
        shape = (
            f"embedding (dim {net.get('embedding_dim')}, conv filters {net.get('conv_filters')}),"
            f" hidden layers {net.get('hidden_units')}"
        )
    training = manifest.get("training", {})
    topics = list(labels) if isinstance(labels, list) else []
    shown = ", ".join(topics[:30]) + (f" ... (+{len(topics) - 30})" if len(topics) > 30 else "")
    return {
        "path": str(directory),
        "format version": manifest.get("format_version"),
        "created": manifest.get("created_at"),
        "mode": manifest.get("mode"),
        "network": shape,
        "features": f"{manifest.get('n_features')} ({config.get('features', {})})",
        "topics": f"{len(topics)}: {shown}",
        "thresholds": (
            f"{thresholds.get('strategy')} (global {thresholds.get('global_threshold', 0):.3f}, "
            f"fallback to best topic: {thresholds.get('fallback')})"
        ),
        "linear blend": _describe_blend(training.get("blend", {})),
        "trained on": manifest.get("corpus", {}),
        # The per-threshold curve and blend details stay in manifest.json: too long here.
        "training": {k: v for k, v in training.items() if k not in ("threshold_curve", "blend")},
        "validation": manifest.get("validation", {}),
        "seed": config.get("train", {}).get("seed"),
        "versions (recorded)": manifest.get("versions", {}),
        "versions (installed)": describe_versions(manifest),
    }
