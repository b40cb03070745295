"""Why a document got its topics: the terms whose removal lowers (or raises) each score most."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.config import EXPLAIN_BATCH_CELLS, EXPLAIN_MAX_TERMS, shown
from topicclf.errors import InputError, UnsupportedError
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.inputs import names_shown, topic_names_given
from topicclf.model.inference import Scorer, weighed_terms
from topicclf.model.thresholds import DEFAULT_RULE, Rule, ThresholdPolicy, check_rule, decide


@dataclass(frozen=True)
class Explanation:
    """Why a document got a topic: its score and the terms that raised or lowered it."""

    topic: str
    score: float
    up: list[tuple[str, float]]
    down: list[tuple[str, float]]

    def to_record(self, digits: int = 6) -> dict[str, Any]:
        """The explanation as JSON: score and weights rounded to `digits` decimals (the
        tagged record's rounding), each term as {"term", "weight"}."""
        return {
            "topic": self.topic,
            "score": round(self.score, digits),
            "up": [{"term": t, "weight": round(w, digits)} for t, w in self.up],
            "down": [{"term": t, "weight": round(w, digits)} for t, w in self.down],
        }


def explainable(scorer: Scorer) -> bool:
    """Whether `explain` works for this model: a network on TF-IDF features."""
    return isinstance(scorer.featurizer, TfidfFeaturizer)


def explain(
    scorer: Scorer,
    policy: ThresholdPolicy,
    classes: Sequence[str],
    text: str,
    *,
    top: int = 10,
    rule: Rule = DEFAULT_RULE,
    topics: Sequence[str] | None = None,
) -> list[Explanation]:
    """For each topic given to `text`, the terms that pushed its score up most (and down).

    A term's weight is how much the topic's log-odds (of its probability, in both modes)
    fall when that term is taken out of the document's TF-IDF vector (occlusion): exact for
    this network, no approximation. Log-odds keep weights informative on confident topics,
    where a score of 0.999 moves little however much a term matters; they are taken from
    the network's logits (`Occlusion.log_odds`), since a score that rounds to 1.0 would not
    move at all.
    Topics are chosen by the same rule as tagging, or given as `topics` (in that order;
    e.g. those a tagging call chose, so both agree even on a score at a threshold). TF-IDF
    networks (dense and shortlist) only. A text of more than EXPLAIN_MAX_OCCLUDED distinct
    terms has only its terms of largest TF-IDF weight weighed, with a warning.
    """
    topics = check_explain_request(text, top, topics)
    rule = check_rule(rule)
    featurizer = _tfidf(scorer)
    occlusion = scorer.occlusion(text)
    base = occlusion.base
    chosen: list[int]
    if topics is None:
        given = np.flatnonzero(decide(base[None, :], policy, rule, [text])[0])
        chosen = given[np.argsort(-base[given], kind="stable")].tolist()
    else:
        column = {name: j for j, name in enumerate(classes)}
        unknown = [t for t in topics if t not in column]
        if unknown:
            raise InputError(f"topics: not a topic of this model: {names_shown(unknown)}")
        chosen = [column[t] for t in topics]  # answered by the model's names, classes[j]
    if not chosen:  # nothing to weigh: the text is scored once, as tagging scores it
        return []
    present = occlusion.present
    if len(present) < occlusion.x.nnz:
        warnings.warn(
            f"explain: the text has {occlusion.x.nnz:,} distinct terms (word and character "
            f"n-grams); only the {len(present):,} of largest TF-IDF weight are weighed "
            f"(config.EXPLAIN_MAX_OCCLUDED), the others stay in the text unlisted",
            stacklevel=2,
        )
    # Each present column's share of each line: a word n-gram is its own line; a character
    # n-gram is split evenly among the words of the text it came from, so evidence reads as
    # words ("why", not "[_why_]", "[why_]", "[_wh]", ...).
    names, shares = _lines(featurizer, text, present)
    out = []
    # A block of topics at a time: the text's copies x topics asked for stay bounded however
    # many topics are asked for (each block scores the copies again).
    block = max(1, EXPLAIN_BATCH_CELLS // (1 + len(present)))
    for first in range(0, len(chosen), block):
        some = chosen[first : first + block]
        evidence_of = occlusion.log_odds(some)
        for k, j in enumerate(some):
            evidence = evidence_of[:, k]
            effect = shares @ (evidence[0] - evidence[1:])
            order = np.argsort(-effect, kind="stable")
            up = [(names[i], float(effect[i])) for i in order[:top] if effect[i] > 0]
            down = [(names[i], float(effect[i])) for i in order[::-1][:top] if effect[i] < 0]
            out.append(Explanation(classes[j], float(base[j]), up, down))
    return out


def explainable_terms(scorer: Scorer, text: str) -> int:
    """The most terms one topic's explanation of `text` can list, up and down together
    (a term raises a score or lowers it, never both), whatever `top`: the lines `explain`
    would weigh. Costs one featurizing of `text`, not its scoring."""
    featurizer = _tfidf(scorer)
    x = sp.csr_matrix(featurizer.transform([text]))
    x.sort_indices()
    return len(_lines(featurizer, text, x.indices[weighed_terms(x)])[0])


def _tfidf(scorer: Scorer) -> TfidfFeaturizer:
    """The scorer's TF-IDF featurizer; UnsupportedError for an embedding network."""
    if not isinstance(scorer.featurizer, TfidfFeaturizer):
        raise UnsupportedError(
            "explain works with TF-IDF networks (dense and shortlist); this model is an "
            "embedding network on token sequences"
        )
    return scorer.featurizer


def check_explain_request(text: Any, top: Any, topics: Any) -> list[str] | None:
    """InputError unless `text` is one str, `top` a positive int of at most
    `config.EXPLAIN_MAX_TERMS`, and `topics` None or a list, tuple or numpy array of topic
    names; returns those names read as the model's are (config.normal_topic)."""
    if not isinstance(text, str):
        if isinstance(text, bytes | bytearray):
            hint = "; decode it first (bytes.decode)"
        elif isinstance(text, list | tuple) or hasattr(text, "__array__"):
            hint = "; explain takes one text, e.g. [clf.explain(t) for t in texts]"
        else:
            hint = ""
        raise InputError(f"text: expected one text (a str), not {type(text).__name__}{hint}")
    if not isinstance(top, numbers.Integral) or isinstance(top, bool | np.bool_):
        raise InputError(f"top: expected a positive integer, not {type(top).__name__} {top!r}")
    if not 1 <= int(top) <= EXPLAIN_MAX_TERMS:
        raise InputError(
            f"top: {int(top)} terms per topic; give between 1 and {EXPLAIN_MAX_TERMS:,}"
        )
    if topics is None:
        return None
    if isinstance(topics, np.ndarray):  # as predict_indicator's columns take one
        topics = topics.tolist()
    if isinstance(topics, str):
        raise InputError(
            f"topics: got a single string; give a list of topic names, e.g. [{shown(topics)}]"
        )
    if not isinstance(topics, list | tuple):
        raise InputError(
            f"topics: expected a list of topic names (or None), not {type(topics).__name__}"
        )
    # By the rule every topic name of the model was read with: "Gemüse" spelt decomposed
    # was "not a topic of this model", although printed as one of its topics.
    return topic_names_given(topics, "topics")


def _lines(
    featurizer: TfidfFeaturizer, text: str, present: np.ndarray
) -> tuple[list[str], sp.csr_matrix]:
    """The lines an explanation shows (word n-grams, and the words character n-grams came
    from) and a sparse (lines x present columns) matrix of each column's share in each line."""
    terms = featurizer.terms()
    n_words = len(featurizer.vocabulary_ or {})
    owners: dict[int, list[str]] = {}
    if featurizer.char_range_ is not None and (present >= n_words).any():
        pieces = featurizer.char_columns()
        for token in dict.fromkeys(featurizer.analyzer.char_tokens(text)):
            for column in set(pieces(token)):
                owners.setdefault(column, []).append(token)
    index: dict[str, int] = {}
    cells: list[tuple[int, int, float]] = []
    for k, column in enumerate(present.tolist()):
        if column < n_words or column not in owners:
            cells.append((index.setdefault(terms[column], len(index)), k, 1.0))
            continue
        words = owners[column]
        cells.extend((index.setdefault(w, len(index)), k, 1.0 / len(words)) for w in words)
    lines, columns, values = zip(*cells, strict=True) if cells else ((), (), ())
    # Sparse: a long document's lines x columns would be its terms squared.
    shares = sp.csr_matrix((values, (lines, columns)), shape=(len(index), len(present)))
    return list(index), shares
