"""A `.keras` file checked before Keras opens it: Keras builds every layer its configuration
describes, allocating the weights, before it reads them, so a forged configuration (an
embedding of 10^9 x 10^4, a dense layer of 10^9 units) would make it try to allocate
terabytes. The shapes are derived here as Keras derives them (each layer's input from the
output of the layer it is wired to, never from a shape the file records), held against the
model's input width, topics and vocabulary, and against the weights the file stores."""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from topicclf.errors import ModelBundleError

CONFIG_MAX_BYTES = 4 * 1024**2  # a network's config.json: a few KB for ours
WEIGHTS_MEMBER = "model.weights.h5"
# A layer (and model, and dtype policy) name: what TensorFlow accepts as a root scope name,
# less the `/`, `\\` and `>` Keras or topicclf never write, and bounded. A name outside it
# loaded, then failed on the first text scored (`'bad name' is not a valid scope name`).
NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.-]{0,99}")
# Bytes of weights per float32 parameter, and slack for the HDF5 file's own structure.
BYTES_PER_PARAMETER = 4
SLACK_BYTES = 1024**2
# Settings that make a layer allocate more than its plain weights (LoRA adapters, quantized
# copies): topicclf never writes them, so anything but "unset" is refused.
UNSET_SETTINGS = ("lora_rank", "quantization_config", "noise_shape", "input_shape")

Shape = tuple[int | None, ...]  # a tensor's shape; None is the batch dimension
Weights = list[tuple[int, ...]]


def check_keras_file(path: Path, *, inputs: int, topics: int, vocabulary: int | None) -> None:
    """Refuse a .keras file whose layers would allocate anything the model does not justify:
    an input other than `inputs` wide, outputs other than `topics`, an embedding other than
    `vocabulary` words (None: the model has none), weights the file does not store, or
    layers and settings topicclf never writes. Nothing is allocated for its layers here."""
    try:
        with zipfile.ZipFile(path) as archive:
            config_info = archive.getinfo("config.json")
            weights_info = archive.getinfo(WEIGHTS_MEMBER)
            if config_info.file_size > CONFIG_MAX_BYTES:
                raise ModelBundleError(
                    f"{path}: config.json declares {config_info.file_size:,} bytes, more than "
                    f"the {CONFIG_MAX_BYTES:,} a network's configuration takes"
                )
            with archive.open(config_info) as handle:
                config = json.loads(handle.read(CONFIG_MAX_BYTES + 1))
            check_names(config, path)
            weights = network_weights(
                config, path, inputs=inputs, topics=topics, vocabulary=vocabulary
            )
            parameters = sum(math.prod(shape) for shape in weights)
            stored = weights_info.file_size
            if parameters * BYTES_PER_PARAMETER > stored + SLACK_BYTES:
                raise ModelBundleError(
                    f"{path}: its configuration describes {parameters:,} weights "
                    f"({parameters * BYTES_PER_PARAMETER:,} bytes) but the file stores "
                    f"{stored:,} bytes of weights; refused before Keras allocates them"
                )
            with archive.open(weights_info) as handle:
                stored_shapes = _stored_shapes(handle, path)
    except ModelBundleError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as exc:
        raise ModelBundleError(f"{path}: not a readable .keras file ({exc})") from None
    if sorted(weights) != sorted(stored_shapes):
        raise ModelBundleError(
            f"{path}: its configuration gives weights of shapes {_shapes(weights)} but the "
            f"file stores {_shapes(stored_shapes)}; refused before Keras allocates them"
        )


def check_names(config: Any, path: Path) -> None:
    """Refuse a configuration holding a name (any value of a "name" key: layers, the model,
    dtype policies) that Keras would fail on when scoring, or that is not a plain name."""
    stack = [config]
    while stack:  # not recursive: the JSON may nest thousands deep
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            name = item.get("name")
            if "name" in item and not (isinstance(name, str) and NAME.fullmatch(name)):
                raise ModelBundleError(
                    f"{path}: a layer name {str(name)[:60]!r} is not one Keras can use (letters, "
                    "digits, '_', '.', '-', at most 100 characters); refused"
                )
            stack.extend(item.values())


def network_weights(
    config: Any, path: Path, *, inputs: int, topics: int, vocabulary: int | None
) -> Weights:
    """The shapes of the weights Keras allocates for a functional model's configuration,
    each layer's input shape taken from the output of the layer it is wired to."""
    try:
        model = config["config"]
        layers = model["layers"]
        if config["class_name"] != "Functional" or not isinstance(layers, list):
            raise TypeError("not a functional model")
        for layer in layers:  # what a layer is, before how it is wired
            _check_kind(layer, path)
        outputs: dict[str, Shape] = {}
        weights: Weights = []
        widths = iter([inputs])  # the first input is the features; a second, linear scores
        for layer in layers:
            name, shape, layer_weights = _layer(layer, outputs, widths, topics, vocabulary, path)
            if name in outputs:
                raise ValueError(f"two layers named {name!r}")
            outputs[name] = shape
            weights.extend(layer_weights)
        starts = {layer["name"] for layer in layers if layer["class_name"] == "InputLayer"}
        for end in _references(model["input_layers"]):
            if end[0] not in starts:
                raise ValueError(f"the model's input {end[0]!r} is not an input layer")
        ends = _references(model["output_layers"])
        if len(ends) != 1 or outputs[ends[0][0]] != (None, topics):
            raise ModelBundleError(
                f"{path}: the network's output is {_shapes([outputs[e[0]] for e in ends])}, "
                f"and the model has {topics} topics; the model directory is inconsistent"
            )
        return weights
    except ModelBundleError:
        raise
    except (KeyError, TypeError, IndexError, ValueError, StopIteration) as exc:
        raise ModelBundleError(
            f"{path}: config.json is not a network topicclf wrote ({type(exc).__name__}: "
            f"{str(exc)[:200]})"
        ) from None


def _check_kind(layer: dict[str, Any], path: Path) -> None:
    """Refuse a layer kind, or a setting adding weights, that no topicclf network has."""
    kind = layer["class_name"]
    if not (isinstance(kind, str) and kind in LAYERS):
        raise ModelBundleError(
            f"{path}: a {str(kind)[:60]!r} layer, which no topicclf network has; refused"
        )
    settings = layer["config"]
    for key in UNSET_SETTINGS:
        if settings.get(key) is not None:
            raise ModelBundleError(
                f"{path}: layer {layer['name']!r} ({kind}) has {key!r} set, which no topicclf "
                "network has; refused"
            )
    if kind != "InputLayer" and not _float32(settings.get("dtype")):
        raise ModelBundleError(
            f"{path}: layer {layer['name']!r} ({kind}) has dtype {str(settings['dtype'])[:80]}, "
            "not float32; refused"
        )


def _layer(
    layer: dict[str, Any],
    outputs: dict[str, Shape],
    widths: Any,
    topics: int,
    vocabulary: int | None,
    path: Path,
) -> tuple[str, Shape, Weights]:
    """One layer's name, output shape and weight shapes, from the shapes of its inputs."""
    kind = layer["class_name"]
    rule = LAYERS[kind]
    settings = layer["config"]
    if kind == "InputLayer":
        shape = tuple(settings.get("batch_shape") or settings["batch_input_shape"])
        width = next(widths, topics)
        if shape != (None, width) or layer["inbound_nodes"]:
            raise ModelBundleError(
                f"{path}: the network's input {layer['name']!r} has shape {_shapes([shape])}, "
                f"and the model's features give (?, {width}); refused"
            )
        return layer["name"], shape, []
    nodes = layer["inbound_nodes"]
    if len(nodes) != 1:  # a layer called twice (shared) is wired in no topicclf network
        raise ValueError(f"layer {layer['name']!r} has {len(nodes)} inbound nodes")
    shapes = [outputs[ref[0]] for ref in _references(nodes[0]["args"])]
    for ref in _references(nodes[0]["kwargs"]):  # a mask: wired to a layer already built
        outputs[ref[0]]
    shape, weights = rule(settings, shapes)
    if kind == "Embedding" and weights[0][0] != vocabulary:
        raise ModelBundleError(
            f"{path}: an embedding of {weights[0][0]:,} words, and the model's features "
            f"have {'none' if vocabulary is None else f'{vocabulary:,}'}; refused"
        )
    # Keras builds a layer from its recorded build_config before wiring it: that shape
    # must be the one derived, or the layer is allocated for the forged one.
    built = layer.get("build_config") or {"input_shape": None}
    recorded = built.get("input_shape")
    derived = shapes[0] if len(shapes) == 1 else tuple(shapes)
    if set(built) != {"input_shape"} or (recorded is not None and _shape(recorded) != derived):
        raise ModelBundleError(
            f"{path}: layer {layer['name']!r} records a build of {str(built)[:100]}, and is "
            f"wired to inputs of {_shapes(shapes)}; refused"
        )
    return layer["name"], shape, weights


def _float32(dtype: Any) -> bool:
    """A layer's dtype is plain float32 (a quantized or float8 policy adds weights)."""
    if dtype is None or dtype == "float32":
        return True
    return (
        isinstance(dtype, dict)
        and dtype.get("class_name") == "DTypePolicy"
        and dtype.get("config") == {"name": "float32"}
    )


def _shape(value: Any) -> Any:
    """A recorded shape (or list of shapes) as tuples, comparable with derived ones."""
    return tuple(_shape(v) for v in value) if isinstance(value, list) else value


def _references(value: Any) -> list[tuple[str, int, int]]:
    """The (layer, node, tensor) references in a node's arguments or a model's ends, in order."""
    found = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            stack.append(tuple(item["config"]["keras_history"]))
        elif isinstance(item, tuple) or (
            isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
        ):
            name, node, tensor = item
            if not isinstance(name, str) or node != 0 or tensor != 0:
                raise ValueError(f"a reference to {str(item)[:60]}")
            found.append((name, node, tensor))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
    return found


def _size(value: Any) -> int:
    """A positive size: 0 would let a layer of any width count no weights."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a size of {str(value)[:40]!r}")
    return value


def _one(value: Any) -> int:
    """A Conv1D size recorded as [n] or n."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return _size(value)


def _only(shapes: list[Shape], rank: int) -> Shape:
    if len(shapes) != 1 or len(shapes[0]) != rank:
        raise ValueError(f"inputs of shapes {_shapes(shapes)}, expected one of rank {rank}")
    return shapes[0]


def _embedding(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    batch, length = _only(shapes, 2)
    rows, dim = _size(settings["input_dim"]), _size(settings["output_dim"])
    return (batch, length, dim), [(rows, dim)]


def _dense(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    *outer, width = _only(shapes, 2)
    units = _size(settings["units"])
    bias = [(units,)] if settings.get("use_bias", True) else []
    return (*outer, units), [(_size(width), units), *bias]


def _conv1d(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    batch, length, channels = _only(shapes, 3)
    filters, kernel = _size(settings["filters"]), _one(settings["kernel_size"])
    strides, dilation = _one(settings.get("strides", 1)), _one(settings.get("dilation_rate", 1))
    if settings.get("groups", 1) != 1 or settings.get("data_format") not in (None, "channels_last"):
        raise ValueError("a grouped or channels-first convolution")
    padding = settings.get("padding", "valid")
    span = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        out = -(-_size(length) // strides)
    elif padding == "valid":
        out = -(-(_size(length) - span + 1) // strides)
    else:
        raise ValueError(f"padding {str(padding)[:20]!r}")
    bias = [(filters,)] if settings.get("use_bias", True) else []
    return (batch, _size(out), filters), [(kernel, _size(channels), filters), *bias]


def _pooling(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    batch, _, channels = _only(shapes, 3)
    if settings.get("keepdims") or settings.get("data_format") not in (None, "channels_last"):
        raise ValueError("a pooling keeping its dimensions, or channels-first")
    return (batch, channels), []


def _same(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    return _only(shapes, len(shapes[0]) if shapes else 0), []


def _not_equal(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    return _only(shapes, 2), []  # the padding mask of the tokens; its other operand is 0


def _add(settings: dict[str, Any], shapes: list[Shape]) -> tuple[Shape, Weights]:
    if len(shapes) < 2 or len(set(shapes)) != 1:
        raise ValueError(f"an Add of {_shapes(shapes)}")
    return shapes[0], []


# Layers topicclf's networks use (and those of formats 1-2), with how each derives its output
# shape and weights; Keras safe mode refuses code, and any other kind is refused here.
LAYERS: dict[str, Callable[[dict[str, Any], list[Shape]], tuple[Shape, Weights]]] = {
    "InputLayer": _same,  # handled in _layer: its shape is the model's input width
    "Embedding": _embedding,
    "NotEqual": _not_equal,
    "Conv1D": _conv1d,
    "GlobalAveragePooling1D": _pooling,
    "GlobalMaxPooling1D": _pooling,
    "Dropout": _same,
    "Dense": _dense,
    "Add": _add,
    "Activation": _same,
}


def _stored_shapes(handle: IO[bytes], path: Path) -> list[tuple[int, ...]]:
    """The shapes of the arrays in a .keras file's weights (HDF5), read from their headers."""
    import h5py  # Keras's own dependency; only a .keras file needs it

    shapes: list[tuple[int, ...]] = []

    def visit(_: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            shapes.append(tuple(int(n) for n in item.shape))

    try:
        with h5py.File(handle, "r") as weights:
            weights.visititems(visit)
    except Exception as exc:  # h5py raises many types for a bad file; all mean the same here
        raise ModelBundleError(
            f"{path}: its {WEIGHTS_MEMBER} is not readable ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return shapes


def _shapes(shapes: Iterable[Shape]) -> str:
    shown = ", ".join(str(tuple(shape)).replace("None", "?") for shape in shapes)
    return shown[:300]
