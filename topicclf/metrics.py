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
    unknown_topics: dict[str, int] | None = None,
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
    )


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
