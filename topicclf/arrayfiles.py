"""Numeric arrays of a model directory: written as safetensors, read back from safetensors or
from format 1's numpy archives, each array's name, dtype and exact shape checked against what
the model needs before its data is allocated or decompressed (a 64-byte header can claim
terabytes; a 13 MB zip member can inflate to gigabytes). Never pickle."""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from topicclf import config as limits
from topicclf.errors import ModelBundleError

FLOATS = ("float32", "float64")
# safetensors dtype codes of the only dtypes a topicclf array has; any other is refused.
SAFETENSORS_DTYPES = {
    "F32": "float32",
    "F64": "float64",
    "I32": "int32",
    "I64": "int64",
    "BOOL": "bool",
}


@dataclass(frozen=True)
class ArraySpec:
    """What one stored array must be: one of `dtypes` (numpy names) and exactly `shape`."""

    dtypes: tuple[str, ...]
    shape: tuple[int, ...]
    required: bool = True


def write_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write numeric arrays as one safetensors file: raw data behind a small JSON header."""
    from safetensors.numpy import save

    path.write_bytes(save({key: np.ascontiguousarray(a) for key, a in arrays.items()}))


def decode_arrays(
    data: bytes | bytearray, specs: Mapping[str, ArraySpec], where: Path
) -> dict[str, np.ndarray]:
    """The arrays of a file's bytes (a .npz by its name, else safetensors), as `specs` says."""
    if where.name.endswith(".npz"):
        arrays = _npz_arrays(data, specs, where)
    else:
        arrays = _safetensors_arrays(data, specs, where)
    missing = [key for key, spec in specs.items() if spec.required and key not in arrays]
    if missing:
        raise ModelBundleError(f"{where}: no array {missing[0]!r}; the file is incomplete")
    for key, array in arrays.items():
        # A NaN weight makes every score NaN, and NaN passes no threshold: silently no topics.
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelBundleError(
                f"{where}: array {key!r} holds NaN or infinite values; the model is damaged"
            )
    return arrays


def _check_array(
    where: Path, key: str, dtype: np.dtype, shape: tuple[int, ...], specs: Mapping[str, ArraySpec]
) -> int:
    """The array's size in bytes, once its name, dtype and shape are what `specs` expects."""
    spec = specs.get(key)
    if spec is None:
        expected = ", ".join(specs) or "none"
        raise ModelBundleError(f"{where}: unexpected array {key!r} (expected: {expected})")
    if dtype.name not in spec.dtypes:
        raise ModelBundleError(
            f"{where}: array {key!r} has dtype {dtype}, expected {' or '.join(spec.dtypes)}"
        )
    if shape != spec.shape:
        raise ModelBundleError(
            f"{where}: array {key!r} has shape {shape}, expected {spec.shape}; the model "
            "directory is inconsistent"
        )
    return math.prod(shape) * dtype.itemsize


def _safetensors_arrays(
    data: bytes | bytearray, specs: Mapping[str, ArraySpec], where: Path
) -> dict[str, np.ndarray]:
    """Check the header against `specs` first, then view the data in place (the layout
    safetensors writes, checked as safetensors checks it), or let safetensors decide."""
    if len(data) < 8:
        raise ModelBundleError(f"{where}: truncated safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(limits.SAFETENSORS_HEADER_MAX_BYTES, len(data) - 8):
        raise ModelBundleError(f"{where}: safetensors header of {size:,} bytes is implausible")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ModelBundleError(f"{where}: corrupt safetensors header ({exc})") from None
    if type(header) is not dict:
        raise ModelBundleError(f"{where}: the safetensors header is not a JSON object")
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(str(entry.get("dtype"))) if type(entry) is dict else None
        if dtype is None:
            raise ModelBundleError(
                f"{where}: array {key!r} has no dtype or one no topicclf array has ({entry!r:.80})"
            )
        shape = entry.get("shape")
        if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
            raise ModelBundleError(f"{where}: array {key!r} has an invalid shape ({shape!r:.80})")
        _check_array(where, key, np.dtype(dtype), tuple(shape), specs)
    views = _views(data, header, 8 + size)
    if views is not None:
        return views
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        # safetensors checks that the offsets tile the data exactly and match each shape.
        return load(bytes(data))
    except SafetensorError as exc:
        raise ModelBundleError(f"{where}: corrupt safetensors file ({exc})") from None


_HEADER_KEYS = {"dtype", "shape", "data_offsets"}


def _views(
    data: bytes | bytearray, header: dict[str, Any], start: int
) -> dict[str, np.ndarray] | None:
    """The arrays as views of `data` (no copy), when the file is laid out as safetensors
    writes it: a header of only its own fields, the arrays' byte ranges tiling the data
    exactly, each the size of its dtype and shape (what safetensors' `load` checks before
    it copies every array, 35 MB and ~35 ms for a Reuters model). None for anything else,
    which safetensors then accepts or refuses with its own message. The header's dtypes
    and shapes are already checked against the specs."""
    if data[8:9] != b"{":  # safetensors refuses a header that does not start so
        return None
    spans = []
    for key, entry in header.items():
        if key == "__metadata__":
            if type(entry) is not dict or set(map(type, entry.values())) - {str}:
                return None
            continue
        offsets = entry.get("data_offsets")
        if entry.keys() != _HEADER_KEYS or type(offsets) is not list or len(offsets) != 2:
            return None
        begin, end = offsets
        if type(begin) is not int or type(end) is not int or not 0 <= begin <= end:
            return None
        dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
        if end - begin != math.prod(entry["shape"]) * dtype.itemsize:
            return None
        spans.append((begin, end, key, dtype))
    spans.sort()
    position = 0
    for begin, end, _, _ in spans:
        if begin != position:
            return None
        position = end
    if start + position != len(data):
        return None
    view = memoryview(data)
    return {
        key: np.frombuffer(view[start + begin : start + end], dtype=dtype).reshape(
            header[key]["shape"]
        )
        for begin, end, key, dtype in spans
    }


def _npz_arrays(
    data: bytes | bytearray, specs: Mapping[str, ArraySpec], where: Path
) -> dict[str, np.ndarray]:
    """A format-1 numpy archive, member by member: each .npy header is checked before its
    data is decompressed, and no member inflates past its declared size or the cap."""
    budget = limits.MODEL_ARRAYS_MAX_BYTES
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > limits.NPZ_MAX_MEMBERS:
                raise ModelBundleError(f"{where}: {len(members)} members; too many arrays")
            for info in members:
                key = info.filename.removesuffix(".npy")
                if key == info.filename or key in arrays:
                    raise ModelBundleError(f"{where}: unexpected member {info.filename!r}")
                if info.file_size > budget:
                    raise ModelBundleError(
                        f"{where}: {info.filename} inflates to {info.file_size:,} bytes, more "
                        f"than the {limits.MODEL_ARRAYS_MAX_BYTES:,} topicclf reads"
                    )
                with archive.open(info) as member:
                    arrays[key] = _npy_member(member, info.file_size, key, specs, where)
                budget -= info.file_size
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise ModelBundleError(f"{where}: corrupt or unreadable numpy archive ({exc})") from None
    return arrays


def _npy_member(
    member: IO[bytes], declared: int, key: str, specs: Mapping[str, ArraySpec], where: Path
) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version not in ((1, 0), (2, 0)):
        raise ModelBundleError(f"{where}: {key}.npy has unknown format version {version}")
    # numpy parses the header with a literal evaluator and caps its length; nothing runs.
    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, fortran_order, dtype = read_header(member)
    nbytes = _check_array(where, key, dtype, tuple(shape), specs)
    if nbytes > declared:
        raise ModelBundleError(f"{where}: {key}.npy is truncated")
    body = member.read(nbytes)
    if len(body) != nbytes:
        raise ModelBundleError(f"{where}: {key}.npy is truncated")
    if member.read(1):  # reading to the end also makes zipfile check the member's CRC
        raise ModelBundleError(f"{where}: {key}.npy has data after its array")
    array = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return array.astype(dtype.newbyteorder("="), copy=False)
