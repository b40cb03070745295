"""CSV and TSV corpora with a header row: a text column and a separator-joined labels column."""

from __future__ import annotations

import csv
import re
import sys
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO

from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    check_topic_names,
    clean_labels,
    display_name,
    record_limit,
    scrub_surrogates,
    shown_names,
    too_long_error,
)
from topicclf.corpus.lines import Line, is_blank, numbered_lines
from topicclf.errors import CorpusFormatError
from topicclf.types import Document


def read_csv(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a comma-separated file with a header."""
    return _read(path, options, ",")


def read_tsv(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a tab-separated file with a header."""
    return _read(path, options, "\t")


def _read(path: str, options: CorpusOptions, delimiter: str) -> Iterator[Document]:
    _allow_any_field_size()
    stem = display_name(path)
    feed = _Feed(numbered_lines(path, options))
    reader = _reader(feed, delimiter)
    columns, width = _header(reader, feed, path, options)
    text_col = columns[options.text_field]
    labels_col = columns.get(options.labels_field) if options.labels_files == "read" else None
    id_col = columns.get(options.id_field)
    for row, lineno, problem in _rows(reader, feed, path, options, delimiter):
        if problem is None and len(row) != width and not _is_blank_row(row):
            problem = CorpusFormatError(
                f"{path}:{lineno}: expected {width} fields as in the header, found {len(row)}"
            )
        if problem is not None:
            placeholder = bad_record(problem, f"{stem}:{lineno}", options)
            if placeholder is not None:
                yield placeholder
            continue
        if _is_blank_row(row):
            continue
        labels: tuple[str, ...] = ()
        if labels_col is not None and row[labels_col].strip():
            try:
                # Counted before the split: a 60 MB field of separators split into 60
                # million empty names took 27 times its size.
                field = row[labels_col]
                check_topic_names(field.count(options.label_separator) + 1, f"{path}:{lineno}")
                names = field.split(options.label_separator)
                labels = clean_labels(names, f"{path}:{lineno}")
            except CorpusFormatError as exc:
                placeholder = bad_record(exc, f"{stem}:{lineno}", options)
                if placeholder is not None:
                    yield placeholder
                continue
        # A blank id cell is no id, as an empty one is (and as in JSON Lines and Parquet).
        if id_col is not None and row[id_col].strip():
            yield Document(row[id_col], row[text_col], labels)
        else:
            yield Document(f"{stem}:{lineno}", row[text_col], labels, generated_id=True)


Row = tuple[list[str], int, "CorpusFormatError | None"]  # fields, first line, problem


def _reader(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    # strict: a quote that is never closed, or text after a closing quote, is an error (the
    # lenient reader would silently take every later row into the field).
    return csv.reader(lines, delimiter=delimiter, strict=True)


def _rows(
    reader: Iterator[list[str]], feed: _Feed, path: str, options: CorpusOptions, delimiter: str
) -> Iterator[Row]:
    """Each row with the line it begins on, or the problem that row has.

    A row that goes wrong after taking several lines (a quote never closed) is a bad record
    at its first line, and the lines it took are read again as rows of their own. Reading
    again is bounded: once it has re-read twice the lines of the file so far (plus
    REREAD_SLACK), the lines a bad row took are read one line a row, so a file built to send
    every row to its end costs linear time, not quadratic."""
    while True:
        feed.start_row()
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, _RowTooLong) as error:
            message = str(error).replace("'\t'", "a tab")  # csv names the delimiter itself
            if isinstance(error, _RowTooLong):  # a quote left open, most likely
                message = str(too_long_error("", error.size, ended=False)).removeprefix(": ")
            elif not feed.spans_lines():
                yield [], feed.line, _problem(feed, path, options, f"{path}:{feed.line}: {message}")
                continue
            first = feed.first_line()
            if feed.faulty and feed.faulty.number != first:
                feed.faulty = None  # a line read again below: reported there, once
            found = f"{path}:{first}: {message} (the row begins here)"
            yield [], first, _problem(feed, path, options, found)
            taken = feed.take_row()[1:]
            if feed.may_reread(len(taken)):
                feed.read_again(taken)
            else:
                for line in taken:
                    yield from _alone(line, path, options, delimiter)
            reader = _reader(feed, delimiter)  # a fresh one: the old may have hit the end
            continue
        first = feed.first_line()
        yield row, first, _problem(feed, path, options, None)


def _problem(
    feed: _Feed, path: str, options: CorpusOptions, message: str | None
) -> CorpusFormatError | None:
    """The row's problem: a faulty line in it first (undecodable, too long), else
    `message` if any."""
    if feed.faulty:
        line, feed.faulty = feed.faulty, None
        return line.problem(path, options)
    return CorpusFormatError(message) if message is not None else None


def _alone(line: Line, path: str, options: CorpusOptions, delimiter: str) -> Iterator[Row]:
    """The rows of one line read on its own (a quote it leaves open is its own error)."""
    problem = line.problem(path, options)
    if problem is not None:
        yield [], line.number, problem
        return
    pieces = [p for p in _LONE_CR.split(line.text + line.end) if p]
    try:
        for row in _reader(pieces, delimiter):
            yield row, line.number, None
    except csv.Error as error:
        message = str(error).replace("'\t'", "a tab")
        yield [], line.number, CorpusFormatError(f"{path}:{line.number}: {message}")


def _is_blank_row(row: list[str]) -> bool:
    return not row or (len(row) == 1 and is_blank(row[0]))


def _header(
    reader: Iterator[list[str]], feed: _Feed, path: str, options: CorpusOptions
) -> tuple[dict[str, int], int]:
    """Column positions by name, and the number of columns; a header that cannot be read,
    or that repeats a column the reader uses, stops the whole file."""
    try:
        header = next(reader)
    except StopIteration:
        raise CorpusFormatError(f"{path}: empty file, expected a header row") from None
    except csv.Error as exc:
        raise CorpusFormatError(f"{path}:{feed.first_line()}: {exc} (in the header)") from None
    except _RowTooLong as exc:
        raise too_long_error(f"{path}:1", exc.size, ended=False) from None
    problem = feed.faulty.problem(path, options) if feed.faulty else None
    if problem is not None:
        raise problem
    names = [name.strip() for name in header]
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        columns.setdefault(name, i)
    if options.text_field not in columns:
        raise CorpusFormatError(
            f"{path}:1: no {options.text_field!r} column in the header "
            f"(found: {shown_names(columns)}); "
            "name the column with --text-field (text_field= in Python)"
        )
    # Which of two columns of one name is meant cannot be told; a repeated column the reader
    # does not use (e.g. two empty names from trailing commas) is left alone.
    used = (options.text_field, options.id_field) + (
        (options.labels_field,) if options.labels_files == "read" else ()
    )
    for field in used:
        positions = [i + 1 for i, name in enumerate(names) if name == field]
        if len(positions) > 1:
            raise CorpusFormatError(
                f"{path}:1: the header repeats the column {field!r} (columns "
                f"{', '.join(map(str, positions))}); give each column its own name"
            )
    return columns, len(header)


_LONE_CR = re.compile(r"(?<=\r)(?!\n)")
REREAD_SLACK = 1000  # lines any file may read again, however short


class _Feed:
    """The lines of the shared splitter as csv.reader input, remembering which line it is at
    and the first faulty line (undecodable, too long) of the row being read. A row that
    takes more than `record_limit()` bytes of lines stops with _RowTooLong."""

    def __init__(self, lines: Iterator[Line]) -> None:
        self._lines = lines
        self._again: deque[Line] = deque()  # lines to read once more, before the rest
        self._row: list[Line] = []  # the lines of the row being read
        self.line = 0
        self._furthest = 0  # the last line number read from the file
        self._reread = 0  # lines given again so far
        self.faulty: Line | None = None
        self._row_bytes = 0

    def start_row(self) -> None:
        """A new row begins with the next line."""
        self._row = []
        self._row_bytes = 0

    def spans_lines(self) -> bool:
        """Whether the row being read has taken more than one line."""
        return len(self._row) > 1

    def first_line(self) -> int:
        """The number of the row's first line."""
        return self._row[0].number if self._row else self.line

    def take_row(self) -> list[Line]:
        """The lines of the row being read (which ends it)."""
        row, self._row = self._row, []
        self._row_bytes = 0
        return row

    def may_reread(self, count: int) -> bool:
        """Whether `count` more lines may be read again within the budget (see `_rows`)."""
        if self._reread + count > 2 * self._furthest + REREAD_SLACK:
            return False
        self._reread += count
        return True

    def read_again(self, lines: list[Line]) -> None:
        """Give these lines once more, before the rest."""
        self._again.extendleft(reversed(lines))

    def _next_lines(self) -> Iterator[Line]:
        while True:
            if self._again:
                yield self._again.popleft()
                continue
            line = next(self._lines, None)
            if line is None:
                return
            yield line

    def __iter__(self) -> Iterator[str]:
        for line in self._next_lines():
            self._row.append(line)
            self.line = line.number
            self._furthest = max(self._furthest, line.number)
            if self.faulty is None and (line.error is not None or line.oversize):
                self.faulty = line
            self._row_bytes += len(line.text)
            if self._row_bytes > record_limit():
                raise _RowTooLong(self._row_bytes)
            # The csv module, like Excel, also ends a row at a lone "\r" outside quotes;
            # inside quotes it is kept. Giving it the pieces keeps both, and line numbers.
            # A line too long to hold has no text; it still ends a row, to be reported.
            end = line.end or ("\n" if line.oversize else "")
            for piece in _LONE_CR.split(line.text + end):
                if piece:
                    yield piece


class _RowTooLong(Exception):
    """A row has taken more lines than one record may hold (see `_Feed`)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _allow_any_field_size() -> None:
    # csv refuses fields above 128 KiB by default; a document may be far longer. The limit
    # is a C long, 32 bits on some platforms.
    limit = sys.maxsize
    while csv.field_size_limit() < limit:
        try:
            csv.field_size_limit(limit)
        except OverflowError:
            limit //= 2


def write_csv(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as CSV with a header; returns how many were written."""
    return _write(documents, handle, options, ",")


def write_tsv(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as TSV with a header; returns how many were written."""
    return _write(documents, handle, options, "\t")


class RowWriter:
    """csv.writer with "\n" line ends that also quotes fields holding a bare carriage return.

    csv quotes only the characters of its line terminator, so a lone "\r" would be written
    bare and read back as the end of the row. Lone surrogates become U+FFFD, as in every
    corpus writer.
    """

    def __init__(self, handle: IO[str], delimiter: str) -> None:
        self._plain = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        self._quoted = csv.writer(
            handle, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL
        )
        self._kind = "CSV" if delimiter == "," else "TSV"
        self._warned = False

    def writerow(self, row: list[str]) -> None:
        """Write one row."""
        row = [scrub_surrogates(field) for field in row]
        writer = self._quoted if any("\r" in field for field in row) else self._plain
        writer.writerow(row)
        if not self._warned:
            self._warn_formula([field for field in row if formula_like(field)])

    def _warn_formula(self, fields: list[str]) -> None:
        """Say once that a spreadsheet could run a field as a formula: the file is data, so
        the field is kept exactly (a script gets the real id or topic), never altered."""
        if fields:
            self._warned = True
            warnings.warn(
                f"a field of the {self._kind} output begins with {fields[0][:1]!r} "
                f"({fields[0][:40]!r}); a "
                "spreadsheet may run such a field as a formula: import the file with its "
                "columns as text, or write JSON Lines. It is written as it is",
                UserWarning,
                stacklevel=3,
            )


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_like(field: str) -> bool:
    """Whether a spreadsheet could take `field` for a formula: it begins with = + - @, a tab
    or a carriage return (OWASP's list) and is not simply a number such as -0.5."""
    if not field.startswith(_FORMULA_START):
        return False
    try:
        float(field)
    except ValueError:
        return True
    return False


def _write(
    documents: Iterable[Document], handle: IO[str], options: CorpusOptions, delimiter: str
) -> int:
    writer = RowWriter(handle, delimiter)
    writer.writerow([options.id_field, options.text_field, options.labels_field])
    count = 0
    for doc in documents:
        bad = [label for label in doc.labels if options.label_separator in label]
        if bad:
            raise CorpusFormatError(
                f"document {doc.id}: label {bad[0]!r} contains the label separator "
                f"{options.label_separator!r}; choose another with --label-separator "
                "(label_separator= in Python)"
            )
        writer.writerow([doc.id, doc.text, options.label_separator.join(doc.labels)])
        count += 1
    return count
