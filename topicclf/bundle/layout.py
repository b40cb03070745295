"""The model directory's layout, and its checks before anything is loaded: every file's
name, which are required, reading the manifest, telling a model from a corpus, and checking
every file against the size and SHA-256 the manifest records (`info --verify`).

`bundle` (the package's `__init__`) saves and loads models in this layout; `bundle.files`
reads each file, capped and checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from topicclf.bundle.files import ModelFiles, parse_records, read_json
from topicclf.bundle.manifest import check_manifest
from topicclf.config import INFO_SHOWN_ITEMS
from topicclf.errors import ModelBundleError
from topicclf.fileio import MODEL_MANIFEST

MANIFEST = MODEL_MANIFEST
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.safetensors"
FEATURES_META = "features.json"
FEATURES_ARRAYS = "features.safetensors"
LINEAR_FILE = "linear.safetensors"
LINEAR_FEATURES_META = "linear_features.json"
LINEAR_FEATURES_ARRAYS = "linear_features.safetensors"
LABELS_FILE = "labels.json"
THRESHOLDS_FILE = "thresholds.json"
SHORTLIST_META = "shortlist.json"  # a shortlist network's sizes (its arrays: WEIGHTS_FILE)
VOCABULARY_FILE = "vocabulary.json"  # optional: the topics' URIs and labels (train --vocabulary)
REQUIRED_FILES = (MANIFEST, FEATURES_META, LABELS_FILE, THRESHOLDS_FILE)
MODEL_FILE_NAMES = frozenset(
    {MODEL_FILE, WEIGHTS_FILE, FEATURES_ARRAYS, LINEAR_FILE, LINEAR_FEATURES_META}
    | {LINEAR_FEATURES_ARRAYS, VOCABULARY_FILE, SHORTLIST_META, *REQUIRED_FILES[1:]}
)
# Format 1 (still read, never written) kept the arrays in .npz files and recorded no hashes;
# formats 1 and 2 kept a dense network twice, as model.keras beside its exported weights.
FORMAT_1_NAMES = {
    name: name.replace(".safetensors", ".npz")
    for name in (WEIGHTS_FILE, FEATURES_ARRAYS, LINEAR_FILE, LINEAR_FEATURES_ARRAYS)
}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a model directory this version can read, its fields type-checked."""
    directory = Path(directory)
    if not directory.exists():
        if os.path.islink(directory):  # exists() follows links: say why this one is none
            raise ModelBundleError(
                f"{directory}: no such model directory (a symbolic link to a missing path, "
                "or a loop of links)"
            )
        raise ModelBundleError(f"{directory}: no such model directory")
    if not directory.is_dir():
        # A FIFO or a device was "a file" (pass 47): named as every other command names it.
        from topicclf.corpus.base import file_kind

        mode = directory.stat().st_mode
        kind = "a file" if stat.S_ISREG(mode) else file_kind(mode)
        raise ModelBundleError(f"{directory}: not a model directory (it is {kind})")
    if not os.path.lexists(directory / MANIFEST) and _looks_like_corpus(directory):
        raise ModelBundleError(
            f"{directory}: looks like a corpus, not a model directory (no {MANIFEST}); give "
            "a directory that topicclf train wrote (where a command takes a model and "
            "inputs, the model comes first: MODEL INPUT...)"
        )
    return check_manifest(read_json(directory, MANIFEST), f"{directory}/{MANIFEST}")


def _looks_like_corpus(directory: Path) -> bool:
    """True for a directory of documents (text, JSON Lines, CSV, SGML files)."""
    suffixes = (".txt", ".jsonl", ".csv", ".tsv", ".sgm", ".labels", ".parquet")
    try:
        return any(p.suffix.lower() in suffixes for p in directory.iterdir())
    except OSError:
        return False


def check_directory(directory: str | Path) -> dict[str, Any]:
    """Check that a directory is a model this version can read; return its manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    # lexists: a FIFO or a link in a file's place is there, and refused when read.
    missing = [name for name in REQUIRED_FILES if not os.path.lexists(directory / name)]
    network_files = (MODEL_FILE, WEIGHTS_FILE, FORMAT_1_NAMES[WEIGHTS_FILE])
    if not any(os.path.lexists(directory / name) for name in network_files):
        missing.append(f"{MODEL_FILE} (or {WEIGHTS_FILE})")
    if missing:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, missing {', '.join(missing)}"
        )
    return manifest


def model_files(directory: str | Path, manifest: dict[str, Any]) -> ModelFiles:
    """A checked directory's files for reading; from format 2 on, every recorded file's size
    is checked now and each file's SHA-256 as it is read."""
    directory = Path(directory)
    if manifest["format_version"] == 1:
        return ModelFiles(directory, None, FORMAT_1_NAMES)
    files = ModelFiles(directory, parse_records(manifest["files"], f"{directory}/{MANIFEST}"))
    files.check_sizes()
    return files


def verify_files(directory: str | Path) -> dict[str, Any]:
    """Every file (model.keras too) against the size and SHA-256 the manifest records:
    {'path', 'format version', 'hashes recorded', 'files': {name: status}, 'mismatched'},
    and 'more unrecorded files': how many files loading never reads are left out of 'files'
    past the first INFO_SHOWN_ITEMS (only when some are)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    version = manifest["format_version"]
    report = {"path": str(directory), "format version": version, "hashes recorded": version > 1}
    if version == 1:
        return {**report, "files": {}, "mismatched": []}
    records = parse_records(manifest["files"], f"{directory}/{MANIFEST}")
    statuses = ModelFiles(directory, records).verify()
    mismatched = [name for name, status in statuses.items() if status != "OK"]
    unread = 0
    for path in sorted(directory.iterdir()):
        if path.name == MANIFEST or path.name in records:
            continue
        if path.name in MODEL_FILE_NAMES:  # loading reads it, and refuses it unrecorded
            statuses[path.name] = "not recorded in the manifest (loading refuses it)"
            mismatched.append(path.name)
        elif unread < INFO_SHOWN_ITEMS:  # listed, but never read: not part of the model
            statuses[path.name] = "not recorded in the manifest (never read)"
            unread += 1
        else:  # counted only: 30,000 of them took 7.6 s and 2 MB of table to list
            unread += 1
    for name in REQUIRED_FILES[1:]:
        if name not in statuses:
            statuses[name] = "missing (a model needs it)"
            mismatched.append(name)
    more = {"more unrecorded files": unread - INFO_SHOWN_ITEMS} if unread > INFO_SHOWN_ITEMS else {}
    return {**report, "files": statuses, "mismatched": mismatched, **more}
