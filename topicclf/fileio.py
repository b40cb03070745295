"""Writing files: the one overwrite rule, atomic files and directories, and output locks.

Every command that writes goes through `check_output` (never over one of its inputs; an
existing output only with --force) and writes through `atomic_output`/`atomic_directory`
(a temporary sibling renamed into place, so an interrupted run leaves the old output whole).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from topicclf.corpus.base import is_compressed
from topicclf.errors import OutputError

MODEL_MANIFEST = "manifest.json"  # what makes a directory a model (bundle.layout.MANIFEST)


def check_output(
    target: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    force: bool = False,
    kind: str | None = None,
) -> None:
    """The one rule for outputs: never one of the command's inputs, nor an existing file
    inside one (a model or corpus directory) or a directory holding one; an existing file or
    directory is replaced only with `force` (--force). Raises OutputError otherwise."""
    target = Path(target)
    if kind != "directory" and is_compressed(target):
        # Corpora named .gz are read through gzip; a plain file under that name could not
        # be read back.
        raise OutputError(
            f"{target}: outputs are written uncompressed; name it without .gz and compress it "
            "afterwards, or write to stdout and pipe it through gzip"
        )
    for source in inputs:
        if str(source) in ("-", "") or (":" in str(source) and not Path(source).exists()):
            continue  # stdin, or a reuters:SPLIT name
        if _same_path(target, Path(source)):
            raise OutputError(
                f"{target} is also an input of this command; write the output elsewhere"
            )
        # A new file may go inside an input directory; replacing one of its files may not.
        inner, outer = _nesting(target, Path(source)) if _exists(target) else (False, False)
        if inner:
            raise OutputError(
                f"{target} is inside {source}, an input of this command; write the output elsewhere"
            )
        if outer:
            raise OutputError(
                f"{target} holds {source}, an input of this command; write the output elsewhere"
            )
    model = model_directory_around(target)
    if model is not None:
        raise OutputError(
            f"{target} is inside the model directory {model}; a model holds only its own "
            "files (anything else fails `topicclf info --verify`), so write the output elsewhere"
        )
    special = special_file_kind(target)
    if special is not None:
        # --force would replace it with a regular file: as root, -o /dev/null would replace
        # the system's /dev/null.
        raise OutputError(
            f"{target} is {special}, not a regular file; outputs replace only regular files. "
            "Write to stdout instead (leave out the output option) and redirect it there"
        )
    if target.is_symlink() and not target.exists() and not force:
        raise OutputError(f"{target} already exists (a link); choose another path or add --force")
    # Checked before any work, so a long run does not end on an output it cannot write; and
    # before "add --force", which would not help.
    if kind == "file":
        if target.is_dir():
            raise OutputError(f"{target} is a directory; give a file name for the output")
        if not target.parent.is_dir():
            raise OutputError(
                f"{target}: the directory {target.parent} does not exist; create it first"
            )
    elif kind == "directory" and target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a directory")
    if target.exists() and not force:
        raise OutputError(f"{target} already exists; choose another path or add --force")


def special_file_kind(path: Path) -> str | None:
    """What `path` (links followed) is when it is a device, FIFO or socket; None for a
    regular file, a directory or nothing."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None


def model_directory_around(target: Path) -> Path | None:
    """The model directory (one holding a topicclf manifest) that `target` would be written
    inside, links resolved; None when there is none."""
    try:
        parents = target.absolute().parent.resolve()
    except (OSError, RuntimeError):
        return None
    for directory in (parents, *parents.parents):
        if _is_model_manifest(directory / MODEL_MANIFEST):
            return directory
    return None


def _is_model_manifest(path: Path) -> bool:
    """Whether `path` is a topicclf manifest: a small JSON file naming its format version
    (a corpus may hold a file of that name too)."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"format_version"' in head


def _exists(path: Path) -> bool:
    """Whether something is at `path`, a dangling link included."""
    return path.exists() or path.is_symlink()


def _nesting(target: Path, source: Path) -> tuple[bool, bool]:
    """(target is inside source, target holds source), links resolved."""
    try:
        t, s = target.resolve(), source.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop, reported on reading
        return False, False
    return s in t.parents, t in s.parents


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop, reported on reading
        return False


@contextlib.contextmanager
def atomic_output(path: str | Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Yield a text handle whose content replaces `path` only if the block completes."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    remove_stale(parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=parent)
    # mkstemp makes the file private (0600); give it the permissions a new file would get.
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _temp_prefix(name: str) -> str:
    # The writer's pid is in the name, so a later run can tell a dead writer's leftovers.
    return f".{name}.{os.getpid()}."


def remove_stale(parent: Path, name: str) -> None:
    """Remove temporary files and directories that a killed writer of `name` left behind
    (kill -9 leaves no chance to clean up): those whose writer process no longer runs."""
    try:
        candidates = list(parent.glob(f".{glob.escape(name)}.*.*.tmp"))
    except OSError:
        return
    for candidate in candidates:
        pid = candidate.name[len(name) + 2 :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            if candidate.is_dir() and not candidate.is_symlink():
                shutil.rmtree(candidate)
            else:
                candidate.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def current_umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole text file atomically."""
    with atomic_output(path) as handle:
        handle.write(text)


_HELD: set[str] = set()


@contextlib.contextmanager
def output_lock(target: str | Path) -> Iterator[None]:
    """Hold the right to write `target`; refuse at once if another process holds it.

    The lock is an flock on a hidden `.NAME.lock` file beside the target, so the operating
    system releases it when its holder dies, however it dies. Taking it again in the same
    process is allowed, so a command can hold it for a whole training and `save` still works.
    """
    target = Path(target).absolute()
    if str(target) in _HELD:
        yield
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {target.parent}: {exc.strerror}") from None
    lock_path = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"{target} is being written by another process right now (lock file "
                f"{lock_path}); wait for it to finish or choose another output"
            ) from None
        # The previous holder may have removed the file we locked: then lock the new one.
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            current = None
        locked = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (
            locked.st_ino,
            locked.st_dev,
        ):
            break
        os.close(fd)
    _HELD.add(str(target))
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        _HELD.discard(str(target))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `target` only if the block succeeds.

    An interrupted or failed save leaves no partial model behind, and an existing model is
    replaced only after the new one is complete.
    """
    with output_lock(target):
        yield from _replace_directory(Path(target), overwrite)


def _replace_directory(target: Path, overwrite: bool) -> Iterator[Path]:
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists; choose another path or add --force")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a directory")
    parent = target.parent  # created by output_lock
    remove_stale(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=parent))
    # mkdtemp makes the directory private (0700); a model directory is shared like any other.
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=parent))
            os.replace(target, old / "model")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
