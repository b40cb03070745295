"""Hyperparameter search: random trials scored by k-fold cross-validation on training data.

Every trial trains on k-1 folds (which carves its own validation split for early stopping
and thresholds) and is scored on the held-out fold; the test set is never seen. Near-duplicate
documents (training.groups, found as `train` finds them) share a fold, so no fold is scored
on copies of what it trained on. The search is seeded, so the same corpus, space and seed
try the same trials.
"""

from __future__ import annotations

import json
import random
import time
import tomllib
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topicclf.classifier import TopicClassifier
from topicclf.config import Config, shown, to_toml, with_values
from topicclf.errors import DataError
from topicclf.inputs import as_progress
from topicclf.labels import LabelEncoder, group_folds, warn_too_few_groups
from topicclf.model.networks import network_kind
from topicclf.training import choose_network, floor_note
from topicclf.training.groups import near_duplicate_groups
from topicclf.types import Document, Progress

OBJECTIVES = ("mean_f1", "micro_f1", "macro_f1")


@dataclass(frozen=True)
class Trial:
    """One configuration tried and its cross-validated scores."""

    number: int
    settings: dict[str, Any]
    micro_f1: float
    macro_f1: float
    # Keys of `settings` held fixed in every trial (`search`'s `fixed`), not sampled.
    fixed: tuple[str, ...] = ()

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
    # Folds (numbered from 1) left out of the best trial's scores: their training part could
    # not train a model (`fold_problem`).
    left_out: tuple[int, ...] = ()
    # False when the folds part near-duplicate groups (`cross_validation_folds` fell back to
    # one document at a time): copies of held-out documents were trained on.
    grouped: bool = True
    # Searched settings held fixed in every trial (`search`'s `fixed`) and their values; they
    # are in every trial's settings, so written with the best.
    fixed: dict[str, Any] = field(default_factory=dict)

    def with_base(self, base: Config) -> Config:
        """The best settings applied to another base configuration."""
        return _assign(base, self.best.settings)


def _assign(config: Config, settings: dict[str, Any]) -> Config:
    return with_values(config, settings, source="optimize")


def _value(config: Config, key: str) -> Any:
    section, _, name = key.partition(".")
    return getattr(getattr(config, section), name)


def describe_settings(settings: dict[str, Any]) -> str:
    """Settings as `key=value` pairs, a list for a tuple (as a TOML array reads)."""
    return ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in settings.items())


def sample_trials(space: dict[str, list[Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` distinct random settings from the space (the base configuration first)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    trials: list[dict[str, Any]] = [{}]
    if not space:
        return trials[:n]  # the base is the only setting: the loop below would never end
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
    fixed: Iterable[str] = (),
) -> SearchResult:
    """Random search over `space` (by default the network kind's, `NETWORKS`), each trial
    scored by k-fold CV.

    With `time_budget` (seconds), no new trial starts once it is spent; the running one
    finishes, so at least one trial always runs. Keys of the space named in `fixed` keep
    their `base` value in every trial (in each trial's settings, so in the result's config)
    instead of being sampled; other keys in `fixed` are ignored.
    """
    base = base or Config()
    progress = as_progress(progress)
    if objective not in OBJECTIVES:
        raise DataError(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    if folds < 2:
        raise DataError("cross-validation needs at least 2 folds")
    # Found once, as `train` finds them (its seed): a copy of a held-out document among a
    # fold's training documents scored the tiny corpus repeated 4 times 1.0 against 0.44 once.
    groups = near_duplicate_groups(texts, base.train.seed, progress)
    n_groups = len(np.unique(groups))
    if n_groups < folds * 4:
        raise DataError(
            f"{len(texts)} documents in {n_groups} group{'' if n_groups == 1 else 's'} of "
            f"near-duplicates are too few for {folds}-fold cross-validation, which keeps each "
            f"group in one fold: it needs at least {folds * 4} groups"
        )
    # What `train` would refuse on the whole corpus is said as `train` says it.
    problem = _training_problem(label_sets, range(len(label_sets)), base)
    if problem:
        raise DataError(problem)
    base, _ = choose_network(base, label_sets)  # network.type = auto: decided once, here
    if space is None:
        space = network_kind(base.network.type).search_space
    # Sampled keys overrode a value set for the search from trial 2 on, and the best
    # configuration then held values other than those measured (attacker pass 38, CLI 3).
    held = {key: _value(base, key) for key in sorted(set(fixed)) if key in space}
    varied = {key: values for key, values in space.items() if key not in held}
    if held and not varied and trials > 1:
        warnings.warn(
            f"every setting the search tries is held fixed ({describe_settings(held)}): "
            f"nothing is left to vary, so 1 trial runs, not {trials}",
            UserWarning,
            stacklevel=2,
        )
    candidates = [{**pick, **held} for pick in sample_trials(varied, trials, base.train.seed)]
    parts = cross_validation_folds(groups, folds, base.train.seed)
    grouped = folds_keep_groups(parts, groups)
    results: list[Trial] = []
    left_out: dict[int, tuple[int, ...]] = {}
    said: set[str] = set()
    lowered: int | None = None
    started = time.perf_counter()
    for number, settings in enumerate(candidates, start=1):
        if results and time_budget is not None and time.perf_counter() - started > time_budget:
            break
        progress.start(f"trial {number}/{len(candidates)} (folds)", folds)
        config = _assign(base, settings)
        scored = _scored_folds(label_sets, config, parts)
        if all(scored.values()):
            raise DataError(
                f"no fold of the {folds}-fold cross-validation can train a model: in fold 1, "
                f"{scored[0]}; give those topics more documents, or use more folds"
            )
        for k, problem in scored.items():
            said_now = f"fold {k + 1} of {folds} is left out of the scores: {problem}"
            if problem and said_now not in said:
                # Once, not per trial (the same fold fails in each, unless the trial's
                # train.min_count changes what the fold keeps).
                said.add(said_now)
                warnings.warn(
                    f"cross-validation (trial {number}): {said_now}; the trials are scored on "
                    "the other folds",
                    UserWarning,
                    stacklevel=2,
                )
        folds_used = [k for k, problem in scored.items() if not problem]
        left_out[number] = tuple(k + 1 for k, problem in scored.items() if problem)
        micro, macro, floor, note = _cross_validate(
            texts, label_sets, config, parts, folds_used, progress
        )
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
        results.append(Trial(number, settings, micro, macro, tuple(held)))
        progress.advance(0, best=max(t.score(objective) for t in results))
        progress.finish()
    ranked = sorted(results, key=lambda t: (-t.score(objective), t.number))
    best = ranked[0]
    return SearchResult(
        ranked,
        best,
        _assign(base, best.settings),
        objective,
        len(candidates),
        lowered,
        left_out[best.number],
        grouped,
        held,
    )


def cross_validation_folds(groups: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """The folds of `search` (row indices), each near-duplicate group (`groups`: a number
    per document) in one; with every document its own group, a seeded permutation cut in
    `folds` parts.

    With fewer groups than folds (`group_folds` fills every fold otherwise, however unequal
    the groups), a warning says so and the documents are split as if each were its own
    group, as `train`'s validation split does."""
    parts = group_folds(groups, folds, seed)
    if min(len(part) for part in parts) == 0:
        warn_too_few_groups(len(groups), len(np.unique(groups)), folds)
        parts = group_folds(np.arange(len(groups)), folds, seed)
    return parts


def folds_keep_groups(parts: list[np.ndarray], groups: np.ndarray) -> bool:
    """Whether each group (`groups`: a number per document) lies wholly in one fold."""
    held = [np.unique(groups[part]) for part in parts]
    return sum(len(h) for h in held) == len(np.unique(groups))


def _training_problem(
    label_sets: Sequence[Sequence[str]], rows: Iterable[int], config: Config
) -> str | None:
    """Why `train` would refuse these documents' topics (its own rule, the LabelEncoder's:
    two topics or more after train.min_count, not all documents alike), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # topics below train.min_count: fit warns of those
        try:
            LabelEncoder(min_count=config.train.min_count).fit([label_sets[i] for i in rows])
        except DataError as exc:
            return str(exc)
    return None


def _scored_folds(
    label_sets: Sequence[Sequence[str]], config: Config, parts: list[np.ndarray]
) -> dict[int, str | None]:
    """Each fold (by index) and why it is left out of the scores (a phrase), or None when it
    is scored.

    A fold whose training part cannot train a model is left out: a topic whose documents
    all lie in its held-out part leaves the rest one topic (a corpus of 'sport' and one
    'rare' document), which `train` on the whole corpus would take."""
    counts = Counter(topic for labels in label_sets for topic in set(labels))
    found: dict[int, str | None] = {}
    for k in range(len(parts)):
        kept = np.concatenate([p for i, p in enumerate(parts) if i != k])
        problem = _training_problem(label_sets, kept, config)
        if problem:
            present = {topic for i in kept for topic in label_sets[i]}
            missing = sorted(t for t in counts if t not in present)
            named = ", ".join(
                f"{shown(t)} ({counts[t]} document{'s' if counts[t] != 1 else ''})"
                for t in missing[:5]
            ) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            why = f"its held-out part holds every document of {named}, and " if missing else ""
            problem = f"{why}its training part cannot train a model ({problem})"
        found[k] = problem
    return found


def _cross_validate(
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    config: Config,
    parts: list[np.ndarray],
    scored: list[int],
    progress: Progress,
) -> tuple[float, float, int | None, str | None]:
    """Mean micro- and macro-F1 over the folds of `parts` numbered in `scored` (macro over
    the topics each fold holds), and the first one's document-frequency floor and why it is
    below a min_df set by hand (`training.floor_note`)."""
    micro, macro = [], []
    floor: int | None = None
    note: str | None = None
    progress.advance(len(parts) - len(scored))
    for n, k in enumerate(scored):
        held = parts[k]
        kept = np.concatenate([p for i, p in enumerate(parts) if i != k])
        with warnings.catch_warnings():
            # Rare topics missing from a fold are expected here, not news for the user.
            warnings.simplefilter("ignore")
            clf = TopicClassifier(config=config).fit(
                [texts[i] for i in kept], [label_sets[i] for i in kept]
            )
            report = clf.evaluate(_documents(texts, label_sets, held))
        if n == 0:  # the first fold scored
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
    """Settings of a trial as `key=value` pairs ('defaults' for the base configuration),
    those held fixed last."""
    sampled = {k: v for k, v in trial.settings.items() if k not in trial.fixed}
    held = {k: v for k, v in trial.settings.items() if k in trial.fixed}
    return ", ".join(
        p for p in (describe_settings(sampled) or "defaults", describe_settings(held)) if p
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
    if result.left_out:
        several = len(result.left_out) > 1
        header += (
            f"# fold{'s' * several} {', '.join(map(str, result.left_out))} of {folds} "
            f"{'were' if several else 'was'} left out: no model could be trained on the rest "
            "(a topic with all its documents held out)\n"
        )
    if not result.grouped:
        # The warning scrolls away; the file is what a reader of these figures still has.
        header += (
            f"# the {folds} folds part groups of near-duplicates (too few groups to keep each "
            "in one fold): held-out documents have copies among the training documents, so "
            "these figures flatter the model\n"
        )
    if result.fixed:
        header += f"# held fixed in every trial, not searched: {describe_settings(result.fixed)}\n"
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
