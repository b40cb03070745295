"""Evaluation metrics from 0/1 matrices and scores; never prints, never touches a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TopicScore:
    """Precision, recall, F1 and counts of one topic."""

    topic: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True)
class Averages:
    """Precision, recall and F1 under one averaging scheme."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class EvaluationReport:
    """Everything an evaluation measured; renderers only format this."""

    n_documents: int
    n_topics: int
    micro: Averages
    macro: Averages
    weighted: Averages
    samples: Averages
    hamming_loss: float
    subset_accuracy: float
    per_topic: list[TopicScore]
    topics_without_support: list[str] = field(default_factory=list)
    unknown_topics: dict[str, int] = field(default_factory=dict)
    documents_without_prediction: int = 0
    label_cardinality_true: float = 0.0
    label_cardinality_predicted: float = 0.0
    topics_per_document: dict[str, dict[str, int]] = field(default_factory=dict)
    confusions: list[dict[str, Any]] = field(default_factory=list)
    ranking: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    multiclass: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    # (document id, [(topic, score), ...]) per document, as tagging would output them.
    predictions: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return asdict(self)


def _prf(
    tp: np.ndarray | float, fp: np.ndarray | float, fn: np.ndarray | float
) -> tuple[Any, Any, Any]:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def evaluate(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: list[str],
    *,
    scores: np.ndarray | None = None,
    unknown_topics: dict[str, int] | None = None,
    multiclass: bool = False,
) -> EvaluationReport:
    """Compare true and predicted 0/1 matrices (documents x topics).

    Macro and weighted averages run over the topics that occur in the truth or in the
    predictions; topics with neither are listed in `topics_without_support`, not averaged in
    as zeros (which would punish a model for topics the test data does not contain).
    """
    truth = np.asarray(y_true) > 0
    pred = np.asarray(y_pred) > 0
    if truth.shape != pred.shape or truth.shape[1] != len(label_names):
        raise ValueError(
            f"shape mismatch: y_true {truth.shape}, y_pred {pred.shape}, {len(label_names)} names"
        )
    n_docs, n_topics = truth.shape
    tp = (truth & pred).sum(axis=0)
    fp = (~truth & pred).sum(axis=0)
    fn = (truth & ~pred).sum(axis=0)
    support = truth.sum(axis=0)
    precision, recall, f1 = _prf(tp, fp, fn)
    per_topic = [
        TopicScore(
            topic=label_names[j],
            precision=float(precision[j]),
            recall=float(recall[j]),
            f1=float(f1[j]),
            support=int(support[j]),
            predicted=int(tp[j] + fp[j]),
            tp=int(tp[j]),
            fp=int(fp[j]),
            fn=int(fn[j]),
        )
        for j in range(n_topics)
    ]
    active = (support > 0) | (tp + fp > 0)
    micro = Averages(*(float(x) for x in _prf(tp.sum(), fp.sum(), fn.sum())))
    if active.any():
        macro = Averages(
            float(precision[active].mean()), float(recall[active].mean()), float(f1[active].mean())
        )
    else:
        macro = Averages(0.0, 0.0, 0.0)
    total = support.sum()
    if total:
        weights = support / total
        weighted = Averages(
            float((precision * weights).sum()),
            float((recall * weights).sum()),
            float((f1 * weights).sum()),
        )
    else:
        weighted = Averages(0.0, 0.0, 0.0)
    d_tp = (truth & pred).sum(axis=1)
    d_p, d_r, d_f = _prf(d_tp, (~truth & pred).sum(axis=1), (truth & ~pred).sum(axis=1))
    samples = (
        Averages(float(d_p.mean()), float(d_r.mean()), float(d_f.mean()))
        if n_docs
        else Averages(0.0, 0.0, 0.0)
    )
    return EvaluationReport(
        n_documents=n_docs,
        n_topics=n_topics,
        micro=micro,
        macro=macro,
        weighted=weighted,
        samples=samples,
        hamming_loss=float((truth != pred).mean()) if truth.size else 0.0,
        subset_accuracy=float((truth == pred).all(axis=1).mean()) if n_docs else 0.0,
        per_topic=per_topic,
        topics_without_support=[label_names[j] for j in range(n_topics) if support[j] == 0],
        unknown_topics=dict(sorted((unknown_topics or {}).items())),
        documents_without_prediction=int((~pred.any(axis=1)).sum()),
        label_cardinality_true=float(truth.sum(axis=1).mean()) if n_docs else 0.0,
        label_cardinality_predicted=float(pred.sum(axis=1).mean()) if n_docs else 0.0,
        topics_per_document={
            "true": _histogram(truth.sum(axis=1)),
            "predicted": _histogram(pred.sum(axis=1)),
        },
        confusions=confusions(truth, pred, label_names),
        ranking=ranking_metrics(truth, scores) if scores is not None else {},
        curves=precision_recall_curves(truth, scores, label_names) if scores is not None else {},
        multiclass=_multiclass(truth, pred, label_names) if multiclass else {},
    )


def _histogram(counts: np.ndarray) -> dict[str, int]:
    values, freq = np.unique(counts, return_counts=True)
    return {str(int(v)): int(f) for v, f in zip(values, freq, strict=True)}


def confusions(
    truth: np.ndarray, pred: np.ndarray, label_names: list[str], most: int = 20
) -> list[dict[str, Any]]:
    """The most frequent (missed true topic, wrongly predicted topic) pairs within documents."""
    missed = (truth & ~pred).astype(np.int64)
    wrong = (~truth & pred).astype(np.int64)
    pairs = missed.T @ wrong  # pairs[i, j]: documents missing i while wrongly given j
    order = np.argsort(-pairs, axis=None, kind="stable")[:most]
    out = []
    for flat in order:
        i, j = divmod(int(flat), pairs.shape[1])
        if pairs[i, j] == 0:
            break
        out.append({"true": label_names[i], "predicted": label_names[j], "count": int(pairs[i, j])})
    return out


def ranking_metrics(
    truth: np.ndarray, scores: np.ndarray, ks: tuple[int, ...] = (1, 3, 5)
) -> dict[str, float]:
    """Precision@k, recall@k, nDCG@k, LRAP, micro and macro average precision from scores."""
    from sklearn.metrics import (
        average_precision_score,
        label_ranking_average_precision_score,
        ndcg_score,
    )

    labelled = truth.any(axis=1)
    out: dict[str, float] = {}
    if not labelled.any():
        return out
    t, s = truth[labelled], scores[labelled]
    order = np.argsort(-s, axis=1, kind="stable")
    n_true = t.sum(axis=1)
    for k in ks:
        k_eff = min(k, s.shape[1])
        hits = np.take_along_axis(t, order[:, :k_eff], axis=1).sum(axis=1)
        out[f"precision@{k}"] = float((hits / k_eff).mean())
        out[f"recall@{k}"] = float((hits / n_true).mean())
        if s.shape[1] > 1:
            out[f"ndcg@{k}"] = float(ndcg_score(t, s, k=k_eff))
    out["lrap"] = float(label_ranking_average_precision_score(t, s))
    out["micro_average_precision"] = float(average_precision_score(t.ravel(), s.ravel()))
    supported = np.flatnonzero(truth.any(axis=0))
    if supported.size:
        out["macro_average_precision"] = float(
            np.mean([average_precision_score(truth[:, j], scores[:, j]) for j in supported])
        )
    return out


def precision_recall_curves(
    truth: np.ndarray,
    scores: np.ndarray,
    label_names: list[str],
    topics: int = 5,
    points: int = 100,
) -> dict[str, dict[str, list[float]]]:
    """Micro-averaged and largest topics' precision-recall curves at `points` recall levels.

    Precision is interpolated (the best precision at this recall or more), the usual way to
    draw these curves, so that a curve over 270,000 scores stays a small, readable list.
    """
    from sklearn.metrics import precision_recall_curve

    levels = np.linspace(0.0, 1.0, points)

    def curve(y: np.ndarray, s: np.ndarray) -> dict[str, list[float]]:
        precision, recall, _ = precision_recall_curve(y, s)
        # Recall falls along the arrays, so entries with recall >= r form a prefix, and the
        # running maximum of precision over that prefix is the interpolated precision.
        best = np.maximum.accumulate(precision)
        idx = np.searchsorted(-recall, -levels, side="right") - 1
        interpolated = best[np.clip(idx, 0, len(best) - 1)]
        interpolated[levels > recall.max()] = 0.0
        return {
            "precision": [round(float(p), 5) for p in interpolated],
            "recall": [round(float(r), 5) for r in levels],
        }

    out: dict[str, dict[str, list[float]]] = {}
    if truth.any():
        out["micro"] = curve(truth.ravel(), scores.ravel())
    for j in np.argsort(-truth.sum(axis=0), kind="stable")[:topics]:
        if truth[:, j].any():
            out[label_names[j]] = curve(truth[:, j], scores[:, j])
    return out


def _multiclass(truth: np.ndarray, pred: np.ndarray, label_names: list[str]) -> dict[str, Any]:
    true_idx = truth.argmax(axis=1)
    pred_idx = pred.argmax(axis=1)
    matrix = np.zeros((len(label_names), len(label_names)), dtype=np.int64)
    np.add.at(matrix, (true_idx, pred_idx), 1)
    return {
        "accuracy": float((true_idx == pred_idx).mean()) if len(true_idx) else 0.0,
        "labels": list(label_names),
        "confusion_matrix": matrix.tolist(),
    }


def error_examples(
    truth: np.ndarray,
    pred: np.ndarray,
    label_names: list[str],
    ids: list[str],
    texts: list[str],
    most: int = 6,
) -> list[dict[str, Any]]:
    """A handful of documents with false positives or negatives, most errors first."""
    wrong = (truth != pred).sum(axis=1)
    names = np.asarray(label_names)
    out = []
    for i in np.argsort(-wrong, kind="stable")[:most]:
        if wrong[i] == 0:
            break
        out.append(
            {
                "id": ids[i],
                "text": texts[i][:400],
                "true": names[truth[i]].tolist(),
                "predicted": names[pred[i]].tolist(),
                "false_positives": names[~truth[i] & pred[i]].tolist(),
                "false_negatives": names[truth[i] & ~pred[i]].tolist(),
            }
        )
    return out


_SCHEMES = ("micro", "macro", "weighted", "samples")
METRIC_NAMES = (
    *(f"{s}_{m}" for s in _SCHEMES for m in ("precision", "recall", "f1")),
    "subset_accuracy",
    "hamming_loss",
)
LOWER_IS_BETTER = frozenset({"hamming_loss"})


def summary_metrics(report: EvaluationReport) -> dict[str, float]:
    """The headline figures by name (METRIC_NAMES), as used by `--fail-under` and summaries."""
    out: dict[str, float] = {}
    for scheme in _SCHEMES:
        averages: Averages = getattr(report, scheme)
        out[f"{scheme}_precision"] = averages.precision
        out[f"{scheme}_recall"] = averages.recall
        out[f"{scheme}_f1"] = averages.f1
    out["subset_accuracy"] = report.subset_accuracy
    out["hamming_loss"] = report.hamming_loss
    return out
