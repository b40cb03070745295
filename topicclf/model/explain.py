"""Why a document got its topics: the terms whose removal lowers (or raises) each score most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from topicclf.errors import UnsupportedError
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.model.inference import Scorer
from topicclf.model.thresholds import DEFAULT_RULE, Rule, ThresholdPolicy, decide


@dataclass(frozen=True)
class Explanation:
    """Why a document got a topic: its score and the terms that raised or lowered it."""

    topic: str
    score: float
    up: list[tuple[str, float]]
    down: list[tuple[str, float]]


def explain(
    scorer: Scorer,
    policy: ThresholdPolicy,
    classes: Sequence[str],
    text: str,
    *,
    top: int = 10,
    rule: Rule = DEFAULT_RULE,
) -> list[Explanation]:
    """For each topic given to `text`, the terms that pushed its score up most (and down).

    A term's weight is how much the topic's log-odds (log-probability for a multi-class
    model) fall when that term is taken out of the document's TF-IDF vector (occlusion):
    exact for this network, no approximation. Log-odds keep weights informative on
    confident topics, where a score of 0.999 moves little however much a term matters.
    Topics are chosen by the same rule as tagging. Only TF-IDF (dense) networks are
    supported.
    """
    featurizer = scorer.featurizer
    if not isinstance(featurizer, TfidfFeaturizer):
        raise UnsupportedError(
            "explain works with dense TF-IDF networks; this model is an embedding network on "
            "token sequences"
        )
    present, scores = scorer.occlusion_scores(text)
    base = scores[0]
    chosen = np.flatnonzero(decide(base[None, :], policy, rule, [text])[0])
    evidence = _log_odds(scores, policy.multiclass)
    terms = featurizer.terms()
    out = []
    for j in chosen[np.argsort(-base[chosen], kind="stable")]:
        effect = evidence[0, j] - evidence[1:, j]
        order = np.argsort(-effect, kind="stable")
        up = [(terms[present[i]], float(effect[i])) for i in order[:top] if effect[i] > 0]
        down = [(terms[present[i]], float(effect[i])) for i in order[::-1][:top] if effect[i] < 0]
        out.append(Explanation(classes[j], float(base[j]), up, down))
    return out


def _log_odds(scores: np.ndarray, multiclass: bool) -> np.ndarray:
    """Scores as log-odds (sigmoid outputs) or log-probabilities (softmax outputs)."""
    p = np.clip(scores.astype(np.float64), 1e-12, 1.0 - 1e-12)
    return np.log(p) if multiclass else np.log(p) - np.log1p(-p)
