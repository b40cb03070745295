"""Reading a whole small file that a user names (a configuration, a vocabulary, a report):
only a regular file, and only up to a limit, so that a FIFO cannot hang the command and
/dev/zero cannot fill its memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


class SmallFileError(Exception):
    """Why a small file could not be read, in words that name it (callers re-raise it as
    their own kind of error)."""


def open_small_file(path: str | Path, limit: int, what: str) -> BinaryIO:
    """`path` opened for reading in binary, once it is known to be a regular file of at most
    `limit` bytes; `what` names the kind of file in messages ("a vocabulary is a TSV file").
    For a caller that reads it a line at a time (what it holds is bounded by what it keeps,
    not by the file)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise SmallFileError(f"{path}: a directory, not a file; {what}")
        if not stat.S_ISREG(mode):
            raise SmallFileError(f"{path}: not a regular file; {what}")
        handle = path.open("rb")
        if os.fstat(handle.fileno()).st_size > limit:  # the file opened, not one swapped in
            handle.close()
            raise SmallFileError(f"{path}: larger than {limit:,} bytes; {what}")
    except FileNotFoundError:
        raise SmallFileError(f"{path}: no such file") from None
    except PermissionError:
        raise SmallFileError(f"{path}: permission denied") from None
    except OSError as exc:
        raise SmallFileError(f"{path}: cannot be read ({os.strerror(exc.errno or 0)})") from None
    return handle


def read_small_file(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes; `what` names the kind
    of file in messages ("a vocabulary is a TSV file")."""
    with open_small_file(path, limit, what) as handle:
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise SmallFileError(
                f"{path}: cannot be read ({os.strerror(exc.errno or 0)})"
            ) from None
    if len(data) > limit:  # grown since it was opened
        raise SmallFileError(f"{path}: larger than {limit:,} bytes; {what}")
    return data
