from __future__ import annotations

import os
from pathlib import Path

import pytest

from topicclf.errors import OutputError
from topicclf.fileio import atomic_directory, atomic_output, check_output


def test_the_one_overwrite_rule(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    with pytest.raises(OutputError, match=r"in\.jsonl is also an input of this command"):
        check_output(source, inputs=[str(source)], force=True)
    with pytest.raises(OutputError, match=r"is also an input"):  # the same file by another name
        check_output(tmp_path / "." / "in.jsonl", inputs=[str(source)], force=True)
    with pytest.raises(OutputError, match=r"already exists; choose another path or add --force"):
        check_output(source, inputs=["-", "reuters:modapte-test"])
    check_output(source, inputs=["-"], force=True)
    check_output(tmp_path / "new.jsonl", inputs=[str(source)])


def test_leftovers_of_a_killed_writer_are_removed_by_the_next(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale_file = tmp_path / f".out.jsonl.{dead}.abc123.tmp"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".model.{dead}.xyz.tmp"
    stale_dir.mkdir()
    (stale_dir / "f").write_text("x")
    alive = tmp_path / f".out.jsonl.{os.getpid()}.keep.tmp"  # a writer still running
    alive.write_text("busy")
    with atomic_output(tmp_path / "out.jsonl") as handle:
        handle.write("ok\n")
    with atomic_directory(tmp_path / "model") as directory:
        (directory / "f").write_text("x")
    assert not stale_file.exists() and not stale_dir.exists() and alive.exists()
    assert (tmp_path / "out.jsonl").read_text() == "ok\n"
