from __future__ import annotations

import json
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.tokenize import RegexpTokenizer

from topicclf.classifier import TopicClassifier
from topicclf.cli import run
from topicclf.config import TextConfig
from topicclf.errors import ConfigError
from topicclf.features.text import Analyzer
from topicclf.types import Document

TEXT = "The Bank's rates ROSE, while bankers were running to the exchanges."


def test_default_drops_stop_words_and_lowercases() -> None:
    assert Analyzer(TextConfig()).tokens(TEXT) == [
        "bank",
        "rates",
        "rose",
        "bankers",
        "running",
        "exchanges",
    ]


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_regexp_path_matches_nltk_regexp_tokenizer(text: str) -> None:
    config = TextConfig(stop_words="none", lowercase=False)
    # The analyzer reads every text in NFC first (Analyzer's docstring).
    expected = RegexpTokenizer(config.token_pattern).tokenize(unicodedata.normalize("NFC", text))
    assert Analyzer(config).tokens(text) == expected


@pytest.mark.parametrize(
    ("tokenizer", "expected"),
    [
        ("wordpunct", ["the", "bank", "'", "s", "rates"]),
        ("treebank", ["the", "bank", "'s", "rates"]),
    ],
)
def test_nltk_tokenizers(tokenizer: str, expected: list[str]) -> None:
    analyzer = Analyzer(TextConfig(tokenizer=tokenizer, stop_words="none"))
    assert analyzer.tokens("The Bank's rates")[: len(expected)] == expected


def test_stemmers() -> None:
    snowball = Analyzer(TextConfig(stemmer="snowball"))
    assert snowball.tokens("running bankers exchanges") == ["run", "banker", "exchang"]
    porter = Analyzer(TextConfig(stemmer="porter"))
    assert porter.tokens("generously running") == ["gener", "run"]


def test_unknown_stemmer_language() -> None:
    # Refused with the setting (config.stemmer_problem), before any analyzer is built.
    with pytest.raises(ConfigError, match="NLTK has no Snowball stemmer for greek"):
        TextConfig(stemmer="snowball", language="greek")


def test_bad_token_pattern() -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        Analyzer(TextConfig(token_pattern="(["))
    with pytest.raises(ConfigError, match="must not contain capturing groups"):
        Analyzer(TextConfig(token_pattern=r"(\w+)"))


def test_ngrams() -> None:
    analyzer = Analyzer(TextConfig())
    assert analyzer.ngrams("oil prices rose sharply", 2) == [
        "oil",
        "prices",
        "rose",
        "sharply",
        "oil prices",
        "prices rose",
        "rose sharply",
    ]
    assert analyzer.ngrams("", 3) == []


def test_pieces_cut_long_texts_at_white_space() -> None:
    from topicclf.features.text import pieces

    text = " ".join(f"word{i}" for i in range(3000))
    parts = list(pieces(text, size=1000))
    assert "".join(parts) == text
    assert all(len(p) <= 1000 for p in parts) and len(parts) > 20
    assert all(p.startswith(" ") for p in parts[1:])  # never inside a word
    assert list(pieces("short", size=1000)) == ["short"]
    assert list(pieces("x" * 2500, size=1000)) == ["x" * 1000, "x" * 1000, "x" * 500]


def test_ngram_stream_equals_ngrams_on_ordinary_texts() -> None:
    analyzer = Analyzer(TextConfig())
    text = "Wheat prices rose sharply in the Chicago grain markets on Monday."
    assert list(analyzer.ngram_stream(text, 2)) == analyzer.ngrams(text, 2)


def test_character_ngrams_are_scikit_learns_char_wb_of_the_tokens() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyzer = Analyzer(TextConfig())
    text = "Oil prices rose in the Chicago grain markets"
    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()
    assert analyzer.char_ngrams(text, 3, 5) == reference(text)
    # Stop words and stems do not apply: the pieces keep the spelling.
    assert " the " in analyzer.char_ngrams(text, 3, 5) and "the" not in analyzer.tokens(text)
    assert analyzer.char_ngrams("ab", 5, 6) == [" ab "]  # shorter than n: the padded word
    assert list(analyzer.char_ngram_stream(text, 3, 5)) == analyzer.char_ngrams(text, 3, 5)
    assert analyzer.char_ngrams("", 3, 5) == []


def test_a_token_pattern_that_backtracks_past_the_limit_stops_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backstop for shapes the static check misses: one text's tokenizing is bounded."""
    from topicclf.features import text as text_module

    monkeypatch.setattr(text_module, "TOKEN_PATTERN_SECONDS", 1e-9)
    # The default pattern is linear by construction and runs without the limit; any other
    # pattern runs with it.
    analyzer = text_module.Analyzer(TextConfig(language="english", token_pattern=r"\w+"))
    with pytest.raises(ConfigError, match=r"token_pattern = .* took more than 1e-09 s on one"):
        analyzer.tokens("word " * 200_000)


# The same words in both Unicode normalisation forms: NFD (decomposed accents, as macOS file
# names and some PDF extractors give them) must read as NFC (attacker pass 28, server F5).
ACCENTED = ["Gemüse rain", "Käse Brötchen Gemüse Süßigkeiten", "Crème brûlée, São Paulo"]


def _forms(text: str) -> tuple[str, str]:
    nfc, nfd = (unicodedata.normalize(form, text) for form in ("NFC", "NFD"))
    assert nfc != nfd
    return nfc, nfd


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_nfd_and_nfc_texts_are_analysed_alike(text: str) -> None:
    analyzer = Analyzer(TextConfig(language="german", stemmer="snowball"))
    nfc, nfd = (unicodedata.normalize(form, text) for form in ("NFC", "NFD"))
    assert analyzer.ngrams(nfd, 2) == analyzer.ngrams(nfc, 2)
    assert list(analyzer.ngram_pieces(nfd, 2)) == list(analyzer.ngram_pieces(nfc, 2))
    assert analyzer.char_ngrams(nfd, 2, 4) == analyzer.char_ngrams(nfc, 2, 4)
    assert Analyzer(TextConfig()).language_of(nfd) == Analyzer(TextConfig()).language_of(nfc)


def test_an_nfd_word_is_one_token_spelled_in_nfc() -> None:
    nfc, nfd = _forms("Käse Müller")
    tokens = Analyzer(TextConfig(stop_words="none")).tokens(nfd)
    assert tokens == nfc.lower().split()  # not the NFD spelling, which no model learnt


@pytest.fixture(scope="module")
def accented_model(tiny_docs: list[Document], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of the tiny corpus whose food documents also speak German, word and
    character features both."""
    texts = [
        d.text + (" Käse Brötchen Gemüse Süßigkeiten" if "food" in d.labels else "")
        for d in tiny_docs
    ]
    config = tiny_config().with_overrides(["features.char_ngrams=on"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=config).fit(texts, [d.labels for d in tiny_docs])
    path = tmp_path_factory.mktemp("nfc") / "model"
    clf.save(path)
    return path


def test_nfd_texts_get_the_scores_of_their_nfc_form(accented_model: Path) -> None:
    clf = TopicClassifier.load(accented_model)
    nfc, nfd = zip(*(_forms(t) for t in ACCENTED), strict=True)
    np.testing.assert_array_equal(clf.predict_proba(list(nfd)), clf.predict_proba(list(nfc)))
    # The German words are food's in either form (NFD ones were words the model never saw).
    food = list(clf.classes_).index("food")
    assert clf.predict_proba([nfd[1]])[0, food] > 0.5
    # explain lists the terms the analyzer made: the words in NFC, as the model saw them.
    explained = clf.explain(nfd[1], top=50, topics=["food"])
    assert explained == clf.explain(nfc[1], top=50, topics=["food"])
    assert "gemüse" in [term for term, _ in explained[0].up]


def test_tag_gives_nfd_records_the_topics_of_their_nfc_form(
    accented_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "forms.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for k, text in enumerate(ACCENTED):
            for form, spelled in zip(("NFC", "NFD"), _forms(text), strict=True):
                f.write(json.dumps({"id": f"{k}-{form}", "text": spelled}) + "\n")
    assert run(["tag", str(accented_model), str(path), "--scores"]) == 0
    records = {r["id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert len(records) == 2 * len(ACCENTED)
    for k in range(len(ACCENTED)):
        nfc, nfd = records[f"{k}-NFC"], records[f"{k}-NFD"]
        assert (nfd["labels"], nfd["scores"]) == (nfc["labels"], nfc["scores"])
