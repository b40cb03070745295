"""A `.keras` file checked before Keras opens it: Keras builds every layer its configuration
describes, allocating the weights, before it reads them, so a forged configuration (an
embedding of 10^9 x 10^4) would make it try to allocate terabytes. The layers are read from
the file's config.json, their weights counted from the shapes recorded there, and the total
held against the weights the file actually stores."""

from __future__ import annotations

import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

from topicclf.errors import ModelBundleError

CONFIG_MAX_BYTES = 4 * 1024**2  # a network's config.json: a few KB for ours
WEIGHTS_MEMBER = "model.weights.h5"
# Layers topicclf's networks use (and those of formats 1-2); Keras safe mode refuses code.
KNOWN_LAYERS = frozenset(
    {"InputLayer", "Embedding", "NotEqual", "Conv1D", "GlobalAveragePooling1D"}
    | {"GlobalMaxPooling1D", "Dropout", "Dense", "Add", "Activation"}
)
# A layer (and model, and dtype policy) name: what TensorFlow accepts as a root scope name,
# less the `/`, `\\` and `>` Keras or topicclf never write, and bounded. A name outside it
# loaded, then failed on the first text scored (`'bad name' is not a valid scope name`).
NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.-]{0,99}")
# Bytes of weights per float32 parameter, and slack for the HDF5 file's own structure.
BYTES_PER_PARAMETER = 4
SLACK_BYTES = 1024**2


def check_keras_file(path: Path) -> None:
    """Refuse a .keras file whose configuration describes more weights than it stores, or
    layers topicclf never writes; nothing is allocated for its layers here."""
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
    except ModelBundleError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as exc:
        raise ModelBundleError(f"{path}: not a readable .keras file ({exc})") from None
    check_names(config, path)
    parameters = count_parameters(config, path)
    stored = weights_info.file_size
    if parameters * BYTES_PER_PARAMETER > stored + SLACK_BYTES:
        raise ModelBundleError(
            f"{path}: its configuration describes {parameters:,} weights "
            f"({parameters * BYTES_PER_PARAMETER:,} bytes) but the file stores {stored:,} bytes "
            "of weights; refused before Keras allocates them"
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


def count_parameters(config: Any, path: Path) -> int:
    """The number of weights the layers of a functional model's configuration hold, from
    each layer's sizes and the shapes of its inputs as recorded in the file."""
    try:
        layers = config["config"]["layers"]
        if not isinstance(layers, list):
            raise TypeError("layers is not a list")
        return sum(_layer_parameters(layer, path) for layer in layers)
    except (KeyError, TypeError, IndexError) as exc:
        raise ModelBundleError(
            f"{path}: config.json is not a network topicclf wrote ({exc})"
        ) from None


def _layer_parameters(layer: dict[str, Any], path: Path) -> int:
    kind = layer["class_name"]
    if kind not in KNOWN_LAYERS:
        raise ModelBundleError(
            f"{path}: a {str(kind)[:60]!r} layer, which no topicclf network has; refused"
        )
    settings = layer["config"]
    if kind == "Embedding":
        return _size(settings["input_dim"]) * _size(settings["output_dim"])
    if kind == "Dense":
        units = _size(settings["units"])
        return _input_width(layer) * units + (units if settings.get("use_bias", True) else 0)
    if kind == "Conv1D":
        filters = _size(settings["filters"])
        kernel = math.prod(_size(k) for k in settings["kernel_size"])
        return kernel * _input_width(layer) * filters + filters
    return 0


def _input_width(layer: dict[str, Any]) -> int:
    """The last dimension of a layer's first input, as recorded in its inbound node."""
    tensor = layer["inbound_nodes"][0]["args"][0]
    return _size(tensor["config"]["shape"][-1])


def _size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"a size of {str(value)[:40]!r}")
    return value
