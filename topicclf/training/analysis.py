"""Which analysis a training corpus gets: its languages and, with `text.stemmer = auto`, each
language's Snowball stemmer where validation shows that it helps.

Deciding costs two vectorizations of a sample of the corpus (at most STEM_CHOICE_DOCUMENTS)
and a nearest-neighbour and centroid ranking of its validation rows (the shortlist network's
sources, `model.shortlist.Sources`), which works the same for 8 topics or 30,000. The score
of a language is the mean nDCG@10 of its validation documents' gold topics in that ranking,
with and without its stemmer; the stemmer is kept when its mean gain over the language's
documents is beyond STEM_CHOICE_STANDARD_ERRORS standard errors of it (paired: the same
documents both ways), so that noise never decides. On TIBKAT (German and English library
records, 33,318 subjects) the whole shortlist model gained 0.009 F1@5 on German records from
Snowball stemming and lost 0.004 on English ones, hence a choice per language; this choice
kept it for German (+0.018 nDCG@10, 3 standard errors) and not for English (+0.001).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.config import (
    STEM_CHOICE_DOCUMENTS,
    STEM_CHOICE_MIN_VALIDATION,
    STEM_CHOICE_NEIGHBOURS,
    STEM_CHOICE_STANDARD_ERRORS,
    Config,
)
from topicclf.features.languages import NAMES, SNOWBALL, rules_for
from topicclf.features.text import Analyzer
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.model.shortlist import Sources
from topicclf.training.data import Prepared
from topicclf.types import Progress

RANKED = 10  # topics ranked per validation document (nDCG@10)


def choose_analysis(
    config: Config, data: Prepared, progress: Progress
) -> tuple[Analyzer, dict[str, Any]]:
    """The analyzer every featurizer of this training uses (its languages found on the
    training rows), and what was measured to choose the stemmers (empty when nothing was
    chosen)."""
    text = config.text
    if text.stemmer != "auto":
        return _for_corpus(Analyzer(text), data, progress), {}
    plain = dataclasses.replace(text, stemmer="none")
    analyzer = _for_corpus(Analyzer(plain), data, progress)
    rules = analyzer.languages
    stemmable = [r.code for r in rules if NAMES[r.code] in SNOWBALL]
    if not stemmable or not len(data.val_idx):
        return analyzer, {}
    rng = np.random.default_rng(config.train.seed + 2)
    share = len(data.val_idx) / (len(data.train_idx) + len(data.val_idx))
    n_val = min(len(data.val_idx), max(1, round(STEM_CHOICE_DOCUMENTS * share)))
    n_train = min(len(data.train_idx), STEM_CHOICE_DOCUMENTS - n_val)
    train = np.sort(rng.choice(data.train_idx, n_train, replace=False))
    val = np.sort(rng.choice(data.val_idx, n_val, replace=False))
    texts = [data.texts[i] for i in np.concatenate([train, val])]
    y = sp.csr_matrix(data.y[np.concatenate([train, val])])
    fit_rows = np.arange(n_train)
    languages = np.array([analyzer.language_of(t) for t in texts[n_train:]])
    progress.start("each language's stemmer or none: neighbours on validation", 2)
    scores = {}
    for stemmer in ("none", "snowball"):
        variant = dataclasses.replace(text, stemmer=stemmer)
        tried = [rules_for(r.code, variant) for r in rules]
        features = dataclasses.replace(config.features, char_ngrams="off")
        featurizer = TfidfFeaturizer(plain, features, languages=tried)
        x = featurizer.fit_transform(texts, fit_rows)
        sources = Sources.build(x[:n_train], y[:n_train], config.network.centroid_terms)
        found = sources.candidates(x[n_train:], STEM_CHOICE_NEIGHBOURS, RANKED)
        scores[stemmer] = _ndcg(found.topics, found.mask, y[n_train:])
        progress.advance(1)
    progress.finish()
    record: dict[str, Any] = {}
    chosen = []
    for r in rules:
        mine = languages == r.code
        count = int(mine.sum())
        gain = scores["snowball"][mine] - scores["none"][mine]
        mean = float(gain.mean()) if count else 0.0
        error = float(gain.std(ddof=1) / np.sqrt(count)) if count > 1 else 0.0
        stem = (
            r.code in stemmable
            and count >= STEM_CHOICE_MIN_VALIDATION
            and mean > STEM_CHOICE_STANDARD_ERRORS * error
        )
        record[NAMES[r.code]] = {
            "validation_documents": count,
            "ndcg@10 unstemmed": round(float(scores["none"][mine].mean()), 4) if count else 0.0,
            "ndcg@10 gain stemmed": round(mean, 4),
            "standard_error": round(error, 4),
            "stemmer": "snowball" if stem else "none",
        }
        chosen.append(dataclasses.replace(r, stemmer="snowball" if stem else "none"))
    decided = Analyzer(text, languages=chosen)
    decided.corpus_counts = analyzer.corpus_counts
    return decided, record


def _for_corpus(analyzer: Analyzer, data: Prepared, progress: Progress) -> Analyzer:
    """`analyzer.for_corpus` on the training rows, with progress when it detects languages
    (about 0.3 ms a document: seconds on a large corpus)."""
    if not analyzer.open:
        return analyzer
    progress.start("finding each document's language", 1)
    found = analyzer.for_corpus([data.texts[i] for i in data.train_idx])
    progress.advance(1)
    progress.finish()
    return found


def _ndcg(topics: np.ndarray, mask: np.ndarray, y: sp.csr_matrix) -> np.ndarray:
    """Each row's nDCG@RANKED of its gold topics in its ranked topics."""
    discount = 1.0 / np.log2(np.arange(2, RANKED + 2))
    out = np.zeros(y.shape[0])
    for r in range(y.shape[0]):
        gold = y.indices[y.indptr[r] : y.indptr[r + 1]]
        if not len(gold):
            continue
        hits = np.isin(topics[r, :RANKED], gold) & mask[r, :RANKED]
        ideal = discount[: min(len(gold), RANKED)].sum()
        out[r] = float(discount[: len(hits)][hits].sum()) / ideal
    return out
