"""Corpus readers and writers; `open_corpus` picks the reader from the path and its content."""

from __future__ import annotations

import dataclasses
import stat
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from topicclf import config
from topicclf.corpus.base import (
    Corpus,
    CorpusOptions,
    Reader,
    bom_encoding,
    check_source,
    file_kind,
    read_head,
    refuse_binary,
    source_error,
    uncompressed_name,
    validate_options,
)
from topicclf.corpus.delimited import read_csv, read_tsv, write_csv, write_tsv
from topicclf.corpus.directory import looks_like_folders, read_folders, read_txtdir, text_files
from topicclf.corpus.fasttext import PREFIX, read_fasttext, write_fasttext
from topicclf.corpus.jsonl import read_jsonl, write_jsonl
from topicclf.corpus.parquet import read_parquet
from topicclf.corpus.plaintext import read_lines, read_text
from topicclf.corpus.ranges import LINE_FORMATS, RangeCount, count_range, plan_cuts, read_range
from topicclf.corpus.reuters import is_reuters, read_reuters
from topicclf.errors import CorpusFormatError
from topicclf.inputs import as_path
from topicclf.types import Document

Writer = Callable[[Iterable[Document], IO[str], CorpusOptions], int]


@dataclass(frozen=True)
class Format:
    """The facts of one corpus format: how it is read (and written, where it can be), its help
    line, the file suffixes that name it, whether it is one text file (checked for binary
    content before reading; such a file is read once from start to end, so a named pipe
    serves as well) and whether Dask reads it in byte ranges (`ranges.LINE_FORMATS`)."""

    name: str
    reader: Reader
    help: str
    writer: Writer | None = None
    suffixes: tuple[str, ...] = ()
    text_file: bool = False


# One record per format; the tables below are views of it. A new format is one record here
# and its reader module.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "jsonl",
            read_jsonl,
            "JSON Lines: one object per line with text, labels (a list) and id fields",
            write_jsonl,
            (".jsonl", ".ndjson"),
            text_file=True,
        ),
        Format(
            "csv",
            read_csv,
            "CSV with a header: text, labels (joined by the label separator) and id columns",
            write_csv,
            (".csv",),
            text_file=True,
        ),
        Format("tsv", read_tsv, "TSV with a header, like csv", write_tsv, (".tsv",), True),
        Format(
            "fasttext",
            read_fasttext,
            "fastText: '__label__a __label__b text' on each line",
            write_fasttext,
            (".ft", ".fasttext"),
            text_file=True,
        ),
        Format(
            "txtdir",
            read_txtdir,
            "a directory of .txt files, each with a sibling .labels file (one label a line)",
        ),
        Format(
            "folders",
            read_folders,
            "a directory with one sub-folder per topic, one file per document",
        ),
        Format(
            "reuters",
            read_reuters,
            "the Reuters-21578 distribution (.tar.gz or a directory of reut2-*.sgm)",
        ),
        Format(
            "lines",
            read_lines,
            "unlabelled plain text, one document per line ('-' reads stdin)",
            text_file=True,
        ),
        Format(
            "text",
            read_text,
            "unlabelled plain text, the whole file (or all of stdin) one document",
            text_file=True,
        ),
        Format(
            "parquet",
            read_parquet,
            "Parquet (needs pyarrow): a file or a directory of them, text/labels/id columns",
            suffixes=(".parquet",),
        ),
    )
}
READERS: dict[str, Reader] = {name: f.reader for name, f in FORMATS.items()}
WRITERS: dict[str, Writer] = {name: f.writer for name, f in FORMATS.items() if f.writer}
FORMAT_HELP = {name: f.help for name, f in FORMATS.items()}
# The one suffix-to-format table, for reading (detect_format) and writing (format_for_suffix).
SUFFIX_FORMATS = {suffix: name for name, f in FORMATS.items() for suffix in f.suffixes}
_TEXT_FILE_FORMATS = tuple(name for name, f in FORMATS.items() if f.text_file)
# A format read once from start to end reads standard input; the others list a directory,
# open an archive or seek in a file.
STDIN_FORMATS = _TEXT_FILE_FORMATS

__all__ = [
    "FORMATS",
    "FORMAT_HELP",
    "LINE_FORMATS",
    "READERS",
    "STDIN_FORMATS",
    "SUFFIX_FORMATS",
    "WRITERS",
    "Corpus",
    "CorpusOptions",
    "RangeCount",
    "count_range",
    "detect_format",
    "format_for_suffix",
    "open_corpus",
    "plan_cuts",
    "read_range",
    "stdin_problem",
    "validate_options",
    "write_corpus",
]


def format_for_suffix(path: str | Path) -> str | None:
    """The corpus format a file name's suffix stands for (case-insensitive), or None."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


def detect_format(path: str) -> str:
    """Guess a corpus format from a path's kind, suffix and first line."""
    if path == "-":
        return "lines"
    source = Path(path)
    mode = check_source(path).st_mode
    if stat.S_ISDIR(mode):
        if any(source.glob("*.parquet")):
            return "parquet"
        if is_reuters(source):
            return "reuters"
        if looks_like_folders(source):
            return "folders"
        if text_files(source, warn=False):
            return "txtdir"
        if (source / "manifest.json").is_file():  # a model where a corpus goes: swapped?
            raise CorpusFormatError(
                f"{path}: this is a model directory, not a corpus; the model comes first, "
                "e.g. topicclf tag MODEL INPUT..."
            )
        raise CorpusFormatError(
            f"{path}: cannot tell the corpus format of this directory (no .txt files, "
            "topic sub-folders or reut2-*.sgm files); give it with --format"
        )
    by_suffix = format_for_suffix(uncompressed_name(source))
    if by_suffix is not None:
        return by_suffix
    if not stat.S_ISREG(mode):
        # Its first line would be gone once read to guess from: a pipe is read only once.
        raise CorpusFormatError(
            f"{path}: {file_kind(mode)}, whose format cannot be told without reading it; "
            f"give it with --format ({', '.join(_TEXT_FILE_FORMATS)})"
        )
    if source.name.lower().endswith((".tar.gz", ".tgz", ".sgm")):
        if is_reuters(source):
            return "reuters"
        raise CorpusFormatError(
            f"{path}: not a Reuters-21578 archive; give the format with --format"
        )
    first = _first_line(source)
    if first.startswith(PREFIX):
        return "fasttext"
    if first.startswith("{"):
        return "jsonl"
    return "lines"


def _first_line(path: Path) -> str:
    try:
        head = read_head(path, 4096)
    except OSError as exc:
        raise source_error(path, exc) from None
    encoding = bom_encoding(head) or "utf-8"
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    for line in text.split("\n"):  # lines end at "\n" only, as the readers see them
        if line.strip():
            return line.strip()
    return ""


def stdin_problem(format: str) -> str | None:
    """Why standard input cannot be read in `format`, or None when it can (the CLI says it
    as a usage error before any work; it was "-: no such file or directory" as a bad record)."""
    if format in STDIN_FORMATS:
        return None
    return f"standard input can be read as {', '.join(STDIN_FORMATS)} (not {format})"


def open_corpus(
    path: str | Path, format: str | None = None, options: CorpusOptions | None = None, **kw: Any
) -> Corpus:
    """Open a corpus for streaming; `format` is guessed when None; keywords set CorpusOptions."""
    path = as_path(path, "path")  # str() made a list's repr a file name
    opts = options or CorpusOptions()
    if kw:
        valid = [f.name for f in dataclasses.fields(CorpusOptions)]
        unknown = sorted(set(kw) - set(valid))
        if unknown:
            raise CorpusFormatError(
                f"unknown corpus option(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
            )
        opts = dataclasses.replace(opts, **kw)
    validate_options(opts)
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise CorpusFormatError(
            f"unknown corpus format {fmt!r}; choose one of: {', '.join(READERS)}"
        )
    if path == "-":
        problem = stdin_problem(fmt)
        if problem:
            raise CorpusFormatError(f"-: {problem}")
        return Corpus(path, fmt, opts, READERS[fmt])
    mode = check_source(path).st_mode
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        if fmt not in _TEXT_FILE_FORMATS:
            raise CorpusFormatError(
                f"{path}: {file_kind(mode)}, not a regular file; the {fmt} reader reads "
                "a file more than once, so it must be a regular file (save the data to a "
                "file first)"
            )
        return Corpus(path, fmt, opts, READERS[fmt])  # read as it streams in, like stdin
    if fmt in _TEXT_FILE_FORMATS and stat.S_ISREG(mode):
        _refuse_binary(Path(path), opts.encoding)
        if format is None and fmt == "lines" and path.lower().endswith(".txt"):
            _note_lines(Path(path))
    return Corpus(path, fmt, opts, READERS[fmt])


_NOTED_LINES: set[str] = set()  # one note per process, however many files are read


def _note_lines(path: Path) -> None:
    """Say once that a .txt file is read a line at a time: a story with wrapped lines would
    otherwise be tagged line by line without a word (a directory's files are whole)."""
    if _NOTED_LINES:
        return
    try:
        lines = sum(1 for line in read_head(path, 1 << 20).split(b"\n") if line.strip())
    except OSError:
        return
    if lines > 1:
        _NOTED_LINES.add(str(path))
        warnings.warn(
            f"{path.name} is read as one document per line; to read each file as one "
            "document, give --format text (format='text' in Python)",
            UserWarning,
            stacklevel=3,
        )


def _refuse_binary(path: Path, encoding: str) -> None:
    try:
        head = read_head(path, config.BINARY_SNIFF_BYTES)
    except OSError as exc:
        raise source_error(path, exc) from None
    refuse_binary(path, head, encoding)


def write_corpus(
    documents: Iterable[Document],
    handle: IO[str],
    format: str,
    options: CorpusOptions | None = None,
) -> int:
    """Write documents to an open text handle in one of WRITERS' formats; returns the count."""
    if format not in WRITERS:
        raise CorpusFormatError(
            f"cannot write the format {format!r}; choose one of: {', '.join(WRITERS)}"
        )
    return WRITERS[format](documents, handle, options or CorpusOptions())
