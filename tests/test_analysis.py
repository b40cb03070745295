"""Choosing the analysis of a training corpus: each language's stemmer where it helps."""

from __future__ import annotations

import random

import pytest

from topicclf.classifier import TopicClassifier
from topicclf.config import Config
from topicclf.training.analysis import choose_analysis
from topicclf.training.pipeline import prepare
from topicclf.types import NullProgress

# German adjectives whose Snowball stem is the same with every ending below.
WORDS = (
    "schnell klein warm hell leicht dunkel kalt alt jung neu hoch tief breit schmal dick laut "
    "hart weich frisch sauer bitter scharf mild stark schwach reich arm voll leer nass trocken "
    "rund flach glatt sanft wild klug dumm froh traurig stolz treu fremd fein grob sauber offen "
    "still ruhig fest satt blau rot grün gelb braun grau bunt klar schön gesund krank früh spät"
)
ADJECTIVES = WORDS.split()
ENDINGS = ("", "e", "en", "er", "es", "em")
SENTENCES = (
    "Der Bericht beschreibt die Lage im Land, und die Menschen sprechen lange darüber.",
    "Am Abend trafen sich die Nachbarn vor dem Haus und erzählten von ihrer Woche.",
    "Die Zeitung schreibt, dass die Stadt im nächsten Jahr eine neue Schule bauen will.",
)


def german_corpus(endings: tuple[str, ...], n: int = 600) -> tuple[list[str], list[list[str]]]:
    """Four topics, each told by two of its own adjectives in any of `endings`: with many
    endings, a form seen in one document is rarely seen again unless stemmed."""
    rng = random.Random(0)
    groups = [ADJECTIVES[i::4] for i in range(4)]
    texts, labels = [], []
    for i in range(n):
        topic = i % 4
        a, b = (rng.choice(groups[topic]) + rng.choice(endings) for _ in range(2))
        texts.append(f"{rng.choice(SENTENCES)} Alles war {a} und {b}.")
        labels.append([f"topic{topic}"])
    return texts, labels


def test_the_stemmer_is_kept_where_it_helps_a_language() -> None:
    texts, labels = german_corpus(ENDINGS)
    config = Config()
    analyzer, record = choose_analysis(config, prepare(config, texts, labels), NullProgress())
    assert [(r.name, r.stemmer) for r in analyzer.languages] == [("german", "snowball")]
    german = record["german"]
    assert german["stemmer"] == "snowball" and german["validation_documents"] == 60
    assert german["ndcg@10 gain stemmed"] > 2 * german["standard_error"] > 0


def test_the_stemmer_is_left_out_where_it_changes_nothing() -> None:
    texts, labels = german_corpus(("",))  # one form per adjective: nothing to merge
    config = Config()
    analyzer, record = choose_analysis(config, prepare(config, texts, labels), NullProgress())
    assert [(r.name, r.stemmer) for r in analyzer.languages] == [("german", "none")]
    assert record["german"]["stemmer"] == "none"


@pytest.mark.parametrize("stemmer", ["none", "snowball"])
def test_a_named_stemmer_is_not_chosen(stemmer: str) -> None:
    texts, labels = german_corpus(ENDINGS, n=200)
    config = Config().with_overrides([f"text.stemmer={stemmer}"])
    analyzer, record = choose_analysis(config, prepare(config, texts, labels), NullProgress())
    assert record == {}
    assert [r.stemmer for r in analyzer.languages] == [stemmer]


def test_training_uses_and_records_the_choice() -> None:
    texts, labels = german_corpus(ENDINGS)
    clf = TopicClassifier(config=Config().with_overrides(["train.epochs=3"])).fit(texts, labels)
    assert clf.training_info_["stemming_choice"]["german"]["stemmer"] == "snowball"
    assert clf.training_info_["analyzer"]["languages"][0]["stemmer"] == "snowball"
    # Tagging stems new texts too: a form never seen in training finds its topic.
    word = ADJECTIVES[0]  # topic0's
    assert clf.featurizer_.analyzer.tokens(f"{word}em {word}es") == [word, word]
