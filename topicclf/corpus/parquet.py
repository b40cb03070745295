"""Parquet corpora (with pyarrow): one document per row, from text, labels and id columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from topicclf import config
from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    check_topic_names,
    clean_labels,
    display_name,
    guarded,
    open_regular_bytes,
    record_error,
    record_limit,
    scrub_surrogates,
    shown_names,
    source_error,
    too_long_error,
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
def open_parquet(path: str, options: CorpusOptions | None = None) -> Iterator[Any]:
    """A pyarrow ParquetFile, or a CorpusFormatError naming the file when it is empty,
    damaged, not Parquet at all, or not a regular file (a named pipe, a device). With
    `options`, the columns they name are checked (`_check_columns`) and their strings are
    read as dictionaries (`_dictionary_paths`)."""
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
            if options is not None:
                # Checked as stored: read as a dictionary, a binary column would be called
                # dictionary<values=binary>.
                columns = _check_columns(path, file.schema_arrow, options)
                paths = _dictionary_paths(file.metadata, columns)
                if paths:
                    file = pq.ParquetFile(handle, metadata=file.metadata, read_dictionary=paths)
        except CorpusFormatError:
            raise
        except OSError as exc:  # pyarrow's ArrowIOError is an OSError
            if exc.errno is not None:
                raise source_error(path, exc) from None
            raise _unreadable(path, exc) from None
        except ValueError as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _unreadable(path, exc) from None
        yield file


def _leaves(metadata: Any, columns: Iterable[str]) -> list[Any]:
    """The Parquet leaf columns (a list column's values are a leaf of its own) of `columns`."""
    wanted = tuple(columns)
    schema = metadata.schema
    return [
        leaf
        for leaf in (schema.column(i) for i in range(metadata.num_columns))
        if any(leaf.path == name or leaf.path.startswith(f"{name}.") for name in wanted)
    ]


def _dictionary_paths(metadata: Any, columns: Iterable[str]) -> list[str]:
    """The string leaves of `columns`, to be read as pyarrow DictionaryArrays: a value stored
    once in a dictionary page stays one value however many rows name it, where decoding it
    made a 10 KB file 60 copies of a 100 MB text (6.85 GB, then MemoryError)."""
    return [leaf.path for leaf in _leaves(metadata, columns) if leaf.physical_type == "BYTE_ARRAY"]


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


def _check_columns(path: str, schema: Any, options: CorpusOptions) -> list[str]:
    """The columns the reader uses that the file has; a CorpusFormatError when the text
    column is missing or a used column's type is not one the reader can take as it is."""
    import pyarrow as pa

    names = set(schema.names)
    if options.text_field not in names:
        raise CorpusFormatError(
            f"{path}: no {options.text_field!r} column (found: {shown_names(sorted(names))}); "
            "name the column with --text-field (text_field= in Python)"
        )
    fields = {"text": options.text_field, "labels": options.labels_field, "id": options.id_field}
    if not _reads_topics(options):
        del fields["labels"]  # never read, so any type will do
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
            # A fixed-size list (`pa.list_(pa.string(), 1)`) is a list of strings too: read
            # as one (`_variable_lists`), not refused (pass 46).
            is_list = any(
                test(kind)
                for test in (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
            )
            ok = is_list and _is(kind.value_type, (*_STRING, "null"))
        if not ok:
            raise CorpusFormatError(
                f"{path}: the {role} column {name!r} has the type {kind}, not {wanted}; "
                "convert it (e.g. with pyarrow's Table.cast), or name another column with "
                f"--{role}-field ({role}_field= in Python)"
            )
    return _used_columns(options, names)


def _reads_topics(options: CorpusOptions) -> bool:
    return options.labels_files == "read"


def _used_columns(options: CorpusOptions, names: Iterable[str]) -> list[str]:
    """The columns the reader reads, of those the file has: the labels column only when
    topics are read (`tag` and `explain` never use them, so a column of millions of names
    costs them nothing)."""
    wanted = [options.id_field, options.text_field]
    if _reads_topics(options):
        wanted.append(options.labels_field)
    present = set(names)
    return [c for c in wanted if c in present]


def read_row_groups(
    path: str, start: int, stop: int | None, first_row: int, options: CorpusOptions
) -> Iterator[Document]:
    """The documents of row groups [start, stop) of one Parquet file (stop None: to its
    end), whose first row is number `first_row` (rows without an id get the id `name:row`)."""
    with open_parquet(path, options) as file:
        yield from _rows(path, file, start, stop, first_row, options)


def _rows(
    path: str, file: Any, start: int, stop: int | None, first_row: int, options: CorpusOptions
) -> Iterator[Document]:
    columns = _used_columns(options, file.schema_arrow.names)
    topics = options.labels_field if options.labels_field in columns else None
    stem = display_name(path)
    row = first_row
    for group in range(start, file.metadata.num_row_groups if stop is None else stop):
        for record, size, names in _group_records(path, file, group, columns, topics):
            where = f"{path}:row {row}"
            doc: Document | None
            try:
                if record is None:  # as a line over the limit in the text readers
                    check_topic_names(names, where)
                    raise too_long_error(where, size)
                doc = _document(record, f"{stem}:{row}", options, where)
            except Exception as exc:  # any failure is this row's alone
                doc = bad_record(record_error(exc, where), f"{stem}:{row}", options)
            if doc is not None:
                yield doc
            row += 1


# Rows read from a row group at once, however small they are (pyarrow's own default).
_MOST_ROWS = 65536
# What one item of a list (a topic name) counts towards a row's bytes besides its string's:
# its Python list slot and string object, arrow's offset and dictionary index. Counted as
# nothing, an empty or 1-character name made 5,000,000 per row cost 3.3 GB from 2 KB.
_ITEM_BYTES = 64


def _group_records(
    path: str, file: Any, group: int, columns: list[str], topics: str | None = None
) -> Iterator[tuple[dict[str, Any] | None, int, int]]:
    """Each row of a row group as (its values, its bytes, the topic names it lists in the
    column `topics`), or (None, ...) for a row over `record_limit()` bytes or
    config.MAX_TOPIC_NAMES_LISTED names, which is never turned into Python values.

    A row group is read in batches of about `record_limit()` bytes as the file records them
    (strings as dictionaries, so a dictionary value is held once), and the Python values are
    made a span of rows of at most `record_limit()` decoded bytes at a time: a small file of
    a few compressed values named by many rows costs memory bounded by the limit, not by the
    row group's decoded size."""
    limit = record_limit()
    most = config.MAX_TOPIC_NAMES_LISTED
    try:
        batches = file.iter_batches(
            batch_size=_batch_rows(file.metadata, group, columns, limit),
            row_groups=[group],
            columns=columns,
            use_threads=False,
        )
        for batch in batches:
            batch = _variable_lists(batch)
            sizes = _row_bytes(batch)
            names = _topic_names(batch, topics)
            # A row over either bound is a span of its own, never decoded.
            over = [size > limit or count > most for size, count in zip(sizes, names, strict=True)]
            costs = [limit + 1 if bad else size for bad, size in zip(over, sizes, strict=True)]
            for lo, hi in _spans(costs, limit):
                if over[lo]:
                    yield None, sizes[lo], names[lo]
                else:
                    values = _decoded(batch.slice(lo, hi - lo)).to_pylist()
                    yield from zip(values, sizes[lo:hi], names[lo:hi], strict=True)
    except (OSError, ValueError) as exc:  # a damaged page: the rest of the file is lost
        raise CorpusFormatError(
            f"{path}: row group {group} cannot be read ({exc}); the file is damaged"
        ) from None
    except MemoryError:  # pyarrow's ArrowMemoryError is one: a page of up to 2 GiB
        raise CorpusFormatError(
            f"{path}: row group {group} needs more memory than there is to read it (pyarrow "
            "holds a page whole: a value over 64 MiB, a huge dictionary, or a row listing "
            "millions of topics?); the rest of the file is not read: write it again with "
            "smaller documents"
        ) from None


def _batch_rows(metadata: Any, group: int, columns: list[str], limit: int) -> int:
    """Rows per batch so that one batch takes about `limit` bytes as the file stores them,
    and as its rows' list items count (`_ITEM_BYTES` each: run-length encoded, millions of
    empty names are stored in a few bytes)."""
    info = metadata.row_group(group)
    leaves = _leaves(metadata, columns)
    wanted = {leaf.path for leaf in leaves}
    lists = {leaf.path for leaf in leaves if leaf.max_repetition_level > 0}
    chunks = [info.column(i) for i in range(info.num_columns)]
    stored = sum(max(0, c.total_uncompressed_size) for c in chunks if c.path_in_schema in wanted)
    items = sum(max(0, c.num_values) for c in chunks if c.path_in_schema in lists)
    per_row = max(1, max(stored, items * _ITEM_BYTES) // max(1, info.num_rows))
    return max(1, min(_MOST_ROWS, limit // per_row))


def _variable_lists(batch: Any) -> Any:
    """A batch with each fixed-size list column as a plain list (its values, dictionaries
    and all, kept as they are), the one list layout the sizes and names are counted in."""
    import pyarrow as pa

    if not any(pa.types.is_fixed_size_list(column.type) for column in batch.columns):
        return batch
    return pa.RecordBatch.from_arrays(
        [
            column.cast(pa.list_(column.type.value_type))
            if pa.types.is_fixed_size_list(column.type)
            else column
            for column in batch.columns
        ],
        names=batch.schema.names,
    )


def _decoded(batch: Any) -> Any:
    """A batch with its dictionaries decoded into plain strings (pyarrow turns plain
    strings into Python ones three times as fast)."""
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [column.cast(_plain(column.type)) for column in batch.columns], names=batch.schema.names
    )


def _plain(kind: Any) -> Any:
    """A pyarrow type with each dictionary replaced by the type of its values."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return _plain(kind.value_type)
    if pa.types.is_list(kind):
        return pa.list_(_plain(kind.value_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(_plain(kind.value_type))
    return kind


def _spans(sizes: list[int], limit: int) -> Iterator[tuple[int, int]]:
    """Runs [lo, hi) of rows whose bytes together stay within `limit`; a row over it is a
    run of its own."""
    lo, total = 0, 0
    for i, size in enumerate(sizes):
        if i > lo and (total + size > limit or size > limit):
            yield lo, i
            lo, total = i, 0
        total += size
    if lo < len(sizes):
        yield lo, len(sizes)


def _topic_names(batch: Any, column: str | None) -> list[int]:
    """How many topic names each row lists in `column` (empty and repeated ones, as a list
    holds them; a string of names counts one), from the list offsets, decoding none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column is None or column not in batch.schema.names:
        return [0] * batch.num_rows
    array = batch.column(column)
    if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
        return [1] * batch.num_rows
    return pc.list_value_length(array).fill_null(0).to_pylist()  # type: ignore[no-any-return]


def _row_bytes(batch: Any) -> list[int]:
    """The bytes of each row's values, as Python would hold them decoded (a list item
    counts `_ITEM_BYTES` besides its string's bytes)."""
    import numpy as np

    total = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        total += _value_bytes(column)
    return total.tolist()  # type: ignore[no-any-return]


def _value_bytes(array: Any) -> Any:
    """The bytes of each value of a pyarrow array of the types `_COLUMN_TYPES` allows (an
    integer or a null counts nothing), as a numpy array, without decoding a value."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        lengths = _value_bytes(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return lengths[indices] if len(lengths) else np.zeros(len(array), dtype=np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        each = np.concatenate(([0], np.cumsum(_value_bytes(array.values), dtype=np.int64)))
        offsets = array.offsets.to_numpy(zero_copy_only=False)
        items = (offsets[1:] - offsets[:-1]).astype(np.int64)
        return each[offsets[1:]] - each[offsets[:-1]] + items * _ITEM_BYTES
    if pa.types.is_string_view(kind):
        array = array.cast(pa.large_string())
    if _is(kind, _STRING):
        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.zeros(len(array), dtype=np.int64)


def _document(
    record: dict[str, Any], default_id: str, options: CorpusOptions, where: str
) -> Document:
    text = record.get(options.text_field)
    if text is None:  # as JSON Lines' {"text": null}: no text is not an empty document
        raise CorpusFormatError(
            f"{where}: the text field {options.text_field!r} is null, not a string"
        )
    raw_id = record.get(options.id_field)
    if isinstance(raw_id, str) and not raw_id.strip():  # no id, as in every other reader
        raw_id = None
    labels = record.get(options.labels_field) or []
    if isinstance(labels, str):
        # Counted before the split, as in CSV: a field of separators is millions of names.
        check_topic_names(labels.count(options.label_separator) + 1, where)
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
