"""Parquet corpora (with pyarrow): one document per row, from text, labels and id columns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    clean_labels,
    display_name,
    guarded,
    open_regular_bytes,
    record_error,
    scrub_surrogates,
    shown_names,
    source_error,
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
    for file in parquet_files(path):
        # Each file is a source of its own: one that cannot be read (damaged, a named pipe)
        # is its bad record, and the directory's other files are still read.
        yield from guarded(str(file), _read_file, options)


def _read_file(path: str, options: CorpusOptions) -> Iterator[Document]:
    yield from read_row_groups(path, 0, None, 1, options)


# Why open_parquet refuses what is not a regular file, after its kind ("a named pipe").
_REGULAR = "; the parquet reader reads a file more than once, so it must be a regular file"


@contextmanager
def open_parquet(path: str) -> Iterator[Any]:
    """A pyarrow ParquetFile, or a CorpusFormatError naming the file when it is empty,
    damaged, not Parquet at all, or not a regular file (a named pipe, a device)."""
    pq = pyarrow_parquet()
    try:
        # Opened by us, not by pyarrow: its C open() waits for ever, deaf to SIGTERM, on a
        # named pipe no one writes to (in a dataset directory, or swapped in meanwhile).
        handle = open_regular_bytes(path, _REGULAR)
    except OSError as exc:
        raise source_error(path, exc) from None
    with handle:
        try:
            file = pq.ParquetFile(handle)
        except OSError as exc:  # pyarrow's ArrowIOError is an OSError
            if exc.errno is not None:
                raise source_error(path, exc) from None
            raise _unreadable(path, exc) from None
        except ValueError as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _unreadable(path, exc) from None
        yield file


def _unreadable(path: str, exc: Exception) -> CorpusFormatError:
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        return CorpusFormatError(f"{path}: an empty file (0 bytes), not a Parquet file")
    return CorpusFormatError(f"{path}: not a readable Parquet file ({exc})")


# What each column the reader uses may hold, as pyarrow type tests ("null": a column of
# nulls only, which is no value in every row). Any other type is refused, not turned into
# strings with str(): 5 would be the text "5", b"wheat" the text "b'wheat'".
_STRING = ("string", "large_string", "string_view")
_COLUMN_TYPES = {
    "text": (_STRING, "a string"),
    "labels": ((*_STRING, "null"), "a string or a list of strings"),
    "id": ((*_STRING, "integer", "null"), "a string or an integer"),
}


def _is(kind: Any, names: tuple[str, ...]) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):  # e.g. a pandas category: its values are what counts
        kind = kind.value_type
    return any(getattr(pa.types, f"is_{name}")(kind) for name in names)


def _check_types(path: str, schema: Any, options: CorpusOptions) -> None:
    """Refuse a used column whose type is not one the reader can take as it is."""
    import pyarrow as pa

    fields = {
        "text": options.text_field,
        "labels": options.labels_field,
        "id": options.id_field,
    }
    for role, name in fields.items():
        if name not in schema.names:
            continue
        if schema.names.count(name) > 1:  # which column is meant cannot be told
            columns = [i + 1 for i, n in enumerate(schema.names) if n == name]
            raise CorpusFormatError(
                f"{path}: the file repeats the column {name!r} (columns "
                f"{', '.join(map(str, columns))}); give each column its own name"
            )
        kind = schema.field(name).type
        allowed, wanted = _COLUMN_TYPES[role]
        ok = _is(kind, allowed)
        if role == "labels" and not ok:
            is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
            ok = is_list and _is(kind.value_type, (*_STRING, "null"))
        if not ok:
            raise CorpusFormatError(
                f"{path}: the {role} column {name!r} has the type {kind}, not {wanted}; "
                "convert it (e.g. with pyarrow's Table.cast), or name another column with "
                f"--{role}-field ({role}_field= in Python)"
            )


def read_row_groups(
    path: str, start: int, stop: int | None, first_row: int, options: CorpusOptions
) -> Iterator[Document]:
    """The documents of row groups [start, stop) of one Parquet file (stop None: to its
    end), whose first row is number `first_row` (rows without an id get the id `name:row`)."""
    with open_parquet(path) as file:
        yield from _rows(path, file, start, stop, first_row, options)


def _rows(
    path: str, file: Any, start: int, stop: int | None, first_row: int, options: CorpusOptions
) -> Iterator[Document]:
    names = set(file.schema_arrow.names)
    if options.text_field not in names:
        raise CorpusFormatError(
            f"{path}: no {options.text_field!r} column (found: {shown_names(sorted(names))}); "
            "name the column with --text-field (text_field= in Python)"
        )
    _check_types(path, file.schema_arrow, options)
    columns = [
        c for c in (options.id_field, options.text_field, options.labels_field) if c in names
    ]
    stem = display_name(path)
    row = first_row
    for group in range(start, file.metadata.num_row_groups if stop is None else stop):
        try:
            records = file.read_row_group(group, columns=columns).to_pylist()
        except (OSError, ValueError) as exc:  # a damaged page: the rest of the file is lost
            raise CorpusFormatError(
                f"{path}: row group {group} cannot be read ({exc}); the file is damaged"
            ) from None
        for record in records:
            doc: Document | None
            try:
                doc = _document(record, f"{stem}:{row}", options, f"{path}:row {row}")
            except Exception as exc:  # any failure is this row's alone
                doc = bad_record(record_error(exc, f"{path}:row {row}"), f"{stem}:{row}", options)
            if doc is not None:
                yield doc
            row += 1


def _document(
    record: dict[str, Any], default_id: str, options: CorpusOptions, where: str
) -> Document:
    text = record.get(options.text_field)
    if text is None:  # as JSON Lines' {"text": null}: no text is not an empty document
        raise CorpusFormatError(
            f"{where}: the text field {options.text_field!r} is null, not a string"
        )
    raw_id = record.get(options.id_field)
    labels = record.get(options.labels_field) or []
    if isinstance(labels, str):
        labels = labels.split(options.label_separator)
    elif any(label is None for label in labels):  # JSON Lines refuses ["a", null] too
        raise CorpusFormatError(
            f"{where}: a null inside the topics column {options.labels_field!r}; topics are strings"
        )
    return Document(
        scrub_surrogates(str(raw_id)) if raw_id is not None else default_id,
        scrub_surrogates(str(text)),
        clean_labels([scrub_surrogates(str(x)) for x in labels], where),
        generated_id=raw_id is None,
    )
