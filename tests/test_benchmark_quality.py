"""The quality benchmark's own rules (scripts/benchmark_quality.py): the paired bootstrap,
the peers' decision rules and validation split; figures in the README come from these."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from topicclf.types import Document

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
import benchmark_quality as bq


def _docs(labels: list[list[str]]) -> list[Document]:
    return [Document(f"d{i}", "text", tuple(topics)) for i, topics in enumerate(labels)]


def test_bootstrap_of_a_system_against_itself_is_exactly_zero() -> None:
    test = _docs([["a"], ["b"], ["a", "b"], ["c"]] * 25)
    predicted = [["a"], ["a"], ["b"], []] * 25
    result = bq.paired_bootstrap(test, predicted, predicted, resamples=200)
    assert result == {
        "micro_f1_difference": 0.0,
        "ci95_low": 0.0,
        "ci95_high": 0.0,
        "excludes_zero": False,
    }


def test_bootstrap_sees_a_clear_difference_and_its_sign() -> None:
    truth = [["a"], ["b"], ["a", "b"], ["c"]] * 50
    test = _docs(truth)
    perfect = [list(t) for t in truth]
    worse = [t[:1] if i % 3 else [] for i, t in enumerate(truth)]
    ahead = bq.paired_bootstrap(test, perfect, worse, resamples=300)
    behind = bq.paired_bootstrap(test, worse, perfect, resamples=300)
    assert ahead["excludes_zero"] and ahead["ci95_low"] > 0
    assert behind["ci95_high"] < 0
    assert ahead["micro_f1_difference"] == pytest.approx(-behind["micro_f1_difference"])
    assert ahead["ci95_low"] <= ahead["micro_f1_difference"] <= ahead["ci95_high"]


def test_cut_keeps_the_best_topic_and_at_most_the_limit() -> None:
    scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.3, 0.1], [0.7, 0.6, 0.65]])
    assert bq._cut(scores, 0.5).tolist() == [
        [True, True, False],
        [False, True, False],  # nothing above: the best topic
        [True, True, True],
    ]
    assert bq._cut(scores, 0.5, limit=1).sum(axis=1).tolist() == [1, 1, 1]


def test_annif_limit_and_threshold_rule() -> None:
    scores = np.array([[0.9, 0.8, 0.0], [0.1, 0.0, 0.05]])
    assert bq._limited(scores, 0.05, 1).tolist() == [[True, False, False], [True, False, False]]
    assert bq._limited(scores, 0.0, 3).tolist() == [[True, True, False], [True, False, True]]


def test_validation_split_is_disjoint_complete_and_seeded() -> None:
    train, val = bq._split(1000)
    assert len(val) == 100 and len(train) == 900
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(1000))
    again, _ = bq._split(1000)
    assert np.array_equal(train, again)


def test_the_linear_alone_row_runs_the_pipeline_steps_it_names() -> None:
    # The row calls topicclf's training steps directly, so it breaks when they change.
    from topicclf.corpus import open_corpus

    demo = Path(__file__).parent.parent / "corpora" / "newsbriefs"
    train = list(open_corpus(demo / "train.jsonl"))
    test = list(open_corpus(demo / "test.jsonl"))
    predicted, seconds, extras = bq._run_linear_alone(train, test)
    assert len(predicted) == len(test) and seconds > 0 and extras == {}
    topics = {t for d in train for t in d.labels}
    assert all(set(p) <= topics for p in predicted)
    hits = sum(bool(set(p) & set(d.labels)) for p, d in zip(predicted, test, strict=True))
    assert hits > 0.6 * len(test)


def test_keras_import_is_timed_in_fresh_processes() -> None:
    # A child process that imports Keras as training does; one figure per run.
    times = bq.keras_import_seconds(1)
    assert len(times) == 1
    assert isinstance(times[0], float)
    assert times[0] > 0


def test_each_debian_corpus_reads_its_own_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `debian-en-short` once read DIR/en: the name was cut at its first hyphen.
    for corpus, (directory, _) in bq.DEBIAN_CORPORA.items():
        (tmp_path / directory).mkdir()
        for part in ("train", "test"):
            row = {"id": f"{corpus}-{part}", "text": "a package", "labels": ["games"]}
            (tmp_path / directory / f"{part}.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("TOPICCLF_DEBIAN", str(tmp_path))
    for corpus in bq.DEBIAN_CORPORA:
        train, test = bq._load("unused", corpus)
        assert [d.id for d in train] == [f"{corpus}-train"]
        assert [d.id for d in test] == [f"{corpus}-test"]
        assert corpus in bq.SINGLE_LABEL
        assert {f"{p}-{corpus}" for p in ("topicclf-dense", "linear-svm", "omikuji-bonsai")} <= set(
            bq.SYSTEMS
        )


def test_ratios_are_against_the_linear_svm_of_the_same_corpus() -> None:
    def row(system: str, corpus: str, f1: float) -> dict[str, object]:
        return {
            "system": system,
            "corpus": corpus,
            "micro_f1": f1,
            "macro_f1": f1,
            "train_seconds": 10.0,
            "train_and_tag_seconds": 20.0,
        }

    results = [
        row("linear-svm", "modapte", 0.5),
        row("linear-svm-debian-en", "debian-en", 0.8),
        row("linear-svm-debian-en-short", "debian-en-short", 0.4),
        row("topicclf-dense-debian-en", "debian-en", 0.4),
        row("topicclf-dense-debian-en-short", "debian-en-short", 0.4),
    ]
    ratios = bq._ratios(results)
    assert ratios["topicclf-dense-debian-en"]["micro_f1"] == 0.5
    assert ratios["topicclf-dense-debian-en-short"]["micro_f1"] == 1.0
    assert "linear-svm-debian-en" not in ratios  # not against itself, nor modapte's
