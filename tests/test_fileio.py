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


def test_an_output_is_never_inside_an_input_nor_holds_one(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.json").write_text("[]")
    corpus = tmp_path / "texts"
    corpus.mkdir()
    (corpus / "a.txt").write_text("a")
    inputs = [str(model), str(corpus)]
    with pytest.raises(OutputError, match=r"labels\.json is inside .*model, an input"):
        check_output(model / "labels.json", inputs=inputs, force=True)
    with pytest.raises(OutputError, match=r"a\.txt is inside .*texts, an input"):
        check_output(corpus / "a.txt", inputs=inputs, force=True)
    check_output(corpus / "new.jsonl", inputs=inputs)  # a new file replaces nothing
    with pytest.raises(OutputError, match=r"holds .*model, an input of this command"):
        check_output(tmp_path, inputs=inputs, force=True)
    check_output(tmp_path / "out.jsonl", inputs=inputs)


def test_an_output_of_the_wrong_kind_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"nodir/x\.jsonl: the directory .*nodir does not exist"):
        check_output(tmp_path / "nodir" / "x.jsonl", kind="file")
    with pytest.raises(OutputError, match=r"is a directory; give a file name"):
        check_output(tmp_path, kind="file", force=True)
    (tmp_path / "f.jsonl").write_text("")
    with pytest.raises(OutputError, match=r"f\.jsonl exists and is not a directory"):
        check_output(tmp_path / "f.jsonl", kind="directory", force=True)
    check_output(tmp_path / "nodir" / "model", kind="directory")  # parents are created


def test_a_dangling_link_is_an_existing_output(tmp_path: Path) -> None:
    link = tmp_path / "out.jsonl"
    link.symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(OutputError, match=r"already exists \(a link\); .* add --force"):
        check_output(link)
    check_output(link, force=True)


def test_a_link_loop_among_the_inputs_or_as_the_output_is_no_crash(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    # Which file a loop is cannot be known; the reader names the loop when it opens it.
    check_output(tmp_path / "out.jsonl", inputs=[str(loop)], kind="file")
    with pytest.raises(OutputError, match=r"loop\.jsonl already exists \(a link\)"):
        check_output(loop, inputs=[str(tmp_path / "in.jsonl")], kind="file")
    (tmp_path / "in.jsonl").write_text("{}\n")
    check_output(loop, inputs=[str(tmp_path / "in.jsonl")], force=True)


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


def test_a_compressed_file_name_is_refused_as_an_output(tmp_path: Path) -> None:
    # A corpus named .gz is read through gzip: plain text under that name could not be read.
    with pytest.raises(OutputError, match=r"tags\.jsonl\.GZ: outputs are written uncompressed"):
        check_output(tmp_path / "tags.jsonl.GZ", kind="file")
    check_output(tmp_path / "models.gz", kind="directory")  # a directory's name is a name


def test_only_regular_files_are_replaced_never_a_fifo_or_device(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for force in (False, True):
        with pytest.raises(OutputError, match=r"pipe is a FIFO \(named pipe\), not a regular"):
            check_output(fifo, force=force)
    with pytest.raises(OutputError, match=r"/dev/null is a character device, .* stdout"):
        check_output("/dev/null", force=True)
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    with pytest.raises(OutputError, match=r"null is a character device"):
        check_output(link, force=True)
    assert fifo.exists() and Path("/dev/null").is_char_device()


def test_nothing_is_written_inside_a_model_directory(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "manifest.json").write_text('{\n "format_version": 3\n}')
    for target, kind in [
        (model / "vocabulary.json", "file"),
        (model / "sub" / "tags.tsv", "file"),
        (model / "inner", "directory"),
    ]:
        with pytest.raises(OutputError, match=r"inside the model directory .*model; .* elsewhere"):
            check_output(target, kind=kind, force=True)
    (tmp_path / "linked").symlink_to(model)
    with pytest.raises(OutputError, match=r"inside the model directory"):
        check_output(tmp_path / "linked" / "x.tsv")
    check_output(model, kind="directory", force=True)  # replacing the model itself is allowed
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"files": []}')  # not a topicclf manifest
    check_output(corpus / "tags.tsv")
