from __future__ import annotations

import pytest

from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import ConfigError
from topicclf.features import FEATURIZERS, make_featurizer
from topicclf.features.sequences import SequenceFeaturizer
from topicclf.features.tfidf import TfidfFeaturizer


@pytest.mark.parametrize(
    "name,kind", [("tfidf", TfidfFeaturizer), ("sequence", SequenceFeaturizer)]
)
def test_each_featurizer_kind_is_made_by_its_name(name: str, kind: type) -> None:
    featurizer = make_featurizer(TextConfig(), FeatureConfig(), name)
    assert type(featurizer) is kind
    # A saved model names its featurizer's kind, and loading finds the class by that name.
    assert FEATURIZERS[featurizer.kind] is kind


def test_an_unknown_featurizer_kind_is_an_error_not_tfidf() -> None:
    with pytest.raises(ConfigError, match=r"unknown featurizer 'bag'; known: tfidf, sequence"):
        make_featurizer(TextConfig(), FeatureConfig(), "bag")
