"""Training's choices made on validation rows: character n-grams for short texts."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from topicclf.bundle.info import describe
from topicclf.classifier import TopicClassifier
from topicclf.config import CHAR_NGRAM_RANGE, SHORT_TEXT_CHARS, Config
from topicclf.corpus import open_corpus
from topicclf.features.tfidf import TfidfFeaturizer

NEWS = Path(__file__).parent.parent / "corpora" / "newsbriefs" / "train.jsonl"
FAST = [
    "network.hidden_units=32",
    "network.embedding_dim=16",
    "train.epochs=3",
    "train.refit=false",
]


def _news(short: bool) -> tuple[list[str], list[list[str]]]:
    """The demo corpus's training documents, whole or cut to their first sentence."""
    docs = list(open_corpus(NEWS))
    texts = [d.text.split(". ")[0] if short else d.text for d in docs]
    return texts, [d.labels for d in docs]


def _fit(texts: list[str], labels: list[list[str]], *overrides: str) -> TopicClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = Config().with_overrides([*FAST, *overrides])
        return TopicClassifier(config=config).fit(texts, labels)


def _tfidf(clf: TopicClassifier) -> TfidfFeaturizer:
    featurizer = clf.linear_featurizer_ or clf.featurizer_
    assert isinstance(featurizer, TfidfFeaturizer)
    return featurizer


@pytest.mark.parametrize(
    ("network", "mode"),
    [("dense", "multilabel"), ("embedding", "multilabel"), ("dense", "multiclass")],
)
def test_short_texts_try_character_ngrams_and_keep_them_if_validation_says_so(
    network: str, mode: str, tmp_path: Path
) -> None:
    texts, labels = _news(short=True)
    if mode == "multiclass":
        labels = [topics[:1] for topics in labels]
    assert sum(map(len, texts)) < SHORT_TEXT_CHARS * len(texts)
    clf = _fit(texts, labels, f"network.type={network}", f"train.mode={mode}")
    assert clf.mode_ == mode
    info = clf.training_info_
    choice = info["char_ngram_choice"]
    assert set(choice) == {"words", "words and characters"}
    assert all(0.0 <= v <= 1.0 for v in choice.values())
    kept = choice["words and characters"] > choice["words"]
    assert info["char_ngrams"] == (list(CHAR_NGRAM_RANGE) if kept else None)
    assert bool(_tfidf(clf).char_vocabulary_) == kept
    clf.save(tmp_path / "model")
    described = describe(tmp_path / "model")["features"]
    assert ("character 3-5-grams inside words" in described) == kept
    again = TopicClassifier.load(tmp_path / "model")
    assert again.predict(texts) == clf.predict(texts)  # (numpy and Keras agree to 1e-6)
    # The same data and seed make the same choice.
    again_fit = _fit(texts, labels, f"network.type={network}", f"train.mode={mode}")
    assert again_fit.training_info_["char_ngram_choice"] == choice


def test_long_texts_and_off_never_try_character_ngrams() -> None:
    long_texts, labels = _news(short=False)
    assert sum(map(len, long_texts)) >= SHORT_TEXT_CHARS * len(long_texts)
    short_texts, _ = _news(short=True)
    for texts, setting in ((long_texts, "auto"), (short_texts, "off")):
        clf = _fit(texts, labels, f"features.char_ngrams={setting}")
        assert clf.training_info_["char_ngram_choice"] is None
        assert clf.training_info_["char_ngrams"] is None
        assert not _tfidf(clf).char_vocabulary_


def test_on_keeps_character_ngrams_without_asking_validation() -> None:
    texts, labels = _news(short=False)
    clf = _fit(texts, labels, "features.char_ngrams=on")
    assert clf.training_info_["char_ngram_choice"] is None
    assert clf.training_info_["char_ngrams"] == list(CHAR_NGRAM_RANGE)
    assert "[_budg]" in _tfidf(clf).terms()
