from __future__ import annotations

import numpy as np
import pytest

from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import DataError, NotFittedError
from topicclf.features.sequences import OOV, PAD, SequenceFeaturizer
from topicclf.types import Document


def _texts(docs: list[Document]) -> list[str]:
    return [d.text for d in docs]


def test_sequences(tiny_docs: list[Document]) -> None:
    texts = _texts(tiny_docs)
    featurizer = SequenceFeaturizer(TextConfig(), FeatureConfig(sequence_length=6)).fit(texts)
    x = featurizer.transform(["striker scored zzzunknown", ""])
    assert x.shape == (2, 6) and x.dtype == np.int32
    vocab = featurizer.vocabulary_
    assert vocab is not None
    assert list(x[0, :3]) == [vocab["striker"], vocab["scored"], 1]
    assert not x[0, 3:].any() and list(x[1]) == [1, 0, 0, 0, 0, 0]  # empty: one unknown token
    meta, arrays = featurizer.get_state()
    back = SequenceFeaturizer.from_state(TextConfig(), FeatureConfig(), meta, arrays)
    np.testing.assert_array_equal(back.transform(texts), featurizer.transform(texts))


def test_sequence_length_adapts(tiny_docs: list[Document]) -> None:
    featurizer = SequenceFeaturizer(TextConfig(), FeatureConfig()).fit(_texts(tiny_docs))
    lengths = [len(featurizer.analyzer.tokens(d.text)) for d in tiny_docs]
    assert featurizer.sequence_length_ == int(np.clip(np.percentile(lengths, 90), 8, 512))


def test_a_text_without_tokens_reads_as_one_unknown_token(tiny_docs: list[Document]) -> None:
    featurizer = SequenceFeaturizer(TextConfig(), FeatureConfig(sequence_length=4)).fit(
        _texts(tiny_docs)
    )
    rows = featurizer.transform(["a", "", "!!"])
    assert rows.tolist() == [[1, 0, 0, 0]] * 3


def test_sequence_errors() -> None:
    featurizer = SequenceFeaturizer(TextConfig(), FeatureConfig())
    with pytest.raises(NotFittedError, match="SequenceFeaturizer is not fitted yet; call fit"):
        featurizer.transform(["x"])
    with pytest.raises(DataError, match="no tokens could be learned"):
        featurizer.fit(["the and of", ""])


def test_padding_and_unknown_ids_come_before_the_vocabulary(tiny_docs: list[Document]) -> None:
    featurizer = SequenceFeaturizer(TextConfig(), FeatureConfig()).fit(_texts(tiny_docs))
    assert (PAD, OOV) == (0, 1)
    assert featurizer.vocabulary_ is not None
    assert min(featurizer.vocabulary_.values()) == 2
    assert featurizer.n_features == len(featurizer.vocabulary_) + 2
