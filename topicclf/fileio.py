"""Writing files: the one overwrite rule, atomic files and directories, and output locks.

Every command that writes goes through `check_output` (never over one of its inputs; an
existing output only with --force) and writes through `atomic_output`/`atomic_directory`
(a temporary sibling renamed into place, so an interrupted run leaves the old output whole).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from topicclf.config import MODEL_JSON_MAX_BYTES
from topicclf.corpus.base import file_kind, is_compressed
from topicclf.errors import OutputError

MODEL_MANIFEST = "manifest.json"  # what makes a directory a model (bundle.layout.MANIFEST)
# The files of a model whose manifest records none (format 1): what a model is made of.
MODEL_SUFFIXES = (".json", ".keras", ".safetensors", ".npz")
SHOWN_NAMES = 5  # entries named when a directory is refused


def check_output(
    target: str | Path,
    *,
    inputs: Iterable[str | Path] = (),
    force: bool = False,
    kind: str | None = None,
) -> None:
    """The one rule for outputs: never one of the command's inputs, nor an existing file
    inside one (a model or corpus directory) or a directory holding one; an existing file or
    directory is replaced only with `force` (--force), and a directory only when it is what
    the command writes (`kind`: "file", or a key of DIRECTORY_OUTPUTS) or empty. Raises
    OutputError otherwise."""
    if kind not in (None, "file", *DIRECTORY_OUTPUTS):
        raise ValueError(f"unknown kind of output {kind!r}")
    if str(target) == "-":
        raise OutputError(
            "-o -: this command writes to standard output when the output option is left out"
        )
    target = Path(target)
    check_name_length(target)  # first: a stat of such a path fails (File name too long)
    if kind == "file" and target.is_dir():  # before the inputs: `-o ''` is `.`, a directory
        raise OutputError(f"{target} is a directory; give a file name for the output")
    if kind not in DIRECTORY_OUTPUTS and is_compressed(target):
        # Corpora named .gz are read through gzip; a plain file under that name could not
        # be read back.
        raise OutputError(
            f"{target}: outputs are written uncompressed; name it without .gz and compress it "
            "afterwards, or write to stdout and pipe it through gzip"
        )
    for source in inputs:
        if str(source) in ("-", "") or (":" in str(source) and not Path(source).exists()):
            continue  # stdin, or a reuters:SPLIT name
        protect(source)
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
        linked = _linked_from(target, Path(source)) if _exists(target) else None
        if linked is not None:
            raise OutputError(
                f"{target} is also {linked}, in {source}, an input of this command (a link "
                "to the same file); write the output elsewhere"
            )
    model = model_directory_around(target)
    if model is not None:
        raise inside_model(target, model)
    special = special_file_kind(target)
    if special is not None:
        # --force would replace it with a regular file: as root, -o /dev/null would replace
        # the system's /dev/null.
        raise OutputError(
            f"{target} is {special}, not a regular file; outputs replace only regular files. "
            "Write to stdout instead (leave out the output option) and redirect it there"
        )
    stream = standard_stream_of(target)
    if stream is not None:
        # `-o /dev/stdin --force` with stdin redirected from a file replaced the system's
        # /dev/stdin link with the tags, as root.
        raise OutputError(
            f"{target} is this command's {stream} (through a link); outputs replace only "
            "regular files of their own. Leave out the output option to write to stdout"
        )
    if target.is_symlink() and not target.exists() and not force:
        raise already_exists(target, " (a link)")
    # Checked before any work, so a long run does not end on an output it cannot write; and
    # before "add --force", which would not help.
    blocked = _blocked_directory(target)
    if blocked is not None:
        raise OutputError(blocked)
    if kind == "file":
        if target.is_dir():
            raise OutputError(f"{target} is a directory; give a file name for the output")
        if not target.parent.is_dir():
            raise OutputError(
                f"{target}: the directory {target.parent} does not exist; create it first"
            )
    elif kind in DIRECTORY_OUTPUTS:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{target} exists and is not a directory")
        check_replaceable_directory(target, kind)
    if target.exists() and not force:
        raise already_exists(target)
    check_creatable(target, directory=kind in DIRECTORY_OUTPUTS)


NAME_MAX = 255  # bytes of one file name on Linux file systems (ext4, xfs, btrfs, tmpfs)


def check_name_length(target: Path, fix: str = "choose a shorter name") -> None:
    """Refuse (OutputError) a path with a name longer than its file system takes (255
    bytes on most), before any work: such a name fails only at the final rename (`fix`:
    what the message tells the user to do)."""
    limit = NAME_MAX
    with contextlib.suppress(OSError, ValueError):
        limit = os.pathconf(_existing_ancestor(target), "PC_NAME_MAX")
    for part in target.parts:
        size = len(os.fsencode(part))
        if size > limit:
            raise OutputError(
                f"{target}: the name {part[:40]}... is {size:,} bytes, and a file name may "
                f"have at most {limit:,} here; {fix}"
            )


# (folder, whether a directory) this process has made a temporary sibling in
_CREATABLE: set[tuple[Path, bool]] = set()


def check_creatable(target: Path, *, directory: bool = False) -> None:
    """Refuse (OutputError) an output that could not be written, before any work: a name
    too long, or a directory where nothing can be created (read-only, no permission, /proc
    or /sys). Tried the one sure way: the hidden temporary sibling the write will make
    (`atomic_output`, or `atomic_directory` when `directory`) is made and removed, in the
    nearest existing folder (`atomic_directory` makes the missing ones)."""
    check_name_length(target)
    parent = target.parent
    try:
        parent = _existing_ancestor(target)
        if (parent, directory) in _CREATABLE:
            return  # `tag --write-labels` checks one NAME.labels per text file: once a folder
        if directory:
            os.rmdir(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=parent))
        else:
            fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=parent)
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise OutputError(
            f"{target} cannot be written: {exc.strerror or exc} when creating a file in "
            f"{parent}; choose another directory"
        ) from None
    _CREATABLE.add((parent, directory))


def _existing_ancestor(target: Path) -> Path:
    """The nearest folder above `target` that exists (where `mkdir -p` would start)."""
    parent = target.parent if str(target.parent) else Path(".")
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    return parent


def _blocked_directory(target: Path) -> str | None:
    """Why `target`'s directory can never be there, or None: the nearest existing path on
    the way to it is a file, a FIFO or a dangling link (`-o x.jsonl/r.md`), which neither
    `mkdir` nor the user's "create it first" can fix."""
    for path in (target.parent, *target.parent.parents):
        if os.path.lexists(path):
            if path.is_dir():
                return None
            what = special_file_kind(path) or (
                "a link to nothing" if path.is_symlink() and not path.exists() else "a file"
            )
            return f"{target}: {path} is {what}, not a directory; give a path in a directory"
    return None


def check_replaceable_directory(target: Path, kind: str) -> None:
    """Refuse (OutputError) to replace the directory `target` unless it is empty or a
    directory of `kind` (DIRECTORY_OUTPUTS): --force replaces a model with a model, never a
    directory of someone's files. Nothing is refused where nothing is."""
    if not target.is_dir():
        return
    what, foreign_in, replaces = DIRECTORY_OUTPUTS[kind]
    try:
        entries = sorted(target.iterdir())
    except OSError as exc:
        raise OutputError(
            f"{target}: cannot list what it holds ({exc.strerror}), so it is not replaced; "
            "choose another path"
        ) from None
    if not entries:
        return
    foreign = foreign_in(target, entries)
    if not foreign:
        return
    shown = ", ".join(_shown_names(foreign))
    raise OutputError(
        f"{target} is a directory that is not {what} (it holds {shown}); --force replaces "
        f"only {replaces}: choose another path"
    )


def _shown_names(paths: list[Path]) -> list[str]:
    names = [_shown_name(p) for p in paths[:SHOWN_NAMES]]
    if len(paths) > SHOWN_NAMES:
        names.append(f"and {len(paths) - SHOWN_NAMES} more")
    return names


def _shown_name(path: Path) -> str:
    """A directory entry's name as a message shows it: quoted when it is not plain text (a
    control character in a name must not reach the terminal), '/' after a directory."""
    name = path.name if path.name.isprintable() else repr(path.name)
    return name + "/" if path.is_dir() and not path.is_symlink() else name


def _is_regular(path: Path) -> bool:
    """A regular file itself, not a link, directory, FIFO or device."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _not_model_files(directory: Path, entries: list[Path]) -> list[Path]:
    """The entries of `directory` that are not files of a topicclf model: all of them when
    it has no topicclf manifest; else those that are not regular files the manifest records
    (or, for a manifest recording none, files named as a model's files are)."""
    manifest = directory / MODEL_MANIFEST
    if not _is_model_manifest(manifest):
        return entries
    recorded = _recorded_files(manifest)
    return [
        p
        for p in entries
        if p.name != MODEL_MANIFEST
        and not (
            _is_regular(p)
            and (p.name in recorded if recorded is not None else p.suffix in MODEL_SUFFIXES)
        )
    ]


def _recorded_files(manifest: Path) -> set[str] | None:
    """The file names a model manifest records, or None when it records none (format 1)
    or cannot be read."""
    try:
        if manifest.stat().st_size > MODEL_JSON_MAX_BYTES:
            return None
        data = json.loads(manifest.read_bytes())
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return {str(name) for name in files} if isinstance(files, dict) else None


def _not_parts(directory: Path, entries: list[Path]) -> list[Path]:
    """The entries that are not part files of a Dask tagging output (regular part-* files;
    the Dask writer leaves nothing else)."""
    return [p for p in entries if not (p.name.startswith("part-") and _is_regular(p))]


# What a command writes where its output is a directory: kind -> (what such a directory is,
# the test giving the entries it should not hold, what --force replaces). An empty
# directory is replaced too.
DIRECTORY_OUTPUTS = {
    "model": ("a topicclf model", _not_model_files, "a model directory"),
    "parts": (
        "a Dask tagging output",
        _not_parts,
        "a directory of part-* files that --engine dask wrote",
    ),
}


def check_standard_output(inputs: Iterable[str | Path]) -> None:
    """Refuse when standard output is a regular file that is also an input (`tag m F >> F`,
    or stdin and stdout the same file) or inside an input directory: the command would
    read what it writes, for ever (`cat F >> F` refuses the same)."""
    try:
        out = os.fstat(1)
    except OSError:
        return  # closed: said elsewhere
    if not stat.S_ISREG(out.st_mode):
        return
    try:
        shown: str | Path = Path(os.readlink("/proc/self/fd/1"))
    except OSError:
        shown = "a file"
    for source in inputs:
        try:
            found = os.fstat(0) if str(source) == "-" else os.stat(source)
        except OSError:
            continue  # the reader says what is wrong with it
        same = (found.st_dev, found.st_ino) == (out.st_dev, out.st_ino)
        if str(source) == "-" and same:
            where = f"{shown}, the file standard input reads"
        elif same:
            where = f"{source}, an input of this command"
        elif stat.S_ISDIR(found.st_mode) and isinstance(shown, Path):
            if not _nesting(shown, Path(source))[0]:
                continue
            where = f"{shown}, inside {source}, an input of this command"
        else:
            continue
        raise OutputError(
            f"standard output is {where}: the command would read what it writes, for ever. "
            "Write the output to another file"
        )


def inside_model(target: str | Path, model: Path) -> OutputError:
    """The error for an output inside a model directory."""
    return OutputError(
        f"{target} is inside the model directory {model}; a model holds only its own "
        "files (anything else fails `topicclf info --verify`), so write the output elsewhere"
    )


def standard_stream_of(path: Path) -> str | None:
    """Which of this process's standard streams `path` is (links followed, e.g. /dev/stdin
    or a link to /proc/self/fd/1), or is under /proc; None otherwise."""
    try:
        resolved = path.resolve()
        found = path.stat()
    except (OSError, RuntimeError):
        return None
    if resolved.parts[:2] == ("/", "proc"):
        return "process file (under /proc)"
    for fd, name in ((0, "standard input"), (1, "standard output"), (2, "standard error")):
        try:
            stream = os.fstat(fd)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (stream.st_dev, stream.st_ino):
            return name
    return None


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


def _identities(path: Path) -> set[tuple[int, int]]:
    """(device, inode) of the files an output at `path` replaces: the file itself, or a
    directory output (a model, Dask parts) and the entries in it; links followed."""
    found: set[tuple[int, int]] = set()
    with contextlib.suppress(OSError):
        info = os.stat(path)
        found.add((info.st_dev, info.st_ino))
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(path) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        inner = entry.stat()
                        found.add((inner.st_dev, inner.st_ino))
    return found


def _linked_from(target: Path, source: Path) -> Path | None:
    """A file below the input directory `source` that is `target` (or one of the files the
    directory `target` holds) through a symbolic or hard link, or None: a reader opens it as
    one of its documents, so replacing `target` would replace an input. Every entry is
    compared, whatever the format reads, as replacing a file inside an input is refused."""
    if not source.is_dir():
        return None
    wanted = _identities(target)
    waiting = [source]  # a list, not recursion: trees may be thousands of levels deep
    while waiting:
        here = waiting.pop()
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError:
            continue  # the reader says what is wrong with it
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    waiting.append(Path(entry.path))  # links to directories are not read
                    continue
                info = entry.stat()  # links followed: stat never opens, so a FIFO is safe
                if (info.st_dev, info.st_ino) in wanted:
                    return Path(entry.path)
    return None


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop, reported on reading
        return False


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, newline: str | None = None, clean: bool = True
) -> Iterator[IO[str]]:
    """Yield a text handle whose content replaces `path` only if the block completes;
    `clean=False`: the caller has removed its directory's stale temporary files already
    (`remove_stale(parent)`), as a writer of many files in one directory does."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if clean:
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
    # The writer's pid and host are in the name, so a later run can tell a dead writer's
    # leftovers (a pid of another host or container says nothing about this one).
    return f".{hidden_stem(name, _TEMP_ROOM)}.{os.getpid()}-{_HOST}."


# Bytes a temporary sibling adds to its stem: "." before, ".PID-HOST." (a pid of up to 7
# digits), tempfile's 8 random characters and ".tmp".
_TEMP_ROOM = 1 + 1 + 7 + 1 + 6 + 1 + 8 + 4


def hidden_stem(name: str, room: int) -> str:
    """`name` as a hidden sibling of it (a temporary file, a lock) holds it: whole when the
    sibling's name, `room` bytes longer, fits in NAME_MAX, else cut to fit and ended with a
    hash of the whole (two long names never share a sibling). A 240-byte output name gave
    a 269-byte temporary name, and the write failed after all the work."""
    whole = os.fsencode(name)
    if len(whole) + room <= NAME_MAX:
        return name
    digest = hashlib.sha256(whole).hexdigest()[:12]
    cut = name[: NAME_MAX - room - len(digest) - 1]
    while len(os.fsencode(cut)) > NAME_MAX - room - len(digest) - 1:
        cut = cut[:-1]  # multi-byte characters: fewer of them fit
    return f"{cut}~{digest}"


_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_PROTECTED: set[tuple[int, int]] = set()  # (device, inode) of this command's inputs


def protect(path: str | Path) -> None:
    """Never let the stale sweep remove `path` (an input of this command), whatever its name."""
    with contextlib.suppress(OSError, ValueError):
        info = os.stat(path)
        _PROTECTED.add((info.st_dev, info.st_ino))


def remove_stale(parent: Path, name: str | None = None) -> None:
    """Remove temporary files and directories that a killed writer of `name` (None: of any
    name) left behind (kill -9 leaves no chance to clean up): only names exactly as
    `_temp_prefix` and tempfile make them, of a writer on this host whose process no longer
    runs, never a symbolic link's target and never an input of this command. Each call
    lists the directory: a writer of many files there calls it once (name None)."""
    stem = r".+" if name is None else re.escape(hidden_stem(name, _TEMP_ROOM))
    shape = re.compile(rf"\.{stem}\.(\d+)-{_HOST}\.[a-z0-9_]{{8}}\.tmp")
    pattern = "*" if name is None else glob.escape(hidden_stem(name, _TEMP_ROOM))
    try:
        candidates = list(parent.glob(f".{pattern}.*.tmp"))
    except OSError:
        return
    for candidate in candidates:
        found = shape.fullmatch(candidate.name)
        if found is None or _alive(int(found.group(1))):
            continue
        with contextlib.suppress(OSError):
            info = candidate.lstat()
            if (info.st_dev, info.st_ino) in _PROTECTED:
                continue
            if stat.S_ISDIR(info.st_mode):
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


def atomic_write_text(path: str | Path, text: str, *, clean: bool = True) -> None:
    """Write a whole text file atomically (`clean` as for atomic_output)."""
    with atomic_output(path, clean=clean) as handle:
        handle.write(text)


_HELD: set[str] = set()


@contextlib.contextmanager
def output_lock(target: str | Path) -> Iterator[None]:
    """Hold the right to write `target`; refuse at once if another process holds it.

    The lock is an flock on a hidden `.NAME.lock` file beside the target, so the operating
    system releases it when its holder dies, however it dies. Taking it again in the same
    process is allowed, so a command can hold it for a whole training and `save` still works.
    """
    given, target = Path(target), Path(target).absolute()
    if str(target) in _HELD:
        yield
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocked = _blocked_directory(given)  # named as the user gave it
        raise OutputError(blocked or f"cannot create {target.parent}: {exc.strerror}") from None
    lock_path = target.parent / f".{hidden_stem(target.name, len('..lock'))}.lock"
    while True:
        fd = _open_lock(lock_path, target)
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
            current = os.lstat(lock_path)
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
        with contextlib.suppress(OSError):
            current = os.lstat(lock_path)
            if (current.st_ino, current.st_dev) == (locked.st_ino, locked.st_dev):
                os.unlink(lock_path)  # ours: nothing else is ever removed
        os.close(fd)


LOCK_MAX_BYTES = 64  # a lock file holds its holder's pid and a newline


def already_exists(target: Path | str, what: str = "") -> OutputError:
    """The error for an output that exists and may not be replaced, naming both ways to
    replace it: the Python API's callers have no --force (save(path) was told to add it)."""
    return OutputError(
        f"{target} already exists{what}; choose another path or add --force "
        "(overwrite=True in Python)"
    )


def _open_lock(lock_path: Path, target: Path) -> int:
    """The lock file's descriptor: made here, or one a topicclf writer left (empty or a
    pid). A symbolic link, anything but a regular file, or a file with other content is
    refused, never followed, truncated or removed: it could be anyone's file (a link
    planted in a shared directory would have had its target overwritten)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(lock_path, flags, 0o666)
    except OSError as exc:
        if not os.path.lexists(lock_path):  # the folder refused it: there is nothing to remove
            raise OutputError(
                f"{target} cannot be written: {exc.strerror or exc} when creating a file in "
                f"{lock_path.parent}; choose another directory"
            ) from None
        kind = "a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise OutputError(
            f"{lock_path}, where topicclf locks {target.name} while writing it: {kind}; "
            "topicclf never follows or replaces it: remove it, or choose another output"
        ) from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = file_kind(info.st_mode)
    elif info.st_size > LOCK_MAX_BYTES or not re.fullmatch(
        rb"\d*\n?", os.pread(fd, LOCK_MAX_BYTES, 0)
    ):
        problem = f"a file of {info.st_size:,} bytes that is no topicclf lock"
    if problem is not None:
        os.close(fd)
        raise OutputError(
            f"{lock_path}, where topicclf locks {target.name} while writing it, is {problem}; "
            "topicclf never replaces it: move it away, or choose another output"
        )
    os.set_blocking(fd, True)
    return fd


@contextlib.contextmanager
def atomic_directory(
    target: str | Path, *, overwrite: bool = False, kind: str = "model"
) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `target` only if the block succeeds.

    An interrupted or failed save leaves no partial output behind, and an existing one is
    replaced only after the new one is complete, and only when it is empty or a directory
    of `kind` (DIRECTORY_OUTPUTS: "model", or "parts" for Dask tagging): checked before the
    block and again before the replacement, as the directory may have changed meanwhile.
    """
    check_name_length(Path(target))  # the Python API's save comes here without check_output
    model = model_directory_around(Path(target))
    if model is not None:
        raise inside_model(target, model)
    with output_lock(target):
        yield from _replace_directory(Path(target), overwrite, kind)


def _replace_directory(target: Path, overwrite: bool, kind: str) -> Iterator[Path]:
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a directory")
    check_replaceable_directory(target, kind)
    if target.exists() and not overwrite:
        raise already_exists(target)
    parent = target.parent  # created by output_lock
    remove_stale(parent, target.name)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target.name), suffix=".tmp", dir=parent))
    # mkdtemp makes the directory private (0700); a model directory is shared like any other.
    os.chmod(tmp, 0o777 & ~current_umask())
    try:
        yield tmp
        if target.exists():
            check_replaceable_directory(target, kind)
            stem = hidden_stem(target.name, len("..old-") + 8)  # 8: tempfile's characters
            old = Path(tempfile.mkdtemp(prefix=f".{stem}.old-", dir=parent))
            os.replace(target, old / "model")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
