"""What the Python API accepts as texts, as topics and as its other arguments (flags, choices,
counts, lists of paths), checked and converted in one place.

Texts: a list, tuple or generator of str, a 1-D numpy array of str, a pandas Series, or a
one-column DataFrame (its column is the texts). Topics, for each text: a list (or tuple, set)
of topic names; or a 0/1 indicator matrix with one column per topic (numpy, scipy sparse or
a DataFrame, as scikit-learn's multi-label tools use; a named DataFrame's columns are its
topics, and fit's classes must then equal them; a DataFrame whose columns are pandas'
default 0, 1, ... is read as its array; the same 0/1 rows as nested lists are refused, not
read as the topics 0 and 1); or one topic per text (a 1-D array or
list of names, as for scikit-learn classifiers). Topic names are strings: integers (and whole
floats) are converted with `str()`, so what fits also saves, loads and tags the same (one
integer per text also keeps its dtype, in which predict answers); other values (bytes,
complex numbers, dates) are refused; as in every corpus reader, the white space around a
name is stripped and an empty name is no topic.
"""

from __future__ import annotations

import numbers
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from topicclf.config import (
    MAX_TOPIC_CHARS,
    MAX_TOPICS_PER_DOCUMENT,
    normal_topic,
    shown,
    too_many_columns,
    too_many_topics,
    topic_too_long,
)
from topicclf.errors import InputError
from topicclf.types import NullProgress, Progress

T = TypeVar("T")

TARGET_KINDS = ("sets", "indicator", "single")
_SURROGATE = re.compile("[\ud800-\udfff]")


def as_texts(x: Any, what: str = "texts") -> list[str]:
    """The texts of `x` as a list of str, or an InputError saying what was wrong."""
    if isinstance(x, str | bytes):
        raise InputError(
            f"{what}: got a single {type(x).__name__} value; pass a list of texts, e.g. [text]"
        )
    if x is None:
        raise InputError(f"{what}: got None; pass a list of texts")
    if isinstance(x, Mapping):  # iterating would give its keys, not its texts
        raise InputError(
            f"{what}: got a {type(x).__name__}; pass a list of texts (e.g. list(d.values()))"
        )
    if isinstance(x, Set):  # results come in its arbitrary order: no row is its text's
        raise InputError(
            f"{what}: got a {type(x).__name__}, whose order is arbitrary, so results could "
            "not be matched to texts; pass a list (e.g. sorted(s))"
        )
    values = _column(x, what)
    texts = list(values)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            hint = "; decode it first (bytes.decode)" if isinstance(text, bytes) else ""
            raise InputError(
                f"{what}: item #{i + 1} is of type {type(text).__name__}, not str{hint}"
            )
    return texts


def _column(x: Any, what: str) -> Iterable[Any]:
    """The one column of texts inside arrays, Series and DataFrames; other iterables as is."""
    columns = getattr(x, "columns", None)
    if columns is not None:  # a pandas DataFrame
        if not len(columns):
            raise InputError(
                f"{what}: a DataFrame with no columns; pass a one-column DataFrame or a "
                "Series of texts"
            )
        if len(columns) != 1:
            raise InputError(
                f"{what}: a DataFrame with {len(columns)} columns; pass the text column "
                f"itself, e.g. df[{str(columns[0])!r}]"
            )
        return x.iloc[:, 0].tolist()  # type: ignore[no-any-return]
    if hasattr(x, "to_numpy") and getattr(x, "ndim", 1) == 1:  # a pandas Series
        return x.tolist()  # type: ignore[no-any-return]
    if isinstance(x, np.ndarray):
        if x.ndim == 2 and x.shape[1] == 1:
            return x[:, 0].tolist()  # type: ignore[no-any-return]
        if x.ndim != 1:
            raise InputError(f"{what}: an array of shape {x.shape}; pass a 1-D array of texts")
        return x.tolist()  # type: ignore[no-any-return]
    if not isinstance(x, Iterable):
        raise InputError(f"{what}: type {type(x).__name__} is not a collection of texts")
    return x  # lists, tuples, generators: read once


@dataclass(frozen=True)
class Targets:
    """Topic sets per document, how they were given, and the indicator's column names."""

    label_sets: list[tuple[str, ...]]
    kind: str  # one of TARGET_KINDS
    columns: list[str] | None = None  # indicator column order (names) when kind is indicator
    # One topic per text given as integers (a LabelEncoder's output): their dtype, so that
    # predict can answer in it (scikit-learn's scorers compare y and predict's answers).
    dtype: np.dtype[Any] | None = None


def as_targets(
    y: Any,
    n_documents: int,
    classes: Sequence[Any] | None = None,
    *,
    model: Sequence[str] | None = None,
) -> Targets:
    """Topic sets from label lists, an indicator matrix or one label per document
    (`classes`: an indicator's column names in fit; `model`: a fitted model's columns, by
    which score and evaluate read an indicator whose columns are not named)."""
    if y is None:
        raise InputError("y: topics are needed to fit; pass a list of topic lists")
    if isinstance(y, str):
        raise InputError("y: got a single string; pass one topic list per text")
    if isinstance(y, _BYTES):  # iterating would give its byte values as topics
        raise InputError(
            f"y: got a single {type(y).__name__} value; decode it and pass one topic list per text"
        )
    # scipy's dok_matrix (and dok_array) subclasses dict, but it is a sparse indicator.
    if isinstance(y, Mapping) and not hasattr(y, "tocsr"):  # iterated: its keys, not topics
        raise InputError(
            f"y: got a {type(y).__name__}; pass one topic list per text, in the texts' order "
            "(e.g. [d[key] for key in keys])"
        )
    if classes is not None:
        classes = _classes(classes)
    if _is_matrix(y):
        targets = _from_indicator(y, classes, model)
    else:
        rows = list(_rows(y))
        if rows and all(isinstance(r, bool | np.bool_) for r in rows):
            raise InputError(
                "y: one boolean per text; booleans are not topics: give topic names (e.g. "
                "np.where(y, 'yes', 'no')), or a one-column indicator matrix (y.reshape(-1, 1))"
            )
        if rows and all(_is_scalar(r) for r in rows):
            sets = [_one(r, f"y: row {i + 1}") for i, r in enumerate(rows)]
            _check_not_mixed(rows)  # after each value's own check: a timedelta is no number
            targets = Targets(sets, "single", dtype=_number_dtype(y, rows))
        else:
            _check_not_flag_rows(rows)
            targets = Targets([topic_set(r, i) for i, r in enumerate(rows)], "sets")
        if classes is not None:
            # It names an indicator's columns; with topics named in y it was dropped unread,
            # and a caller who meant it to add or order topics was never told.
            given = "a topic list per text" if targets.kind == "sets" else "one topic per text"
            raise InputError(
                f"classes: names the columns of a 0/1 indicator matrix y, but this y gives "
                f"{given}, which names the topics itself: leave classes out"
            )
    if len(targets.label_sets) != n_documents:
        raise InputError(f"{n_documents} texts but {len(targets.label_sets)} topic sets")
    return targets


def _check_not_mixed(rows: list[Any]) -> None:
    """InputError for one topic per text given as numbers and names at once: read as names
    (predict answered '11' where y held 11), so scikit-learn's scorers compared them unequal,
    and its own metrics refuse such a y."""
    number = next((i for i, r in enumerate(rows) if _is_number(r)), None)
    name = next((i for i, r in enumerate(rows) if isinstance(r, str | np.str_)), None)
    if number is not None and name is not None:
        raise InputError(
            f"y: mixes numbers and names ({shown(rows[number])} in row {number + 1}, "
            f"{shown(rows[name])} in row {name + 1}): give every topic as a name "
            "(y.astype(str)) or every one as a number"
        )


def _is_integer(value: Any) -> bool:
    """A Python or numpy integer, and not a bool (which Python counts among them)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_float(value: Any) -> bool:
    return isinstance(value, float | np.floating)


def _is_number(value: Any) -> bool:
    """An integer, or a float that is no missing value (NaN): the one number rule of `y`."""
    return _is_integer(value) or (_is_float(value) and not _is_missing(value))


def _check_not_flag_rows(rows: list[Any]) -> None:
    """InputError when topic lists look like a 0/1 indicator matrix given as lists
    (`Y.tolist()`, `list(Y)`, one of its rows cut short): every row a list, tuple or 1-D
    array holding only 0 and 1 (bools and whole floats too), and some row repeats a value
    (of any length), or the rows are of one length of at least 2 and two of them differ.
    Read as topic lists they named the topics '0' and '1'; as topic lists no such y is sound
    (a topic given twice, or one topic set {0, 1} in two orders), while integer topic lists
    (`[[3, 7], [7]]`, `[[0], [1], [0, 1]]`) and names never match."""
    if not rows:
        return
    for row in rows:  # the first row that is no such row ends the check (names: the first)
        if not _is_row(row) or not all(_is_flag(v) for v in row):
            return
    flags = [tuple(int(value) for value in row) for row in rows]
    widths = Counter(len(row) for row in flags)
    width = widths.most_common(1)[0][0]
    repeats = next((i for i, row in enumerate(flags) if len(set(row)) < len(row)), None)
    if repeats is None and (len(widths) > 1 or width < 2 or len(set(flags)) == 1):
        return  # integer topic lists: of several lengths, or every row the same [0, 1]
    if len(widths) == 1:
        raise InputError(
            f"y: {len(rows):,} rows of {width} zeros and ones (row 1: {shown(list(flags[0]))}) "
            "look like a 0/1 indicator matrix given as lists, not a topic list per text (of "
            "the topics 0 and 1); pass np.asarray(y) to read it as an indicator (columns "
            "named by classes=), or give each text's topic names"
        )
    # Ragged: one row cut short or padded; a topic list never names a topic twice, so the
    # repeating row gives it away whatever the lengths (who lists topics writes names).
    assert repeats is not None
    odd = next(i for i, row in enumerate(flags) if len(row) != width)
    values = f"{len(flags[odd])} value" + ("" if len(flags[odd]) == 1 else "s")
    raise InputError(
        f"y: {len(rows):,} rows of zeros and ones (row {repeats + 1}: "
        f"{shown(list(flags[repeats]))}, which names a topic twice) look like a 0/1 indicator "
        "matrix given as lists, not a topic list per text (of the topics 0 and 1), with rows "
        f"of different lengths (row {odd + 1} has {values}, most have {width}): give every "
        "row one value per topic and pass np.asarray(y) to read it as an indicator"
        " (columns named by classes=), or give each text's topic names"
    )


def _is_row(value: Any) -> bool:
    """Whether `value` is a list, tuple or 1-D array: a row an indicator may be given as."""
    return isinstance(value, list | tuple) or (isinstance(value, np.ndarray) and value.ndim == 1)


def _classes(classes: Any) -> list[Any]:
    """fit's `classes` as a list of column names, refused as explain's `topics` is when it
    is one string (`"abcd"` named four columns a, b, c, d) or a set (of no order). Empty
    names the columns of an indicator of none, whose width decides."""
    if isinstance(classes, np.ndarray):  # a 0-d one is its one value
        classes = classes.tolist()
    if isinstance(classes, str):
        raise InputError(
            f"classes: got a single string; give a list of topic names, e.g. [{shown(classes)}]"
        )
    if isinstance(classes, _BYTES):  # iterating would give its byte values as names
        raise InputError(
            f"classes: got a single {type(classes).__name__} value; give a list of topic names"
        )
    if isinstance(classes, Mapping | Set) or not isinstance(classes, Iterable):
        raise InputError(f"classes: expected a list of topic names, not {type(classes).__name__}")
    return list(classes)


def _number_dtype(y: Any, rows: list[Any]) -> np.dtype[Any] | None:
    """The dtype of a 1-D `y` of numbers only: a numpy or pandas integer dtype, Python and
    numpy integers in a list, or floats of whole values and missing ones (how pandas keeps
    an integer column with a gap: [1, 2, None] is 1.0, 2.0, NaN), or both (float64); else
    None (names, a mix of names and numbers).
    Predict answers in it (topic_name has made each number its integer's str())."""
    dtype = getattr(y, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return dtype
    # Missing values (None, pd.NA: pandas' Int64 and Float64 columns with a gap) are texts
    # of no topic, as predict answers them (-1 or NaN): the numbers decide the dtype.
    present = [r for r in rows if not _is_missing(r)]
    if not present:
        return None
    if all(_is_integer(r) for r in present):
        # np.asarray: Python ints give int64; past 64 bits they are objects, no integer dtype.
        dtype = np.asarray(present).dtype
        if dtype.kind not in "iu":
            raise InputError(
                "y: integers past 64 bits, which no integer dtype holds, so predict could not "
                "answer in y's kind: give them as strings (y.astype(str))"
            )
        return dtype
    if all(_is_integer(r) or _is_float(r) for r in present):
        # Integers and floats together ([0, 1, 2.0], as JSON gives a number written 2.0) are
        # numbers, as numpy and scikit-learn read them: they were names, and predict's
        # strings matched no y (pass 45).
        return np.dtype(np.float64)
    return None


def _is_matrix(y: Any) -> bool:
    if hasattr(y, "tocsr") or getattr(y, "columns", None) is not None:
        return True  # scipy sparse, or a DataFrame
    return isinstance(y, np.ndarray) and y.ndim == 2


def _unnamed(columns: Any) -> bool:
    """Whether a DataFrame's columns are pandas' default 0, 1, ... (`pd.DataFrame(array)`):
    numbers, not topic names, so the frame is read as its array."""
    return type(columns).__name__ == "RangeIndex" and columns.start == 0 and columns.step == 1


def _from_indicator(y: Any, classes: Sequence[Any] | None, model: Sequence[str] | None) -> Targets:
    names = getattr(y, "columns", None)
    if names is not None and _unnamed(names):
        if model is not None:
            _check_positions(names, model)
        names = None
    shape = getattr(y, "shape", None)
    if shape is None or len(shape) != 2:
        raise InputError(f"y: an indicator matrix must be 2-D, not of shape {shape}")
    width = int(shape[1])
    # Every check of the width comes before anything of that width is made: a sparse y
    # of 3 x 1e9 holds a few bytes, but as a dense array or column names it is GBs.
    if names is None and model is not None and width != len(model):
        raise InputError(
            f"y: an indicator matrix of {width:,} columns, but the model has {len(model):,} "
            "columns (classes_); its columns must be the model's, in classes_ order (or pass "
            "topic lists, or a DataFrame whose columns are the topics)"
        )
    if classes is not None and len(classes) != width:
        raise InputError(f"y has {width} columns but {len(classes)} classes were given")
    if classes is not None and names is not None:
        _check_classes_name_columns(names, classes)
    sparse = hasattr(y, "tocsr")
    hint = _one_column_hint(y) if width == 1 and not sparse else ""
    if sparse:
        # Read as it is stored: toarray() of a wide or long y would take rows x columns.
        matrix = y.tocsr(copy=True)
        matrix.sum_duplicates()  # two entries of one cell are its value, their sum
        matrix.sort_indices()  # the first bad cell is the first in row order, as for arrays
        _check_flags(matrix.data, names if names is not None else classes, _sparse_cell(matrix))
        matrix.eliminate_zeros()
        flagged = np.unique(matrix.indices).size
    else:
        matrix = np.asarray(y)
        if matrix.dtype == object:  # pd.NA has no truth value: its flags are checked first
            _check_flags(matrix, names if names is not None else classes, _dense_cell(matrix), hint)
        flagged = int(np.count_nonzero(matrix.any(axis=0))) if matrix.size else 0
    _check_width(width, flagged, model if names is not None else None)
    if not sparse and matrix.dtype != object:
        _check_flags(matrix, names if names is not None else classes, _dense_cell(matrix), hint)
    given = classes if classes is not None else names
    if given is None and model is not None:
        given = model
    columns = (
        [_column_name(c, j) for j, c in enumerate(given)]
        if given is not None
        else [str(j) for j in range(width)]
    )
    _check_unique_columns(columns, columns if given is None else given, frame=classes is None)
    if sparse:
        counts = np.diff(matrix.indptr)
        rows = [
            matrix.indices[a:b] for a, b in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)
        ]
    else:
        counts = matrix.sum(axis=1) if matrix.size else np.zeros(matrix.shape[0])
        rows = [np.flatnonzero(row) for row in matrix]
    over = np.flatnonzero(counts > MAX_TOPICS_PER_DOCUMENT)
    if over.size:
        raise InputError(f"y: row {over[0] + 1}: {too_many_topics(int(counts[over[0]]))}")
    sets = [tuple(columns[j] for j in row) for row in rows]
    return Targets(sets, "indicator", columns)


def _check_unique_columns(columns: list[str], given: Sequence[Any], *, frame: bool) -> None:
    """InputError naming the first two columns whose names are one topic once read (`given`:
    the names as given, by classes= or, `frame`, a DataFrame y; `columns`: as read)."""
    what = "the DataFrame's columns" if frame else "columns"
    first: dict[str, int] = {}
    for j, name in enumerate(columns):
        i = first.setdefault(name, j)
        if i == j:
            continue
        named = (shown(given[i]), shown(given[j]))
        if named[0] == named[1]:
            why = f": {what} {i} and {j} are both {named[0]}"
        else:
            why = (
                f" (names are compared as topic names are read: {TOPIC_NAME_RULE}): {what} {i} "
                f"and {j} ({', '.join(named)}) are one topic name, {shown(name)}"
            )
        where = "y" if frame else "classes"
        raise InputError(
            f"{where}: topic names must be unique{why}; give every column a name of its own"
        )


def _one_column_hint(y: Any) -> str:
    """What to pass instead of a one-column y whose values are no flags: its column, read as
    one topic (or topic list) per text, as X's one column is read as its texts."""
    columns = getattr(y, "columns", None)
    column = f"y[{shown(columns[0])}]" if columns is not None else "y.ravel()"
    return (
        f"; for one topic (or one topic list) per text pass the column itself, {column}: a "
        "one-column y is read as an indicator of one topic"
    )


def _check_classes_name_columns(names: Any, classes: Sequence[Any]) -> None:
    """InputError unless `classes` are a named DataFrame's own columns, in their order: the
    columns name its topics, and classes given beside them renamed them silently (reversed,
    the sport column was learnt as markets)."""
    for j, (name, given) in enumerate(zip(names, classes, strict=True)):
        column, named = _column_name(name, j), _column_name(given, j)
        if column != named:
            raise InputError(
                f"classes: column {j} of the DataFrame y is {shown(column)}, but classes "
                f"names it {shown(named)}; a DataFrame's column names name its topics: leave "
                "classes out (or give the columns in their order, list(y.columns))"
            )


def _check_positions(names: Any, model: Sequence[str]) -> None:
    """InputError when an unnamed DataFrame's column numbers are also the model's topics,
    in other places: read by position and read by name, it would give other topics."""
    place = {name: j for j, name in enumerate(model)}
    for j in range(min(len(names), len(model))):
        if place.get(str(j), j) != j:
            raise InputError(
                f"y: a DataFrame whose columns are unnamed (0, 1, ...), and {j} is also a "
                f"topic of the model, column {place[str(j)]} in classes_ order: name the "
                "columns by their topics (pd.DataFrame(y, columns=model.classes_)) or pass "
                "y.to_numpy() to read them in classes_ order"
            )


def _check_width(width: int, flagged: int, model: Sequence[str] | None) -> None:
    """InputError when an indicator has more columns than a model keeps (bundle's
    target_problem, for the topics its documents flag, and a fitted model's own for a
    DataFrame read by its names), before any column is read."""
    problem = too_many_columns(width, flagged + (len(model) if model is not None else 0))
    if problem:
        raise InputError(f"y: {problem}: {NO_DOCUMENT_COLUMNS}")


# What to do about an indicator's columns of no topic (as fit says once it has trained).
NO_DOCUMENT_COLUMNS = (
    "leave out the columns of topics that no document has (or fewer than train.min_count)"
)


Cell = Callable[[int], tuple[int, int]]


def _dense_cell(matrix: np.ndarray) -> Cell:
    """The row and column of the k-th cell of a dense matrix."""
    return lambda k: tuple(int(i) for i in np.unravel_index(k, matrix.shape))  # type: ignore[return-value]


def _sparse_cell(matrix: Any) -> Cell:
    """The row and column of the k-th stored value of a CSR matrix."""
    return lambda k: (
        int(np.searchsorted(matrix.indptr, k, side="right")) - 1,
        int(matrix.indices[k]),
    )


def _check_flags(values: np.ndarray, names: Any, cell: Cell, hint: str = "") -> None:
    """InputError naming the first cell of an indicator (`values`: a dense matrix or a
    sparse one's stored values; `cell`: the row and column of the k-th) that is not 0 or 1
    (its column by `names` when given): a missing value (NaN; pd.NA or None in the object
    array of a nullable pandas column) or another value (`hint` follows its message)."""
    if not values.size:
        return
    if values.dtype == object:
        # Compared with ==, pd.NA answers pd.NA, whose truth value pandas refuses (TypeError).
        missing = np.frompyfunc(_is_missing, 1, 1)(values).astype(bool)
        bad = missing | ~np.frompyfunc(_is_flag, 1, 1)(values).astype(bool)
    else:
        missing = np.isnan(values) if values.dtype.kind in "fc" else np.zeros(values.shape, bool)
        bad = missing | ~np.isin(values, (0, 1))
    if not bad.any():
        return
    k = int(np.argmax(bad.ravel()))  # the first bad cell, in row order
    row, col = cell(k)
    # Counted from 1, as rows are: "row 1, column 0" named the first cell two ways.
    column = shown(names[col]) if names is not None and col < len(names) else str(col + 1)
    where = f"row {row + 1}, column {column}"
    if missing.flat[k]:
        raise InputError(
            f"y: an indicator matrix holds a missing value ({where}); it holds only 0 and 1 "
            "(or False and True): fill the missing cells, e.g. y.fillna(0)"
        )
    value = values.flat[k]
    value = value.item() if isinstance(value, np.generic) else value  # 2, not np.int64(2)
    raise InputError(
        f"y: an indicator matrix holds only 0 and 1 (or False and True), not {shown(value)} "
        f"({where}){hint}"
    )


def _is_flag(value: Any) -> bool:
    """Whether one cell of an object indicator matrix is 0 or 1 (a bool or a number)."""
    return isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating) and (
        value == 0 or value == 1
    )


def _column_name(value: Any, j: int) -> str:
    if not _is_scalar(value):
        raise InputError(f"classes: column {j} is named by a {type(value).__name__}, not a name")
    name = topic_name(value, f"classes: column {j}")
    if name is None:
        raise InputError(f"classes: column {j} has no topic name ({value!r}); name every column")
    return name


def _rows(y: Any) -> Iterator[Any]:
    if hasattr(y, "tolist"):
        yield from y.tolist()
    elif isinstance(y, Iterable):
        yield from y
    else:
        raise InputError(f"y: type {type(y).__name__} is not a collection of topic lists")


# Bytes-like values: iterated, they give integers, which are legal topics.
_BYTES = (bytes, bytearray, memoryview)


def _is_pandas_na(value: Any) -> bool:
    """Whether `value` is pandas' missing value `pd.NA` (nullable and string columns hold it
    where NaN would be), known by its type so that pandas need not be imported."""
    kind = type(value)
    return kind.__name__ == "NAType" and kind.__module__.startswith("pandas")


def _is_missing(value: Any) -> bool:
    """The one rule for a missing value in `y`: None, NaN (numpy's too) or pandas' pd.NA,
    whether it stands for one topic, a whole topic set or an indicator cell."""
    if value is None or _is_pandas_na(value):
        return True
    return isinstance(value, float | np.floating) and bool(np.isnan(value))


def _is_scalar(value: Any) -> bool:
    """Whether `value` stands alone (one topic, not a list of them): the shape of `y`;
    topic_name decides whether it is a topic."""
    return (
        value is None
        or _is_pandas_na(value)
        or (isinstance(value, str | int | float | np.generic) and not isinstance(value, bool))
    )


def _is_topic_kind(value: Any) -> bool:
    """Whether `value` is of a kind that names a topic: a str, an integer or a float (numpy's
    too; a float is then checked for being whole), or None. Not bool, bytes, complex numbers,
    dates or durations (np.timedelta64 is a numpy integer), whose str() is no name."""
    return (
        value is None
        or _is_pandas_na(value)
        or (
            isinstance(value, str | int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.timedelta64)
        )
    )


def _one(value: Any, where: str) -> tuple[str, ...]:
    name = topic_name(value, where)
    return () if name is None else (name,)


# An integer of this many bits has more than MAX_TOPIC_CHARS digits (log2(10) ~ 3.32).
_MAX_TOPIC_BITS = int(MAX_TOPIC_CHARS * 3.33) + 1


# How topic_name reads a name, as an error says it (the rule of config.normal_topic, after
# a number's str()): names that differ only so are one topic.
TOPIC_NAME_RULE = (
    "a number as its str(), in Unicode NFC, without U+FEFF, the white space around it stripped"
)


def topic_name(value: Any, where: str = "y") -> str | None:
    """The one rule for a topic name given in `y`: a str as it is, an integer, or a float
    with an integer value, as the integer's `str()` (pandas turns [1, 2, None] into 1.0,
    2.0, NaN), None, NaN or pandas' pd.NA (a missing value) as None. A fraction or infinity
    is refused: such a `y` is a measurement, not topics; so is a name over MAX_TOPIC_CHARS,
    as in every corpus reader (`where` names its place). Any other kind (bytes, complex, datetime64,
    NaT, a list) is refused: its str() is no name."""
    if not _is_topic_kind(value):
        hint = "; decode it first (bytes.decode)" if isinstance(value, _BYTES) else ""
        raise InputError(
            f"{where} holds a value of type {type(value).__name__}; topics are names{hint}"
        )
    if _is_missing(value):
        return None
    if isinstance(value, float | np.floating):
        # Compared in floats: numpy compares np.longdouble("1e4900") with int() of it
        # through str(), which Python refuses past 4,300 digits.
        if not np.isfinite(value) or np.floor(value) != value:
            raise InputError(
                f"y: {value!r} is not a topic: topics are names or integers, and a fraction "
                "or infinity is a measurement (for regression use a regressor)"
            )
        value = int(value)  # a whole float, as its integer (np.longdouble: up to 4,933 digits)
    if isinstance(value, int | np.integer) and abs(int(value)).bit_length() > _MAX_TOPIC_BITS:
        # str() refuses integers of over 4,300 digits (a ValueError of its own): no topic
        # name is that long anyway.
        raise InputError(
            f"{where}: a topic integer of more than {MAX_TOPIC_CHARS:,} digits, more than the "
            f"{MAX_TOPIC_CHARS:,} characters topicclf reads"
        )
    # As every corpus reader: a name is read by normal_topic (NFC, stripped), an empty one is
    # no topic, and a lone surrogate (which no file can hold) becomes U+FFFD.
    name = normal_topic(_SURROGATE.sub("\ufffd", str(value)))
    problem = topic_too_long(name)
    if problem:
        raise InputError(f"{where}: {problem}")
    return name or None


Y_TOPIC_SET = "y: topic set"


def topic_set(labels: Any, i: int, what: str = Y_TOPIC_SET) -> tuple[str, ...]:
    """One document's topics (#`i` + 1 of `what`) by the rule of `y`'s topic lists: a
    missing value (None, NaN, pd.NA; pandas writes a missing list cell as NaN) is no topic."""
    if _is_missing(labels):
        return ()
    if isinstance(labels, Mapping):  # iterated, its keys would be topics, flagged 0 or not
        whole = (
            ", or all of y as an indicator DataFrame, pd.DataFrame(y).fillna(0)"
            if what == Y_TOPIC_SET
            else ""
        )
        raise InputError(
            f"{what} #{i + 1} is a {type(labels).__name__} ({shown(labels)}); give a list of "
            f"the topics it flags, e.g. [k for k, v in d.items() if v]{whole}"
        )
    if isinstance(labels, str):
        raise InputError(
            f"{what} #{i + 1} is a string ({labels!r}); give a list of topics, e.g. [{labels!r}]"
        )
    if isinstance(labels, _BYTES):  # iterated, its byte values would be the topics
        decoded = bytes(labels).decode(errors="replace")
        raise InputError(
            f"{what} #{i + 1} is {type(labels).__name__} ({bytes(labels)!r:.60}); decode it "
            f"(bytes.decode) and give a list of topics, e.g. [{decoded!r:.60}]"
        )
    if not isinstance(labels, Iterable):
        raise InputError(f"{what} #{i + 1} is of type {type(labels).__name__}, not a list")
    out: dict[str, None] = {}
    for label in labels:
        if len(out) > MAX_TOPICS_PER_DOCUMENT:  # stopped before reading a million of them
            raise InputError(f"{what} #{i + 1}: {too_many_topics()}")
        if isinstance(label, str) and not label.strip():
            continue  # an empty name is no topic, as in every corpus reader
        name = topic_name(label, f"{what} #{i + 1}")
        if name is None:
            raise InputError(
                f"{what} #{i + 1} holds a missing value ({label!r}); topics are names: "
                "leave it out (an empty list means no topic)"
            )
        out.setdefault(name, None)
    if len(out) > MAX_TOPICS_PER_DOCUMENT:
        raise InputError(f"{what} #{i + 1}: {too_many_topics(len(out))}")
    return tuple(out)


def check_unique(names: Sequence[str], what: str) -> None:
    """InputError when a topic name is given twice: it would be a repeated column or entry."""
    repeated = [name for name, n in Counter(names).items() if n > 1]
    if repeated:
        raise InputError(
            f"{what}: {names_shown(repeated)} given more than once; name each topic once"
        )


def names_shown(names: Sequence[Any]) -> str:
    """Names an error message lists: the first five, each cut short (a caller's name may be
    10 MB, and was echoed whole), and how many more."""
    more = f" and {len(names) - 5:,} more" if len(names) > 5 else ""
    return ", ".join(shown(name) for name in names[:5]) + more


def topic_names_given(names: Iterable[Any], what: str) -> list[str]:
    """Topic names given to look topics up, read as the model's were (config.normal_topic);
    an InputError for one that is not a str, or for one given twice."""
    read = []
    for name in names:
        # Before the repeats are counted: [["food"]] was a bare "unhashable type", and
        # [None, None] "None given more than once".
        if not isinstance(name, str):
            raise InputError(
                f"{what}: topic names are strings, not {type(name).__name__} ({shown(name)})"
            )
        read.append(normal_topic(name))
    check_unique(read, what)
    return read


def _shown(value: Any) -> str:
    """A value as an error message shows it: its type and the start of its repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def as_flag(value: Any, what: str) -> bool:
    """`value` when it is True or False (numpy's too), else an InputError: a truthy "no" or
    0.0001 must not mean yes (`save(path, overwrite="no")` replaced a model)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InputError(f"{what}: expected True or False, not {_shown(value)}")


def as_choice(value: Any, choices: Sequence[str], what: str) -> str:
    """`value` when it is one of `choices`, else an InputError listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise InputError(f"{what}: one of {', '.join(choices)}, not {_shown(value)}")


def as_count(value: Any, what: str, *, minimum: int = 1) -> int:
    """`value` when it is an integer (numpy's too) of at least `minimum`, else an InputError."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool | np.bool_):
        raise InputError(f"{what}: expected an integer, not {_shown(value)}")
    if value < minimum:
        raise InputError(f"{what}: must be at least {minimum}, not {int(value)}")
    return int(value)


def as_path(value: Any, what: str) -> str:
    """`value` when it is one path (str or os.PathLike), as a str; else an InputError (a
    NUL character too, which no file name can hold)."""
    if isinstance(value, str) or (isinstance(value, os.PathLike) and not isinstance(value, bytes)):
        path = os.fspath(value)
        if isinstance(path, str):
            if "\x00" in path:  # os.stat's ValueError named no path and was no error of ours
                named = repr(path) if len(path) <= 1000 else shown(path)  # a path is seen whole
                raise InputError(f"{what}: {named} holds a NUL character, which no file name can")
            return path
    raise InputError(f"{what}: expected a path (a str or pathlib.Path), not {_shown(value)}")


def as_list(
    value: Any, what: str, kind: str, single: Callable[[], str], empty: str, alone: tuple[type, ...]
) -> list[Any]:
    """`value` as a non-empty list of `kind`; an InputError for one item given alone (of a
    type in `alone`: said by `single()`, not iterated character by character), a mapping, a
    set, anything not iterable, or an empty list (said by `empty`)."""
    if isinstance(value, alone):
        raise InputError(f"{what}: {single()}")
    if isinstance(value, Mapping | Set) or not isinstance(value, Iterable):
        raise InputError(f"{what}: expected a list of {kind}, not {type(value).__name__}")
    items = list(value)
    if not items:
        raise InputError(f"{what}: {empty}")
    return items


def as_paths(value: Any, what: str) -> list[str]:
    """A list of paths (str or os.PathLike), as lists of texts are checked: a single path
    is refused, not read character by character ('/', 't', 'm', ...)."""
    paths = as_list(
        value,
        what,
        "paths",
        lambda: f"got a single path ({value!r:.80}); pass a list of paths, e.g. [path]",
        "an empty list; give at least one path",
        (str, bytes, os.PathLike),
    )
    return [as_path(path, f"{what}: item #{i + 1}") for i, path in enumerate(paths)]


PROGRESS_METHODS = ("start", "advance", "finish")


def as_progress(value: Any, what: str = "progress") -> Progress:
    """`value` when it has the Progress methods (start, advance, finish), a NullProgress for
    None, else an InputError: a string reached `progress.start` as an AttributeError."""
    if value is None:
        return NullProgress()
    if all(callable(getattr(value, name, None)) for name in PROGRESS_METHODS):
        return value  # type: ignore[no-any-return]
    raise InputError(
        f"{what}: expected a Progress (an object with start, advance and finish methods, "
        f"see topicclf.types.Progress) or None, not {_shown(value)}"
    )


def as_instance(value: Any, kind: type[T], what: str, hint: str = "") -> T:
    """`value` when it is a `kind`, else an InputError naming what was expected (`hint`:
    what such a value is, e.g. "an address such as tcp://host:8786")."""
    if isinstance(value, kind):
        return value
    described = f"a {kind.__name__}" + (f" ({hint})" if hint else "")
    raise InputError(f"{what}: expected {described}, not {_shown(value)}")
