"""A model directory's files read as untrusted input and written plainly: JSON and numeric
arrays, never pickle. `bundle` decides which files exist; this module reads and writes one."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from topicclf.errors import ModelBundleError


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
