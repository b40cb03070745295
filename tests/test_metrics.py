from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss, precision_score, recall_score

from topicclf.metrics import evaluate

TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]])
PRED = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]])
NAMES = ["a", "b", "c", "d"]


def test_hand_computed_values() -> None:
    report = evaluate(TRUE, PRED, NAMES)
    # tp = 3, fp = 1 (d), fn = 2 (c, b) -> P 3/4, R 3/5, F1 6/9.
    assert report.micro.precision == pytest.approx(3 / 4)
    assert report.micro.recall == pytest.approx(3 / 5)
    assert report.micro.f1 == pytest.approx(2 / 3)
    a, b, c, d = report.per_topic
    assert (a.f1, a.support, a.tp) == (1.0, 2, 2)
    assert b.precision == 1.0 and b.recall == 0.5 and b.f1 == pytest.approx(2 / 3)
    assert (c.f1, c.fn, d.fp, d.support) == (0.0, 1, 1, 0)
    # Macro over the four topics (d is predicted, so it counts although it has no support).
    assert report.macro.f1 == pytest.approx((1 + 2 / 3 + 0 + 0) / 4)
    assert report.hamming_loss == pytest.approx(3 / 12)
    assert report.subset_accuracy == pytest.approx(0.0)
    assert report.topics_without_support == ["d"]
    assert report.documents_without_prediction == 0


def test_topics_absent_everywhere_are_not_averaged_in() -> None:
    report = evaluate(TRUE[:, :3], PRED[:, :3], NAMES[:3])
    wide = evaluate(np.c_[TRUE[:, :3], [0, 0, 0]], np.c_[PRED[:, :3], [0, 0, 0]], NAMES)
    assert wide.macro.f1 == pytest.approx(report.macro.f1)
    assert wide.topics_without_support == ["d"]


def test_matches_scikit_learn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.random((200, 12)) < 0.2
    y_pred = rng.random((200, 12)) < 0.25
    report = evaluate(y_true, y_pred, [str(i) for i in range(12)])
    for avg in ("micro", "macro", "weighted", "samples"):
        ours = getattr(report, avg)
        kw = {"average": avg, "zero_division": 0}
        assert ours.f1 == pytest.approx(f1_score(y_true, y_pred, **kw))
        assert ours.precision == pytest.approx(precision_score(y_true, y_pred, **kw))
        assert ours.recall == pytest.approx(recall_score(y_true, y_pred, **kw))
    assert report.hamming_loss == pytest.approx(hamming_loss(y_true, y_pred))


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        evaluate(TRUE, PRED[:, :3], NAMES)


SCORES = np.array(
    [[0.9, 0.1, 0.4, 0.2], [0.3, 0.8, 0.1, 0.6], [0.7, 0.2, 0.1, 0.05]], dtype=np.float32
)


def test_cardinality_and_topics_per_document() -> None:
    report = evaluate(TRUE, PRED, NAMES)
    assert report.label_cardinality_true == pytest.approx(5 / 3)
    assert report.label_cardinality_predicted == pytest.approx(4 / 3)
    assert report.topics_per_document == {"true": {"1": 1, "2": 2}, "predicted": {"1": 2, "2": 1}}


def test_confusions_pair_missed_and_wrong_topics() -> None:
    # In TRUE/PRED no document both misses a topic and gets a wrong one: no pairs.
    assert evaluate(TRUE, PRED, NAMES).confusions == []
    truth = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 1], [0, 0, 1], [0, 1, 0]], dtype=bool)
    from topicclf.metrics import confusions

    assert confusions(truth, pred, ["a", "b", "c"]) == [
        {"true": "b", "predicted": "c", "count": 2},
        {"true": "a", "predicted": "b", "count": 1},
    ]


def test_ranking_metrics_by_hand() -> None:
    from topicclf.metrics import ranking_metrics

    ranking = ranking_metrics(TRUE > 0, SCORES)
    # Top-1: a (true), b (true), a (true) -> P@1 = 1.
    assert ranking["precision@1"] == pytest.approx(1.0)
    # Top-3 hits: doc0 a,c -> 2; doc1 b -> 1; doc2 a,b -> 2; P@3 = (2 + 1 + 2) / 9.
    assert ranking["precision@3"] == pytest.approx(5 / 9)
    assert ranking["recall@3"] == pytest.approx(1.0)
    assert ranking["recall@1"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert 0 < ranking["lrap"] <= 1 and 0 < ranking["ndcg@3"] <= 1


def test_ranking_metrics_match_brute_force() -> None:
    from sklearn.metrics import label_ranking_average_precision_score

    from topicclf.metrics import ranking_metrics

    rng = np.random.default_rng(1)
    truth = rng.random((50, 8)) < 0.3
    truth[~truth.any(axis=1), 0] = True
    scores = rng.random((50, 8))
    ranking = ranking_metrics(truth, scores)
    top5 = np.argsort(-scores, axis=1)[:, :5]
    expected = np.mean([truth[i, top5[i]].sum() / 5 for i in range(50)])
    assert ranking["precision@5"] == pytest.approx(expected)
    assert ranking["lrap"] == pytest.approx(label_ranking_average_precision_score(truth, scores))


def test_multiclass_accuracy_and_confusion_matrix() -> None:
    truth = np.eye(3, dtype=bool)[[0, 1, 2, 2]]
    pred = np.eye(3, dtype=bool)[[0, 2, 2, 1]]
    report = evaluate(truth, pred, ["x", "y", "z"], multiclass=True)
    assert report.multiclass["accuracy"] == pytest.approx(0.5)
    assert report.multiclass["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]


def test_error_examples() -> None:
    from topicclf.metrics import error_examples

    examples = error_examples(TRUE > 0, PRED > 0, NAMES, ["d0", "d1", "d2"], ["t0", "t1", "t2"])
    # One error each, so the documents keep their order.
    assert [e["id"] for e in examples] == ["d0", "d1", "d2"]
    assert examples[0]["false_negatives"] == ["c"] and examples[0]["false_positives"] == []
    assert examples[1]["false_positives"] == ["d"] and examples[1]["predicted"] == ["b", "d"]
    assert examples[2]["true"] == ["a", "b"] and examples[2]["false_negatives"] == ["b"]


def test_precision_recall_curve_is_interpolated() -> None:
    from topicclf.metrics import precision_recall_curves

    truth = np.array([[1], [0], [1], [0], [1]], dtype=bool)
    scores = np.array([[0.9], [0.8], [0.7], [0.3], [0.2]])
    # Ranked: + - + - +. Points (recall, precision): (1/3, 1), (2/3, 2/3), (1, 3/5).
    curve = precision_recall_curves(truth, scores, ["a"], points=5)["a"]
    assert curve["recall"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve["precision"] == pytest.approx([1.0, 1.0, 2 / 3, 0.6, 0.6], abs=1e-4)
