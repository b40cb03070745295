"""Byte ranges read exactly what whole files read: the line splitter, counter and planner."""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from topicclf import config
from topicclf.corpus import (
    CorpusOptions,
    count_range,
    open_corpus,
    plan_cuts,
    read_range,
)
from topicclf.corpus.base import clean_labels, scrub_surrogates
from topicclf.corpus.lines import LongLine, split_lines
from topicclf.errors import BadRecordWarning, CorpusFormatError
from topicclf.types import Document

REPORT = CorpusOptions(on_error="report")


def _whole(path: Path, fmt: str, options: CorpusOptions = REPORT) -> list[Document]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadRecordWarning)
        return list(open_corpus(path, format=fmt, options=options))


def _by_ranges(
    path: Path, fmt: str, pieces: int, options: CorpusOptions = REPORT
) -> tuple[list[Document], int]:
    """Read a file as the Dask engine does: plan, count each range, read each range."""
    cuts = plan_cuts(str(path), pieces, options)
    assert cuts[0] == 0 and cuts[-1] == path.stat().st_size
    assert all(a < b for a, b in itertools.pairwise(cuts)) or cuts == [0, 0]  # empty file
    docs: list[Document] = []
    first, records = 1, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadRecordWarning)
        for start, stop in itertools.pairwise(cuts):
            count = count_range(str(path), fmt, start, stop, options)
            docs.extend(read_range(str(path), fmt, start, stop, first, options))
            first += count.lines
            records += count.records
    return docs, records


@pytest.mark.parametrize("fmt", ["jsonl", "lines", "fasttext"])
@pytest.mark.parametrize("pieces", [1, 2, 3, 5, 8, 40])
def test_ranges_read_what_the_whole_file_reads(tricky_jsonl: Path, fmt: str, pieces: int) -> None:
    whole = _whole(tricky_jsonl, fmt)
    docs, records = _by_ranges(tricky_jsonl, fmt, pieces)
    assert docs == whole  # ids, texts, labels and error messages
    assert records == len(whole)  # what the Dask driver expects to come out


def test_the_tricky_lines_are_read_by_the_rules(tricky_jsonl: Path) -> None:
    docs = _whole(tricky_jsonl, "jsonl")
    assert [d.id for d in docs] == [
        "bom",  # the BOM is dropped
        "tricky:2",  # a lone CR does not end a line: two objects on one line
        "crlf",  # CR before LF is cut off; a CR between JSON tokens is white space
        "tricky:6",  # lines 4 (empty) and 5 (no-break spaces) are blank
        "tricky:7",
        "7" * 5000,
        "\ufffd",
        "tricky:11",
        "tricky:12",
    ]
    errors = {d.id: d.error for d in docs if d.error}
    assert errors["tricky:2"].endswith("tricky.jsonl:2: invalid JSON (Extra data)")
    assert "tricky.jsonl:6: cannot decode the text as utf-8" in errors["tricky:6"]
    assert errors["tricky:7"].endswith("tricky.jsonl:7: the record is nested too deeply to read")
    assert docs[6] == Document("\ufffd", "lone \ufffd surrogate", ("x\ufffd",))
    lines = _whole(tricky_jsonl, "lines")
    assert len(lines) == 12 and lines[4].text == "\u00a0\u00a0" and "\r" in lines[1].text


def test_utf16_is_cut_on_whole_code_units(tmp_path: Path) -> None:
    # U+0A0A is the bytes 0A 0A: a newline byte that is not a newline.
    texts = ["\u0a0a one", "two \u0a00", "three"]
    path = tmp_path / "wide.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-16")
    options = CorpusOptions(encoding="utf-16", on_error="report")
    assert [d.text for d in _whole(path, "lines", options)] == texts
    for pieces in (2, 3, 7):
        docs, records = _by_ranges(path, "lines", pieces, options)
        assert [d.text for d in docs] == texts and records == 3


def test_split_lines_finds_newlines_across_chunks() -> None:
    data = b"a" * 70_000 + b"\r\n" + b"b\rc\n" + b"tail"
    chunks = iter([data[i : i + 1000] for i in range(0, len(data), 1000)] + [b""])
    assert list(split_lines(lambda n: next(chunks))) == [
        b"a" * 70_000 + b"\r\n",
        b"b\rc\n",
        b"tail",
    ]


def test_range_reader_refuses_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text\nx\n")
    with pytest.raises(CorpusFormatError, match=r"byte ranges are read only in the formats"):
        list(read_range(str(path), "csv", 0, None, 1, REPORT))


# -- properties ------------------------------------------------------------------------------
# Each generated line comes with what reading it must give: a Document, "bad" or None (blank).
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TEXT = st.text(st.one_of(st.characters(), SURROGATES), max_size=20)
# An id as a JSON value (a string, maybe with surrogates, or an int), or as the digits of an
# integer literal too long for int().
IDS = st.one_of(
    TEXT.map(json.dumps),
    st.integers().map(str),
    st.integers(4301, 6000).map(lambda n: "9" * n),
)


@st.composite
def good_record(draw: st.DrawFn) -> tuple[bytes, Document]:
    """A valid JSON Lines record (CR or tab between tokens at times) and its document."""
    raw_id, text = draw(IDS), draw(TEXT)
    labels = draw(st.lists(TEXT, max_size=3))
    separator = draw(st.sampled_from([",", ", ", ",\r", ",\t"]))
    line = separator.join(
        [f'{{"id": {raw_id}', f'"text": {json.dumps(text)}', f'"labels": {json.dumps(labels)}}}']
    )
    doc_id = json.loads(raw_id) if raw_id.startswith('"') else raw_id
    clean = clean_labels([scrub_surrogates(x) for x in labels])
    return line.encode(), Document(scrub_surrogates(doc_id), scrub_surrogates(text), clean)


BAD = st.sampled_from(
    [b'{"text": "caf\xe9"}', b"[" * 50_000, b"[1, 2]", b'{"text": 3}', b'{"text": "x"', b"\xff\xfe"]
)
BLANK = st.sampled_from([b"", b"  ", "\u00a0".encode(), b"\t", b"\r"])
LINE = st.one_of(
    good_record(),
    BAD.map(lambda raw: (raw, "bad")),
    BLANK.map(lambda raw: (raw, None)),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(LINE, st.sampled_from([b"\n", b"\r\n"])), max_size=12),
    st.booleans(),
    st.booleans(),
)
def test_jsonl_whole_and_ranges_read_every_record_once(
    lines: list[tuple[tuple[bytes, Document | str | None], bytes]], bom: bool, last_end: bool
) -> None:
    data = b"".join(raw + end for (raw, _), end in lines)
    if lines and not last_end:
        data = data[: -len(lines[-1][1])]
    # A file beginning with a UTF-16 or UTF-32 byte order mark is read in that encoding (the
    # readers' BOM rule), so its lines are no longer these.
    assume(bom or not data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")))
    expected = [(n, want) for n, ((_, want), _) in enumerate(lines, 1) if want is not None]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.jsonl"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        whole = _whole(path, "jsonl") if data or bom else []
        assert len(whole) == len(expected)
        for doc, (number, want) in zip(whole, expected, strict=True):
            if want == "bad":
                assert doc.id == f"p:{number}" and doc.error and f"p.jsonl:{number}: " in doc.error
            else:
                assert isinstance(want, Document)
                if not want.id.strip():  # an empty or blank id is no id: named by its line
                    want = dataclasses.replace(want, id=f"p:{number}", generated_id=True)
                assert doc == want
        for pieces in (2, 3, 7):
            docs, records = _by_ranges(path, "jsonl", pieces)
            assert docs == whole and records == len(whole)


LINE_TEXT = st.text(st.characters(exclude_characters="\n", exclude_categories=("Cs",)), max_size=15)
ENDS = st.sampled_from([b"\n", b"\r\n"])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(LINE_TEXT.map(str.encode), st.just(b"\xff")), ENDS)), st.booleans()
)
def test_lines_whole_and_ranges_agree(lines: list[tuple[bytes, bytes]], bom: bool) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + b"".join(raw + end for raw, end in lines)
    expected: list[str | None] = []
    for raw, end in lines:
        if raw == b"\xff":
            expected.append(None)  # undecodable: a bad record
            continue
        text = (raw + end).decode()
        text = text[:-2] if text.endswith("\r\n") else text[:-1]  # a CR before it stays
        expected.append(text if expected or bom else text.removeprefix("\ufeff"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.txt"
        path.write_bytes(data)
        try:
            whole = _whole(path, "lines")
        except CorpusFormatError as error:  # many NULs and undecodable bytes, see test_corpus
            assert "looks like a binary file" in str(error)
            return
        assert [None if d.error else d.text for d in whole] == expected
        for pieces in (2, 5):
            docs, records = _by_ranges(path, "lines", pieces)
            assert docs == whole and records == len(whole)


def _pieces(data: bytes, sizes: list[int]) -> Callable[[int], bytes]:
    """`read(n)` over `data` that gives pieces of the drawn sizes (at least one byte)."""
    chunks = []
    at = 0
    for size in itertools.cycle(sizes or [len(data) or 1]):
        if at >= len(data):
            break
        chunks.append(data[at : at + size])
        at += size
    stream = iter([*chunks, b""])
    return lambda n: next(stream, b"")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([b"a", b"\n", b"\r", b"\x00"]), st.integers(1, 40)), max_size=30
    ),
    st.integers(1, 60),
    st.lists(st.integers(1, 50), max_size=5),
    st.sampled_from([1, 2]),
)
def test_split_lines_gives_long_lines_as_their_size_and_the_rest_as_they_are(
    runs: list[tuple[bytes, int]], limit: int, sizes: list[int], unit: int
) -> None:
    data = b"".join(byte * n for byte, n in runs)
    newline = b"\n" if unit == 1 else b"\n\x00"
    whole = list(split_lines(_pieces(data, sizes), newline, unit))
    # A line ends in a newline only on a code unit's boundary: b"a\n\x00" in UTF-16 is the
    # units "a\n" and a stray byte, not a line ended by "\n\x00".
    expected = [
        raw
        if len(raw) <= limit
        else LongLine(len(raw), raw.endswith(newline) and (len(raw) - len(newline)) % unit == 0)
        for raw in whole
        if isinstance(raw, bytes)
    ]
    assert list(split_lines(_pieces(data, sizes), newline, unit, limit)) == expected
    assert b"".join(x for x in whole if isinstance(x, bytes)) == data


@pytest.mark.parametrize("fmt", ["jsonl", "lines", "fasttext"])
@pytest.mark.parametrize("pieces", [2, 3, 7])
def test_ranges_read_long_lines_as_the_whole_file_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, pieces: int
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 100)
    path = tmp_path / "long.jsonl"
    path.write_bytes(
        b'{"text": "a"}\n' + b"x" * 500 + b'\n{"text": "b"}\n' + b"y" * 101 + b"\n" + b"z" * 300
    )
    whole = _whole(path, fmt)
    assert [bool(d.error) for d in whole] == [False, True, False, True, True]
    docs, records = _by_ranges(path, fmt, pieces)
    assert docs == whole and records == len(whole)


@pytest.mark.parametrize(("fmt", "encoding"), [("lines", "utf-8"), ("jsonl", "utf-16")])
def test_a_file_of_cr_line_ends_is_cut_at_its_crs_even_where_lfs_come_later(
    tmp_path: Path, fmt: str, encoding: str
) -> None:
    """A file whose first chunk ends its lines with lone CRs has its lines end at each CR
    throughout (told once, from its start); the Dask engine's cuts fell at the LFs it holds
    later, inside records, so a range began mid-record."""
    from topicclf.corpus.lines import CHUNK

    records = []
    for i in range(9000):
        feed = "\n" if i > 6000 else ""
        if fmt == "jsonl":  # in JSON, white space between tokens
            records.append(f'{{"text": "record {i}",{feed} "labels": ["a"]}}')
        else:
            records.append(f"record {i} " + "x" * 40 + (feed and f"{feed}with a line feed"))
    data = "\r".join(records).encode(encoding)
    assert data.find("\n".encode(encoding).removeprefix(b"\xff\xfe")) > CHUNK
    path = tmp_path / f"mac.{fmt}"
    path.write_bytes(data)
    options = dataclasses.replace(REPORT, encoding=encoding)
    whole = _whole(path, fmt, options)
    assert len(whole) == 9000 and not any(d.error for d in whole)
    for pieces in (2, 5):
        docs, records_counted = _by_ranges(path, fmt, pieces, options)
        assert docs == whole and records_counted == 9000
