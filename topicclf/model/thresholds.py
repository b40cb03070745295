"""Turning scores into topic sets: threshold tuning on validation data, and the one decision
rule every entry point (predict, evaluate, tag, workers, Dask, serve, explain) applies."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicclf.errors import InputError
from topicclf.metrics import micro_f1

MIN_OWN_F1 = 0.5


@dataclass(frozen=True)
class ThresholdPolicy:
    """Per-topic thresholds plus the rules around them; stored with the model."""

    strategy: str
    thresholds: np.ndarray
    global_threshold: float
    fallback: bool
    top_k: int = 0
    multiclass: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "strategy": self.strategy,
            "global_threshold": float(self.global_threshold),
            "thresholds": [float(t) for t in self.thresholds],
            "fallback": bool(self.fallback),
            "top_k": int(self.top_k),
            "multiclass": bool(self.multiclass),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdPolicy:
        """Inverse of to_dict."""
        return cls(
            strategy=str(data["strategy"]),
            thresholds=np.asarray(data["thresholds"], dtype=np.float32),
            global_threshold=float(data["global_threshold"]),
            fallback=bool(data["fallback"]),
            top_k=int(data.get("top_k", 0)),
            multiclass=bool(data.get("multiclass", False)),
        )


def _best_cut(
    sorted_truth: np.ndarray, sorted_scores: np.ndarray, n_pos: int, *, everything: bool = True
) -> tuple[float, float]:
    """Best F1 over all cuts of scores sorted in descending order, and its threshold;
    without `everything`, never the cut below every score (1.0, nothing, when no other
    cut exists)."""
    if n_pos == 0 or sorted_scores.size == 0:
        return 0.0, 1.0
    tp = np.cumsum(sorted_truth)
    k = np.arange(1, sorted_truth.size + 1)
    f1 = 2.0 * tp / (k + n_pos)
    # Only cut between distinct scores: equal scores cannot be separated by a threshold.
    distinct = np.append(sorted_scores[:-1] > sorted_scores[1:], everything)
    if not distinct.any():
        return 0.0, 1.0
    f1 = np.where(distinct, f1, -1.0)
    best = int(np.argmax(f1))
    nxt = sorted_scores[best + 1] if best + 1 < sorted_scores.size else 0.0
    return float(f1[best]), float((sorted_scores[best] + nxt) / 2.0)


def tune_global(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The single threshold that maximizes micro-F1 on (y_true, scores), never one below
    every score: that would give every document every topic (on validation where the scores
    separate nothing, giving everything can score the best F1)."""
    flat_scores = scores.ravel()
    order = np.argsort(-flat_scores, kind="stable")
    truth = y_true.ravel()[order].astype(np.float64)
    _, threshold = _best_cut(truth, flat_scores[order], int(truth.sum()), everything=False)
    return threshold


def tune_per_topic(
    y_true: np.ndarray, scores: np.ndarray, global_threshold: float, shrinkage: float
) -> np.ndarray:
    """One threshold per topic maximizing its F1, shrunk towards the global threshold.

    A topic's own optimum replaces the global threshold only where it scores a better F1 on
    the topic's validation documents, and at least MIN_OWN_F1 (a lower best F1 means the
    scores cannot separate the topic, and its "optimum" is noise, often a cut so low that
    every document gets the topic); then a topic with n validation positives gets
    (n * own + shrinkage * global) / (n + shrinkage), so rare topics, whose own optimum is
    tuned on noise, stay near the global threshold.
    """
    n_labels = y_true.shape[1]
    out = np.full(n_labels, global_threshold, dtype=np.float64)
    for j in range(n_labels):
        truth = y_true[:, j] > 0
        n_pos = int(truth.sum())
        if n_pos == 0:
            continue
        order = np.argsort(-scores[:, j], kind="stable")
        own_f1, own = _best_cut(truth[order].astype(np.float64), scores[order, j], n_pos)
        predicted = scores[:, j] >= global_threshold
        global_f1 = 2.0 * float((truth & predicted).sum()) / (n_pos + int(predicted.sum()))
        if own_f1 > global_f1 and own_f1 >= MIN_OWN_F1:
            out[j] = (n_pos * own + shrinkage * global_threshold) / (n_pos + shrinkage)
    return out.astype(np.float32)


def apply(scores: np.ndarray, policy: ThresholdPolicy) -> np.ndarray:
    """Boolean topic matrix from scores under a policy alone (used while tuning)."""
    return apply_thresholds(
        scores,
        policy.thresholds,
        fallback=policy.fallback,
        top_k=policy.top_k,
        multiclass=policy.multiclass,
    )


@dataclass(frozen=True)
class Rule:
    """What a caller changes about the stored policy when choosing topics.

    `threshold`: one threshold for every topic, with no fallback (exactly that cut);
    `top_k`: at most the k best topics (alone: the k best whatever their positive scores);
    a topic that scores 0 is never given, whatever the rule (`apply_thresholds`);
    `fallback`: False never gives a topic below its threshold (None keeps the policy's).
    A multi-class model always gives its one best topic (when it scores above 0); these
    change nothing there.
    """

    threshold: float | None = None
    top_k: int | None = None
    fallback: bool | None = None

    def __post_init__(self) -> None:
        # Every entry point builds a Rule (API, CLI, server, workers): checked here once.
        # The CLI and the server check their own options first, in their own words.
        threshold, top_k, fallback = self.threshold, self.top_k, self.fallback
        if threshold is not None:
            if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool | np.bool_):
                raise InputError(
                    f"Rule: threshold must be a number between 0 and 1 (or None), not "
                    f"{type(threshold).__name__} {threshold!r}"
                )
            if not 0.0 <= float(threshold) <= 1.0:  # NaN fails too
                raise InputError(
                    f"Rule: threshold must be between 0 and 1 (scores are in [0, 1]), "
                    f"not {threshold!r}"
                )
            object.__setattr__(self, "threshold", float(threshold))
        if top_k is not None:
            if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool | np.bool_):
                raise InputError(
                    f"Rule: top_k must be a positive integer (or None), not "
                    f"{type(top_k).__name__} {top_k!r}"
                )
            if top_k < 1:
                raise InputError(
                    f"Rule: top_k must be at least 1 (None: no limit), not {int(top_k)}"
                )
            object.__setattr__(self, "top_k", int(top_k))
        if fallback is not None and not isinstance(fallback, bool | np.bool_):
            raise InputError(
                f"Rule: fallback must be True, False or None, not {type(fallback).__name__} "
                f"{fallback!r}"
            )
        if fallback is not None:
            object.__setattr__(self, "fallback", bool(fallback))

    @property
    def is_default(self) -> bool:
        """True when the stored policy is used unchanged."""
        return self.threshold is None and self.top_k is None and self.fallback is None


DEFAULT_RULE = Rule()


def check_rule(rule: Any) -> Rule:
    """`rule` when it is a Rule, else an InputError saying how to make one."""
    if not isinstance(rule, Rule):
        raise InputError(
            f"rule: expected a Rule, not {type(rule).__name__}; e.g. "
            "Rule(threshold=0.5, top_k=3) from topicclf.model.thresholds"
        )
    return rule


def ignored_by(policy: ThresholdPolicy, rule: Rule) -> str | None:
    """Why `rule` changes nothing under `policy` (a multi-class model), or None."""
    rule = check_rule(rule)
    if not policy.multiclass or rule.is_default:
        return None
    return (
        "this is a multi-class model: it always gives its one best topic, so top_k, "
        "threshold and fallback settings change nothing"
    )


def decide(
    scores: np.ndarray,
    policy: ThresholdPolicy,
    rule: Rule = DEFAULT_RULE,
    texts: Sequence[str] | None = None,
) -> np.ndarray:
    """The topics each document gets: a boolean matrix shaped like `scores`.

    The single home of the decision: tuned (or overridden) thresholds, top-k, the best-topic
    fallback, argmax in multi-class mode, and blank texts (given `texts`), which get no topic.
    """
    rule = check_rule(rule)
    k = policy.top_k if rule.top_k is None else rule.top_k
    thresholds: np.ndarray | float = policy.thresholds
    fallback = policy.fallback if rule.fallback is None else rule.fallback
    if rule.threshold is not None:
        thresholds, fallback = rule.threshold, False
    elif rule.top_k is not None:
        thresholds, fallback = -np.inf, False
    chosen = apply_thresholds(
        scores, thresholds, fallback=fallback, top_k=k, multiclass=policy.multiclass
    )
    if texts is not None:
        for row, text in enumerate(texts):
            if not text.strip():
                chosen[row] = False
    return chosen


def topics_of(
    scores: np.ndarray, chosen: np.ndarray, classes: Sequence[str]
) -> list[list[tuple[str, float]]]:
    """(topic, score) pairs of the chosen topics per document, best score first."""
    out = []
    for row_scores, row in zip(scores, chosen, strict=True):
        idx = np.flatnonzero(row)
        idx = idx[np.argsort(-row_scores[idx], kind="stable")]
        out.append([(classes[int(j)], float(row_scores[j])) for j in idx])
    return out


def apply_thresholds(
    scores: np.ndarray,
    thresholds: np.ndarray | float,
    *,
    fallback: bool = False,
    top_k: int = 0,
    multiclass: bool = False,
) -> np.ndarray:
    """Scores at or above their topic's threshold; at least the best topic with `fallback`;
    at most the `top_k` best when top_k > 0; exactly the best one in multi-class mode.

    Whatever the threshold, a topic that scores 0 is never given (a threshold of 0 means
    every topic with a positive score): 0 is what a shortlist model scores the topics off a
    document's shortlist, and a cut at 0 once gave every document all 500,000 topics of a
    model. Only a score above 0 is evidence for a topic, in every mode."""
    n_docs, n_labels = scores.shape
    positive = scores > 0
    if multiclass:
        out = np.zeros_like(scores, dtype=bool)
        if n_labels:
            out[np.arange(n_docs), np.argmax(scores, axis=1)] = True
        return out & positive
    out = (scores >= np.asarray(thresholds, dtype=scores.dtype)) & positive
    if top_k and top_k < n_labels:
        # Keep only the top_k highest-scoring of the selected topics.
        kth = -np.partition(-scores, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        out &= scores >= kth
        # Ties at the k-th score kept more than k; the first columns win, as in a stable sort.
        for row in np.flatnonzero(out.sum(axis=1) > top_k):
            columns = np.flatnonzero(out[row])
            keep = columns[np.argsort(-scores[row, columns], kind="stable")[:top_k]]
            out[row] = False
            out[row, keep] = True
    if fallback and n_labels:
        empty = np.flatnonzero(~out.any(axis=1))
        best = np.argmax(scores[empty], axis=1)
        given = scores[empty, best] > 0
        out[empty[given], best[given]] = True
    return out


def tune_policy(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    strategy: str = "per_topic",
    fixed_value: float = 0.5,
    shrinkage: float = 5.0,
    fallback: str = "auto",
    top_k: int = 0,
    multiclass: bool = False,
    keep: ThresholdPolicy | None = None,
) -> ThresholdPolicy:
    """Choose thresholds on validation data (and, with fallback='auto', whether to fall back).

    `keep`: the policy of a model tuned again. Per topic, a topic with no document in
    y_true keeps its threshold, and then the global threshold is kept too (a corpus short
    of topics does not stand for all of them), the others' own optima weighed against it.
    """
    n_labels = scores.shape[1]
    if multiclass:
        return ThresholdPolicy("argmax", np.zeros(n_labels, np.float32), 0.0, True, 0, True)
    absent = ~(y_true > 0).any(axis=0)
    if strategy == "fixed":
        global_t = fixed_value
        per_topic = np.full(n_labels, fixed_value, dtype=np.float32)
    elif strategy == "per_topic" and keep is not None and absent.any():
        global_t = keep.global_threshold
        tuned = tune_per_topic(y_true, scores, global_t, shrinkage)
        per_topic = np.where(absent, keep.thresholds, tuned).astype(np.float32)
    else:
        global_t = tune_global(y_true, scores)
        per_topic = (
            tune_per_topic(y_true, scores, global_t, shrinkage)
            if strategy == "per_topic"
            else np.full(n_labels, global_t, dtype=np.float32)
        )
    if fallback == "auto":
        with_fb = micro_f1(y_true, apply_thresholds(scores, per_topic, fallback=True, top_k=top_k))
        without = micro_f1(y_true, apply_thresholds(scores, per_topic, fallback=False, top_k=top_k))
        use_fallback = with_fb > without
    else:
        use_fallback = fallback == "always"
    return ThresholdPolicy(strategy, per_topic, float(global_t), use_fallback, top_k, False)
