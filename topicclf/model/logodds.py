"""Scores as log-odds, computed from logits where a model has them.

`explain` weighs a term by how much a topic's log-odds fall without it. Taken from float32
scores, a confident topic's score is 1.0 (a logit past about 17), the same with or without
any term, and every weight came out 0: the model's surest topics had no explanation. From
the logits, in float64 and in log space throughout, nothing saturates.

Each function gives a pair (log p, log(1 - p)) per row and topic: a sigmoid's, a softmax's,
or a blend's mixture of two such, so log-odds are `log p - log(1 - p)` in every mode.
"""

from __future__ import annotations

import numpy as np

# Where a share's complement underflows (every other topic's logit 745 below the top one):
# log-odds of about 690, far past anything a term changes.
_TINY = 1e-300

LogPair = tuple[np.ndarray, np.ndarray]


def sigmoid_logs(logits: np.ndarray) -> LogPair:
    """(log p, log(1 - p)) of independent sigmoids over `logits`, exact at any size."""
    a = logits.astype(np.float64)
    return -np.logaddexp(0.0, -a), -np.logaddexp(0.0, a)


def share_logs(log_weights: np.ndarray) -> LogPair:
    """(log p, log(1 - p)) of each column's share of its row, p = w / sum(w), from the
    positive weights' logs (a softmax's logits, or the logs of calibrated scores).

    1 - p is summed from the other columns, never taken as 1 - p: for a row's largest
    column it is the sum of all the others (zeroing that column), for any other column
    the total less its own weight, at least the largest one's (no cancellation)."""
    v = log_weights.astype(np.float64)
    if v.shape[1] == 0:
        return v, v
    rows = np.arange(v.shape[0])
    top = np.argmax(v, axis=1)
    shifted = v - v[rows, top][:, None]
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    e[rows, top] = 0.0
    others = total - e
    others[rows, top] = e.sum(axis=1)
    log_total = np.log(total)
    return shifted - log_total, np.log(np.maximum(others, _TINY)) - log_total


def network_logs(logits: np.ndarray, multiclass: bool) -> LogPair:
    """(log p, log(1 - p)) of a network's outputs from its logits: softmax or sigmoids."""
    return share_logs(logits) if multiclass else sigmoid_logs(logits)


def mixed(first: LogPair, second: LogPair, weight: float) -> LogPair:
    """(log p, log(1 - p)) of (1 - weight) * p1 + weight * p2, in log space."""
    if weight <= 0.0:
        return first
    if weight >= 1.0:
        return second
    a, b = np.log1p(-weight), np.log(weight)
    return (
        np.logaddexp(a + first[0], b + second[0]),
        np.logaddexp(a + first[1], b + second[1]),
    )


def from_scores(scores: np.ndarray) -> LogPair:
    """(log p, log(1 - p)) of scores already computed (a network without exported logits:
    Keras, the shortlist), clipped away from 0 and 1, where they saturate."""
    p = np.clip(scores.astype(np.float64), 1e-12, 1.0 - 1e-12)
    return np.log(p), np.log1p(-p)


def log_odds(pair: LogPair) -> np.ndarray:
    """log(p / (1 - p)) from (log p, log(1 - p))."""
    return pair[0] - pair[1]
