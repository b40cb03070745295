"""The network kinds: Keras builders (pure functions of explicit sizes returning uncompiled
models) and `NETWORKS`, one record per kind with everything else that differs between kinds
(its features, refit and batch rules, search space, description). A new kind is one record
here plus its name and step size in `config` (NETWORK_TYPES, AUTO_LEARNING_RATE).

Sizes have no defaults here: they come from `NetworkConfig`, the one place defaults live.

TensorFlow is imported only through `keras_module()`, which first quiets its start-up noise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from topicclf.errors import ConfigError, NotFittedError
from topicclf.machine import memory_limit

if TYPE_CHECKING:
    from topicclf.config import Config
    from topicclf.features import Featurizer


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
            # may hold it, and it still writes to the real stderr. A stderr that cannot be
            # written (2>/dev/full) loses its lines, never the training.
            with contextlib.suppress(OSError):
                visible.flush()
        os.close(saved)
        os.close(devnull)


_LOADER: threading.Thread | None = None
_LOAD_FAILED: list[BaseException] = []


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # topicclf's networks are TensorFlow's (its Adam, its out-of-memory error), whatever
    # backend the environment names for other programs (KERAS_BACKEND=jax is common).
    chosen = os.environ.get("KERAS_BACKEND", "tensorflow")
    if chosen != "tensorflow":
        warnings.warn(
            f"KERAS_BACKEND={chosen} is set; topicclf uses Keras's tensorflow backend",
            UserWarning,
            stacklevel=2,
        )
    os.environ["KERAS_BACKEND"] = "tensorflow"
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
    """Import Keras (TensorFlow backend) without TensorFlow's start-up noise on the terminal;
    a ConfigError when Keras was already imported with another backend."""
    if _LOADER is not None:
        # "keras" is in sys.modules, half-initialised, while the background import runs.
        _LOADER.join()
        if _LOAD_FAILED:
            raise _LOAD_FAILED[0]
    if "keras" in sys.modules:
        return _tensorflow_backed(sys.modules["keras"])
    return _import_keras()


def _tensorflow_backed(keras: Any) -> Any:
    """Keras as imported before topicclf asked for it, refused unless its backend is
    TensorFlow's: a backend is chosen once per process, at Keras's import."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ConfigError(
            f"Keras was imported with its {backend} backend (KERAS_BACKEND="
            f"{os.environ.get('KERAS_BACKEND', backend)}) before topicclf needed it; topicclf "
            "needs Keras's tensorflow backend: set KERAS_BACKEND=tensorflow (or unset it) "
            "before keras is imported"
        )
    return keras


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


def build_rescorer(n_features: int, *, hidden_units: Sequence[int], dropout: float) -> Any:
    """The shortlist network's rescorer: a candidate's features -> dense ReLU layers -> the
    probability that the candidate is one of the document's topics (see `model.shortlist`)."""
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input(shape=(n_features,), name="candidate")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="candidate_probability")(x)
    return keras.Model(inputs, outputs, name="shortlist_rescorer")


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


# -- the network kinds -----------------------------------------------------------------------
def _chain_parameters(n_in: int, hidden_units: Sequence[int], n_out: int) -> int:
    """Weights and biases of dense layers n_in -> hidden_units... -> n_out."""
    sizes = [n_in, *hidden_units, n_out]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def check_network_size(parameters: int, what: str) -> None:
    """Refuse a network before Keras allocates it when it could not be trained here or saved:
    training holds four float32 copies of every weight (weights, gradients, Adam's two
    moments), compared with the memory this process may use (`machine.memory_limit`: RAM,
    `ulimit -v`, cgroup), and a saved network larger than the model-file limit would never
    load."""
    from topicclf.config import MODEL_NETWORK_MAX_BYTES

    weights = parameters * 4
    memory, says = memory_limit()
    if weights > MODEL_NETWORK_MAX_BYTES or (memory and 4 * weights > memory):
        limit = (
            f"a saved network may hold at most {MODEL_NETWORK_MAX_BYTES / 1024**3:.0f} GiB"
            if weights > MODEL_NETWORK_MAX_BYTES
            else f"training it needs about {4 * weights / 1024**3:,.1f} GiB; {says}"
        )
        raise ConfigError(
            f"the network would have {parameters:,} weights ({what}); {limit}. Lower "
            "network.hidden_units, network.embedding_dim or features.max_features"
        )


# Float32 copies of a batch's per-position activations that training holds at once: the
# forward values, their gradients in the backward pass, and one temporary (a masked or
# activated copy).
ACTIVATION_COPIES = 3


def check_batch_memory(config: Config, featurizer: Featurizer, batch: int) -> None:
    """Refuse, before Keras allocates anything, an embedding network whose training batch
    alone would not fit in the memory this process may use: the embedding's output is batch x
    sequence length x embedding_dim floats (and a convolution's, x filters), each held
    ACTIVATION_COPIES times. (Weights are `check_network_size`'s; a dense network's
    activations are batch x hidden units, small beside its weights.)"""
    net = config.network
    length = getattr(featurizer, "sequence_length_", None)
    kind = NETWORKS.get(net.type)  # "auto" is resolved before training: nothing to size here
    if kind is None or kind.featurizer != "sequence" or length is None:
        return
    per_position = net.embedding_dim + net.conv_filters
    needed = ACTIVATION_COPIES * 4 * batch * int(length) * per_position
    memory, says = memory_limit()
    if memory and needed > memory:
        filters = f" and {net.conv_filters:,} convolution filters" if net.conv_filters else ""
        raise ConfigError(
            f"a batch of {batch} documents of {int(length):,} tokens in {net.embedding_dim} "
            f"dimensions{filters} is too large: training it needs about "
            f"{needed / 1024**3:,.1f} GiB per batch; {says}. Lower features.sequence_length, "
            f"network.embedding_dim{', network.conv_filters' if filters else ''} or "
            "train.batch_size"
        )


def _build_dense(
    config: Config, featurizer: Featurizer, n_labels: int, multiclass: bool, stacked: bool
) -> Any:
    net = config.network
    n_features = featurizer.n_features
    parameters = _chain_parameters(n_features, net.hidden_units, n_labels)
    if wide_path(config) and not stacked:
        parameters += n_features * n_labels
    check_network_size(
        parameters,
        f"{n_features:,} features, hidden units {list(net.hidden_units)}, {n_labels:,} topics",
    )
    return build_dense_network(
        featurizer.n_features,
        n_labels,
        hidden_units=net.hidden_units,
        dropout=net.dropout,
        multiclass=multiclass,
        wide=wide_path(config) and not stacked,
        linear_logits=stacked,
    )


def _build_embedding(
    config: Config, featurizer: Featurizer, n_labels: int, multiclass: bool, stacked: bool
) -> Any:
    net = config.network
    length = getattr(featurizer, "sequence_length_", None)
    if length is None:
        raise NotFittedError.of("SequenceFeaturizer")
    width = net.conv_filters or net.embedding_dim
    check_network_size(
        featurizer.n_features * net.embedding_dim
        + net.conv_filters * (net.embedding_dim * net.kernel_size + 1)
        + _chain_parameters(width, net.hidden_units, n_labels),
        f"{featurizer.n_features:,} words of {net.embedding_dim} dimensions, hidden units "
        f"{list(net.hidden_units)}, {n_labels:,} topics",
    )
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


def _build_rescorer(
    config: Config, featurizer: Featurizer, n_labels: int, multiclass: bool, stacked: bool
) -> Any:
    from topicclf.model.shortlist import FEATURES

    net = config.network
    check_network_size(
        _chain_parameters(len(FEATURES), net.hidden_units, 1),
        f"hidden units {list(net.hidden_units)}",
    )
    return build_rescorer(len(FEATURES), hidden_units=net.hidden_units, dropout=net.dropout)


def _describe_dense(net: dict[str, Any]) -> str:
    return f"dense, hidden layers {net.get('hidden_units')}, dropout {net.get('dropout')}"


def _describe_embedding(net: dict[str, Any]) -> str:
    return (
        f"embedding (dim {net.get('embedding_dim')}, conv filters {net.get('conv_filters')}),"
        f" hidden layers {net.get('hidden_units')}"
    )


def _describe_shortlist(net: dict[str, Any]) -> str:
    return (
        f"shortlist ({net.get('neighbours')} nearest documents and topic centroids of "
        f"{net.get('centroid_terms')} terms propose {net.get('candidates')} candidates), "
        f"rescored by hidden layers {net.get('hidden_units')}"
    )


@dataclass(frozen=True)
class NetworkKind:
    """Everything the rest of the package needs to know about one kind of network.

    `featurizer`: the key in `features.FEATURIZERS` of the features it reads. `build`: the
    uncompiled network for a fitted featurizer, `stacked` with the linear model's logits as
    a second input (only where `stacks`). `refit`: "continue" trains the early-stopped
    network on for a share of its epochs, "fresh" trains a new one for the best epoch count
    (see `training.network.refit_network`). `grow_batch`: automatic batches grow with the
    corpus (see `training.network.schedule`). `search_space`: what `optimize` tries.
    `describe`: the network line of `topicclf info`, from the saved settings. `pipeline`:
    how it is fitted (`training.PIPELINES`): "standard" is `training.pipeline.fit_model`'s
    steps; "shortlist" is `training.shortlist`'s, for vocabularies of thousands of topics.
    """

    name: str
    featurizer: str
    build: Callable[[Config, Featurizer, int, bool, bool], Any]
    stacks: bool
    refit: str
    grow_batch: bool
    search_space: dict[str, list[Any]]
    describe: Callable[[dict[str, Any]], str]
    pipeline: str = "standard"


NETWORKS: dict[str, NetworkKind] = {
    "dense": NetworkKind(
        name="dense",
        featurizer="tfidf",
        build=_build_dense,
        stacks=True,
        refit="continue",
        # Its step costs nearly the same at any batch size (Adam updates the whole first
        # layer), so larger corpora train faster in larger batches.
        grow_batch=True,
        search_space={
            "network.hidden_units": [(128,), (256,), (512,), (256, 128)],
            "network.dropout": [0.2, 0.35, 0.5],
            "train.learning_rate": [0.001, 0.002, 0.004],
            "train.batch_size": [32, 64, 128],
            "features.max_features": [10000, 20000, 40000],
            "features.ngram_max": [1, 2],
            "thresholds.strategy": ["per_topic", "global"],
            "thresholds.shrinkage": [1.0, 5.0],
            "blend.svm_c": [0.5, 1.0, 2.0],
        },
        describe=_describe_dense,
    ),
    "embedding": NetworkKind(
        name="embedding",
        featurizer="sequence",
        build=_build_embedding,
        stacks=False,
        # Measured on three held-out fifths of Reuters training data, continuing cost it
        # 0.001 to 0.005 macro-F1 on every one against a fresh start.
        refit="fresh",
        # It lost 0.03-0.04 macro-F1 on ModApte test (two seeds) with batches of 128.
        grow_batch=False,
        search_space={
            "network.embedding_dim": [64, 128, 200],
            "network.conv_filters": [0, 128, 256],
            "network.hidden_units": [(128,), (256,), ()],
            "network.dropout": [0.2, 0.35, 0.5],
            "train.learning_rate": [0.005, 0.01, 0.02],
            "features.sequence_vocabulary": [20000, 40000],
            "thresholds.strategy": ["per_topic", "global"],
            "blend.svm_c": [0.5, 1.0, 2.0],
        },
        describe=_describe_embedding,
    ),
    "shortlist": NetworkKind(
        name="shortlist",
        featurizer="tfidf",
        build=_build_rescorer,
        stacks=False,
        refit="fresh",  # its sources are rebuilt on every document; the rescorer is kept
        grow_batch=False,
        search_space={
            "network.neighbours": [20, 30, 50],
            "network.candidates": [30, 50, 100],
            "network.hidden_units": [(64, 32), (128,), (256,)],
            "network.centroid_terms": [200, 300, 500],
            "train.learning_rate": [0.001, 0.003, 0.01],
        },
        describe=_describe_shortlist,
        pipeline="shortlist",
    ),
}


def network_kind(name: str) -> NetworkKind:
    """The kind named `name`; an unknown name is an error, never taken for another kind."""
    kind = NETWORKS.get(name)
    if kind is None:
        raise ConfigError(
            f"unknown network type {name!r}; known types: {', '.join(sorted(NETWORKS))}"
        )
    return kind


def stacked(config: Config) -> bool:
    """True when the network learns on top of the linear model's calibrated logits: its kind
    stacks, the linear model is on and stacking asked for (a wide network, whose own linear
    path is learned, does not stack)."""
    kind = network_kind(config.network.type)
    blend = config.blend
    return kind.stacks and blend.stack and blend.linear != "off" and not config.network.wide


def wide_path(config: Config) -> bool:
    """True when the saved dense network has a linear path beside its hidden layers."""
    return config.network.wide or stacked(config)


def build_network(
    config: Config, featurizer: Featurizer, n_labels: int, multiclass: bool, stacked: bool = False
) -> Any:
    """The configured network for these features, uncompiled: as saved, or `stacked` as a
    stacked network trains (the linear model's logits as a second input)."""
    return network_kind(config.network.type).build(
        config, featurizer, n_labels, multiclass, stacked
    )
