from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import metrics as skm

from topicclf.errors import ConfigError
from topicclf.metrics import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    WHOLE_CORPUS_RANKING,
    check_gates,
    evaluate,
    micro_f1,
    parse_gate,
    summary_metrics,
)

TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]])
PRED = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0]])
NAMES = ["a", "b", "c", "d"]
SCORES = np.array(
    [[0.9, 0.1, 0.4, 0.2], [0.3, 0.8, 0.1, 0.6], [0.7, 0.2, 0.1, 0.05]], dtype=np.float32
)
SCHEMES = ("micro", "macro", "weighted", "samples")


def sklearn_figures(truth: np.ndarray, pred: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Every figure scikit-learn computes, by our names, on the (extended) matrices."""
    out: dict[str, float] = {}
    for avg in SCHEMES:
        prf = skm.precision_recall_fscore_support(truth, pred, average=avg, zero_division=0)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"], _ = prf
    out["hamming_loss"] = skm.hamming_loss(truth, pred)
    out["subset_accuracy"] = skm.accuracy_score(truth, pred)
    if truth.shape[1] > 1:  # a single column is a binary problem, which these refuse
        out["lrap"] = skm.label_ranking_average_precision_score(truth, scores)
        out["coverage_error"] = skm.coverage_error(truth, scores)
        out["label_ranking_loss"] = skm.label_ranking_loss(truth, scores)
        for k in (1, 3, 5):
            out[f"ndcg@{k}"] = skm.ndcg_score(truth, scores, k=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no positive class" for empty columns: AP 0
        out["micro_average_precision"] = skm.average_precision_score(truth, scores, average="micro")
        out["macro_average_precision"] = skm.average_precision_score(truth, scores, average="macro")
    return out


def extended(
    truth: np.ndarray, pred: np.ndarray, scores: np.ndarray, unknown: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What scikit-learn should be fed: unknown topics as missed columns scored
    UNKNOWN_SCORE, below every score."""
    from topicclf.metrics.ranking import UNKNOWN_SCORE

    return (
        np.hstack([truth, unknown]).astype(int),
        np.hstack([pred, np.zeros_like(unknown)]).astype(int),
        np.hstack([scores, np.full(unknown.shape, UNKNOWN_SCORE)]),
    )


def assert_equals_sklearn(
    truth: np.ndarray, pred: np.ndarray, scores: np.ndarray, unknown: Any = None
) -> None:
    unknown = np.zeros((truth.shape[0], 0), int) if unknown is None else unknown
    names = [f"t{j}" for j in range(truth.shape[1])]
    extra = [f"u{j}" for j in range(unknown.shape[1])]
    report = evaluate(truth, pred, names, scores=scores, unknown_truth=(extra, unknown))
    dense = unknown.toarray() if sp.issparse(unknown) else unknown
    t, p, s = extended(truth, pred, scores, dense)
    ours = summary_metrics(report)
    expected_figures = sklearn_figures(t, p, s)
    assert set(expected_figures) <= set(ours)
    for name, expected in expected_figures.items():
        assert ours[name] == pytest.approx(expected, abs=1e-12), name
    assert ours["precision@1"] == pytest.approx(ours.get("ndcg@1", ours["precision@1"]))
    rows = report.per_topic
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        t, p, average=None, zero_division=0
    )
    assert [r.topic for r in rows] == names + extra
    assert [r.f1 for r in rows] == pytest.approx(f1)
    assert [r.precision for r in rows] == pytest.approx(precision)
    assert [r.recall for r in rows] == pytest.approx(recall)
    assert [r.support for r in rows] == support.tolist()


def random_problem(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    # Two topics at least, as a model has: scikit-learn reads one column as a binary problem.
    n_docs, n_topics, n_unknown = rng.integers(1, 25), rng.integers(2, 9), rng.integers(0, 3)
    truth = rng.random((n_docs, n_topics)) < rng.uniform(0.0, 0.6)
    pred = rng.random((n_docs, n_topics)) < rng.uniform(0.0, 0.6)
    unknown = rng.random((n_docs, n_unknown)) < rng.uniform(0.0, 0.5)
    scores = rng.random((n_docs, n_topics))
    if rng.random() < 0.5:  # coarse scores: many ties, some with the unknown topics' 0
        scores = np.round(scores * rng.integers(1, 4)) / 3
    return truth.astype(int), pred.astype(int), scores, unknown.astype(int)


@pytest.mark.parametrize("seed", range(4))
def test_every_figure_equals_scikit_learn_on_random_problems(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):  # 4 x 25 = 100 problems, small and large, with and without ties
        assert_equals_sklearn(*random_problem(rng))


@pytest.mark.parametrize("seed", range(4))
def test_unknown_topics_given_sparse_give_the_figures_of_the_dense_matrices(seed: int) -> None:
    # Kept sparse end to end: dense, documents x unknown topics is quadratic in a corpus
    # labelled from a large vocabulary. Wider unknown blocks than random_problem's, some
    # rows all unknown, and known scores tied with the unknown topics' 0.
    from topicclf.metrics.ranking import precision_recall_curves, ranking_metrics

    rng = np.random.default_rng(100 + seed)
    for _ in range(25):
        truth, pred, scores, _ = random_problem(rng)
        scores[rng.random(scores.shape) < 0.2] = 0.0
        unknown = rng.random((len(truth), rng.integers(1, 7))) < rng.uniform(0.0, 1.0)
        unknown[rng.random(len(truth)) < 0.2] = True
        assert_equals_sklearn(truth, pred, scores, sp.csr_matrix(unknown))
        names = [f"t{j}" for j in range(truth.shape[1])]
        extra = [f"u{j}" for j in range(unknown.shape[1])]
        sparse = evaluate(
            truth, pred, names, scores=scores, unknown_truth=(extra, sp.csr_matrix(unknown))
        )
        t, _, s = extended(truth, pred, scores, unknown.astype(int))
        assert sparse.curves == precision_recall_curves(t > 0, s, names)
        assert (
            sparse.to_dict()
            == evaluate(truth, pred, names, scores=scores, unknown_truth=(extra, unknown)).to_dict()
        )
        # Against the code that took the dense matrices whole: equal to the last bits.
        for name, value in ranking_metrics(t, s).items():
            assert sparse.ranking[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_hand_computed_values() -> None:
    report = evaluate(TRUE, PRED, NAMES)
    # tp = 3, fp = 1 (d), fn = 2 (c, b) -> P 3/4, R 3/5, F1 6/9.
    assert report.micro.precision == pytest.approx(3 / 4)
    assert report.micro.recall == pytest.approx(3 / 5)
    assert report.micro.f1 == pytest.approx(2 / 3)
    a, b, c, d = report.per_topic
    assert (a.f1, a.support, a.tp, a.known) == (1.0, 2, 2, True)
    assert b.precision == 1.0 and b.recall == 0.5 and b.f1 == pytest.approx(2 / 3)
    assert (c.f1, c.fn, d.fp, d.support) == (0.0, 1, 1, 0)
    assert report.macro.f1 == pytest.approx((1 + 2 / 3 + 0 + 0) / 4)
    assert report.hamming_loss == pytest.approx(3 / 12)
    assert report.subset_accuracy == pytest.approx(0.0)
    assert report.topics_without_support == ["d"]
    assert report.documents_without_prediction == 0


def test_topic_without_positives_counts_in_macro_not_in_macro_seen() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]])
    report = evaluate(truth, pred, ["a", "b", "c"])
    # Per topic F1: a 1, b 2/3, c (no truth, no prediction) 0 as scikit-learn's zero_division=0.
    assert report.macro.f1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert report.macro_seen.f1 == pytest.approx((1 + 2 / 3) / 2)
    assert report.topics_without_support == ["c"]
    assert_equals_sklearn(truth, pred, np.array([[0.9, 0.1, 0], [0.2, 0.3, 0.1], [0.6, 0.5, 0]]))


def test_topic_predicted_but_absent_from_truth() -> None:
    truth = np.array([[1, 0], [1, 0]])
    pred = np.array([[1, 1], [1, 0]])
    report = evaluate(truth, pred, ["a", "b"])
    assert report.per_topic[1].precision == 0.0 and report.per_topic[1].predicted == 1
    assert report.macro_seen.precision == pytest.approx(0.5)  # b was predicted: it is seen
    assert report.macro.precision == pytest.approx(0.5)
    assert report.weighted.precision == pytest.approx(1.0)  # b has no support, so no weight
    assert_equals_sklearn(truth, pred, np.array([[0.9, 0.6], [0.8, 0.1]]))


def test_all_empty_predictions() -> None:
    truth = np.array([[1, 0, 1], [0, 1, 0]])
    pred = np.zeros_like(truth)
    report = evaluate(truth, pred, ["a", "b", "c"])
    assert report.micro == report.macro == report.samples == report.macro_seen
    assert report.micro.f1 == 0.0 and report.documents_without_prediction == 2
    assert_equals_sklearn(truth, pred, np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]))


def test_unknown_topics_count_as_misses_everywhere() -> None:
    # Document 2's only topic, "ship", is unknown to the model, as is document 0's "tin".
    truth = np.array([[1, 0], [0, 1], [0, 0]])
    pred = np.array([[1, 0], [0, 1], [1, 0]])
    unknown = np.array([[1, 0], [0, 0], [0, 1]])
    scores = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.3]])
    alone = evaluate(truth, pred, ["a", "b"], scores=scores)
    report = evaluate(
        truth, pred, ["a", "b"], scores=scores, unknown_truth=(["tin", "ship"], unknown)
    )
    # Without them the model looked better: micro recall 2/2 instead of 2/4.
    assert alone.micro.recall == 1.0 and report.micro.recall == pytest.approx(2 / 4)
    assert report.subset_accuracy == pytest.approx(1 / 3)
    assert alone.subset_accuracy == pytest.approx(2 / 3)
    assert report.hamming_loss == pytest.approx(3 / 12)
    assert report.unknown_topics == {"ship": 1, "tin": 1}
    assert report.n_topics == 2 and report.topics_without_support == []
    tin, ship = report.per_topic[2:]
    assert (ship.topic, ship.known, ship.support, ship.fn, ship.f1) == ("ship", False, 1, 1, 0.0)
    assert tin.known is False and report.per_topic[0].known is True
    assert report.documents_without_true_topic == 0 and alone.documents_without_true_topic == 1
    assert report.ranking["recall@1"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert {"true": "ship", "predicted": "a", "count": 1} in report.confusions
    assert_equals_sklearn(truth, pred, scores, unknown)


def test_ties_in_scores() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 1]])
    scores = np.array([[0.5, 0.5, 0.1], [0.3, 0.3, 0.3]])
    report = evaluate(truth, truth, ["a", "b", "c"], scores=scores)
    # Ties share the places: doc 0 puts a half of its true topic at rank 1, doc 1 two thirds.
    assert report.ranking["precision@1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert report.ranking["ndcg@1"] == pytest.approx(report.ranking["precision@1"])
    assert report.ranking["precision@3"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert_equals_sklearn(truth, truth, scores)


def test_one_document() -> None:
    truth, pred = np.array([[0, 1, 1]]), np.array([[0, 1, 0]])
    report = evaluate(truth, pred, ["a", "b", "c"], scores=np.array([[0.2, 0.9, 0.4]]))
    assert report.samples.f1 == pytest.approx(2 / 3) and report.ranking["lrap"] == 1.0
    assert_equals_sklearn(truth, pred, np.array([[0.2, 0.9, 0.4]]))


def test_documents_without_true_topic() -> None:
    truth = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    pred = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3], [0.3, 0.2, 0.1]])
    report = evaluate(truth, pred, ["a", "b", "c"], scores=scores)
    # They count, with scikit-learn's values: LRAP 1, coverage 0, nDCG 0, P@k 0.
    assert report.documents_without_true_topic == 2
    assert report.ranking["lrap"] == 1.0 and report.ranking["precision@1"] == pytest.approx(1 / 3)
    assert report.ranking["coverage_error"] == pytest.approx(1 / 3)
    assert report.subset_accuracy == pytest.approx(2 / 3)  # doc 2: nothing true, nothing given
    assert_equals_sklearn(truth, pred, scores)
    nothing = np.zeros((2, 2), int)
    assert_equals_sklearn(nothing, nothing, np.array([[0.4, 0.6], [0.5, 0.5]]))


def test_macro_average_precision_supported_is_our_own_figure() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    scores = np.array([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]])
    ranking = evaluate(truth, truth, ["a", "b", "c"], scores=scores).ranking
    assert ranking["macro_average_precision"] == pytest.approx(2 / 3)  # c: no positives, 0
    assert ranking["macro_average_precision_supported"] == pytest.approx(1.0)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        evaluate(TRUE, PRED[:, :3], NAMES)
    with pytest.raises(ValueError, match="shape mismatch: scores"):
        evaluate(TRUE, PRED, NAMES, scores=SCORES[:2])
    with pytest.raises(ValueError, match=r"unknown_truth matrix \(3, 1\), expected \(3, 2\)"):
        evaluate(TRUE, PRED, NAMES, unknown_truth=(["x", "y"], np.zeros((3, 1))))
    with pytest.raises(ValueError, match="unknown topics that the model has: a"):
        evaluate(TRUE, PRED, NAMES, unknown_truth=(["a"], np.zeros((3, 1))))


def test_multiclass_accuracy_and_confusion_matrix() -> None:
    truth = np.eye(3, dtype=bool)[[0, 1, 2, 2]]
    pred = np.eye(3, dtype=bool)[[0, 2, 2, 1]]
    report = evaluate(truth, pred, ["x", "y", "z"], multiclass=True)
    assert report.multiclass["accuracy"] == pytest.approx(0.5)
    assert report.multiclass["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert summary_metrics(report)["accuracy"] == pytest.approx(0.5)


def test_multiclass_unknown_or_missing_true_topic_counts_as_wrong() -> None:
    # Doc 1's topic is unknown to the model (its known row is all zero, whose argmax is x:
    # the old code counted it right); doc 2 has no topic at all; doc 3 has no prediction.
    truth = np.array([[1, 0], [0, 0], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [1, 0], [1, 0], [0, 0]])
    unknown = np.array([[0], [1], [0], [0]])
    report = evaluate(truth, pred, ["x", "y"], unknown_truth=(["ship"], unknown), multiclass=True)
    assert report.multiclass["accuracy"] == pytest.approx(1 / 4)
    assert report.multiclass["labels"] == ["x", "y", "ship"]
    assert report.multiclass["confusion_matrix"] == [[1, 0, 0], [0, 0, 0], [1, 0, 0]]
    as_labels = [0, 2, -1, 1], [0, 0, 0, -2]  # one label each, scikit-learn's accuracy
    assert report.multiclass["accuracy"] == skm.accuracy_score(*as_labels)
    assert report.subset_accuracy == report.multiclass["accuracy"]


def test_micro_f1_is_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    for _ in range(100):
        truth = rng.random((rng.integers(1, 20), 5)) < rng.uniform(0, 0.5)
        pred = rng.random(truth.shape) < rng.uniform(0, 0.5)
        expected = skm.f1_score(truth, pred, average="micro", zero_division=0)
        assert micro_f1(truth, pred) == pytest.approx(expected)
        assert micro_f1(truth, pred) == evaluate(truth, pred, list("abcde")).micro.f1
    assert micro_f1(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
    assert micro_f1(np.array([[1.0, 0.0]]), np.array([[True, True]])) == pytest.approx(2 / 3)


def test_parse_gate() -> None:
    assert parse_gate("micro_f1=0.8") == ("micro_f1", 0.8)
    assert parse_gate(" hamming_loss = 0.05 ") == ("hamming_loss", 0.05)
    assert parse_gate("ndcg@3=0.7") == ("ndcg@3", 0.7)
    for text in ("micro_f1", "micro_f1=", "=0.5", ""):
        with pytest.raises(ConfigError, match="expected METRIC=VALUE"):
            parse_gate(text)
    with pytest.raises(ConfigError, match=r"unknown metric 'micro'; choose one of: micro_pre"):
        parse_gate("micro=0.5")
    with pytest.raises(ConfigError, match="'high' is not a number"):
        parse_gate("micro_f1=high")
    for value in ("nan", "inf", "-inf", "NaN"):
        with pytest.raises(ConfigError, match="must be a finite number"):
            parse_gate(f"micro_f1={value}")
    # Figures are fractions in [0, 1] (coverage_error a count of topics, 0 or more), written
    # as plain decimals: float() alone took 5, -5, 1_0 (as 10) and Arabic-Indic digits.
    assert parse_gate("micro_f1=1") == ("micro_f1", 1.0)
    assert parse_gate("micro_f1=.5") == ("micro_f1", 0.5)
    assert parse_gate("coverage_error=3.5") == ("coverage_error", 3.5)
    for text in ("micro_f1=5", "micro_f1=-5", "micro_f1=1_0", "hamming_loss=1.01"):
        with pytest.raises(ConfigError, match=r"the value must be between 0 and 1, as \w+ is$"):
            parse_gate(text)
    with pytest.raises(ConfigError, match="must be 0 or more, as coverage_error is$"):
        parse_gate("coverage_error=-1")
    for value in ("\u0660.\u0665", "5e-1", "+0.5", "0_0"):
        with pytest.raises(ConfigError, match=r"write the value as a plain decimal number \("):
            parse_gate(f"micro_f1={value}")


def test_check_gates() -> None:
    report = evaluate(TRUE, PRED, NAMES, scores=SCORES)
    figures = summary_metrics(report)
    assert set(figures) <= set(METRIC_NAMES) and "accuracy" not in figures
    f1, loss = figures["micro_f1"], figures["hamming_loss"]
    assert check_gates(report, [("micro_f1", f1), ("hamming_loss", loss)]) == []
    assert check_gates(report, [("micro_f1", 0.9)]) == [f"micro_f1 {f1:.4f} < 0.9"]
    assert check_gates(report, [("hamming_loss", 0.1)]) == [f"hamming_loss {loss:.4f} > 0.1"]
    assert check_gates(report, [("coverage_error", 1.0)])[0].startswith("coverage_error")
    assert {"hamming_loss", "coverage_error", "label_ranking_loss"} == LOWER_IS_BETTER
    assert check_gates(report, [("accuracy", 0.5)]) == [
        "accuracy is not in this report, so it cannot reach 0.5"
    ]
    unscored = evaluate(TRUE, PRED, NAMES)
    assert check_gates(unscored, [("lrap", 0.0)])[0].startswith("lrap is not in this report")
    assert all(math.isfinite(v) for v in figures.values())


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


def test_error_examples() -> None:
    from topicclf.metrics import error_examples

    examples = error_examples(TRUE > 0, PRED > 0, NAMES, ["d0", "d1", "d2"], ["t0", "t1", "t2"])
    # One error each, so the documents keep their order.
    assert [e["id"] for e in examples] == ["d0", "d1", "d2"]
    assert examples[0]["false_negatives"] == ["c"] and examples[0]["false_positives"] == []
    assert examples[1]["false_positives"] == ["d"] and examples[1]["predicted"] == ["b", "d"]
    assert examples[2]["true"] == ["a", "b"] and examples[2]["false_negatives"] == ["b"]


def test_confusions_are_the_dense_count_s_most_frequent_pairs_in_order() -> None:
    from topicclf.metrics import confusions

    rng = np.random.default_rng(5)
    truth = rng.random((80, 9)) < 0.3
    pred = rng.random((80, 9)) < 0.3
    pairs = (truth & ~pred).astype(int).T @ (~truth & pred).astype(int)
    flat = np.argsort(-pairs, axis=None, kind="stable")[:20]
    expected = [
        {"true": f"t{i}", "predicted": f"t{j}", "count": int(pairs[i, j])}
        for i, j in (divmod(int(f), 9) for f in flat)
        if pairs[i, j] > 0
    ]
    assert confusions(truth, pred, [f"t{j}" for j in range(9)]) == expected


def _dense_top_pairs(pairs: np.ndarray, names: list[str], most: int = 20) -> list[dict]:
    """The most frequent pairs of a dense count, ties in (true, predicted) order."""
    flat = np.argsort(-pairs, axis=None, kind="stable")[:most]
    width = pairs.shape[1]
    return [
        {"true": names[i], "predicted": names[j], "count": int(pairs[i, j])}
        for i, j in (divmod(int(f), width) for f in flat)
        if pairs[i, j] > 0
    ]


@pytest.mark.parametrize("sizes", [(30,), (7, 7, 16), (1, 29), (1,) * 30])
def test_confusions_below_the_bound_are_the_dense_count_and_documents_above_are_left_out(
    sizes,
) -> None:
    from topicclf.config import CONFUSION_PAIRS_PER_DOCUMENT
    from topicclf.metrics import Evaluation

    # 40 model topics and 10 unknown ones (always missed); each document has a number of
    # missed known, missed unknown and wrongly given topics, at random places, so that some
    # pass the bound of missed x wrongly given topics and some stay at or below it (20 x 20).
    rng = np.random.default_rng(11)
    counts = [(15, 5, 20), (16, 5, 20), (0, 10, 40), (18, 3, 22), (2, 1, 3), (0, 0, 9)]
    truth, pred = np.zeros((30, 40), dtype=bool), np.zeros((30, 40), dtype=bool)
    unknown = np.zeros((30, 10), dtype=bool)
    for doc in range(30):
        known, unknown_n, wrong_n = counts[doc % len(counts)]
        columns = rng.permutation(40)
        truth[doc, columns[:known]] = True  # missed
        pred[doc, columns[known : known + wrong_n]] = True  # wrongly given
        both = columns[known + wrong_n :][: rng.integers(0, 3)]
        truth[doc, both] = pred[doc, both] = True  # found
        unknown[doc, rng.permutation(10)[:unknown_n]] = True
    missed = np.hstack([truth & ~pred, unknown]).astype(np.int64)
    wrong = np.hstack([~truth & pred, np.zeros_like(unknown)]).astype(np.int64)
    kept = missed.sum(axis=1) * wrong.sum(axis=1) <= CONFUSION_PAIRS_PER_DOCUMENT
    assert kept.sum() == 20 and CONFUSION_PAIRS_PER_DOCUMENT == 400
    names = [f"t{j}" for j in range(40)] + [f"u{j}" for j in range(10)]
    evaluation = Evaluation(names[:40], names[40:], multiclass=False)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        evaluation.add(truth[part], pred[part], unknown=sp.csr_matrix(unknown[part]))
        start += size
    report = evaluation.report()
    assert report.confusions == _dense_top_pairs(missed[kept].T @ wrong[kept], names)
    assert report.documents_left_out_of_confusions == int((~kept).sum())
    # The count holds at most the bound's pairs for each document.
    assert evaluation.pairs.counts().nnz <= CONFUSION_PAIRS_PER_DOCUMENT * 30


def test_a_document_of_many_unknown_and_wrongly_given_topics_is_left_out_of_confusions() -> None:
    # One document missing 1,000 unknown topics while wrongly given 1,800 of 2,000: 1.8 million
    # pairs that say nothing of what the model takes for what; the other document still counts.
    truth = np.zeros((2, 2000), dtype=bool)
    pred = np.zeros((2, 2000), dtype=bool)
    pred[0, :1800] = True
    truth[1, 0], pred[1, 1] = True, True
    unknown = sp.csr_matrix(np.vstack([np.ones(1000), np.zeros(1000)]))
    names = [f"t{j}" for j in range(2000)]
    unknown_names = [f"u{j}" for j in range(1000)]
    report = evaluate(truth, pred, names, unknown_truth=(unknown_names, unknown))
    assert report.confusions == [{"true": "t0", "predicted": "t1", "count": 1}]
    assert report.documents_left_out_of_confusions == 1
    assert report.to_dict()["documents_left_out_of_confusions"] == 1
    assert evaluate(TRUE, PRED, NAMES).documents_left_out_of_confusions == 0


@pytest.mark.parametrize("sizes", [(7, 7, 6), (1, 19), (10, 10)])
def test_an_evaluation_in_batches_gives_the_whole_corpus_figures(sizes) -> None:
    import dataclasses

    from topicclf.metrics import WHOLE_CORPUS_RANKING, Evaluation

    rng = np.random.default_rng(sum(sizes))
    truth = rng.random((20, 6)) < 0.3
    pred = rng.random((20, 6)) < 0.3
    scores = rng.random((20, 6))
    unknown = rng.random((20, 2)) < 0.2
    names = [f"t{j}" for j in range(6)]
    whole = evaluate(truth, pred, names, scores=scores, unknown_truth=(["u0", "u1"], unknown))
    evaluation = Evaluation(names, ["u0", "u1"], multiclass=False)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        evaluation.add(truth[part], pred[part], scores=scores[part], unknown=unknown[part])
        start += size
    batched = evaluation.report()
    assert batched.curves == {} and not WHOLE_CORPUS_RANKING & set(batched.ranking)
    assert batched.ranking == pytest.approx(
        {k: v for k, v in whole.ranking.items() if k not in WHOLE_CORPUS_RANKING}
    )
    for field in dataclasses.fields(whole):
        ours, theirs = getattr(batched, field.name), getattr(whole, field.name)
        if field.name in ("micro", "macro", "macro_seen", "weighted", "samples"):
            # Sums in another order: equal to the last bits.
            assert dataclasses.astuple(ours) == pytest.approx(dataclasses.astuple(theirs))
        elif field.name not in ("ranking", "curves"):
            assert ours == theirs, field.name


@pytest.mark.parametrize("multiclass", [False, True])
def test_batches_kept_within_whole_cells_give_the_whole_corpus_figures(multiclass) -> None:
    from topicclf.metrics import Evaluation

    rng = np.random.default_rng(5)
    truth = rng.random((20, 6)) < 0.3
    pred = rng.random((20, 6)) < 0.3
    if multiclass:
        truth = np.eye(6, dtype=bool)[rng.integers(0, 6, 20)]
        pred = np.eye(6, dtype=bool)[rng.integers(0, 6, 20)]
    scores = rng.random((20, 6)).astype(np.float32)
    unknown = sp.csr_matrix(rng.random((20, 2)) < 0.2)
    names = [f"t{j}" for j in range(6)]
    whole = evaluate(
        truth, pred, names, scores=scores, unknown_truth=(["u0", "u1"], unknown),
        multiclass=multiclass,
    )  # fmt: skip
    for cells, kept in ((20 * 6, True), (20 * 6 - 1, False)):
        evaluation = Evaluation(names, ["u0", "u1"], multiclass=multiclass, whole_cells=cells)
        for start in range(0, 20, 7):
            part = slice(start, start + 7)
            evaluation.add(truth[part], pred[part], scores=scores[part], unknown=unknown[part])
        batched = evaluation.report()
        assert (batched.curves == whole.curves) is kept and bool(batched.curves) is kept
        assert (batched.multiclass == whole.multiclass) is (kept or not multiclass)
        assert batched.ranking == pytest.approx(
            {k: v for k, v in whole.ranking.items() if kept or k not in WHOLE_CORPUS_RANKING}
        )


def test_multiclass_report_of_many_topics_keeps_accuracy_without_a_topics_x_topics_matrix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 3 topics known, one unknown: 4 names; above the bound the matrix (names x names, 3.2 GB
    # for 20,000 unknown topics) is left out and the accuracy stays.
    truth = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]])
    pred = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
    unknown = sp.csr_matrix(np.array([[0], [0], [1], [0]]))
    names = ["x", "y", "z"]
    whole = evaluate(truth, pred, names, unknown_truth=(["ship"], unknown), multiclass=True)
    assert len(whole.multiclass["confusion_matrix"]) == 4
    monkeypatch.setattr("topicclf.metrics.CONFUSION_MATRIX_TOPICS", 3)
    cut = evaluate(truth, pred, names, unknown_truth=(["ship"], unknown), multiclass=True)
    assert "confusion_matrix" not in cut.multiclass and "labels" not in cut.multiclass
    assert cut.multiclass["accuracy"] == whole.multiclass["accuracy"] == pytest.approx(0.5)
    assert cut.confusions == whole.confusions


def test_multiclass_accuracy_of_several_true_topics_does_not_depend_on_topic_names() -> None:
    """A document of several true topics counted right only when the prediction was its
    first topic in column order: 'T7' and 'T499' sort one way, renamed the other, and the
    same predictions scored 0.76 or 0.80 (attacker pass 39). Right when it is any of them."""
    truth = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=bool)
    pred = np.eye(3, dtype=bool)[[1, 2, 1, 0]]
    report = evaluate(truth, pred, ["a", "b", "c"], multiclass=True)
    assert report.multiclass["accuracy"] == pytest.approx(2 / 4)
    # The same documents with the columns in another order, as other names would sort.
    order = [2, 0, 1]
    renamed = evaluate(truth[:, order], pred[:, order], ["c", "a", "b"], multiclass=True)
    assert renamed.multiclass["accuracy"] == report.multiclass["accuracy"]
    # A right prediction sits on the diagonal, under the topic it got right.
    assert report.multiclass["confusion_matrix"] == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_a_missed_gate_shows_the_figure_with_the_digits_that_tell_it_from_the_gate() -> None:
    # 'gate not met: micro_f1 0.8942 < 0.8942' for a micro-F1 of 0.894198 (attacker pass 39).
    report = evaluate(TRUE, PRED, NAMES, scores=SCORES)
    assert summary_metrics(report)["micro_f1"] == pytest.approx(2 / 3)  # 0.6667 at 4 digits
    assert check_gates(report, [("micro_f1", 0.6667)]) == ["micro_f1 0.666667 < 0.6667"]
    assert check_gates(report, [("micro_f1", 0.7)]) == ["micro_f1 0.6667 < 0.7"]


def test_multiclass_accuracy_has_one_rule_batched_or_whole() -> None:
    """Attacker pass 45, CLI 1: past the cells kept whole, a document of several true
    topics counted as right only when its prediction was the first of them in column order
    (accuracy 1.0 on 3,000 documents, 0.0002 on 4,200 of the same kind)."""
    from topicclf.metrics import Evaluation

    truth = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]], dtype=bool)
    pred = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0]], dtype=bool)
    unknown = sp.csr_matrix(np.array([[0], [0], [0], [1]], dtype=bool))  # wrong: unknown topic
    whole = evaluate(truth, pred, ["a", "b", "c"], unknown_truth=(["u"], unknown), multiclass=True)
    assert whole.multiclass["accuracy"] == 0.75
    for kept in (None, 0):
        batched = Evaluation(["a", "b", "c"], ["u"], multiclass=True, whole_cells=kept)
        for row in range(4):
            batched.add(truth[row : row + 1], pred[row : row + 1], unknown=unknown[row : row + 1])
        assert batched.report().multiclass == {
            "accuracy": 0.75,
            "documents_with_several_true_topics": 2,
        }
