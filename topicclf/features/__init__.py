"""Text to features: the analyzer shared by both featurizers (`text`), TF-IDF vectors
(`tfidf`) and token-id sequences (`sequences`). A saved model names its featurizer's kind;
which kind a network gets is the network table's (`topicclf.model.networks`).
"""

from __future__ import annotations

from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import ConfigError
from topicclf.features.sequences import SequenceFeaturizer
from topicclf.features.tfidf import TfidfFeaturizer

Featurizer = TfidfFeaturizer | SequenceFeaturizer
FEATURIZERS: dict[str, type[TfidfFeaturizer] | type[SequenceFeaturizer]] = {
    "tfidf": TfidfFeaturizer,
    "sequence": SequenceFeaturizer,
}


def make_featurizer(text: TextConfig, features: FeatureConfig, kind: str) -> Featurizer:
    """A new featurizer of `kind` (a key of FEATURIZERS: a network kind names the one it
    reads in `model.networks.NETWORKS`)."""
    if kind not in FEATURIZERS:
        raise ConfigError(f"unknown featurizer {kind!r}; known: {', '.join(FEATURIZERS)}")
    return FEATURIZERS[kind](text, features)
