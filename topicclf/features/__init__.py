"""Text to features: the analyzer shared by both featurizers (`text`), TF-IDF vectors
(`tfidf`) and token-id sequences (`sequences`). A saved model names its featurizer's kind;
which kind a network gets is the network table's (`topicclf.model.networks`).
"""

from __future__ import annotations

from topicclf.config import FeatureConfig, TextConfig
from topicclf.features.sequences import SequenceFeaturizer
from topicclf.features.tfidf import TfidfFeaturizer

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
