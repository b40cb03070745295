"""Hyperparameter search: random trials scored by k-fold cross-validation on training data.

Every trial trains on k-1 folds (which carves its own validation split for early stopping
and thresholds) and is scored on the held-out fold; the test set is never seen. The search
is seeded, so the same corpus, space and seed try the same trials.
"""

from __future__ import annotations

import json
import random
import time
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicclf.classifier import TopicClassifier
from topicclf.config import Config, to_toml, with_values
from topicclf.errors import DataError
from topicclf.inputs import as_progress
from topicclf.model.networks import network_kind
from topicclf.training import choose_network, floor_note
from topicclf.types import Document, Progress

OBJECTIVES = ("mean_f1", "micro_f1", "macro_f1")


@dataclass(frozen=True)
class Trial:
    """One configuration tried and its cross-validated scores."""

    number: int
    settings: dict[str, Any]
    micro_f1: float
    macro_f1: float

    def score(self, objective: str) -> float:
        """The figure the search maximizes."""
        if objective == "micro_f1":
            return self.micro_f1
        if objective == "macro_f1":
            return self.macro_f1
        return (self.micro_f1 + self.macro_f1) / 2.0


@dataclass(frozen=True)
class SearchResult:
    """All trials, best first, and the best configuration."""

    trials: list[Trial]
    best: Trial
    config: Config
    objective: str
    planned: int = 0  # trials planned; fewer ran when the time budget ran out
    # The document-frequency floor the folds applied below a features.min_df set by hand
    # (the first such fold's), None when none lowered it: the scores were measured with it.
    min_df_applied: int | None = None

    def with_base(self, base: Config) -> Config:
        """The best settings applied to another base configuration."""
        return _assign(base, self.best.settings)


def _assign(config: Config, settings: dict[str, Any]) -> Config:
    return with_values(config, settings, source="optimize")


def sample_trials(space: dict[str, list[Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` distinct random settings from the space (the base configuration first)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    trials: list[dict[str, Any]] = [{}]
    seen.add(repr({}))
    total = int(np.prod([len(v) for v in space.values()]))
    while len(trials) < min(n, total + 1):
        pick = {key: rng.choice(values) for key, values in sorted(space.items())}
        if repr(pick) not in seen:
            seen.add(repr(pick))
            trials.append(pick)
    return trials[:n]


def search(
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    *,
    base: Config | None = None,
    trials: int = 8,
    folds: int = 3,
    objective: str = "mean_f1",
    space: dict[str, list[Any]] | None = None,
    time_budget: float | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Random search over `space` (by default the network kind's, `NETWORKS`), each trial
    scored by k-fold CV.

    With `time_budget` (seconds), no new trial starts once it is spent; the running one
    finishes, so at least one trial always runs.
    """
    base = base or Config()
    progress = as_progress(progress)
    if objective not in OBJECTIVES:
        raise DataError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    if folds < 2:
        raise DataError("cross-validation needs at least 2 folds")
    if len(texts) < folds * 4:
        raise DataError(f"{len(texts)} documents are too few for {folds}-fold cross-validation")
    base, _ = choose_network(base, label_sets)  # network.type = auto: decided once, here
    if space is None:
        space = network_kind(base.network.type).search_space
    candidates = sample_trials(space, trials, base.train.seed)
    order = np.random.default_rng(base.train.seed).permutation(len(texts))
    parts = np.array_split(order, folds)
    results: list[Trial] = []
    lowered: int | None = None
    started = time.perf_counter()
    for number, settings in enumerate(candidates, start=1):
        if results and time_budget is not None and time.perf_counter() - started > time_budget:
            break
        progress.start(f"trial {number}/{len(candidates)} (folds)", folds)
        config = _assign(base, settings)
        micro, macro, floor, note = _cross_validate(texts, label_sets, config, parts, progress)
        if note and lowered is None:
            # Each fold's warnings are silenced; this one says the figures below were
            # measured with another floor than the setting written, so it is said once.
            lowered = floor
            warnings.warn(
                f"cross-validation (trial {number}): {note}; the configuration written keeps "
                f"features.min_df = {config.features.min_df} (`train` applies the same floor "
                "to its own documents)",
                UserWarning,
                stacklevel=2,
            )
        results.append(Trial(number, settings, micro, macro))
        progress.advance(0, best=max(t.score(objective) for t in results))
        progress.finish()
    ranked = sorted(results, key=lambda t: (-t.score(objective), t.number))
    best = ranked[0]
    return SearchResult(
        ranked, best, _assign(base, best.settings), objective, len(candidates), lowered
    )


def _cross_validate(
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    config: Config,
    parts: list[np.ndarray],
    progress: Progress,
) -> tuple[float, float, int | None, str | None]:
    """Mean micro- and macro-F1 over the folds (macro over the topics each fold holds), and
    the first fold's document-frequency floor and why it is below a min_df set by hand
    (`training.floor_note`)."""
    micro, macro = [], []
    floor: int | None = None
    note: str | None = None
    for k, held in enumerate(parts):
        kept = np.concatenate([p for i, p in enumerate(parts) if i != k])
        with warnings.catch_warnings():
            # Rare topics missing from a fold are expected here, not news for the user.
            warnings.simplefilter("ignore")
            clf = TopicClassifier(config=config).fit(
                [texts[i] for i in kept], [label_sets[i] for i in kept]
            )
            report = clf.evaluate(_documents(texts, label_sets, held))
        if k == 0:
            floor, note = floor_note(clf.config_, clf.scorer_.featurizer)
        micro.append(report.micro.f1)
        # Topics missing from a fold's held-out part would count 0 in every trial alike.
        macro.append(report.macro_seen.f1)
        progress.advance(1)
    return float(np.mean(micro)), float(np.mean(macro)), floor, note


def _documents(
    texts: Sequence[str], label_sets: Sequence[Sequence[str]], rows: np.ndarray
) -> list[Document]:
    return [Document(str(i), texts[i], tuple(label_sets[i])) for i in rows]


def describe(trial: Trial) -> str:
    """Settings of a trial as `key=value` pairs ('defaults' for the base configuration)."""
    if not trial.settings:
        return "defaults"
    return ", ".join(
        f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in trial.settings.items()
    )


def best_config_toml(result: SearchResult, folds: int, corpus: str, base: Config) -> str:
    """The best settings over `base` as TOML, headed by a comment saying how they were found
    (search-only settings, such as fewer epochs, are not in `base`, so not written)."""
    # The path as a JSON string: a newline in it would end the comment, and the rest of
    # the name would be read as TOML.
    shown = json.dumps(corpus)
    header = (
        f"# topicclf optimize: best of {len(result.trials)} trials by {result.objective} "
        f"({folds}-fold CV on {shown}): micro-F1 {result.best.micro_f1:.4f}, "
        f"macro-F1 {result.best.macro_f1:.4f}\n"
    )
    written = result.with_base(base)
    floor = result.min_df_applied
    if floor is not None and floor < written.features.min_df:
        # The setting is written as set (train applies the same floor to its own documents);
        # the figures above were measured with the lower one.
        header += (
            f"# features.min_df = {written.features.min_df} was applied as {floor} in the "
            "cross-validation folds (the floor for a small corpus)\n"
        )
    text = header + to_toml(written)
    tomllib.loads(text)  # what `train --config` will read: a writer's bug fails here, not there
    return text
