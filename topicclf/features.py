"""Featurizers: TF-IDF over word n-grams (dense network) and token-id sequences (embedding network).

Both learn with scikit-learn/numpy at fit time and keep plain state (vocabulary lists, idf
arrays) so a saved model is JSON + safetensors, never pickle. `TfidfFeaturizer.transform` needs only
numpy and scipy, so tagging does not pay scikit-learn's import; a test checks it matches
scikit-learn's TfidfVectorizer exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from topicclf.arrayfiles import FLOATS, ArraySpec
from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import DataError, NotFittedError
from topicclf.text import Analyzer, pieces

PAD, OOV = 0, 1


def _not_fitted(name: str) -> NotFittedError:
    return NotFittedError(f"this {name} is not fitted yet; call fit first")


def frequency_floor(min_df: int, n_docs: int) -> int:
    """The document-frequency floor for a corpus of n_docs texts: `min_df`, relaxed on
    small corpora. A floor of 2 removes typos and ids on large corpora, but on a tiny
    corpus it would throw away most of the vocabulary."""
    return min(min_df, max(1, n_docs // 50))


class TfidfFeaturizer:
    """TF-IDF vectors over word 1..n-grams, L2-normalised rows, optionally sublinear tf."""

    kind = "tfidf"
    # The JSON state's fields and their kinds (see modelfiles.KINDS), checked before use.
    state_fields: ClassVar[dict[str, str]] = {
        "kind": "a string",
        "vocabulary": "a list of strings",
        "stop_words": "a list of strings",
    }

    def __init__(self, text: TextConfig, features: FeatureConfig) -> None:
        self.text = text
        self.features = features
        self.analyzer = Analyzer(text)
        self.vocabulary_: dict[str, int] | None = None
        self.idf_: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of output columns."""
        if self.vocabulary_ is None:
            raise _not_fitted(type(self).__name__)
        return len(self.vocabulary_)

    def terms(self) -> list[str]:
        """The n-gram of each column, in column order."""
        if self.vocabulary_ is None:
            raise _not_fitted(type(self).__name__)
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)

    def _features(self, text: str) -> Iterator[str]:
        return self.analyzer.ngram_stream(text, self.features.ngram_max)

    def fit(self, texts: Sequence[str]) -> TfidfFeaturizer:
        """Learn the vocabulary and idf weights from training texts."""
        self.fit_transform(texts)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Vectorize texts into a sparse float32 matrix of shape (len(texts), n_features)."""
        if self.vocabulary_ is None or self.idf_ is None:
            raise _not_fitted(type(self).__name__)
        vocab = self.vocabulary_
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            counts = Counter(
                idx for idx in (vocab.get(f) for f in self._features(text)) if idx is not None
            )
            indices.extend(counts.keys())
            values.extend(counts.values())
            indptr.append(len(indices))
        return self._weigh(
            np.asarray(values, dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        )

    def fit_transform(
        self, texts: Sequence[str], fit_rows: np.ndarray | None = None
    ) -> sp.csr_matrix:
        """Learn from `texts[fit_rows]` (all texts when None) and vectorize every text.

        Equal to `fit` then `transform`, analysing each text once instead of twice (text
        analysis is most of the cost): every n-gram is counted in one pass, and the
        vocabulary scikit-learn would keep is then chosen from the fit rows' counts.
        """
        from sklearn.feature_extraction.text import TfidfTransformer

        terms: dict[str, int] = {}
        add = terms.setdefault
        indptr = [0]
        indices: list[int] = []
        values: list[int] = []
        for text in texts:
            counts = Counter(add(f, len(terms)) for f in self._features(text))
            indices.extend(counts.keys())
            values.extend(counts.values())
            indptr.append(len(indices))
        counts_all = sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(terms)),
        )
        fit = counts_all if fit_rows is None else counts_all[fit_rows]
        names = list(terms)  # a term's id is its position
        chosen = self._chosen_terms(fit, names)
        column = np.full(len(names), -1, dtype=np.int64)
        column[chosen] = np.arange(len(chosen))
        self.vocabulary_ = {names[i]: k for k, i in enumerate(chosen)}
        counted = fit[:, chosen]
        idf = TfidfTransformer(sublinear_tf=self.features.sublinear_tf).fit(counted).idf_
        self.idf_ = np.asarray(idf, dtype=np.float32)
        # Each row keeps its n-grams in first-seen order, as `transform` would give them.
        kept = column[counts_all.indices] >= 0
        new_indptr = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)[counts_all.indptr]
        return self._weigh(
            counts_all.data[kept],
            column[counts_all.indices[kept]].astype(np.int32),
            new_indptr,
        )

    def _chosen_terms(self, counts: sp.csr_matrix, names: list[str]) -> np.ndarray:
        """The ids of the terms TfidfVectorizer would keep given these count rows, in the
        alphabetical order of their names (the columns' order).

        Its rules: a document-frequency floor, then the `max_features` most frequent terms,
        ties broken as its sort breaks them (so terms are ranked in alphabetical order).
        """
        min_df = frequency_floor(self.features.min_df, counts.shape[0])
        by_name = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
        dfs = np.bincount(counts.indices, minlength=len(names))[by_name]
        mask = dfs >= min_df
        if not names or not (dfs > 0).any():
            raise DataError(
                "no features could be learned from the training texts (empty vocabulary); "
                "are the documents empty or all stop words?"
            )
        if not mask.any():
            raise DataError(
                f"no features could be learned from the training texts: after pruning, no "
                f"terms remain (none is in {min_df} or more documents); lower features.min_df"
            )
        limit = self.features.max_features
        if limit and mask.sum() > limit:
            tfs = np.asarray(counts.sum(axis=0)).ravel()[by_name]
            ranked = (-tfs[mask]).argsort()[:limit]
            limited = np.zeros(len(dfs), dtype=bool)
            limited[np.where(mask)[0][ranked]] = True
            mask = limited
        return by_name[mask]

    def _weigh(self, counts: np.ndarray, cols: np.ndarray, indptr: np.ndarray) -> sp.csr_matrix:
        """TF-IDF rows from raw counts (in each row's first-seen order): sublinear tf, idf,
        L2 normalisation, then sorted column indices."""
        assert self.vocabulary_ is not None and self.idf_ is not None
        data = np.array(counts, dtype=np.float32)
        if self.features.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf_[cols]
        matrix = sp.csr_matrix(
            (data, cols, indptr),
            shape=(len(indptr) - 1, len(self.vocabulary_)),
            dtype=np.float32,
        )
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr)).astype(np.float32)
        matrix.sort_indices()
        return matrix

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able settings and numpy arrays that `from_state` turns back into this featurizer."""
        if self.vocabulary_ is None or self.idf_ is None:
            raise _not_fitted(type(self).__name__)
        meta = {
            "kind": self.kind,
            "vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.__getitem__),
            "stop_words": sorted(self.analyzer.stop_words),
        }
        return meta, {"idf": self.idf_}

    @staticmethod
    def state_specs(meta: dict[str, Any]) -> dict[str, ArraySpec]:
        """The arrays `from_state` needs with `meta`, to check a file before reading it."""
        return {"idf": ArraySpec(FLOATS, (len(meta["vocabulary"]),))}

    @classmethod
    def from_state(
        cls, text: TextConfig, features: FeatureConfig, meta: dict[str, Any], arrays: dict[str, Any]
    ) -> TfidfFeaturizer:
        """Rebuild a fitted featurizer from `get_state` output."""
        self = cls.__new__(cls)
        self.text, self.features = text, features
        self.analyzer = Analyzer(text, stop_words=meta["stop_words"])
        self.vocabulary_ = {t: i for i, t in enumerate(meta["vocabulary"])}
        self.idf_ = np.asarray(arrays["idf"], dtype=np.float32)
        if self.idf_.shape != (len(self.vocabulary_),):
            raise ValueError(
                f"idf has shape {self.idf_.shape}, vocabulary has {len(self.vocabulary_)} terms"
            )
        return self


class SequenceFeaturizer:
    """Token-id sequences (0 = padding, 1 = out of vocabulary), padded or truncated at the end."""

    kind = "sequence"
    state_fields: ClassVar[dict[str, str]] = {
        "kind": "a string",
        "vocabulary": "a list of strings",
        "stop_words": "a list of strings",
        "sequence_length": "a positive integer",
    }

    def __init__(self, text: TextConfig, features: FeatureConfig) -> None:
        self.text = text
        self.features = features
        self.analyzer = Analyzer(text)
        self.vocabulary_: dict[str, int] | None = None
        self.sequence_length_: int | None = None

    @property
    def n_features(self) -> int:
        """Size of the id space, padding and out-of-vocabulary ids included."""
        if self.vocabulary_ is None:
            raise _not_fitted(type(self).__name__)
        return len(self.vocabulary_) + 2

    def _tokens(self, text: str) -> list[str]:
        # Word n-grams after the words, as fastText does: pooling sees the phrases too.
        return self.analyzer.ngrams(text, self.features.sequence_ngrams)

    def fit(self, texts: Sequence[str]) -> SequenceFeaturizer:
        """Learn the vocabulary (most frequent tokens) and, if not set, the sequence length."""
        counts: Counter[str] = Counter()
        lengths = []
        for text in texts:
            n_tokens = 0
            for piece in pieces(text):
                tokens = self._tokens(piece)
                counts.update(tokens)
                n_tokens += len(tokens)
            lengths.append(n_tokens)
        min_count = frequency_floor(self.features.min_df, len(texts))
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )[: self.features.sequence_vocabulary - 2]
        if not kept:
            raise DataError("no tokens could be learned from the training texts; are they empty?")
        self.vocabulary_ = {t: i + 2 for i, t in enumerate(kept)}
        if self.features.sequence_length:
            self.sequence_length_ = self.features.sequence_length
        else:
            # Long enough for nine documents in ten, so padding does not dominate short texts.
            self.sequence_length_ = int(np.clip(np.percentile(lengths, 90), 8, 512))
        return self

    def fit_transform(self, texts: Sequence[str], fit_rows: np.ndarray | None = None) -> np.ndarray:
        """Learn from `texts[fit_rows]` (all texts when None) and encode every text."""
        self.fit(texts if fit_rows is None else [texts[i] for i in fit_rows])
        return self.transform(texts)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Map texts to an int32 array of shape (len(texts), sequence_length)."""
        if self.vocabulary_ is None or self.sequence_length_ is None:
            raise _not_fitted(type(self).__name__)
        length = self.sequence_length_
        out = np.zeros((len(texts), length), dtype=np.int32)
        vocab = self.vocabulary_
        for row, text in enumerate(texts):
            ids: list[int] = []
            for piece in pieces(text):  # a huge text: tokenize only the pieces that are needed
                ids.extend(vocab.get(t, OOV) for t in self._tokens(piece)[: length - len(ids)])
                if len(ids) >= length:
                    break
            # A text with no token at all reads as one unknown token: an all-padding row
            # would make the masked mean pooling 0/0 and every score NaN.
            ids = ids or [OOV]
            out[row, : len(ids)] = ids
        return out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able settings that `from_state` turns back into this featurizer."""
        if self.vocabulary_ is None:
            raise _not_fitted(type(self).__name__)
        meta = {
            "kind": self.kind,
            "vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.__getitem__),
            "stop_words": sorted(self.analyzer.stop_words),
            "sequence_length": self.sequence_length_,
        }
        return meta, {}

    @staticmethod
    def state_specs(meta: dict[str, Any]) -> dict[str, ArraySpec]:
        """No arrays: the vocabulary and length are all in the JSON state."""
        return {}

    @classmethod
    def from_state(
        cls, text: TextConfig, features: FeatureConfig, meta: dict[str, Any], arrays: dict[str, Any]
    ) -> SequenceFeaturizer:
        """Rebuild a fitted featurizer from `get_state` output."""
        self = cls.__new__(cls)
        self.text, self.features = text, features
        self.analyzer = Analyzer(text, stop_words=meta["stop_words"])
        self.vocabulary_ = {t: i + 2 for i, t in enumerate(meta["vocabulary"])}
        self.sequence_length_ = int(meta["sequence_length"])
        return self


Featurizer = TfidfFeaturizer | SequenceFeaturizer
FEATURIZERS: dict[str, type[TfidfFeaturizer] | type[SequenceFeaturizer]] = {
    "tfidf": TfidfFeaturizer,
    "sequence": SequenceFeaturizer,
}


def make_featurizer(text: TextConfig, features: FeatureConfig, network_type: str) -> Featurizer:
    """The featurizer a network type needs: TF-IDF for dense, sequences for embedding."""
    if network_type == "embedding":
        return SequenceFeaturizer(text, features)
    return TfidfFeaturizer(text, features)
