from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import deadline
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf import config
from topicclf.corpus import detect_format, open_corpus, write_corpus
from topicclf.corpus.base import CorpusOptions, clean_labels
from topicclf.corpus.lines import CHUNK, Line, line_codec, line_end
from topicclf.errors import BadRecordWarning, CorpusFormatError
from topicclf.types import Document


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("tiny.jsonl", "jsonl"),
        ("tiny.csv", "csv"),
        ("tiny.tsv", "tsv"),
        ("tiny.ft", "fasttext"),
        ("txtdir", "txtdir"),
        ("folders", "folders"),
        ("unlabelled.txt", "lines"),
    ],
)
def test_detect_format(data_dir: Path, name: str, fmt: str) -> None:
    assert detect_format(str(data_dir / name)) == fmt
    assert open_corpus(data_dir / name).format == fmt


def test_jsonl(tiny_docs: list[Document]) -> None:
    assert len(tiny_docs) == 40
    assert tiny_docs[8] == Document(
        "t09",
        "Snow forced the organisers to postpone the ski race, and the team flew home early.",
        ("sport", "weather"),
    )


@pytest.mark.parametrize("name", ["tiny.csv", "tiny.tsv", "tiny.ft"])
def test_other_formats_agree_with_jsonl(
    data_dir: Path, tiny_docs: list[Document], name: str
) -> None:
    docs = list(open_corpus(data_dir / name))
    assert [(d.text, d.labels) for d in docs] == [(d.text, d.labels) for d in tiny_docs[:12]]


def test_csv_ids_and_generated_ids(data_dir: Path) -> None:
    assert [d.id for d in open_corpus(data_dir / "tiny.csv")][:2] == ["t01", "t02"]
    assert [d.id for d in open_corpus(data_dir / "tiny.tsv")][:2] == ["tiny:2", "tiny:3"]


def test_txtdir_and_folders(data_dir: Path, tiny_docs: list[Document]) -> None:
    docs = list(open_corpus(data_dir / "txtdir"))
    assert [d.id for d in docs] == ["sub/t05", "sub/t06", "t01", "t02", "t03", "t04"]
    by_id = {d.id: d for d in tiny_docs}
    assert docs[0].labels == by_id["t05"].labels
    assert docs[2].text.strip() == by_id["t01"].text
    folders = list(open_corpus(data_dir / "folders"))
    assert Counter(d.labels[0] for d in folders) == {
        "food": 2,
        "markets": 2,
        "sport": 2,
        "weather": 2,
    }


def test_lines_keep_blank_lines(data_dir: Path) -> None:
    docs = list(open_corpus(data_dir / "unlabelled.txt"))
    assert [d.id for d in docs] == ["unlabelled:1", "unlabelled:2", "unlabelled:3", "unlabelled:4"]
    assert docs[2].text == "" and all(not d.labels for d in docs)


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "labels": ["a"]}\n{"text": "broken"\n')
    with pytest.raises(CorpusFormatError, match=r"bad\.jsonl:2: invalid JSON"):
        list(open_corpus(path))


def test_jsonl_field_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"body": "x"}\n')
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:1: the text field 'text' is missing"):
        list(open_corpus(path))
    assert list(open_corpus(path, text_field="body"))[0].text == "x"
    path.write_text('{"text": null}\n')
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:1: the text field 'text' is null, not"):
        list(open_corpus(path))
    path.write_text('{"text": "x", "labels": "a"}\n')
    with pytest.raises(CorpusFormatError, match="must be a list of strings"):
        list(open_corpus(path))


def test_csv_missing_column_and_ragged_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("body,labels\nhello,a\n")
    with pytest.raises(
        CorpusFormatError, match=r"no 'text' column in the header \(found: body, labels\)"
    ):
        list(open_corpus(path))
    path.write_text("text,labels\nhello,a\nworld,b,extra\n")
    with pytest.raises(
        CorpusFormatError, match=r"c\.csv:3: expected 2 fields as in the header, found 3"
    ):
        list(open_corpus(path))


@pytest.mark.parametrize("sep", [",", "\t"])
def test_an_unclosed_quote_is_one_bad_record_and_the_rows_after_it_are_read(
    tmp_path: Path, sep: str
) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / ("u.csv" if sep == "," else "u.tsv")
    rows = ["id,text", 'c1,"Council budget."', 'c2,"unclosed quote', "c3,Oil prices", "c4,A goal"]
    path.write_text("\n".join(r.replace(",", sep) for r in rows) + "\n")
    # The lenient csv reader took c3 and c4 into c2's text, silently.
    with pytest.warns(BadRecordWarning, match=r"u\.[ct]sv:3: unexpected end of data \(the row"):
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.id, d.text, d.error is not None) for d in docs] == [
        ("c1", "Council budget.", False),
        ("u:3", "", True),
        ("c3", "Oil prices", False),
        ("c4", "A goal", False),
    ]
    # A line it took that cannot be decoded is reported once, at its own line.
    path.write_bytes(b'id,text\nc2,"unclosed\nc3,caf\xe9\nc4,A goal\n'.replace(b",", sep.encode()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.id, d.error and d.error.split(": ", 1)[1][:22]) for d in docs] == [
        ("u:2", "unexpected end of data"),
        ("u:3", "cannot decode the text"),
        ("c4", None),
    ]
    # Text after a closing quote is an error too; the delimiter is named in words.
    path.write_text('id,text\nc1,"a" b\nc2,ok\n'.replace(",", sep))
    expected = "a tab" if sep == "\t" else "','"
    with pytest.warns(BadRecordWarning, match=rf"u\.[ct]sv:2: {expected} expected after"):
        assert [d.id for d in open_corpus(path, on_error="skip")] == ["c2"]


def test_wrong_encoding_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"text": "caf\u00e9", "labels": ["x"]}\n'.encode("latin-1"))
    with pytest.raises(
        CorpusFormatError, match=r"latin\.jsonl:1: cannot decode .* --encoding latin-1"
    ):
        list(open_corpus(path))
    assert list(open_corpus(path, encoding="latin-1"))[0].text == "caf\u00e9"
    assert "\ufffd" in list(open_corpus(path, encoding_errors="replace"))[0].text


def test_backslashreplace_keeps_json_lines_records_with_the_bytes_shown(tmp_path: Path) -> None:
    # Before: the handler wrote \xff into the JSON source, an invalid escape, so every record
    # with a bad byte in a string was "invalid JSON (Invalid \escape)".
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"id": "a\xff", "text": "rain \xff\xfe wind", "labels": ["w\xe9"]}\n'
        b'{"id": "b", "text": "a real \\\\xff and \\u00e9"}\n'
        b'{"id": "c"\xff, "text": "x"}\n'
    )
    with pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(path, encoding_errors="backslashreplace", on_error="report"))
    assert [(d.id, d.text, d.labels) for d in docs[:2]] == [
        ("a\\xff", "rain \\xff\\xfe wind", ("w\\xe9",)),
        ("b", "a real \\xff and \u00e9", ()),
    ]
    # As the lines format shows the same bytes:
    lines = open_corpus(path, format="lines", encoding_errors="backslashreplace")
    assert "rain \\xff\\xfe wind" in next(iter(lines)).text
    # A byte outside any string is no JSON, whatever replaces it.
    assert [str(w.message) for w in caught] == [f"{path}:3: invalid JSON (Expecting ',' delimiter)"]


def test_missing_path_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match="no such file or directory"):
        open_corpus(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusFormatError, match="unknown corpus format 'xml'"):
        open_corpus(tmp_path, format="xml")
    with pytest.raises(CorpusFormatError, match="cannot tell the corpus format"):
        open_corpus(tmp_path)
    with pytest.raises(CorpusFormatError, match="unknown corpus option"):
        open_corpus(tmp_path, format="jsonl", colour="red")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "fasttext"])
def test_writers_round_trip(tmp_path: Path, tiny_docs: list[Document], fmt: str) -> None:
    buffer = io.StringIO()
    assert write_corpus(tiny_docs, buffer, fmt) == 40
    path = tmp_path / f"out.{ {'fasttext': 'ft'}.get(fmt, fmt) }"
    path.write_text(buffer.getvalue())
    back = list(open_corpus(path, format=fmt))
    assert [(d.text, d.labels) for d in back] == [(d.text, d.labels) for d in tiny_docs]


def test_writer_refuses_labels_it_cannot_hold() -> None:
    docs = [Document("1", "text", ("a b",))]
    with pytest.raises(CorpusFormatError, match="contains white space"):
        write_corpus(docs, io.StringIO(), "fasttext")
    with pytest.raises(CorpusFormatError, match="contains the label separator"):
        write_corpus([Document("1", "t", ("a|b",))], io.StringIO(), "csv")
    with pytest.raises(CorpusFormatError, match="document 2: empty and without labels"):
        write_corpus([Document("2", " \n")], io.StringIO(), "fasttext")
    with pytest.raises(CorpusFormatError, match="starts with '__label__'"):
        write_corpus([Document("3", "__label__x is text")], io.StringIO(), "fasttext")
    with pytest.raises(CorpusFormatError, match="cannot write the format 'reuters'"):
        write_corpus(docs, io.StringIO(), "reuters")


@pytest.mark.slow
def test_reuters_modapte_counts(reuters_path: Path) -> None:
    train = list(open_corpus(reuters_path, split="modapte-train"))
    test = list(open_corpus(reuters_path, split="modapte-test"))
    assert (len(train), len(test)) == (7770, 3019)
    train_topics = {t for d in train for t in d.labels}
    assert train_topics == {t for d in test for t in d.labels}
    assert len(train_topics) == 90
    # The one document NLTK's copy lacks (see corpora/reuters21578/README.md).
    doc = next(d for d in train if d.id == "1199")
    assert doc.labels == ("trade",) and doc.text.startswith("ROSTENKOWSKI SAYS")
    assert all(d.text.strip() for d in train + test)


@pytest.mark.slow
def test_reuters_single_label_subsets(reuters_path: Path) -> None:
    r8 = list(open_corpus(reuters_path, split="r8-test"))
    assert (len(list(open_corpus(reuters_path, split="r8-train"))), len(r8)) == (5485, 2189)
    assert {d.labels[0] for d in r8} == {
        "acq",
        "crude",
        "earn",
        "grain",
        "interest",
        "money-fx",
        "ship",
        "trade",
    }
    assert all(len(d.labels) == 1 for d in r8)
    r52_train = list(open_corpus(reuters_path, split="r52-train"))
    r52_test = list(open_corpus(reuters_path, split="r52-test"))
    assert (len(r52_train), len(r52_test)) == (6532, 2568)
    assert len({d.labels[0] for d in r52_train}) == 52


@pytest.mark.slow
def test_reuters_options(reuters_path: Path) -> None:
    everything = list(open_corpus(reuters_path, split="all", categories="places"))
    assert len(everything) == 21578
    assert everything[0].labels == ("el-salvador", "usa", "uruguay")
    with pytest.raises(CorpusFormatError, match="unknown Reuters split 'modapte'"):
        list(open_corpus(reuters_path, split="modapte"))
    with pytest.raises(CorpusFormatError, match="unknown Reuters category field 'authors'"):
        list(open_corpus(reuters_path, categories="authors"))


def test_an_unknown_reuters_split_or_category_is_refused_when_the_corpus_is_opened(
    data_dir: Path, tmp_path: Path
) -> None:
    from topicclf.corpus.sources import open_source, source_options

    # Option values, refused before any reading, whatever the source (before: the reader
    # raised at the first document, which `tag` and `corpus stats` made a bad record).
    with pytest.raises(CorpusFormatError, match=r"^unknown Reuters split 'bogus'; choose one"):
        open_source("reuters:bogus", reuters_location=str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(CorpusFormatError, match=r"^unknown Reuters category field 'x'; choose"):
        open_corpus(data_dir / "tiny.jsonl", categories="x")
    assert source_options("reuters:r8-test", CorpusOptions()).split == "r8-test"


def test_an_unreadable_reuters_archive_says_why_on_one_line(tmp_path: Path) -> None:
    import tarfile

    plain = tmp_path / "x.jsonl"
    plain.write_text('{"text": "oil"}\n')
    # Before: five lines, one per method tarfile tried ("- method gz: ReadError(...)").
    with pytest.raises(
        CorpusFormatError,
        match=r"^\S*x\.jsonl: not a readable tar archive \(method gz: not a gzip file; "
        r"method bz2: not a bzip2 file; method xz: not an lzma file; method tar: [^;\n]*\)$",
    ):
        list(open_corpus(plain, format="reuters"))
    sgml = tmp_path / "reut2-000.sgm"
    sgml.write_text(os.urandom(100_000).hex())  # incompressible: half the archive is cut data
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        tar.add(sgml, arcname="reut2-000.sgm")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    # Before: EOFError, which the command line took for Ctrl-D ("interrupted", exit 130).
    with pytest.raises(
        CorpusFormatError, match=r"cut\.tar\.gz: not a readable tar archive \(Compressed file"
    ):
        list(open_corpus(cut, format="reuters"))
    with pytest.raises(CorpusFormatError, match=r"cut\.tar\.gz: not a Reuters-21578 archive"):
        list(open_corpus(cut))  # nor is it taken for one when the format is detected


def test_bad_records_can_be_reported_or_skipped(tmp_path: Path) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"id": "a", "text": "one"}\n{"id": "b", "text": \n{"id": "c", "text": "two"}\n'
    )
    with pytest.raises(CorpusFormatError, match=r"mixed\.jsonl:2: invalid JSON"):
        list(open_corpus(path))
    with pytest.warns(BadRecordWarning, match=r"mixed\.jsonl:2: invalid JSON"):
        reported = list(open_corpus(path, on_error="report"))
    assert [(d.id, d.text, d.error is not None) for d in reported] == [
        ("a", "one", False),
        ("mixed:2", "", True),
        ("c", "two", False),
    ]
    with pytest.warns(BadRecordWarning):
        assert [d.id for d in open_corpus(path, on_error="skip")] == ["a", "c"]
    ragged = tmp_path / "r.csv"
    ragged.write_text("text,labels\nok,a\nbad,b,c\nfine,d\n")
    with pytest.warns(BadRecordWarning, match=r"r\.csv:3: expected 2 fields"):
        assert [d.text for d in open_corpus(ragged, on_error="skip")] == ["ok", "fine"]


def test_a_nul_byte_in_one_line_is_that_line_s_problem_not_a_binary_file(tmp_path: Path) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / "n.jsonl"
    path.write_bytes(b'{"id": "a", "text": "nul \x00 here"}\n{"id": "b", "text": "Oil"}\n')
    with pytest.warns(
        BadRecordWarning, match=r"n\.jsonl:1: invalid JSON \(Invalid control character\)"
    ):
        assert [d.id for d in open_corpus(path, on_error="skip")] == ["b"]
    lines = tmp_path / "n.txt"
    lines.write_bytes(b"nul \x00 here\nOil prices\n")
    assert [d.text for d in open_corpus(lines)] == ["nul \x00 here", "Oil prices"]
    lines.write_bytes(b"\x00" * 9 + b"\nOil prices\n")  # more NULs than a slip: binary
    with pytest.raises(CorpusFormatError, match=r"n\.txt: looks like a binary file"):
        open_corpus(lines)


def test_binary_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(CorpusFormatError, match=r"model\.bin: looks like a binary file"):
        open_corpus(path)
    utf16 = tmp_path / "wide.txt"
    utf16.write_text("one document\n", encoding="utf-16")
    # UTF-16 text has NUL bytes too: with its encoding named, it reads (the BOM is dropped).
    assert [d.text for d in open_corpus(utf16, encoding="utf-16")] == ["one document"]


# -- properties: arbitrary input either round-trips or raises CorpusFormatError ------------
TEXTS = st.text(max_size=80)
LABELS = st.lists(st.text(max_size=12), max_size=4)
# Ids that are not blank: a blank id is no id, read back as one made up from its line (its
# own tests: test_an_empty_or_blank_id_is_no_id_in_every_reader).
IDS = st.text(min_size=1, max_size=10).filter(str.strip)
DOCS = st.lists(st.builds(Document, IDS, TEXTS, LABELS.map(tuple)), max_size=6)
RAW = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode))
PROPERTY = settings(max_examples=60, deadline=None)


def _write_then_read(docs: list[Document], fmt: str, directory: Path) -> list[Document] | None:
    """Write with the format's writer and read back; None when either refuses the data."""
    buffer = io.StringIO()
    try:
        write_corpus(docs, buffer, fmt)
    except CorpusFormatError:
        return None
    path = directory / f"c.{fmt}"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    try:
        return list(open_corpus(path, format=fmt))
    except CorpusFormatError:
        return None


@PROPERTY
@given(DOCS)
def test_jsonl_round_trips_anything(docs: list[Document]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        back = _write_then_read(docs, "jsonl", Path(tmp))
    assert back == [Document(d.id, d.text, clean_labels(d.labels)) for d in docs]


@PROPERTY
@given(DOCS, st.sampled_from(["csv", "tsv"]))
def test_delimited_round_trips_or_refuses(docs: list[Document], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        back = _write_then_read(docs, fmt, Path(tmp))
    if back is None:
        return
    assert [(d.text, d.labels) for d in back] == [(d.text, clean_labels(d.labels)) for d in docs]
    for read, written in zip(back, docs, strict=True):
        # A blank id is no id (the readers' rule): read back as one made up from its line.
        assert read.id == written.id if written.id.strip() else read.generated_id


@PROPERTY
@given(DOCS)
def test_fasttext_round_trips_or_refuses(docs: list[Document]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        back = _write_then_read(docs, "fasttext", Path(tmp))
    if back is None:
        return
    # fastText has no ids and one line per document: white space runs become one space.
    assert [(d.text, d.labels) for d in back] == [
        (" ".join(d.text.split()), clean_labels(d.labels)) for d in docs
    ]


def test_fasttext_refuses_a_text_a_leading_mark_would_make_a_label() -> None:
    """The reader drops byte order marks leading a line, so "\ufeff__label__x" came back
    as the label x (pass 47): refused as a text starting with __label__ is."""
    for text in ("\ufeff__label__x", "\ufeff\ufeff  __label__x"):
        with pytest.raises(CorpusFormatError, match=r"^document d1: the text starts with '__lab"):
            write_corpus([Document("d1", text, ())], io.StringIO(), "fasttext")


@PROPERTY
@given(
    st.lists(
        st.tuples(TEXTS.filter(lambda t: not set(t) & {"\n", "\r"}), st.booleans()), max_size=6
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_lines_round_trip(items: list[tuple[str, bool]], end: str) -> None:
    # A BOM leading any line is dropped (one only: cat of files saved with one), and a file
    # of lone CR line ends reads a line per CR (pass 44).
    texts = [t if bom else t.removeprefix("\ufeff") for t, bom in items]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.txt"
        content = "".join(("\ufeff" if bom else "") + t + end for t, bom in items)
        path.write_text(content, encoding="utf-8", newline="")
        if sum(t.count("\x00") for t in texts) > 8:  # a few NULs are a line's own business
            return
        back = list(open_corpus(path, format="lines"))
    assert [d.text for d in back] == texts
    assert [d.id for d in back] == [f"c:{i}" for i in range(1, len(texts) + 1)]


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


LINE_SAFE = st.text(max_size=12).filter(lambda t: len(t.splitlines()) <= 1)


@PROPERTY
@given(st.lists(st.tuples(TEXTS, st.lists(LINE_SAFE, max_size=3)), max_size=5))
def test_txtdir_round_trips(items: list[tuple[str, list[str]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, (text, labels) in enumerate(items):
            (root / f"d{i}.txt").write_text(text, encoding="utf-8", newline="")
            (root / f"d{i}.labels").write_text("\n".join(labels), encoding="utf-8")
        back = list(open_corpus(root, format="txtdir"))
    assert [(d.id, d.text, d.labels) for d in back] == [
        (f"d{i}", _newlines(text), clean_labels(labels)) for i, (text, labels) in enumerate(items)
    ]


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["a", "b b", "ç"]), TEXTS), max_size=5))
def test_folders_round_trip(items: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, (label, text) in enumerate(items):
            (root / label).mkdir(exist_ok=True)
            (root / label / f"{i:02d}").write_text(text, encoding="utf-8", newline="")
        back = list(open_corpus(root, format="folders"))
    expected = sorted(
        (f"{label}/{i:02d}", _newlines(text), (label,)) for i, (label, text) in enumerate(items)
    )
    assert [(d.id, d.text, d.labels) for d in back] == expected


@PROPERTY
@given(st.lists(st.tuples(TEXTS, st.lists(st.text("abcxyz-", min_size=1), max_size=3))))
def test_reuters_sgml_round_trips_generated_records(items: list[tuple[str, list[str]]]) -> None:
    records = "".join(
        f'<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="{i}"><TOPICS>'
        + "".join(f"<D>{t}</D>" for t in topics)
        + f"</TOPICS><TEXT><BODY>{html.escape(text)}</BODY></TEXT></REUTERS>\n"
        for i, (text, topics) in enumerate(items)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reut2-000.sgm"
        path.write_bytes(records.encode("utf-8"))
        try:
            back = list(open_corpus(path, format="reuters", encoding="utf-8-sig"))
        except CorpusFormatError:
            assert not items
            return
    assert [(d.id, d.labels) for d in back] == [
        (str(i), clean_labels(topics)) for i, (_, topics) in enumerate(items)
    ]
    for doc, (text, _) in zip(back, items, strict=True):
        assert doc.text == re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text).strip()


@PROPERTY
@given(RAW, st.sampled_from(["jsonl", "csv", "tsv", "fasttext", "lines", "reuters"]))
def test_any_bytes_give_documents_or_corpus_format_error(raw: bytes, fmt: str) -> None:
    name = "reut2-000.sgm" if fmt == "reuters" else f"c.{fmt}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        try:
            docs = list(open_corpus(path, format=fmt))
        except CorpusFormatError:
            return
    assert all(isinstance(d.text, str) and all(d.labels) for d in docs)


@PROPERTY
@given(RAW, RAW, st.sampled_from(["txtdir", "folders"]))
def test_any_bytes_in_directories_give_documents_or_corpus_format_error(
    text: bytes, labels: bytes, fmt: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "topic").mkdir()
        (root / "topic" / "d.txt").write_bytes(text)
        (root / "topic" / "d.labels").write_bytes(labels)
        try:
            docs = list(open_corpus(root, format=fmt))
        except CorpusFormatError:
            return
    assert docs and all(isinstance(d.text, str) for d in docs)


# -- one splitter, one blank rule, one bad-record rule ---------------------------------------
def _report(path: Path, **options: object) -> list[Document]:
    import warnings

    from topicclf.errors import BadRecordWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadRecordWarning)
        return list(open_corpus(path, on_error="report", **options))


def test_lines_end_at_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(b"one\rstill one\r\ntwo\n\xc2\xa0\nlast")
    docs = list(open_corpus(path, format="lines"))
    assert [(d.id, d.text) for d in docs] == [
        ("c:1", "one\rstill one"),
        ("c:2", "two"),
        ("c:3", "\u00a0"),
        ("c:4", "last"),
    ]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_bytes(b'{"text": "a"}\r{"text": "b"}\n\xc2\xa0\xc2\xa0\n{"text":\r"c"}\r\n')
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:1: invalid JSON \(Extra data\)"):
        list(open_corpus(jsonl))
    # The NBSP-only line is blank (skipped); a CR between JSON tokens is white space.
    assert [(d.id, d.text, bool(d.error)) for d in _report(jsonl)] == [
        ("c:1", "", True),
        ("c:3", "c", False),
    ]


def test_undecodable_line_is_a_bad_record_at_its_own_line(tmp_path: Path) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n{"text": "fine"}\n')
    with pytest.warns(BadRecordWarning, match=r"c\.jsonl:2: cannot decode the text as utf-8"):
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.text, bool(d.error)) for d in docs] == [("ok", False), ("", True), ("fine", False)]
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes(b'text,labels\nok,a\n"caf\xe9\nmore",b\nfine,c\n')
    with pytest.raises(CorpusFormatError, match=r"c\.csv:3: cannot decode the text as utf-8"):
        list(open_corpus(csv_path))
    docs = _report(csv_path)
    assert [(d.text, bool(d.error)) for d in docs] == [("ok", False), ("", True), ("fine", False)]


def test_one_record_never_kills_the_stream(tmp_path: Path) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b'{"id": "a", "text": "one"}\n'
        + b"[" * 100_000
        + b"\n"
        + b'{"id": '
        + b"1" * 5000
        + b', "text": "two"}\n'
        + b'{"id": "\\ud800", "text": "x\\udc00y"}\n'
        + b'{"id": [1], "text": "three"}\n'
        + b'{"id": "z", "text": "four"}\n'
    )
    with pytest.raises(CorpusFormatError, match=r"c\.jsonl:2: the record is nested too deeply"):
        list(open_corpus(path))
    expected = [r"c\.jsonl:2: the record is nested too deeply", r"c\.jsonl:5: the id field 'id'"]
    with pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(path, on_error="report"))
    assert all(re.search(e, str(w.message)) for e, w in zip(expected, caught, strict=True))
    assert [(d.id, d.text, bool(d.error)) for d in docs] == [
        ("a", "one", False),
        ("c:2", "", True),
        ("1" * 5000, "two", False),  # a huge integer id keeps its digits
        ("\ufffd", "x\ufffdy", False),  # lone surrogates become U+FFFD
        ("c:5", "", True),
        ("z", "four", False),
    ]
    with pytest.warns(BadRecordWarning) as caught:
        assert [d.id for d in open_corpus(path, on_error="skip")] == [
            "a",
            "1" * 5000,
            "\ufffd",
            "z",
        ]
    assert all(re.search(e, str(w.message)) for e, w in zip(expected, caught, strict=True))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "fasttext"])
def test_writers_replace_lone_surrogates(tmp_path: Path, fmt: str) -> None:
    docs = [Document("\ud800id", "text \udfff here", ("lab\ud801el",))]
    buffer = io.StringIO()
    assert write_corpus(docs, buffer, fmt) == 1
    written = buffer.getvalue()
    written.encode("utf-8")  # strict: would fail on a surrogate
    assert "text \ufffd here" in written and "lab\ufffdel" in written


def test_csv_rows_end_at_a_lone_cr_outside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b'text,labels\rone,a\r"two\rlines",b\r\nthree,c\n')
    docs = list(open_corpus(path))
    assert [(d.text, d.labels) for d in docs] == [
        ("one", ("a",)),
        ("two\rlines", ("b",)),
        ("three", ("c",)),
    ]


def test_csv_fields_of_any_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big = "word " * 400_000  # 2 MB, far above csv's default 128 KiB field limit
    path.write_text(f'id,text,labels\nd1,"{big}",a\n')
    assert [(d.id, len(d.text)) for d in open_corpus(path)] == [("d1", len(big))]


@pytest.mark.parametrize(
    ("name", "content", "first"),
    [
        ("excel.csv", "id,text,labels\r\nd1,hello,a\r\n", ("d1", "hello", ("a",))),
        ("c.jsonl", '{"id": "d1", "text": "hello"}\n', ("d1", "hello", ())),
        ("c.ft", "__label__a hello\n", ("c:1", "hello", ("a",))),
        ("c.txt", "hello\n", ("c:1", "hello", ())),
    ],
)
def test_utf8_bom_is_dropped(tmp_path: Path, name: str, content: str, first: tuple) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    doc = next(iter(open_corpus(path)))
    assert (doc.id, doc.text, doc.labels) == first


@pytest.mark.parametrize(
    ("name", "head", "content", "second"),
    [
        ("c.csv", "id,text,labels\n", "d0,rain,a\n", ("d0", "rain", ("a",))),
        ("c.jsonl", "", '{"id": "d0", "text": "rain", "labels": ["a"]}\n', ("d0", "rain", ("a",))),
        ("c.ft", "", "__label__a rain\n", ("c:2", "rain", ("a",))),
        ("c.txt", "", "rain\n", ("c:2", "rain", ())),
    ],
)
def test_a_bom_leading_a_line_within_a_file_is_dropped(
    tmp_path: Path, name: str, head: str, content: str, second: tuple
) -> None:
    """Attacker pass 44, CLI 2: `cat a.jsonl b.jsonl`, b saved with a BOM, left one where b
    began: fastText read that record's labels as words (no topic, no warning), JSON Lines
    refused it ("decode using utf-8-sig", which --encoding utf-8-sig did not mend) and CSV
    kept the mark in its id. Every reader drops it, as at a file's start."""
    path = tmp_path / name
    first = content.replace("d0", "d9").replace("rain", "snow")
    path.write_bytes((head + first).encode() + b"\xef\xbb\xbf" + content.encode())
    docs = list(open_corpus(path))
    assert len(docs) == 2
    assert (docs[1].id, docs[1].text, docs[1].labels) == second


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize(
    ("name", "content", "first"),
    [
        ("d.jsonl", '{"id": "d0", "text": "rain", "labels": ["a"]}\n', ("d0", "rain", ("a",))),
        ("d.ft", "__label__a rain\n", ("d:1", "rain", ("a",))),
        ("d.csv", "id,text,labels\nd0,rain,a\n", ("d0", "rain", ("a",))),
        ("d.txt", "rain\n", ("d:1", "rain", ())),
    ],
)
def test_marks_doubled_at_a_file_s_start_are_all_dropped(
    tmp_path: Path, encoding: str, name: str, content: str, first: tuple
) -> None:
    """Attacker pass 45, CLI 2: `cat` of an empty file saved "with BOM" and one with a BOM
    made two marks on line 1, and one stayed: JSON Lines refused the record, fastText lost
    its topics and CSV its id column, silently (UTF-16 alike, its hint "utf-8-sig")."""
    path = tmp_path / name
    mark = "\ufeff".encode(encoding)
    path.write_bytes(mark + mark + content.encode(encoding))
    docs = list(open_corpus(path))  # the first mark names the encoding
    assert [(d.id, d.text, d.labels, d.error) for d in docs] == [(*first, None)]


@pytest.mark.parametrize(
    ("name", "head", "record", "first"),
    [
        ("c.csv", "id,text,labels\r", "d{i},rain {i},a\r", ("d0", ("a",))),
        ("c.tsv", "id\ttext\tlabels\r", "d{i}\train {i}\ta\r", ("d0", ("a",))),
        ("c.jsonl", "", '{{"id": "d{i}", "text": "rain {i}", "labels": ["a"]}}\r', ("d0", ("a",))),
        ("c.ft", "", "__label__a rain {i}\r", ("c:1", ("a",))),
        ("c.txt", "", "rain {i}\r", ("c:1", ())),
    ],
)
def test_a_file_of_lone_cr_line_ends_reads_a_record_a_line(
    tmp_path: Path, name: str, head: str, record: str, first: tuple
) -> None:
    """Attacker pass 44, CLI 1: a file whose only line ends are CRs (classic Mac, `tr '\\n'
    '\\r'`) was one document to fastText and plain lines (600 records -> 1, exit 0, no
    warning) and one bad record to JSON Lines, while CSV ended rows at each CR."""
    path = tmp_path / name
    path.write_text(head + "".join(record.format(i=i) for i in range(5)), newline="")
    docs = list(open_corpus(path, "lines" if name.endswith(".txt") else None))
    assert [d.text for d in docs] == [f"rain {i}" for i in range(5)]
    assert (docs[0].id, docs[0].labels) == first
    # In a file of LF line ends a lone CR stays in its line, as the README says.
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"rain\rhail\nsnow\n")
    assert [d.text for d in open_corpus(mixed, "lines")] == ["rain\rhail", "snow"]


def test_lone_cr_line_ends_on_stdin_in_utf16_and_past_a_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line end is told from the first chunk, for stdin and UTF-16 too; a file of CR
    line ends longer than a chunk stays so after it; a BOM then leads no document."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"one\rtwo\r\rthree")))
    assert [(d.id, d.text) for d in open_corpus("-", format="lines")] == [
        ("stdin:1", "one"),
        ("stdin:2", "two"),
        ("stdin:3", ""),
        ("stdin:4", "three"),
    ]
    wide = tmp_path / "w.txt"
    wide.write_bytes("\ufeffrain\rsnow\r".encode("utf-16-le"))
    assert [d.text for d in open_corpus(wide, "lines", encoding="utf-16")] == ["rain", "snow"]
    many = tmp_path / "m.txt"
    lines = [f"\ufefftext number {i}" for i in range(CHUNK // 10)]
    many.write_text("\r".join(lines), encoding="utf-8", newline="")
    docs = list(open_corpus(many, "lines"))
    assert len(docs) == len(lines)
    assert docs[-1].text == lines[-1][1:]


def test_a_byte_range_of_a_lone_cr_file_ends_lines_at_cr(tmp_path: Path) -> None:
    """A range's line end is its file's (told from the start), so the Dask engine's ranges
    read the lines the whole file gives."""
    from topicclf.corpus.ranges import count_range, plan_cuts, read_range

    path = tmp_path / "c.ft"
    path.write_bytes(b"".join(b"__label__a rain %d\r" % i for i in range(6)))
    options = CorpusOptions()
    # Cut at its CRs, where its reader ends lines (a file of no LF was one range).
    assert plan_cuts(str(path), 3, options) == [0, 36, 72, 108]
    start = len(b"__label__a rain 0\r__label__a rain 1\r")
    docs = list(read_range(str(path), "fasttext", start, None, 3, options))
    assert [(d.id, d.text, d.labels) for d in docs] == [
        (f"c:{i + 1}", f"rain {i}", ("a",)) for i in range(2, 6)
    ]
    assert count_range(str(path), "fasttext", start, None, options) == (4, 4)


def test_the_line_end_is_told_from_a_chunk_not_a_cut_crlf() -> None:
    """A CR ending a full chunk may be half a CRLF cut by the read: no lone CR then."""
    codec = line_codec(CorpusOptions())
    assert line_end(b"x" * (CHUNK - 1) + b"\r", codec, False) == b"\n"
    assert line_end(b"a\rb", codec, False) is None  # a pipe's first write: read on
    assert line_end(b"a\rb", codec, True) == b"\r"
    assert line_end(b"a\rb\r\nc", codec, False) == b"\n"
    assert line_end(b"x" * CHUNK, codec, False) == b"\n"


def test_stdin_uses_the_same_splitter(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    data = b"\xef\xbb\xbfone\rsame\r\n\xc2\xa0\nbad \xff\nlast"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    docs = _report(Path("-"))
    assert [(d.id, d.text, bool(d.error)) for d in docs] == [
        ("stdin:1", "one\rsame", False),
        ("stdin:2", "\u00a0", False),
        ("stdin:3", "", True),
        ("stdin:4", "last", False),
    ]


def test_fasttext_labels_are_the_leading_label_tokens(tmp_path: Path) -> None:
    path = tmp_path / "c.ft"
    path.write_text("__label__a\t__label__b  the text about __label__c stays\n__label__x\n")
    docs = list(open_corpus(path))
    assert [(d.text, d.labels) for d in docs] == [
        ("the text about __label__c stays", ("a", "b")),
        ("", ("x",)),
    ]


def test_reuters_unclosed_tags_are_linear_and_truncation_is_warned(tmp_path: Path) -> None:
    import time

    from topicclf.errors import TruncatedDocumentWarning

    path = tmp_path / "reut2-000.sgm"
    doc = '<REUTERS NEWID="{}"><TOPICS><D>acq</D></TOPICS><TEXT><BODY>text {}</BODY></TEXT>'
    path.write_text(
        "".join(doc.format(i, i) + "</REUTERS>\n" for i in range(3))
        + doc.format(3, 3)  # cut off before </REUTERS>
    )
    with pytest.warns(
        TruncatedDocumentWarning,
        match=r"reut2-000\.sgm: 1 <REUTERS> document\(s\) without </REUTERS> \(NEWID 3\)",
    ):
        docs = list(open_corpus(path, format="reuters"))
    assert [(d.id, d.text, d.labels) for d in docs][-1] == ("3", "text 3", ("acq",))
    # Thousands of unclosed tags took quadratic time (73 s for 720 KB).
    path.write_text('<REUTERS NEWID="1"><TEXT><BODY>x' * 40_000 + "<D><BODY>" * 40_000)
    started = time.perf_counter()
    with pytest.warns(TruncatedDocumentWarning, match=r"40000 <REUTERS> document\(s\)"):
        assert len(list(open_corpus(path, format="reuters"))) == 40_000
    assert time.perf_counter() - started < 20


def test_bad_encoding_options_fail_when_opening(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "x"}\n')
    with pytest.raises(CorpusFormatError, match=r"unknown text encoding 'bogus' \(--encoding\)"):
        open_corpus(path, encoding="bogus")
    with pytest.raises(CorpusFormatError, match=r"unknown text encoding 'base64' \(--encoding\)"):
        open_corpus(path, encoding="base64")
    with pytest.raises(CorpusFormatError, match=r"unknown --encoding-errors 'surrogateescape'"):
        open_corpus(path, encoding_errors="surrogateescape")
    # Domain-name transforms raise a bare UnicodeError on text (before: internal errors).
    for codec, errors, why in [
        ("punycode", "strict", "UnicodeError: incomplete punicode string"),
        ("punycode", "replace", "plain text read back as other text"),
        ("idna", "strict", "UnicodeError: .*label empty or too long.*"),
        ("idna", "replace", "UnicodeError: .*label empty or too long.*"),
    ]:
        with pytest.raises(
            CorpusFormatError,
            match=rf"unknown text encoding '{codec}' \(--encoding\): it cannot read a text "
            rf"file a piece at a time \({why}\); use a text encoding",
        ):
            open_corpus(path, "lines", encoding=codec, encoding_errors=errors)
    # Text encodings that are not ASCII-compatible pass the same check, and read.
    for codec in ("utf-16", "cp500", "utf-7", "unicode_escape", "iso2022_jp", "cp864"):
        path.write_text('{"text": "x y"}\n', encoding=codec)
        assert [d.text for d in open_corpus(path, "jsonl", encoding=codec)] == ["x y"]


def test_format_for_suffix() -> None:
    from topicclf.corpus import format_for_suffix

    assert [format_for_suffix(n) for n in ["a.JSONL", "a.ndjson", "b.csv", "c.tsv"]] == [
        "jsonl",
        "jsonl",
        "csv",
        "tsv",
    ]
    assert format_for_suffix("d.ft") == format_for_suffix("d.fasttext") == "fasttext"
    assert format_for_suffix("e.txt") is None and format_for_suffix("noext") is None


@PROPERTY
@given(
    st.lists(st.text("abc xyz", min_size=1, max_size=8), min_size=1, max_size=8),
    st.data(),
)
def test_one_broken_quote_costs_one_record(texts: list[str], data: st.DataObject) -> None:
    broken = data.draw(st.integers(0, len(texts) - 1))
    lines = [f'd{i},"{t}"' if i != broken else f'd{i},"{t}' for i, t in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.csv"
        path.write_text("id,text\n" + "\n".join(lines) + "\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            docs = list(open_corpus(path, on_error="report"))
    assert [d.id for d in docs] == [
        f"d{i}" if i != broken else f"q:{i + 2}" for i in range(len(texts))
    ]
    assert [d.text for d in docs if d.error is None] == [
        t for i, t in enumerate(texts) if i != broken
    ]


def test_rows_that_each_run_to_the_end_are_read_again_within_a_bound(tmp_path: Path) -> None:
    from topicclf.corpus import delimited

    # Each line leaves a quote open whether it starts a row or continues one: every row runs
    # to the end of the file. Read again without a bound, that is quadratic.
    n = 3000
    path = tmp_path / "q.csv"
    path.write_text("id,text\n" + 'a","""c\n' * n)
    fed: list[int] = []
    real = delimited._Feed._next_lines

    def counted(self: delimited._Feed) -> Iterator[Line]:
        for line in real(self):
            fed.append(line.number)
            yield line

    with warnings.catch_warnings(), pytest.MonkeyPatch.context() as patch:
        warnings.simplefilter("ignore")
        patch.setattr(delimited._Feed, "_next_lines", counted)
        docs = list(open_corpus(path, on_error="report"))
    assert len(docs) == n and all(d.error for d in docs)
    assert [d.id for d in docs] == [f"q:{i}" for i in range(2, n + 2)]
    assert len(fed) <= 3 * (n + 1) + delimited.REREAD_SLACK  # linear, not n * n / 2


def test_a_row_is_named_by_the_line_it_begins_on(tmp_path: Path) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / "ml.csv"
    path.write_text('text,labels\n"multi\nline\nrow",x\nok,y\n"two\nlines",a,extra\n')
    with pytest.warns(BadRecordWarning, match=r"ml\.csv:6: expected 2 fields"):
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.id, d.error is None) for d in docs] == [
        ("ml:2", True),
        ("ml:5", True),
        ("ml:6", False),
    ]
    header = tmp_path / "h.csv"
    header.write_text('id,"text,labels\na1,oil,energy\na2,rain,weather\n')
    with pytest.raises(
        CorpusFormatError, match=r"h\.csv:1: unexpected end of data \(in the header"
    ):
        list(open_corpus(header))


def test_every_format_is_one_record_and_the_tables_are_its_views() -> None:
    from topicclf.corpus import FORMAT_HELP, FORMATS, LINE_FORMATS, READERS, SUFFIX_FORMATS, WRITERS

    assert list(READERS) == list(FORMAT_HELP) == list(FORMATS)
    assert set(WRITERS) <= set(FORMATS) and set(LINE_FORMATS) <= set(FORMATS)
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.help and READERS[name] is fmt.reader
        assert all(SUFFIX_FORMATS[s] == name for s in fmt.suffixes)
    # Byte ranges split text files; a format read in ranges is a text file.
    assert all(FORMATS[name].text_file for name in LINE_FORMATS)


@pytest.mark.parametrize(
    "name", ["tiny.jsonl", "tiny.csv", "tiny.tsv", "tiny.ft", "unlabelled.txt"]
)
def test_gzip_compressed_corpora_are_read_by_suffix_as_the_plain_file(
    data_dir: Path, tmp_path: Path, name: str
) -> None:
    import gzip

    packed = tmp_path / f"{name}.GZ"  # any case
    packed.write_bytes(gzip.compress((data_dir / name).read_bytes()))
    assert detect_format(str(packed)) == detect_format(str(data_dir / name))
    assert list(open_corpus(packed)) == list(open_corpus(data_dir / name))


def test_a_damaged_or_truncated_gzip_corpus_is_named_not_an_internal_error(
    data_dir: Path, tmp_path: Path
) -> None:
    import gzip

    packed = gzip.compress((data_dir / "tiny.jsonl").read_bytes())
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CorpusFormatError, match=r"cut\.jsonl\.gz: not a readable gzip file"):
        list(open_corpus(truncated))
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text('{"text": "not compressed at all", "labels": []}\n')
    with pytest.raises(CorpusFormatError, match=r"fake\.jsonl\.gz: not a readable gzip file"):
        list(open_corpus(fake))


@settings(max_examples=40, deadline=None)
@given(
    documents=st.integers(0, 400),
    garbage=st.binary(min_size=1, max_size=64),
    truncate=st.booleans(),
)
def test_a_damaged_gzip_is_its_bad_record_however_large(
    documents: int, garbage: bytes, truncate: bool
) -> None:
    """Opening never fails on damage in a .gz (the head read to tell its format and check
    for binary stops there); reading gives every document before the damage, then the
    source's bad record. Before: trailing garbage or a cut within the first 8 KiB of text
    failed at open (the whole `tag` run, an earlier input's documents lost), and further
    on it was a bad record."""
    import gzip

    from topicclf.errors import BadRecordWarning

    plain = "".join(f'{{"id": "d{i}", "text": "oil {i}"}}\n' for i in range(documents))
    packed = gzip.compress(plain.encode())
    data = packed[: len(packed) - len(garbage) % 9 - 1] if truncate else packed + garbage
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.jsonl.gz"
        path.write_bytes(data)
        reported = open_corpus(path, on_error="report")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BadRecordWarning)
            docs = list(reported)
    good = [d for d in docs if d.error is None]
    assert [d.id for d in good] == [f"d{i}" for i in range(len(good))]
    assert all(
        d.error and "x.jsonl.gz: not a readable gzip file" in d.error for d in docs[len(good) :]
    )
    assert len(docs) - len(good) <= 1
    if not truncate:
        assert len(good) == documents  # all of them, however short the file


def test_trailing_garbage_in_a_small_gzip_is_a_bad_record_after_its_documents(
    tmp_path: Path,
) -> None:
    import gzip

    from topicclf.errors import BadRecordWarning

    path = tmp_path / "g.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a", "text": "oil"}\n') + b"GARBAGE")
    corpus = open_corpus(path, on_error="report")  # before: raised here
    with pytest.warns(
        BadRecordWarning, match=r"g\.jsonl\.gz: not a readable gzip file \(Not a gzipped file"
    ):
        docs = list(corpus)
    assert [(d.id, bool(d.error)) for d in docs] == [("a", False), ("g", True)]
    with pytest.raises(CorpusFormatError, match=r"g\.jsonl\.gz: not a readable gzip file"):
        list(open_corpus(path))


def test_a_gzip_corpus_is_one_byte_range(data_dir: Path, tmp_path: Path) -> None:
    import gzip

    from topicclf.corpus import plan_cuts, read_range

    packed = tmp_path / "tiny.jsonl.gz"
    packed.write_bytes(gzip.compress((data_dir / "tiny.jsonl").read_bytes()))
    cuts = plan_cuts(str(packed), 4)
    assert len(cuts) == 2 and cuts[0] == 0
    docs = list(read_range(str(packed), "jsonl", cuts[0], cuts[1], 1, CorpusOptions()))
    assert docs == list(open_corpus(data_dir / "tiny.jsonl"))
    with pytest.raises(CorpusFormatError, match="compressed file cannot be read by byte ranges"):
        list(read_range(str(packed), "jsonl", 10, None, 2, CorpusOptions()))


@PROPERTY
@given(DOCS)
def test_gzip_jsonl_round_trips_anything(docs: list[Document]) -> None:
    import gzip

    buffer = io.StringIO()
    write_corpus(docs, buffer, "jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl.gz"
        path.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8")))
        back = list(open_corpus(path))
    assert back == [Document(d.id, d.text, clean_labels(d.labels)) for d in docs]


def test_a_txt_file_read_a_line_at_a_time_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import topicclf.corpus
    from topicclf.cli import run

    monkeypatch.setattr(topicclf.corpus, "_NOTED_LINES", set())
    story = tmp_path / "story0.txt"
    story.write_text("The council voted to cut\nthe museum's budget by half.\n", encoding="utf-8")
    one = tmp_path / "one.txt"
    one.write_text("One line only.\n", encoding="utf-8")
    with pytest.warns(
        UserWarning, match=r"story0.txt is read as one document per line; .*--format text"
    ):
        assert len(list(open_corpus(story))) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(open_corpus(story))  # once per process
        list(open_corpus(story, format="lines"))  # asked for: no note
    monkeypatch.setattr(topicclf.corpus, "_NOTED_LINES", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(open_corpus(one))  # one line: nothing to say
    model = tmp_path / "model"
    assert (
        run(["-q", "train", str(Path(__file__).parent / "data" / "tiny.jsonl"), "-o", str(model)])
        == 0
    )
    capsys.readouterr()
    assert run(["tag", str(model), str(story), str(story)]) == 0
    err = capsys.readouterr().err
    assert err.count("is read as one document per line") == 1
    assert run(["tag", str(model), "--format", "text", str(story)]) == 0
    captured = capsys.readouterr()
    assert "per line" not in captured.err and captured.out.startswith('{"id": "story0",')


@pytest.mark.parametrize("separator", ["", " ", "\t;"])
def test_a_label_separator_of_white_space_or_nothing_is_refused(
    separator: str, data_dir: Path
) -> None:
    with pytest.raises(CorpusFormatError, match="must be one or more characters"):
        open_corpus(data_dir / "tiny.csv", label_separator=separator)


# -- sources that fail while they are read ----------------------------------------------------
def _quiet(docs: Iterator[Document]) -> list[Document]:
    from topicclf.errors import BadRecordWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadRecordWarning)
        return list(docs)


@pytest.mark.parametrize("fmt", ["txtdir", "folders"])
def test_a_file_removed_while_a_directory_is_read_is_that_file_s_bad_record(
    tmp_path: Path, fmt: str
) -> None:
    from topicclf.errors import BadRecordWarning

    root = tmp_path / "docs"
    folder = root / "topic" if fmt == "folders" else root
    folder.mkdir(parents=True)
    for name in "abc":
        (folder / f"{name}.txt").write_text(f"text {name}")
    stream = iter(open_corpus(root, format=fmt, on_error="report"))
    first = next(stream)
    (folder / "b.txt").unlink()  # after the listing, before it is read
    with pytest.warns(BadRecordWarning, match=r"b\.txt: no such file \(it was removed after"):
        rest = list(stream)
    assert [d.text for d in [first, *rest]] == ["text a", "", "text c"]
    assert rest[0].error and not rest[1].error
    stream = iter(open_corpus(root, format=fmt))
    next(stream)
    (folder / "c.txt").unlink()
    with pytest.raises(CorpusFormatError, match=r"c\.txt: no such file \(it was removed"):
        list(stream)


def test_a_file_made_unreadable_while_a_directory_is_read_is_that_file_s_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in "abc":
        (tmp_path / f"{name}.txt").write_text(f"text {name}")
    from topicclf.corpus import directory

    real = directory.open_regular_bytes

    def refuse(path: str) -> Any:
        if Path(path).name == "b.txt":  # the OS refusal, even for root
            raise PermissionError(13, "Permission denied", path)
        if Path(path).name == "c.txt":
            raise OSError(5, "Input/output error", path)
        return real(path)

    monkeypatch.setattr(directory, "open_regular_bytes", refuse)
    docs = _quiet(open_corpus(tmp_path, format="txtdir", on_error="report"))
    assert [(d.id, d.error) for d in docs] == [
        ("a", None),
        ("b", f"{tmp_path / 'b.txt'}: permission denied"),
        ("c", f"{tmp_path / 'c.txt'}: cannot be read (Input/output error)"),
    ]


@pytest.mark.parametrize("name", ["gone.jsonl", "gone.csv", "gone.txt", "gone.ft"])
def test_a_source_removed_after_it_was_opened_is_one_bad_record(tmp_path: Path, name: str) -> None:
    from topicclf.errors import BadRecordWarning

    path = tmp_path / name
    path.write_text("text\n")
    reported, strict = open_corpus(path, on_error="report"), open_corpus(path)
    path.unlink()
    with pytest.warns(BadRecordWarning, match=rf"{re.escape(name)}: no such file or directory"):
        docs = list(reported)
    assert [(d.id, d.text, bool(d.error)) for d in docs] == [("gone", "", True)]
    with pytest.raises(CorpusFormatError, match=rf"{re.escape(name)}: no such file or directory"):
        list(strict)


@pytest.mark.parametrize("fmt", ["txtdir", "folders"])
def test_a_directory_removed_after_it_was_opened_is_said_to_be_missing(
    tmp_path: Path, fmt: str
) -> None:
    # Before: `gone: not a directory`, as if a file were there (tag DIR, removed while an
    # earlier input was read).
    import shutil

    from topicclf.errors import BadRecordWarning

    gone = tmp_path / "gone"
    (gone / "sport").mkdir(parents=True)
    (gone / "sport" / "a.txt").write_text("the team won")
    reported = open_corpus(gone, format=fmt, on_error="report")
    strict = open_corpus(gone, format=fmt)
    shutil.rmtree(gone)
    with pytest.warns(BadRecordWarning, match=r"gone: no such file or directory$"):
        assert [bool(d.error) for d in reported] == [True]
    with pytest.raises(CorpusFormatError, match=r"gone: no such file or directory$"):
        list(strict)
    gone.write_text("a file now")
    with pytest.raises(CorpusFormatError, match=r"gone: not a directory$"):
        list(open_corpus(gone, format=fmt))


def test_a_source_that_fails_part_way_keeps_what_it_gave(tmp_path: Path) -> None:
    from topicclf.corpus.base import Corpus

    def failing(path: str, options: CorpusOptions) -> Iterator[Document]:
        yield Document("one", "text")
        raise OSError(5, "Input/output error", path)

    docs = _quiet(Corpus("disk.jsonl", "jsonl", CorpusOptions(on_error="report"), failing))
    assert [(d.id, d.error) for d in docs] == [
        ("one", None),
        ("disk", "disk.jsonl: cannot be read (Input/output error)"),
    ]
    assert [
        d.id for d in _quiet(Corpus("d", "jsonl", CorpusOptions(on_error="skip"), failing))
    ] == ["one"]


# -- Parquet: typed columns, and files that are not Parquet ------------------------------------
@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("text", [5, 6], r"the text column 'text' has the type int64, not a string"),
        ("text", [b"wheat prices", b"x"], r"the text column 'text' has the type binary, not a"),
        ("text", [None, None], r"the text column 'text' has the type null, not a string"),
        ("labels", [[1], [2]], r"the labels column 'labels' has the type list<element: int64>"),
        ("labels", [1.5, 2.5], r"the labels column 'labels' has the type double, not a string"),
        ("id", [1.5, 2.5], r"the id column 'id' has the type double, not a string or an integer"),
        ("id", [[1], [2]], r"the id column 'id' has the type list<element: int64>"),
    ],
)
def test_parquet_columns_of_the_wrong_type_are_refused_by_name(
    tmp_path: Path, column: str, values: list, message: str
) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    columns = {"text": ["wheat prices", "rain"], column: values}
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(CorpusFormatError, match=rf"typed\.parquet: {message}.*--{column}-field"):
        list(open_corpus(path))


def test_parquet_columns_of_every_usable_type_are_read(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table(
        {
            "text": pa.array(["wheat prices", "rain"], pa.large_string()),
            "labels": pa.array(["grain|trade", None]),
            "id": pa.array([7, None], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "a.parquet")
    docs = list(open_corpus(tmp_path / "a.parquet"))
    assert [(d.id, d.text, d.labels) for d in docs] == [
        ("7", "wheat prices", ("grain", "trade")),
        ("a:2", "rain", ()),
    ]
    table = pa.table(
        {
            "text": pa.array(["x", "y"]).dictionary_encode(),  # a pandas category
            "labels": pa.array([["a"], []], pa.large_list(pa.string())),
            "id": ["i", "j"],
        }
    )
    pq.write_table(table, tmp_path / "b.parquet")
    assert [(d.id, d.text, d.labels) for d in open_corpus(tmp_path / "b.parquet")] == [
        ("i", "x", ("a",)),
        ("j", "y", ()),
    ]


def test_a_parquet_fixed_size_list_of_strings_is_read_as_a_list(tmp_path: Path) -> None:
    # Pass 46: `pa.list_(pa.string(), 1)` was refused as "not a string or a list of strings".
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    category = pa.dictionary(pa.int32(), pa.string())
    for kind in (pa.list_(pa.string(), 2), pa.list_(category, 2)):
        labels = pa.array([["grain", "trade"], ["oil", "oil"], None], pa.list_(pa.string(), 2))
        table = pa.table({"text": ["wheat prices", "crude", "rain"], "labels": labels.cast(kind)})
        pq.write_table(table, tmp_path / "f.parquet")
        assert [d.labels for d in open_corpus(tmp_path / "f.parquet")] == [
            ("grain", "trade"),
            ("oil",),
            (),
        ], kind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"bad\.parquet: an empty file \(0 bytes\), not a Parquet file"),
        (b"PAR1 not really", r"bad\.parquet: not a readable Parquet file \(.*magic bytes"),
        (b'{"text": "a jsonl file"}\n', r"bad\.parquet: not a readable Parquet file"),
    ],
)
def test_an_empty_or_damaged_parquet_file_is_named(
    tmp_path: Path, content: bytes, message: str
) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(CorpusFormatError, match=message):
        list(open_corpus(path))
    with pytest.raises(CorpusFormatError, match=message):  # one of a directory's files
        list(open_corpus(tmp_path, format="parquet"))


def test_a_parquet_file_damaged_after_its_footer_is_named(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    texts = [f"words number {i}" for i in range(2000)]
    pq.write_table(pa.table({"text": texts}), path, compression="none", use_dictionary=False)
    raw = bytearray(path.read_bytes())
    # The data pages; the footer at the end still says what they hold.
    raw[4 : len(raw) // 2] = b"\xff" * (len(raw) // 2 - 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(CorpusFormatError, match=r"d\.parquet: row group 0 cannot be read"):
        list(open_corpus(path))


# -- byte order marks: a marked file reads as its plain UTF-8 twin, in every text reader -------
BOM_CODECS = {
    "utf-8": b"\xef\xbb\xbf",
    "utf-16-le": b"\xff\xfe",
    "utf-16-be": b"\xfe\xff",
    "utf-32-le": b"\xff\xfe\x00\x00",
    "utf-32-be": b"\x00\x00\xfe\xff",
}
BOMMED = st.sampled_from(sorted(BOM_CODECS))


def _marked(text: str, codec: str) -> bytes:
    return BOM_CODECS[codec] + text.encode(codec)


def _both(text: str, codec: str, name: str, fmt: str, root: Path) -> tuple[list, list] | None:
    """The documents of `text` as plain UTF-8 and with a byte order mark in `codec` (same file
    name, so the same generated ids); None when the plain file is refused."""
    plain, marked = root / "plain", root / "marked"
    plain.mkdir()
    marked.mkdir()
    (plain / name).write_bytes(text.encode("utf-8"))
    (marked / name).write_bytes(_marked(text, codec))
    try:
        expected = _quiet(open_corpus(plain / name, format=fmt, on_error="report"))
    except CorpusFormatError:
        return None
    return expected, _quiet(open_corpus(marked / name, format=fmt, on_error="report"))


@PROPERTY
@given(DOCS, st.sampled_from(["jsonl", "csv", "tsv", "fasttext"]), BOMMED)
def test_a_byte_order_mark_is_read_not_refused_by_record_readers(
    docs: list[Document], fmt: str, codec: str
) -> None:
    buffer = io.StringIO()
    try:
        write_corpus(docs, buffer, fmt)
    except CorpusFormatError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        both = _both(buffer.getvalue(), codec, f"c.{fmt}", fmt, Path(tmp))
    if both is not None:
        assert both[1] == both[0]


@PROPERTY
@given(st.lists(TEXTS, max_size=6), st.sampled_from(["lines", "text"]), BOMMED)
def test_a_byte_order_mark_is_read_not_refused_by_plain_text_readers(
    texts: list[str], fmt: str, codec: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        both = _both("\n".join(texts), codec, "c.txt", fmt, Path(tmp))
    if both is not None:
        assert both[1] == both[0]


# A byte too few for the last character: what a cut or damaged marked file ends with.
STRAY = {"utf-8": b"\xff", "utf-16-le": b"\x00", "utf-16-be": b"\x00", "utf-32-le": b"\x00"}
STRAY["utf-32-be"] = b"\x00\x00"


# One record of each format, as its lines.
RECORD = {
    "lines": lambda w: [w],
    "text": lambda w: [w],
    "jsonl": lambda w: [json.dumps({"text": w})],
    "csv": lambda w: ["text", w],
}


@PROPERTY
@given(
    st.lists(st.text(alphabet="abc", min_size=1, max_size=8), min_size=1, max_size=4),
    st.sampled_from(sorted(RECORD)),
    BOMMED,
    st.sampled_from(["utf-8", "latin-1"]),
)
def test_an_undecodable_marked_file_names_the_codec_its_mark_chose(
    words: list[str], fmt: str, codec: str, encoding: str
) -> None:
    # Before: b"\xff\xfe\x00" said "cannot decode the text as utf-8", though it was read as
    # UTF-16 whatever --encoding said.
    lines = RECORD[fmt](words[0]) + [line for w in words[1:] for line in RECORD[fmt](w)[-1:]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"c.{fmt}"
        path.write_bytes(_marked("\n".join(lines), codec) + STRAY[codec])
        with pytest.raises(CorpusFormatError, match=rf"cannot decode the text as {codec}\b"):
            _quiet(open_corpus(path, format=fmt, encoding=encoding))


def test_a_bad_byte_after_a_mark_says_another_encoding_cannot_help(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(
        CorpusFormatError,
        match=r"c\.jsonl:1: cannot decode the text as utf-16-le, which the file's byte-order "
        r"mark names \(truncated data\); the file may be damaged: use --encoding-errors replace",
    ):
        list(open_corpus(path))


# NULs aside: a file of them is binary (refused as a file of its own is), and U+0000 first
# in UTF-16-LE is the mark of UTF-32-LE (a .labels file of the topic "\x00" too).
NUL_FREE = TEXTS.filter(lambda t: "\x00" not in t)


@PROPERTY
@given(
    st.lists(
        st.tuples(NUL_FREE, st.lists(LINE_SAFE.filter(lambda t: "\x00" not in t), max_size=3)),
        max_size=4,
    ),
    BOMMED,
)
def test_a_byte_order_mark_is_read_in_text_directories(
    items: list[tuple[str, list[str]]], codec: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, (text, labels) in enumerate(items):
            (root / f"d{i}.txt").write_bytes(_marked(text, codec))
            (root / f"d{i}.labels").write_bytes(_marked("\n".join(labels), codec))
        back = list(open_corpus(root, format="txtdir"))
    assert [(d.id, d.text, d.labels) for d in back] == [
        (f"d{i}", _newlines(text), clean_labels(labels)) for i, (text, labels) in enumerate(items)
    ]


@pytest.mark.parametrize("codec", sorted(BOM_CODECS))
def test_a_byte_order_mark_decides_the_encoding_and_the_format_guess(
    tmp_path: Path, codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    record = '{"id": "d1", "text": "Weizenpreise steigen", "labels": ["grain"]}\n'
    path = tmp_path / "export"  # no suffix: the format is guessed from the first line
    path.write_bytes(_marked(record * 3, codec))
    corpus = open_corpus(path)
    assert corpus.format == "jsonl"
    assert [(d.id, d.text) for d in corpus][0] == ("d1", "Weizenpreise steigen")
    # The mark wins over the encoding option: no other reading of it is text.
    assert len(list(open_corpus(path, encoding="latin-1"))) == 3
    stdin = io.BufferedReader(io.BytesIO(_marked("one\ntwo\n", codec)))  # as a pipe
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
    assert [d.text for d in open_corpus("-")] == ["one", "two"]


# -- headers that repeat a column -------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "column", "positions"),
    [
        ("text,text,labels", "text", "1, 2"),
        ("id,text,labels,labels", "labels", "3, 4"),
        (" id ,text,id", "id", "1, 3"),
    ],
)
def test_a_header_that_repeats_a_column_says_so(
    tmp_path: Path, header: str, column: str, positions: str
) -> None:
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        path = tmp_path / f"c.{fmt}"
        row = sep.join("abcd"[: header.count(",") + 1])
        path.write_text(header.replace(",", sep) + "\n" + row + "\n" + row + "\n")
        message = rf"c\.{fmt}:1: the header repeats the column '{column}' \(columns {positions}\)"
        with pytest.raises(CorpusFormatError, match=message):
            list(open_corpus(path))
        # The header's fault, once; not each row's.
        docs = _quiet(open_corpus(path, on_error="report"))
        assert len(docs) == 1 and re.search(message, docs[0].error or "")


def test_repeated_columns_the_reader_does_not_use_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    # Trailing commas: two columns named "" (the rows are as wide as the header).
    path.write_text("text,labels,note,note,,\nrain,weather,x,y,,\n")
    assert [(d.text, d.labels) for d in open_corpus(path)] == [("rain", ("weather",))]


# -- links that lead nowhere, and named pipes --------------------------------------------------
def test_a_symbolic_link_loop_is_named_as_one(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jsonl"
    os.symlink(loop, loop)
    message = r"loop\.jsonl: a symbolic link loop \(ELOOP\)"
    for read in (lambda: open_corpus(loop), lambda: detect_format(str(loop))):
        with pytest.raises(CorpusFormatError, match=message):
            read()
    dangling = tmp_path / "old.jsonl"
    os.symlink(tmp_path / "moved.jsonl", dangling)
    with pytest.raises(CorpusFormatError, match=r"old\.jsonl: a symbolic link to .*moved\.jsonl, "):
        open_corpus(dangling)
    # In a text directory, such a link is that document's bad record, not skipped unsaid.
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("rain")
    os.symlink(root / "b.txt", root / "b.txt")
    os.symlink(root / "gone", root / "c.txt")
    docs = _quiet(open_corpus(root, on_error="report"))
    assert [d.id for d in docs] == ["a", "b", "c"]
    assert re.search(r"b\.txt: a symbolic link loop \(ELOOP\)", docs[1].error or "")
    assert re.search(
        r"c\.txt: a symbolic link to .*gone, which does not exist", docs[2].error or ""
    )


def _fifo(tmp_path: Path, name: str, content: bytes) -> tuple[Path, threading.Thread]:
    """A named pipe, and the thread that fills it once a reader opens it."""
    path = tmp_path / name
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as handle:  # waits for the reader
            handle.write(content)

    writer = threading.Thread(target=write, daemon=True)  # never outlives a failed test
    writer.start()
    return path, writer


@pytest.mark.parametrize(
    ("name", "fmt", "content", "texts"),
    [
        ("p.jsonl", None, b'{"text": "one"}\n{"text": "two"}\n', ["one", "two"]),
        ("p.csv", None, b"text\none\ntwo\n", ["one", "two"]),
        ("pipe", "lines", b"\xff\xfeo\x00n\x00e\x00\n\x00", ["one"]),  # UTF-16, marked
        ("pipe", "text", b"one\ntwo\n", ["one\ntwo\n"]),
    ],
)
def test_a_named_pipe_is_read_as_it_streams_in(
    tmp_path: Path, name: str, fmt: str | None, content: bytes, texts: list[str]
) -> None:
    from conftest import deadline

    path, writer = _fifo(tmp_path, name, content)
    with deadline(10):
        assert [d.text for d in open_corpus(path, format=fmt)] == texts
    writer.join(timeout=5)


def test_a_named_pipe_needs_a_format_or_a_reader_that_streams(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    os.mkfifo(tmp_path / "p.parquet")
    # Refused from its name and kind alone: nothing opens a pipe no one writes to.
    with pytest.raises(
        CorpusFormatError, match=r"pipe: a named pipe, whose format cannot be told.*--format"
    ):
        open_corpus(tmp_path / "pipe")
    with pytest.raises(
        CorpusFormatError,
        match=r"p\.parquet: a named pipe, not a regular file; the parquet reader .* must be a "
        "regular file",
    ):
        open_corpus(tmp_path / "p.parquet")


PARQUET_PIPE = (
    r"a named pipe, not a regular file; the parquet reader reads a file more than once, so it "
    r"must be a regular file$"
)


def test_a_named_pipe_among_parquet_files_is_that_files_bad_record(tmp_path: Path) -> None:
    # Before: pyarrow's C open() waited on the pipe for ever, deaf to SIGTERM and Ctrl-C,
    # in a dataset directory and for a file swapped for a pipe after the run started.
    from conftest import unblock_fifo

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"id": ["d1"], "text": ["oil"]}), data / "b.parquet")
    os.mkfifo(data / "a.parquet")  # read first: the files after it are still read
    unblock_fifo(data / "a.parquet")
    with pytest.warns(BadRecordWarning, match=rf"data/a\.parquet: {PARQUET_PIPE}"):
        docs = list(open_corpus(data, on_error="report"))
    assert [(d.id, d.error is None) for d in docs] == [("a", False), ("d1", True)]
    late = tmp_path / "late.parquet"
    pq.write_table(pa.table({"text": ["oil"]}), late)
    corpus = open_corpus(late, on_error="report")  # a regular file when the run starts
    late.unlink()
    os.mkfifo(late)
    unblock_fifo(late)
    with pytest.warns(BadRecordWarning, match=rf"late\.parquet: {PARQUET_PIPE}"):
        assert [d.error is not None for d in corpus] == [True]


def test_a_json_record_that_repeats_a_field_it_uses_is_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"id": "a", "text": "rain", "text": "goal"}\n'
        '{"id": "b", "text": "sun", "note": 1, "note": 2, "meta": {"x": 1, "x": 2}}\n'
        '{"id": "c", "id": "d", "text": "wind"}\n'
    )
    docs = _quiet(open_corpus(path, on_error="report"))
    assert [(d.id, d.text, d.error) for d in docs] == [
        ("r:1", "", f"{path}:1: the record repeats the field 'text'; give it once"),
        ("b", "sun", None),  # repeated keys it does not read are left alone
        ("r:3", "", f"{path}:3: the record repeats the field 'id'; give it once"),
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "fasttext", "txtdir", "parquet"])
def test_a_document_with_more_topics_than_any_index_gives_is_its_own_bad_record(
    tmp_path: Path, fmt: str
) -> None:
    """One record of 100,000 topics would add them all to a model (3 GB of training): it is
    a bad record naming its place; 1,000 topics are still read, and the others go on."""
    from topicclf.corpus.base import MAX_TOPICS_PER_DOCUMENT
    from topicclf.errors import BadRecordWarning

    many = tuple(f"t{i}" for i in range(100_000))
    most = tuple(f"t{i}" for i in range(MAX_TOPICS_PER_DOCUMENT))
    docs = [
        Document("a", "first", ("x",)),
        Document("b", "many", many),
        Document("c", "most", most),
    ]
    path = _written(docs, tmp_path, fmt)
    # Every reader counts the names a record lists before it keeps them (empty and repeated
    # ones too: each costs memory), so 100,000 names pass that bound first.
    said = (
        r"100,000 topic names in one document \(empty and repeated ones count\), more "
        "than the 10,000 topicclf reads"
    )
    with pytest.warns(BadRecordWarning, match=said):
        read = list(open_corpus(path, fmt, on_error="report"))
    assert [len(d.labels) for d in read if d.error is None] == [1, MAX_TOPICS_PER_DOCUMENT]
    (bad,) = [d for d in read if d.error is not None]
    assert re.search(said, bad.error)
    assert f"{path.name}" in bad.error or "b.labels" in bad.error


def _written(docs: list[Document], tmp_path: Path, fmt: str) -> Path:
    """`docs` as a corpus of format `fmt` under `tmp_path` (a directory for txtdir)."""
    from topicclf.corpus import write_corpus

    if fmt == "txtdir":
        path = tmp_path / "dir"
        path.mkdir()
        for doc in docs:
            (path / f"{doc.id}.txt").write_text(doc.text)
            (path / f"{doc.id}.labels").write_text("\n".join(doc.labels))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "c.parquet"
        table = {"id": [d.id for d in docs], "text": [d.text for d in docs],
                 "labels": [list(d.labels) for d in docs]}  # fmt: skip
        pq.write_table(pa.table(table), path)
    else:
        path = tmp_path / f"c.{'txt' if fmt == 'fasttext' else fmt}"
        with path.open("w", encoding="utf-8") as handle:
            write_corpus(docs, handle, fmt)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "fasttext", "txtdir", "parquet"])
def test_a_topic_name_longer_than_any_vocabulary_gives_is_its_record_s_bad_record(
    tmp_path: Path, fmt: str
) -> None:
    """Before: a topic name had no bound, and an answer repeats it per pair (1,000 pairs of
    1 MB names made a 2 GB `serve` answer): a longer name is its record's bad record."""
    longest = "z" * config.MAX_TOPIC_CHARS
    docs = [
        Document("a", "first", ("x",)),
        Document("b", "long", ("y", longest + "z")),
        Document("c", "at the bound", (longest,)),
    ]
    path = _written(docs, tmp_path, fmt)
    message = r"a topic name of 1,001 characters \('z+'\.\.\.\), more than the 1,000 topicclf reads"
    with pytest.warns(BadRecordWarning, match=message):
        read = list(open_corpus(path, fmt, on_error="report"))
    assert [d.labels for d in read if d.error is None] == [("x",), (longest,)]
    (bad,) = [d for d in read if d.error is not None]
    assert re.search(message, bad.error) and (path.name in bad.error or "b.labels" in bad.error)


@given(st.integers(0, 3 * config.MAX_TOPIC_CHARS), st.sampled_from(["z", "é", "\U0001f600"]))
def test_clean_labels_takes_a_topic_name_up_to_the_bound_and_no_longer(
    length: int, char: str
) -> None:
    # Characters, not bytes: the bound is the same whatever the script.
    name = char * length
    if length <= config.MAX_TOPIC_CHARS:
        assert clean_labels([name, "x"], "c.jsonl:1") == ((name, "x") if name else ("x",))
    else:
        with pytest.raises(CorpusFormatError, match=rf"^c\.jsonl:1: a topic name of {length:,} "):
            clean_labels([name, "x"], "c.jsonl:1")


# --- Endless input: binary content everywhere, a size cap per record --------------------


class _Stream(io.RawIOBase):
    """`head`, then `size` bytes of `fill`, then `tail`, made as they are read (never held)."""

    def __init__(self, head: bytes, fill: bytes, size: int, tail: bytes = b"") -> None:
        self.parts = [(head, len(head)), (fill, size), (tail, len(tail))]
        self.at = 0  # bytes given of the current part

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self.parts and self.at >= self.parts[0][1]:
            self.parts.pop(0)
            self.at = 0
        if not self.parts:
            return 0
        piece, size = self.parts[0]
        n = min(len(buffer), size - self.at, 1 << 16)
        if len(piece) == size:  # head or tail: given as they are
            data = piece[self.at : self.at + n]
        else:
            data = (piece * (n // len(piece) + 1))[:n]
        buffer[:n] = data
        self.at += n
        return n


def _stdin(monkeypatch: pytest.MonkeyPatch, stream: io.RawIOBase) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(stream)))


TEXT_FORMATS = ["lines", "text", "jsonl", "csv", "tsv", "fasttext"]


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_endless_nul_bytes_are_binary_on_devices_and_stdin_whatever_the_format(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, /dev/zero and `- </dev/zero` with a format were read as one endless line.
    with pytest.raises(CorpusFormatError, match=r"^/dev/zero: looks like a binary file"):
        list(open_corpus("/dev/zero", format=fmt))
    _stdin(monkeypatch, _Stream(b"", b"\x00", 1 << 40))
    with deadline(10), pytest.raises(CorpusFormatError, match=r"^-: looks like a binary file"):
        list(open_corpus("-", format=fmt))
    _stdin(monkeypatch, _Stream(b"\x00" * 100, b"", 0))  # short: the whole of it is looked at
    with pytest.raises(CorpusFormatError, match=r"^-: looks like a binary file"):
        list(open_corpus("-", format=fmt))


def test_a_nul_byte_on_stdin_is_that_line_s_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, _Stream(b"rain\x00\nsnow\n", b"", 0))
    docs = list(open_corpus("-", format="lines"))
    assert [d.text for d in docs] == ["rain\x00", "snow"]  # kept as text: one NUL is no file


GOOD_LINE = {
    "lines": b"rain\n",
    "jsonl": b'{"text": "rain"}\n',
    "fasttext": b"__label__w rain\n",
    "csv": b"rain,w\n",
    "tsv": b"rain\tw\n",
}


@pytest.mark.parametrize("fmt", sorted(GOOD_LINE))
def test_a_line_over_the_record_limit_is_its_bad_record_and_memory_stays_bounded(
    fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1 << 20)
    header = {"csv": b"text,labels\n", "tsv": b"text\tlabels\n"}.get(fmt, b"")
    good = GOOD_LINE[fmt]
    _stdin(monkeypatch, _Stream(header + good, b"x", 40 << 20, b"\n" + good))
    tracemalloc.start()
    try:
        with pytest.warns(BadRecordWarning, match="more than the 1,048,576 bytes"):
            docs = list(open_corpus("-", format=fmt, on_error="report"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the limit and a few chunks, not the 40 MiB line
    first = 2 if header else 1
    assert [d.text for d in docs] == ["rain", "", "rain"]
    assert docs[1].id == f"stdin:{first + 1}" and docs[2].id == f"stdin:{first + 2}"
    assert re.fullmatch(
        rf"-:{first + 1}: the record is 41,943,041 bytes long, more than the 1,048,576 bytes "
        r"\(1 MiB\) one document may take; is the format right \(--format\)\? "
        r"Split longer documents",
        docs[1].error or "",
    )
    _stdin(monkeypatch, _Stream(header, b"x", 40 << 20))  # endless: ends without a newline
    with pytest.raises(CorpusFormatError, match=rf"-:{first}: the record is over 1,048,576 bytes"):
        list(open_corpus("-", format=fmt))


def test_a_line_at_the_record_limit_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "c.txt"
    path.write_bytes(b"a" * 999 + b"\n" + b"b" * 1001 + b"\n" + b"c" * 1000)
    with pytest.warns(BadRecordWarning, match=r"c\.txt:2: the record is 1,002 bytes long"):
        docs = list(open_corpus(path, format="lines", on_error="report"))
    assert [len(d.text) for d in docs] == [999, 0, 1000] and docs[1].error


def test_a_csv_row_over_the_record_limit_is_a_bad_record_and_the_rows_after_it_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A quote left open takes line after line into one field: the limit stops it.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "c.csv"
    path.write_text('text,labels\nok,a\n"open,b\n' + "more words,c\n" * 200 + "last,d\n")
    with pytest.warns(BadRecordWarning, match=r"c\.csv:3: the record is over 1,000 bytes long"):
        docs = list(open_corpus(path, format="csv", on_error="report"))
    assert docs[0].text == "ok" and "(the row begins here)" in (docs[1].error or "")
    assert [d.text for d in docs[2:]] == ["more words"] * 200 + ["last"]
    with pytest.raises(CorpusFormatError, match=r"c\.csv:1: the record is over 1,000 bytes"):
        path.write_text('"text\n' + "x\n" * 1000)
        list(open_corpus(path, format="csv"))


@pytest.mark.parametrize("fmt", ["text", "txtdir"])
def test_a_whole_file_over_the_record_limit_is_its_bad_record(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1000)
    (tmp_path / "a.txt").write_text("w" * 1000)
    (tmp_path / "b.txt").write_text("w" * 1001)
    for name in "ab":
        (tmp_path / f"{name}.labels").write_text("x\n")
    if fmt == "text":
        assert [d.text for d in open_corpus(tmp_path / "a.txt", format=fmt)] == ["w" * 1000]
        with pytest.raises(CorpusFormatError, match=r"b\.txt: the record is over 1,000 bytes"):
            list(open_corpus(tmp_path / "b.txt", format=fmt))
    else:
        with pytest.warns(BadRecordWarning, match=r"b\.txt: the record is over 1,000 bytes"):
            docs = list(open_corpus(tmp_path, format=fmt, on_error="report"))
        assert [(d.id, bool(d.error)) for d in docs] == [("a", False), ("b", True)]


def test_endless_text_on_stdin_is_a_bad_record_read_no_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1 << 20)
    _stdin(monkeypatch, _Stream(b"", b"rain ", 1 << 40))
    with deadline(10), pytest.warns(BadRecordWarning, match=r"^-: the record is over 1,048,576"):
        docs = list(open_corpus("-", format="text", on_error="report"))
    assert [(d.id, d.text) for d in docs] == [("stdin", "")]


def test_an_endless_line_on_a_pipe_keeps_the_process_small() -> None:
    # The real limit (64 MiB) and a real pipe: 300 MB of one line, then a short one.
    # VmHWM, the peak of this program's memory (ru_maxrss would count the forking pytest's).
    code = (
        "import re, warnings; from topicclf.corpus import open_corpus\n"
        "warnings.simplefilter('ignore')\n"
        "docs = list(open_corpus('-', format='lines', on_error='report'))\n"
        "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1]\n"
        "print([d.text for d in docs], peak)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdin is not None
    block = b"word " * 200_000
    for _ in range(300):
        child.stdin.write(block)
    child.stdin.write(b"\nrain\n")
    child.stdin.close()
    out = child.stdout.read().decode() if child.stdout else ""
    assert child.wait(60) == 0
    texts, rss_kib = out.rsplit(" ", 1)
    assert texts == "['', 'rain']"
    assert int(rss_kib) < 350_000  # before: 300 MB of bytes, then copies and text, > 1 GB


def test_parquet_repeated_columns_and_null_topics_are_named(tmp_path: Path) -> None:
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    from topicclf.errors import CorpusFormatError

    text, topics = pa.array(["oil", "rain"]), pa.array([["x"], ["a", None]])
    repeated = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([text, text, topics], ["text", "text", "labels"]), repeated)
    with pytest.raises(CorpusFormatError, match=r"repeats the column 'text' \(columns 1, 2\)"):
        list(open_corpus(repeated))
    nulls = tmp_path / "nul.parquet"
    pq.write_table(pa.Table.from_arrays([text, topics], ["text", "labels"]), nulls)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = list(open_corpus(nulls, on_error="report"))
    assert docs[0].labels == ("x",) and "a null inside the topics column 'labels'" in docs[1].error


@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_a_formula_like_field_is_written_exactly_with_one_warning(
    tmp_path: Path, suffix: str
) -> None:
    # Data for programs keeps every id and topic; the warning tells the spreadsheet user.
    docs = [Document("=cmd|' /C calc'!A0", "rain", ("-ve", "@x")), Document("d2", "=1+1", ("a",))]
    path = tmp_path / f"out.{suffix}"
    with (
        pytest.warns(
            UserWarning, match=r"begins with '=' \(\"=cmd\|' /C calc'!A0\"\); a spr"
        ) as seen,
        path.open("w", encoding="utf-8", newline="") as handle,
    ):
        write_corpus(docs, handle, suffix)
    assert len([w for w in seen if "formula" in str(w.message)]) == 1
    assert [(d.id, d.text, d.labels) for d in open_corpus(path, format=suffix)] == [
        (d.id, d.text, d.labels) for d in docs
    ]


def _truncated_after_first(corpus: Any, path: Path, size: int) -> list[Document]:
    """Every document of `corpus`, with `path` cut to `size` bytes once the first is read:
    the same as another process truncating it mid-read, without a race."""
    docs = []
    for doc in corpus:
        if not docs:
            os.truncate(path, size)
        docs.append(doc)
    return docs


@pytest.mark.parametrize(
    ("fmt", "head", "line"),
    [
        ("lines", "", "rain and wind over wheat number {}\n"),
        ("jsonl", "", '{{"text": "rain and wind over wheat number {}"}}\n'),
        ("fasttext", "", "__label__weather rain and wind over wheat number {}\n"),
        ("csv", "text,labels\n", "rain and wind over wheat number {},weather\n"),
    ],
)
def test_a_file_that_shrinks_while_it_is_read_ends_with_a_bad_record(
    tmp_path: Path, fmt: str, head: str, line: str
) -> None:
    # Larger than one read (256 KiB), so the truncation lands where reading has not yet got.
    path = tmp_path / f"shrink.{fmt}"
    path.write_text(head + "".join(line.format(i) for i in range(1, 40_001)))
    size = path.stat().st_size
    corpus = open_corpus(path, fmt, on_error="report")
    with pytest.warns(
        BadRecordWarning,
        match=rf"shrink\.{fmt}: changed while it was read \({size:,} bytes when opened, "
        r"100,000 now\); documents after line [\d,]+ may be lost or cut: read it again",
    ):
        docs = _truncated_after_first(corpus, path, 100_000)
    kept, bad = docs[:-1], docs[-1]
    assert bad.error is not None and bad.id == "shrink" and not bad.text
    assert all(d.error is None for d in kept)
    # Documents before are kept whole and in order; a line cut in two is never one.
    number = int(re.sub(r"\D", "", bad.error.split("after line ")[1].split(" ")[0]))
    assert len(kept) == number - (1 if head else 0)
    assert [d.text.split()[-1] for d in kept] == [str(i) for i in range(1, len(kept) + 1)]
    with pytest.raises(CorpusFormatError, match=r"shrink\.\w+: changed while it was read"):
        path.write_text(head + "".join(line.format(i) for i in range(1, 40_001)))
        _truncated_after_first(open_corpus(path, fmt), path, 100_000)


def test_a_text_document_or_directory_file_rewritten_while_read_is_a_bad_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from topicclf.corpus import base

    path = tmp_path / "story.txt"
    path.write_text("rain " * 200_000)
    original = base.read_capped

    def shrink_midway(read: Any, where: str) -> bytes:
        first = read(1 << 10)
        os.truncate(path, 10)
        return first + original(read, where)

    monkeypatch.setattr("topicclf.corpus.plaintext.read_capped", shrink_midway)
    with pytest.warns(BadRecordWarning, match=r"story\.txt: changed while it was read \(1,000,"):
        docs = list(open_corpus(path, "text", on_error="report"))
    assert [d.id for d in docs] == ["story"] and docs[0].error is not None
    assert "the document may be lost or cut" in docs[0].error
    directory = tmp_path / "dir"
    directory.mkdir()
    (directory / "a.txt").write_text("rain " * 1000)
    (directory / "b.txt").write_text("goal")
    path = directory / "a.txt"
    monkeypatch.setattr("topicclf.corpus.directory.read_capped", shrink_midway)
    with pytest.warns(BadRecordWarning, match=r"a\.txt: changed while it was read"):
        docs = list(open_corpus(directory, "txtdir", on_error="report"))
    assert [(d.id, d.error is not None) for d in docs] == [("a", True), ("b", False)]


def test_a_file_that_grows_while_it_is_read_is_read_without_complaint(tmp_path: Path) -> None:
    # A log being appended to: its end when the reader gets there is its end.
    path = tmp_path / "log.jsonl"
    path.write_text("".join(f'{{"text": "rain {i}"}}\n' for i in range(20_000)))
    docs = []
    for doc in open_corpus(path, "jsonl"):
        if not docs:
            with open(path, "a") as handle:
                handle.write('{"text": "appended"}\n')
        docs.append(doc)
    assert len(docs) == 20_001 and docs[-1].text == "appended"
    # Rewritten in place to the same size (a new mtime): changed, though no size says so.
    path.write_text("".join(f'{{"text": "rain {i}"}}\n' for i in range(20_000)))
    docs = []
    with pytest.raises(CorpusFormatError, match=r"rewritten in place, still [\d,]+ bytes"):
        for doc in open_corpus(path, "jsonl"):
            if not docs:
                stamp = path.stat()
                with open(path, "r+b") as handle:
                    handle.write(b'{"text": "snow 0"}\n')
                os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
            docs.append(doc)


def test_a_text_directory_reads_gz_and_any_case_and_names_what_it_skips(tmp_path: Path) -> None:
    import gzip

    root = tmp_path / "td"
    (root / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("rain on wheat")
    (root / "B.TXT").write_text("oil price")
    (root / "B.labels").write_text("energy\n")
    (root / "deep" / "z.txt.gz").write_bytes(gzip.compress(b"gz rain"))
    (root / "deep" / "z.labels").write_text("weather\n")
    for name in ("notes.md", "x.pdf", "y.doc", "zz.html"):
        (root / name).write_text("not a document")
    (root / ".DS_Store").write_text("hidden: not read, named")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_text("goal")
    (root / "ext").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert detect_format(str(root)) == "txtdir"
    with pytest.warns(
        UserWarning,
        match=r"td: 7 entries not read as documents: 2 link\(s\) to a directory, not followed "
        r"\('ext', 'loop'\); 1 hidden file\(s\) and folder\(s\), whose names start with '\.' "
        r"\('\.DS_Store'\); 4 file\(s\) not named \.txt \('notes\.md', 'x\.pdf', 'y\.doc' and "
        r"1 more\); a text directory reads NAME\.txt and NAME\.txt\.gz files \(any case\)",
    ):
        docs = list(open_corpus(root))
    assert [(d.id, d.text, d.labels) for d in docs] == [
        ("B", "oil price", ("energy",)),
        ("a", "rain on wheat", ()),
        ("deep/z", "gz rain", ("weather",)),
    ]
    # Nothing skipped: nothing said.
    for path in (root / "ext", root / "loop", root / ".DS_Store", *root.glob("*.[mpdh]*")):
        path.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(open_corpus(root))) == 3


def test_folders_read_gz_decompressed_and_name_top_level_files(tmp_path: Path) -> None:
    import gzip

    root = tmp_path / "fo"
    (root / "weather").mkdir(parents=True)
    (root / "sport").mkdir()
    (root / "weather" / "1.txt").write_text("rain")
    (root / "weather" / "4.txt.gz").write_bytes(gzip.compress(b"gz rain"))
    (root / "sport" / "2.txt").write_text("goal")
    (root / "readme.txt").write_text("about this corpus")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "9.txt").write_text("elsewhere")
    (root / "sport" / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.warns(
        UserWarning,
        match=r"fo: 2 entries not read as documents: 1 file\(s\) directly in the top directory, "
        r"not in a topic folder \('readme\.txt'\); 1 link\(s\) to a directory, not followed "
        r"\('sport/linked'\); in --format folders each document is a file inside its topic",
    ):
        docs = list(open_corpus(root, "folders"))
    assert [(d.id, d.text, d.labels) for d in docs] == [
        ("sport/2.txt", "goal", ("sport",)),
        ("weather/1.txt", "rain", ("weather",)),
        ("weather/4.txt", "gz rain", ("weather",)),
    ]


def test_folders_follow_no_top_level_link_and_name_links_to_nothing(tmp_path: Path) -> None:
    # Before: `loop -> .` read every document again under the topic "loop" (and `up -> ..`
    # the parent's tree), and a link to nothing was called a file in the top directory.
    root = tmp_path / "fo"
    (root / "sport").mkdir(parents=True)
    (root / "sport" / "1.txt").write_text("goal")
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "up").symlink_to("..", target_is_directory=True)
    (root / "gone").symlink_to("/nonexistent/topic")
    (root / "self").symlink_to("self")
    with pytest.warns(UserWarning) as caught:
        docs = list(open_corpus(root, "folders"))
    assert [(d.id, d.labels) for d in docs] == [("sport/1.txt", ("sport",))]
    assert [str(w.message) for w in caught] == [
        f"{root}: 4 entries not read as documents: 2 link(s) to a directory, not followed "
        "('loop', 'up'); 2 link(s) to nothing (a missing target or a loop) ('gone', 'self'); "
        "in --format folders each document is a file inside its topic's folder (a link to a "
        "directory is not followed)"
    ]


def test_a_null_parquet_text_is_a_bad_record_as_in_json_lines(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": ["d1", None, "d3"], "text": ["rain", None, ""]}), path)
    with pytest.warns(
        BadRecordWarning, match=r"p\.parquet:row 2: the text field 'text' is null, not a string"
    ):
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.id, d.text, d.error is None) for d in docs] == [
        ("d1", "rain", True),
        ("p:2", "", False),
        ("d3", "", True),  # an empty string is an empty document, as in JSON Lines
    ]
    with pytest.raises(CorpusFormatError, match=r"p\.parquet:row 2: the text field 'text' is null"):
        list(open_corpus(path))


def _parquet_bomb(path: Path, values: list[str], rows: list[int], **write: Any) -> None:
    """A Parquet file whose rows name `values` by index: each value is stored once, in a
    dictionary page, however many rows name it (as in a hostile file of a few KB)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    text = pa.DictionaryArray.from_arrays(pa.array(rows, pa.int32()), pa.array(values))
    pq.write_table(pa.table({"text": text, "labels": ["x"] * len(rows)}), path, **write)


@pytest.mark.parametrize("dictionary", [True, False])
def test_a_parquet_value_over_the_record_limit_is_a_bad_record(
    dictionary: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a line, CSV row or text file over the limit; before: read whole, whatever its size.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "p.parquet"
    values = ["rain", "w" * 999, "w" * 1000]  # each row also holds its topic "x": 1 byte
    _parquet_bomb(path, values, [0, 1, 2, 2, 0], use_dictionary=dictionary)
    with pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(path, on_error="report"))
    assert [(d.id, len(d.text), bool(d.error)) for d in docs] == [
        ("p:1", 4, False),
        ("p:2", 999, False),
        ("p:3", 0, True),
        ("p:4", 0, True),
        ("p:5", 4, False),
    ]
    assert [str(w.message) for w in caught] == [
        f"{path}:row {n}: the record is 1,001 bytes long, more than the 1,000 bytes one "
        "document may take; is the format right (--format)? Split longer documents"
        for n in (3, 4)
    ]
    with pytest.raises(CorpusFormatError, match=r"p\.parquet:row 3: the record is 1,001 bytes"):
        list(open_corpus(path))


def test_a_parquet_value_named_by_many_rows_is_never_decoded_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 10 KB file of 60 rows naming one 100 MB value: the row group was turned into Python
    # values whole, 6.85 GB, then internal error: MemoryError. Now at most about the record
    # limit of values is decoded at a time.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 10_000)
    path = tmp_path / "bomb.parquet"
    _parquet_bomb(path, ["rain " * 1000, "w" * 20_000], [0] * 2000 + [1] * 2000)
    assert path.stat().st_size < 5_000
    tracemalloc.start()
    try:
        with pytest.warns(BadRecordWarning) as caught:
            counts = Counter(bool(d.error) for d in open_corpus(path, on_error="report"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counts == {False: 2000, True: 2000} and len(caught) == 2000
    assert re.match(r".*bomb\.parquet:row 2001: the record is 20,001 bytes", str(caught[0].message))
    assert peak < 2_000_000  # 10 MB of Python strings before, and 40 MB of the bad ones


def _labels_that_are_no_files(folder: Path) -> None:
    """A text directory whose .labels files are a link to nothing, a directory, a named pipe
    and a link loop; one document has a .labels file, one none."""
    folder.mkdir()
    for name in ("a", "b", "c", "d", "e", "f"):
        (folder / f"{name}.txt").write_text(f"rain {name}")
    (folder / "a.labels").symlink_to("../moved/a.labels")
    (folder / "b.labels").mkdir()
    os.mkfifo(folder / "c.labels")
    (folder / "d.labels").symlink_to("d.labels")
    (folder / "e.labels").write_text("weather\n")


def test_a_labels_file_that_is_no_regular_file_is_that_documents_bad_record(
    tmp_path: Path,
) -> None:
    # Before: each was silently "no topics", and train learned the text as an example of none.
    folder = tmp_path / "td"
    _labels_that_are_no_files(folder)
    rule = "NAME.labels holds the topics of NAME.txt ({}.txt), one a line: make it a file, or "
    rule += "remove it"
    with deadline(10), pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(folder, on_error="report"))
    assert [(d.id, d.labels, d.error is not None) for d in docs] == [
        ("a", (), True),
        ("b", (), True),
        ("c", (), True),
        ("d", (), True),
        ("e", ("weather",), False),
        ("f", (), False),
    ]
    assert [str(w.message) for w in caught] == [
        f"{folder}/a.labels: a symbolic link to ../moved/a.labels, which does not exist",
        f"{folder}/b.labels: a directory, not a regular file; " + rule.format("b"),
        f"{folder}/c.labels: a named pipe, not a regular file; " + rule.format("c"),
        f"{folder}/d.labels: a symbolic link loop (ELOOP): following its links leads back to "
        "them; point the link at a file",
    ]
    # Tagging never uses topics: with labels_files="ignore" no .labels file is opened.
    docs = list(open_corpus(folder, labels_files="ignore"))
    assert [(d.id, d.labels, d.error) for d in docs] == [(n, (), None) for n in "abcdef"]
    with pytest.raises(CorpusFormatError, match=r"unknown labels_files 'no'; choose one of: read"):
        open_corpus(folder, labels_files="no")


def test_files_that_share_a_document_name_are_named_not_read_over_each_other(
    tmp_path: Path,
) -> None:
    # Before: x.txt, x.TXT and x.txt.gz were three documents with the id x, and
    # --write-labels wrote all three into one x.labels (two documents' topics lost).
    import gzip

    folder = tmp_path / "wl"
    folder.mkdir()
    (folder / "x.txt").write_text("rain over wheat")
    (folder / "x.TXT").write_text("oil price gas")
    (folder / "x.txt.gz").write_bytes(gzip.compress(b"goal match team"))
    (folder / "y.TXT").write_text("alone, in capitals")
    with pytest.warns(
        UserWarning,
        match=r"2 file\(s\) whose name another document has \(NAME\.txt beside NAME\.TXT or "
        r"NAME\.txt\.gz: one id, one \.labels file\), not read: rename them \('x\.TXT', "
        r"'x\.txt\.gz'\)",
    ):
        docs = list(open_corpus(folder, format="txtdir"))
    assert [(d.id, d.text) for d in docs] == [("x", "rain over wheat"), ("y", "alone, in capitals")]


def test_a_text_file_whose_labels_name_cannot_exist_is_read(tmp_path: Path) -> None:
    """NAME.labels of a 250-byte NAME.txt is too long a name to exist: looking it up raised
    "File name too long", and the whole directory became one bad record."""
    long = "a" * 250
    (tmp_path / f"{long}.txt").write_text("oil prices rose")
    (tmp_path / "b.txt").write_text("team won")
    (tmp_path / "b.labels").write_text("sport\n")
    docs = list(open_corpus(tmp_path, format="txtdir"))
    assert [(d.id, d.labels, d.error) for d in docs] == [(long, (), None), ("b", ("sport",), None)]


def test_a_labels_file_breaks_lines_at_newlines_only(tmp_path: Path) -> None:
    # Before: str.splitlines read `sport\u2028news\x1cx` as three topics (it also splits at
    # \v \f \x1c-\x1e \x85 U+2029); the README says lines end at \n.
    folder = tmp_path / "td"
    folder.mkdir()
    (folder / "a.txt").write_text("the team won")
    odd = "sport\u2028news\x1cx\x85y\vz\fw\u2029v\x1d\x1eu"
    (folder / "a.labels").write_bytes(f"{odd}\nweather\r\noil\rgas\n".encode())
    (doc,) = open_corpus(folder, format="txtdir")
    assert doc.labels == (odd, "weather", "oil", "gas")


# Topics as a model holds them: stripped and not empty (readers strip), any other character.
TOPICS = st.lists(
    st.text(min_size=1, max_size=8).map(str.strip).filter(bool), min_size=0, max_size=5
)


@settings(max_examples=60, deadline=None)
@given(topics=TOPICS)
def test_labels_files_read_back_what_was_written_or_refuse_it(topics: list[str]) -> None:
    """A topic the .labels writer accepts reads back as itself through the txtdir reader;
    the only ones refused are those holding a line break."""
    from topicclf.corpus.base import scrub_surrogates
    from topicclf.corpus.directory import labels_file_text
    from topicclf.errors import OutputError

    topics = [scrub_surrogates(t) for t in topics]  # a file holds UTF-8, as tags are written
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "a.txt").write_text("some text")
        if any("\n" in t or "\r" in t for t in topics):
            with pytest.raises(OutputError, match=r"holds a line break, and a \.labels file"):
                labels_file_text(topics, "a.labels")
            return
        (folder / "a.labels").write_bytes(labels_file_text(topics, "a.labels").encode())
        (doc,) = open_corpus(folder, format="txtdir")
        assert doc.labels == clean_labels(topics)


def test_the_labels_writer_refuses_a_topic_it_cannot_hold() -> None:
    from topicclf.corpus.directory import labels_file_text
    from topicclf.errors import OutputError

    for topic, why in [
        ("energy\npolicy", "holds a line break"),
        ("a\rb", "holds a line break"),
        (" padded", "is empty or has white space at either end"),
        ("", "is empty or has white space at either end"),
    ]:
        with pytest.raises(
            OutputError,
            match=rf"^d/a\.labels: the topic {re.escape(repr(topic))} {why}.*, so it would "
            r"not read back as one topic; write the tags as JSON Lines instead",
        ):
            labels_file_text(["sport", topic], "d/a.labels")


def test_corpus_stats_count_a_bad_record_as_one_and_read_on(tmp_path: Path) -> None:
    # Before: `corpus stats` stopped at a record of 2,000 topics (a bad record in every
    # reader), and nothing else was counted.
    from topicclf.corpus.stats import corpus_stats

    path = tmp_path / "c.jsonl"
    many = [f"t{i}" for i in range(2000)]
    path.write_text(
        '{"text": "rain today", "labels": ["weather"]}\n'
        + f'{{"text": "oil", "labels": {many!r}}}\n'.replace("'", '"')
        + "{not json\n"
        + '{"text": "the match", "labels": ["sport"]}\n'
    )
    with pytest.warns(BadRecordWarning) as said:
        figures = corpus_stats(open_corpus(path, on_error="report"))
    assert [re.sub(r".*/", "", str(w.message))[:40] for w in said] == [
        "c.jsonl:2: 2,000 topics in one document,",
        "c.jsonl:3: invalid JSON (Expecting prope",
    ]
    assert (figures.documents, figures.bad_records, figures.topics) == (2, 2, 2)
    assert figures.topic_counts == {"sport": 1, "weather": 1}


def test_paths_and_options_of_the_wrong_type_are_named(tmp_path: Path) -> None:
    """open_corpus([path]) read the list's repr as a file name; encoding=3 was a raw
    TypeError from bytes.decode."""
    from topicclf.errors import InputError

    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "oil"}\n')
    with pytest.raises(InputError, match=r"^path: expected a path .*, not list \["):
        open_corpus([path])  # type: ignore[arg-type]
    for option, value in [("encoding", 3), ("on_error", None), ("label_separator", None)]:
        with pytest.raises(
            CorpusFormatError, match=rf"^corpus option {option}: expected a string, not \w+ "
        ):
            open_corpus(path, **{option: value})


def _nest(root: Path, depth: int) -> Path:
    """`depth` folders named d, one inside the next, below `root`; the deepest. Made one by
    one: os.makedirs recurses once per level too."""
    here = root
    for _ in range(depth):
        here = here / "d"
        here.mkdir()
    return here


def _unnest(root: Path, deepest: Path) -> None:
    """Remove what `_nest` made, bottom up (shutil.rmtree recurses once per level)."""
    for file in deepest.iterdir():
        file.unlink()
    while deepest != root:
        deepest.rmdir()
        deepest = deepest.parent


def test_text_directories_nested_deeper_than_the_recursion_limit_are_read(tmp_path: Path) -> None:
    # Python 3.11's os.walk recursed once per level: `tag`, `train`, `corpus stats` and
    # `explain` of such a tree ended in `internal error: RecursionError`.
    root = tmp_path / "td"
    root.mkdir()
    (root / "top.txt").write_text("oil prices")
    deepest = _nest(root, sys.getrecursionlimit() + 100)
    (deepest / "bottom.txt").write_text("team won")
    (deepest / "bottom.labels").write_text("sport\n")
    try:
        assert detect_format(str(root)) == "txtdir"
        docs = list(open_corpus(root))
        assert [(d.id.count("/"), d.text, d.labels) for d in docs] == [
            (sys.getrecursionlimit() + 100, "team won", ("sport",)),
            (0, "oil prices", ()),
        ]
        # A topic folder d and nothing else, for --format folders.
        (root / "top.txt").unlink()
        (deepest / "bottom.labels").unlink()
        docs = list(open_corpus(root, "folders"))
        assert [(d.labels, d.text) for d in docs] == [(("d",), "team won")]
    finally:
        _unnest(root, deepest)


def test_a_path_too_long_to_open_in_a_text_directory_is_named_and_the_rest_read(
    tmp_path: Path,
) -> None:
    # Below a folder whose path is near PATH_MAX (4,096 bytes), an entry's path is longer
    # than any call takes: it is named in the warning, not an error ending the run.
    root = tmp_path / "td"
    root.mkdir()
    (root / "top.txt").write_text("oil prices")
    # Folders down to a path of 3,950 bytes (made through descriptors: a path that long
    # cannot be given whole), then a file there whose path is 4,155 bytes.
    names, length = [], len(os.fsencode(root))
    while length + 251 < 3950:
        names.append("n" * 250)
        length += 251
    names.append("n" * (3950 - length - 1))
    far = "f" * 200 + ".txt"
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for name in names:
            os.mkdir(name, dir_fd=fds[-1])
            fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
        handle = os.open(far, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fds[-1])
        os.write(handle, b"too far")
        os.close(handle)
        with pytest.warns(
            UserWarning,
            match=r"td: 1 entry not read as documents: 1 path\(s\) longer than 4,095 bytes, "
            r"too long to open \('nnnn",
        ):
            docs = list(open_corpus(root))
        assert [d.text for d in docs] == ["oil prices"]
    finally:
        os.unlink(far, dir_fd=fds[-1])
        for parent, child, name in reversed(list(zip(fds, fds[1:], names, strict=False))):
            os.close(child)
            os.rmdir(name, dir_fd=parent)
        os.close(fds[0])


def _reuters_sgml(first: int, count: int) -> bytes:
    """`count` small Reuters documents, NEWIDs from `first`, as one reut2-*.sgm file."""
    doc = (
        '<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="{}"><TOPICS><D>{}</D></TOPICS>'
        "<TEXT><BODY>{} prices rose {}</BODY></TEXT></REUTERS>\n"
    )
    topics = ("crude", "grain")
    return "".join(
        doc.format(i, topics[i % 2], topics[i % 2], i) for i in range(first, first + count)
    ).encode("latin-1")


def _reuters_archive(path: Path, mode: str = "w:gz") -> list[tuple[str, tuple[str, ...]]]:
    """A three-member Reuters archive at `path`; returns its documents' ids and topics."""
    import tarfile

    with tarfile.open(path, mode) as tar:
        for k in range(3):
            data = _reuters_sgml(k * 40, 40)
            member = tarfile.TarInfo(f"reut2-00{k}.sgm")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return [(str(i), (("crude", "grain")[i % 2],)) for i in range(120)]


def test_reuters_refuses_a_pipe_or_device_among_its_files(tmp_path: Path) -> None:
    # Before: a named pipe hung every command, and /dev/zero ended in a MemoryError.
    for kind, make in (("a named pipe", os.mkfifo), ("a character device", None)):
        folder = tmp_path / kind.replace(" ", "_")
        folder.mkdir()
        (folder / "reut2-000.sgm").write_bytes(_reuters_sgml(0, 3))
        odd = folder / "reut2-001.sgm"
        if make is None:
            odd.symlink_to("/dev/zero")
        else:
            make(odd)
        with (
            deadline(20),
            pytest.raises(
                CorpusFormatError,
                match=rf"reut2-001\.sgm: {kind}, not a regular file; the reuters reader reads "
                r"each reut2-\*\.sgm as a regular file$",
            ),
        ):
            list(open_corpus(folder))


def test_reuters_refuses_binary_files_and_holds_no_more_than_its_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tarfile

    # A sparse 4 GiB file takes a few KB on disk: before, read whole into a MemoryError.
    sparse = tmp_path / "sparse" / "reut2-000.sgm"
    sparse.parent.mkdir()
    sparse.write_bytes(_reuters_sgml(0, 1))
    os.truncate(sparse, 4 << 30)
    with pytest.raises(CorpusFormatError, match=r"reut2-000\.sgm: looks like a binary file"):
        list(open_corpus(sparse.parent))
    # Text past the bound for one file: refused as it streams in, and a member as its tar
    # header tells, before it is inflated.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 5_000)
    big = tmp_path / "big" / "reut2-000.sgm"
    big.parent.mkdir()
    big.write_bytes(_reuters_sgml(0, 100))
    one_file = r"more than the 5,000 bytes topicclf reads from one reut2-\*\.sgm file"
    with pytest.raises(CorpusFormatError, match=rf"big/reut2-000\.sgm: {one_file}"):
        list(open_corpus(big.parent))
    with pytest.raises(CorpusFormatError, match=rf"big/reut2-000\.sgm: {one_file}"):
        list(open_corpus(big, format="reuters"))
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(big, arcname=big.name)
    size = big.stat().st_size
    with pytest.raises(
        CorpusFormatError, match=rf"big\.tar\.gz:reut2-000\.sgm: {size:,} bytes, {one_file}"
    ):
        list(open_corpus(archive, format="reuters"))
    # All the files of one source: each within its bound, together past theirs.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 64 << 20)
    monkeypatch.setattr(config, "MAX_REUTERS_BYTES", 2 * size - 1)
    (big.parent / "reut2-001.sgm").write_bytes(big.read_bytes())
    with pytest.raises(
        CorpusFormatError,
        match=rf"reut2-001\.sgm: more than the {size - 1:,} bytes left of the "
        rf"{2 * size - 1:,} topicclf reads from the reut2-\*\.sgm files of one Reuters source",
    ):
        list(open_corpus(big.parent))


def test_reuters_archive_damaged_after_its_first_member_is_refused(tmp_path: Path) -> None:
    import tarfile

    whole = tmp_path / "whole.tar"
    expected = _reuters_archive(whole, "w")
    assert [(d.id, d.labels) for d in open_corpus(whole, format="reuters")] == expected
    # A damaged second header: tarfile took it for the archive's end, and the documents of
    # the second and third members were lost with exit 0.
    with tarfile.open(whole) as tar:
        second = tar.getmembers()[1].offset
    raw = bytearray(whole.read_bytes())
    raw[second + 20] ^= 0x55
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(
        CorpusFormatError,
        match=rf"damaged\.tar: not a readable tar archive \(damaged: its tar data at byte "
        rf"{second:,} is neither a member's header nor the zeros after the last one",
    ):
        list(open_corpus(damaged, format="reuters"))
    # gzip: one changed byte fails the CRC at the end of the stream, which is now read.
    archive = tmp_path / "r.tar.gz"
    _reuters_archive(archive)
    raw = bytearray(archive.read_bytes())
    raw[len(raw) * 2 // 3] ^= 0x55
    archive.write_bytes(bytes(raw))
    with pytest.raises(CorpusFormatError, match=r"r\.tar\.gz: not a readable tar archive \("):
        list(open_corpus(archive, format="reuters"))


@PROPERTY
@given(st.sampled_from(["gz", "bz2", "xz"]), st.floats(0, 1, exclude_max=True), st.integers(1, 255))
def test_a_changed_byte_in_a_reuters_archive_is_never_read_silently(
    compression: str, where: float, change: int
) -> None:
    # Before: 400 to 1,148 of 1,200 documents, or garbled ones, with exit 0.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"r.tar.{compression}"
        expected = _reuters_archive(path, f"w:{compression}")
        raw = bytearray(path.read_bytes())
        raw[int(len(raw) * where)] ^= change
        path.write_bytes(bytes(raw))
        try:
            docs = list(open_corpus(path, format="reuters"))
        except CorpusFormatError as exc:
            assert "not a readable tar archive" in str(exc) or "no reut2-*.sgm" in str(exc)
            return
    # Only a byte nothing checks and nothing reads (a gzip header's time stamp) leaves it be.
    assert [(d.id, d.labels) for d in docs] == expected


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_header_without_text_is_named_by_its_first_columns_not_all(
    tmp_path: Path, suffix: str
) -> None:
    # A header of 50,000 names of 1,000 characters made one 50 MB bad-record line.
    names = [f"c{i}_" + "x" * 1000 for i in range(500)]
    path = tmp_path / f"wide{suffix}"
    if suffix == ".csv":
        path.write_text(",".join(names) + "\n" + ",".join("v" for _ in names) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({n: pa.array(["v"]) for n in names}), path)
    with pytest.warns(BadRecordWarning, match=r"\(found: c0_x{27}\.\.\.\(1,003 characters\), "):
        docs = list(open_corpus(path, on_error="report"))
    assert "and 480 more); name the column with --text-field" in docs[0].error
    assert len(docs[0].error) < 2_000


def test_a_bad_record_s_message_is_cut_in_the_output_record() -> None:
    from topicclf.config import BAD_RECORD_CHARS
    from topicclf.corpus.base import CorpusOptions, bad_record

    error = CorpusFormatError("x.jsonl:1: " + "z" * 10_000)
    with pytest.warns(BadRecordWarning):
        doc = bad_record(error, "x", CorpusOptions(on_error="report"))
    assert doc is not None and doc.error is not None
    assert doc.error == str(error)[:BAD_RECORD_CHARS] + "... (10,011 characters)"


def _parquet_topic_lists(path: Path, rows: int, per_row: int, name: str) -> None:
    """A Parquet file whose `rows` rows each list `name` `per_row` times: a dictionary index
    run-length encoded, so millions of names take a few bytes (as in a hostile file)."""
    import numpy as np

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    names = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows * per_row, dtype=np.int8)), pa.array([name])
    )
    offsets = pa.array(np.arange(0, rows * per_row + 1, per_row, dtype=np.int32))
    labels = pa.ListArray.from_arrays(offsets, names)
    table = pa.table({"text": ["rain wind storm"] * rows, "labels": labels})
    pq.write_table(table, path, row_group_size=rows, compression="zstd")


def test_a_parquet_row_listing_too_many_topic_names_is_a_bad_record_never_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 2 KB file of 20 rows listing 5,000,000 empty (or 1-character) names each cost 28-35 s
    # and 3.3 GB: an empty name counted no bytes when rows were sized, and every row was
    # turned into Python lists before the topics bound was checked. Now the names are counted
    # from the list offsets, and such a row is a bad record, decoded never.
    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 100_000)  # batches of a row or two
    path = tmp_path / "lists.parquet"
    _parquet_topic_lists(path, 20, 200_000, "")
    assert path.stat().st_size < 3_000
    tracemalloc.start()
    try:
        with pytest.warns(BadRecordWarning) as caught:
            docs = list(open_corpus(path, on_error="report"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [bool(d.error) for d in docs] == [True] * 20
    assert str(caught[0].message) == (
        f"{path}:row 1: 200,000 topic names in one document (empty and repeated ones count), "
        "more than the 10,000 topicclf reads per document"
    )
    assert peak < 8_000_000  # 20 lists of 200,000 names at once, 32 MB and more, before
    # tag and explain read no topics (labels_files="ignore"): the column is not even read.
    tracemalloc.start()
    try:
        docs = list(open_corpus(path, labels_files="ignore"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(d.text, d.labels, d.error) for d in docs] == [("rain wind storm", (), None)] * 20
    assert peak < 5_000_000
    # Up to the bound, repeated names are one topic, as before.
    monkeypatch.undo()
    _parquet_topic_lists(path, 3, 10_000, "a")
    assert [d.labels for d in open_corpus(path)] == [("a",)] * 3


def test_a_separated_topics_field_is_counted_before_it_is_split(tmp_path: Path) -> None:
    # A CSV row of 60 MB of separators was split into 60 million empty names (27 times the
    # row's size); a Parquet string column the same.
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = tmp_path / "c.csv"
    table.write_text(f"text,labels\nrain,{'|' * 10_000}x\nwind,{'a|' * 9_999}b\n")
    with pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(table, on_error="report"))
    assert [(d.text, d.labels) for d in docs] == [("", ()), ("wind", ("a", "b"))]
    assert [str(w.message) for w in caught] == [
        f"{table}:2: 10,001 topic names in one document (empty and repeated ones count), "
        "more than the 10,000 topicclf reads per document"
    ]
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"text": ["rain"], "labels": ["|" * 10_000]}), path)
    with pytest.raises(CorpusFormatError, match=r"s\.parquet:row 1: 10,001 topic names in one"):
        list(open_corpus(path))


def _names_message(where: str, count: int) -> str:
    return (
        f"{where}: {count:,} topic names in one document (empty and repeated ones count), "
        "more than the 10,000 topicclf reads per document"
    )


def test_every_line_reader_counts_the_topic_names_a_record_lists(tmp_path: Path) -> None:
    # Before: only CSV and Parquet counted them. JSON Lines took 15,000,000 names in one
    # record (4.7 s, 476 MB) and fastText 5,000,000 (3.3 s, 332 MB), exit 0.
    most = config.MAX_TOPIC_NAMES_LISTED
    lines = tmp_path / "c.jsonl"
    records = [
        {"id": "x", "text": "rain", "labels": ["a"] * (most + 1)},
        {"id": "y", "text": "wind", "labels": ["a", ""] * (most // 2)},
    ]
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    ft = tmp_path / "c.ft"
    ft.write_text("__label__a " * (most + 1) + "rain\n" + "__label__b " * most + "wind\n")
    for path, fmt in ((lines, "jsonl"), (ft, "fasttext")):
        with pytest.warns(BadRecordWarning) as caught:
            docs = list(open_corpus(path, fmt, on_error="report"))
        assert [str(w.message) for w in caught] == [_names_message(f"{path}:1", most + 1)]
        assert [(d.text, bool(d.error)) for d in docs] == [("", True), ("wind", False)]
        assert len(docs[1].labels) == 1  # up to the bound, repeats are one topic
    # tag reads no topics: the same records cost no document.
    docs = list(open_corpus(lines, labels_files="ignore"))
    assert [d.error for d in docs] == [None, None]


def test_a_labels_file_is_counted_in_lines_before_it_is_split(tmp_path: Path) -> None:
    # Before: a .labels file of 67,000,000 blank lines was split into as many strings and
    # read as no topics (corpus stats 9.8 s, 656 MB; train saved the model), exit 0.
    most = config.MAX_TOPIC_NAMES_LISTED
    root = tmp_path / "td"
    root.mkdir()
    for name, labels in (("a", "\n" * (most + 1)), ("b", "x\n" * most), ("c", "\r\n" * most)):
        (root / f"{name}.txt").write_text("rain")
        (root / f"{name}.labels").write_text(labels, newline="")
    with pytest.warns(BadRecordWarning) as caught:
        docs = list(open_corpus(root, "txtdir", on_error="report"))
    assert [str(w.message) for w in caught] == [_names_message(f"{root}/a.labels", most + 1)]
    # 10,000 lines with a last line end are 10,000 lines, not 10,001.
    assert [(d.id, d.labels, bool(d.error)) for d in docs] == [
        ("a", (), True),
        ("b", ("x",), False),
        ("c", (), False),
    ]


def test_clean_labels_counts_the_names_it_is_given() -> None:
    # The one rule for every reader's list (Reuters' <D> elements too).
    most = config.MAX_TOPIC_NAMES_LISTED
    assert clean_labels([" a "] * most) == ("a",)
    with pytest.raises(CorpusFormatError, match=re.escape(_names_message("r.sgm", most + 1))):
        clean_labels(["a"] * (most + 1), "r.sgm")


@pytest.mark.parametrize("option", ["text_field", "id_field", "labels_field"])
def test_the_language_field_is_no_field_for_another_role(tmp_path: Path, option: str) -> None:
    # Before: open_corpus(path, text_field="language") read each text as its document's
    # language too: a text over 100 characters was a bad record about the language.
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "language": "rain " * 30, "labels": ["x"]}) + "\n")
    flag = "--" + option.replace("_", "-")
    with pytest.raises(CorpusFormatError) as caught:
        open_corpus(path, **{option: "language"})
    assert str(caught.value) == (
        f"{flag} names 'language' ({option}= in Python), the field JSON Lines reads and "
        "writes each document's language in; give it another field or column"
    )
    if option == "labels_field":  # tag reads no topics: no clash
        assert open_corpus(path, labels_field="language", labels_files="ignore") is not None


def test_a_labels_column_not_read_is_not_checked(tmp_path: Path) -> None:
    # With labels_files="ignore" (tag, explain) the topics column is not read at all: its
    # type, or a repeat of its name in a CSV header, costs no document.
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["rain"], "labels": [5]}), path)
    assert [d.text for d in open_corpus(path, labels_files="ignore")] == ["rain"]
    with pytest.raises(CorpusFormatError, match=r"the labels column 'labels' has the type int64"):
        list(open_corpus(path))
    table = tmp_path / "c.csv"
    table.write_text("text,labels,labels\nrain,a,b\n")
    assert [d.text for d in open_corpus(table, labels_files="ignore")] == ["rain"]
    with pytest.raises(CorpusFormatError, match=r"the header repeats the column 'labels'"):
        list(open_corpus(table))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"text_field": "labels"}, "--text-field and --labels-field both name 'labels' "
         "(text_field= and labels_field= in Python)"),
        ({"id_field": "text"}, "--text-field and --id-field both name 'text' "
         "(text_field= and id_field= in Python)"),
        ({"labels_field": "id"}, "--labels-field and --id-field both name 'id' "
         "(labels_field= and id_field= in Python)"),
    ],
)  # fmt: skip
def test_open_corpus_refuses_one_field_named_for_two_roles(
    tmp_path: Path, options: dict[str, str], message: str
) -> None:
    # Before: the topics read as the text, or a converted corpus written without its text.
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "text": "rain", "labels": ["weather"]}\n')
    with pytest.raises(CorpusFormatError) as caught:
        open_corpus(path, **options)
    assert str(caught.value) == f"{message}; give each its own field or column"


def test_a_field_named_for_topics_not_read_is_free_for_the_text(tmp_path: Path) -> None:
    # labels_files="ignore" (tag, explain): no topics are read, so the labels field's name
    # may be the text's.
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "1", "labels": "rain"}\n')
    docs = list(open_corpus(path, text_field="labels", labels_files="ignore"))
    assert [(d.id, d.text, d.labels) for d in docs] == [("1", "rain", ())]


def test_a_topic_name_spelt_decomposed_is_the_same_topic(tmp_path: Path) -> None:
    """Texts are read in NFC; topic names were not, so "Gemüse" in NFD was a second topic
    printed alike (corpus stats showed two rows; evaluate counted it unknown) (attacker
    pass 29, CLI F1)."""
    import unicodedata

    from topicclf.inputs import topic_set

    nfd = unicodedata.normalize("NFD", "Gemüse")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"text": "a", "labels": ["Gemüse", nfd]}) + "\n"
        + json.dumps({"text": "b", "labels": [f" {nfd} "]}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    assert [d.labels for d in open_corpus(corpus)] == [("Gemüse",), ("Gemüse",)]
    assert topic_set([nfd, "Gemüse"], 0) == ("Gemüse",)


@pytest.mark.parametrize(("name", "encoding"), [("tiny.csv", "utf-16"), ("tiny.jsonl", "utf-32")])
def test_utf16_or_32_without_a_mark_names_the_encoding_option(
    data_dir: Path, name: str, encoding: str
) -> None:
    # Before: "cannot decode the text as utf-16-le, which the file's byte-order mark names
    # ...; the file may be damaged", of a file with no mark (Python names the -le codec).
    with pytest.raises(
        CorpusFormatError,
        match=rf"{re.escape(name)}:1: cannot decode the text as {encoding} \(.*\); use "
        r"another encoding \(e\.g\. --encoding latin-1\), or --encoding-errors replace",
    ):
        list(open_corpus(data_dir / name, encoding=encoding))


def _folders(root: Path, names: list[bytes]) -> None:
    for i, name in enumerate(names):
        folder = os.fsencode(root) + b"/" + name
        os.makedirs(folder)
        with open(folder + b"/d%d.txt" % i, "w") as handle:
            handle.write(f"text {i}")


def test_folder_names_are_topics_by_the_readers_rule(tmp_path: Path) -> None:
    # Before: 'caf\udce9' and 'caf\udce8' (Latin-1 folder names) were two topics to `corpus
    # stats` and one ('caf\ufffd') to training; 'sport ' a second 'sport'; ' ' a topic.
    root = tmp_path / "fo"
    _folders(root, [b"caf\xe9", b"caf\xe8", b"sport", b"sport ", b" ", b"Gemu\xcc\x88se"])
    with pytest.warns(UserWarning) as caught:
        docs = list(open_corpus(root, "folders"))
    assert [str(w.message) for w in caught] == [
        f"{root}: folder(s) ' ' name no topic (empty once white space is stripped): their 1 "
        "document(s) are read with no topic; folders 'caf\\udce8', 'caf\\udce9' read as one "
        "topic, 'caf\ufffd', and their documents are read so; rename them to keep them apart; "
        "folders 'sport', 'sport ' read as one topic, 'sport', and their documents are "
        "read so; rename them to keep them apart (a topic name is read in Unicode NFC, "
        "stripped, undecodable bytes as U+FFFD, as in every format)"
    ]
    assert sorted((d.text, d.labels) for d in docs) == [
        ("text 0", ("caf\ufffd",)),
        ("text 1", ("caf\ufffd",)),
        ("text 2", ("sport",)),
        ("text 3", ("sport",)),
        ("text 4", ()),
        ("text 5", ("Gem\u00fcse",)),
    ]
    # Folders that read as distinct topics: nothing said.
    clean = tmp_path / "clean"
    _folders(clean, [b"sport", b"weather"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [d.labels for d in open_corpus(clean, "folders")] == [("sport",), ("weather",)]


def test_folders_ids_read_undecodable_bytes_as_u_fffd(tmp_path: Path) -> None:
    # Before: ids kept the lone surrogates ('caf\udce9/d0.txt'): duplicate ids went
    # uncounted, and `explain --json` wrote '\udce9' where `tag` wrote U+FFFD.
    root = tmp_path / "fo"
    _folders(root, [b"caf\xe9", b"sport"])
    os.rename(os.fsencode(root / "sport" / "d1.txt"), os.fsencode(root / "sport") + b"/\xff.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(d.id for d in open_corpus(root, "folders")) == [
            "caf\ufffd/d0.txt",
            "sport/\ufffd.txt",
        ]


def test_hidden_entries_are_named_and_not_read_by_both_directory_readers(tmp_path: Path) -> None:
    # Before: `folders` dropped a hidden topic folder ('.NET') and hidden files without a
    # word, and `txtdir` read hidden .txt files (inside .git too): one rule now, said.
    root = tmp_path / "fo"
    for topic in ("sport", ".NET"):
        (root / topic).mkdir(parents=True)
        (root / topic / "1.txt").write_text(f"{topic} news")
    (root / "sport" / ".2.txt").write_text("hidden file")
    (root / "sport" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    with pytest.warns(
        UserWarning,
        match=r"fo: 3 entries not read as documents: 3 hidden file\(s\) and folder\(s\), whose "
        r"names start with '\.' \('\.NET', 'sport/\.2\.txt', 'sport/\.DS_Store'\); in --format "
        r"folders",
    ):
        assert [(d.id, d.labels) for d in open_corpus(root, "folders")] == [
            ("sport/1.txt", ("sport",))
        ]
    td = tmp_path / "td"
    (td / ".git").mkdir(parents=True)
    (td / ".git" / "a.txt").write_text("in git")
    (td / ".hidden.txt").write_text("rain")
    (td / "a.txt").write_text("goal")
    with pytest.warns(
        UserWarning,
        match=r"td: 2 entries not read as documents: 2 hidden file\(s\) and folder\(s\), whose "
        r"names start with '\.' \('\.git', '\.hidden\.txt'\); a text directory reads",
    ):
        assert [d.id for d in open_corpus(td, "txtdir")] == ["a"]


def test_a_path_with_a_nul_character_is_named(tmp_path: Path) -> None:
    """os.stat's raw "ValueError: embedded null byte" named no path and was no topicclf error."""
    from topicclf.errors import InputError

    for format in (None, "jsonl", "folders"):
        with pytest.raises(InputError, match=r"^path: 'a\\x00b' holds a NUL character"):
            open_corpus("a\x00b", format)
        with pytest.raises(InputError, match=r"^path: '.*/a\\x00b' holds a NUL character"):
            open_corpus(tmp_path / "a\x00b", format)


@pytest.mark.parametrize("format", ["folders", "txtdir", "reuters", "parquet"])
def test_standard_input_in_a_format_that_cannot_read_it_is_refused(
    monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    """'-' was looked for as a file: "-: no such file or directory", as a bad record."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\n")))
    with pytest.raises(
        CorpusFormatError,
        match=rf"^-: standard input can be read as jsonl, csv, tsv, fasttext, lines, text "
        rf"\(not {format}\)$",
    ):
        open_corpus("-", format)
    assert [d.text for d in open_corpus("-", "lines")] == ["hello"]


@pytest.mark.parametrize("blank", ["", "  ", "\u00a0 "])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_an_empty_or_blank_id_is_no_id_in_every_reader(
    blank: str, fmt: str, tmp_path: Path
) -> None:
    # Attacker pass 35, CLI/API 4: JSON Lines kept "" and "  " as ids (two such records
    # were duplicates), CSV/TSV generated `name:line` for an empty cell but kept a blank one.
    path = tmp_path / f"e.{fmt}"
    if fmt == "jsonl":
        rows = [{"id": blank, "text": "a"}, {"id": "k", "text": "b"}, {"id": blank, "text": "c"}]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        first = 1
    else:
        sep = "," if fmt == "csv" else "\t"
        path.write_text(f"id{sep}text\n{blank}{sep}a\nk{sep}b\n{blank}{sep}c\n")
        first = 2
    docs = list(open_corpus(path))
    assert [d.id for d in docs] == [f"e:{first}", "k", f"e:{first + 2}"]
    assert [d.generated_id for d in docs] == [True, False, True]


def test_an_empty_or_blank_parquet_id_is_no_id(tmp_path: Path) -> None:
    # Attacker pass 35, CLI/API 4: the same rule as JSON Lines and CSV/TSV.
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"id": ["", "k", " "], "text": ["a", "b", "c"]}), path)
    docs = list(open_corpus(path))
    assert [d.id for d in docs[1:2]] == ["k"]
    assert [d.generated_id for d in docs] == [True, False, True]
    assert docs[0].id != docs[2].id


def test_an_empty_id_converts_to_the_same_generated_id_in_every_format(tmp_path: Path) -> None:
    # Attacker pass 35, CLI/API 4: jsonl -> csv -> jsonl turned "" into "e:2", so `tag`
    # answered the same document by two ids depending on the format it was given in.
    from topicclf.cli import run

    source = tmp_path / "e.jsonl"
    source.write_text('{"id": "", "text": "b"}\n{"id": "  ", "text": "c"}\n')
    ids = [d.id for d in open_corpus(source)]
    assert ids == ["e:1", "e:2"]
    for fmt in ("csv", "tsv", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        assert run(["-q", "corpus", "convert", str(source), str(target)]) == 0
        assert [d.id for d in open_corpus(target)] == ids
        back = tmp_path / f"back-{fmt}.jsonl"
        assert run(["-q", "corpus", "convert", str(target), str(back)]) == 0
        assert [d.id for d in open_corpus(back)] == ids


def test_a_made_up_id_equal_to_a_document_id_is_a_duplicate(tmp_path: Path) -> None:
    """`e:3` given as an id and made up for line 3 (before or after it) is warned about as
    any repeated id, in convert's stream (attacker pass 36, finding 1)."""
    from topicclf.corpus.ids import warning_duplicate_ids
    from topicclf.errors import DuplicateIdWarning

    path = tmp_path / "e.jsonl"
    path.write_text(
        '{"id": "e:3", "text": "The striker scored twice"}\n'
        '{"id": "e:5", "text": "Heavy rain expected"}\n'
        '{"text": "Shares rose after profit"}\n'
        '{"text": "rain and wind"}\n'
        '{"text": "goal"}\n'
        '{"id": "e:4", "text": "sun"}\n',
        encoding="utf-8",
    )
    for batch in (1, 2, 1_000):
        docs = open_corpus(str(path), "jsonl")
        with pytest.warns(DuplicateIdWarning, match=r"3 document\(s\) reuse .*'e:3', 'e:5', 'e:4'"):
            ids = [d.id for d in warning_duplicate_ids(docs, str(path), batch)]
        assert ids == ["e:3", "e:5", "e:3", "e:4", "e:5", "e:4"]
    # Made-up ids never clash with each other, and one a document's own id skips is not
    # taken as made up: no warning.
    path.write_text(
        '{"text": "a"}\n{"id": "x", "text": "b"}\n{"text": "c"}\n{"id": "e:2", "text": "d"}\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(warning_duplicate_ids(open_corpus(str(path), "jsonl"), "e"))) == 4
