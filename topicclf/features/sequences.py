"""Token-id sequences for the embedding network (0 = padding, 1 = out of vocabulary).

The state is the vocabulary, the stop words and the sequence length, all JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from topicclf.arrayfiles import ArraySpec
from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import DataError, NotFittedError
from topicclf.features.languages import LanguageRules
from topicclf.features.text import TextFeaturizer

PAD, OOV = 0, 1


class SequenceFeaturizer(TextFeaturizer):
    """Token-id sequences (0 = padding, 1 = out of vocabulary), padded or truncated at the end."""

    kind = "sequence"
    optional_fields: ClassVar[tuple[str, ...]] = ("languages",)
    state_fields: ClassVar[dict[str, str]] = {
        "kind": "a string",
        "vocabulary": "a list of strings",
        **TextFeaturizer.analyzer_fields,
        "sequence_length": "a sequence length (1 to 100,000)",
    }

    def __init__(
        self,
        text: TextConfig,
        features: FeatureConfig,
        stop_words: Sequence[str] | None = None,
        languages: Sequence[LanguageRules] | None = None,
    ) -> None:
        super().__init__(text, features, stop_words, languages)
        self.vocabulary_: dict[str, int] | None = None
        self.sequence_length_: int | None = None

    @property
    def n_features(self) -> int:
        """Size of the id space, padding and out-of-vocabulary ids included."""
        if self.vocabulary_ is None:
            raise NotFittedError.of(type(self).__name__)
        return len(self.vocabulary_) + 2

    def _token_pieces(self, text: str) -> Iterator[list[str]]:
        # Word n-grams after the words, as fastText does: pooling sees the phrases too.
        return self.analyzer.ngram_pieces(text, self.features.sequence_ngrams)

    def fit(self, texts: Sequence[str]) -> SequenceFeaturizer:
        """Learn the vocabulary (most frequent tokens) and, if not set, the sequence length."""
        self.adapt_analyzer(texts)
        counts: Counter[str] = Counter()
        lengths = []
        for text in texts:
            n_tokens = 0
            for tokens in self._token_pieces(text):
                counts.update(tokens)
                n_tokens += len(tokens)
            lengths.append(n_tokens)
        min_count = self.floor_for(len(texts))
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
            raise NotFittedError.of(type(self).__name__)
        length = self.sequence_length_
        out = np.zeros((len(texts), length), dtype=np.int32)
        vocab = self.vocabulary_
        for row, text in enumerate(texts):
            ids: list[int] = []
            for tokens in self._token_pieces(text):  # a huge text: only the pieces needed
                ids.extend(vocab.get(t, OOV) for t in tokens[: length - len(ids)])
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
            raise NotFittedError.of(type(self).__name__)
        meta = {
            "kind": self.kind,
            "vocabulary": sorted(self.vocabulary_, key=self.vocabulary_.__getitem__),
            **self.analyzer_state(),
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
        self = cls(text, features, **cls.analyzer_rules(meta))
        self.vocabulary_ = {t: i + 2 for i, t in enumerate(meta["vocabulary"])}
        self.sequence_length_ = int(meta["sequence_length"])
        return self
