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
