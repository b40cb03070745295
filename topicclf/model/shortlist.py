"""The shortlist network, for vocabularies of thousands of topics: cheap sources propose a
shortlist of candidate topics per document, and a small network rescores each candidate.

Scoring every topic of a 30,000-subject vocabulary with a network output each, or fitting a
linear model per topic, costs hours on a CPU (issue: library scale). Here two sources that
cost one sparse product each propose candidates:
- nearest neighbours: the training documents most similar to this one (cosine of TF-IDF
  rows), each voting for its topics with its similarity squared;
- topic centroids: each topic's mean TF-IDF vector, pruned to its heaviest terms, and the
  cosine of the document with it (a Rocchio classifier; strong on rare topics).
A catalogue of several languages also tells each candidate how many of its topic's training
documents are in the document's language: some subjects are catalogued mostly in one
language, and neighbours found across languages share fewer words.
The union of both sources' best topics (mixed with weight NEIGHBOUR_SHARE) is the shortlist,
and per candidate a handful of features (both scores, their ranks, the topic's frequency,
how many neighbours carry it, how close the nearest neighbour is, the document's length)
feed the rescoring network, which gives the candidate's probability. Topics off the
shortlist score 0.

Everything here is numpy and scipy: training the rescorer is `training.shortlist`'s, and
tagging never imports TensorFlow. Memory grows with documents + topics + stored terms, never
documents x topics: the scores of a batch are dense only for that batch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.arrayfiles import FLOATS, ArraySpec
from topicclf.errors import ModelBundleError

# Per-candidate features, in the order the rescorer reads them.
FEATURES = (
    "neighbours_share",  # neighbour votes over the document's best candidate's
    "neighbours_log",  # log(1 + neighbour votes)
    "centroid",  # cosine with the topic's centroid
    "centroid_share",  # cosine over the document's best candidate's
    "neighbours_rank_log",
    "centroid_rank_log",
    "shortlist_rank_log",
    "topic_frequency_log",  # log(1 + training documents with the topic)
    "neighbours_with_topic_log",
    "neighbours_with_topic_share",  # neighbours with the topic over its frequency
    "nearest_similarity",  # the document's closest training document
    "document_terms_log",  # log(1 + stored terms of the document)
    "topic_language_share",  # the topic's training documents in the document's language
)
# Models saved before the language feature rescore with the features before it.
LEGACY_FEATURES = 12
# On TIBKAT (German and English records), out-of-fold shortlists and the dev records:
# topic_language_share moved F1@5 0.2858 -> 0.2905 (English), 0.3044 -> 0.3076 (German).
# The sources' mix that orders the shortlist: on validation fifths of English TIBKAT records,
# 0.3 recalled more of the gold topics in the best 50 than 0.5 or 0.7.
NEIGHBOUR_SHARE = 0.3
# A term in more documents than this many times the most frequent topic has is no topic's
# own word, and takes no part in shortlisting: such terms are function words of some
# language (the stop-word list is English), and they make every similarity row dense (on
# TIBKAT, whose largest subject has 1.2% of the records, German articles and conjunctions
# made a fold's shortlists take minutes instead of seconds). On a corpus with a topic in a
# quarter of the documents, no term is left out.
COMMON_TERM_FACTOR = 4.0
# Documents whose similarities to every training document are computed at once: at most this
# many rows of (nearly dense) similarities are held in memory.
SIMILARITY_ROWS = 256
# Languages with a column of their own a model file may list (the analyzer has rules for
# fewer than 40).
MAX_LANGUAGES = 64
# Every candidate feature is a share, a cosine or log(1 + a count below 2**31) (at most
# 21.5), so none is negative and none is near this: a recorded range beyond it is forged.
FEATURE_BOUND = 100.0


def keep_largest(matrix: sp.spmatrix, k: int) -> sp.csr_matrix:
    """Each row's k largest stored values (ties: any of them), as a CSR matrix."""
    m = sp.csr_matrix(matrix)
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= k:
        return m
    data, indices, ptr = [], [], [0]
    for r in range(m.shape[0]):
        a, b = m.indptr[r], m.indptr[r + 1]
        values, columns = m.data[a:b], m.indices[a:b]
        if b - a > k:
            keep = np.argpartition(-values, k)[:k]
            values, columns = values[keep], columns[keep]
        data.append(values)
        indices.append(columns)
        ptr.append(ptr[-1] + len(values))
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.asarray(ptr)), shape=m.shape
    )


@dataclass
class Candidates:
    """Each document's shortlist, padded to the same width: topic columns, features (standard
    scale is the rescorer's business) and which slots hold a candidate."""

    topics: np.ndarray  # (documents, width) int64; 0 where `mask` is False
    features: np.ndarray  # (documents, width, len(FEATURES)) float32
    mask: np.ndarray  # (documents, width) bool

    def rows(self, which: np.ndarray | slice) -> Candidates:
        """The shortlists of some documents."""
        return Candidates(self.topics[which], self.features[which], self.mask[which])

    def scores(self, probabilities: np.ndarray, n_topics: int) -> np.ndarray:
        """The candidates' probabilities as a dense (documents, topics) batch, 0 elsewhere."""
        n, width = self.topics.shape
        out = np.zeros((n, n_topics), dtype=np.float32)
        rows = np.repeat(np.arange(n), width).reshape(n, width)
        out[rows[self.mask], self.topics[self.mask]] = probabilities[self.mask]
        return out


@dataclass
class Sources:
    """What shortlists are drawn from: the training documents' TF-IDF rows and topics (the
    neighbour index), each topic's pruned centroid, each topic's document count, and its
    documents in each language (`language_indices`: one column for a model of one language)."""

    documents: sp.csr_matrix  # (training documents, features) float32, rows of unit length
    topics: sp.csr_matrix  # (training documents, topics) float32 0/1
    centroids: sp.csr_matrix  # (topics, features) float32, rows of unit length
    frequency: np.ndarray  # (topics,) float32
    terms: np.ndarray  # (features,) float32: 1 for the terms shortlisting uses, else 0
    by_language: np.ndarray | None = None  # (topics, languages) float32; None: saved before

    @classmethod
    def build(
        cls,
        x: sp.spmatrix,
        y: sp.spmatrix,
        centroid_terms: int,
        languages: np.ndarray | None = None,
        n_languages: int = 1,
    ) -> Sources:
        """Sources from training features `x`, 0/1 topics `y` (both sparse) and each
        document's language index below `n_languages` (None: all one language)."""
        x = sp.csr_matrix(x, dtype=np.float32)
        y = sp.csr_matrix(y, dtype=np.float32)
        n = x.shape[0]
        languages = np.zeros(n, dtype=np.int64) if languages is None else languages
        onehot = sp.csr_matrix(
            (np.ones(n, dtype=np.float32), (np.arange(n), languages)),
            shape=(n, max(n_languages, int(languages.max(initial=0)) + 1)),
        )
        # Topics x languages, dense: a catalogue has a handful of languages.
        by_language = np.asarray((y.T @ onehot).toarray(), dtype=np.float32)
        document_frequency = np.bincount(x.indices, minlength=x.shape[1])
        largest_topic = float(np.diff(y.tocsc().indptr).max(initial=0))
        common = document_frequency > COMMON_TERM_FACTOR * max(largest_topic, 1.0)
        terms = (~common).astype(np.float32)
        x = _unit_rows(x @ sp.diags(terms))
        sums = keep_largest((y.T @ x).tocsr(), centroid_terms)
        norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
        scale = sp.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32))
        centroids = sp.csr_matrix(scale @ sums, dtype=np.float32)
        frequency = np.asarray(y.sum(axis=0), dtype=np.float32).ravel()
        return cls(x, y, centroids, frequency, terms, by_language)

    @functools.cached_property
    def _by_term(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        # The documents and centroids transposed once: scipy would convert a transposed
        # (CSC) operand back to CSR on every product, and that conversion cost more than
        # the products themselves.
        return self.documents.T.tocsr(), self.centroids.T.tocsr()

    @property
    def n_topics(self) -> int:
        """Topics the sources know (= output columns)."""
        return int(self.topics.shape[1])

    def candidates(
        self, x: sp.spmatrix, neighbours: int, width: int, languages: np.ndarray | None = None
    ) -> Candidates:
        """The shortlists of feature rows `x` (of language indices `languages`, None: the
        first language): up to `width` topics each, with features."""
        x = _unit_rows(sp.csr_matrix(x, dtype=np.float32) @ sp.diags(self.terms))
        n = x.shape[0]
        languages = np.zeros(n, dtype=np.int64) if languages is None else languages
        topics = np.zeros((n, width), dtype=np.int64)
        features = np.zeros((n, width, len(FEATURES)), dtype=np.float32)
        mask = np.zeros((n, width), dtype=bool)
        if n == 0 or self.documents.shape[0] == 0:
            return Candidates(topics, features, mask)
        # A block of rows at a time: a document shares some term with most others, so its
        # row of similarities is nearly dense, and all rows at once would be documents^2.
        for start in range(0, n, SIMILARITY_ROWS):
            block = slice(start, min(n, start + SIMILARITY_ROWS))
            self._shortlist(
                x[block],
                neighbours,
                languages[block],
                topics[block],
                features[block],
                mask[block],
            )
        return Candidates(topics, features, mask)

    def _shortlist(
        self,
        x: sp.csr_matrix,
        neighbours: int,
        languages: np.ndarray,
        topics: np.ndarray,
        features: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        width = topics.shape[1]
        n = x.shape[0]
        documents_t, centroids_t = self._by_term
        similar = keep_largest((x @ documents_t).tocsr(), neighbours)
        nearest = np.asarray(similar.max(axis=1).toarray(), dtype=np.float32).ravel()
        voters = similar.copy()
        voters.data[:] = 1.0
        votes = (voters @ self.topics).tocsr()
        similar.data **= 2
        by_neighbours = (similar @ self.topics).tocsr()
        by_centroid = keep_largest((x @ centroids_t).tocsr(), width)
        terms = np.log1p(np.diff(x.indptr)).astype(np.float32)
        for r in range(n):
            row = (nearest[r], terms[r], int(languages[r]))
            self._fill(r, by_neighbours, by_centroid, votes, row, topics, features, mask)

    def _fill(
        self,
        r: int,
        by_neighbours: sp.csr_matrix,
        by_centroid: sp.csr_matrix,
        votes: sp.csr_matrix,
        row: tuple[float, float, int],
        topics: np.ndarray,
        features: np.ndarray,
        mask: np.ndarray,
    ) -> None:
        width = topics.shape[1]
        nearest, terms, language = row
        n_cols, n_vals = _row(by_neighbours, r)
        c_cols, c_vals = _row(by_centroid, r)
        pool = np.union1d(n_cols, c_cols)
        if not len(pool):
            return
        neighbour = _lookup(pool, n_cols, n_vals)
        centroid = _lookup(pool, c_cols, c_vals)
        neighbour_share = neighbour / max(float(neighbour.max()), 1e-9)
        mixed = NEIGHBOUR_SHARE * neighbour_share + (1 - NEIGHBOUR_SHARE) * centroid
        order = np.lexsort((pool, -mixed))[:width]  # ties by column: deterministic
        pool, neighbour, centroid = pool[order], neighbour[order], centroid[order]
        neighbour_share = neighbour_share[order]
        k = len(pool)
        v_cols, v_vals = _row(votes, r)
        voted = _lookup(pool, v_cols, v_vals)
        frequency = self.frequency[pool]
        if self.by_language is not None and language < self.by_language.shape[1]:
            in_language = self.by_language[pool, language] / np.maximum(frequency, 1.0)
        else:  # a language the sources never saw (or sources saved before languages)
            in_language = np.zeros(k, dtype=np.float32)
        features[r, :k] = np.column_stack(
            [
                neighbour_share,
                np.log1p(neighbour),
                centroid,
                centroid / max(float(centroid.max()), 1e-9),
                np.log1p(_ranks(neighbour)),
                np.log1p(_ranks(centroid)),
                np.log1p(np.arange(k)),
                np.log1p(frequency),
                np.log1p(voted),
                voted / np.maximum(frequency, 1.0),
                np.full(k, nearest),
                np.full(k, terms),
                in_language,
            ]
        )
        topics[r, :k] = pool
        mask[r, :k] = True


def _unit_rows(x: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit length (empty rows stay empty), without zeros stored."""
    x = sp.csr_matrix(x, dtype=np.float32)
    x.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float64).ravel())
    return sp.csr_matrix(sp.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32)) @ x)


def _row(m: sp.csr_matrix, r: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = m.indptr[r], m.indptr[r + 1]
    return m.indices[a:b], m.data[a:b]


def _lookup(pool: np.ndarray, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each pool column's value in a sparse row (0 where it has none)."""
    out = np.zeros(len(pool), dtype=np.float32)
    if len(columns):
        order = np.argsort(columns)
        cols, vals = columns[order], values[order]
        at = np.clip(np.searchsorted(cols, pool), 0, len(cols) - 1)
        hit = cols[at] == pool
        out[hit] = vals[at[hit]]
    return out


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 for the largest value, 1 for the next, ... (ties by position)."""
    ranks = np.empty(len(values), dtype=np.float32)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return ranks


class Rescorer:
    """The rescoring network's exported weights, in numpy: standardized candidate features
    through dense ReLU layers to one logit per candidate, then a sigmoid.

    `ranges`: each feature's (min, max) over the candidates it was trained on, shape
    (features, 2); features are clipped to them before rescoring. None (models saved
    before the ranges were recorded): features are rescored as they come."""

    def __init__(self, arrays: dict[str, np.ndarray], ranges: np.ndarray | None = None) -> None:
        self.arrays = arrays
        self.ranges = ranges
        self.mean, self.scale = arrays["feature_mean"], arrays["feature_scale"]
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        i = 0
        while f"layer_{i}_kernel" in arrays:
            self.layers.append((arrays[f"layer_{i}_kernel"], arrays[f"layer_{i}_bias"]))
            i += 1
        width = int(self.mean.shape[0]) if self.mean.ndim == 1 else -1
        if width not in (LEGACY_FEATURES, len(FEATURES)) or self.scale.shape != (width,):
            raise ModelBundleError("the rescorer's feature scaling is missing or of another size")
        if not self.layers:
            raise ModelBundleError("the rescorer's layers are missing")
        self.n_features = width
        for kernel, bias in self.layers:
            if kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
                raise ModelBundleError("the rescorer's layer shapes do not chain")
            width = kernel.shape[1]
        if width != 1:
            raise ModelBundleError("the rescorer must end in one output")
        if ranges is not None and ranges.shape != (self.n_features, 2):
            raise ModelBundleError("the rescorer's feature ranges are of another size")

    def probabilities(self, candidates: Candidates) -> np.ndarray:
        """Each candidate's probability, shape (documents, width); 0 where there is none."""
        features = candidates.features[..., : self.n_features]
        if self.ranges is not None:
            # The rescorer learned from out-of-fold shortlists, where no document finds
            # itself; tagging a training document (or a copy) finds it at similarity 1 with
            # its own vote, values training never showed, and a ReLU network extrapolates
            # them anywhere (scores of 1e-9 for the document's own topics). Within the range
            # it learned from, it answers as for the closest documents it saw. Every entry
            # point (API, tag, workers, Dask, serve, tune, training's validation) scores here.
            features = np.clip(features, self.ranges[:, 0], self.ranges[:, 1])
        h = (features - self.mean) / self.scale
        for i, (kernel, bias) in enumerate(self.layers):
            h = h @ kernel + bias
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        logits = h[..., 0]
        out = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        return np.where(candidates.mask, out, 0.0).astype(np.float32)


class ShortlistNetwork:
    """A fitted shortlist model: sources and rescorer; scores like any network (numpy).

    `languages`: the analyzer's language codes with a column of their own in the sources
    (any other language is the column after them); empty for a model of one language.
    `multiclass`: each row of scores is a distribution over the topics (`distributions`)."""

    def __init__(
        self,
        sources: Sources,
        rescorer: Rescorer,
        *,
        neighbours: int,
        candidates: int,
        languages: tuple[str, ...] = (),
        multiclass: bool = False,
    ) -> None:
        self.sources = sources
        self.multiclass = multiclass
        self.rescorer = rescorer
        self.neighbours = neighbours
        self.width = candidates
        self.languages = languages
        self.n_inputs = int(sources.documents.shape[1])
        self.n_outputs = sources.n_topics

    def predict(self, x: sp.spmatrix, languages: np.ndarray | None = None) -> np.ndarray:
        """Scores of shape (rows, topics), float32: each shortlisted topic's probability,
        0 for the others (`languages`: the rows' `language_indices`); in multi-class mode
        each row a distribution (`distributions`). Dense for this batch only."""
        shortlist = self.shortlist(x, languages)
        scores = shortlist.scores(self.rescorer.probabilities(shortlist), self.n_outputs)
        return self.distributions(scores) if self.multiclass else scores

    def distributions(self, scores: np.ndarray) -> np.ndarray:
        """`scores` (rows, topics) made, in place, rows that sum to 1: a row's candidates
        over their sum, and a row with no candidate the topics' training frequencies."""
        # The rescorer scores each candidate on its own (a sigmoid), so a row summed to
        # anything from 0 to about 2.4, and scikit-learn's multi-class metrics refuse such
        # rows (roc_auc_score's 'ovr'). Dividing by the sum keeps the order, so argmax, and
        # thus the topic given, is unchanged for every row with a candidate.
        sums = scores.sum(axis=1, dtype=np.float64)
        found = sums > 0
        scores[found] = (scores[found] / sums[found, None]).astype(np.float32)
        # No evidence for any topic: the best guess is the commonest topic, the one a dense
        # softmax gives a text of unknown words (its bias), rather than no topic at all.
        scores[~found] = self.prior
        return scores

    @functools.cached_property
    def prior(self) -> np.ndarray:
        """Each topic's share of the training documents' topics, float32 (uniform when the
        counts are all 0)."""
        counts = np.maximum(self.sources.frequency.astype(np.float64), 0.0)
        total = counts.sum()
        if not total > 0:
            return np.full(self.n_outputs, 1.0 / max(1, self.n_outputs), dtype=np.float32)
        return (counts / total).astype(np.float32)

    def shortlist(self, x: sp.spmatrix, languages: np.ndarray | None = None) -> Candidates:
        """The rows' candidates with their features, before rescoring."""
        return self.sources.candidates(x, self.neighbours, self.width, languages)


def language_indices(
    language_of: Callable[[str], str], texts: Sequence[str], codes: Sequence[str]
) -> np.ndarray:
    """Each text's column among the sources' languages: the position of its language (as
    the analyzer's `language_of` tells it) in `codes`, or len(codes) for any other."""
    if not codes:
        return np.zeros(len(texts), dtype=np.int64)
    column = {code: i for i, code in enumerate(codes)}
    return np.array([column.get(language_of(t), len(codes)) for t in texts], dtype=np.int64)


# -- storage: the sources' sparse matrices and the rescorer's layers as named arrays ----------
_MATRICES = ("documents", "topics", "centroids")


def state(network: ShortlistNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What a model directory stores of a shortlist network: sizes (JSON, read first, so
    every array's shape is known before it is read) and the arrays."""
    sources = network.sources
    arrays: dict[str, np.ndarray] = {
        "frequency": sources.frequency.astype(np.float32),
        "terms": sources.terms.astype(np.float32),
    }
    meta: dict[str, Any] = {
        "documents": int(sources.documents.shape[0]),
        "features": int(sources.documents.shape[1]),
        "topics": sources.n_topics,
        "layers": [int(kernel.shape[1]) for kernel, _ in network.rescorer.layers],
        "candidate_features": network.rescorer.n_features,
    }
    if network.rescorer.ranges is not None:
        # float32 values: exact as JSON numbers, and exact again when read back.
        meta["feature_ranges"] = [[float(lo), float(hi)] for lo, hi in network.rescorer.ranges]
    if sources.by_language is not None:
        arrays["by_language"] = sources.by_language.astype(np.float32)
        meta["languages"] = list(network.languages)
    for name in _MATRICES:
        matrix = getattr(sources, name)
        matrix.sort_indices()
        arrays[f"{name}_indptr"] = matrix.indptr.astype(np.int64)
        arrays[f"{name}_indices"] = matrix.indices.astype(np.int32)
        if name != "topics":  # 0/1: its values are implied
            arrays[f"{name}_data"] = matrix.data.astype(np.float32)
        meta[f"{name}_stored"] = int(matrix.nnz)
    arrays.update({f"rescorer_{k}": v for k, v in network.rescorer.arrays.items()})
    return meta, arrays


def array_specs(meta: Any) -> dict[str, ArraySpec]:
    """The exact arrays `state` stores for these sizes (checked before anything is read)."""
    sizes = ("documents", "features", "topics", *(f"{m}_stored" for m in _MATRICES))
    if not isinstance(meta, dict) or not all(_count(meta.get(key)) for key in sizes):
        raise ModelBundleError(f"the shortlist's sizes must be counts: {', '.join(sizes)}")
    layers = meta.get("layers")
    if not isinstance(layers, list) or not 0 < len(layers) <= 16:
        raise ModelBundleError("the shortlist's rescorer layers must be a list of widths")
    if not all(_count(units) and units > 0 for units in layers) or layers[-1] != 1:
        raise ModelBundleError("the shortlist's rescorer layers must be widths ending in 1")
    rows = {
        "documents": meta["documents"],
        "topics": meta["documents"],
        "centroids": meta["topics"],
    }
    specs = {
        "frequency": ArraySpec(FLOATS, (meta["topics"],)),
        "terms": ArraySpec(FLOATS, (meta["features"],)),
    }
    languages = meta.get("languages")
    if languages is not None:  # saved since languages had a column of their own
        if not isinstance(languages, list) or not all(
            isinstance(c, str) and 0 < len(c) <= 3 for c in languages
        ):
            raise ModelBundleError("the shortlist's languages must be a list of language codes")
        if len(languages) > MAX_LANGUAGES or len(set(languages)) != len(languages):
            raise ModelBundleError("the shortlist's languages repeat or are too many")
        specs["by_language"] = ArraySpec(FLOATS, (meta["topics"], len(languages) + 1))
    width = meta.get("candidate_features", LEGACY_FEATURES)
    if width not in (LEGACY_FEATURES, len(FEATURES)):
        raise ModelBundleError(
            f"the shortlist's rescorer reads {LEGACY_FEATURES} or {len(FEATURES)} features"
        )
    feature_ranges(meta, width)
    for name in _MATRICES:
        stored = meta[f"{name}_stored"]
        specs[f"{name}_indptr"] = ArraySpec(("int64",), (rows[name] + 1,))
        specs[f"{name}_indices"] = ArraySpec(("int32",), (stored,))
        if name != "topics":
            specs[f"{name}_data"] = ArraySpec(FLOATS, (stored,))
    specs["rescorer_feature_mean"] = ArraySpec(FLOATS, (width,))
    specs["rescorer_feature_scale"] = ArraySpec(FLOATS, (width,))
    for i, units in enumerate(meta["layers"]):
        specs[f"rescorer_layer_{i}_kernel"] = ArraySpec(FLOATS, (width, units))
        specs[f"rescorer_layer_{i}_bias"] = ArraySpec(FLOATS, (units,))
        width = units
    return specs


def feature_ranges(meta: dict[str, Any], width: int) -> np.ndarray | None:
    """The rescorer's recorded feature ranges, shape (width, 2), checked: `width` pairs of
    finite numbers, low <= high, within 0 and FEATURE_BOUND; None when the model has none."""
    ranges = meta.get("feature_ranges")
    if ranges is None:  # saved before the ranges were recorded: no clipping
        return None
    if (
        not isinstance(ranges, list)
        or len(ranges) != width
        or not all(
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
            for pair in ranges
        )
    ):
        raise ModelBundleError(
            f"the shortlist's feature_ranges must be {width} pairs of numbers [low, high]"
        )
    try:
        out = np.array(ranges, dtype=np.float64)
    except OverflowError:  # a JSON integer of hundreds of digits
        out = np.full((width, 2), np.inf)
    low, high = out[:, 0], out[:, 1]
    if not (np.isfinite(out).all() and (low >= 0).all() and (high <= FEATURE_BOUND).all()):
        raise ModelBundleError(
            f"the shortlist's feature_ranges must be finite numbers from 0 to {FEATURE_BOUND:g}"
        )
    if (low > high).any():
        raise ModelBundleError(
            "the shortlist's feature_ranges must each be [low, high], low <= high"
        )
    return out.astype(np.float32)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def from_state(
    meta: dict[str, Any],
    arrays: dict[str, np.ndarray],
    *,
    neighbours: int,
    candidates: int,
    multiclass: bool = False,
) -> ShortlistNetwork:
    """A shortlist network from `state`'s output, its sparse structure checked (a forged
    file must not index outside its matrices); `multiclass` is the model's mode."""
    columns = {"documents": meta["features"], "topics": meta["topics"]}
    columns["centroids"] = meta["features"]
    matrices = {}
    for name in _MATRICES:
        indptr, indices = arrays[f"{name}_indptr"], arrays[f"{name}_indices"]
        if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
            raise ModelBundleError(f"the shortlist's {name} matrix has a broken row index")
        if len(indices) and (indices.min() < 0 or indices.max() >= columns[name]):
            raise ModelBundleError(f"the shortlist's {name} matrix points outside its columns")
        data = arrays.get(f"{name}_data")
        if data is None:
            data = np.ones(len(indices), dtype=np.float32)
        elif not np.isfinite(data).all():
            raise ModelBundleError(f"the shortlist's {name} matrix holds NaN or infinity")
        shape = (len(indptr) - 1, columns[name])
        matrices[name] = sp.csr_matrix((data.astype(np.float32), indices, indptr), shape=shape)
    frequency, terms = arrays["frequency"], arrays["terms"]
    if not np.isin(terms, (0.0, 1.0)).all():
        raise ModelBundleError("the shortlist's term mask must hold 0s and 1s")
    by_language = arrays.get("by_language")
    if by_language is not None and not (np.isfinite(by_language) & (by_language >= 0)).all():
        raise ModelBundleError("the shortlist's topic counts by language must be counts")
    rescorer_arrays = {
        key.removeprefix("rescorer_"): value
        for key, value in arrays.items()
        if key.startswith("rescorer_")
    }
    if not all(np.isfinite(v).all() for v in (frequency, *rescorer_arrays.values())):
        raise ModelBundleError("the shortlist's arrays hold NaN or infinity")
    sources = Sources(
        matrices["documents"],
        matrices["topics"],
        matrices["centroids"],
        frequency,
        terms,
        by_language,
    )
    width = meta.get("candidate_features", LEGACY_FEATURES)
    return ShortlistNetwork(
        sources,
        Rescorer(rescorer_arrays, feature_ranges(meta, width)),
        neighbours=neighbours,
        candidates=candidates,
        languages=tuple(meta.get("languages", ())),
        multiclass=multiclass,
    )
