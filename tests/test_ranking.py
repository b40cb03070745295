from __future__ import annotations

import itertools

import numpy as np
import pytest

from topicclf.metrics.ranking import (
    hits_at_k,
    precision_at_k,
    precision_recall_curves,
    ranking_metrics,
)

TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=bool)
SCORES = np.array(
    [[0.9, 0.1, 0.4, 0.2], [0.3, 0.8, 0.1, 0.6], [0.7, 0.2, 0.1, 0.05]], dtype=np.float32
)


def expected_hits(truth: np.ndarray, scores: np.ndarray, k: int) -> list[float]:
    """The mean over every order of the tied topics, by brute force."""
    out = []
    for t, s in zip(truth, scores, strict=True):
        total, count = 0.0, 0
        for order in itertools.permutations(range(len(s))):
            if all(s[a] >= s[b] for a, b in itertools.pairwise(order)):
                total += sum(t[j] for j in order[:k])
                count += 1
        out.append(total / count)
    return out


def test_ranking_metrics_by_hand() -> None:
    ranking = ranking_metrics(TRUE, SCORES)
    # Top-1: a (true), b (true), a (true) -> P@1 = 1.
    assert ranking["precision@1"] == pytest.approx(1.0)
    # Top-3 hits: doc0 a,c -> 2; doc1 b -> 1; doc2 a,b -> 2; P@3 = (2 + 1 + 2) / 9.
    assert ranking["precision@3"] == pytest.approx(5 / 9)
    assert ranking["recall@3"] == pytest.approx(1.0)
    assert ranking["recall@1"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    # k beyond the topics: divided by the 4 topics there are.
    assert ranking["precision@5"] == pytest.approx(5 / 12)


def test_hits_average_ties_like_every_order_would() -> None:
    rng = np.random.default_rng(2)
    for _ in range(40):
        truth = rng.random((3, 5)) < 0.4
        scores = rng.integers(0, 3, (3, 5)) / 2
        for k in (1, 2, 3, 5):
            assert hits_at_k(truth, scores, k) == pytest.approx(expected_hits(truth, scores, k))


def test_precision_at_k_without_ties_is_the_plain_top_k() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random((50, 8)) < 0.3
    scores = rng.random((50, 8))
    top5 = np.argsort(-scores, axis=1)[:, :5]
    expected = np.mean([truth[i, top5[i]].sum() / 5 for i in range(50)])
    assert precision_at_k(truth, scores, 5) == pytest.approx(expected)


def test_single_topic_has_no_ndcg() -> None:
    ranking = ranking_metrics(np.array([[1], [0]]), np.array([[0.3], [0.2]]))
    assert "ndcg@1" not in ranking and ranking["precision@1"] == pytest.approx(0.5)
    assert ranking_metrics(np.zeros((0, 3)), np.zeros((0, 3))) == {}


def test_precision_recall_curve_is_interpolated() -> None:
    truth = np.array([[1], [0], [1], [0], [1]], dtype=bool)
    scores = np.array([[0.9], [0.8], [0.7], [0.3], [0.2]])
    # Ranked: + - + - +. Points (recall, precision): (1/3, 1), (2/3, 2/3), (1, 3/5).
    curve = precision_recall_curves(truth, scores, ["a"], points=5)["a"]
    assert curve["recall"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve["precision"] == pytest.approx([1.0, 1.0, 2 / 3, 0.6, 0.6], abs=1e-4)


def test_curves_leave_out_unknown_topics_but_the_micro_curve_counts_them() -> None:
    truth = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    scores = np.array([[0.9, 0.2, 0.0], [0.1, 0.8, 0.0]])
    curves = precision_recall_curves(truth, scores, ["a", "b"], points=3)
    assert set(curves) == {"micro", "a", "b"}
    assert curves["micro"]["precision"][-1] == pytest.approx(0.5)  # the unknown topic: last


def test_average_precision_is_scikit_learns() -> None:
    from sklearn.metrics import average_precision_score

    from topicclf.metrics.ranking import average_precision

    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        truth = rng.random(n) < rng.uniform(0.05, 0.9)
        scores = (
            np.round(rng.random(n) * rng.integers(1, 20)) if rng.random() < 0.5 else rng.random(n)
        )
        if truth.any():
            expected = average_precision_score(truth, scores)
            assert average_precision(truth, scores) == pytest.approx(expected, abs=1e-12)
    assert average_precision(np.zeros(3), np.array([0.1, 0.2, 0.3])) == 0.0


def test_f1_at_5_is_each_document_s_top_5_against_its_gold_set() -> None:
    rng = np.random.default_rng(3)
    truth = rng.random((60, 12)) < 0.2
    scores = rng.random((60, 12))
    top5 = np.argsort(-scores, axis=1)[:, :5]
    expected = []
    for i in range(60):
        hits = truth[i, top5[i]].sum()
        gold = truth[i].sum()
        expected.append(2 * hits / (5 + gold))  # 0 for a document without true topics
    ranking = ranking_metrics(truth, scores)
    assert ranking["f1@5"] == pytest.approx(np.mean(expected))
    # With fewer than 5 topics, the suggestions are all of them: {a, c} against {a, c}.
    assert ranking_metrics(TRUE, SCORES)["f1@5"] == pytest.approx(
        np.mean([2 * 2 / (4 + 2), 2 * 1 / (4 + 1), 2 * 2 / (4 + 2)])
    )


def test_ndcg_at_10_is_scikit_learns() -> None:
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(4)
    truth = rng.random((40, 30)) < 0.1
    scores = rng.random((40, 30))
    assert ranking_metrics(truth, scores)["ndcg@10"] == pytest.approx(
        ndcg_score(truth, scores, k=10)
    )


@pytest.mark.parametrize("k", [1, 3, 5, 10, 40])
def test_ndcg_equals_scikit_learn_s_with_many_ties(k: int) -> None:
    from sklearn.metrics import ndcg_score

    from topicclf.metrics.ranking import ndcg_at_k

    rng = np.random.default_rng(k)
    truth = rng.random((60, 30)) < 0.1
    truth[0] = False  # a document without true topics
    scores = np.where(rng.random((60, 30)) < 0.3, rng.integers(0, 4, (60, 30)) / 4, 0.0)
    assert ndcg_at_k(truth, scores, k) == pytest.approx(ndcg_score(truth, scores, k=k))
