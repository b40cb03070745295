"""How a model is fitted: the pipeline of named steps (`pipeline`), the Keras network's own
training (`network`), the records the steps hand each other (`data`), and the shortlist
network's own pipeline for vocabularies of thousands of topics (`shortlist`). A network kind
names its pipeline (`model.networks.NETWORKS`); `PIPELINES` maps the names to the functions.

What a fitted model is made of lives in `topicclf.model`; how it is saved, `topicclf.bundle`.
"""

from __future__ import annotations

import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

from topicclf.config import SHORTLIST_FROM_CELLS, SHORTLIST_FROM_TOPICS, Config, for_network
from topicclf.errors import DataError
from topicclf.features import Featurizer
from topicclf.features.languages import remembering_detection
from topicclf.inputs import as_progress
from topicclf.labels import LabelEncoder
from topicclf.model.inference import Scorer
from topicclf.model.networks import network_kind
from topicclf.model.thresholds import ThresholdPolicy
from topicclf.training import pipeline, shortlist
from topicclf.training.pipeline import Fitted, retune
from topicclf.types import Progress

__all__ = ["PIPELINES", "Fitted", "choose_network", "fit_model", "retune", "retune_model"]

PIPELINES: dict[str, Callable[[Config, Sequence[str], Sequence[Sequence[str]], Progress], Fitted]]
PIPELINES = {"standard": pipeline.fit_model, "shortlist": shortlist.fit_shortlist}


def choose_network(config: Config, label_sets: Sequence[Sequence[str]]) -> tuple[Config, str]:
    """The configuration with its network kind decided (network.type = auto: by the size
    of the vocabulary, see SHORTLIST_FROM_TOPICS), and why ("" when it was given)."""
    if config.network.type != "auto":
        return config, ""
    counts = Counter(topic for labels in label_sets for topic in set(labels))
    topics = sum(1 for n in counts.values() if n >= config.train.min_count)
    cells = topics * len(label_sets)
    if topics >= SHORTLIST_FROM_TOPICS or cells >= SHORTLIST_FROM_CELLS:
        kind = "shortlist"
        why = (
            f"{topics} topics on {len(label_sets)} documents: a large vocabulary (from "
            f"{SHORTLIST_FROM_TOPICS} topics or {SHORTLIST_FROM_CELLS:,} documents x topics)"
        )
    else:
        kind = "dense"
        why = (
            f"{topics} topics on {len(label_sets)} documents (the shortlist network from "
            f"{SHORTLIST_FROM_TOPICS} topics)"
        )
    return for_network(config, kind), f"network.type = auto: {kind}, for {why}"


def fit_model(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Fitted:
    """Learn a model from texts and their topic sets, by its network kind's pipeline (a
    configuration with network.type = auto is decided first: `choose_network`)."""
    config, _ = choose_network(config, label_sets)
    kind = network_kind(config.network.type)
    timer = StageTimer(as_progress(progress))
    started = time.perf_counter()
    with remembering_detection():
        fitted = PIPELINES[kind.pipeline](config, texts, label_sets, timer)
    fitted.info.stage_seconds = timer.seconds(time.perf_counter() - started)
    fitted.info.min_df_applied = applied_floor(config, fitted.scorer.featurizer)
    return fitted


def applied_floor(config: Config, featurizer: Featurizer) -> int | None:
    """The document-frequency floor `featurizer` was fitted with, warned about when it is
    below a features.min_df set by hand (`FeatureConfig.lowered_floor`)."""
    floor, note = floor_note(config, featurizer)
    if note:
        note += "; the manifest records it (training.min_df_applied)"
        warnings.warn(note, UserWarning, stacklevel=3)
    return floor


def floor_note(config: Config, featurizer: Featurizer) -> tuple[int | None, str | None]:
    """The floor `featurizer` was fitted with (None for none) and why it is below a
    features.min_df set by hand (None when it is not): `optimize`, which silences each fold's
    warnings, says it once from this."""
    floor, n_docs = featurizer.document_floor_, featurizer.fitted_documents_
    if floor is None or n_docs is None:
        return None, None
    return floor, config.features.lowered_floor(floor, n_docs)


class StageTimer:
    """A Progress that passes everything on and adds up the seconds of each task: where
    training's time went (`TrainingInfo.stage_seconds`). Numbered tasks ("epoch 3/50")
    count as one ("epoch"); time outside every task is "other" (starting, choosing,
    tuning thresholds, and what runs between the steps)."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.totals: dict[str, float] = {}
        self._task: str | None = None
        self._since = 0.0

    def start(self, task: str, total: int | None = None) -> None:
        """Begin a task: the one before it ends here if it was not finished."""
        self._stop()
        self._task, self._since = _NUMBERED.sub("", task), time.perf_counter()
        self.inner.start(task, total)

    def advance(self, steps: int = 1, **info: float) -> None:
        """Pass the steps on."""
        self.inner.advance(steps, **info)

    def finish(self) -> None:
        """End the current task and count its time."""
        self._stop()
        self.inner.finish()

    def _stop(self) -> None:
        if self._task is not None:
            spent = time.perf_counter() - self._since
            self.totals[self._task] = self.totals.get(self._task, 0.0) + spent
            self._task = None

    def seconds(self, total: float) -> dict[str, float]:
        """Seconds per task in the order they first ran, "other" for the rest of `total`."""
        self._stop()
        out = {task: round(spent, 2) for task, spent in self.totals.items()}
        out["other"] = round(max(0.0, total - sum(self.totals.values())), 2)
        return out


_NUMBERED = re.compile(r" \d+/\d+$")


def retune_model(
    config: Config,
    policy: ThresholdPolicy,
    scorer: Scorer,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    classes: list[str],
) -> ThresholdPolicy:
    """A fitted model's thresholds tuned anew on labelled documents, by the rule its
    network kind's pipeline tuned them with. A corpus with none of the model's topics is
    refused, whatever the kind and mode (a multi-class model "tuned" on one, and was saved)."""
    encoder = LabelEncoder()
    encoder.classes_ = classes
    y = encoder.transform_sparse(label_sets)
    if not y.nnz:
        raise DataError("the tuning corpus has none of the model's topics; nothing to tune on")
    warn_of_missing_topics(config, policy, len(set(y.indices.tolist())), len(classes))
    if network_kind(config.network.type).pipeline == "shortlist":
        x = scorer.featurizer.transform(list(texts))
        languages = scorer.shortlist_languages(list(texts))
        return shortlist.retune_shortlist(config, policy, scorer.network, x, y, languages)
    return retune(config, policy, y.toarray(), scorer.scores(texts))


def warn_of_missing_topics(
    config: Config, policy: ThresholdPolicy, present: int, total: int
) -> None:
    """Warn when the tuning corpus lacks some of the model's topics, saying what becomes of
    their thresholds (a corpus of one topic silently reset all ten of a model's)."""
    missing = total - present
    shared = network_kind(config.network.type).pipeline == "shortlist"
    strategy = "global" if shared else config.thresholds.strategy
    if not missing or policy.multiclass or strategy == "fixed":
        return  # argmax, or a fixed threshold: nothing of theirs is tuned
    if strategy == "per_topic":
        what = "their thresholds are kept, and so is the global threshold"
    else:
        what = "the one threshold every topic shares is tuned on the other topics' documents"
    warnings.warn(
        f"{missing} of the model's {total} topics have no document in the tuning corpus: {what}",
        UserWarning,
        stacklevel=4,
    )
