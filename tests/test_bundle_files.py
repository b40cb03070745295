"""bundle.files: one file of a model directory read as untrusted input (no model needed)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import deadline

from topicclf import config
from topicclf.arrayfiles import FLOATS, ArraySpec, write_arrays
from topicclf.bundle.files import (
    FileRecord,
    ModelFiles,
    check_fields,
    hash_file,
    locate,
    parse_records,
    read_arrays,
    read_bytes,
    read_json,
)
from topicclf.errors import ModelBundleError

SPECS = {"coef": ArraySpec(FLOATS, (2, 3))}


def _record(data: bytes) -> FileRecord:
    return FileRecord(len(data), hashlib.sha256(data).hexdigest())


@pytest.fixture
def model(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "a.json").write_text('{"x": 1}')
    write_arrays(directory / "w.safetensors", {"coef": np.ones((2, 3), np.float32)})
    return directory


def test_a_regular_file_is_read_and_checked(model: Path) -> None:
    data = (model / "a.json").read_bytes()
    assert read_bytes(model, "a.json", limit=100, record=_record(data)) == data
    assert read_json(model, "a.json", _record(data)) == {"x": 1}
    assert hash_file(model, "a.json") == _record(data)
    assert _record(data).to_dict() == {"size": 8, "sha256": hashlib.sha256(data).hexdigest()}


def test_a_link_to_dev_zero_is_refused_before_reading(model: Path) -> None:
    os.symlink("/dev/zero", model / "manifest.json")
    with (
        deadline(10),
        pytest.raises(
            ModelBundleError,
            match="manifest.json: a symbolic link to /dev/zero, outside the model directory; "
            "a model reads only its own files",
        ),
    ):
        read_json(model, "manifest.json")


def test_a_link_leading_out_is_refused_even_to_a_regular_file(model: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text("{}")
    os.symlink(tmp_path / "secret.json", model / "b.json")
    os.symlink("../secret.json", model / "c.json")
    for name in ("b.json", "c.json"):
        with pytest.raises(ModelBundleError, match=rf"{name}: a symbolic link to .*secret\.json"):
            read_json(model, name)


def test_a_link_inside_is_followed_and_the_directory_may_be_a_link(
    model: Path, tmp_path: Path
) -> None:
    os.symlink("a.json", model / "b.json")
    os.symlink(model, tmp_path / "current")
    assert read_json(tmp_path / "current", "b.json") == {"x": 1}


def test_a_fifo_or_directory_is_refused_without_opening_it(model: Path) -> None:
    os.mkfifo(model / "fifo.json")
    (model / "sub.json").mkdir()
    # Opening a FIFO for reading blocks until a writer comes: the deadline turns a hang into
    # a failure, but the check happens from lstat, before any open.
    with deadline(10):
        for read in (lambda: read_json(model, "fifo.json"), lambda: hash_file(model, "fifo.json")):
            with pytest.raises(ModelBundleError, match="fifo.json: a named pipe, not a regular"):
                read()
        os.symlink("fifo.json", model / "link.json")  # a link inside, to a FIFO
        with pytest.raises(ModelBundleError, match="fifo.json: a named pipe, not a regular"):
            read_json(model, "link.json")
    with pytest.raises(ModelBundleError, match="sub.json: a directory, not a regular file"):
        read_bytes(model, "sub.json", limit=10)


def test_names_that_leave_the_directory_are_refused(model: Path) -> None:
    for name in ("../a.json", "", ".", "..", "sub/a.json", "a\0"):
        with pytest.raises(ModelBundleError, match="is not a file name"):
            locate(model, name)


def test_a_missing_file_or_dangling_link_says_missing(model: Path) -> None:
    os.symlink("nothing.json", model / "dangling.json")
    for name in ("b.json", "dangling.json"):
        with pytest.raises(ModelBundleError, match=f"incomplete model directory, {name} is"):
            read_json(model, name)


def test_a_file_over_its_cap_is_refused_before_reading(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (model / "big.json").write_bytes(b" " * 2000 + b"{}")
    monkeypatch.setattr(config, "MODEL_JSON_MAX_BYTES", 1000)
    with pytest.raises(
        ModelBundleError, match=r"big.json: 2,002 bytes, more than the 1,000 topicclf reads"
    ):
        read_json(model, "big.json")
    monkeypatch.setattr(config, "MODEL_ARRAYS_MAX_BYTES", 50)
    with pytest.raises(ModelBundleError, match=r"w.safetensors: \d+ bytes, more than the 50 "):
        read_arrays(model, "w.safetensors", SPECS)


def test_size_is_checked_before_reading_and_the_hash_while_reading(model: Path) -> None:
    data = (model / "a.json").read_bytes()
    with pytest.raises(
        ModelBundleError,
        match="a.json: 8 bytes, but the manifest records 9; the file was changed or truncated",
    ):
        read_json(model, "a.json", FileRecord(9, _record(data).sha256))
    (model / "a.json").write_bytes(data.replace(b"1", b"2"))
    with pytest.raises(
        ModelBundleError, match="a.json: its SHA-256 is not the one the manifest records"
    ):
        read_json(model, "a.json", _record(data))


@pytest.mark.parametrize(
    "data",
    [b'{"x": ', b'"caf\xe9"', b"[" * 100_000, b"7" * 5000, b"\xef\xbb\xbf{}"],
    ids=["truncated", "latin-1", "nested", "5000 digits", "BOM"],
)
def test_corrupt_json_is_one_clear_error(model: Path, data: bytes) -> None:
    (model / "bad.json").write_bytes(data)
    with pytest.raises(ModelBundleError, match="bad.json: corrupt or truncated JSON"):
        read_json(model, "bad.json")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "a positive integer"),
        (-1, "a positive integer"),
        (0, "a positive integer"),
        (1.0, "a positive integer"),
        (False, "a non-negative integer"),
        ("1", "a number"),
        (1, "a boolean"),
        (None, "a string"),
        ([], "an object"),
        ({"numpy": 2}, "an object of strings"),
        (["a", 1], "a list of strings"),
        ([0.5, True], "a list of numbers"),
        ("ab12", "a SHA-256 hex digest"),
        ("XY", "a SHA-256 hex digest"),
    ],
)
def test_check_fields_names_the_field_and_its_kind(value: object, kind: str) -> None:
    with pytest.raises(
        ModelBundleError, match=re.escape(f"m/x.json: field 'f' must be {kind}, not {value!r}")
    ):
        check_fields({"f": value}, {"f": kind}, "m/x.json")


def test_check_fields_nested_required_and_long_values() -> None:
    fields = {"config": "an object", "config.network": "an object", "ok": "a number"}
    check_fields({"config": {"network": {}}, "ok": 1.5}, fields, "m")
    check_fields({}, fields, "m")  # absent fields are fine unless required
    with pytest.raises(ModelBundleError, match=r"field .config.network. must be an object, not"):
        check_fields({"config": {"network": []}}, fields, "m")
    with pytest.raises(ModelBundleError, match="field 'ok' is missing; it must be a number"):
        check_fields({}, fields, "m", required=("ok",))
    with pytest.raises(ModelBundleError, match=r"m: expected a JSON object, not \['x'\]"):
        check_fields(["x"], fields, "m")
    with pytest.raises(ModelBundleError) as caught:
        check_fields({"ok": "x" * 10_000}, fields, "m")
    assert len(str(caught.value)) < 120  # a huge value is shortened in the message


def test_parse_records() -> None:
    sha = "0" * 64
    assert parse_records({"a.json": {"size": 3, "sha256": sha}}, "m") == {
        "a.json": FileRecord(3, sha)
    }
    for files, match in [
        ([], "field 'files' must be an object"),
        ({"../a.json": {"size": 3, "sha256": sha}}, "names '../a.json', not a plain file name"),
        ({"a.json": {"size": True, "sha256": sha}}, "field 'size' must be a non-negative integer"),
        ({"a.json": {"size": 3}}, "field 'sha256' is missing"),
        ({"a.json": "3 bytes"}, "expected a JSON object"),
    ]:
        with pytest.raises(ModelBundleError, match=re.escape(match)):
            parse_records(files, "m")


def test_model_files_read_only_what_the_manifest_records(model: Path) -> None:
    records = {name: hash_file(model, name) for name in ("a.json", "w.safetensors")}
    (model / "extra.json").write_text("{}")
    files = ModelFiles(model, records)
    files.check_sizes()
    assert files.json("a.json") == {"x": 1}
    np.testing.assert_array_equal(files.arrays("w.safetensors", SPECS)["coef"], np.ones((2, 3)))
    assert files.has("a.json") and not files.has("extra.json")
    with pytest.raises(ModelBundleError, match="extra.json: not recorded in the manifest"):
        files.json("extra.json")
    assert files.verify() == {"a.json": "OK", "w.safetensors": "OK"}
    data = (model / "w.safetensors").read_bytes()
    (model / "w.safetensors").write_bytes(data[:-4])
    (model / "a.json").write_text('{"x": 2}')
    with pytest.raises(ModelBundleError, match=r"w.safetensors: \d+ bytes, but the manifest"):
        files.check_sizes()
    assert files.verify() == {
        "a.json": "content differs: SHA-256 is not the recorded one",
        "w.safetensors": f"size differs: {len(data) - 4} bytes, recorded {len(data)}",
    }


def test_model_files_without_records_use_the_old_names(model: Path) -> None:
    np.savez(model / "w.npz", coef=np.zeros((2, 3), np.float32))
    (model / "w.safetensors").unlink()
    files = ModelFiles(model, None, {"w.safetensors": "w.npz"})
    assert files.has("w.safetensors") and files.name("w.safetensors") == "w.npz"
    assert files.arrays("w.safetensors", SPECS)["coef"].shape == (2, 3)
    assert files.json("a.json") == {"x": 1} and files.verify() == {}
    files.check("a.json")


def test_check_copies_while_it_verifies(model: Path, tmp_path: Path) -> None:
    data = (model / "a.json").read_bytes()
    files = ModelFiles(model, {"a.json": _record(data)})
    files.check("a.json", copy_to=tmp_path / "copy.json")
    assert (tmp_path / "copy.json").read_bytes() == data
    files = ModelFiles(model, {"a.json": _record(data.replace(b"1", b"2"))})
    with pytest.raises(ModelBundleError, match="a.json: its SHA-256 is not"):
        files.check("a.json", copy_to=tmp_path / "copy2.json")
