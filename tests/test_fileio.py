from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from topicclf.errors import OutputError
from topicclf.fileio import atomic_directory, atomic_output, check_output, output_lock


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


def test_an_output_linked_from_inside_an_input_directory_is_an_input(tmp_path: Path) -> None:
    """--force replaced victim.txt through texts/sub/l.txt, a link the directory reader read
    as one of its documents (a hard link too), though a direct input is refused."""
    victim, texts = tmp_path / "victim.txt", tmp_path / "texts"
    victim.write_text("victim text")
    (texts / "sub").mkdir(parents=True)
    (texts / "b.txt").write_text("b")
    (texts / "sub" / "l.txt").symlink_to(victim)
    message = r"victim\.txt is also .*texts/sub/l\.txt, in .*texts, an input of this command"
    with pytest.raises(OutputError, match=message):
        check_output(victim, inputs=[str(texts)], force=True)
    (texts / "sub" / "l.txt").unlink()
    os.link(victim, texts / "h.txt")
    with pytest.raises(OutputError, match=r"victim\.txt is also .*texts/h\.txt, in .*texts"):
        check_output(victim, inputs=[str(texts)], force=True)
    # A directory output (Dask parts) holding a file an input links to is refused too.
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "part-00000.jsonl").write_text("{}\n")
    (texts / "p.txt").symlink_to(parts / "part-00000.jsonl")
    with pytest.raises(OutputError, match=r"parts is also .*texts/p\.txt, in .*texts"):
        check_output(parts, inputs=[str(texts)], force=True, kind="parts")
    (texts / "h.txt").unlink()
    (texts / "p.txt").unlink()
    os.mkfifo(texts / "f.txt")  # compared by stat, never opened: no hang
    check_output(victim, inputs=[str(texts)], force=True)


def test_an_output_of_the_wrong_kind_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"nodir/x\.jsonl: the directory .*nodir does not exist"):
        check_output(tmp_path / "nodir" / "x.jsonl", kind="file")
    with pytest.raises(OutputError, match=r"is a directory; give a file name"):
        check_output(tmp_path, kind="file", force=True)
    (tmp_path / "f.jsonl").write_text("")
    with pytest.raises(OutputError, match=r"f\.jsonl exists and is not a directory"):
        check_output(tmp_path / "f.jsonl", kind="model", force=True)
    check_output(tmp_path / "nodir" / "model", kind="model")  # parents are created
    with pytest.raises(ValueError, match=r"unknown kind of output 'directory'"):
        check_output(tmp_path / "x", kind="directory")


def test_an_output_under_a_file_says_the_file_is_no_directory(tmp_path: Path) -> None:
    # Before: "the directory x.jsonl does not exist; create it first", though it exists.
    (tmp_path / "x.jsonl").write_text("")
    os.mkfifo(tmp_path / "ff")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    for kind in ("file", "model"):
        with pytest.raises(OutputError, match=r"x\.jsonl is a file, not a directory; give a"):
            check_output(tmp_path / "x.jsonl" / "r.md", kind=kind)
        with pytest.raises(OutputError, match=r"x\.jsonl is a file, not a directory"):
            check_output(tmp_path / "x.jsonl" / "a" / "b" / "r.md", kind=kind)
    with pytest.raises(OutputError, match=r"ff is a FIFO \(named pipe\), not a directory"):
        check_output(tmp_path / "ff" / "r.md")
    with pytest.raises(OutputError, match=r"gone is a link to nothing, not a directory"):
        check_output(tmp_path / "gone" / "r.md")
    # The lock beside a model output makes its parents: it says the same, not "File exists".
    lock = output_lock(tmp_path / "x.jsonl" / "model")
    with pytest.raises(OutputError, match=r"x\.jsonl is a file, not a directory"), lock:
        pass


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
    from topicclf.fileio import _HOST

    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale_file = tmp_path / f".out.jsonl.{dead}-{_HOST}.abc12345.tmp"
    stale_file.write_text("half")
    stale_dir = tmp_path / f".model.{dead}-{_HOST}.xyz_0123.tmp"
    stale_dir.mkdir()
    (stale_dir / "f").write_text("x")
    alive = tmp_path / f".out.jsonl.{os.getpid()}-{_HOST}.keep1234.tmp"  # a writer still running
    alive.write_text("busy")
    elsewhere = tmp_path / f".out.jsonl.{dead}-000000.abc12345.tmp"  # another host's writer
    elsewhere.write_text("busy there")
    with atomic_output(tmp_path / "out.jsonl") as handle:
        handle.write("ok\n")
    with atomic_directory(tmp_path / "model") as directory:
        (directory / "f").write_text("x")
    assert not stale_file.exists() and not stale_dir.exists() and alive.exists()
    assert elsewhere.exists()
    assert (tmp_path / "out.jsonl").read_text() == "ok\n"


def test_the_stale_sweep_never_removes_an_input_or_a_name_it_did_not_make(
    tmp_path: Path,
) -> None:
    # Before: any `.NAME.<dead pid>.<anything>.tmp` was removed, directories with all they
    # held, even the command's own input (it vanished before it was read).
    from topicclf.fileio import _HOST

    dead = 2**22 + 12345
    made_up = tmp_path / f".o.jsonl.{dead}.x.tmp"
    made_up.write_text("{}\n")
    kept_dir = tmp_path / f".mm.{dead}.keep.tmp"
    kept_dir.mkdir()
    (kept_dir / "notes.txt").write_text("important")
    an_input = tmp_path / f".o.jsonl.{dead}-{_HOST}.abcdefgh.tmp"
    an_input.write_text("{}\n")
    check_output(tmp_path / "o.jsonl", inputs=[str(an_input)], kind="file")
    with atomic_output(tmp_path / "o.jsonl") as handle:
        handle.write("ok\n")
    with atomic_directory(tmp_path / "mm") as directory:
        (directory / "f").write_text("x")
    assert made_up.exists() and an_input.exists() and (kept_dir / "notes.txt").exists()


@pytest.mark.parametrize("planted", ["link", "data", "fifo", "directory"])
def test_the_lock_file_is_never_followed_truncated_or_removed_if_not_ours(
    tmp_path: Path, planted: str
) -> None:
    # Before: a link `.m.lock -> precious.txt` had precious.txt overwritten with the pid and
    # the link removed; a corpus named .m.lock was truncated before it was read.
    precious = tmp_path / "precious.txt"
    precious.write_text("precious data")
    lock = tmp_path / ".m.lock"
    expected = {
        "link": r"\.m\.lock, where topicclf locks m while writing it: a symbolic link; "
        r"topicclf never follows or replaces it: remove it, or choose another output",
        "data": r"\.m\.lock, where topicclf locks m while writing it, is a file of 13 bytes "
        r"that is no topicclf lock; topicclf never replaces it",
        "fifo": r"\.m\.lock, where topicclf locks m while writing it, is a named pipe",
        "directory": r"\.m\.lock, where topicclf locks m while writing it: Is a directory",
    }[planted]
    if planted == "link":
        lock.symlink_to(precious)
    elif planted == "data":
        lock.write_text("precious data")
    elif planted == "fifo":
        os.mkfifo(lock)
    else:
        lock.mkdir()
    with pytest.raises(OutputError, match=expected), atomic_directory(tmp_path / "m"):
        pass
    assert precious.read_text() == "precious data"
    assert lock.is_symlink() or lock.exists()
    assert not (tmp_path / "m").exists()


def test_a_lock_left_by_a_killed_writer_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / ".m.lock").write_text("4242\n")  # a pid, as topicclf writes it
    with atomic_directory(tmp_path / "m") as directory:
        (directory / "f").write_text("x")
    assert (tmp_path / "m" / "f").exists() and not (tmp_path / ".m.lock").exists()


def test_a_compressed_file_name_is_refused_as_an_output(tmp_path: Path) -> None:
    # A corpus named .gz is read through gzip: plain text under that name could not be read.
    with pytest.raises(OutputError, match=r"tags\.jsonl\.GZ: outputs are written uncompressed"):
        check_output(tmp_path / "tags.jsonl.GZ", kind="file")
    check_output(tmp_path / "models.gz", kind="model")  # a directory's name is a name


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
        (model / "inner", "model"),
    ]:
        with pytest.raises(OutputError, match=r"inside the model directory .*model; .* elsewhere"):
            check_output(target, kind=kind, force=True)
    (tmp_path / "linked").symlink_to(model)
    with pytest.raises(OutputError, match=r"inside the model directory"):
        check_output(tmp_path / "linked" / "x.tsv")
    (model / "sub").rmdir()
    check_output(model, kind="model", force=True)  # replacing the model itself is allowed
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"files": []}')  # not a topicclf manifest
    check_output(corpus / "tags.tsv")


def _model(directory: Path, *names: str, recorded: bool = True) -> Path:
    directory.mkdir()
    files = {name: {"size": 1, "sha256": "0" * 64} for name in names}
    manifest = {"format_version": 3, "files": files} if recorded else {"format_version": 1}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    for name in names:
        (directory / name).write_text("x")
    return directory


def test_force_replaces_only_a_directory_of_what_the_command_writes(tmp_path: Path) -> None:
    # --force on an ordinary directory deleted its files (train -o ~/Documents --force).
    ordinary = tmp_path / "u"
    (ordinary / "photos").mkdir(parents=True)
    (ordinary / "keep.txt").write_text("precious")
    for kind in ("model", "parts"):
        for force in (False, True):  # said before "add --force", which would not help
            with pytest.raises(OutputError, match=r"u is a directory that is not a"):
                check_output(ordinary, kind=kind, force=force)
    with pytest.raises(
        OutputError,
        match=r"u is a directory that is not a topicclf model \(it holds keep\.txt, photos/\); "
        r"--force replaces only a model directory: choose another path",
    ):
        check_output(ordinary, kind="model", force=True)
    with pytest.raises(
        OutputError,
        match=r"not a Dask tagging output \(it holds keep\.txt, photos/\); --force replaces "
        r"only a directory of part-\* files",
    ):
        check_output(ordinary, kind="parts", force=True)
    many = tmp_path / "many"
    many.mkdir()
    for i in range(8):
        (many / f"f{i}\x1b[31m").write_text("")
    with pytest.raises(OutputError, match=r"holds 'f0\\x1b\[31m', .* and 3 more\)") as caught:
        check_output(many, kind="model", force=True)
    assert "\x1b" not in str(caught.value)  # a name's control characters never reach a terminal
    # What the command writes, or nothing, is replaced.
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(empty, kind="model", force=True)
    check_output(empty, kind="parts", force=True)
    check_output(_model(tmp_path / "m", "labels.json", "model.keras"), kind="model", force=True)
    old = _model(tmp_path / "old", "labels.json", "features.npz", recorded=False)
    check_output(old, kind="model", force=True)  # format 1 records no files
    (old / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"old is a directory that is not a topicclf model "
                       r"\(it holds notes\.txt\)"):  # fmt: skip
        check_output(old, kind="model", force=True)
    extra = _model(tmp_path / "extra", "labels.json")
    (extra / "keep.json").write_text("{}")  # not recorded: not the model's
    with pytest.raises(OutputError, match=r"it holds keep\.json\)"):
        check_output(extra, kind="model", force=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "part-00000.jsonl").write_text("")
    (parts / "part-00001.parquet").write_text("")
    check_output(parts, kind="parts", force=True)
    with pytest.raises(OutputError, match=r"parts is a directory that is not a topicclf model"):
        check_output(parts, kind="model", force=True)
    (parts / "part-00002.jsonl").mkdir()
    with pytest.raises(OutputError, match=r"it holds part-00002\.jsonl/\)"):
        check_output(parts, kind="parts", force=True)


def test_atomic_directory_checks_what_it_replaces_before_and_after_the_work(
    tmp_path: Path,
) -> None:
    target = tmp_path / "u"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    entered = False
    with (
        pytest.raises(OutputError, match=r"not a topicclf model \(it holds keep\.txt\)"),
        atomic_directory(target, overwrite=True),
    ):
        entered = True
    assert not entered and (target / "keep.txt").read_text() == "precious"
    model = _model(tmp_path / "m", "labels.json")
    with (
        pytest.raises(OutputError, match=r"it holds keep\.txt\)"),
        atomic_directory(model, overwrite=True) as tmp,
    ):
        (tmp / "labels.json").write_text("new")
        (model / "keep.txt").write_text("added meanwhile")
    assert (model / "keep.txt").exists() and (model / "labels.json").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "u"]  # no temporary left
    with atomic_directory(_model(tmp_path / "m2", "labels.json"), overwrite=True) as tmp:
        (tmp / "labels.json").write_text("new")
    assert (tmp_path / "m2" / "labels.json").read_text() == "new"


def test_an_output_that_is_this_command_s_own_stdin_or_stdout_is_refused(tmp_path: Path) -> None:
    """`-o /dev/stdin --force` with stdin redirected from a file replaced the system's
    /dev/stdin link with tags (as root); a link to /proc/self/fd/1 swallowed stdout."""
    import subprocess
    import sys

    source = tmp_path / "in.txt"
    source.write_text("wheat\n")
    link = tmp_path / "s0"
    link.symlink_to("/proc/self/fd/0")
    code = (
        "import sys\nfrom topicclf.fileio import check_output\n"
        f"check_output({str(link)!r}, force=True)\n"
    )
    with source.open() as stdin:
        done = subprocess.run(
            [sys.executable, "-c", code], stdin=stdin, capture_output=True, text=True
        )
    assert "is this command's standard input (through a link)" in done.stderr
    assert link.is_symlink() and source.read_text() == "wheat\n"


def test_dash_and_empty_output_paths_say_what_they_are(tmp_path: Path, monkeypatch) -> None:
    # Before: `-o -` wrote a file named '-', and `-o ''` said ". holds m, an input".
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    with pytest.raises(OutputError, match=r"^-o -: this command writes to standard output"):
        check_output("-", kind="file")
    with pytest.raises(OutputError, match=r"^\. is a directory; give a file name for the output"):
        check_output("", inputs=["m"], kind="file")
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("name", ["a" * 230, "b" * 255, "\u00e9" * 127])  # 127 x 2 bytes
def test_an_output_name_the_file_system_takes_is_written_temporary_siblings_and_all(
    tmp_path: Path, name: str
) -> None:
    # A 240-byte name made a 269-byte temporary name: `train`, `tag -o` and `corpus
    # convert` did all their work, then failed with `File name too long: .aaa....tmp`.
    from topicclf.fileio import output_lock

    check_output(tmp_path / name, kind="file")
    with atomic_output(tmp_path / name) as handle:
        handle.write("ok\n")
    check_output(tmp_path / name, kind="file", force=True)
    with atomic_output(tmp_path / name) as handle:
        handle.write("again\n")
    model = tmp_path / "m" / name
    check_output(model, kind="model")  # its folder is still to be made
    assert not (tmp_path / "m").exists()
    for overwrite in (False, True):  # the second replaces the first: its `.old-` sibling
        with output_lock(model), atomic_directory(model, overwrite=overwrite) as directory:
            (directory / "manifest.json").write_text('{"format_version": 1}')
    assert (tmp_path / name).read_text() == "again\n" and (model / "manifest.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "m"])
    assert [p.name for p in (tmp_path / "m").iterdir()] == [name]


def test_hidden_siblings_of_long_names_fit_and_stay_apart() -> None:
    from topicclf.fileio import NAME_MAX, hidden_stem

    assert hidden_stem("out.jsonl", 29) == "out.jsonl"
    one, two = hidden_stem("a" * 250 + "x", 29), hidden_stem("a" * 250 + "y", 29)
    assert one != two and one.startswith("a" * 100)
    assert len(os.fsencode(one)) + 29 == NAME_MAX
    for room in (6, 29):  # two-byte characters: the cut falls between them
        assert (
            NAME_MAX - 1 <= len(os.fsencode(hidden_stem("\u00e9" * 127, room))) + room <= NAME_MAX
        )


def test_leftovers_of_a_killed_writer_of_a_long_name_are_removed_by_the_next(
    tmp_path: Path,
) -> None:
    from topicclf.fileio import _HOST, _TEMP_ROOM, hidden_stem

    name = "a" * 240
    dead = 2**22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".{hidden_stem(name, _TEMP_ROOM)}.{dead}-{_HOST}.abc12345.tmp"
    stale.write_text("half")
    with atomic_output(tmp_path / name) as handle:
        handle.write("ok\n")
    assert not stale.exists()


def test_a_name_longer_than_the_file_system_takes_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    for kind in ("file", "model", "parts"):
        with pytest.raises(
            OutputError,
            match=r"the name a{40}\.\.\. is 256 bytes, and a file name may have at most 255 "
            r"here; choose a shorter name",
        ):
            check_output(tmp_path / ("a" * 256), kind=kind)
    with pytest.raises(OutputError, match=r"the name \w{40}\.\.\. is 300 bytes"):
        check_output(tmp_path / ("d" * 300) / "m", kind="model")  # a folder to be made
    saving = atomic_directory(tmp_path / ("a" * 256))  # how the Python API's save writes
    with pytest.raises(OutputError, match=r"is 256 bytes"), saving:
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_where_nothing_can_be_created_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    # `evaluate -o /proc/self/r.md` scored the whole corpus, then failed naming the
    # temporary file: `No such file or directory: /proc/self/.r.md.31490-5bce98....tmp`.
    for target, kind in (("/proc/self/r.md", "file"), ("/proc/self/m", "model")):
        with pytest.raises(OutputError) as refused:
            check_output(target, kind=kind)
        assert str(refused.value).startswith(
            f"{target} cannot be written: No such file or directory when creating a file "
            "in /proc/self; choose another directory"
        )


def test_an_output_in_a_folder_without_write_permission_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a 0555 folder is writable")
        with pytest.raises(OutputError, match=r"locked/r\.md cannot be written: Permission denied"):
            check_output(locked / "r.md", kind="file")
    finally:
        locked.chmod(0o755)


def test_a_lock_the_folder_refuses_names_the_folder_not_a_file_to_remove(tmp_path: Path) -> None:
    """A model written into a folder one may not write said to remove `.m.lock`, a file that
    is not there (the folder's permission is the cause) (attacker pass 37)."""
    import shutil
    import subprocess
    import sys

    locked = tmp_path / "ro"
    locked.mkdir(mode=0o555)
    command = [sys.executable, "-c", SAVE_INTO_LOCKED, str(locked / "m")]
    if os.access(locked, os.W_OK):  # root: drop the capabilities that ignore permissions
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            locked.chmod(0o755)
            pytest.skip("running as root without setpriv: a 0555 folder is writable")
        caps = "-dac_override,-dac_read_search"
        command = [setpriv, "--bounding-set", caps, "--inh-caps", caps, *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{locked / 'm'} cannot be written: Permission denied when ")
    assert f"creating a file in {locked}; choose another directory" in done.stdout
    assert "remove it" not in done.stdout and not list(locked.iterdir())


SAVE_INTO_LOCKED = """
import sys
from topicclf.errors import OutputError
from topicclf.fileio import output_lock
try:
    with output_lock(sys.argv[1]):
        pass
except OutputError as exc:
    print(exc)
"""


def test_an_existing_output_names_the_python_api_s_way_to_replace_it(tmp_path: Path) -> None:
    # save(path) was told to "add --force", which a Python caller has no way to give.
    (tmp_path / "m").mkdir()
    target = tmp_path / "m"
    exists = r"add --force \(overwrite=True in Python\)$"
    with pytest.raises(OutputError, match=exists), atomic_directory(target, overwrite=False):
        pass
