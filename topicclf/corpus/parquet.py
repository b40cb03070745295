"""Parquet corpora (with pyarrow): one document per row, from text, labels and id columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    clean_labels,
    display_name,
    record_error,
    scrub_surrogates,
)
from topicclf.errors import CorpusFormatError, MissingResourceError
from topicclf.types import Document

INSTALL_HINT = "install it with: pip install 'topicclf[dask]'"


def pyarrow_parquet() -> Any:
    """The pyarrow.parquet module, or a MissingResourceError saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingResourceError(
            f"Parquet input and output need pyarrow; {INSTALL_HINT}"
        ) from None
    return pq


def parquet_files(path: str) -> list[Path]:
    """The Parquet files of a path: itself, or a directory's *.parquet files, sorted."""
    source = Path(path)
    return sorted(source.glob("*.parquet")) if source.is_dir() else [source]


def read_parquet(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream the rows of a Parquet file, or of every Parquet file of a directory."""
    pq = pyarrow_parquet()
    for file in parquet_files(path):
        groups = pq.ParquetFile(file).metadata.num_row_groups
        yield from read_row_groups(str(file), 0, groups, 1, options)


def read_row_groups(
    path: str, start: int, stop: int, first_row: int, options: CorpusOptions
) -> Iterator[Document]:
    """The documents of row groups [start, stop) of one Parquet file, whose first row is
    number `first_row` (rows without an id get the id `name:row`)."""
    pq = pyarrow_parquet()
    try:
        file = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise CorpusFormatError(f"{path}: not a readable Parquet file ({exc})") from None
    names = set(file.schema_arrow.names)
    if options.text_field not in names:
        raise CorpusFormatError(
            f"{path}: no {options.text_field!r} column (found: {', '.join(sorted(names))}); "
            "name the column with --text-field (text_field= in Python)"
        )
    columns = [
        c for c in (options.id_field, options.text_field, options.labels_field) if c in names
    ]
    stem = display_name(path)
    row = first_row
    for group in range(start, stop):
        for record in file.read_row_group(group, columns=columns).to_pylist():
            doc: Document | None
            try:
                doc = _document(record, f"{stem}:{row}", options)
            except Exception as exc:  # any failure is this row's alone
                doc = bad_record(record_error(exc, f"{path}:row {row}"), f"{stem}:{row}", options)
            if doc is not None:
                yield doc
            row += 1


def _document(record: dict[str, Any], default_id: str, options: CorpusOptions) -> Document:
    text = record.get(options.text_field) or ""
    raw_id = record.get(options.id_field)
    labels = record.get(options.labels_field) or []
    if isinstance(labels, str):
        labels = labels.split(options.label_separator)
    return Document(
        scrub_surrogates(str(raw_id)) if raw_id is not None else default_id,
        scrub_surrogates(str(text)),
        clean_labels([scrub_surrogates(str(x)) for x in labels]),
        generated_id=raw_id is None,
    )
