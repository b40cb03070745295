from __future__ import annotations

import pytest

from topicclf.config import FeatureConfig, TextConfig
from topicclf.features import FEATURIZERS, make_featurizer
from topicclf.features.sequences import SequenceFeaturizer
from topicclf.features.tfidf import TfidfFeaturizer


@pytest.mark.parametrize(
    "network_type,kind", [("dense", TfidfFeaturizer), ("embedding", SequenceFeaturizer)]
)
def test_each_network_type_gets_its_featurizer(network_type: str, kind: type) -> None:
    featurizer = make_featurizer(TextConfig(), FeatureConfig(), network_type)
    assert type(featurizer) is kind
    # A saved model names its featurizer's kind, and loading finds the class by that name.
    assert FEATURIZERS[featurizer.kind] is kind
