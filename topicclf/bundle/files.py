"""A model directory's files read as untrusted input and written plainly: JSON and numeric
arrays (safetensors; format 1's numpy archives are still read), never pickle.

`bundle` (with `bundle.layout`) decides which files exist; this module reads, writes, sizes and
hashes one at a time. A directory someone sent you may hold anything, so reading trusts nothing:
only regular files inside the directory are opened (no FIFO, device, or symbolic link leading
out), every file is capped in size (`config.MODEL_*_MAX_BYTES`), arrays are decoded by
`arrayfiles` (headers checked before anything is allocated), and where the manifest records a
file's size and SHA-256 the size is checked before reading and the hash over the bytes read (no
second pass over the disk; files that are only checked or copied are hashed a chunk at a time)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from topicclf import config as limits
from topicclf.arrayfiles import ArraySpec, decode_arrays
from topicclf.corpus.base import file_kind
from topicclf.errors import ModelBundleError

CHUNK = 1024**2
_HEX = frozenset("0123456789abcdef")

# What a JSON field may hold, named as error messages say it. `type(v) is int` because JSON
# `true` is a Python bool, and a bool is an int to isinstance. Lists are checked through
# set(map(type, ...)), in C: a 20k-term vocabulary costs ~0.5 ms instead of ~7.
KINDS: dict[str, Callable[[Any], bool]] = {
    "a positive integer": lambda v: type(v) is int and v > 0,
    "null or a positive integer": lambda v: v is None or KINDS["a positive integer"](v),
    "a non-negative integer": lambda v: type(v) is int and v >= 0,
    "a sequence length (1 to 100,000)": lambda v: (
        type(v) is int and 0 < v <= limits.MAX_SEQUENCE_LENGTH
    ),
    "a number": lambda v: type(v) in (int, float),
    "a boolean": lambda v: type(v) is bool,
    "a string": lambda v: type(v) is str,
    "an object": lambda v: type(v) is dict,
    "an object of strings": lambda v: type(v) is dict and set(map(type, v.values())) <= {str},
    "a list of strings": lambda v: type(v) is list and set(map(type, v)) <= {str},
    "a list of objects": lambda v: type(v) is list and set(map(type, v)) <= {dict},
    "a list of numbers": lambda v: type(v) is list and set(map(type, v)) <= {int, float},
    "a list of non-negative integers": lambda v: (
        type(v) is list and all(type(x) is int and x >= 0 for x in v)
    ),
    "null or a list of non-negative integers": lambda v: (
        v is None or KINDS["a list of non-negative integers"](v)
    ),
    "a SHA-256 hex digest": lambda v: type(v) is str and len(v) == 64 and set(v) <= _HEX,
    "an ISO 8601 timestamp": lambda v: type(v) is str and _is_timestamp(v),
}


def _is_timestamp(value: str) -> bool:
    # Bounded first: the value is shown by `info` and repeated in every server answer.
    if len(value) > 64:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class FileRecord:
    """A file's size in bytes and SHA-256 (hex), as the manifest records them."""

    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """The manifest's JSON form."""
        return {"size": self.size, "sha256": self.sha256}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_fields(
    data: Any, fields: Mapping[str, str], where: str, *, required: tuple[str, ...] = ()
) -> None:
    """Raise a ModelBundleError naming the first field of a JSON object not of its kind.

    `fields` maps names (dotted for nested objects: 'config.network') to a key of KINDS;
    absent fields are fine unless `required`."""
    if type(data) is not dict:
        raise ModelBundleError(f"{where}: expected a JSON object, not {_short(data)}")
    for name, kind in fields.items():
        *parents, last = name.split(".")
        holder: Any = data
        for part in parents:  # parents come first in `fields`, so they are objects by now
            holder = holder.get(part, {})
        if last not in holder:
            if name in required:
                raise ModelBundleError(f"{where}: field {name!r} is missing; it must be {kind}")
            continue
        if not KINDS[kind](holder[last]):
            raise ModelBundleError(
                f"{where}: field {name!r} must be {kind}, not {_short(holder[last])}"
            )


def is_plain_name(name: str) -> bool:
    """True for a bare file name: no directory part, nothing that leads out of a directory."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def parse_records(data: Any, where: str) -> dict[str, FileRecord]:
    """The manifest's `files` object ({name: {size, sha256}}) as records, checked."""
    check_fields({"files": data}, {"files": "an object"}, where)
    records = {}
    for name, entry in data.items():
        if not is_plain_name(name):
            raise ModelBundleError(f"{where}: field 'files' names {name!r}, not a plain file name")
        fields = {"size": "a non-negative integer", "sha256": "a SHA-256 hex digest"}
        check_fields(entry, fields, f"{where}: files[{name!r}]", required=("size", "sha256"))
        records[name] = FileRecord(entry["size"], entry["sha256"])
    return records


def locate(directory: Path, name: str) -> tuple[Path, os.stat_result]:
    """The regular file `name` is inside `directory`, and its stat, without opening it.

    A symbolic link is followed only when it stays inside the directory; a FIFO or device is
    refused here, before anything opens it (opening a FIFO waits for a writer)."""
    if not is_plain_name(name):
        raise ModelBundleError(f"{directory}: {name!r} is not a file name")
    path = directory / name
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(os.path.realpath(directory)):
                raise ModelBundleError(
                    f"{path}: a symbolic link to {target}, outside the model directory; "
                    "a model reads only its own files"
                )
            path, info = target, os.stat(target)
    except FileNotFoundError:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, {name} is missing"
        ) from None
    except OSError as exc:
        raise ModelBundleError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelBundleError(
            f"{path}: {file_kind(info.st_mode)}, not a regular file; a model directory holds "
            "only regular files"
        )
    return path, info


def _check_size(path: Path, size: int, limit: int, record: FileRecord | None) -> None:
    if record is not None and size != record.size:
        raise ModelBundleError(
            f"{path}: {size:,} bytes, but the manifest records {record.size:,}; the file was "
            "changed or truncated after the model was saved"
        )
    if size > limit:
        raise ModelBundleError(
            f"{path}: {size:,} bytes, more than the {limit:,} topicclf reads from such a "
            "file; this is not a file topicclf wrote"
        )


@contextlib.contextmanager
def _opened(
    directory: Path, name: str, limit: int, record: FileRecord | None
) -> Iterator[tuple[io.BufferedReader, Path, int]]:
    """(handle, path, size) of a checked file; its size is checked before any byte is read."""
    path, info = locate(directory, name)
    _check_size(path, info.st_size, limit, record)
    try:
        # Should the file be swapped for a link or a FIFO after the check, O_NOFOLLOW fails
        # and O_NONBLOCK returns at once (fstat below refuses it) instead of hanging.
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelBundleError(f"{path}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelBundleError(f"{path}: {file_kind(info.st_mode)}, not a regular file")
        _check_size(path, info.st_size, limit, record)
        yield handle, path, info.st_size


def _chunks(handle: IO[bytes], path: Path, size: int) -> Iterator[bytes]:
    left = size
    while left:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk
    if left or handle.read(1):
        raise ModelBundleError(f"{path}: the file changed size while it was being read")


def _check_digest(path: Path, digest: Any, record: FileRecord | None) -> None:
    if record is not None and digest.hexdigest() != record.sha256:
        raise ModelBundleError(
            f"{path}: its SHA-256 is not the one the manifest records; the file was changed "
            "after the model was saved"
        )


def read_bytes(
    directory: Path, name: str, *, limit: int, record: FileRecord | None = None
) -> bytearray:
    """A whole file, at most `limit` bytes, checked against `record` once read."""
    with _opened(directory, name, limit, record) as (handle, path, size):
        # One read into one buffer: gathering chunks and joining them cost a second copy
        # (~30 ms for a Reuters-sized model); the hash then runs over memory, not the disk.
        # A bytearray: arrays are viewed in it in place, writable as arrays of their own.
        data = bytearray(size)
        if handle.readinto(data) != size or handle.read(1):
            raise ModelBundleError(f"{path}: the file changed size while it was being read")
    if record is not None:
        digest = hashlib.sha256()
        view = memoryview(data)
        for start in range(0, size, CHUNK):
            digest.update(view[start : start + CHUNK])
        _check_digest(path, digest, record)
    return data


def hash_file(
    directory: Path,
    name: str,
    *,
    limit: int | None = None,
    record: FileRecord | None = None,
    copy_to: Path | None = None,
) -> FileRecord:
    """Size and SHA-256 of a file, a chunk at a time (optionally copied to `copy_to`), checked
    against `record` when given."""
    digest = hashlib.sha256()
    limit = limits.MODEL_NETWORK_MAX_BYTES if limit is None else limit
    with (
        _opened(directory, name, limit, record) as (handle, path, size),
        open(copy_to, "xb") if copy_to else contextlib.nullcontext() as out,
    ):
        for chunk in _chunks(handle, path, size):
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
    _check_digest(path, digest, record)
    return FileRecord(size, digest.hexdigest())


def read_json(directory: Path, name: str, record: FileRecord | None = None) -> Any:
    """Read one JSON file of a model directory, with a ModelBundleError on any problem."""
    data = read_bytes(directory, name, limit=limits.MODEL_JSON_MAX_BYTES, record=record)
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 and bad JSON are ValueErrors
        raise ModelBundleError(f"{directory / name}: corrupt or truncated JSON ({exc})") from None
    if nesting(value) > MAX_JSON_NESTING:
        raise ModelBundleError(
            f"{directory / name}: nested more than {MAX_JSON_NESTING} levels deep; this is "
            "not a file topicclf wrote"
        )
    return value


# The deepest a model's JSON files nest (a manifest: about 5 levels). Deeper, every reader
# that walks them recursively (`info`'s tables) would end in RecursionError.
MAX_JSON_NESTING = 32


def nesting(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def write_json(path: Path, data: Any) -> None:
    """Write JSON (UTF-8, non-ASCII kept readable; never NaN or infinity, which JSON lacks)."""
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False) + "\n", encoding="utf-8"
    )


def read_arrays(
    directory: Path, name: str, specs: Mapping[str, ArraySpec], record: FileRecord | None = None
) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file (or a format-1 .npz), each exactly as `specs` says."""
    data = read_bytes(directory, name, limit=limits.MODEL_ARRAYS_MAX_BYTES, record=record)
    return decode_arrays(data, specs, directory / name)


class ModelFiles:
    """A model directory opened for reading. With `records` (format 2 on) the manifest lists
    the model's files, and each is checked against its recorded size and SHA-256 as it is
    read; `renamed` maps today's file names to the ones an older format used."""

    def __init__(
        self,
        directory: Path,
        records: Mapping[str, FileRecord] | None,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.records = records
        self.renamed = dict(renamed or {})

    def name(self, name: str) -> str:
        """The name the file has in this directory's format."""
        return self.renamed.get(name, name)

    def has(self, name: str) -> bool:
        """Whether the model has this (optional) file."""
        name = self.name(name)
        if self.records is not None:
            return name in self.records
        return os.path.lexists(self.directory / name)

    def record(self, name: str) -> FileRecord | None:
        """The file's record, None for a format without records; refuses an unrecorded file."""
        if self.records is None:
            return None
        if name not in self.records:
            raise ModelBundleError(
                f"{self.directory}/{name}: not recorded in the manifest, so it cannot be "
                "checked; the model directory is inconsistent"
            )
        return self.records[name]

    def check_sizes(self) -> None:
        """Each recorded file is there, regular and of its recorded size (a stat each): a
        truncated model.keras is caught even when the numpy engine never reads it."""
        for name, record in (self.records or {}).items():
            path, info = locate(self.directory, name)
            _check_size(path, info.st_size, limits.MODEL_NETWORK_MAX_BYTES, record)

    def json(self, name: str) -> Any:
        """A JSON file, parsed."""
        name = self.name(name)
        return read_json(self.directory, name, self.record(name))

    def arrays(self, name: str, specs: Mapping[str, ArraySpec]) -> dict[str, np.ndarray]:
        """An array file, each array checked against `specs` before it is read."""
        name = self.name(name)
        return read_arrays(self.directory, name, specs, self.record(name))

    def array_shapes(self, name: str) -> dict[str, tuple[int, ...]] | None:
        """The names and shapes of a safetensors file's arrays, from its header alone (no
        array data read, no SHA-256: `info` reads no arrays); None for an older .npz file
        or a header that is not a plain one (reading the arrays names what is wrong)."""
        name = self.name(name)
        if name.endswith(".npz"):
            return None
        with _opened(self.directory, name, limits.MODEL_ARRAYS_MAX_BYTES, self.record(name)) as (
            handle,
            _,
            size,
        ):
            start = handle.read(8)
            if len(start) < 8:
                return None
            length = int.from_bytes(start, "little")
            if length > min(limits.SAFETENSORS_HEADER_MAX_BYTES, size - 8):
                return None
            text = handle.read(length)
        try:
            header = json.loads(text.decode("utf-8"))
            shapes = {
                key: tuple(int(n) for n in entry["shape"])
                for key, entry in header.items()
                if key != "__metadata__"
            }
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return None
        return shapes

    def check(self, name: str, copy_to: Path | None = None) -> None:
        """Read a file that another library opens itself (model.keras), to check it first;
        `copy_to` also copies it there."""
        name = self.name(name)
        record = self.record(name)
        if record is None and copy_to is None:  # nothing to compare with: check, don't read
            path, info = locate(self.directory, name)
            _check_size(path, info.st_size, limits.MODEL_NETWORK_MAX_BYTES, None)
            return
        hash_file(self.directory, name, record=record, copy_to=copy_to)

    def verify(self) -> dict[str, str]:
        """Each recorded file's status: 'OK' or what differs (never raises for a bad file)."""
        out = {}
        for name, record in sorted((self.records or {}).items()):
            try:
                _, info = locate(self.directory, name)
                if info.st_size != record.size:
                    out[name] = f"size differs: {info.st_size:,} bytes, recorded {record.size:,}"
                elif hash_file(self.directory, name).sha256 != record.sha256:
                    out[name] = "content differs: SHA-256 is not the recorded one"
                else:
                    out[name] = "OK"
            except ModelBundleError as exc:
                out[name] = str(exc)
        return out
