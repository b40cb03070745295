"""Ranking figures from true 0/1 matrices and scores: P@k, R@k, F1@5, nDCG@k, LRAP, AP, curves.

Every figure covers every document and every column it is given, as scikit-learn does; the
caller (metrics.evaluate) appends topics the model does not know as extra columns scored
UNKNOWN_SCORE, so that they count as misses here too.
"""

from __future__ import annotations

from typing import Any

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


def average_precision(
    truth: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """scikit-learn's average precision of one 0/1 vector and its scores (0.0 if no positives).

    The sum over distinct scores, best first, of (recall gained) x (precision there), with
    tied scores forming one threshold, as `average_precision_score` computes it. `weights`:
    how many entries each one stands for (whole numbers), as for a block of tied unknown topics.
    """
    y = np.asarray(truth).ravel() > 0
    w = np.ones(len(y), np.int64) if weights is None else np.asarray(weights).ravel()
    positives = int(w[y].sum())
    if positives == 0:
        return 0.0
    s = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(np.where(y, w, 0)[order])
    seen = np.cumsum(w[order])
    ranked = s[order]
    ends = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]
    tps = hits[ends]
    precision = tps / seen[ends]
    return float((np.diff(tps, prepend=0) * precision).sum() / positives)


def ranking_metrics(
    truth: np.ndarray,
    scores: np.ndarray,
    ks: tuple[int, ...] = KS,
    *,
    whole: bool = True,
    unknown: Any = None,
) -> dict[str, float]:
    """Precision@k, recall@k, nDCG@k, LRAP, coverage error, ranking loss, average precision.

    Each equals scikit-learn's on the same matrices (nDCG, LRAP, coverage error and ranking
    loss need two topics or more, as there): documents without a true topic count
    (LRAP 1, coverage error 0, ranking loss 0, nDCG 0, P@k 0 as scikit-learn and the rules
    above define them), and macro average precision averages every column, a column without
    positives counting 0. `macro_average_precision_supported` is our own figure: the mean
    over the topics that occur in the truth. P@k, R@k and nDCG@k average tied scores.
    `whole=False` leaves out the average precisions, which only the whole corpus's scores
    give (a batch's would be thrown away). `unknown`: a scipy sparse 0/1 matrix (documents x
    topics the model does not know), figured as extra columns scored UNKNOWN_SCORE without
    ever being made dense (a library test set can hold tens of thousands of them).
    """
    from sklearn.metrics import (
        coverage_error,
        label_ranking_average_precision_score,
        label_ranking_loss,
    )

    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    n_docs, n_topics = truth.shape
    if unknown is not None and unknown.shape[1] and n_docs:
        return _with_unknown(truth, scores, unknown, ks, whole)
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


def _with_unknown(
    truth: np.ndarray, scores: np.ndarray, unknown: Any, ks: tuple[int, ...], whole: bool
) -> dict[str, float]:
    """ranking_metrics of [truth | unknown] and [scores | UNKNOWN_SCORE, ...] without that
    matrix. The m unknown columns tie at UNKNOWN_SCORE, so a document's figures need only how
    many of them are true (u): each formula is the one above (or scikit-learn's) with the
    block counted in closed form."""
    from scipy.stats import rankdata

    n, n_known = truth.shape
    m = unknown.shape[1]
    width, z = n_known + m, UNKNOWN_SCORE
    u = np.asarray((unknown > 0).sum(axis=1), dtype=np.int64).ravel()
    n_true = truth.sum(axis=1) + u
    # Known ranks, with the block counted among the scores at or above theirs.
    empty = np.zeros((n, 0))
    first, last = tie_ranks(scores) if n_known else (empty, empty)
    first, last = first + m * (scores < z), last + m * (scores <= z)
    first_u, last_u = (scores > z).sum(axis=1) + 1, (scores >= z).sum(axis=1) + m
    tied_u = last_u - first_u + 1

    def hits(k: int) -> np.ndarray:
        known = hits_at_k(truth, scores, k, (first, last)) if n_known else np.zeros(n)
        return known + u * np.clip(k - (first_u - 1), 0, tied_u) / tied_u

    out: dict[str, float] = {}
    for k in ks:
        out[f"precision@{k}"] = float((hits(k) / min(k, width)).mean())
    for k in ks:
        out[f"recall@{k}"] = float(
            np.where(n_true > 0, hits(k) / np.maximum(n_true, 1), 0.0).mean()
        )
    out[f"f1@{F1_K}"] = float((2 * hits(F1_K) / (min(F1_K, width) + n_true)).mean())
    if width > 1:
        cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, width + 2)))])
        rows, cols = np.nonzero(truth)
        low, high = first[rows, cols].astype(np.int64), last[rows, cols].astype(np.int64)
        for k in (*ks, NDCG_LIBRARY_K):
            shared = (cumulative[np.minimum(high, k)] - cumulative[np.minimum(low - 1, k)]) / (
                high - low + 1
            )
            block = cumulative[np.minimum(last_u, k)] - cumulative[np.minimum(first_u - 1, k)]
            dcg = np.bincount(rows, weights=shared, minlength=n) + u * block / tied_u
            best = cumulative[np.minimum(n_true, min(k, width))]
            ndcg = np.where(best > 0, dcg / np.where(best > 0, best, 1.0), 0.0)
            out[f"ndcg@{k}"] = float(ndcg.mean())
        ranked = (n_true > 0) & (n_true < width)
        # LRAP: a true topic's place (topics scored as high or higher) and the true ones there.
        true_at = tie_ranks(np.where(truth, scores, -np.inf))[1] if n_known else empty
        known_true_at_z = (truth & (scores >= z)).sum(axis=1)
        share = np.where(truth, (true_at + u[:, None] * (scores <= z)) / last, 0.0).sum(axis=1)
        share = share + u * (known_true_at_z + u) / last_u
        out["lrap"] = float(np.where(ranked, share / np.maximum(n_true, 1), 1.0).mean())
        # Coverage error: the topics scored as high as the lowest-scored true one, or more.
        lowest = np.where(truth, scores, np.inf).min(axis=1, initial=np.inf)
        lowest = np.where(u > 0, np.minimum(lowest, z), lowest)
        coverage = (scores >= lowest[:, None]).sum(axis=1) + m * (lowest <= z)
        out["coverage_error"] = float(np.where(n_true > 0, coverage, 0).mean())
        # Ranking loss: (true, false) pairs with the false one scored as high or higher.
        # For a false topic, the true ones scored as low or lower: all minus the false ones.
        below = (
            rankdata(scores, "max", axis=1)
            - rankdata(np.where(truth, np.inf, scores), "max", axis=1)
            if n_known
            else empty
        )
        pairs = np.where(truth, 0, below).sum(axis=1)
        pairs = pairs + u * ((~truth) & (scores >= z)).sum(axis=1) + u * (m - u)
        pairs = pairs + (truth & (scores <= z)).sum(axis=1) * (m - u)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = pairs / ((width - n_true) * n_true)
        out["label_ranking_loss"] = float(np.where(ranked, loss, 0.0).mean())
    if not whole:
        return out
    support = np.asarray((unknown > 0).sum(axis=0), dtype=np.int64).ravel()
    hidden = int(support.sum())
    # The block joins the micro ranking as two weighted entries: its true and false cells.
    out["micro_average_precision"] = average_precision(
        np.r_[truth.ravel(), True, False],
        np.r_[scores.ravel(), z, z],
        np.r_[np.ones(truth.size, np.int64), hidden, n * m - hidden],
    )
    # An unknown column is one tie group: average_precision's terms, c x (c / n) / c.
    per_topic = [average_precision(truth[:, j], scores[:, j]) for j in range(n_known)]
    with np.errstate(divide="ignore", invalid="ignore"):
        block_ap = np.where(support > 0, support * (support / n) / support, 0.0)
    per_topic_all = np.r_[np.asarray(per_topic, dtype=np.float64), block_ap]
    out["macro_average_precision"] = float(np.mean(per_topic_all))
    supported = np.r_[truth.any(axis=0), support > 0]
    if supported.any():
        out["macro_average_precision_supported"] = float(np.mean(per_topic_all[supported]))
    return out


def precision_recall_curves(
    truth: np.ndarray,
    scores: np.ndarray,
    label_names: list[str],
    topics: int = 5,
    points: int = 100,
    unknown: Any = None,
) -> dict[str, dict[str, list[float]]]:
    """Micro-averaged and largest topics' precision-recall curves at `points` recall levels.

    Precision is interpolated (the best precision at this recall or more), the usual way to
    draw these curves, so that a curve over 270,000 scores stays a small, readable list.
    The micro curve covers every column given, and `unknown`'s (a sparse 0/1 matrix of the
    topics the model does not know, scored UNKNOWN_SCORE); topic curves only the first
    `len(label_names)`.
    """
    from sklearn.metrics import precision_recall_curve

    levels = np.linspace(0.0, 1.0, points)

    def curve(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> dict[str, list[float]]:
        precision, recall, _ = precision_recall_curve(y, s, sample_weight=w)
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
    cells = 0 if unknown is None else truth.shape[0] * unknown.shape[1]
    hidden = int((unknown > 0).sum()) if cells else 0
    if cells and (hidden or truth.any()):
        # The unknown cells as two weighted entries at UNKNOWN_SCORE: true ones, false ones.
        out["micro"] = curve(
            np.r_[truth.ravel(), True, False],
            np.r_[scores.ravel(), UNKNOWN_SCORE, UNKNOWN_SCORE],
            np.r_[np.ones(truth.size), hidden, cells - hidden],
        )
    elif truth.any():
        out["micro"] = curve(truth.ravel(), scores.ravel())
    known = truth[:, : len(label_names)]
    for j in np.argsort(-known.sum(axis=0), kind="stable")[:topics]:
        if known[:, j].any():
            out[label_names[j]] = curve(known[:, j], scores[:, j])
    return out
