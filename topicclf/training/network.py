"""Training the Keras network: building and compiling it, the batch size and step size,
early stopping on validation F1, the refit on every document, and progress per epoch.

`pipeline.fit_model` calls these steps; they know the network, not the rest of the pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.config import (
    AUTO_BATCH_MAX,
    AUTO_BATCH_MIN,
    AUTO_BATCH_STEPS,
    AUTO_LEARNING_RATE,
    Config,
)
from topicclf.errors import ConfigError
from topicclf.features import Featurizer
from topicclf.metrics import evaluate
from topicclf.model.inference import export_dense_weights, import_dense_weights, scores_now
from topicclf.model.networks import (
    adam,
    build_network,
    check_batch_memory,
    init_output_bias,
    keras_module,
    loss_function,
    network_kind,
    set_seed,
)
from topicclf.model.thresholds import apply
from topicclf.training.data import Prepared, Stack, Tuner
from topicclf.types import Progress


def train_network(
    config: Config,
    featurizer: Featurizer,
    x_all: Any,
    data: Prepared,
    tune: Tuner,
    progress: Progress,
    linear_logits: np.ndarray | None = None,
) -> tuple[Any, int, int]:
    """Train on the training rows with early stopping on validation: (network, epochs run,
    best epoch; 0 when no epoch was measured). With `linear_logits` (a row per document),
    the network is stacked on them (see `build_dense_network`)."""
    keras = keras_module()
    train, val = data.train_idx, data.val_idx
    x_val, y_val = x_all[val], data.y[val]
    val_logits = None if linear_logits is None else linear_logits[val]
    batch, rate = schedule(config, len(train))
    # A batch holds at most the rows there are: 64 of 36 documents overstated a small
    # corpus's memory enough to refuse it under `ulimit -v`, where it trains in 3 GB.
    check_batch_memory(config, featurizer, min(batch, len(train)))
    # Building allocates the weights (and their initialisers' temporaries): running out of
    # memory there is explained as in `fit`.
    with out_of_memory_explained(batch):
        model = new_network(
            config, featurizer, data.y[train], data.multiclass, rate, linear_logits is not None
        )
        callbacks = [epoch_progress(keras, progress, config.train.epochs)]
        validation_data = None
        if config.train.stop_on == "f1":
            # Keras's own validation pass would only add a loss nobody stops on, at the cost
            # of a data pipeline per epoch.
            monitor, direction = "val_f1", "max"
            callbacks.insert(
                0, _validation_f1_callback(keras, x_val, y_val, tune, data.multiclass, val_logits)
            )
        else:
            monitor, direction = "val_loss", "min"
            validation_data = (_inputs(x_val, val_logits), y_val)
        stopping = keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=direction,
            patience=config.train.patience,
            restore_best_weights=True,
        )
        callbacks.insert(-1, stopping)
        history = model.fit(
            _inputs(
                _fit_input(x_all[train]), None if linear_logits is None else linear_logits[train]
            ),
            data.y[train],
            validation_data=validation_data,
            batch_size=batch,
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
    linear_logits: np.ndarray | None = None,
) -> tuple[Any, int]:
    """The network trained on every document: (network, epochs run).

    By its kind's refit rule (`NETWORKS`): "continue" trains the early-stopped weights on
    (`refit_epochs`); "fresh" starts a new network for `best_epoch` epochs. Measured on three
    held-out fifths of Reuters training data, continuing was level with a fresh start for
    the dense network (micro-F1 within 0.002) but cost the embedding network 0.001 to 0.005
    macro-F1 on every one.
    """
    keras = keras_module()
    batch, rate = schedule(config, len(data.train_idx))  # as the network was trained
    check_batch_memory(config, featurizer, min(batch, len(data.y)))
    with out_of_memory_explained(batch):
        if network_kind(config.network.type).refit == "fresh":
            network = new_network(config, featurizer, data.y, data.multiclass, rate)
            epochs = best_epoch
        else:  # "continue"
            epochs = refit_epochs(best_epoch, config.train.validation_split)
        network.fit(
            _inputs(_fit_input(x_all), linear_logits),
            data.y,
            batch_size=batch,
            epochs=epochs,
            shuffle=True,
            callbacks=[epoch_progress(keras, progress, epochs, "refit")],
            verbose=0,
        )
    return network, epochs


@contextmanager
def out_of_memory_explained(batch: int | None = None) -> Iterator[None]:
    """TensorFlow's out-of-memory error (ResourceExhaustedError, or numpy's MemoryError)
    while Keras builds or trains a network (in batches of `batch` documents), as a
    ConfigError that says what to lower: the size checks before it (`check_network_size`,
    `check_batch_memory`) are estimates that cannot see every allocation, and an internal
    error says nothing useful. Every place training builds or fits a network runs in it."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ != "ResourceExhaustedError" and not isinstance(exc, MemoryError):
            raise
        batches = "" if batch is None else f" in batches of {batch} documents"
        raise ConfigError(
            f"training ran out of memory building or training the network{batches} "
            f"({type(exc).__name__}); lower network.hidden_units, train.batch_size, "
            "features.sequence_length, network.embedding_dim or features.max_features"
        ) from None


def schedule(config: Config, n_train: int) -> tuple[int, float]:
    """(batch size, Adam learning rate) for training on `n_train` documents: the configured
    values, or where they are 0, batches that grow with the corpus and steps with the batch."""
    batch = config.train.batch_size
    if not batch:
        batch = AUTO_BATCH_MIN
        grow = network_kind(config.network.type).grow_batch  # why, per kind: NETWORKS
        while grow and batch < AUTO_BATCH_MAX and n_train / (2 * batch) >= AUTO_BATCH_STEPS:
            batch *= 2
    rate = config.train.learning_rate
    if not rate:
        rate = AUTO_LEARNING_RATE[config.network.type] * math.sqrt(batch / AUTO_BATCH_MIN)
    return batch, rate


def new_network(
    config: Config,
    featurizer: Featurizer,
    y: np.ndarray,
    multiclass: bool,
    rate: float,
    stacked: bool = False,
) -> Any:
    """A freshly seeded network, compiled with Adam at `rate`, output biases at y's base rates
    (at 0 when stacked: the linear model's logits already carry them)."""
    set_seed(config.train.seed)
    model = build_network(config, featurizer, y.shape[1], multiclass, stacked=stacked)
    if not stacked:
        init_output_bias(model, y, multiclass)
    keras = keras_module()
    model.compile(
        optimizer=adam(rate),
        loss=loss_function(keras, y, multiclass, config.train.positive_weight),
    )
    return model


def stacked_to_wide(
    config: Config,
    featurizer: Featurizer,
    network: Any,
    stack: Stack,
    multiclass: bool,
) -> Any:
    """A trained stacked network as the wide network it is saved as: the stack's linear
    model, under the stack's calibration, becomes the wide path, and its intercepts join
    the output bias."""
    arrays = export_dense_weights(network)
    assert arrays is not None, "a stacked network is a dense one"
    arrays["wide_kernel"] = (stack.slope * stack.coef.T).astype(np.float32)
    bias = arrays["topics_bias"] + stack.slope * stack.intercept + stack.offset
    arrays["topics_bias"] = bias.astype(np.float32)
    with out_of_memory_explained():
        model = build_network(config, featurizer, stack.coef.shape[0], multiclass)
        import_dense_weights(model, arrays)
    return model


def as_loaded(config: Config, featurizer: Featurizer, network: Any, multiclass: bool) -> Any:
    """A trained network as loading a saved model gives it: uncompiled, its weights alone.
    A compiled one holds its optimizer, our FusedAdam, defined on first use: a pickle of a
    fitted embedding model (copy.deepcopy, joblib's workers) could not be loaded back,
    "Could not locate class 'FusedAdam'" (attacker pass 46)."""
    if not getattr(network, "compiled", False):
        return network
    with out_of_memory_explained():
        model = build_network(config, featurizer, network.output_shape[-1], multiclass)
        model.set_weights(network.get_weights())
    return model


# Below this size a TF-IDF matrix is handed to Keras dense: Keras's per-epoch pipeline for
# sparse input costs more than the multiplications on a small corpus (halves a 40-document fit).
DENSE_FIT_BYTES = 16 << 20


def _fit_input(x: Any) -> Any:
    """`x` as Keras trains fastest on it: small sparse matrices dense, anything else as is."""
    if sp.issparse(x) and x.shape[0] * x.shape[1] * 4 <= DENSE_FIT_BYTES:
        return x.toarray().astype(np.float32, copy=False)
    return x


def _inputs(x: Any, linear_logits: np.ndarray | None) -> Any:
    """What the network is fed: the features, and a stacked network the linear logits too."""
    return x if linear_logits is None else (x, linear_logits)


def _validation_f1_callback(
    keras: Any,
    x_val: Any,
    y_val: np.ndarray,
    tune: Tuner,
    multiclass: bool,
    linear_logits: np.ndarray | None,
) -> Any:
    class _ValidationF1(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Adds val_f1, the mean of micro- and macro-F1 on validation data under thresholds
        tuned there, so early stopping follows what tagging is judged by, not the loss."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            scores = scores_now(self.model, x_val, multiclass, linear_logits)
            if logs is not None:
                logs["val_f1"] = validation_f1(y_val, scores, tune)

    return _ValidationF1()


def validation_f1(y_val: np.ndarray, scores: np.ndarray, tune: Tuner) -> float:
    """What training's choices on validation follow (early stopping, character n-grams): the
    mean of micro-F1 and macro-F1 under thresholds tuned on these scores. Macro over the
    topics seen in validation: topics absent there say nothing."""
    chosen = apply(scores, tune(y_val, scores))
    report = evaluate(y_val, chosen, [str(j) for j in range(scores.shape[1])])
    return (report.micro.f1 + report.macro_seen.f1) / 2.0


def epoch_progress(keras: Any, progress: Progress, epochs: int, name: str = "epoch") -> Any:
    """A Keras callback reporting each epoch's batches and figures to `progress`."""

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
