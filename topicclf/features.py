"""The featurizers by kind: TF-IDF (`topicclf.tfidf`) for dense networks, token-id sequences
(`topicclf.sequences`) for embedding networks. A saved model names its featurizer's kind.
"""

from __future__ import annotations

from topicclf.config import FeatureConfig, TextConfig
from topicclf.sequences import SequenceFeaturizer
from topicclf.tfidf import TfidfFeaturizer

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
