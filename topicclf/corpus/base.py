"""Reader options, the Corpus handle and helpers shared by every corpus reader."""

from __future__ import annotations

import codecs
import errno
import functools
import gzip
import io
import os
import re
import stat
import sys
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, TextIO

from topicclf import config
from topicclf.errors import BadRecordWarning, CorpusFormatError
from topicclf.smallfile import BOMS as BOMS
from topicclf.smallfile import bom_encoding as bom_encoding
from topicclf.types import Document


@dataclass(frozen=True)
class CorpusOptions:
    """How to read a corpus: encoding, field names, label separator, Reuters split."""

    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    text_field: str = "text"
    labels_field: str = "labels"
    id_field: str = "id"
    label_separator: str = "|"
    split: str = "all"
    categories: str = "topics"
    on_error: str = "raise"
    # "ignore": no topics are read: a text directory's NAME.labels files are not opened, and
    # the labels field or column is not read (`tag` and `explain` never use topics: a
    # document is not refused for its .labels, nor its topics read at any cost).
    labels_files: str = "read"


Reader = Callable[[str, CorpusOptions], Iterator[Document]]


@dataclass(frozen=True)
class Corpus:
    """A re-iterable corpus: each iteration streams its documents from the source again."""

    path: str
    format: str
    options: CorpusOptions = field(default_factory=CorpusOptions)
    reader: Reader | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[Document]:
        assert self.reader is not None
        return guarded(self.path, self.reader, self.options)

    def describe(self) -> dict[str, str]:
        """A short description of where the documents come from, for manifests and reports."""
        out = {"path": self.path, "format": self.format}
        if self.format == "reuters":
            out["split"] = self.options.split
            out["categories"] = self.options.categories
        return out


def encoding_error(
    path: str, lineno: int | None, options: CorpusOptions, exc: UnicodeDecodeError
) -> CorpusFormatError:
    """A CorpusFormatError for undecodable bytes that names the encoding they were decoded
    with: the `encoding` option's, or the one a byte-order mark chose over it."""
    where = f"{path}:{lineno}" if lineno else path
    if not _codec_of(exc.encoding, options.encoding):
        # A BOM chose the codec (UTF-16, UTF-32 or UTF-8), whatever --encoding says, so
        # another --encoding cannot help (before: "cannot decode the text as utf-8").
        return CorpusFormatError(
            f"{where}: cannot decode the text as {exc.encoding}, which the file's byte-order "
            f"mark names ({exc.reason}); the file may be damaged: use --encoding-errors "
            "replace to replace undecodable bytes"
        )
    return CorpusFormatError(
        f"{where}: cannot decode the text as {options.encoding} ({exc.reason}); "
        "use another encoding (e.g. --encoding latin-1), or "
        "--encoding-errors replace to replace undecodable bytes"
    )


def _codec_of(used: str, given: str) -> bool:
    """True when the codec a decode error names is the one `given` (--encoding) chose."""
    used, given = _codec_name(used), _codec_name(given)
    # Python's utf-16 and utf-32 codecs decode a file without a byte-order mark through
    # their -le codec, and name it: `--encoding utf-16` on a file with no mark was blamed
    # on "the file's byte-order mark".
    return used in ("charmap", given) or (
        given in ("utf-16", "utf-32") and used in (f"{given}-le", f"{given}-be")
    )


def _codec_name(encoding: str) -> str:
    """The codec's own name for `encoding` ('utf_8' and 'UTF8' are 'utf-8')."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding


ON_ERROR = ("raise", "report", "skip")
LABELS_FILES = ("read", "ignore")
# Decoding handlers only: "surrogateescape"/"surrogatepass" would put lone surrogates into
# the text, which no UTF-8 writer can write.
ENCODING_ERRORS = ("strict", "replace", "ignore", "backslashreplace")


def validate_options(options: CorpusOptions) -> None:
    """Raise CorpusFormatError for an unknown encoding, decoding handler, error policy or
    Reuters split or category field (in whatever format: a value outside its choices).

    Both engines call this before reading, so a typo fails at once with the same message
    (and before a Dask cluster starts), not at the first line.
    """
    for option in fields(options):  # every option is a string (`open_corpus(**kw)`)
        value = getattr(options, option.name)
        if not isinstance(value, str):
            raise CorpusFormatError(
                f"corpus option {option.name}: expected a string, not "
                f"{type(value).__name__} {repr(value)[:60]}"
            )
    try:
        # Not b"": empty input skips the codec, which must refuse bytes-to-bytes codecs
        # such as base64.
        b"a".decode(options.encoding, "replace")
    except UnicodeError:
        pass  # a codec refusing the handler or the byte: told by _stream_problem below
    except LookupError:
        raise CorpusFormatError(
            f"unknown text encoding {options.encoding!r} (--encoding); "
            "use one Python knows, e.g. utf-8 or latin-1"
        ) from None
    if options.encoding_errors not in ENCODING_ERRORS:
        raise CorpusFormatError(
            f"unknown --encoding-errors {options.encoding_errors!r}; "
            f"choose one of: {', '.join(ENCODING_ERRORS)}"
        )
    problem = _stream_problem(options.encoding, options.encoding_errors)
    if problem is not None:
        raise CorpusFormatError(
            f"unknown text encoding {options.encoding!r} (--encoding): it cannot read a "
            f"text file a piece at a time ({problem}); use a text encoding, e.g. utf-8 or "
            "latin-1"
        )
    if options.labels_files not in LABELS_FILES:
        raise CorpusFormatError(
            f"unknown labels_files {options.labels_files!r}; choose one of: "
            f"{', '.join(LABELS_FILES)}"
        )
    from topicclf.corpus.reuters import option_problem  # reuters.py imports this module

    reuters = option_problem(options)
    if reuters:
        raise CorpusFormatError(reuters)
    clash = field_clash(options)
    if clash:
        raise CorpusFormatError(clash)
    if options.on_error not in ON_ERROR:
        raise CorpusFormatError(
            f"unknown on_error policy {options.on_error!r}; choose one of: {', '.join(ON_ERROR)}"
        )
    problem = separator_problem(options.label_separator)
    if problem:
        raise CorpusFormatError(f"--label-separator {options.label_separator!r} {problem}")


def separator_problem(separator: str) -> str:
    """Why `separator` cannot join labels (a phrase that follows it in a message), or "":
    the one rule of `open_corpus` and the CLI's --label-separator."""
    if separator and separator.strip() == separator:
        return ""
    return "must be one or more characters that are not white space at either end, e.g. '|' or ';'"


# The options naming the field (or column) of each role, with the option that sets them.
FIELD_OPTIONS = {
    "text_field": "--text-field",
    "labels_field": "--labels-field",
    "id_field": "--id-field",
}


# The field JSON Lines reads (and writes) each document's language from, under this name
# whatever the options say.
LANGUAGE_FIELD = "language"

# The fields a reader or writer uses under a fixed name, with what they hold. They are
# refused for every format: `corpus convert` writes JSON Lines from any of them, and a CSV
# text column named 'language' would be written over by each document's language.
FIXED_FIELDS = {
    LANGUAGE_FIELD: "the field JSON Lines reads and writes each document's language in",
}


def field_clash(options: CorpusOptions, names: Iterable[str] | None = None) -> str | None:
    """Why two of the field options `names` (by default those the reader uses: the labels
    field only when topics are read), or one of them and a field read under a fixed name
    (`FIXED_FIELDS`), name the same field or column, or None. Such a column read for two
    roles was one silently (the topics taken as the text, each text as its language), and a
    writer keyed by those names wrote one over the other (a converted corpus without its
    text)."""
    if names is None:
        names = [n for n in FIELD_OPTIONS if n != "labels_field" or options.labels_files == "read"]
    seen: dict[str, str] = {}
    for name in names:
        value = getattr(options, name)
        if value in seen:
            first = seen[value]
            return (
                f"{FIELD_OPTIONS[first]} and {FIELD_OPTIONS[name]} both name {config.shown(value)} "
                f"({first}= and {name}= in Python); give each its own field or column"
            )
        if value in FIXED_FIELDS:
            return (
                f"{FIELD_OPTIONS[name]} names {config.shown(value)} ({name}= in Python), "
                f"{FIXED_FIELDS[value]}; give it another field or column"
            )
        seen[value] = name
    return None


# Prose longer than a domain name label (63 characters) with the punctuation of text, no
# backslash escapes: every text encoding writes it and reads it back, byte by byte.
_PROBE = (
    "Rain, wind & hail over the wheat fields: 3 inches (7.6 cm) in 2 hours; "
    "'so' said \"the\" report - half as much again as last year's [record] {maybe}.\n"
) * 2


@functools.lru_cache(maxsize=64)
def _stream_problem(encoding: str, errors: str) -> str | None:
    """Why a codec cannot decode a byte stream piece by piece with `errors` (and "replace",
    which the readers use to show a bad line), or None when it can.

    Readers decode lines and chunks incrementally. Codecs such as punycode and idna are
    transforms of domain names: they raise a bare UnicodeError (not UnicodeDecodeError, the
    record's own problem) on ordinary text, or refuse error handlers, so they are refused
    here, before any reading, as rot13 and hex are.
    """
    try:
        data = _PROBE.encode(encoding)
        for handler in dict.fromkeys((errors, "replace")):
            decoder = codecs.getincrementaldecoder(encoding)(errors=handler)
            text = "".join(decoder.decode(data[i : i + 1]) for i in range(len(data)))
            text += decoder.decode(b"", final=True)
            if text.removeprefix("\ufeff") != _PROBE:
                return "plain text read back as other text"
    except Exception as exc:  # any failure on plain text disqualifies the codec
        return f"{type(exc).__name__}: {exc}"
    return None


def canonical_encoding(encoding: str) -> str:
    """The codec's canonical name (e.g. 'UTF8' -> 'utf-8'), for comparisons."""
    return codecs.lookup(encoding).name


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """Replace lone surrogates (from JSON escapes such as \\ud800) with U+FFFD.

    The one rule for text that is not valid Unicode: readers apply it to what they read and
    the corpus writers to what they write, so no UTF-8 output can fail on such a character.
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def record_error(exc: Exception, where: str) -> CorpusFormatError:
    """Turn any failure while parsing one record into a CorpusFormatError naming `where`."""
    if isinstance(exc, CorpusFormatError):
        return exc
    if isinstance(exc, RecursionError):
        return CorpusFormatError(f"{where}: the record is nested too deeply to read")
    return CorpusFormatError(f"{where}: cannot read the record ({type(exc).__name__}: {exc})")


def bad_record(error: CorpusFormatError, doc_id: str, options: CorpusOptions) -> Document | None:
    """Apply the `on_error` policy to an unreadable record: raise it, or warn and return a
    placeholder document carrying the error ('report', cut to config.BAD_RECORD_CHARS), or
    None ('skip')."""
    if options.on_error == "raise":
        raise error
    warnings.warn(str(error), BadRecordWarning, stacklevel=3)
    if options.on_error == "skip":
        return None
    return Document(doc_id, "", (), error=cut_message(str(error)), generated_id=True)


def cut_message(text: str) -> str:
    """A message as an output record carries it: at most config.BAD_RECORD_CHARS characters
    and its full length said (a header of 50,000 names made one 50 MB line)."""
    if len(text) <= config.BAD_RECORD_CHARS:
        return text
    return f"{text[: config.BAD_RECORD_CHARS]}... ({len(text):,} characters)"


def shown_names(names: Iterable[str], most: int = 20) -> str:
    """Column names as a message lists them: the first `most`, each cut short, and how many
    more (a header may hold 50,000 names of 1,000 characters)."""
    names = list(names)
    shown = [n if len(n) <= 40 else f"{n[:30]}...({len(n):,} characters)" for n in names[:most]]
    more = f" and {len(names) - most:,} more" if len(names) > most else ""
    return (", ".join(shown) or "nothing") + more


def standard_input() -> TextIO:
    """sys.stdin, or a clear error when the process was started with it closed (`<&-`)."""
    if sys.stdin is None:
        raise CorpusFormatError(
            "-: standard input is closed; give the documents as files, or pipe them in"
        )
    return sys.stdin


def guarded(path: str, reader: Reader, options: CorpusOptions) -> Iterator[Document]:
    """The documents `reader` gives for `path`, where a failure of the source itself (it
    vanished, became unreadable, a header or file that cannot be read) is one bad record
    named after the source under the `on_error` policy, and ends that source only: a run
    over several sources goes on with the next, and what was read before is kept."""
    try:
        yield from reader(path, options)
        return
    except CorpusFormatError as exc:
        error = exc
    except OSError as exc:
        error = source_error(path, exc)
    placeholder = bad_record(error, display_name(path), options)
    if placeholder is not None:
        yield placeholder


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words ('a named pipe', ...)."""
    kinds = {
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISDIR: "a directory",
        stat.S_ISSOCK: "a socket",
    }
    return next((text for test, text in kinds.items() if test(mode)), "a special file")


def source_error(path: str | Path, exc: OSError) -> CorpusFormatError:
    """The CorpusFormatError for a corpus file or directory that cannot be opened or read:
    the path and what is wrong in words, never a bare strerror (or a link loop called
    missing, a pipe called unseekable)."""
    if exc.errno == errno.ELOOP:
        return CorpusFormatError(
            f"{path}: a symbolic link loop (ELOOP): following its links leads back to them; "
            "point the link at a file"
        )
    if exc.errno == errno.ENOENT:
        if Path(path).is_symlink():
            return CorpusFormatError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist"
            )
        return CorpusFormatError(f"{path}: no such file or directory")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return CorpusFormatError(f"{path}: permission denied")
    if exc.errno == errno.EISDIR:
        return CorpusFormatError(f"{path}: is a directory, expected a file")
    if exc.errno == errno.ESPIPE or isinstance(exc, io.UnsupportedOperation):
        return CorpusFormatError(
            f"{path}: {_kind_of(path)}, which can be read only once; this reader needs a "
            "regular file (save the data to a file first)"
        )
    return CorpusFormatError(f"{path}: cannot be read ({exc.strerror or exc})")


def _kind_of(path: str | Path) -> str:
    try:
        return file_kind(os.stat(path).st_mode)
    except OSError:
        return "not a regular file"


def check_source(path: str | Path) -> os.stat_result:
    """The stat of a corpus path, or a CorpusFormatError naming it and why it cannot be
    reached (missing, a link loop or a link to nothing, a folder without permission)."""
    try:
        return os.stat(path)
    except OSError as exc:
        raise source_error(path, exc) from None


def decode_text(raw: bytes, options: CorpusOptions) -> str:
    """A whole file's bytes as text: in the encoding its byte order mark names, else in the
    corpus encoding; the mark is dropped. UnicodeDecodeError is the caller's to report."""
    encoding = bom_encoding(raw[:4]) or options.encoding
    return raw.decode(encoding, options.encoding_errors).removeprefix("\ufeff")


def record_limit() -> int:
    """The most bytes one record (a line, a CSV row, a whole `text` file) may take:
    `config.MAX_RECORD_BYTES`, looked up at each read."""
    return config.MAX_RECORD_BYTES


class RecordTooLongError(CorpusFormatError):
    """A record (line, row, document) longer than `record_limit()`: that record's problem."""


def too_long_error(where: str, size: int, ended: bool = True) -> RecordTooLongError:
    """The bad record for a line, row or document longer than `record_limit()` bytes."""
    limit = record_limit()
    length = f"{size:,} bytes long" if ended else f"over {limit:,} bytes long (read no further)"
    mib = f" ({limit / 2**20:g} MiB)" if limit >= 2**20 else ""
    return RecordTooLongError(
        f"{where}: the record is {length}, more than the {limit:,} bytes{mib} one document "
        "may take; is the format right (--format)? Split longer documents"
    )


def read_capped(read: Callable[[int], bytes], where: str, limit: int | None = None) -> bytes:
    """All of a source's bytes from `read(n)` calls, or `too_long_error` as soon as they pass
    `limit` (by default `record_limit()`, which the error names: a caller with another limit
    words its own); no more than the limit and one chunk is ever held."""
    limit = record_limit() if limit is None else limit
    parts: list[bytes] = []
    size = 0
    while chunk := read(1 << 20):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise too_long_error(where, size, ended=False)
    return b"".join(parts)


def refuse_binary(where: str | Path, head: bytes, encoding: str) -> None:
    """Raise CorpusFormatError when a source's first bytes (`config.BINARY_SNIFF_BYTES` of
    them; fewer when it is shorter) look binary: many NUL or undecodable bytes. The one test
    for files, devices, pipes and stdin, whatever the format."""
    # A byte order mark is looked at first: UTF-16/32 text is full of NUL bytes, and any
    # other text encoding has none.
    encoding = bom_encoding(head) or encoding
    try:
        if canonical_encoding(encoding).startswith(("utf-16", "utf-32")):
            return
    except LookupError:
        return  # an unknown encoding is reported by the reader
    if b"\x00" in head and _binary_bytes(head, encoding) > max(8, len(head) // 100):
        raise CorpusFormatError(
            f"{where}: looks like a binary file (it contains NUL bytes), not a text corpus"
        )


def _binary_bytes(head: bytes, encoding: str) -> int:
    """NUL bytes and bytes the encoding cannot read in a file's first bytes. A NUL or two
    is a bad record's doing (that line alone is refused); a binary file has many."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    except LookupError:
        return head.count(b"\x00")  # an unknown encoding is reported by the reader
    return head.count(b"\x00") + decoder.decode(head, final=False).count("\ufffd")


class BinarySniffer:
    """`read(n)` passed through, refusing binary content (`refuse_binary`) in the first
    `config.BINARY_SNIFF_BYTES` as they stream in: a pipe or stdin is still read as it
    arrives, and is refused as soon as what came is binary whatever follows."""

    def __init__(self, read: Callable[[int], bytes], where: str, encoding: str) -> None:
        self._read = read
        self._where = where
        self._encoding = encoding
        self._head = bytearray()
        self._done = False

    def __call__(self, size: int) -> bytes:
        data = self._read(size)
        if not self._done:
            want = config.BINARY_SNIFF_BYTES
            self._head += data[: want - len(self._head)]
            if not data or len(self._head) >= want:
                self._done = True
                refuse_binary(self._where, bytes(self._head), self._encoding)
            elif _binary_bytes(bytes(self._head), self._encoding) > max(8, want // 100):
                # binary whatever follows: more bytes never lower the count
                refuse_binary(self._where, bytes(self._head), self._encoding)
        return data


def display_name(path: str) -> str:
    """The name used in generated document ids: the file name without suffixes, or 'stdin'."""
    if path == "-":
        return "stdin"
    name = Path(path).name
    return name.split(".", 1)[0] or name


def shared_id_names(sources: Iterable[str]) -> list[str]:
    """A warning for each input whose documents without an id get the ids another input's
    get (a/x.txt and b/x.txt, or one file given twice: x:1, ...), as every engine says it."""
    seen: dict[str, str] = {}
    said = []
    for source in sources:
        name = display_name(source)
        if name in seen:
            said.append(
                f"{seen[name]} and {source} both give documents without an id the ids "
                f"'{name}:LINE'; tag them separately to tell their results apart"
            )
        seen.setdefault(name, source)
    return said


MAX_TOPICS_PER_DOCUMENT = config.MAX_TOPICS_PER_DOCUMENT


def check_topic_names(count: int, where: str = "") -> None:
    """Raise CorpusFormatError when a record lists more than config.MAX_TOPIC_NAMES_LISTED
    topic names (empty and repeated ones count); `clean_labels` calls it for every reader,
    and readers call it on the count before they split or decode the names where they can
    (CSV separators, Parquet list lengths, fastText's leading tokens, a .labels file's
    lines, a JSON list's length)."""
    if count > config.MAX_TOPIC_NAMES_LISTED:
        raise CorpusFormatError(
            (f"{where}: " if where else "") + config.too_many_topic_names(count)
        )


def clean_labels(labels: list[str] | tuple[str, ...], where: str = "") -> tuple[str, ...]:
    """Labels by config.normal_topic (NFC, stripped), empty ones and duplicates dropped, the
    first occurrence's order kept;
    more than config.MAX_TOPIC_NAMES_LISTED names listed, more than MAX_TOPICS_PER_DOCUMENT
    kept, or a name over config.MAX_TOPIC_CHARS, make the record a bad one."""
    # Every reader's list passes here, so the bound holds in all of them; those that can
    # count the names before building them (CSV, Parquet, fastText, .labels) do so too.
    check_topic_names(len(labels), where)
    seen: dict[str, None] = {}
    for label in labels:
        label = config.normal_topic(label)
        problem = config.topic_too_long(label)
        if problem:
            raise CorpusFormatError((f"{where}: " if where else "") + problem)
        if label:
            seen.setdefault(label, None)
    if len(seen) > MAX_TOPICS_PER_DOCUMENT:
        raise CorpusFormatError(
            (f"{where}: " if where else "")
            + config.too_many_topics(len(seen))
            + " (is the label separator right?)"
        )
    return tuple(seen)


# A corpus file whose name ends so is decompressed while it is read, in every reader.
COMPRESSED_SUFFIX = ".gz"


def is_compressed(path: str | Path) -> bool:
    """True when a corpus file is read through gzip (its name ends in .gz, any case)."""
    return str(path).lower().endswith(COMPRESSED_SUFFIX)


def uncompressed_name(path: str | Path) -> str:
    """The file name a compressed corpus stands for ('train.jsonl' for 'train.jsonl.gz')."""
    name = Path(path).name
    return name[: -len(COMPRESSED_SUFFIX)] if is_compressed(name) else name


class _Gunzip:
    """A gzip file's decompressed bytes (read, read1, seek), with a damaged or truncated
    stream reported as the corpus's problem, naming the file."""

    def __init__(self, path: str, raw: IO[bytes]) -> None:
        self.path = path
        self.raw = raw
        self.stream = gzip.GzipFile(fileobj=raw, mode="rb")

    def _guard(self, call: Callable[[], bytes]) -> bytes:
        try:
            return call()
        except (OSError, EOFError, zlib.error) as exc:
            raise CorpusFormatError(f"{self.path}: not a readable gzip file ({exc})") from None

    def read(self, size: int = -1) -> bytes:
        """Up to `size` decompressed bytes."""
        return self._guard(lambda: self.stream.read(size))

    def read1(self, size: int = -1) -> bytes:
        """Up to `size` decompressed bytes, without waiting for more input."""
        return self._guard(lambda: self.stream.read1(size))

    def peek(self, size: int = 1) -> bytes:
        """Decompressed bytes ahead, without reading past them."""
        return self._guard(lambda: self.stream.peek(size))

    def seek(self, offset: int) -> int:
        """Go to a decompressed offset (0 rewinds; others decompress up to it)."""
        try:
            return self.stream.seek(offset)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorpusFormatError(f"{self.path}: not a readable gzip file ({exc})") from None

    def fileno(self) -> int:
        """The descriptor of the compressed file under the stream (for `ChangeWatch`)."""
        return self.raw.fileno()

    def close(self) -> None:
        """Close the gzip stream and the file under it."""
        try:
            self.stream.close()
        finally:
            self.raw.close()

    def __enter__(self) -> _Gunzip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bytes(path: str) -> io.BufferedReader:
    """A corpus file's bytes (read, read1, peek), decompressed when it is gzip-compressed
    (`is_compressed`). OSErrors (missing file, permissions) are the caller's to report."""
    raw = open(path, "rb")  # noqa: SIM115 - returned, closed by the caller
    if not is_compressed(path):
        return raw
    return _Gunzip(path, raw)  # type: ignore[return-value]


def read_head(path: str | Path, size: int) -> bytes:
    """A corpus file's first `size` bytes (decompressed), to tell its format or whether it
    is binary before it is read. A compressed file gives what comes before any damage: the
    reader meets that damage at the same place and makes it the source's bad record, as it
    does past the head (a .gz with trailing garbage failed the whole run when the garbage
    fell within the head, and was a bad record when it did not). OSErrors are the caller's."""
    with open_bytes(str(path)) as handle:
        if not is_compressed(path):
            return handle.read(size)
        chunks: list[bytes] = []
        got = 0
        while got < size:
            try:
                chunk = handle.read1(size - got)
            except CorpusFormatError:  # damaged here: the reader says so, at this point
                break
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


def open_regular_bytes(
    path: str, why: str = " (it was replaced after the directory was listed?)"
) -> io.BufferedReader:
    """`open_bytes` for a file that must be a regular file (a directory's files, listed
    before they are read, or any file a reader seeks in): opened without blocking and checked
    on the open descriptor, so a named pipe or device (there from the start, or swapped in
    meanwhile) is refused, `why` saying so after the kind, instead of waited on for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CorpusFormatError(f"{path}: {file_kind(info.st_mode)}, not a regular file{why}")
        os.set_blocking(fd, True)
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    if not is_compressed(path):
        return raw
    return _Gunzip(path, raw)  # type: ignore[return-value]


class ChangeWatch:
    """What a regular corpus file was when it was opened (fstat of the open file), to tell at
    its end whether it shrank or was rewritten while it was read.

    A file that shrinks under a reader (truncated, or rewritten in place by `cp` or `>`)
    ends early and its last line may be cut in two: documents lost without a word. A file
    that only grows (a log being appended to) is read as it goes, as far as its end when the
    reader gets there, and is not refused. The open file is what is compared, so a file
    replaced by a rename is read whole as it was when opened (a consistent copy). Pipes,
    devices and stdin from a pipe are not watched: they have no size to compare.
    """

    def __init__(self, path: str, handle: object) -> None:
        self.path = path
        self._fd: int | None = None
        self._opened: os.stat_result | None = None
        try:
            fd = handle.fileno()  # type: ignore[attr-defined]
            info = os.fstat(fd)
        except (AttributeError, OSError, ValueError):  # io.StringIO, a closed or fake stdin
            return
        if stat.S_ISREG(info.st_mode):
            self._fd, self._opened = fd, info

    def check(self, after: str) -> None:
        """Raise CorpusFormatError when the file shrank (now shorter than when opened, or
        than where reading got to) or was rewritten in place (same size, new mtime);
        `after` says which documents may be lost ("documents after line 9")."""
        if self._fd is None or self._opened is None:
            return
        try:
            now = os.fstat(self._fd)
            position = os.lseek(self._fd, 0, os.SEEK_CUR)
        except OSError:
            return  # nothing to compare with; the read itself reports a failing file
        before = self._opened.st_size
        if now.st_size < max(before, position):
            how = f"{before:,} bytes when opened, {now.st_size:,} now"
        elif now.st_size == before and now.st_mtime_ns != self._opened.st_mtime_ns:
            how = f"rewritten in place, still {before:,} bytes"
        else:
            return  # unchanged, or grown (appended to): what was read is whole
        raise CorpusFormatError(
            f"{self.path}: changed while it was read ({how}); {after} may be lost or cut: "
            "read it again"
        )

    def reader(
        self, read: Callable[[int], bytes], after: Callable[[], str]
    ) -> Callable[[int], bytes]:
        """`read(n)` that checks the file (`check`) when it reaches the end, before the
        caller uses what it holds of a last line: a line cut by a shrink is never a
        document."""
        if self._fd is None:
            return read

        def watched(size: int) -> bytes:
            data = read(size)
            if not data:
                self.check(after())
            return data

        return watched
