"""The library benchmark's own rules (scripts/benchmark_library.py): the subject indexers'
figures per record and language, and the paired bootstrap; the README's table comes from
these."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from topicclf.types import Document

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
import benchmark_library as bl


def _docs(labels: list[list[str]], langs: list[str]) -> list[Document]:
    return [
        Document(f"r{i}-{lang}", "text", tuple(topics))
        for i, (topics, lang) in enumerate(zip(labels, langs, strict=True))
    ]


def test_per_record_figures_by_hand() -> None:
    dev = _docs([["a", "b"], ["c"]], ["en", "de"])
    suggested = [["a", "x", "b"], ["y", "z"]]
    rows = bl.per_record(dev, suggested)
    assert rows["p@1"].tolist() == [1.0, 0.0]
    assert rows["p@3"].tolist() == pytest.approx([2 / 3, 0.0])
    assert rows["f1@5"].tolist() == pytest.approx([2 * 2 / (5 + 2), 0.0])
    ideal = 1 + 1 / np.log2(3)
    assert rows["ndcg@10"].tolist() == pytest.approx([(1 + 1 / np.log2(4)) / ideal, 0.0])


def test_f1_at_5_and_ndcg_match_the_package_s_ranking_figures() -> None:
    from topicclf.metrics.ranking import ranking_metrics

    rng = np.random.default_rng(3)
    truth = rng.random((50, 20)) < 0.15
    scores = rng.random((50, 20))
    names = [f"t{j}" for j in range(20)]
    dev = _docs([[names[j] for j in np.flatnonzero(t)] for t in truth], ["en"] * 50)
    suggested = [[names[j] for j in np.argsort(-s)[:10]] for s in scores]
    rows = bl.per_record(dev, suggested)
    ranking = ranking_metrics(truth, scores)
    assert rows["f1@5"].mean() == pytest.approx(ranking["f1@5"])
    assert rows["ndcg@10"].mean() == pytest.approx(ranking["ndcg@10"])
    assert rows["p@5"].mean() == pytest.approx(ranking["precision@5"])


def test_figures_split_records_by_language_from_their_ids() -> None:
    dev = _docs([["a"], ["b"], ["c"]], ["en", "de", "en"])
    out = bl.figures(dev, [["a"], ["x"], ["c"]])
    assert out["en"]["records"] == 2 and out["en"]["p@1"] == 1.0
    assert out["de"]["records"] == 1 and out["de"]["p@1"] == 0.0
    assert out["all"]["p@1"] == round(2 / 3, 4)  # rounded as the table shows it


def test_bootstrap_sees_the_sign_of_a_clear_difference() -> None:
    a = np.tile([1.0, 0.5, 0.8], 100)
    b = a - 0.1
    ahead = bl.paired_bootstrap(a, b, resamples=200)
    assert ahead["difference"] == pytest.approx(0.1) and ahead["excludes_zero"]
    same = bl.paired_bootstrap(a, a, resamples=200)
    assert same["difference"] == 0.0 and not same["excludes_zero"]
