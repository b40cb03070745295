"""The fit pipeline as small named steps: check and encode the data, split off validation,
vectorize, train the network with early stopping, blend a linear model, tune thresholds, refit.

`fit_model` runs the steps in order and returns a `Fitted` model; each step is a function of
explicit inputs, so it can be read, tested and reused (e.g. by `optimize`) on its own.
"""

from __future__ import annotations

import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.blend import LinearBlend, calibrate, choose_weight, fit_linear
from topicclf.config import (
    AUTO_BATCH_MAX,
    AUTO_BATCH_MIN,
    AUTO_BATCH_STEPS,
    AUTO_LEARNING_RATE,
    Config,
)
from topicclf.errors import DataError
from topicclf.features import Featurizer, TfidfFeaturizer, make_featurizer
from topicclf.inference import Scorer, scores_now
from topicclf.labels import LabelEncoder, detect_mode, split_indices
from topicclf.metrics import EvaluationReport, evaluate, micro_f1
from topicclf.networks import (
    build_dense_network,
    build_embedding_network,
    init_output_bias,
    keras_module,
    loss_function,
    set_seed,
)
from topicclf.thresholds import ThresholdPolicy, apply, apply_thresholds, tune_policy
from topicclf.types import NullProgress, Progress

Tuner = Callable[[np.ndarray, np.ndarray], ThresholdPolicy]


@dataclass
class Fitted:
    """What training produces: topics, mode, the scoring parts, thresholds and a record."""

    classes: list[str]
    mode: str
    scorer: Scorer
    policy: ThresholdPolicy
    validation: EvaluationReport
    info: dict[str, Any]


@dataclass
class Prepared:
    """Training data checked, encoded and split: the rows of `y` follow `texts`."""

    texts: list[str]
    y: np.ndarray
    classes: list[str]
    mode: str
    train_idx: np.ndarray
    val_idx: np.ndarray
    skipped: int
    dropped: dict[str, int]

    @property
    def multiclass(self) -> bool:
        """True in multi-class (exactly one topic) mode."""
        return self.mode == "multiclass"


def fit_model(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Fitted:
    """Learn features, network, blend and thresholds from texts and their topic sets."""
    progress = progress or NullProgress()
    started = time.perf_counter()
    data = prepare(config, texts, label_sets)
    featurizer, x_all = vectorize(config, data, progress)
    tune = threshold_tuner(config, data.multiclass)
    x_val, y_val = x_all[data.val_idx], data.y[data.val_idx]
    if "keras" not in sys.modules:  # its import takes seconds: say so instead of going quiet
        progress.start("loading TensorFlow")
        keras_module()
        progress.advance(1)
        progress.finish()
    network, epochs_run, best_epoch = train_network(config, featurizer, x_all, data, tune, progress)
    val_scores = scores_now(network, x_val, data.multiclass)
    blend, linear_featurizer, x_linear, blend_info = fit_blend(
        config, featurizer, x_all, data, val_scores, tune, progress
    )
    if blend is not None:
        val_scores = blend.blend(val_scores, x_linear[data.val_idx])
    policy = tune(y_val, val_scores)
    refit = config.train.refit and best_epoch > 0
    continued = 0
    if refit:
        # Thresholds stay those tuned on validation; the network and the linear model learn
        # the validation documents too.
        network, continued = refit_network(
            config, featurizer, network, x_all, data, best_epoch, progress
        )
        if blend is not None and blend.weight > 0:
            blend.coef, blend.intercept = fit_linear(x_linear, data.y, config.blend.svm_c)
    validation = evaluate(y_val, apply(val_scores, policy), data.classes)
    batch, rate = schedule(config, len(data.train_idx))
    info = {
        "blend": blend_info,
        "documents": len(data.texts),
        "train_documents": len(data.train_idx),
        "validation_documents": len(data.val_idx),
        "skipped_empty_documents": data.skipped,
        "dropped_topics": data.dropped,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "refit_on_all_documents": bool(refit),
        "refit_epochs": continued,
        "batch_size": batch,
        "learning_rate": round(rate, 6),
        "seconds": round(time.perf_counter() - started, 2),
        "threshold_curve": threshold_curve(y_val, val_scores, policy),
    }
    scorer = Scorer(featurizer, network, blend, linear_featurizer)
    return Fitted(data.classes, data.mode, scorer, policy, validation, info)


def prepare(config: Config, texts: Sequence[str], label_sets: Sequence[Sequence[str]]) -> Prepared:
    """Check the data, pick the mode, encode topics and split off the validation rows."""
    kept, labels, skipped = validate_training_data(texts, label_sets)
    unlabelled = sum(not topics for topics in labels)
    if unlabelled and any(labels):
        warnings.warn(
            f"{unlabelled} of {len(labels)} training documents have no topic; they are "
            "learned as examples of text with no topic (remove them if their topics are "
            "merely missing)",
            UserWarning,
            stacklevel=3,
        )
    mode = config.train.mode if config.train.mode != "auto" else detect_mode(labels)
    if mode == "multiclass":
        for i, topics in enumerate(labels):
            if len(set(topics)) != 1:
                raise DataError(
                    f"multi-class mode needs exactly one topic per document; document "
                    f"#{i + 1} has {len(set(topics))}. Use --mode multilabel"
                )
    encoder = LabelEncoder(min_count=config.train.min_count).fit(labels)
    y = encoder.transform(labels).y
    if mode == "multiclass":
        # A document whose only topic fell below min_count has no class left to learn.
        keep = np.flatnonzero(y.sum(axis=1) > 0)
        y, kept = y[keep], [kept[i] for i in keep]
    train_idx, val_idx = split_indices(y, config.train.validation_split, config.train.seed)
    assert encoder.classes_ is not None
    return Prepared(
        kept, y, encoder.classes_, mode, train_idx, val_idx, skipped, dict(encoder.dropped_)
    )


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


def vectorize(config: Config, data: Prepared, progress: Progress) -> tuple[Featurizer, Any]:
    """Fit the network's featurizer on the training rows and transform every document."""
    featurizer = make_featurizer(config.text, config.features, config.network.type)
    progress.start("vectorizing", len(data.texts))
    featurizer.fit([data.texts[i] for i in data.train_idx])
    x_all = featurizer.transform(data.texts)
    progress.advance(len(data.texts))
    progress.finish()
    return featurizer, x_all


def threshold_tuner(config: Config, multiclass: bool) -> Tuner:
    """The threshold tuning the configuration asks for, as a function of (truth, scores)."""
    th = config.thresholds
    return functools.partial(
        tune_policy,
        strategy=th.strategy,
        fixed_value=th.value,
        shrinkage=th.shrinkage,
        fallback=th.fallback,
        top_k=th.top_k,
        multiclass=multiclass,
    )


def train_network(
    config: Config,
    featurizer: Featurizer,
    x_all: Any,
    data: Prepared,
    tune: Tuner,
    progress: Progress,
) -> tuple[Any, int, int]:
    """Train on the training rows with early stopping on validation: (network, epochs run,
    best epoch; 0 when no epoch was measured)."""
    keras = keras_module()
    train, val = data.train_idx, data.val_idx
    x_val, y_val = x_all[val], data.y[val]
    model = new_network(config, featurizer, data.y[train], data.multiclass)
    callbacks = [_progress_callback(keras, progress, config.train.epochs)]
    validation_data = None
    if config.train.stop_on == "f1":
        # Keras's own validation pass would only add a loss nobody stops on, at the cost of
        # a data pipeline per epoch.
        monitor, direction = "val_f1", "max"
        callbacks.insert(0, _validation_f1_callback(keras, x_val, y_val, tune, data.multiclass))
    else:
        monitor, direction = "val_loss", "min"
        validation_data = (x_val, y_val)
    stopping = keras.callbacks.EarlyStopping(
        monitor=monitor, mode=direction, patience=config.train.patience, restore_best_weights=True
    )
    callbacks.insert(-1, stopping)
    history = model.fit(
        _fit_input(x_all[train]),
        data.y[train],
        validation_data=validation_data,
        batch_size=schedule(config, len(train))[0],
        epochs=config.train.epochs,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    values = history.history.get(monitor, [])
    if not values:
        return model, 0, 0
    best = int(np.argmax(values) if direction == "max" else np.argmin(values)) + 1
    return model, len(values), best


def refit_epochs(best_epoch: int, validation_split: float) -> int:
    """Epochs on every document that continue a dense network early-stopped at `best_epoch`.

    The network has learned the training rows; the held-out rows are what it has not seen.
    Continuing for the share of training that holding them out took away (at least one
    epoch) teaches it them at a fraction of the cost of a fresh network on all documents.
    """
    return max(1, math.ceil(best_epoch * validation_split))


def refit_network(
    config: Config,
    featurizer: Featurizer,
    network: Any,
    x_all: Any,
    data: Prepared,
    best_epoch: int,
    progress: Progress,
) -> tuple[Any, int]:
    """The network trained on every document: (network, epochs run).

    A dense network continues from its early-stopped weights; an embedding network starts
    afresh for `best_epoch` epochs. Measured on three held-out fifths of Reuters training
    data, continuing was level with a fresh start for the dense network (micro-F1 within
    0.002) but cost the embedding network 0.001 to 0.005 macro-F1 on every one.
    """
    keras = keras_module()
    if config.network.type == "embedding":
        network, epochs = new_network(config, featurizer, data.y, data.multiclass), best_epoch
    else:
        epochs = refit_epochs(best_epoch, config.train.validation_split)
    network.fit(
        _fit_input(x_all),
        data.y,
        batch_size=schedule(config, len(data.train_idx))[0],  # the batches it was trained with
        epochs=epochs,
        shuffle=True,
        callbacks=[_progress_callback(keras, progress, epochs, "refit")],
        verbose=0,
    )
    return network, epochs


def fit_blend(
    config: Config,
    featurizer: Featurizer,
    x_all: Any,
    data: Prepared,
    network_val: np.ndarray,
    tune: Tuner,
    progress: Progress,
) -> tuple[LinearBlend | None, TfidfFeaturizer | None, Any, dict[str, Any]]:
    """The linear model on TF-IDF features, calibrated and weighted on validation:
    (blend, its own featurizer or None, its features of every document, a record)."""
    if config.blend.linear == "off":
        return None, None, None, {}
    progress.start("linear model")
    linear_featurizer = None
    if isinstance(featurizer, TfidfFeaturizer):
        x_linear = x_all
    else:  # an embedding network: the linear model gets TF-IDF features of its own
        linear_featurizer = TfidfFeaturizer(config.text, config.features)
        linear_featurizer.fit([data.texts[i] for i in data.train_idx])
        x_linear = linear_featurizer.transform(data.texts)
    train, val = data.train_idx, data.val_idx
    y_val = data.y[val]
    coef, intercept = fit_linear(x_linear[train], data.y[train], config.blend.svm_c)
    margins = np.asarray(x_linear[val] @ coef.T) + intercept
    slope, offset = calibrate(margins, y_val)
    blend = LinearBlend(coef, intercept, slope, offset, config.blend.weight, data.multiclass)
    info: dict[str, Any] = {"svm_c": config.blend.svm_c, "calibration": [slope, offset]}
    if config.blend.linear == "auto":
        linear_val = blend.scores(x_linear[val])
        blend.weight, by_weight = choose_weight(network_val, linear_val, y_val, tune)
        info["validation_micro_f1_by_weight"] = {str(w): round(f, 4) for w, f in by_weight.items()}
    info["linear_weight"] = blend.weight
    progress.advance(1)
    progress.finish()
    return blend, linear_featurizer, x_linear, info


def retune(
    config: Config, policy: ThresholdPolicy, y: np.ndarray, scores: np.ndarray
) -> ThresholdPolicy:
    """Thresholds tuned anew on labelled scores (e.g. a validation corpus), by the model's
    own threshold settings; a multi-class model's argmax has nothing to tune."""
    if policy.multiclass:
        return policy
    if not (y > 0).any():
        raise DataError("the tuning corpus has none of the model's topics; nothing to tune on")
    return threshold_tuner(config, False)(y, scores)


def threshold_curve(
    y_val: np.ndarray, scores: np.ndarray, policy: ThresholdPolicy
) -> dict[str, list[float]]:
    """Validation micro-F1 at one global threshold from 0.02 to 0.98 (for reports)."""
    grid = np.round(np.linspace(0.02, 0.98, 49), 3)
    curve = [
        micro_f1(y_val, apply_thresholds(scores, float(t), fallback=policy.fallback)) for t in grid
    ]
    return {"thresholds": grid.tolist(), "micro_f1": [round(v, 4) for v in curve]}


def schedule(config: Config, n_train: int) -> tuple[int, float]:
    """(batch size, Adam learning rate) for training on `n_train` documents: the configured
    values, or where they are 0, batches that grow with the corpus and steps with the batch."""
    batch = config.train.batch_size
    if not batch:
        batch = AUTO_BATCH_MIN
        # Grown for dense networks only: their step costs nearly the same at any batch size
        # (Adam updates the whole first layer). An embedding network lost 0.03-0.04 macro-F1
        # on ModApte test (two seeds) with batches of 128, so it keeps 64.
        while (
            config.network.type == "dense"
            and batch < AUTO_BATCH_MAX
            and n_train / (2 * batch) >= AUTO_BATCH_STEPS
        ):
            batch *= 2
    rate = config.train.learning_rate
    if not rate:
        rate = AUTO_LEARNING_RATE[config.network.type] * math.sqrt(batch / AUTO_BATCH_MIN)
    return batch, rate


def new_network(config: Config, featurizer: Featurizer, y: np.ndarray, multiclass: bool) -> Any:
    """A freshly seeded, compiled network with output biases at the base rates of y."""
    set_seed(config.train.seed)
    model = build_network(config, featurizer, y.shape[1], multiclass)
    init_output_bias(model, y, multiclass)
    keras = keras_module()
    _, rate = schedule(config, y.shape[0])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate),
        loss=loss_function(keras, y, multiclass, config.train.positive_weight),
    )
    return model


def build_network(config: Config, featurizer: Featurizer, n_labels: int, multiclass: bool) -> Any:
    """The configured network for these features, uncompiled."""
    net = config.network
    if net.type == "embedding":
        length = getattr(featurizer, "sequence_length_", None)
        assert length is not None, "the sequence featurizer is fitted first"
        return build_embedding_network(
            featurizer.n_features,
            length,
            n_labels,
            embedding_dim=net.embedding_dim,
            conv_filters=net.conv_filters,
            kernel_size=net.kernel_size,
            hidden_units=net.hidden_units,
            dropout=net.dropout,
            multiclass=multiclass,
        )
    return build_dense_network(
        featurizer.n_features,
        n_labels,
        hidden_units=net.hidden_units,
        dropout=net.dropout,
        multiclass=multiclass,
        wide=net.wide,
    )


# Below this size a TF-IDF matrix is handed to Keras dense: Keras's per-epoch pipeline for
# sparse input costs more than the multiplications on a small corpus (halves a 40-document fit).
DENSE_FIT_BYTES = 16 << 20


def _fit_input(x: Any) -> Any:
    """`x` as Keras trains fastest on it: small sparse matrices dense, anything else as is."""
    if sp.issparse(x) and x.shape[0] * x.shape[1] * 4 <= DENSE_FIT_BYTES:
        return x.toarray().astype(np.float32, copy=False)
    return x


def _validation_f1_callback(
    keras: Any, x_val: Any, y_val: np.ndarray, tune: Tuner, multiclass: bool
) -> Any:
    class _ValidationF1(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Adds val_f1, the mean of micro- and macro-F1 on validation data under thresholds
        tuned there, so early stopping follows what tagging is judged by, not the loss."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            scores = scores_now(self.model, x_val, multiclass)
            policy = tune(y_val, scores)
            report = evaluate(
                y_val, apply(scores, policy), [str(j) for j in range(scores.shape[1])]
            )
            if logs is not None:
                # Macro over the topics seen in validation: topics absent there say nothing.
                logs["val_f1"] = (report.micro.f1 + report.macro_seen.f1) / 2.0

    return _ValidationF1()


def _progress_callback(keras: Any, progress: Progress, epochs: int, name: str = "epoch") -> Any:
    class _Report(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            progress.start(f"{name} {epoch + 1}/{epochs}", self.params.get("steps"))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            progress.advance(1, loss=float((logs or {}).get("loss", 0.0)))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if logs:
                figures = {k: float(logs[k]) for k in ("val_loss", "val_f1") if k in logs}
                progress.advance(0, **figures)
            progress.finish()

    return _Report()
