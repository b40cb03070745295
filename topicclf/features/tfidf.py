"""TF-IDF features for the dense network: word n-grams and, for short texts, character
n-grams inside words, in one space.

Fitting uses numpy and scipy and keeps plain state (vocabulary lists, an idf array), so a saved
model is JSON + safetensors, never pickle. `TfidfFeaturizer.transform` needs only numpy and
scipy, so tagging does not pay scikit-learn's import; a test checks it matches scikit-learn's
TfidfVectorizer exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from topicclf.arrayfiles import FLOATS, ArraySpec
from topicclf.config import (
    CHAR_NGRAM_RANGE,
    MAX_CHAR_NGRAM,
    SHORT_TEXT_CHARS,
    FeatureConfig,
    TextConfig,
)
from topicclf.errors import DataError, NotFittedError
from topicclf.features.languages import LanguageRules
from topicclf.features.text import TextFeaturizer, char_grams

CHAR_TOKEN_CACHE = 200_000  # distinct tokens whose character n-gram columns are remembered
CHAR_TOKEN_CACHED_CHARS = 40  # longer tokens are looked up each time

# Given a corpus's features with words only and with words and character n-grams, whether
# to keep the character n-grams (training decides on validation rows).
CharChoice = Callable[[sp.csr_matrix, sp.csr_matrix], bool]


def char_ngrams_wanted(features: FeatureConfig, texts: Sequence[str]) -> bool:
    """Whether TF-IDF features try character n-grams for a training corpus (see
    CHAR_NGRAM_RANGE): `features.char_ngrams` on, or "auto" and texts short on average
    (training then keeps them only if the linear model does better with them on validation:
    `training.pipeline.char_ngram_choice`)."""
    if features.char_ngrams != "auto":
        return features.char_ngrams == "on"
    return bool(texts) and sum(map(len, texts)) < SHORT_TEXT_CHARS * len(texts)


class TfidfFeaturizer(TextFeaturizer):
    """TF-IDF vectors over word 1..n-grams (and character n-grams inside words, for short
    texts), L2-normalised rows, optionally sublinear tf.

    Columns are the word n-grams in alphabetical order, then the character n-grams in
    alphabetical order; each kind is chosen by the same rules (`_chosen_terms`), and
    `max_features` limits each kind on its own, so character n-grams never crowd out words.
    """

    kind = "tfidf"
    # The JSON state's fields and their kinds (see bundle.files.KINDS), checked before use;
    # models saved before character n-grams have no `char_` fields (none are used).
    state_fields: ClassVar[dict[str, str]] = {
        "kind": "a string",
        "vocabulary": "a list of strings",
        **TextFeaturizer.analyzer_fields,
        "char_vocabulary": "a list of strings",
        "char_ngrams": "a list of non-negative integers",
    }
    optional_fields: ClassVar[tuple[str, ...]] = ("char_vocabulary", "char_ngrams", "languages")

    def __init__(
        self,
        text: TextConfig,
        features: FeatureConfig,
        stop_words: Sequence[str] | None = None,
        languages: Sequence[LanguageRules] | None = None,
    ) -> None:
        super().__init__(text, features, stop_words, languages)
        self.vocabulary_: dict[str, int] | None = None
        # Character n-gram -> column (after every word column); empty when not used.
        self.char_vocabulary_: dict[str, int] = {}
        self.char_range_: tuple[int, int] | None = None
        self.idf_: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of output columns."""
        if self.vocabulary_ is None:
            raise NotFittedError.of(type(self).__name__)
        return len(self.vocabulary_) + len(self.char_vocabulary_)

    def terms(self) -> list[str]:
        """The feature of each column, in column order: word n-grams as they are, character
        n-grams in brackets with `_` for the word boundary (`[_grai]`)."""
        if self.vocabulary_ is None:
            raise NotFittedError.of(type(self).__name__)
        words = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        chars = sorted(self.char_vocabulary_, key=self.char_vocabulary_.__getitem__)
        return words + [f"[{g.replace(' ', '_')}]" for g in chars]

    def _features(self, text: str) -> Iterator[str]:
        return self.analyzer.ngram_stream(text, self.features.ngram_max)

    def _char_features(self, text: str) -> Iterator[str]:
        assert self.char_range_ is not None
        return self.analyzer.char_ngram_stream(text, *self.char_range_)

    def __getstate__(self) -> dict[str, Any]:
        # The cache below is a closure (it does not pickle) and is rebuilt on demand.
        return {k: v for k, v in self.__dict__.items() if k != "_char_columns_cache"}

    def char_columns(self) -> Callable[[str], tuple[int, ...]]:
        """token -> the columns of its character n-grams (cached; see `_char_columns`)."""
        return self._char_columns()

    def _char_columns(self) -> Callable[[str], tuple[int, ...]]:
        """token -> the columns of its character n-grams, in their order, cached: a token's
        pieces are looked up once, not each time it occurs (text analysis is most of the
        cost of tagging; cut and looked up anew, pieces took 5 times as long as words)."""
        cached = self.__dict__.get("_char_columns_cache")
        if cached is None:
            assert self.char_range_ is not None
            vocab, (low, high) = self.char_vocabulary_, self.char_range_

            def columns(token: str) -> tuple[int, ...]:
                found = (vocab.get(g) for g in char_grams(token, low, high))
                return tuple(idx for idx in found if idx is not None)

            remembered = lru_cache(maxsize=CHAR_TOKEN_CACHE)(columns)

            def cached(token: str) -> tuple[int, ...]:
                # Only word-sized tokens are remembered: a stream of long distinct tokens
                # (a hostile input) would otherwise fill memory with the cache's keys.
                return (
                    remembered(token) if len(token) <= CHAR_TOKEN_CACHED_CHARS else columns(token)
                )

            self.__dict__["_char_columns_cache"] = cached
        return cached

    def fit(self, texts: Sequence[str]) -> TfidfFeaturizer:
        """Learn the vocabulary and idf weights from training texts."""
        self.fit_transform(texts)
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Vectorize texts into a sparse float32 matrix of shape (len(texts), n_features)."""
        if self.vocabulary_ is None or self.idf_ is None:
            raise NotFittedError.of(type(self).__name__)
        vocab, char_vocab = self.vocabulary_, self.char_vocabulary_
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        n_max = self.features.ngram_max
        for text in texts:
            counts: Counter[int | None] = Counter()
            # map and Counter.update run in C: no Python frame per n-gram (a third of
            # tagging's time went to generator frames here). Unknown n-grams count as None.
            for grams in self.analyzer.ngram_pieces(text, n_max):
                counts.update(map(vocab.get, grams))
            counts.pop(None, None)
            if char_vocab:  # after the words, as `fit_transform` orders a row
                columns = self._char_columns()
                for token in self.analyzer.char_tokens(text):
                    counts.update(columns(token))
            indices.extend(counts.keys())  # type: ignore[arg-type]  # None popped above
            values.extend(counts.values())
            indptr.append(len(indices))
        return self._weigh(
            np.asarray(values, dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        )

    def fit_transform(
        self,
        texts: Sequence[str],
        fit_rows: np.ndarray | None = None,
        keep_chars: CharChoice | None = None,
    ) -> sp.csr_matrix:
        """Learn from `texts[fit_rows]` (all texts when None) and vectorize every text.

        Equal to `fit` then `transform`, analysing each text once instead of twice (text
        analysis is most of the cost): every n-gram is counted in one pass, and the
        vocabulary scikit-learn would keep is then chosen from the fit rows' counts.

        With character n-grams and `keep_chars`, it is shown every text's features with
        words only and with words and characters, and says whether to keep the characters;
        if not, the featurizer is the one character n-grams off would have learned.
        """
        from sklearn.feature_extraction.text import TfidfTransformer

        self.__dict__.pop("_char_columns_cache", None)  # columns are about to change
        fit_texts = texts if fit_rows is None else [texts[i] for i in fit_rows]
        self.adapt_analyzer(fit_texts)
        self.char_range_ = (
            CHAR_NGRAM_RANGE if char_ngrams_wanted(self.features, fit_texts) else None
        )
        word_counts = self._count(texts, self._features)
        word_ids, words = self._choose(word_counts, fit_rows, required=True)
        self.vocabulary_ = {name: k for k, name in enumerate(words)}
        blocks = [word_ids]
        self.char_vocabulary_ = {}
        if self.char_range_ is not None:
            char_counts = self._count(texts, self._char_features)
            char_ids, chars = self._choose(char_counts, fit_rows, required=False)
            self.char_vocabulary_ = {name: len(words) + k for k, name in enumerate(chars)}
            blocks.append(char_ids)
            if not chars:
                self.char_range_ = None
        counts = _row_concat(blocks)
        fit = counts if fit_rows is None else counts[fit_rows]
        self.idf_ = np.asarray(
            TfidfTransformer(sublinear_tf=self.features.sublinear_tf).fit(fit).idf_,
            dtype=np.float32,
        )
        x = self._weigh(counts.data, counts.indices.astype(np.int32), counts.indptr)
        if keep_chars is None or not self.char_vocabulary_:
            return x
        char_range, char_vocabulary, idf = self.char_range_, self.char_vocabulary_, self.idf_
        # idf is per column and the words' vocabulary is chosen on its own, so dropping
        # the character columns is exactly the word-only featurizer.
        self.char_range_, self.char_vocabulary_ = None, {}
        self.idf_ = idf[: len(words)]
        words_only = self._weigh(*_leading_columns(counts, len(words)))
        if keep_chars(words_only, x):
            self.char_range_, self.char_vocabulary_, self.idf_ = char_range, char_vocabulary, idf
            return x
        return words_only

    @staticmethod
    def _count(
        texts: Sequence[str], features: Callable[[str], Iterator[str]]
    ) -> tuple[sp.csr_matrix, list[str]]:
        """Counts of every feature of every text (rows keep first-seen order) and the
        feature of each column."""
        terms: dict[str, int] = {}
        add = terms.setdefault
        indptr = [0]
        indices: list[int] = []
        values: list[int] = []
        for text in texts:
            counts = Counter(add(f, len(terms)) for f in features(text))
            indices.extend(counts.keys())
            values.extend(counts.values())
            indptr.append(len(indices))
        matrix = sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(texts), len(terms)),
        )
        return matrix, list(terms)  # a term's id is its position

    def _choose(
        self,
        counted: tuple[sp.csr_matrix, list[str]],
        fit_rows: np.ndarray | None,
        required: bool,
    ) -> tuple[sp.csr_matrix, list[str]]:
        """The counts restricted to the chosen terms, renumbered in the order of their
        names (each row keeps its first-seen order), and the chosen names."""
        counts_all, names = counted
        fit = counts_all if fit_rows is None else counts_all[fit_rows]
        chosen = self._chosen_terms(fit, names, required)
        column = np.full(len(names), -1, dtype=np.int64)
        column[chosen] = np.arange(len(chosen))
        kept = column[counts_all.indices] >= 0
        indptr = _kept_indptr(counts_all.indptr, kept)
        matrix = sp.csr_matrix(
            (counts_all.data[kept], column[counts_all.indices[kept]], indptr),
            shape=(counts_all.shape[0], len(chosen)),
        )
        return matrix, [names[i] for i in chosen]

    def _chosen_terms(
        self, counts: sp.csr_matrix, names: list[str], required: bool = True
    ) -> np.ndarray:
        """The ids of the terms TfidfVectorizer would keep given these count rows, in the
        alphabetical order of their names (the columns' order).

        Its rules: a document-frequency floor, then the `max_features` most frequent terms,
        ties broken as its sort breaks them (so terms are ranked in alphabetical order).
        Terms that are not `required` (character n-grams) may come out empty.
        """
        min_df = self.floor_for(counts.shape[0])
        by_name = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
        dfs = np.bincount(counts.indices, minlength=len(names))[by_name]
        mask = dfs >= min_df
        if not required:
            pass
        elif not names or not (dfs > 0).any():
            raise DataError(
                "no features could be learned from the training texts (empty vocabulary); "
                "are the documents empty or all stop words?"
            )
        elif not mask.any():
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
            shape=(len(indptr) - 1, self.n_features),
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
            raise NotFittedError.of(type(self).__name__)
        meta: dict[str, Any] = {
            "kind": self.kind,
            "vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.__getitem__),
            **self.analyzer_state(),
        }
        if self.char_range_ is not None:  # only then: word-only models stay as they were
            meta["char_ngrams"] = list(self.char_range_)
            meta["char_vocabulary"] = sorted(
                self.char_vocabulary_, key=self.char_vocabulary_.__getitem__
            )
        return meta, {"idf": self.idf_}

    @staticmethod
    def state_specs(meta: dict[str, Any]) -> dict[str, ArraySpec]:
        """The arrays `from_state` needs with `meta`, to check a file before reading it."""
        n = len(meta["vocabulary"]) + len(meta.get("char_vocabulary", []))
        return {"idf": ArraySpec(FLOATS, (n,))}

    @classmethod
    def from_state(
        cls, text: TextConfig, features: FeatureConfig, meta: dict[str, Any], arrays: dict[str, Any]
    ) -> TfidfFeaturizer:
        """Rebuild a fitted featurizer from `get_state` output."""
        self = cls(text, features, **cls.analyzer_rules(meta))
        self.vocabulary_ = {t: i for i, t in enumerate(meta["vocabulary"])}
        chars = meta.get("char_vocabulary", [])
        self.char_vocabulary_ = {g: len(self.vocabulary_) + i for i, g in enumerate(chars)}
        self.char_range_ = None
        if chars:
            low, high = meta.get("char_ngrams") or (0, 0)
            # A forged range of [1, 1000000] made tagging a long word quadratic: pieces of
            # words longer than MAX_CHAR_NGRAM are never formed by training.
            if not 1 <= low <= high <= MAX_CHAR_NGRAM:
                raise ValueError(
                    f"char_ngrams must be [low, high], 1 <= low <= high <= {MAX_CHAR_NGRAM}: "
                    f"{str(low)[:20]}, {str(high)[:20]}"
                )
            self.char_range_ = (low, high)
        self.idf_ = np.asarray(arrays["idf"], dtype=np.float32)
        if self.idf_.shape != (self.n_features,):
            raise ValueError(
                f"idf has shape {self.idf_.shape}, vocabulary has {self.n_features} terms"
            )
        return self


def _kept_indptr(indptr: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Row pointers of a CSR matrix after dropping the entries where `kept` is False."""
    return np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)[indptr]


def _leading_columns(counts: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, columns, indptr) of the entries in the first `n` columns, in row order."""
    kept = counts.indices < n
    return (
        counts.data[kept],
        counts.indices[kept].astype(np.int32),
        _kept_indptr(counts.indptr, kept),
    )


def _row_concat(blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
    """The blocks side by side, each row holding the first block's entries then the next's,
    in their order (the order `transform` counts a row's features in)."""
    if len(blocks) == 1:
        return blocks[0]
    rows = np.concatenate([np.repeat(np.arange(b.shape[0]), np.diff(b.indptr)) for b in blocks])
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks[:-1]])
    cols = np.concatenate([b.indices + off for b, off in zip(blocks, offsets, strict=True)])
    data = np.concatenate([b.data for b in blocks])
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=blocks[0].shape[0]))])
    return sp.csr_matrix(
        (data[order], cols[order], indptr),
        shape=(blocks[0].shape[0], sum(b.shape[1] for b in blocks)),
    )


def without_term_scales(x: sp.csr_matrix, removed: np.ndarray) -> np.ndarray:
    """For copies of one L2-normalised TF-IDF row, copy k without its stored term
    `removed[k]` (-1: none): what the rest of the row is multiplied by to be the row that
    text would have had (`_weigh` normalises what is left again), float32 (len(removed),).

    Zeroing a term alone leaves a shorter row than any text gives: occlusion then weighed a
    word as if every other word had shrunk too, and small weights came out with the wrong
    sign (museum +0.44 on politics, where taking it out of the text raised politics)."""
    data = x.data.astype(np.float64)
    total = float(np.dot(data, data))
    scales = np.ones(len(removed), dtype=np.float64)
    taken = removed >= 0
    left = total - data[removed[taken]] ** 2
    # A term that was the whole row leaves nothing, as a text of no known term scores.
    scales[taken] = np.where(left > 1e-12, np.sqrt(total / np.maximum(left, 1e-12)), 1.0)
    return scales.astype(np.float32)
