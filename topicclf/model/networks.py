"""Keras network builders: pure functions of explicit sizes returning uncompiled models.

Sizes have no defaults here: they come from `NetworkConfig`, the one place defaults live.

TensorFlow is imported only through `keras_module()`, which first quiets its start-up noise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: TensorFlow's C++ start-up logs bypass Python.

    While it points there, Python's own `sys.stderr` (progress, warnings), when it is the
    terminal's descriptor 2, writes to a copy of the real descriptor instead: the import
    may run in a background thread while the main thread reports progress.
    """
    python_stderr = sys.stderr  # None when the process started with descriptor 2 closed
    try:
        if python_stderr is not None:
            python_stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to hide
        yield
        return
    visible = None
    try:
        if python_stderr.fileno() == 2:
            visible = os.fdopen(
                os.dup(saved),
                "w",
                buffering=1,
                encoding=python_stderr.encoding,
                errors=python_stderr.errors,
            )
    except (OSError, ValueError, AttributeError):  # a capture object with no descriptor
        visible = None
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if visible is not None:
            sys.stderr = visible
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        if visible is not None:
            if sys.stderr is visible:
                sys.stderr = python_stderr
            # Flushed, not closed: a handler made during the import (TensorFlow's logger)
            # may hold it, and it still writes to the real stderr.
            visible.flush()
        os.close(saved)
        os.close(devnull)


_LOADER: threading.Thread | None = None
_LOAD_FAILED: list[BaseException] = []


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import logging

    with _stderr_silenced():
        import keras
        import tensorflow  # noqa: F401 - imported here so its C++ logs are silenced
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras


def start_loading_keras() -> None:
    """Begin importing Keras in a background thread; `keras_module()` waits for it.

    The import takes 5-10 s of mostly Python work. Started before work that releases the
    GIL (liblinear's SVM fits), the two share the machine's cores instead of taking turns.
    """
    global _LOADER
    if _LOADER is not None or "keras" in sys.modules:
        return

    def load() -> None:
        try:
            _import_keras()
        except BaseException as exc:  # re-raised where Keras is needed, in the caller's thread
            _LOAD_FAILED.append(exc)

    _LOADER = threading.Thread(target=load, name="topicclf-keras-import", daemon=True)
    _LOADER.start()


def keras_loaded() -> bool:
    """True when Keras is imported and ready (not still importing in the background)."""
    return "keras" in sys.modules and (_LOADER is None or not _LOADER.is_alive())


def keras_module() -> Any:
    """Import Keras (TensorFlow backend) without TensorFlow's start-up noise on the terminal."""
    if _LOADER is not None:
        # "keras" is in sys.modules, half-initialised, while the background import runs.
        _LOADER.join()
        if _LOAD_FAILED:
            raise _LOAD_FAILED[0]
    if "keras" in sys.modules:
        return sys.modules["keras"]
    return _import_keras()


def set_seed(seed: int) -> None:
    """Seed Python, numpy and TensorFlow, and ask TensorFlow for deterministic kernels."""
    keras = keras_module()
    keras.utils.set_random_seed(seed)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


_ADAM: Any = None


def adam(learning_rate: float) -> Any:
    """Adam whose update runs as TensorFlow's one fused kernel instead of Keras's ops.

    Keras 3 writes Adam's update as about ten whole-array operations per variable. On a
    20,000x256 first layer a training step at batches of 128 took 46-51 ms with them and
    29-37 ms fused (2 cores; forward and backward alone 15 ms). Row-sliced gradients (the
    first layer's on sparse input, an embedding's) are summed into the whole gradient
    first, so every row's moments decay each step as Adam defines; Keras's own Adam gives
    the same on distinct rows but squares an embedding's repeated rows one by one.
    """
    global _ADAM
    if _ADAM is None:
        keras = keras_module()
        import tensorflow as tf

        class FusedAdam(keras.optimizers.Adam):  # type: ignore[misc, name-defined]
            def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
                handle = getattr(variable, "handle", None)
                if handle is None or self.amsgrad:
                    super().update_step(gradient, variable, learning_rate)
                    return
                gradient = tf.convert_to_tensor(gradient)  # row slices summed, see above
                dtype = variable.dtype
                step = tf.cast(self.iterations + 1, dtype)
                beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
                index = self._get_variable_index(variable)
                tf.raw_ops.ResourceApplyAdam(
                    var=handle,
                    m=self._momentums[index].handle,
                    v=self._velocities[index].handle,
                    beta1_power=tf.pow(beta_1, step),
                    beta2_power=tf.pow(beta_2, step),
                    lr=tf.cast(learning_rate, dtype),
                    beta1=beta_1,
                    beta2=beta_2,
                    epsilon=tf.cast(self.epsilon, dtype),
                    grad=tf.cast(gradient, dtype),
                )

        _ADAM = FusedAdam
    return _ADAM(learning_rate=learning_rate)


def output_activation(multiclass: bool) -> str:
    """Softmax for exactly-one-topic data, independent sigmoids for multi-label data."""
    return "softmax" if multiclass else "sigmoid"


def build_dense_network(
    n_features: int,
    n_labels: int,
    *,
    hidden_units: Sequence[int],
    dropout: float,
    multiclass: bool,
    wide: bool,
    sparse: bool = True,
    linear_logits: bool = False,
) -> Any:
    """A feed-forward network on (sparse) TF-IDF vectors with one output unit per topic.

    With `wide`, a linear path from the TF-IDF features straight to the topic logits runs
    beside the hidden layers (wide-and-deep): rare topics with a few telling words can be
    learned directly, while the hidden layers model word combinations.

    With `linear_logits`, a second input holds a linear model's calibrated logits, added to
    the network's own before the output activation: the hidden layers learn what the linear
    model misses (stacking). Once trained it is stored as a wide network whose wide path is
    that linear model.
    """
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input(shape=(n_features,), sparse=sparse, name="tfidf")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    activation = output_activation(multiclass)
    if not wide and not linear_logits:
        outputs = layers.Dense(n_labels, activation=activation, name="topics")(x)
        return keras.Model(inputs, outputs, name="dense_topics")
    deep = layers.Dense(n_labels, name="topics")(x)
    if linear_logits:
        given = keras.Input(shape=(n_labels,), name="linear_logits")
        logits = layers.Add(name="logits")([deep, given])
        outputs = layers.Activation(activation, name="scores")(logits)
        return keras.Model([inputs, given], outputs, name="stacked_dense_topics")
    linear = layers.Dense(n_labels, use_bias=False, name="wide")(inputs)
    logits = layers.Add(name="logits")([deep, linear])
    outputs = layers.Activation(activation, name="scores")(logits)
    return keras.Model(inputs, outputs, name="wide_dense_topics")


def build_embedding_network(
    vocabulary_size: int,
    sequence_length: int,
    n_labels: int,
    *,
    embedding_dim: int,
    conv_filters: int,
    kernel_size: int,
    hidden_units: Sequence[int],
    dropout: float,
    multiclass: bool,
) -> Any:
    """Embedding -> masked mean pooling (or Conv1D -> max pooling) -> dense layers -> topics.

    Id 0 is padding: without a convolution the embedding masks it, so the mean over a short
    document is not pulled towards the padding vector; with one, max pooling over the
    convolution's features makes padding harmless.
    """
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    x = layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=not conv_filters, name="embedding"
    )(inputs)
    if conv_filters:
        x = layers.Conv1D(
            conv_filters, kernel_size, padding="same", activation="relu", name="conv"
        )(x)
        h = layers.GlobalMaxPooling1D(name="pooling")(x)
    else:
        h = layers.GlobalAveragePooling1D(name="pooling")(x)
    for i, units in enumerate(hidden_units):
        if dropout:
            h = layers.Dropout(dropout, name=f"dropout_{i}")(h)
        h = layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
    if dropout:
        h = layers.Dropout(dropout, name="dropout_out")(h)
    outputs = layers.Dense(n_labels, activation=output_activation(multiclass), name="topics")(h)
    return keras.Model(inputs, outputs, name="embedding_topics")


def init_output_bias(model: Any, y: np.ndarray, multiclass: bool) -> None:
    """Start each output at its topic's base rate instead of 0.5.

    With many rare topics, a network starting at 0.5 spends its first epochs only learning
    that most topics are absent; starting from the log-odds of the training frequencies
    skips that and keeps rare topics from being pushed to zero before their words are learned.
    """
    rate = np.clip(y.mean(axis=0), 1e-4, 1 - 1e-4)
    bias = np.log(rate) if multiclass else np.log(rate / (1 - rate))
    model.get_layer("topics").bias.assign(bias.astype(np.float32))


def loss_function(keras: Any, y: np.ndarray, multiclass: bool, weighting: str) -> Any:
    """Cross-entropy; with 'sqrt' weighting, a topic's positives weigh sqrt(negatives/positives).

    Rare topics otherwise contribute so little to the loss that early stopping, driven by the
    frequent ones, ends training before they are learned. 'sqrt' is the default: on held-out
    fifths of Reuters training data (full texts, titles only, a 1,000-document sample) it
    raised macro-F1 by 0.016 on average (0.019 on the full texts) with micro-F1 level.
    """
    if multiclass:
        return "categorical_crossentropy"
    if weighting == "none":
        return "binary_crossentropy"
    pos = np.maximum(y.sum(axis=0), 1.0)
    weights = np.clip(np.sqrt((y.shape[0] - pos) / pos), 1.0, None).astype(np.float32)
    ops = keras.ops
    pos_weight = ops.convert_to_tensor(weights)

    def weighted_binary_crossentropy(y_true: Any, y_pred: Any) -> Any:
        p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        terms = pos_weight * y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p)
        return -ops.mean(terms, axis=-1)

    return weighted_binary_crossentropy
