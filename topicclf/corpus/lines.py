"""The one line splitter of every line-based reader (whole files, byte ranges and stdin).

Rules, the same for the local and the Dask engine:
- a line ends at "\\n" (as encoded in the corpus encoding); a trailing "\\r\\n" or "\\n"
  is dropped, a lone "\\r" stays in the line (text treats it as white space), except in a
  source whose first chunk holds carriage returns and no "\\n" (classic Mac line ends,
  `tr '\\n' '\\r'`): there every "\\r" ends a line (`line_end`);
- each line is decoded on its own, so undecodable bytes make only that line a bad record,
  reported at its own line number;
- a byte order mark at the very start of the file decides its encoding (UTF-8, UTF-16 or
  UTF-32, whatever the `encoding` option says: `base.bom_encoding`) and is dropped (a file
  that is only a BOM has no lines);
- a line is blank when its decoded text is only white space (`str.isspace`, so a line of
  no-break spaces is blank in both engines);
- a line longer than `base.record_limit()` bytes is a bad record at its own line number; its
  bytes are skipped up to the next line end as they are read, never held, so an endless
  line (/dev/zero, a gzip bomb) costs no more memory than the limit;
- a source that looks binary in its first bytes (`base.refuse_binary`) is refused, whether
  a file, a device, a pipe or stdin, and whatever the format.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from topicclf.corpus.base import (
    BinarySniffer,
    ChangeWatch,
    CorpusOptions,
    bad_record,
    bom_encoding,
    canonical_encoding,
    display_name,
    encoding_error,
    is_compressed,
    open_bytes,
    record_error,
    record_limit,
    source_error,
    standard_input,
    too_long_error,
    validate_options,
)
from topicclf.errors import CorpusFormatError
from topicclf.types import Document

CHUNK = 1 << 18
BOM = "\ufeff"


def _json_backslashreplace(exc: UnicodeError) -> tuple[str, int]:
    r"""backslashreplace as JSON source: each undecodable byte as `\\xff` (an escaped
    backslash, then xff), so a JSON string reads it as the text `\xff`, as other formats
    show it; a bare `\xff` is an invalid JSON escape, and every such record was a bad one.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(f"\\\\x{byte:02x}" for byte in bad), exc.end


# The decoding handler a format whose backslashes are escapes (JSON Lines) uses for
# --encoding-errors backslashreplace.
JSON_BACKSLASHREPLACE = "topicclf.json-backslashreplace"
codecs.register_error(JSON_BACKSLASHREPLACE, _json_backslashreplace)


@dataclass(frozen=True)
class LineCodec:
    """How one file's bytes are cut into lines and decoded."""

    encoding: str  # decodes one line: no BOM handling, byte order fixed
    errors: str
    newline: bytes  # "\n" in this encoding
    unit: int  # code unit size: a newline only counts at a multiple of it


def line_codec(options: CorpusOptions, head: bytes = b"") -> LineCodec:
    """The LineCodec for the corpus encoding, or for the one a byte order mark at the start
    of `head` (the file's first bytes) names; UTF-16/32 without a mark is little-endian."""
    validate_options(options)
    encoding = options.encoding
    name = canonical_encoding(encoding)
    found = bom_encoding(head)
    if found is not None:
        encoding = found
    elif name == "utf-8-sig":
        encoding = "utf-8"  # the BOM is dropped once per file, not once per line
    elif name in ("utf-16", "utf-32"):
        big = codecs.BOM_UTF16_BE if name == "utf-16" else codecs.BOM_UTF32_BE
        encoding = f"{name}-be" if head.startswith(big) else f"{name}-le"
    newline = "\n".encode(encoding)
    return LineCodec(encoding, options.encoding_errors, newline, len(newline))


class Line(NamedTuple):
    """One line: its number, decoded text (with U+FFFD where `error` is set), the decoding
    error and the line end that was cut off ("\\n", "\\r\\n", "\\r" in a source of carriage return
    line ends, or "" on a last line without one).
    A line longer than the record limit has no text and its byte count as `oversize`."""

    number: int
    text: str
    error: UnicodeDecodeError | None = None
    end: str = "\n"
    oversize: int = 0

    def problem(self, path: str, options: CorpusOptions) -> CorpusFormatError | None:
        """Why this line is a bad record whatever it holds (too long, undecodable), or None."""
        if self.oversize:
            return too_long_error(f"{path}:{self.number}", self.oversize, bool(self.end))
        if self.error is not None:
            return encoding_error(path, self.number, options, self.error)
        return None


class LongLine(NamedTuple):
    """A raw line longer than the limit, skipped: its size in bytes and whether it ended
    with a newline (False: at the end of the input)."""

    size: int
    ended: bool


def is_blank(text: str) -> bool:
    """The one blank-line test: nothing but white space."""
    return not text.strip()


def split_lines(
    read: Callable[[int], bytes], newline: bytes = b"\n", unit: int = 1, limit: int | None = None
) -> Iterator[bytes | LongLine]:
    """Raw lines with their newline (the last one may lack it) from `read(n)` calls.

    Only `newline` at a multiple of `unit` from the start ends a line, so UTF-16 "\\n\\0"
    is not found across two code units. A line longer than `limit` bytes is given as a
    LongLine: once the line passes the limit its bytes are dropped as they come, so no more
    than the limit and a chunk is ever held.
    """
    buffer = bytearray()
    searched = 0  # no line end starts before this offset of the buffer
    dropped = -1  # >= 0: the line being read is too long, and this many bytes are gone
    while True:
        chunk = read(CHUNK)
        buffer += chunk
        start = 0
        while (at := buffer.find(newline, searched)) >= 0:
            searched = at + 1
            if (at - start) % unit == 0:
                end = at + len(newline)
                if dropped >= 0:
                    yield LongLine(dropped + end - start, True)
                    dropped = -1
                elif limit is not None and end - start > limit:
                    yield LongLine(end - start, True)
                else:
                    yield bytes(buffer[start:end])
                start = searched = end
        searched = max(start, len(buffer) - len(newline) + 1) - start
        del buffer[:start]
        if dropped >= 0 or (limit is not None and len(buffer) > limit):
            # No line end before `searched`: drop those bytes (whole code units, so line
            # ends are still found at the right offsets).
            cut = searched - searched % unit
            del buffer[:cut]
            searched -= cut
            dropped = max(dropped, 0) + cut
        if not chunk:
            break
    if dropped >= 0:
        yield LongLine(dropped + len(buffer), False)
    elif buffer:
        if limit is not None and len(buffer) > limit:
            yield LongLine(len(buffer), False)
        else:
            yield bytes(buffer)


def decode_line(raw: bytes, codec: LineCodec, number: int, cr_ends: bool = False) -> Line:
    """A raw line as a numbered Line: decoded, its line end cut off, the BOMs leading it
    dropped (a file's, or one that `cat a.jsonl b.jsonl` left where b began: that record's
    fastText labels were read as words, its JSON refused and its CSV id kept the mark,
    pass 44)."""
    error = None
    try:
        text = raw.decode(codec.encoding, codec.errors)
    except UnicodeDecodeError as exc:
        # Kept with U+FFFD so a CSV row spanning it stays in shape; the row is bad anyway.
        error, text = exc, raw.decode(codec.encoding, "replace")
    end = ""
    if text.endswith("\n"):
        end = "\r\n" if text.endswith("\r\n") else "\n"
        text = text[: -len(end)]
    elif cr_ends and text.endswith("\r"):
        end, text = "\r", text[:-1]
    # Every mark leading it: a file's own mark and the one of a file `cat` put after an
    # empty "UTF-8 with BOM" file made two on line 1, and one stayed (pass 45).
    text = text.lstrip(BOM)
    return Line(number, text, error, end)


def _find_aligned(data: bytes, needle: bytes, unit: int, start: int = 0) -> int:
    """The first offset of `needle` at a multiple of `unit` from `start` on, or -1."""
    at = data.find(needle, start)
    while at >= 0 and at % unit:
        at = data.find(needle, at + 1)
    return at


def line_end(head: bytes, codec: LineCodec, ended: bool) -> bytes | None:
    """The line end of a source whose first bytes are `head` (`ended`: that is all of it):
    carriage return where its first chunk holds one and no "\\n", else "\\n"; None while
    too few bytes are read to tell (less than a chunk, a "\\r" but no "\\n" yet: a pipe's
    first write). The first chunk alone decides, so a byte range tells it as the whole does."""
    if len(head) > CHUNK:
        head, ended = head[:CHUNK], False
    if _find_aligned(head, codec.newline, codec.unit) >= 0:
        return codec.newline
    cr = "\r".encode(codec.encoding)
    at = _find_aligned(head, cr, codec.unit)
    if at < 0:
        # No line end in a whole chunk: a long first line, whose lines end as the README
        # says, at "\n".
        return codec.newline if ended or len(head) >= CHUNK else None
    if not (ended or len(head) >= CHUNK):
        return None
    # A "\r" ending what was read may be the start of a "\r\n" cut by the read: a lone
    # CR only counts where one is followed by more (or the source ends).
    return cr if ended or at + len(cr) < len(head) else codec.newline


def _line_ends(
    read: Callable[[int], bytes], codec: LineCodec
) -> tuple[Callable[[int], bytes], bytes]:
    """`read` as it was (what was read ahead given back first) and the source's line end
    (`line_end`): at most a chunk and one read are held to tell, never the whole source."""
    head, ended = bytearray(), False
    while (newline := line_end(bytes(head), codec, ended)) is None:
        chunk = read(CHUNK)
        ended = not chunk
        head += chunk
    pending = [bytes(head)] if head else []

    def again(size: int) -> bytes:
        # The source is not read again once it has ended (stdin, a watched file).
        return pending.pop() if pending else b"" if ended else read(size)

    return again, newline


def file_line_end(handle: Any, codec: LineCodec) -> bytes:
    """The line end of a seekable file, from its first chunk (see `line_end`)."""
    handle.seek(0)
    head = handle.read(CHUNK)
    newline = line_end(head, codec, len(head) < CHUNK)
    return codec.newline if newline is None else newline


def numbered_lines(
    path: str,
    options: CorpusOptions,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
    errors: str | None = None,
) -> Iterator[Line]:
    """The lines of a file ('-': stdin) or of its byte range [start, stop), numbered from
    `first_line`; `start` must be a line start (see `ranges.plan_cuts`). `errors`, when
    given, is the decoding handler instead of the encoding_errors option's."""
    handle, codec = _open(path, options)
    if errors is not None:
        codec = dataclasses.replace(codec, errors=errors)
    try:
        if start:
            if path == "-":
                raise CorpusFormatError("stdin cannot be read by byte ranges")
            if is_compressed(path):
                raise CorpusFormatError(f"{path}: a compressed file cannot be read by byte ranges")
            if start % codec.unit:
                raise CorpusFormatError(f"{path}: byte {start} is not a line start")
            # A range's line end is the whole file's, told from its start, not the range's.
            newline = file_line_end(handle, codec)
            handle.seek(start)
        number = first_line
        # The file is checked at its end, before split_lines gives what it holds of a last
        # line: a truncation mid-read ends the source with a bad record, not a cut line.
        read = ChangeWatch(path, handle).reader(
            byte_reader(handle, None if stop is None else stop - start),
            lambda: _lines_after(number, first_line),
        )
        if not start:
            read = BinarySniffer(read, path, codec.encoding)
            # Classic Mac files (lone CR line ends only) were one document to fastText and
            # plain lines, one bad record to JSON Lines, while CSV ended rows at each CR
            # (pass 44).
            read, newline = _line_ends(read, codec)
        cr_ends = newline != codec.newline
        for raw in split_lines(read, newline, codec.unit, record_limit()):
            if isinstance(raw, LongLine):
                yield Line(number, "", None, "\n" if raw.ended else "", raw.size)
                number += 1
                continue
            line = decode_line(raw, codec, number, cr_ends)
            if line == (number, "", None, "", 0):
                return  # the file is only a BOM: it holds no lines, as an empty file
            yield line
            number += 1
    finally:
        if path != "-":
            handle.close()


def _lines_after(number: int, first_line: int) -> str:
    """Which documents a change found when line `number` is next may have cost."""
    if number == first_line:
        return "its documents" if first_line == 1 else f"documents from line {first_line}"
    return f"documents after line {number - 1:,}"


def _open(path: str, options: CorpusOptions) -> tuple[Any, LineCodec]:
    # Any: a binary file, stdin's buffer or _EncodedText, all with read(n) -> bytes.
    if path == "-":
        return _stdin_bytes(options)
    try:
        handle = open_bytes(path)  # closed by numbered_lines; .gz files decompressed
    except OSError as exc:
        raise source_error(path, exc) from None
    try:
        # Peeked, not read and sought back: a named pipe cannot seek, and is read as it
        # streams in, like stdin.
        codec = line_codec(options, handle.peek(4)[:4])
    except BaseException:
        handle.close()
        raise
    return handle, codec


def _stdin_bytes(options: CorpusOptions) -> tuple[Any, LineCodec]:
    stdin = standard_input()
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        head = buffer.peek(4)[:4] if hasattr(buffer, "peek") else b""
        return buffer, line_codec(options, head)
    # A text stream without bytes under it (e.g. io.StringIO): it is already decoded, so
    # its characters are carried over as UTF-8.
    utf8 = line_codec(CorpusOptions(encoding="utf-8", encoding_errors=options.encoding_errors))
    return _EncodedText(stdin), utf8


class _EncodedText:
    """A text stream read as UTF-8 bytes; lone surrogates pass through (and fail decoding)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def read(self, size: int) -> bytes:
        """Up to `size` characters, encoded."""
        return self.stream.read(size).encode("utf-8", "surrogatepass")


def byte_reader(handle: object, limit: int | None = None) -> Callable[[int], bytes]:
    """`read(n)` over a binary handle that stops after `limit` bytes (None: at the end)."""
    # read1 returns what is there instead of waiting for a full chunk, so a pipe is
    # tagged as it streams in.
    read: Callable[[int], bytes] = getattr(handle, "read1", None) or handle.read  # type: ignore[attr-defined]
    if limit is None:
        return read
    remaining = limit

    def bounded(size: int) -> bytes:
        nonlocal remaining
        if remaining <= 0:
            return b""
        data = read(min(size, remaining))
        remaining -= len(data)
        return data

    return bounded


@dataclass(frozen=True)
class LineFormat:
    """A line-based corpus format: how one line becomes a document."""

    # (text, where "file:line", generated id "name:line", options) -> Document; any
    # exception makes the line a bad record.
    parse: Callable[[str, str, str, CorpusOptions], Document]
    keeps_blank: bool = False  # True: a blank line is an (empty) document, else skipped
    # True: a backslash in a line is an escape (JSON), so backslashreplace escapes its own.
    escapes_backslashes: bool = False

    def decoding_errors(self, options: CorpusOptions) -> str | None:
        """The decoding handler this format reads with in place of the option's, or None."""
        if self.escapes_backslashes and options.encoding_errors == "backslashreplace":
            return JSON_BACKSLASHREPLACE
        return None

    def is_record(self, line: Line) -> bool:
        """True when the line gives a document (or a bad record), False when it is skipped."""
        return (
            self.keeps_blank
            or line.error is not None
            or bool(line.oversize)
            or not is_blank(line.text)
        )


def line_documents(
    path: str,
    options: CorpusOptions,
    fmt: LineFormat,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> Iterator[Document]:
    """The documents of a line-based file or byte range; a line that fails to parse is a bad
    record under the `on_error` policy and never stops the others."""
    stem = display_name(path)
    errors = fmt.decoding_errors(options)
    for line in numbered_lines(path, options, start, stop, first_line, errors):
        if not fmt.is_record(line):
            continue
        where, default_id = f"{path}:{line.number}", f"{stem}:{line.number}"
        doc: Document | None
        problem = line.problem(path, options)
        if problem is not None:
            doc = bad_record(problem, default_id, options)
        else:
            try:
                doc = fmt.parse(line.text, where, default_id, options)
            except Exception as exc:  # any failure is this record's alone
                doc = bad_record(record_error(exc, where), default_id, options)
        if doc is not None:
            yield doc
