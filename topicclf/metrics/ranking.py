"""Ranking figures from true 0/1 matrices and scores: P@k, R@k, F1@5, nDCG@k, LRAP, AP, curves.

Every figure covers every document and every column it is given, as scikit-learn does; the
caller (metrics.evaluate) appends topics the model does not know as extra columns scored
UNKNOWN_SCORE, so that they count as misses here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KS = (1, 3, 5)
# The figures subject indexers compare tools by (Annif's evaluations, the LLMs4Subjects shared
# task): the top 5 suggestions against the gold set, and nDCG over the top 10.
F1_K, NDCG_LIBRARY_K = 5, 10
# Below every score a model gives (its scores are probabilities in [0, 1]): a topic the
# model does not know ranks after all of its own, never tied with those it scores 0. At 0.0
# it shared their places, so a 3-candidate shortlist model "found" unknown topics
# (recall@5 0.25) with no topic given (pass 47). Finite, unlike -inf, so that scikit-learn
# accepts the extended score matrix as it is.
UNKNOWN_SCORE = -1.0
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
    and after it (topics scored higher or tied): scipy's rankdata(-scores, "min"/"max",
    axis=1), from one sort of the whole matrix (rankdata loops over the rows in Python:
    most of the time of evaluating 12,000 documents on 1,200 topics)."""
    scores = np.asarray(scores)
    n, width = scores.shape
    if not scores.size:
        empty = np.zeros((n, width), np.int64)
        return empty, empty.copy()
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    place = np.arange(1, width + 1)
    starts = np.ones((n, width), dtype=bool)  # where a run of tied scores begins
    np.not_equal(ranked[:, 1:], ranked[:, :-1], out=starts[:, 1:])
    del ranked
    first = np.maximum.accumulate(np.where(starts, place, 0), axis=1)
    ends = np.ones((n, width), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    del starts
    last = np.minimum.accumulate(np.where(ends, place, width + 1)[:, ::-1], axis=1)[:, ::-1]
    out_first, out_last = np.empty((n, width), np.int64), np.empty((n, width), np.int64)
    np.put_along_axis(out_first, order, first, axis=1)
    np.put_along_axis(out_last, order, last, axis=1)
    return out_first, out_last


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
    rows, cols = np.nonzero(truth)  # only true topics count: no documents x topics product
    low, high = first[rows, cols], last[rows, cols]
    tied = high - low + 1
    share = np.clip(k - (low - 1), 0, tied) / tied
    return np.bincount(rows, weights=share, minlength=truth.shape[0]).astype(np.float64)


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


@dataclass(frozen=True)
class Block:
    """Entries given as counts, all at one score: a corpus's unknown topics (every cell of
    documents x unknown topics scored UNKNOWN_SCORE), `true` of them true, `total` in all."""

    score: float
    true: int
    total: int


def at_thresholds(
    truth: np.ndarray, scores: np.ndarray, block: Block | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """At each distinct score, highest first: the true entries and all the entries scored as
    high or higher (scikit-learn's tps and tps + fps; a block of no entries adds no score).

    From a sort of the scores, not an argsort (and their dtype kept): over a corpus's whole
    documents x topics matrix, a float64 argsort and its cumulative sums took 1 GB.
    """
    y = np.asarray(truth).ravel() > 0
    ranked = np.sort(np.asarray(scores).ravel())
    ends = np.flatnonzero(ranked[1:] != ranked[:-1])
    thresholds = np.r_[ranked[ends], ranked[-1:]][::-1]  # distinct, highest first
    del ends
    if block is not None and block.total and not np.isin(block.score, thresholds):
        thresholds = np.sort(np.r_[thresholds, block.score])[::-1]
    seen = len(ranked) - np.searchsorted(ranked, thresholds, side="left")
    del ranked
    positives = np.sort(np.asarray(scores).ravel()[y])
    tps = len(positives) - np.searchsorted(positives, thresholds, side="left")
    if block is not None and block.total:
        counted = thresholds <= block.score
        seen, tps = seen + block.total * counted, tps + block.true * counted
    return tps.astype(np.int64), seen.astype(np.int64)


def average_precision(truth: np.ndarray, scores: np.ndarray, block: Block | None = None) -> float:
    """scikit-learn's average precision of one 0/1 vector and its scores (0.0 if no positives).

    The sum over distinct scores, best first, of (recall gained) x (precision there), with
    tied scores forming one threshold, as `average_precision_score` computes it; `block`:
    entries given as counts (a corpus's unknown topics).
    """
    tps, seen = at_thresholds(truth, scores, block)
    if not len(tps) or tps[-1] == 0:
        return 0.0
    precision = np.divide(tps, seen, out=np.zeros(len(tps)), where=seen > 0)
    return float((np.diff(tps, prepend=0) * precision).sum() / tps[-1])


def column_average_precisions(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """average_precision of every column, 0.0 for one without positives: each positive
    counts the precision at its score, (true ones scored as high or higher) / (all those),
    which is scikit-learn's sum over thresholds grouped by positive; one sort of each column,
    and no sort at all of a column without positives."""
    truth = np.asarray(truth) > 0
    n, width = truth.shape
    out = np.zeros(width)
    if not n:
        return out
    by_topic = np.asarray(scores).T
    cols, rows = np.nonzero(truth.T)  # grouped by column
    starts = np.searchsorted(cols, np.arange(width + 1))
    for j in np.flatnonzero(np.diff(starts)):
        mine = by_topic[j][rows[starts[j] : starts[j + 1]]]
        column = np.sort(by_topic[j])
        ranked = np.sort(mine)
        higher_all = n - np.searchsorted(column, mine, side="left")
        higher_true = len(mine) - np.searchsorted(ranked, mine, side="left")
        out[j] = float((higher_true / higher_all).sum() / len(mine))
    return out


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
    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    n_docs, n_topics = truth.shape
    width = n_topics + (0 if unknown is None else unknown.shape[1])
    if n_docs == 0 or width == 0:
        return {}
    out = per_document_ranking(truth, scores, unknown, ks)
    if whole:
        out.update(whole_corpus_ranking(truth, scores, unknown))
    return out


def per_document_ranking(
    truth: np.ndarray, scores: np.ndarray, unknown: Any = None, ks: tuple[int, ...] = KS
) -> dict[str, float]:
    """ranking_metrics' means over documents (every figure but the average precisions), of
    [truth | unknown] and [scores | UNKNOWN_SCORE, ...] without that matrix: the m unknown
    columns tie at UNKNOWN_SCORE, so a document's figures need only how many of them are true
    (u), each formula scikit-learn's with the block counted in closed form. From one tie
    ranking of the scores (scikit-learn's LRAP and ranking loss loop over the documents)."""
    truth = np.asarray(truth) > 0
    scores = np.asarray(scores, dtype=np.float64)
    n, n_known = truth.shape
    m = 0 if unknown is None else unknown.shape[1]
    width, z = n_known + m, UNKNOWN_SCORE
    if m:
        u = np.asarray((unknown > 0).sum(axis=1), dtype=np.int64).ravel()
    else:
        u = np.zeros(n, np.int64)
    n_true = truth.sum(axis=1) + u
    # Known ranks, with the block counted among the scores at or above theirs.
    empty = np.zeros((n, 0), np.int64)
    first0, last0 = tie_ranks(scores) if n_known else (empty, empty)
    first, last = first0 + m * (scores < z), last0 + m * (scores <= z)
    first_u, last_u = (scores > z).sum(axis=1) + 1, (scores >= z).sum(axis=1) + m
    # The block's places; only rows with true unknown topics (u > 0, so m > 0) use them.
    tied_u = np.maximum(last_u - first_u + 1, 1)

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
    if width <= 1:  # scikit-learn takes a single column for a binary problem and refuses these
        return out
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, width + 2)))])
    rows, cols = np.nonzero(truth)
    low, high = first[rows, cols], last[rows, cols]
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
    true_rank = _true_ranks(rows, scores[rows, cols])
    with_block = true_rank + u[rows] * (scores[rows, cols] <= z)
    true_at = np.bincount(rows, weights=with_block / last[rows, cols], minlength=n)
    known_true_at_z = (truth & (scores >= z)).sum(axis=1)
    share = true_at + u * (known_true_at_z + u) / np.maximum(last_u, 1)
    out["lrap"] = float(np.where(ranked, share / np.maximum(n_true, 1), 1.0).mean())
    # Coverage error: the topics scored as high as the lowest-scored true one, or more.
    lowest = np.where(truth, scores, np.inf).min(axis=1, initial=np.inf)
    lowest = np.where(u > 0, np.minimum(lowest, z), lowest)
    coverage = (scores >= lowest[:, None]).sum(axis=1) + m * (lowest <= z)
    out["coverage_error"] = float(np.where(n_true > 0, coverage, 0).mean())
    # Ranking loss: (true, false) pairs with the false one scored as high or higher. For a
    # true topic, the false ones scored as high or higher: all those, less the true ones.
    pairs = np.bincount(rows, weights=last0[rows, cols] - true_rank, minlength=n)
    pairs = pairs + u * ((~truth) & (scores >= z)).sum(axis=1) + u * (m - u)
    pairs = pairs + (truth & (scores <= z)).sum(axis=1) * (m - u)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = pairs / ((width - n_true) * n_true)
    out["label_ranking_loss"] = float(np.where(ranked, loss, 0.0).mean())
    return out


def _true_ranks(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each true cell (its row and score), how many true cells of its row score as high
    or higher: from a sort of the true cells alone, not of every documents x topics score."""
    if not len(rows):
        return np.zeros(0, np.int64)
    # Row first, then score from the highest, as one integer key per cell.
    level = np.unique(-values, return_inverse=True)[1].reshape(-1)
    key = rows.astype(np.int64) * (int(level.max()) + 1) + level
    ordered = np.sort(key)
    row_start = np.searchsorted(ordered, rows.astype(np.int64) * (int(level.max()) + 1))
    return np.searchsorted(ordered, key, side="right") - row_start


def whole_corpus_ranking(truth: np.ndarray, scores: np.ndarray, unknown: Any = None) -> dict:
    """The average precisions of ranking_metrics, which need every document's scores at
    once (WHOLE_CORPUS_RANKING); `unknown` as there. The scores keep their dtype (a sort
    needs no float64 copy)."""
    truth = np.asarray(truth) > 0
    n = truth.shape[0]
    m = 0 if unknown is None else unknown.shape[1]
    support = np.zeros(0, np.int64)
    block = None
    if m:
        support = np.asarray((unknown > 0).sum(axis=0), dtype=np.int64).ravel()
        block = Block(UNKNOWN_SCORE, int(support.sum()), n * m)
    out: dict[str, float] = {
        "micro_average_precision": average_precision(truth, scores, block),
    }
    # An unknown column is one tie group: average_precision's terms, c x (c / n) / c.
    per_topic = column_average_precisions(truth, scores)
    with np.errstate(divide="ignore", invalid="ignore"):
        block_ap = np.where(support > 0, support * (support / n) / support, 0.0)
    per_topic_all = np.r_[per_topic, block_ap]
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
    levels = np.linspace(0.0, 1.0, points)

    def curve(y: np.ndarray, s: np.ndarray, block: Block | None = None) -> dict[str, list[float]]:
        # scikit-learn's precision_recall_curve (recall falling, a last point (1, 0)), from
        # the one sort average_precision makes.
        tps, seen = at_thresholds(y, s, block)
        precision = np.r_[np.divide(tps, seen, out=np.zeros(len(tps)), where=seen > 0)[::-1], 1]
        recall = np.r_[(tps / tps[-1] if tps[-1] else np.ones(len(tps)))[::-1], 0]
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
        # The unknown cells as a block of entries at UNKNOWN_SCORE: true ones, false ones.
        out["micro"] = curve(truth, scores, Block(UNKNOWN_SCORE, hidden, cells))
    elif truth.any():
        out["micro"] = curve(truth, scores)
    known = truth[:, : len(label_names)]
    for j in np.argsort(-known.sum(axis=0), kind="stable")[:topics]:
        if known[:, j].any():
            out[label_names[j]] = curve(known[:, j], scores[:, j])
    return out
