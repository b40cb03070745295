"""How a model is fitted: the pipeline of named steps (`pipeline`), the Keras network's own
training (`network`), the records the steps hand each other (`data`), and the shortlist
network's own pipeline for vocabularies of thousands of topics (`shortlist`). A network kind
names its pipeline (`model.networks.NETWORKS`); `PIPELINES` maps the names to the functions.

What a fitted model is made of lives in `topicclf.model`; how it is saved, `topicclf.bundle`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from topicclf.config import Config
from topicclf.labels import LabelEncoder
from topicclf.model.inference import Scorer
from topicclf.model.networks import network_kind
from topicclf.model.thresholds import ThresholdPolicy
from topicclf.training import pipeline, shortlist
from topicclf.training.pipeline import Fitted, retune
from topicclf.types import NullProgress, Progress

__all__ = ["PIPELINES", "Fitted", "fit_model", "retune", "retune_model"]

PIPELINES: dict[str, Callable[[Config, Sequence[str], Sequence[Sequence[str]], Progress], Fitted]]
PIPELINES = {"standard": pipeline.fit_model, "shortlist": shortlist.fit_shortlist}


def fit_model(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Fitted:
    """Learn a model from texts and their topic sets, by its network kind's pipeline."""
    kind = network_kind(config.network.type)
    return PIPELINES[kind.pipeline](config, texts, label_sets, progress or NullProgress())


def retune_model(
    config: Config,
    policy: ThresholdPolicy,
    scorer: Scorer,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    classes: list[str],
) -> ThresholdPolicy:
    """A fitted model's thresholds tuned anew on labelled documents, by the rule its
    network kind's pipeline tuned them with."""
    encoder = LabelEncoder()
    encoder.classes_ = classes
    if network_kind(config.network.type).pipeline == "shortlist":
        x = scorer.featurizer.transform(list(texts))
        y = encoder.transform_sparse(label_sets)
        return shortlist.retune_shortlist(config, policy, scorer.network, x, y)
    truth = encoder.transform(label_sets).y
    return retune(config, policy, truth, scorer.scores(texts))
