from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.bundle import load_vocabulary
from topicclf.bundle.files import ModelFiles, write_json
from topicclf.bundle.layout import VOCABULARY_FILE
from topicclf.errors import CorpusFormatError, DataError, ModelBundleError
from topicclf.vocabulary import (
    Subject,
    Vocabulary,
    derived_subject,
    parse_vocabulary,
    read_vocabulary,
)


def test_annif_tsv_lines() -> None:
    lines = [
        "<http://example.org/w>\tweather\n",
        "\n",
        "http://example.org/s\tsport\t42.1\r\n",
        "<http://example.org/old>\n",  # no label: deprecated in Annif, matchable by URI
    ]
    assert parse_vocabulary(lines) == [
        Subject("http://example.org/w", "weather"),
        Subject("http://example.org/s", "sport", "42.1"),
        Subject("http://example.org/old", ""),
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["<>\tempty uri\n"], "vocabulary:1: expected '<URI>', a tab and a label"),
        (["<a b>\tspace in uri\n"], "vocabulary:1: expected '<URI>'"),
        (["\n", " \n"], "vocabulary: no subjects in the vocabulary"),
    ],
)
def test_bad_vocabulary_lines(lines: list[str], message: str) -> None:
    with pytest.raises(CorpusFormatError, match=message):
        parse_vocabulary(lines)


def test_a_byte_order_mark_at_the_start_of_any_line_is_dropped(tmp_path: Path) -> None:
    # Attacker pass 27, CLI F4: two vocabularies joined with `cat` put the second file's BOM
    # at the start of a later line, and the URI became '\ufeff<http://x/f>', brackets kept.
    first = "\ufeff<http://x/m>\tmarkets\n".encode()
    second = "\ufeff<http://x/f>\tfood\n".encode()
    path = tmp_path / "joined.tsv"
    path.write_bytes(first + second)
    expected = [Subject("http://x/m", "markets"), Subject("http://x/f", "food")]
    assert read_vocabulary(path) == expected
    assert read_vocabulary(path, ["http://x/f"]) == [Subject("http://x/f", "food")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("<http://x/s\x1b[31m1>\ts\n", r"the URI holds '\\x1b' at character 11, which no URI"),
        ("<http://x/a\tlabel\n", r"the URI holds '<' at character 1"),
        ("http://x/a>\tlabel\n", r"the URI holds '>' at character 11"),
        ("<<http://x/a>>\tlabel\n", r"the URI holds '<' at character 1"),
        (" \ufeff<http://x/a>\tlabel\n", r"the URI holds '\\ufeff' at character 1"),
        ("<http://x/\u202ea>\tlabel\n", r"the URI holds '\\u202e' at character 10"),
        ("<http://x/\x85a>\tlabel\n", r"the URI holds '\\x85' at character 10"),
    ],
)
def test_a_uri_holding_brackets_or_control_characters_is_refused_by_line(
    line: str, message: str
) -> None:
    # Control characters (ESC [31m) were kept in a served URI, and brackets left where a
    # character that is not white space kept them from being removed.
    lines = ["<http://x/ok>\tok\n", line]
    with pytest.raises(
        CorpusFormatError, match=r"^v\.tsv:2: expected '<URI>', a tab and a label \("
    ):
        parse_vocabulary(lines, "v.tsv")
    with pytest.raises(CorpusFormatError, match=message):
        parse_vocabulary(lines, "v.tsv")


def test_labels_and_notations_keep_their_control_characters() -> None:
    # As topic names do: kept exactly, shown as escapes wherever a person reads them.
    line = "<http://x/a>\tred\x1b[31m\t\x1b[2J\n"
    assert parse_vocabulary([line]) == [Subject("http://x/a", "red\x1b[31m", "\x1b[2J")]


def test_train_refuses_a_vocabulary_line_whose_uri_is_no_uri(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from topicclf.cli import run

    vocabulary = tmp_path / "v.tsv"
    vocabulary.write_text("<http://x/m>\tmarkets\n<http://x/s\x1b[31m>\tsport\n")
    corpus = Path(__file__).parent / "data" / "tiny.jsonl"
    args = ["-q", "train", str(corpus), "-o", str(tmp_path / "m"), "--vocabulary", str(vocabulary)]
    assert run([*args, "--set", "train.epochs=1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {vocabulary}:2: expected '<URI>', a tab and a label (the URI")
    assert "holds '\\x1b' at character 11, which no URI holds)" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_read_vocabulary_file(tmp_path: Path) -> None:
    path = tmp_path / "v.tsv"
    path.write_bytes("\ufeff<http://x/1>\tcafé\n".encode())
    assert read_vocabulary(path) == [Subject("http://x/1", "café")]
    path.write_bytes(b"<http://x/1>\tcaf\xe9\n")
    with pytest.raises(CorpusFormatError, match=r"v\.tsv: not UTF-8 text \(byte 0xe9\); save"):
        read_vocabulary(path)
    with pytest.raises(CorpusFormatError, match=r"missing\.tsv: no such file"):
        read_vocabulary(tmp_path / "missing.tsv")


def test_a_vocabulary_must_be_a_regular_file_of_a_vocabulary_s_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: a FIFO hung `train --vocabulary` and /dev/zero ran it out of memory (7.9 GB).
    import os

    from topicclf import vocabulary

    fifo = tmp_path / "v.fifo"
    os.mkfifo(fifo)
    with pytest.raises(CorpusFormatError, match=r"v\.fifo: not a regular file; a vocabulary is a"):
        read_vocabulary(fifo)
    with pytest.raises(CorpusFormatError, match=r"/dev/zero: not a regular file"):
        read_vocabulary("/dev/zero")
    with pytest.raises(CorpusFormatError, match=r": a directory, not a file"):
        read_vocabulary(tmp_path)
    big = tmp_path / "big.tsv"
    big.write_text("<http://x/1>\tone\n" * 10)
    monkeypatch.setattr(vocabulary, "VOCABULARY_MAX_BYTES", 50)
    with pytest.raises(CorpusFormatError, match=r"big\.tsv: larger than 50 bytes; a vocabulary"):
        read_vocabulary(big)
    # NEL and U+2028 inside a label are text, as in a file read line by line.
    path = tmp_path / "v.tsv"
    path.write_text("<http://x/1>\ta\x85b\u2028c\n", encoding="utf-8")
    monkeypatch.setattr(vocabulary, "VOCABULARY_MAX_BYTES", 1000)
    assert read_vocabulary(path) == [Subject("http://x/1", "a\x85b\u2028c")]


def test_topics_match_by_uri_then_label() -> None:
    subjects = [
        Subject("http://x/w", "weather"),
        Subject("http://x/s", "sport", "7"),
        Subject("http://x/old", ""),
        Subject("http://x/w2", "weather"),  # a repeated label: the first one wins
    ]
    topics = ["weather", "http://x/s", "<http://x/old>", "politics"]
    vocabulary, unmatched = Vocabulary.match(subjects, topics)
    assert unmatched == ["politics"]
    assert vocabulary.subject("weather") == Subject("http://x/w", "weather")
    assert vocabulary.subject("http://x/s") == Subject("http://x/s", "sport", "7")
    assert vocabulary.subject("<http://x/old>") == Subject("http://x/old", "<http://x/old>")
    assert vocabulary.subject("politics") == derived_subject("politics")


def test_derived_uris_are_stable_and_percent_encoded() -> None:
    assert derived_subject("a b/ü") == Subject("urn:topicclf:topic:a%20b%2F%C3%BC", "a b/ü")


def test_bundle_round_trip_and_checks(tmp_path: Path) -> None:
    vocabulary = Vocabulary({"sport": Subject("http://x/s", "Sport", None)})
    write_json(tmp_path / VOCABULARY_FILE, vocabulary.to_dict())
    files = ModelFiles(tmp_path, None, {})  # unhashed files, as in a format-1 directory
    assert load_vocabulary(files, ["sport", "weather"]) == vocabulary
    with pytest.raises(ModelBundleError, match="names topics the model does not have: sport"):
        load_vocabulary(files, ["weather"])
    (tmp_path / VOCABULARY_FILE).write_text('{"subjects": []}')
    with pytest.raises(ModelBundleError, match="vocabulary.json: malformed"):
        load_vocabulary(files, ["sport"])
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert load_vocabulary(ModelFiles(empty, None, {}), ["sport"]) is None


def test_an_entry_longer_than_any_subject_s_is_refused() -> None:
    """A forged vocabulary.json label of 15 million characters was sent whole with every
    suggestion of the topic (60 MB answers to a 30-byte request)."""
    with pytest.raises(ValueError, match=r"topic 'a': a uri, label or notation of 3,000"):
        Vocabulary.from_dict({"subjects": {"a": {"uri": "http://x/a", "label": "L" * 3000}}})
    with pytest.raises(CorpusFormatError, match=r"voc:2: a URI, label or notation longer"):
        parse_vocabulary(["<http://x/a>\ta\n", "<http://x/b>\t" + "L" * 3000 + "\n"], "voc")


def test_a_vocabulary_read_for_topics_keeps_only_their_subjects(tmp_path: Path) -> None:
    # train --vocabulary held every subject of the file: 20 million (418 MB) took 7.4 GB,
    # then internal error: MemoryError; a model keeps only its own topics' subjects. Now
    # the file is read a line at a time, every line checked, the first subject of each URI
    # or label of a topic kept (as Vocabulary.match takes them).
    import tracemalloc

    lines = ["\ufeff<http://x/w>\tweather\n", "<http://x/s>\tsport\t7\r\n"]
    lines += [f"<http://x/u{i}>\tl{i}\n" for i in range(200_000)]
    lines += ["<http://x/w2>\tweather\n", "http://x/s\tsport again\n", "<http://x/o>\n"] * 1000
    path = tmp_path / "v.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    topics = ["weather", "<http://x/s>", "http://x/o", "l7", "politics"]
    tracemalloc.start()
    try:
        kept = read_vocabulary(path, topics)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kept == [
        Subject("http://x/w", "weather"),
        Subject("http://x/s", "sport", "7"),
        Subject("http://x/u7", "l7"),
        Subject("http://x/o", ""),
    ]
    assert peak < 2_000_000  # the whole file was held (4.5 MB), and 200,000 subjects
    whole = read_vocabulary(path)
    assert len(whole) == 203_002
    assert Vocabulary.match(kept, topics) == Vocabulary.match(whole, topics)
    # A bad line is found wherever it is, kept or not.
    path.write_text("".join(lines[:5000]) + "<a b>\tbad\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"v\.tsv:5001: expected '<URI>', a tab"):
        read_vocabulary(path, topics)
    path.write_bytes(b"<http://x/1>\tone\n" * 5000 + b"<http://x/2>\tcaf\xe9\n")
    with pytest.raises(CorpusFormatError, match=r"v\.tsv: not UTF-8 text \(byte 0xe9\)"):
        read_vocabulary(path, ["one"])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8"])
def test_a_vocabulary_is_read_as_its_byte_order_mark_says(tmp_path: Path, encoding: str) -> None:
    # Notepad's "Unicode" is UTF-16 with a mark: read as reports, configs and corpora read
    # a file (pass 46: a raw codec message), a doubled mark dropped too.
    path = tmp_path / "v.tsv"
    text = "\ufeff<http://x/1>\tcafé\n\ufeff\ufeff<http://x/2>\ttwo\n"
    # The text's own U+FEFF is the mark where the codec writes none (utf-16-be, utf-8).
    path.write_bytes(text.encode(encoding))
    assert read_vocabulary(path) == [Subject("http://x/1", "café"), Subject("http://x/2", "two")]
    path.write_bytes(b"\xff\xfe" + "<http://x/1>\tone\n".encode("utf-16-le") + b"\x00\xdc")
    with pytest.raises(CorpusFormatError, match=r"not UTF-16-LE text, which its byte order mark"):
        read_vocabulary(path)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "x", "http://e/a"]),
            st.sampled_from(["", "a", "b", "x"]),
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.sampled_from(["a", "b", "<a>", "x", "<x>", "http://e/a", "c"]), max_size=4),
)
def test_the_subjects_kept_for_topics_match_as_the_whole_file_does(
    rows: list[tuple[str, str]], topics: list[str]
) -> None:
    # One set of keys for URIs and labels let a label hide a later line's URI: the model kept
    # another subject for a topic than the whole file gives (pass 17 on the CLI, finding 1).
    lines = [f"<{uri}>\t{label}\n" for uri, label in rows]
    try:
        whole: object = Vocabulary.match(parse_vocabulary(lines), topics)
    except DataError as exc:  # two topics one subject: refused when the lines are read too
        whole = f"v: {exc}"
    try:
        kept: object = Vocabulary.match(parse_vocabulary(lines, "v", topics), topics)
    except DataError as exc:
        kept = str(exc)
    assert kept == whole


def test_a_label_spelt_decomposed_matches_its_topic(tmp_path: Path) -> None:
    """Topic names are read in NFC (config.normal_topic); a vocabulary's labels the same,
    or "Gemüse" in NFD would never match the corpus's topic (attacker pass 29, CLI F1)."""
    import unicodedata

    from topicclf.vocabulary import read_vocabulary

    path = tmp_path / "v.tsv"
    path.write_text(f"<http://ex.org/g>\t{unicodedata.normalize('NFD', 'Gemüse')}\n")
    (subject,) = read_vocabulary(path, ["Gemüse"])
    assert subject.label == "Gemüse" and subject.uri == "http://ex.org/g"


def test_two_topics_of_one_subject_are_refused_when_trained_and_when_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A topic equal to a subject's URI and another equal to its label were both that
    subject: Annif's suggest listed its URI twice for a document (attacker pass 29, names
    F1). One check, when a vocabulary is matched for training and when a model's is loaded."""
    from topicclf.cli import run

    refused = (
        "the topics 'http://x/s' and 'sport' are both the subject <http://x/s> ('sport'), so "
        "a document's suggestions would name it twice; merge the two topics in the corpus, or "
        "give each a subject of its own"
    )
    subjects = [Subject("http://x/w", "weather"), Subject("http://x/s", "sport")]
    with pytest.raises(DataError, match=f"^{re.escape(refused)}$"):
        Vocabulary.match(subjects, ["weather", "sport", "http://x/s"])
    with pytest.raises(DataError, match="the topics '<http://x/s>' and 'http://x/s' are both"):
        Vocabulary.match(subjects, ["<http://x/s>", "http://x/s"])
    # A subject's URI that is the URN another topic is served with when no subject names it.
    urn = [Subject("urn:topicclf:topic:sport", "games")]
    with pytest.raises(DataError, match="'games' and 'sport' are both the subject <urn:topicclf"):
        Vocabulary.match(urn, ["games", "sport"])
    # Each topic a subject of its own, a topic given twice: no complaint.
    assert Vocabulary.match(subjects, ["sport", "sport", "weather"])[0].subjects == {
        "sport": subjects[1],
        "weather": subjects[0],
    }

    # train: refused before the training, nothing written.
    vocabulary = tmp_path / "v.tsv"
    vocabulary.write_text("<http://x/w>\tweather\n<http://x/s>\tsport\n")
    corpus = tmp_path / "c.jsonl"
    docs = [("rain wind", "weather"), ("goal match", "sport"), ("cup final", "http://x/s")]
    corpus.write_text("".join(json.dumps({"text": t, "labels": [y]}) + "\n" for t, y in docs * 3))
    args = ["-q", "train", str(corpus), "-o", str(tmp_path / "m"), "--vocabulary", str(vocabulary)]
    assert run([*args, "--set", "train.epochs=1"]) == 1
    assert capsys.readouterr().err == f"error: {vocabulary}: {refused}\n"
    assert not (tmp_path / "m").exists()

    # load: a vocabulary.json that gives two topics one URI.
    stored = {
        "subjects": {
            "sport": {"uri": "http://x/s", "label": "sport"},
            "http://x/s": {"uri": "http://x/s", "label": "Sport"},
        }
    }
    write_json(tmp_path / VOCABULARY_FILE, stored)
    files = ModelFiles(tmp_path, None, {})
    with pytest.raises(
        ModelBundleError,
        match=r"vocabulary\.json: the topics 'http://x/s' and 'sport' are both the subject "
        r"<http://x/s> \('Sport'\)",
    ):
        load_vocabulary(files, ["sport", "http://x/s", "weather"])


@pytest.mark.parametrize(
    "uri",
    [
        "URN:topicclf:topic:food",  # the scheme and namespace are case-insensitive (RFC 8141)
        "urn:TOPICCLF:topic:food",
        "urn:topicclf:topic:%66ood",  # an escape of a character that needs none
        "urn:topicclf:topic:a%2fb",  # the escape in lower case: a/b is served as a%2Fb
        "urn:topicclf:topic:Gemu%CC%88se",  # NFD: normal_topic reads it as the model's Gemüse
        "urn:topicclf:other:x",  # the namespace is topicclf's, whatever follows
    ],
)
def test_a_topicclf_urn_in_a_vocabulary_must_be_its_own_topics(uri: str) -> None:
    """The one-subject check compared URIs as strings, so a topic given another spelling of
    the URN topicclf derives for a second topic passed it, and both were served as one
    subject (attacker pass 30, CLI F4). A vocabulary may give a topic only its own URN,
    exactly as derived_subject spells it."""
    topics = ["food", "markets", "a/b", "Gemüse"]
    refused = (
        f"v: the topic 'markets' is given the subject <{uri}>, a URN of topicclf's own "
        "namespace but not the one topicclf gives this topic (<urn:topicclf:topic:markets>), "
        "so it could be another topic's; give the topic a URI of the vocabulary's own, or "
        "leave it out (it is then served as that URN)"
    )
    with pytest.raises(DataError, match=f"^{re.escape(refused)}$"):
        parse_vocabulary([f"<{uri}>\tmarkets\n"], "v", topics)
    # The same check when a model's vocabulary.json is loaded.
    stored = {"subjects": {"markets": {"uri": uri, "label": "markets"}}}
    with pytest.raises(DataError, match=f"^{re.escape(refused[3:])}$"):
        Vocabulary.from_dict(stored, topics)


def test_a_topics_own_urn_exactly_spelt_is_taken() -> None:
    topics = ["food", "a/b", "Gemüse"]
    lines = [f"<{derived_subject(t).uri}>\t{t}\n" for t in topics]
    vocabulary, unmatched = Vocabulary.match(parse_vocabulary(lines, "v", topics), topics)
    assert unmatched == [] and vocabulary.subjects == {t: derived_subject(t) for t in topics}
