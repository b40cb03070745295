"""arrayfiles: safetensors and format-1 .npz arrays, each checked before it is allocated."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from topicclf import config
from topicclf.arrayfiles import FLOATS, ArraySpec, decode_arrays, write_arrays
from topicclf.errors import ModelBundleError

SPECS = {"coef": ArraySpec(FLOATS, (2, 3)), "flag": ArraySpec(("bool",), (1,), required=False)}
ST = Path("m/w.safetensors")
NPZ = Path("m/w.npz")
COEF = np.arange(6, dtype=np.float32).reshape(2, 3)


def _safetensors(header: dict[str, object], data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)  # writes the magic string too
    return buffer.getvalue()


def test_safetensors_round_trip(tmp_path: Path) -> None:
    write_arrays(tmp_path / "w.safetensors", {"coef": COEF, "flag": np.array([True])})
    data = (tmp_path / "w.safetensors").read_bytes()
    arrays = decode_arrays(data, SPECS, ST)
    np.testing.assert_array_equal(arrays["coef"], COEF)
    assert arrays["coef"].dtype == np.float32 and arrays["flag"].tolist() == [True]
    assert b"pickle" not in data


def test_a_header_claiming_a_huge_shape_allocates_nothing() -> None:
    # 4 TB claimed in ~100 bytes: refused from the header, before any allocation.
    header = {"coef": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}
    with pytest.raises(
        ModelBundleError,
        match=r"w.safetensors: array 'coef' has shape \(1000000, 1000000\), expected \(2, 3\)",
    ):
        decode_arrays(_safetensors(header), SPECS, ST)
    # Even where that shape were expected, safetensors wants the data to be there.
    huge = {"coef": ArraySpec(FLOATS, (10**6, 10**6))}
    with pytest.raises(ModelBundleError, match="w.safetensors: corrupt safetensors file"):
        decode_arrays(_safetensors(header), huge, ST)


def test_a_header_length_past_the_file_or_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelBundleError, match=r"header of 1,152,921,504,606,846,976 bytes"):
        decode_arrays(struct.pack("<Q", 2**60) + b"{}", SPECS, ST)
    with pytest.raises(ModelBundleError, match=r"truncated safetensors file \(3 bytes\)"):
        decode_arrays(b"\x08\x00\x00", SPECS, ST)
    data = _safetensors({"coef": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})
    monkeypatch.setattr(config, "SAFETENSORS_HEADER_MAX_BYTES", 16)
    with pytest.raises(ModelBundleError, match=r"safetensors header of \d+ bytes is implausible"):
        decode_arrays(data + bytes(24), SPECS, ST)


@pytest.mark.parametrize("code", ["F16", "BF16", "U8", "I8", "C64", "F8_E4M3", 5, None])
def test_dtypes_no_topicclf_array_has_are_refused(code: object) -> None:
    header = {"coef": {"dtype": code, "shape": [2, 3], "data_offsets": [0, 6]}}
    with pytest.raises(
        ModelBundleError, match="array 'coef' has no dtype or one no topicclf array has"
    ):
        decode_arrays(_safetensors(header, bytes(6)), SPECS, ST)


def test_names_dtypes_and_shapes_must_be_the_expected_ones(tmp_path: Path) -> None:
    def decoded(**arrays: np.ndarray) -> dict[str, np.ndarray]:
        write_arrays(tmp_path / "w.safetensors", arrays)
        return decode_arrays((tmp_path / "w.safetensors").read_bytes(), SPECS, ST)

    with pytest.raises(ModelBundleError, match="array 'coef' has dtype int64, expected float32"):
        decoded(coef=COEF.astype(np.int64))
    with pytest.raises(ModelBundleError, match=r"'coef' has shape \(3, 2\), expected \(2, 3\)"):
        decoded(coef=COEF.T.copy())
    with pytest.raises(ModelBundleError, match=r"unexpected array 'extra' \(expected: coef, flag"):
        decoded(coef=COEF, extra=COEF)
    with pytest.raises(ModelBundleError, match="no array 'coef'; the file is incomplete"):
        decoded(flag=np.array([False]))
    data = (tmp_path / "w.safetensors").read_bytes()
    with pytest.raises(ModelBundleError, match="corrupt safetensors file"):
        decode_arrays(data[:-1], SPECS, ST)


@pytest.mark.parametrize("shape", [[-1, 3], [True, 3], "2x3", None])
def test_invalid_shapes_and_headers(shape: object) -> None:
    header = {"coef": {"dtype": "F32", "shape": shape, "data_offsets": [0, 24]}}
    with pytest.raises(ModelBundleError, match="array 'coef' has an invalid shape"):
        decode_arrays(_safetensors(header, bytes(24)), SPECS, ST)
    with pytest.raises(ModelBundleError, match="the safetensors header is not a JSON object"):
        decode_arrays(_safetensors([1, 2]), SPECS, ST)  # type: ignore[arg-type]


# -- format 1: numpy archives --------------------------------------------------------------
def test_npz_round_trip_with_any_byte_order_and_layout() -> None:
    data = _npz(coef=np.asfortranarray(COEF).astype(">f4"), flag=np.array([True]))
    arrays = decode_arrays(data, SPECS, NPZ)
    np.testing.assert_array_equal(arrays["coef"], COEF)
    assert arrays["coef"].dtype == np.dtype("float32")


def test_an_npy_header_claiming_a_huge_shape_is_refused_before_reading() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("coef.npy", _npy_header("<f4", (10**6, 10**6)))  # 128 bytes
    with pytest.raises(
        ModelBundleError, match=r"w.npz: array 'coef' has shape \(1000000, 1000000\), expected"
    ):
        decode_arrays(buffer.getvalue(), SPECS, NPZ)
    huge = {"coef": ArraySpec(FLOATS, (10**6, 10**6))}
    with pytest.raises(ModelBundleError, match=r"w.npz: coef.npy is truncated"):
        decode_arrays(buffer.getvalue(), huge, NPZ)


def test_a_decompression_bomb_is_refused_before_inflating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A valid 2x3 header, then 64 MiB of zeros: ~64 KB compressed. Written a MiB at a time.
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("coef.npy", "w", force_zip64=True) as member,
    ):
        member.write(_npy_header("<f4", (2, 3)) + COEF.tobytes())
        for _ in range(64):
            member.write(bytes(1024**2))
    bomb = buffer.getvalue()
    assert len(bomb) < 1024**2
    with pytest.raises(ModelBundleError, match="w.npz: coef.npy has data after its array"):
        decode_arrays(bomb, SPECS, NPZ)  # only the header and 24 bytes are inflated
    monkeypatch.setattr(config, "MODEL_ARRAYS_MAX_BYTES", 1024**2)
    with pytest.raises(
        ModelBundleError, match=r"coef.npy inflates to 67,109,016 bytes, more than the 1,048,576"
    ):
        decode_arrays(bomb, SPECS, NPZ)


class _Boom:
    """Unpickling this runs code: it writes the marker file."""

    marker = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.mark.parametrize(
    ("array", "dtype"),
    [
        (np.array(["abc", "de"]), "<U3"),
        (np.array([1j, 2j]), "complex128"),
        (np.array([b"ab"]), "|S2"),
        (np.array([_Boom()], dtype=object), "object"),
    ],
    ids=["str", "complex", "bytes", "object"],
)
def test_string_complex_and_object_arrays_are_refused_unread(
    tmp_path: Path, array: np.ndarray, dtype: str
) -> None:
    _Boom.marker = str(tmp_path / "ran.txt")
    data = _npz(coef=array)
    with pytest.raises(
        ModelBundleError, match=rf"array 'coef' has dtype {dtype}, expected float32 or float64"
    ):
        decode_arrays(data, SPECS, NPZ)
    assert not (tmp_path / "ran.txt").exists()


def test_corrupt_archives_are_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (b"PK\x03\x04 truncated", b"not a zip at all", _npz(coef=COEF)[:-30]):
        with pytest.raises(ModelBundleError, match="w.npz: corrupt or unreadable numpy archive"):
            decode_arrays(data, SPECS, NPZ)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("coef.txt", "1 2 3")
    with pytest.raises(ModelBundleError, match="w.npz: unexpected member 'coef.txt'"):
        decode_arrays(buffer.getvalue(), SPECS, NPZ)
    monkeypatch.setattr(config, "NPZ_MAX_MEMBERS", 1)
    with pytest.raises(ModelBundleError, match="w.npz: 2 members; too many arrays"):
        decode_arrays(_npz(coef=COEF, flag=np.array([True])), SPECS, NPZ)


def test_safetensors_arrays_are_viewed_in_place_as_safetensors_would_read_them(
    tmp_path: Path,
) -> None:
    from safetensors.numpy import load

    write_arrays(tmp_path / "w.safetensors", {"coef": COEF, "flag": np.array([True])})
    data = bytearray((tmp_path / "w.safetensors").read_bytes())
    arrays = decode_arrays(data, SPECS, ST)
    expected = load(bytes(data))
    for key, array in arrays.items():
        np.testing.assert_array_equal(array, expected[key])
        assert array.dtype == expected[key].dtype and array.flags.writeable
    assert np.shares_memory(arrays["coef"], np.frombuffer(data, dtype=np.uint8))
    # A layout safetensors would refuse (here a gap between the arrays) is its to refuse.
    header = {
        "coef": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "flag": {"dtype": "BOOL", "shape": [1], "data_offsets": [25, 26]},
    }
    with pytest.raises(ModelBundleError, match="corrupt safetensors file"):
        decode_arrays(_safetensors(header, bytes(26)), SPECS, ST)
