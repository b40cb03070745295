"""The manifest's content: its format version, the kind of each field, the package versions
it records and how they compare with the installed ones. `bundle` reads and writes the file.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from topicclf.bundle.files import check_fields
from topicclf.config import cut, section_names
from topicclf.errors import ModelBundleError

# 1: arrays in .npz files (still read). 2: arrays in safetensors files, and every file's size
# and SHA-256 recorded under `files`. 3: a dense network is its weights alone (no model.keras).
FORMAT_VERSION = 3
TRACKED_PACKAGES = ("topicclf", "tensorflow", "keras", "numpy", "scikit-learn", "nltk")
# The kind (bundle.files.KINDS) of every field `load_model` or `describe` reads: a hand-edited
# field of the wrong type is named when the manifest is read, not met later as a traceback.
# Values (mode names, configuration keys) are checked where they are used.
MANIFEST_FIELDS = {
    "format_version": "a positive integer",
    "created_at": "an ISO 8601 timestamp",
    "versions": "an object of strings",
    "mode": "a string",
    "network": "a string",
    "n_topics": "a non-negative integer",
    "n_features": "a non-negative integer",
    "config": "an object",
    **{f"config.{section}": "an object" for section in section_names()},
    "corpus": "an object",
    "training": "an object",
    "training.blend": "an object",
    # Read by `info` alone (the loader reads features.json and the config), so checked here:
    # a 20 MB string in their place made a 20 MB line of `info --json`.
    "training.char_ngrams": "null or a list of non-negative integers",
    "training.blend.linear_weight": "a number",
    "training.blend.svm_c": "a number",
    # null for token sequences (no floor), absent in models saved before attacker pass 24; at
    # most config.features.min_df, checked with the configuration (`bundle.manifest_config`).
    "training.min_df_applied": "null or a positive integer",
    "validation": "an object",
    "files": "an object",
}


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


def fingerprint(manifest: dict[str, Any], directory: Path | None = None) -> str:
    """The SHA-256 of a manifest's content. From format 2 on the manifest records every
    other file's size and SHA-256, and loading checks each file against them: two loads
    with one fingerprint hold the same model. Format 1 recorded no hashes: given its
    `directory`, its files' names, sizes and modification times count too (a served
    format-1 model whose thresholds were edited was loaded by a new worker unnoticed)."""
    content = json.dumps(manifest, sort_keys=True)
    if directory is not None and manifest.get("format_version") == 1:
        stats = []
        for path in sorted(directory.iterdir()):
            try:
                found = path.stat()
            except OSError:
                continue  # gone between the listing and the look: its absence counts
            stats.append([path.name, found.st_size, found.st_mtime_ns])
        content += json.dumps(stats)
    return hashlib.sha256(content.encode()).hexdigest()


def check_manifest(manifest: Any, where: str) -> dict[str, Any]:
    """A parsed manifest of a format this topicclf reads, its fields type-checked."""
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise ModelBundleError(f"{where}: not a topicclf manifest")
    check_fields(manifest, {"format_version": MANIFEST_FIELDS["format_version"]}, where)
    version = manifest["format_version"]
    if version > FORMAT_VERSION:
        versions = manifest.get("versions")
        recorded = versions.get("topicclf", "unknown") if isinstance(versions, dict) else "?"
        raise ModelBundleError(
            f"{where}: model format {version} (made by topicclf {recorded}) is newer than "
            f"this topicclf {package_versions()['topicclf']} reads (format {FORMAT_VERSION}); "
            "upgrade topicclf"
        )
    # Only now: a newer format may have changed the other fields.
    check_fields(manifest, MANIFEST_FIELDS, where, required=("files",) if version > 1 else ())
    return manifest


# A manifest records TRACKED_PACKAGES (a newer topicclf may track a few more); a forged one
# may record 200,000, and this line is in `info` and in an error message.
SHOWN_VERSION_DIFFS = 20


def describe_versions(manifest: dict[str, Any]) -> str:
    """'package recorded -> installed' for packages whose versions differ (the first
    SHOWN_VERSION_DIFFS, names and versions cut)."""
    recorded = manifest.get("versions", {})
    installed = package_versions()
    diffs = [name for name in sorted(recorded) if recorded[name] != installed.get(name)]
    if not diffs:
        return "same package versions"
    shown = "; ".join(
        f"{cut(name)} {cut(recorded[name])} -> {installed.get(name)}"
        for name in diffs[:SHOWN_VERSION_DIFFS]
    )
    more = len(diffs) - SHOWN_VERSION_DIFFS
    return shown + (f"; and {more:,} more" if more > 0 else "")
