"""Ranking figures from true 0/1 matrices and scores: P@k, R@k, F1@5, nDCG@k, LRAP, AP, curves.

Every figure covers every document and every column it is given, as scikit-learn does; the
caller (metrics.evaluate) appends topics the model does not know as extra columns scored
UNKNOWN_SCORE, so that they count as misses here too.
"""

from __future__ import annotations

import numpy as np

KS = (1, 3, 5)
# The figures subject indexers compare tools by (Annif's evaluations, the LLMs4Subjects shared
# task): the top 5 suggestions against the gold set, and nDCG over the top 10.
F1_K, NDCG_LIBRARY_K = 5, 10
# The lowest score a model gives (its scores are probabilities in [0, 1]). It is finite,
# unlike -inf, so that scikit-learn accepts the extended score matrix as it is.
UNKNOWN_SCORE = 0.0
RANKING_NAMES = (
    *(f"{m}@{k}" for m in ("precision", "recall", "ndcg") for k in KS),
    f"f1@{F1_K}",
    f"ndcg@{NDCG_LIBRARY_K}",
    "lrap",
    "coverage_error",
    "label_ranking_loss",
    "micro_average_precision",
    "macro_average_precision",
    "macro_average_precision_supported",
)


# Figures that need every document's scores at once: `ranking_metrics(whole=False)` leaves
# them out, and a batched evaluation does not give them.
WHOLE_CORPUS_RANKING = frozenset(
    {"micro_average_precision", "macro_average_precision", "macro_average_precision_supported"}
)


def tie_ranks(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, each score's place counting the ties before it (1 + topics scored higher)
    and after it (topics scored higher or tied)."""
    from scipy.stats import rankdata

    return rankdata(-scores, method="min", axis=1), rankdata(-scores, method="max", axis=1)


def hits_at_k(
    truth: np.ndarray,
    scores: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Expected true topics among each document's k best scores, ties averaged.

    Topics tied with the k-th score share the places left for them equally (the mean over
    every order of the tied topics), the rule scikit-learn's `ndcg_score` uses by default,
    so precision@1 equals nDCG@1. `ranks`: `tie_ranks(scores)`, when already computed.
    """
    truth = np.asarray(truth) > 0
    if truth.size == 0:
        return np.zeros(truth.shape[0])
    first, last = ranks if ranks is not None else tie_ranks(scores)
    tied = last - first + 1
    share = np.clip(k - (first - 1), 0, tied) / tied
    return np.asarray((share * truth).sum(axis=1), dtype=np.float64)


def precision_at_k(
    truth: np.ndarray,
    scores: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean over documents of hits@k / min(k, topics); a document without true topics gives 0."""
    if truth.shape[0] == 0 or truth.shape[1] == 0:
        return 0.0
    return float((hits_at_k(truth, scores, k, ranks) / min(k, truth.shape[1])).mean())


def recall_at_k(
    truth: np.ndarray,
    scores: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean over documents of hits@k / true topics; a document without true topics gives 0."""
    if truth.shape[0] == 0:
        return 0.0
    n_true = (np.asarray(truth) > 0).sum(axis=1)
    hits = hits_at_k(truth, scores, k, ranks)
    return float(np.where(n_true > 0, hits / np.maximum(n_true, 1), 0.0).mean())


def f1_at_k(
    truth: np.ndarray,
    scores: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Mean over documents of the F1 of the k best-scored topics against the true ones:
    2 hits@k / (min(k, topics) + true topics); a document without true topics gives 0."""
    if truth.shape[0] == 0 or truth.shape[1] == 0:
        return 0.0
    n_true = (np.asarray(truth) > 0).sum(axis=1)
    hits = hits_at_k(truth, scores, k, ranks)
    return float((2 * hits / (min(k, truth.shape[1]) + n_true)).mean())


def ndcg_at_k(
    truth: np.ndarray,
    scores: np.ndarray,
    k: int,
    ranks: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """scikit-learn's `ndcg_score(truth, scores, k=k)` for 0/1 truth, ties averaged: each
    true topic earns the mean discount of the places its tie group shares, counting the places
    within the first k; over the best DCG possible. A document without true topics gives 0.

    Computed from the tie ranks instead of per-document sorting, as scikit-learn does: on a
    library vocabulary every document ties tens of thousands of unscored topics at 0.
    """
    truth = np.asarray(truth) > 0
    if truth.shape[0] == 0:
        return 0.0
    first, last = ranks if ranks is not None else tie_ranks(scores)
    width = truth.shape[1]
    # cumulative[p]: the discounts of places 1..p summed.
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, width + 2)))])
    rows, cols = np.nonzero(truth)
    low, high = first[rows, cols].astype(np.int64), last[rows, cols].astype(np.int64)
    shared = (cumulative[np.minimum(high, k)] - cumulative[np.minimum(low - 1, k)]) / (
        high - low + 1
    )
    dcg = np.bincount(rows, weights=shared, minlength=truth.shape[0])
    best = cumulative[np.minimum(truth.sum(axis=1), min(k, width))]
    return float(np.where(best > 0, dcg / np.where(best > 0, best, 1.0), 0.0).mean())


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average precision of one 0/1 vector and its scores (0.0 if no positives).

    The sum over distinct scores, best first, of (recall gained) x (precision there), with
    tied scores forming one threshold, as `average_precision_score` computes it.
    """
    y = np.asarray(truth).ravel() > 0
    positives = np.count_nonzero(y)
    if positives == 0:
        return 0.0
    s = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(y[order])
    ranked = s[order]
    ends = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]
    tps = hits[ends]
    precision = tps / (ends + 1)
    return float((np.diff(tps, prepend=0) * precision).sum() / positives)


def ranking_metrics(
    truth: np.ndarray, scores: np.ndarray, ks: tuple[int, ...] = KS, *, whole: bool = True
) -> dict[str, float]:
    """Precision@k, recall@k, nDCG@k, LRAP, coverage error, ranking loss, average precision.

    Each equals scikit-learn's on the same matrices (nDCG, LRAP, coverage error and ranking
    loss need two topics or more, as there): documents without a true topic count
    (LRAP 1, coverage error 0, ranking loss 0, nDCG 0, P@k 0 as scikit-learn and the rules
    above define them), and macro average precision averages every column, a column without
    positives counting 0. `macro_average_precision_supported` is our own figure: the mean
    over the topics that occur in the truth. P@k, R@k and nDCG@k average tied scores.
    `whole=False` leaves out the average precisions, which only the whole corpus's scores
    give (a batch's would be thrown away).
    """
    from sklearn.metrics import (
        coverage_error,
        label_ranking_average_precision_score,
        label_ranking_loss,
    )

    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    n_docs, n_topics = truth.shape
    if n_docs == 0 or n_topics == 0:
        return {}
    out: dict[str, float] = {}
    ranks = tie_ranks(scores)  # once for every k: the sort is most of the cost
    for k in ks:
        out[f"precision@{k}"] = precision_at_k(truth, scores, k, ranks)
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(truth, scores, k, ranks)
    out[f"f1@{F1_K}"] = f1_at_k(truth, scores, F1_K, ranks)
    # scikit-learn takes a single column for a binary problem and refuses these figures.
    if n_topics > 1:
        for k in (*ks, NDCG_LIBRARY_K):
            out[f"ndcg@{k}"] = ndcg_at_k(truth, scores, k, ranks)
        out["lrap"] = float(label_ranking_average_precision_score(truth, scores))
        out["coverage_error"] = float(coverage_error(truth, scores))
        out["label_ranking_loss"] = float(label_ranking_loss(truth, scores))
    if not whole:
        return out
    out["micro_average_precision"] = average_precision(truth.ravel(), scores.ravel())
    per_topic = [average_precision(truth[:, j], scores[:, j]) for j in range(n_topics)]
    out["macro_average_precision"] = float(np.mean(per_topic))
    supported = truth.any(axis=0)
    if supported.any():
        out["macro_average_precision_supported"] = float(np.mean(np.array(per_topic)[supported]))
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
    The micro curve covers every column given; topic curves only the first `len(label_names)`.
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
    known = truth[:, : len(label_names)]
    for j in np.argsort(-known.sum(axis=0), kind="stable")[:topics]:
        if known[:, j].any():
            out[label_names[j]] = curve(known[:, j], scores[:, j])
    return out
