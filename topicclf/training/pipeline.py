"""The fit pipeline as small named steps: check and encode the data, split off validation,
vectorize, fit the linear model a dense network is stacked on, train the network with early
stopping, blend the linear model, tune thresholds, refit.

`fit_model` runs the steps in order and returns a `Fitted` model; each step is a function of
explicit inputs, so it can be read, tested and reused (e.g. by `optimize`) on its own. The
records the steps hand each other are in `training.data`; the network's own training (build,
schedule, early stopping, refit) in `training.network`; what differs between network kinds in
`model.networks.NETWORKS`.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicclf.config import STACK_FOLDS, Config
from topicclf.errors import DataError
from topicclf.features import Featurizer, make_featurizer
from topicclf.features.text import Analyzer
from topicclf.features.tfidf import CharChoice, TfidfFeaturizer
from topicclf.labels import LabelEncoder, detect_mode, split_indices
from topicclf.metrics import EvaluationReport, evaluate, micro_f1
from topicclf.model.blend import LinearBlend, calibrate, choose_weight, cross_fit, fit_linear
from topicclf.model.inference import Scorer, scores_now
from topicclf.model.networks import (
    keras_loaded,
    keras_module,
    network_kind,
    stacked,
    start_loading_keras,
)
from topicclf.model.thresholds import ThresholdPolicy, apply, apply_thresholds, tune_policy
from topicclf.training.analysis import choose_analysis
from topicclf.training.data import Blended, Prepared, Stack, TrainingInfo, Tuner, Vectors
from topicclf.training.groups import near_duplicate_groups
from topicclf.training.network import (
    as_loaded,
    refit_network,
    schedule,
    stacked_to_wide,
    train_network,
    validation_f1,
)
from topicclf.types import NullProgress, Progress


@dataclass
class Fitted:
    """What training produces: topics, mode, the scoring parts, thresholds and a record."""

    classes: list[str]
    mode: str
    scorer: Scorer
    policy: ThresholdPolicy
    validation: EvaluationReport
    info: TrainingInfo


def fit_model(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Fitted:
    """Learn features, network, blend and thresholds from texts and their topic sets."""
    progress = progress or NullProgress()
    started = time.perf_counter()
    data = prepare(config, texts, label_sets, progress)
    analyzer, stemming = choose_analysis(config, data, progress)
    vectors = vectorize(config, data, progress, analyzer)
    featurizer, x_all = vectors.featurizer, vectors.x
    tune = threshold_tuner(config, data.multiclass)
    x_val, y_val = x_all[data.val_idx], data.y[data.val_idx]
    stack = stack_beside_keras_import(config, x_all, data, progress)
    logits = None if stack is None else stack.logits
    network, epochs_run, best_epoch = train_network(
        config, featurizer, x_all, data, tune, progress, logits
    )
    val_logits = None if logits is None else logits[data.val_idx]
    network_val = scores_now(network, x_val, data.multiclass, val_logits)
    check_finite(network_val, config)
    blended = fit_blend(config, data, vectors, network_val, tune, progress, stack)
    blend, val_scores = blended.blend, blended.val_scores
    policy = tune(y_val, val_scores)
    refit = config.train.refit and best_epoch > 0
    continued = 0
    if refit:
        # Thresholds stay those tuned on validation; the network and the linear model learn
        # the validation documents too.
        network, continued = refit_network(
            config, featurizer, network, x_all, data, best_epoch, progress, logits
        )
        if blend is not None and blend.weight > 0 and stack is None:
            blend.coef, blend.intercept = fit_linear(blended.x, data.y, config.blend.svm_c)
    stack_documents = None
    if stack is not None and blend is not None:
        network, stack_documents = keep_stacked_linear(
            config, featurizer, network, x_all, data, stack, blend, refit, progress
        )
    validation = evaluate(y_val, apply(val_scores, policy), data.classes)
    batch, rate = schedule(config, len(data.train_idx))
    tfidf = featurizer if isinstance(featurizer, TfidfFeaturizer) else blended.featurizer
    chars = None if tfidf is None else tfidf.char_range_
    info = TrainingInfo(
        near_duplicates=data.near_duplicates(),
        char_ngrams=None if chars is None else list(chars),
        char_ngram_choice=vectors.char_choice or blended.info.get("char_ngram_choice"),
        blend=blended.info,
        documents=len(data.texts),
        train_documents=len(data.train_idx),
        validation_documents=len(data.val_idx),
        skipped_empty_documents=data.skipped,
        left_out_documents=data.left_out,
        dropped_topics=data.dropped,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        refit_on_all_documents=bool(refit),
        refit_epochs=continued,
        stacked=stack is not None,
        stack_calibration=None if stack is None else [stack.slope, stack.offset],
        stack_documents=stack_documents,
        batch_size=batch,
        learning_rate=round(rate, 6),
        seconds=round(time.perf_counter() - started, 2),
        threshold_curve=threshold_curve(y_val, val_scores, policy),
        analyzer=featurizer.analyzer.describe(),
        stemming_choice=stemming or None,
    )
    network = as_loaded(config, featurizer, network, data.multiclass)
    scorer = Scorer(featurizer, network, blend, blended.featurizer)
    return Fitted(data.classes, data.mode, scorer, policy, validation, info)


def stack_beside_keras_import(
    config: Config, x_all: Any, data: Prepared, progress: Progress
) -> Stack | None:
    """The stacking's inputs (None when not stacked); Keras is imported when it returns.

    Keras imports (seconds of Python) in a background thread while liblinear fits the
    stacking's SVMs (without the GIL), so both cores work.
    """
    stack = None
    if stacked(config):
        from sklearn.linear_model import LogisticRegression  # noqa: F401 - imported before
        from sklearn.svm import LinearSVC  # noqa: F401 - the thread, so the two never race

        start_loading_keras()
        stack = stack_inputs(config, x_all, data, progress)
    if not keras_loaded():  # its import takes seconds: say so instead of going quiet
        progress.start("loading TensorFlow")
        keras_module()
        progress.advance(1)
        progress.finish()
    return stack


def keep_stacked_linear(
    config: Config,
    featurizer: Featurizer,
    network: Any,
    x_all: Any,
    data: Prepared,
    stack: Stack,
    blend: LinearBlend,
    refit: bool,
    progress: Progress,
) -> tuple[Any, int]:
    """Fit the SVM a stacked model keeps, on the documents the network learned (all of them
    after the refit), and save the network with it as its wide path, under the calibration
    the network learned with; the blend keeps the same SVM. Returns (the wide network, the
    number of documents the SVM learned)."""
    rows = np.arange(len(data.texts)) if refit else data.train_idx
    progress.start("linear model of every document" if refit else "linear model", 1)
    stack.coef, stack.intercept = fit_linear(x_all[rows], data.y[rows], config.blend.svm_c)
    blend.coef, blend.intercept = stack.coef, stack.intercept
    progress.advance(1)
    progress.finish()
    return stacked_to_wide(config, featurizer, network, stack, data.multiclass), len(rows)


def prepare(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Prepared:
    """Check the data, pick the mode, encode topics and split off the validation rows."""
    kept, labels, skipped = validate_training_data(texts, label_sets)
    mode = training_mode(config, labels)
    encoder = LabelEncoder(min_count=config.train.min_count).fit(labels)
    y = encoder.transform(labels).y
    left_out = 0
    if mode == "multiclass":
        # A document whose only topic fell below min_count has no class left to learn.
        keep = keep_documents_with_topics(labels, y.sum(axis=1) > 0, "the multi-class network")
        left_out = len(kept) - len(keep)
        y, kept = y[keep], [kept[i] for i in keep]
    else:
        say_documents_without_topics(labels, y.sum(axis=1) > 0)
    groups = near_duplicate_groups(kept, config.train.seed, progress)
    train_idx, val_idx = split_indices(y, config.train.validation_split, config.train.seed, groups)
    if np.intersect1d(groups[train_idx], groups[val_idx]).size:
        groups = np.arange(len(groups))  # too few groups to honour (split_indices warned)
    assert encoder.classes_ is not None
    return Prepared(
        kept, y, encoder.classes_, mode, train_idx, val_idx, skipped, dict(encoder.dropped_),
        groups, left_out,
    )  # fmt: skip


def _without_topics(labels: Sequence[Sequence[str]], has_topic: np.ndarray) -> str:
    """How many documents have no topic left to learn, and why: '20 have no topic and 3 only
    topics under train.min_count'."""
    unlabelled = sum(not topics for topics in labels)
    rare = int(len(has_topic) - np.count_nonzero(has_topic)) - unlabelled
    why = [f"{unlabelled:,} have no topic"] if unlabelled else []
    if rare:
        why.append(f"{rare:,} only topics under train.min_count")
    return " and ".join(why)


def keep_documents_with_topics(
    labels: Sequence[Sequence[str]], has_topic: np.ndarray, learner: str
) -> np.ndarray:
    """The rows with a topic left to learn; a warning says how many others `learner` leaves
    out and why, in every network that leaves documents out (one message, one count)."""
    keep = np.flatnonzero(has_topic)
    if len(keep) < len(labels):
        # A catalogue's records without subjects (1,000 of 3,000) were left out silently by
        # the shortlist network (attacker pass 44), and by the multi-class one.
        warnings.warn(
            f"{len(labels) - len(keep):,} of {len(labels):,} training documents are left "
            f"out ({_without_topics(labels, has_topic)}): {learner} learns only from "
            "documents with topics",
            UserWarning,
            stacklevel=4,
        )
    return keep


def say_documents_without_topics(labels: Sequence[Sequence[str]], has_topic: np.ndarray) -> None:
    """Warn that documents without a topic to learn (none, or only topics under min_count)
    are learned by a multi-label network as examples of text with no topic."""
    if has_topic.all() or not has_topic.any():
        return
    without = len(has_topic) - int(np.count_nonzero(has_topic))
    rare = without - sum(not topics for topics in labels)
    warnings.warn(
        f"{without:,} of {len(labels):,} training documents have no topic"
        + (f" ({rare:,} only topics under train.min_count)" if rare else "")
        + "; they are learned as examples of text with no topic (remove them if their "
        "topics are merely missing)",
        UserWarning,
        stacklevel=4,
    )


def check_finite(scores: np.ndarray, config: Config) -> None:
    """Stop when the network's scores are not numbers: training diverged (a learning rate far
    too high), and thresholds tuned on NaN would give a model no load accepts."""
    if not np.isfinite(scores).all():
        raise DataError(
            "training diverged: the network's validation scores are not finite numbers "
            f"(train.learning_rate = {config.train.learning_rate:g}); lower the learning "
            "rate, or set it to 0 for the automatic one"
        )


def training_mode(config: Config, labels: Sequence[Sequence[str]]) -> str:
    """The mode asked for, or detected; multi-class mode refuses a document with several."""
    mode = config.train.mode if config.train.mode != "auto" else detect_mode(labels)
    if mode == "multiclass":
        for i, topics in enumerate(labels):
            if len(set(topics)) != 1:
                raise DataError(
                    f"multi-class mode needs exactly one topic per document; document "
                    f"#{i + 1} has {len(set(topics))}. Use --mode multilabel"
                )
    return mode


def validate_training_data(
    texts: Sequence[str], label_sets: Sequence[Sequence[str]]
) -> tuple[list[str], list[tuple[str, ...]], int]:
    """Texts and de-duplicated topic tuples, without empty texts (warned and counted)."""
    if isinstance(texts, str):
        raise TypeError("fit takes a sequence of texts, not a single string")
    if len(texts) != len(label_sets):
        raise DataError(f"{len(texts)} texts but {len(label_sets)} label sets")
    kept_texts: list[str] = []
    kept_labels: list[tuple[str, ...]] = []
    skipped = 0
    for i, (text, labels) in enumerate(zip(texts, label_sets, strict=True)):
        if not isinstance(text, str):
            raise DataError(f"text #{i + 1} is a {type(text).__name__}, not a string")
        if isinstance(labels, str):
            raise DataError(
                f"label set #{i + 1} is a string ({labels!r}); "
                f"give a list of topics, e.g. [{labels!r}]"
            )
        if not text.strip():
            skipped += 1
            continue
        kept_texts.append(text)
        kept_labels.append(tuple(dict.fromkeys(labels)))
    if skipped:
        warnings.warn(f"{skipped} empty document(s) skipped in training", UserWarning, stacklevel=4)
    return kept_texts, kept_labels, skipped


def vectorize(
    config: Config, data: Prepared, progress: Progress, analyzer: Analyzer | None = None
) -> Vectors:
    """Fit the network's featurizer on the training rows and transform every document
    (analysed by `analyzer`, chosen for the corpus; by default it finds the languages)."""
    kind = network_kind(config.network.type)
    featurizer = make_featurizer(config.text, config.features, kind.featurizer)
    if analyzer is not None:
        featurizer.use_analyzer(analyzer)
    progress.start("vectorizing", len(data.texts))
    choice: dict[str, float] = {}
    if isinstance(featurizer, TfidfFeaturizer):
        keep = char_ngram_choice(config, data, choice, progress)
        x_all = featurizer.fit_transform(data.texts, data.train_idx, keep)
    else:
        x_all = featurizer.fit_transform(data.texts, data.train_idx)
    if not choice:  # else the choice's own step is under way (see char_ngram_choice)
        progress.advance(len(data.texts))
    progress.finish()
    return Vectors(featurizer, x_all, choice)


def char_ngram_choice(
    config: Config, data: Prepared, record: dict[str, float], progress: Progress
) -> CharChoice | None:
    """Keep character n-grams ("auto", short texts) when the linear model scores better with
    them on the validation rows: the mean of micro-F1 and macro-F1 (over the topics seen
    there, as early stopping), under thresholds tuned there. The scores go in `record`.
    Deciding ends the vectorizing step under way and starts its own (two SVM fits); the
    caller finishes it.

    On held-out fifths of Reuters training documents cut short (scripts/
    benchmark_short_texts.py; train on four fifths, score the fifth), where kept, character
    n-grams moved micro/macro-F1 by -0.0015/+0.033 and +0.0032/+0.0065 on titles (45
    characters on average), +0.0144/+0.030 and +0.0077/-0.0048 on the first 30 words (165);
    the first fifth of each declined them (forced on, that fifth of the 30 words lost 0.0045
    micro-F1). On the first 50 words (258 characters) they were kept on all three and came out
    level (micro +0.001, macro -0.002 on average) at 3-4 times the training time, hence the
    bound SHORT_TEXT_CHARS below which they are tried.
    """
    if config.features.char_ngrams != "auto" or not len(data.val_idx):
        return None  # on: kept; off: never made; no validation rows: kept for short texts
    tune = threshold_tuner(config, data.multiclass)

    def keep(words: Any, both: Any) -> bool:
        progress.advance(len(data.texts))
        progress.finish()
        progress.start("character n-grams or not: the linear model on validation", 2)
        record["words"] = linear_validation_f1(config, words, data, tune)
        progress.advance(1)
        record["words and characters"] = linear_validation_f1(config, both, data, tune)
        progress.advance(1)
        return record["words and characters"] > record["words"]

    return keep


def linear_validation_f1(config: Config, x: Any, data: Prepared, tune: Tuner) -> float:
    """The mean of micro- and macro-F1 (topics seen) on validation rows of the linear model
    fitted on the training rows of `x`, calibrated and thresholded on validation."""
    train, val = data.train_idx, data.val_idx
    coef, intercept = fit_linear(x[train], data.y[train], config.blend.svm_c)
    margins = np.asarray(x[val] @ coef.T, dtype=np.float32) + intercept
    y_val = data.y[val]
    slope, offset = calibrate(margins, y_val)
    scores = LinearBlend(coef, intercept, slope, offset, 1.0, data.multiclass).calibrated(margins)
    return round(validation_f1(y_val, scores, tune), 4)


def threshold_tuner(config: Config, multiclass: bool, keep: ThresholdPolicy | None = None) -> Tuner:
    """The threshold tuning the configuration asks for, as a function of (truth, scores);
    `keep`: the policy of a model tuned again (`tune_policy`)."""
    th = config.thresholds
    return functools.partial(
        tune_policy,
        strategy=th.strategy,
        fixed_value=th.value,
        shrinkage=th.shrinkage,
        fallback=th.fallback,
        top_k=th.top_k,
        multiclass=multiclass,
        keep=keep,
    )


def stack_inputs(config: Config, x_all: Any, data: Prepared, progress: Progress) -> Stack:
    """The linear model and logits a stacked network learns on.

    A training row's margins come from SVMs fitted on the other folds: the SVM fitted on
    a row fits it almost perfectly, and a network shown those margins would learn to trust
    them more than they deserve on new documents. Validation rows get the mean of the fold
    models, which did not see them either, as new documents will (one SVM fit fewer than
    fitting the training rows again). One sigmoid, fitted on the training rows'
    out-of-fold margins (far more than validation holds), turns margins into logits. The
    linear model kept is fitted after the network, in `fit_model`.
    """
    # One step per SVM fit (11 s in all on ModApte).
    progress.start(f"linear model for stacking ({STACK_FOLDS} folds)", STACK_FOLDS)
    train, val = data.train_idx, data.val_idx
    margins = np.zeros(data.y.shape, dtype=np.float32)
    margins[train], coef, intercept = cross_fit(
        x_all[train],
        data.y[train],
        config.blend.svm_c,
        STACK_FOLDS,
        config.train.seed,
        progress.advance,
        groups=data.groups[train],
    )
    margins[val] = np.asarray(x_all[val] @ coef.T, dtype=np.float32) + intercept
    slope, offset = calibrate(margins[train], data.y[train])
    logits = (slope * margins + offset).astype(np.float32)
    progress.finish()
    return Stack(coef, intercept, slope, offset, margins, logits)


def fit_blend(
    config: Config,
    data: Prepared,
    vectors: Vectors,
    network_val: np.ndarray,
    tune: Tuner,
    progress: Progress,
    stack: Stack | None = None,
) -> Blended:
    """The linear model on TF-IDF features, calibrated and weighted on validation against the
    network's validation scores. With `stack`, the linear model is the stack's, already
    fitted: its validation margins come from fold models that did not see those rows."""
    if config.blend.linear == "off":
        return Blended(None, None, None, network_val, {})
    progress.start("linear model")
    linear_featurizer = None
    if isinstance(vectors.featurizer, TfidfFeaturizer):
        x_linear = vectors.x
    else:  # an embedding network: the linear model gets TF-IDF features of its own
        linear_featurizer = TfidfFeaturizer(config.text, config.features)
        linear_featurizer.use_analyzer(vectors.featurizer.analyzer)  # the same rules
        choice: dict[str, float] = {}
        keep = char_ngram_choice(config, data, choice, NullProgress())
        x_linear = linear_featurizer.fit_transform(data.texts, data.train_idx, keep)
    train, val = data.train_idx, data.val_idx
    y_val = data.y[val]
    if stack is None:
        coef, intercept = fit_linear(x_linear[train], data.y[train], config.blend.svm_c)
        margins = np.asarray(x_linear[val] @ coef.T, dtype=np.float32) + intercept
    else:
        coef, intercept, margins = stack.coef, stack.intercept, stack.margins[val]
    slope, offset = calibrate(margins, y_val)
    blend = LinearBlend(coef, intercept, slope, offset, config.blend.weight, data.multiclass)
    info: dict[str, Any] = {"svm_c": config.blend.svm_c, "calibration": [slope, offset]}
    if linear_featurizer is not None and choice:
        info["char_ngram_choice"] = choice
    linear_val = blend.calibrated(margins)
    if config.blend.linear == "auto" and slope == 0.0:
        blend.weight = 0.0  # ranks worse than chance on validation: nothing to add
    elif config.blend.linear == "auto":
        blend.weight, by_weight = choose_weight(network_val, linear_val, y_val, tune)
        info["validation_micro_f1_by_weight"] = {str(w): round(f, 4) for w, f in by_weight.items()}
    info["linear_weight"] = blend.weight
    progress.advance(1)
    progress.finish()
    return Blended(blend, linear_featurizer, x_linear, blend.mix(network_val, linear_val), info)


def retune(
    config: Config, policy: ThresholdPolicy, y: np.ndarray, scores: np.ndarray
) -> ThresholdPolicy:
    """Thresholds tuned anew on labelled scores (e.g. a validation corpus), by the model's
    own threshold settings; a multi-class model's argmax has nothing to tune. Topics with
    no document there keep their thresholds (`tune_policy`'s `keep`)."""
    if policy.multiclass:
        return policy
    return threshold_tuner(config, False, policy)(y, scores)


def threshold_curve(
    y_val: np.ndarray, scores: np.ndarray, policy: ThresholdPolicy
) -> dict[str, list[float]]:
    """Validation micro-F1 at one global threshold from 0.02 to 0.98 (for reports)."""
    grid = np.round(np.linspace(0.02, 0.98, 49), 3)
    curve = [
        micro_f1(y_val, apply_thresholds(scores, float(t), fallback=policy.fallback)) for t in grid
    ]
    return {"thresholds": grid.tolist(), "micro_f1": [round(v, 4) for v in curve]}
