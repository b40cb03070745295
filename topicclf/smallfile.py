"""Reading a whole small file that a user names (a configuration, a vocabulary, a report):
only a regular file, and only up to a limit, so that a FIFO cannot hang the command and
/dev/zero cannot fill its memory."""

from __future__ import annotations

import codecs
import io
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


# The one rule by which a small file's bytes become text (a configuration, a vocabulary, a
# report), as the corpus readers read a file: UTF-8, or the encoding a leading byte order
# mark names (Notepad's "Unicode" is UTF-16); every mark leading the text is dropped (one
# saved twice, or files joined with `cat`).
MARK = "\ufeff"


# Byte order marks, each with the codec that reads what follows it. The UTF-32-LE mark
# begins with the UTF-16-LE one, so it is looked for first.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def bom_encoding(head: bytes) -> str | None:
    """The encoding a file's byte order mark names (with its byte order), or None.

    A mark decides the encoding whatever the `encoding` option says: UTF-16 and UTF-32 text
    cannot be read any other way, and the text a mark would make in another encoding (such
    as "ÿþ" or "ï»¿" in latin-1) is never what a file means. The mark itself reads as U+FEFF,
    which every reader drops at the start of a file.
    """
    return next((name for mark, name in BOMS if head.startswith(mark)), None)


def small_file_encoding(head: bytes) -> str:
    """The codec for a small file whose first bytes are `head`: what its byte order mark
    names, else UTF-8."""
    return bom_encoding(head[:4]) or "utf-8"


def small_file_text(raw: bytes) -> str:
    """A whole small file's bytes as text by the rule above; UnicodeDecodeError is the
    caller's to report (`not_text`)."""
    return raw.decode(small_file_encoding(raw)).lstrip(MARK)


def small_file_lines(handle: BinaryIO) -> io.TextIOWrapper:
    """`handle` (a regular file from `open_small_file`) as text by the rule above, read a
    line at a time; a line may still begin with marks for the caller to drop."""
    encoding = small_file_encoding(handle.read(4))
    handle.seek(0)
    # Lines end where a file read with newline="" ends them (never at U+2028 or NEL).
    return io.TextIOWrapper(handle, encoding=encoding, newline="")


def not_text(path: str | Path, exc: UnicodeDecodeError, whole: bool = True) -> str:
    """The message for a small file its encoding does not decode, naming that encoding (the
    one a byte order mark named, else UTF-8) and the bad byte; its offset when `whole` (a
    file decoded at once, not a line at a time)."""
    name = exc.encoding.upper()
    marked = "" if name == "UTF-8" else ", which its byte order mark names"
    where = f" at offset {exc.start}" if whole else ""
    return (
        f"{path}: not {name} text{marked} (byte {exc.object[exc.start]:#x}{where}); "
        "save it as UTF-8"
    )
