"""CSV and TSV corpora with a header row: a text column and a separator-joined labels column."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import IO

from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    clean_labels,
    display_name,
    encoding_error,
    open_text,
)
from topicclf.errors import CorpusFormatError
from topicclf.types import Document


def read_csv(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a comma-separated file with a header."""
    return _read(path, options, ",")


def read_tsv(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a tab-separated file with a header."""
    return _read(path, options, "\t")


def _read(path: str, options: CorpusOptions, delimiter: str) -> Iterator[Document]:
    stem = display_name(path)
    with open_text(path, options) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            try:
                header = next(reader)
            except StopIteration:
                raise CorpusFormatError(f"{path}: empty file, expected a header row") from None
            columns = {name.strip(): i for i, name in enumerate(header)}
            if options.text_field not in columns:
                raise CorpusFormatError(
                    f"{path}:1: no {options.text_field!r} column in the header "
                    f"(found: {', '.join(columns) or 'nothing'}); "
                    "set the column name with the `text_field` option"
                )
            text_col = columns[options.text_field]
            labels_col = columns.get(options.labels_field)
            id_col = columns.get(options.id_field)
            for row in reader:
                lineno = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    problem = CorpusFormatError(
                        f"{path}:{lineno}: expected {len(header)} fields as in the header, "
                        f"found {len(row)}"
                    )
                    placeholder = bad_record(problem, f"{stem}:{lineno}", options)
                    if placeholder is not None:
                        yield placeholder
                    continue
                labels: tuple[str, ...] = ()
                if labels_col is not None and row[labels_col].strip():
                    labels = clean_labels(row[labels_col].split(options.label_separator))
                if id_col is not None and row[id_col]:
                    yield Document(row[id_col], row[text_col], labels)
                else:
                    yield Document(f"{stem}:{lineno}", row[text_col], labels, generated_id=True)
        except UnicodeDecodeError as exc:
            raise encoding_error(path, reader.line_num + 1, options, exc) from None
        except csv.Error as exc:
            raise CorpusFormatError(f"{path}:{reader.line_num}: {exc}") from None


def write_csv(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as CSV with a header; returns how many were written."""
    return _write(documents, handle, options, ",")


def write_tsv(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as TSV with a header; returns how many were written."""
    return _write(documents, handle, options, "\t")


class RowWriter:
    """csv.writer with "\n" line ends that also quotes fields holding a bare carriage return.

    csv quotes only the characters of its line terminator, so a lone "\r" would be written
    bare and read back as the end of the row.
    """

    def __init__(self, handle: IO[str], delimiter: str) -> None:
        self._plain = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        self._quoted = csv.writer(
            handle, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL
        )

    def writerow(self, row: list[str]) -> None:
        """Write one row."""
        writer = self._quoted if any("\r" in field for field in row) else self._plain
        writer.writerow(row)


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
                f"{options.label_separator!r}; choose another with the `label_separator` option"
            )
        writer.writerow([doc.id, doc.text, options.label_separator.join(doc.labels)])
        count += 1
    return count
