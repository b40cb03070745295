from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from topicclf.errors import InputError
from topicclf.inputs import (
    as_choice,
    as_count,
    as_flag,
    as_instance,
    as_path,
    as_paths,
    as_progress,
    as_targets,
    as_texts,
    topic_name,
    topic_set,
)
from topicclf.types import NullProgress


def test_texts_from_every_container() -> None:
    texts = ["a b", "c d"]
    assert as_texts(texts) == texts
    assert as_texts(tuple(texts)) == texts
    assert as_texts(t for t in texts) == texts
    assert as_texts(np.array(texts)) == texts
    assert as_texts(np.array(texts, dtype=object).reshape(2, 1)) == texts
    frame = pd.DataFrame({"text": texts, "other": [1, 2]})
    assert as_texts(frame["text"]) == texts
    assert as_texts(frame[["text"]]) == texts


def test_texts_refused_with_a_reason() -> None:
    with pytest.raises(InputError, match="got a single str value; pass a list of texts"):
        as_texts("one text")
    with pytest.raises(InputError, match="got None"):
        as_texts(None)
    with pytest.raises(InputError, match=r"item #2 is of type bytes, not str; decode it first"):
        as_texts(["a", b"b"])
    with pytest.raises(InputError, match=r"item #1 is of type NoneType, not str"):
        as_texts([None])
    with pytest.raises(InputError, match=r"a DataFrame with 2 columns; pass the text column"):
        as_texts(pd.DataFrame({"text": ["a"], "id": [1]}))
    with pytest.raises(InputError, match=r"an array of shape \(1, 2\)"):
        as_texts(np.array([["a", "b"]]))
    with pytest.raises(InputError, match="type int is not a collection of texts"):
        as_texts(3)
    with pytest.raises(TypeError):  # also a TypeError, as scikit-learn's checks expect
        as_texts(3)


def test_topic_lists_with_string_conversion() -> None:
    targets = as_targets([["b", "a", "b"], [], (1, "x")], 3)
    assert targets.kind == "sets"
    assert targets.label_sets == [("b", "a"), (), ("1", "x")]


def test_one_topic_per_text() -> None:
    targets = as_targets(np.array(["x", "y", "x"]), 3)
    assert targets.kind == "single" and targets.label_sets == [("x",), ("y",), ("x",)]
    assert as_targets(pd.Series([3, 4]), 2).label_sets == [("3",), ("4",)]
    assert as_targets(["x", None], 2).label_sets == [("x",), ()]


def test_indicator_matrices_keep_their_column_names() -> None:
    y = np.array([[1, 0, 1], [0, 0, 0]])
    assert as_targets(y, 2).label_sets == [("0", "2"), ()]
    named = as_targets(y, 2, classes=["c", "b", "a"])
    assert named.kind == "indicator" and named.columns == ["c", "b", "a"]
    assert named.label_sets == [("c", "a"), ()]
    assert as_targets(sp.csr_matrix(y), 2, classes=["c", "b", "a"]) == named
    frame = pd.DataFrame(y.astype(bool), columns=["c", "b", "a"])
    assert as_targets(frame, 2).label_sets == named.label_sets


_READ_AS = (
    r"\(names are compared as topic names are read: a number as its str\(\), in Unicode NFC, "
    r"without U\+FEFF, the white space around it stripped\)"
)


@pytest.mark.parametrize(
    ("classes", "shown"),
    [
        (["a", "\ufeffa", "b"], r"columns 0 and 1 \('a', '\\ufeffa'\) are one topic name, 'a'"),
        (
            ["Gem\u00fcse", "b", "Gemu\u0308se"],
            "columns 0 and 2 \\('Gem\u00fcse', 'Gemu\u0308se'\\) are one topic name, 'Gem\u00fcse'",
        ),
        ([1, "1", "b"], r"columns 0 and 1 \(1, '1'\) are one topic name, '1'"),
        (["b", " a", "a "], r"columns 1 and 2 \(' a', 'a '\) are one topic name, 'a'"),
    ],
)
def test_classes_that_are_one_topic_name_once_read_are_named(
    classes: list[object], shown: str
) -> None:
    """Names that clashed by a byte order mark, the Unicode normal form or a number against
    its string were refused as "compared with the white space around them stripped", with
    neither column named."""
    y = np.array([[1, 0, 0], [0, 1, 1]])
    end = r"; give every column a name of its own$"
    with pytest.raises(InputError, match=rf"^classes: topic names must be unique {_READ_AS}: "):
        as_targets(y, 2, classes=classes)
    with pytest.raises(InputError, match=rf"{shown}{end}"):
        as_targets(y, 2, classes=classes)
    with pytest.raises(InputError, match=rf"^y: .* the DataFrame's {shown}{end}"):
        as_targets(pd.DataFrame(y, columns=classes), 2)
    with pytest.raises(InputError, match=rf"^classes: .*: columns 0 and 2 are both 'b'{end}"):
        as_targets(y, 2, classes=["b", "x", "b"])


def test_targets_refused_with_a_reason() -> None:
    with pytest.raises(InputError, match="2 texts but 1 topic sets"):
        as_targets([["a"]], 2)
    with pytest.raises(InputError, match="holds only 0 and 1"):
        as_targets(np.array([[2, 0]]), 1)
    with pytest.raises(InputError, match="y has 2 columns but 3 classes were given"):
        as_targets(np.array([[1, 0]]), 1, classes=["a", "b", "c"])
    with pytest.raises(InputError, match="topic names must be unique"):
        as_targets(np.array([[1, 0]]), 1, classes=["a", "a"])
    with pytest.raises(InputError, match=r"topic set #1 is a string \('a'\)"):
        as_targets(["a", ["b"]], 2)
    with pytest.raises(
        InputError, match="topic set #1 holds a value of type list; topics are names"
    ):
        as_targets([[["a"]]], 1)


@given(
    st.lists(
        st.lists(st.text(min_size=1, max_size=5).filter(lambda t: t.strip() == t), max_size=3),
        max_size=6,
    )
)
def test_topic_lists_round_trip_through_an_indicator(sets: list[list[str]]) -> None:
    names = sorted({t for s in sets for t in s})
    y = np.array([[int(n in s) for n in names] for s in sets]).reshape(len(sets), len(names))
    from_lists = as_targets(sets, len(sets))
    from_matrix = as_targets(y, len(sets), classes=names)
    assert [set(s) for s in from_lists.label_sets] == [set(s) for s in from_matrix.label_sets]


def test_a_mapping_is_refused_not_tagged_by_its_keys() -> None:
    from topicclf.errors import InputError
    from topicclf.inputs import as_texts

    with pytest.raises(InputError, match=r"texts: got a dict; pass a list of texts"):
        as_texts({"a": "rain and wind", "b": "the striker scored"}, "texts")


def test_a_dict_of_topics_is_refused() -> None:
    # Iterating it gave its keys: topics '0', '1', ...
    with pytest.raises(InputError, match=r"^y: got a dict; pass one topic list per text"):
        as_targets({0: ["a"], 1: ["b"]}, 2)


@given(st.lists(st.sampled_from(["a", "b", 7, float("nan"), np.float32("nan"), None])))
def test_a_missing_value_is_no_topic_alone_and_refused_inside_a_list(values: list[object]) -> None:
    # The one rule (inputs.topic_name): None and NaN are a missing value, never a topic 'nan'.
    missing = [v is None or (isinstance(v, float | np.floating) and np.isnan(v)) for v in values]
    if 7 in values and ("a" in values or "b" in values):  # one topic per text: pass 42
        with pytest.raises(InputError, match="y: mixes numbers and names"):
            as_targets(values, len(values))
        values = [v for v in values if v != 7]
        missing = [
            v is None or (isinstance(v, float | np.floating) and np.isnan(v)) for v in values
        ]
    single = as_targets(values, len(values))
    assert [s for s, m in zip(single.label_sets, missing, strict=True) if m] == [()] * sum(missing)
    assert all("nan" not in s for s in single.label_sets)
    if any(missing):
        bad = missing.index(True) + 1
        with pytest.raises(InputError, match=rf"^y: topic set #{bad} holds"):
            as_targets([["a", v] for v in values], len(values))
    else:
        assert as_targets([["a", v] for v in values], len(values)).label_sets == [
            tuple(dict.fromkeys(["a", str(v)])) for v in values
        ]


def test_pandas_missing_value_is_no_topic_as_nan_is() -> None:
    # pandas' string and nullable integer columns hold pd.NA where others hold NaN; it was
    # refused as "a value of type NAType".
    import pandas as pd

    strings = pd.Series(["a", pd.NA, "b"], dtype="string")
    assert as_targets(strings, 3).label_sets == [("a",), (), ("b",)]
    assert as_targets(pd.Series([1, pd.NA], dtype="Int64"), 2).label_sets == [("1",), ()]
    with pytest.raises(InputError, match=r"^y: topic set #1 holds a missing value \(<NA>\)"):
        as_targets([["a", pd.NA]], 1)


@pytest.mark.parametrize("value", [0.31, float("inf"), -float("inf"), np.float32(2.5)])
def test_a_fractional_topic_is_refused_as_a_measurement(value: object) -> None:
    # Before: each fraction became a topic of its own ('0.31'), as many as documents.
    with pytest.raises(InputError, match=r"^y: .* is not a topic: topics are names or integers"):
        as_targets([1, value], 2)
    with pytest.raises(InputError, match=r"is not a topic"):
        as_targets([["a", value]], 1)


def test_a_whole_float_is_the_integers_topic() -> None:
    # pandas reads [1, 2, None] as 1.0, 2.0, NaN: the topics are '1' and '2', as for ints.
    assert as_targets([1.0, np.float64(2.0), float("nan"), 3], 4).label_sets == [
        ("1",),
        ("2",),
        (),
        ("3",),
    ]


# -- the API's other arguments: flags, choices, counts, paths --------------------------------
@given(
    st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=2))
)
def test_only_true_or_false_is_a_flag(value: object) -> None:
    """`save(path, overwrite="no")` (or 0.0001, [0]) replaced a model: truthiness is no yes."""
    with pytest.raises(InputError, match=r"^overwrite: expected True or False, not \w+ "):
        as_flag(value, "overwrite")


def test_flags_choices_counts_and_paths() -> None:
    assert as_flag(True, "x") is True and as_flag(np.bool_(False), "x") is False
    assert as_choice("skip", ("report", "skip"), "bad_records") == "skip"
    with pytest.raises(InputError, match=r"^bad_records: one of report, skip, not str 'ignore'$"):
        as_choice("ignore", ("report", "skip"), "bad_records")
    assert as_count(np.int64(3), "partitions") == 3
    with pytest.raises(InputError, match=r"^partitions: expected an integer, not str '3'$"):
        as_count("3", "partitions")
    with pytest.raises(InputError, match=r"^partitions: must be at least 1, not 0$"):
        as_count(0, "partitions")
    assert as_path(Path("a/b"), "path") == "a/b"
    with pytest.raises(InputError, match=r"^path: expected a path \(a str or pathlib.Path\), not"):
        as_path(None, "path")


def test_progress_and_instances() -> None:
    """A str given as progress, scheduler or options failed deep inside as AttributeError."""
    assert isinstance(as_progress(None), NullProgress)
    given = NullProgress()
    assert as_progress(given) is given
    with pytest.raises(InputError, match=r"^progress: expected a Progress \(.*\) or None, not str"):
        as_progress("x")
    assert as_instance("tcp://h:1", str, "scheduler") == "tcp://h:1"
    with pytest.raises(InputError, match=r"^scheduler: expected a str \(an address\), not int 5$"):
        as_instance(5, str, "scheduler", "an address")


def test_a_single_path_is_not_a_list_of_paths() -> None:
    """`tag_on_dask(inputs='/tmp/x.jsonl')` read '/', 't', 'm', ... as inputs."""
    assert as_paths(["a.jsonl", Path("b")], "inputs") == ["a.jsonl", "b"]
    with pytest.raises(InputError, match=r"^inputs: got a single path \('x.jsonl'\); pass a list"):
        as_paths("x.jsonl", "inputs")
    with pytest.raises(InputError, match=r"^inputs: got a single path"):
        as_paths(Path("x.jsonl"), "inputs")
    with pytest.raises(InputError, match=r"^inputs: an empty list; give at least one path$"):
        as_paths([], "inputs")
    with pytest.raises(InputError, match=r"^inputs: item #2: expected a path .*, not int 3$"):
        as_paths(["a", 3], "inputs")
    with pytest.raises(InputError, match=r"^inputs: expected a list of paths, not dict$"):
        as_paths({"a": 1}, "inputs")


def test_a_document_holds_at_most_the_topics_every_reader_takes() -> None:
    # One rule with the corpus readers (config.MAX_TOPICS_PER_DOCUMENT): a y of one document
    # with a million topics took 47 s to evaluate and fit a model of 100,000 topics.
    from topicclf.config import MAX_TOPICS_PER_DOCUMENT

    most = [f"t{i}" for i in range(MAX_TOPICS_PER_DOCUMENT)]
    assert len(as_targets([most + most], 1).label_sets[0]) == MAX_TOPICS_PER_DOCUMENT  # repeats
    many = (f"t{i}" for i in range(10**6))  # refused after 1,001 of them, not all read
    with pytest.raises(InputError, match=r"^y: topic set #2: more topics in one document, more "):
        as_targets([["a"], many], 2)
    over = most + ["one more"]
    with pytest.raises(InputError, match=r"#1: 1,001 topics in one document, more than the 1,000"):
        as_targets([over], 1)
    indicator = np.ones((2, MAX_TOPICS_PER_DOCUMENT + 1), dtype=np.int8)
    indicator[0, 0] = 0
    for matrix in (indicator, sp.csr_matrix(indicator)):
        with pytest.raises(InputError, match=r"^y: row 2: 1,001 topics in one document"):
            as_targets(matrix, 2)


def test_a_topic_name_holds_at_most_the_characters_every_reader_takes() -> None:
    # One rule with the corpus readers (config.MAX_TOPIC_CHARS): a model fitted on names of
    # a megabyte saved and loaded, and 1,000 of its pairs made a 2 GB `serve` answer.
    from topicclf.config import MAX_TOPIC_CHARS

    longest, longer = "z" * MAX_TOPIC_CHARS, "z" * (MAX_TOPIC_CHARS + 1)
    assert as_targets([[longest], ["a"]], 2).label_sets == [(longest,), ("a",)]
    too_long = r"a topic name of 1,001 characters \('z+'\.\.\.\), more than the 1,000 topicclf"
    with pytest.raises(InputError, match=rf"^y: topic set #2: {too_long}"):
        as_targets([["a"], ["b", longer]], 2)
    with pytest.raises(InputError, match=rf"^y: row 2: {too_long}"):
        as_targets(["a", longer], 2)  # one topic per document
    indicator = np.eye(2, dtype=np.int8)
    with pytest.raises(InputError, match=rf"^classes: column 1: {too_long}"):
        as_targets(indicator, 2, ["a", longer])  # MultiLabelBinarizer's classes_
    with pytest.raises(InputError, match=rf"^classes: column 1: {too_long}"):
        as_targets(pd.DataFrame(indicator, columns=["a", longer]), 2)


@pytest.mark.parametrize(
    "value",
    [10**5000, -(10**5000), 10**1000, np.longdouble("1e1200"), np.longdouble("1e4900")],
    ids=["big", "negative", "1001", "longdouble-1201", "longdouble-4901"],
)
def test_a_huge_integer_topic_is_refused_as_too_long_not_by_str(value: object) -> None:
    # str() raises its own ValueError past 4,300 digits (before: that ValueError escaped fit).
    with pytest.raises(InputError, match=r"^y: a topic (integer|name) of .*1,000"):
        topic_name(value)
    assert topic_name(10**999) == "1" + "0" * 999  # 1,000 digits: at the bound


# -- bytes and numpy scalar kinds as topics (attack pass 13, findings 2 and 3) ---------------
@given(st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=5), st.data())
def test_bytes_as_a_documents_topics_are_refused_not_read_as_byte_values(
    values: list[bytes], data: st.DataObject
) -> None:
    # Iterated, b'energy' gave the topics '101', '110', ...: fit trained on byte values.
    kind = data.draw(st.sampled_from(["bytes", "bytearray", "S array", "memoryview"]))
    y: object = {
        "bytes": values,
        "bytearray": [bytearray(v) for v in values],
        "S array": np.array(values, dtype=f"S{max(map(len, values))}"),
        "memoryview": [memoryview(v) for v in values],
    }[kind]
    with pytest.raises(
        InputError,
        match=r"^y: topic set #1 is (bytes|bytearray|memoryview) \(b.*\); decode it "
        r"\(bytes\.decode\) and give a list of topics, e\.g\. \[",
    ):
        as_targets(y, len(values))


def test_bytes_as_the_whole_y_are_refused() -> None:
    for y in (b"ab", bytearray(b"ab"), memoryview(b"ab")):
        with pytest.raises(InputError, match=r"^y: got a single (bytes|bytearray|memoryview) "):
            as_targets(y, 2)
    with pytest.raises(InputError, match=r"^y: topic set #2 is bytes \(b'sport'\); .*\['sport'\]"):
        as_targets([["energy"], b"sport"], 2)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"wheat prices", "bytes"),
        (np.bytes_(b"wheat prices"), "bytes_"),  # was the topic "b'wheat prices'"
        (np.void(b"ab"), "void"),
        (complex(1, 2), "complex"),
        (np.complex128(1 + 2j), "complex128"),  # was the topic '(1+2j)'
        (np.complex64(float("nan")), "complex64"),  # was '(nan+0j)'
        (np.datetime64("NaT"), "datetime64"),  # was the topic 'NaT'
        (np.datetime64("2020-01-01"), "datetime64"),
        (np.timedelta64(5, "D"), "timedelta64"),  # was a raw TypeError from int()
        (np.bool_(True), "bool"),  # numpy 2 names it bool; refused as Python's True is
        (True, "bool"),
    ],
)
def test_only_names_and_numbers_are_topics(value: object, kind: str) -> None:
    refused = rf"holds a value of type {kind}; topics are names"
    with pytest.raises(InputError, match=rf"^y: topic set #1 {refused}"):
        as_targets([[value], ["a"]], 2)
    # One topic per text: numpy's scalars stand alone; Python's bytes, complex and bool are
    # read as (refused) topic sets, as before.
    single = rf"^y: row 1 {refused}" if isinstance(value, np.generic) else r"^y: topic set #1 is"
    with pytest.raises(InputError, match=single):
        as_targets(np.array([value, "a"], dtype=object), 2)
    with pytest.raises(InputError, match=rf"^classes: column 0 ({refused}|is named by a {kind},)"):
        as_targets(np.eye(2, dtype=np.int8), 2, [value, "a"])
    with pytest.raises(InputError, match=rf"^y {refused}"):
        topic_name(value)


def test_numpy_names_and_integers_are_topics() -> None:
    values = [np.str_("a"), np.int64(3), np.uint8(4), np.float32(5.0), np.longdouble(6)]
    assert as_targets([list(values)], 1).label_sets == [("a", "3", "4", "5", "6")]
    assert as_targets(values[1:], 4).label_sets == [("3",), ("4",), ("5",), ("6",)]
    assert as_targets([np.str_("a"), np.str_("b")], 2).label_sets == [("a",), ("b",)]
    with pytest.raises(InputError, match="y: mixes numbers and names"):  # one per text: pass 42
        as_targets(values, 5)


# -- attack pass 17, cli findings 3, 5 and 6 -------------------------------------------------
DICT_ADVICE = (
    r"give a list of the topics it flags, e\.g\. \[k for k, v in d\.items\(\) if v\], or all "
    r"of y as an indicator DataFrame, pd\.DataFrame\(y\)\.fillna\(0\)$"
)


def test_a_dict_as_a_documents_topics_is_refused_not_read_as_its_keys() -> None:
    # One-hot rows or df.to_dict("records"): iterated, every key was a topic, flagged 0 too.
    import collections
    import types

    import pandas as pd

    y = [{"sport": 1, "weather": 0}, {"weather": 1, "sport": 0}]
    with pytest.raises(
        InputError, match=r"^y: topic set #1 is a dict \(\{'sport': 1, 'weather': 0\}\); "
    ) as refused:
        as_targets(y, 2)
    assert re.search(DICT_ADVICE, str(refused.value))
    for row in (collections.Counter(a=1), types.MappingProxyType({"a": 1})):
        kind = type(row).__name__
        with pytest.raises(InputError, match=rf"^y: topic set #2 is a {kind} \(.*{DICT_ADVICE}"):
            as_targets([["a"], row], 2)
    with pytest.raises(InputError, match=r"^y: topic set #1 is a dict"):
        as_targets(pd.Series(y), 2)
    # Every key in every row was "every training document has the same topics".
    with pytest.raises(InputError, match=r"^y: topic set #1 is a dict"):
        as_targets([{"a": 1, "b": 0}, {"a": 0, "b": 1}], 2)
    # Document.labels: the same rule, without the advice about all of y.
    with pytest.raises(
        InputError,
        match=r"^Document\.labels of document #1 is a dict \(\{'a': 1\}\); give a list of the "
        r"topics it flags, e\.g\. \[k for k, v in d\.items\(\) if v\]$",
    ):
        topic_set({"a": 1}, 0, "Document.labels of document")
    # A dict's repr is cut: the message never echoes a huge value whole.
    with pytest.raises(InputError, match=r"\.\.\. \(\d[\d,]* characters\)\); give a list"):
        as_targets([{f"t{i}": 1 for i in range(10_000)}], 1)
    # The wanted form is read: the topics flagged, or the rows as an indicator DataFrame.
    assert as_targets([[k for k, v in d.items() if v] for d in y], 2).label_sets == [
        ("sport",),
        ("weather",),
    ]
    assert as_targets(pd.DataFrame(y).fillna(0), 2).label_sets == [("sport",), ("weather",)]


def test_a_missing_topic_set_is_no_topic_whatever_marks_it_missing() -> None:
    # pandas writes a missing list cell as NaN (read_json of a record without labels): NaN
    # and pd.NA were refused as "of type float, not a list", while None was no topic.
    import io

    import pandas as pd

    for missing in (None, float("nan"), np.float32("nan"), pd.NA):
        assert as_targets([["a"], missing], 2).label_sets == [("a",), ()]
        assert topic_set(missing, 0) == ()
    assert as_targets(pd.Series([["a"], np.nan]), 2).label_sets == [("a",), ()]
    lines = '{"text": "x", "labels": ["a"]}\n{"text": "y"}\n'
    frame = pd.read_json(io.StringIO(lines), lines=True)
    assert as_targets(frame["labels"], 2).label_sets == [("a",), ()]
    # Inside a list a missing value is still refused: it is no name.
    with pytest.raises(InputError, match=r"^y: topic set #1 holds a missing value \(nan\)"):
        as_targets([["a", float("nan")]], 1)


def test_an_indicator_matrix_holding_a_missing_value_is_refused_by_its_cell() -> None:
    # A nullable (Int64) indicator DataFrame with pd.NA was a raw TypeError ("boolean value
    # of NA is ambiguous"); a float NaN was "holds only 0 and 1" without a place.
    import pandas as pd

    y = pd.DataFrame(np.ones((2, 3), int), columns=["food", "sport", "x"]).astype("Int64")
    y.iloc[1, 1] = pd.NA
    missing = (
        r"^y: an indicator matrix holds a missing value \(row 2, column 'sport'\); it holds "
        r"only 0 and 1 \(or False and True\): fill the missing cells, e\.g\. y\.fillna\(0\)$"
    )
    with pytest.raises(InputError, match=missing):
        as_targets(y, 2)
    with pytest.raises(InputError, match=missing):
        as_targets(y.astype("boolean"), 2)
    with pytest.raises(InputError, match=missing):
        as_targets(y.astype(float), 2)
    with pytest.raises(InputError, match=r"holds a missing value \(row 1, column 'b'\)"):
        as_targets(sp.csr_matrix(np.array([[1.0, np.nan]])), 1, classes=["a", "b"])
    with pytest.raises(InputError, match=r"holds a missing value \(row 1, column 2\)"):
        as_targets(np.array([[1, None]], dtype=object), 1)
    with pytest.raises(
        InputError,
        match=r"^y: an indicator matrix holds only 0 and 1 \(or False and True\), not 'x' "
        r"\(row 1, column 'b'\)$",
    ):
        as_targets(pd.DataFrame({"a": [1], "b": ["x"]}), 1)
    # One column: and what to pass for one topic per text (attacker pass 36, CLI/API 6).
    with pytest.raises(InputError, match=r"holds only 0 and 1 .*, not 2 \(row 2, column 1\); for"):
        as_targets(np.array([[1], [2]]), 2)
    assert as_targets(y.fillna(0), 2).label_sets == [("food", "sport", "x"), ("food", "x")]


def test_a_dataframe_of_no_columns_is_refused_as_texts() -> None:
    # Was IndexError: index 0 is out of bounds for axis 0 with size 0.
    import pandas as pd

    with pytest.raises(
        InputError,
        match=r"^X: a DataFrame with no columns; pass a one-column DataFrame or a Series of "
        r"texts$",
    ):
        as_texts(pd.DataFrame(index=[0, 1]), "X")
    with pytest.raises(InputError, match=r"^texts: a DataFrame with 2 columns; pass the text"):
        as_texts(pd.DataFrame({"a": ["x"], "b": ["y"]}))


NO_TOPIC_COLUMNS = (
    "a model keeps at most 10,000 columns that are none of its topics: leave out the columns "
    r"of topics that no document has \(or fewer than train.min_count\)$"
)


def test_a_wide_indicator_is_refused_before_it_is_read() -> None:
    # A few bytes as stored; made dense (or one name per column) it was 22 GiB: MemoryError.
    wide = sp.csr_matrix((np.ones(3), ([0, 1, 2], [0, 1, 0])), shape=(3, 10**9))
    with pytest.raises(
        InputError, match=rf"^y: 1,000,000,000 columns for 2 topics; {NO_TOPIC_COLUMNS}"
    ):
        as_targets(wide, 3)
    with pytest.raises(
        InputError,
        match=r"^y: an indicator matrix of 1,000,000,000 columns, but the model has 2 columns "
        r"\(classes_\); its columns must be the model's, in classes_ order",
    ):
        as_targets(wide, 3, model=["a", "b"])
    dense = np.zeros((2, 10_003), np.int8)  # was read whole (fit: 33 s, 7.1 GB at 8e7 columns)
    dense[0, 0] = dense[1, 5] = 1
    with pytest.raises(InputError, match=rf"^y: 10,003 columns for 2 topics; {NO_TOPIC_COLUMNS}"):
        as_targets(dense, 2)
    dense[1, 7] = 1  # one more column flags a document: within the bound
    assert as_targets(dense, 2).label_sets == [("0",), ("5", "7")]


def test_a_sparse_indicator_is_read_as_stored() -> None:
    y = sp.coo_matrix(([1, 1, 1], ([0, 0, 1], [2, 2, 0])), shape=(2, 3))  # a cell twice: 2
    with pytest.raises(InputError, match=r"^y: an indicator .* not 2 \(row 1, column 'c'\)$"):
        as_targets(y, 2, classes=["a", "b", "c"])
    y = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, np.nan]]))
    with pytest.raises(InputError, match=r"holds a missing value \(row 2, column 3\)"):
        as_targets(y, 2)
    explicit_zero = sp.csr_matrix((np.array([0.0, 1.0]), ([0, 1], [1, 0])), shape=(2, 2))
    assert as_targets(explicit_zero, 2).label_sets == [(), ("0",)]


def test_an_unnamed_dataframe_is_read_as_its_array() -> None:
    ind = np.array([[1, 0, 0], [0, 0, 1]])
    model = ["c", "b", "a"]
    assert as_targets(pd.DataFrame(ind), 2, model=model) == as_targets(ind, 2, model=model)
    assert as_targets(pd.DataFrame(ind), 2, model=model).label_sets == [("c",), ("a",)]
    # Named columns are the topics, in any order.
    named = pd.DataFrame(ind, columns=["a", "b", "c"])
    assert as_targets(named, 2, model=model).label_sets == [("a",), ("c",)]
    # Topics 0..11 in classes_ order ('0', '1', '10', ...): by place and by name they differ.
    numbers = sorted(str(j) for j in range(12))
    with pytest.raises(
        InputError,
        match=r"^y: a DataFrame whose columns are unnamed \(0, 1, \.\.\.\), and 2 is also a "
        r"topic of the model, column 4 in classes_ order: name the columns by their topics "
        r"\(pd\.DataFrame\(y, columns=model\.classes_\)\) or pass y\.to_numpy\(\)",
    ):
        as_targets(pd.DataFrame(np.eye(2, 12, dtype=int)), 2, model=numbers)
    assert as_targets(pd.DataFrame(ind), 2, model=["0", "1", "2"]).label_sets == [("0",), ("2",)]


def test_classes_beside_a_named_dataframe_must_be_its_columns() -> None:
    """Attacker pass 35, CLI/API 1: classes renamed a DataFrame's own columns, so reversed
    names swapped the topics (score 1.0 -> 0.077), with no warning."""
    y = np.array([[1, 0, 0], [0, 0, 1]])
    frame = pd.DataFrame(y, columns=["food", "sport", "weather"])
    with pytest.raises(
        InputError,
        match=r"^classes: column 0 of the DataFrame y is 'food', but classes names it "
        r"'weather'; a DataFrame's column names name its topics: leave classes out \(or give "
        r"the columns in their order, list\(y\.columns\)\)$",
    ):
        as_targets(frame, 2, classes=["weather", "sport", "food"])
    with pytest.raises(InputError, match=r"^classes: column 2 of the DataFrame y is 'weather'"):
        as_targets(frame, 2, classes=["food", "sport", "rain"])
    # The columns themselves, in their order (as names: NFC, stripped), are the same targets.
    same = as_targets(frame, 2)
    assert as_targets(frame, 2, classes=[" food", "sport", "weather "]) == same
    assert as_targets(frame, 2, classes=np.array(frame.columns)) == same
    assert as_targets(frame, 2, classes=frame.columns) == same
    # Unnamed columns (pandas' 0, 1, ...) take classes as an array does.
    assert as_targets(pd.DataFrame(y), 2, classes=["c", "b", "a"]).label_sets == [("c",), ("a",)]


def test_zero_one_rows_given_as_lists_are_refused_not_read_as_topics_0_and_1() -> None:
    """Attacker pass 35, CLI/API 3: Y.tolist() of an indicator was read as topic lists of
    the topics '0' and '1' (scikit-learn calls it multilabel-indicator)."""
    y = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
    message = (
        r"^y: 3 rows of 4 zeros and ones \(row 1: \[0, 1, 0, 1\]\) look like a 0/1 indicator "
        r"matrix given as lists, not a topic list per text \(of the topics 0 and 1\); pass "
        r"np\.asarray\(y\) to read it as an indicator \(columns named by classes=\), or give "
        r"each text's topic names$"
    )
    for rows_given in [y.tolist(), list(y), [tuple(r) for r in y.tolist()], pd.Series(y.tolist())]:
        with pytest.raises(InputError, match=message):
            as_targets(rows_given, 3)
    for rows in ([[0, 1], [1, 0]], [[True, False], [False, True]], [[1, 1]], [[1.0, 0.0, 0.0]]):
        with pytest.raises(InputError, match=r"look like a 0/1 indicator matrix given as lists"):
            as_targets(rows, len(rows))
    # Integer topic lists stay topic lists: of several lengths, other integers, or every row
    # the one set {0, 1}.
    assert as_targets([[3, 7], [7]], 2).label_sets == [("3", "7"), ("7",)]
    assert as_targets([[0], [1], [0, 1]], 3).label_sets == [("0",), ("1",), ("0", "1")]
    assert as_targets([[0, 2], [2, 0]], 2).label_sets == [("0", "2"), ("2", "0")]
    assert as_targets([[0, 1], [0, 1]], 2).label_sets == [("0", "1"), ("0", "1")]
    assert as_targets(np.asarray(y.tolist()), 3).label_sets == [("1", "3"), ("0",), ()]


@given(
    st.lists(
        st.lists(
            st.one_of(
                st.text(min_size=1, max_size=4).filter(str.strip),
                st.sampled_from(["0", "1", " 1", "0.0", "True"]),
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([list, tuple]),
)
def test_topic_lists_of_names_are_never_taken_for_zero_one_rows(
    sets: list[list[str]], kind: type
) -> None:
    rows = [kind(s) for s in sets]
    assert len(as_targets(rows, len(rows)).label_sets) == len(rows)


def test_zero_one_rows_of_different_lengths_that_repeat_a_value_are_refused() -> None:
    """Attacker pass 36, CLI/API 2: Y.tolist() with one row cut short passed the refusal of
    0/1 rows and was read as topic lists of the topics '0' and '1'."""
    y = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]])
    rows = y.tolist()
    rows[1] = rows[1][:3]
    message = (
        r"^y: 3 rows of zeros and ones \(row 1: \[0, 1, 0, 1\], which names a topic twice\) "
        r"look like a 0/1 indicator matrix given as lists, not a topic list per text \(of the "
        r"topics 0 and 1\), with rows of different lengths \(row 2 has 3 values, most have "
        r"4\): give every row one value per topic and pass np\.asarray\(y\) to read it as an "
        r"indicator \(columns named by classes=\), or give each text's topic names$"
    )
    for given_rows in (rows, [tuple(r) for r in rows], pd.Series(rows)):
        with pytest.raises(InputError, match=message):
            as_targets(given_rows, 3)
    for bad in ([[0, 0], [1]], [[True, True, False], [False]], [[1.0, 1.0], [0.0, 1.0, 0.0]]):
        with pytest.raises(InputError, match=r"which names a topic twice\) look like a 0/1"):
            as_targets(bad, len(bad))
    # Integer topic lists that name no topic twice stay topic lists, ragged or not.
    assert as_targets([[0], [1], [0, 1], [1, 0]], 4).label_sets == [
        ("0",),
        ("1",),
        ("0", "1"),
        ("1", "0"),
    ]
    assert as_targets([[0, 1], [], [1]], 3).label_sets == [("0", "1"), (), ("1",)]


@given(
    st.lists(
        st.lists(
            st.one_of(
                st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=4),
                st.sampled_from(["0", "1", "0", "1", "True", "1.0"]),
            ),
            max_size=5,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_string_topic_lists_are_read_as_the_corpus_readers_read_labels(
    sets: list[list[str]],
) -> None:
    """String topic lists, with repeats or without, of rows of any lengths, are never
    refused, and a topic named twice is merged as every corpus reader merges a repeated
    label (corpus.base.clean_labels)."""
    from topicclf.corpus.base import clean_labels

    targets = as_targets(sets, len(sets))
    assert targets.label_sets == [clean_labels(s) for s in sets]


def test_a_dok_matrix_is_read_as_a_sparse_indicator() -> None:
    """Attacker pass 36, CLI/API 5: dok_matrix subclasses dict, and was refused as one."""
    y = np.array([[0, 1, 1], [1, 0, 0]])
    expected = as_targets(sp.csr_matrix(y), 2, classes=["a", "b", "c"])
    assert expected.label_sets == [("b", "c"), ("a",)]
    for kind in (sp.dok_matrix, sp.dok_array):
        assert as_targets(kind(y), 2, classes=["a", "b", "c"]) == expected
    with pytest.raises(InputError, match=r"^y: got a dict; pass one topic list per text"):
        as_targets({"a": ["x"]}, 1)


def test_a_one_column_y_of_names_is_told_to_pass_its_column() -> None:
    """Attacker pass 36, CLI/API 6: a one-column DataFrame or (n, 1) array of topic names
    was told only that an indicator holds 0 and 1."""
    frame = pd.DataFrame({"label": ["sport", "food"]})
    indicator = r"^y: an indicator matrix holds only 0 and 1 \(or False and True\), not "
    tail = r": a one-column y is read as an indicator of one topic$"
    with pytest.raises(
        InputError,
        match=indicator + r"'sport' \(row 1, column 'label'\); for one topic \(or one topic "
        r"list\) per text pass the column itself, y\['label'\]" + tail,
    ):
        as_targets(frame, 2)
    with pytest.raises(InputError, match=r"\(row 1, column 1\); .* itself, y\.ravel\(\)" + tail):
        as_targets(frame.to_numpy(), 2)
    lists = pd.DataFrame({"labels": [["sport"], ["food", "rain"]]})
    with pytest.raises(InputError, match=r"not \['sport'\] .* itself, y\['labels'\]" + tail):
        as_targets(lists, 2)
    # What the message says to pass is read as topics.
    assert as_targets(frame["label"], 2).label_sets == [("sport",), ("food",)]
    assert as_targets(frame.to_numpy().ravel(), 2).label_sets == [("sport",), ("food",)]
    assert as_targets(lists["labels"], 2).label_sets == [("sport",), ("food", "rain")]
    # A one-column indicator of 0 and 1 stays one: the topic its column names.
    assert as_targets(pd.DataFrame({"sport": [1, 0]}), 2).label_sets == [("sport",), ()]


@pytest.mark.parametrize(
    ("y", "said"),
    [
        ([1, "x", 2], "(1 in row 1, 'x' in row 2)"),
        (np.array([11, "x", 2], dtype=object), "(11 in row 1, 'x' in row 2)"),
        ([None, 1.0, "a"], "(1.0 in row 2, 'a' in row 3)"),
    ],
)
def test_one_topic_per_text_as_numbers_and_names_at_once_is_refused(y: Any, said: str) -> None:
    """Attacker pass 42, CLI/API 2: such a y was read as names, so predict answered '11' where
    y held 11 (scorers compared them unequal) and scikit-learn's own metrics refuse it."""
    with pytest.raises(InputError, match=re.escape(f"y: mixes numbers and names {said}: give ")):
        as_targets(y, 3)
    assert as_targets(["a", None, "b"], 3).label_sets == [("a",), (), ("b",)]
    assert as_targets([1, None, 2], 3).dtype is not None
