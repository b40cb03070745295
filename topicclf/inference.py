"""TensorFlow-free inference for dense networks: the same arithmetic in numpy/scipy.

A dense network is sparse TF-IDF x kernel + bias, ReLU, ... , then a sigmoid or softmax;
numpy does that directly from the weights saved beside the Keras model, so tagging never
pays TensorFlow's import. Keras stays the reference: tests check both give the same scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.errors import ModelBundleError

WEIGHTS_FILE = "weights.npz"


def export_dense_weights(model: Any) -> dict[str, np.ndarray] | None:
    """The arrays NumpyDense needs, or None when the network is not a plain dense one."""
    arrays: dict[str, np.ndarray] = {}
    supported = {"InputLayer", "Dense", "Dropout", "Add", "Activation"}
    hidden = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in supported:
            return None
        if kind != "Dense":
            continue
        kernel, *rest = (np.asarray(w, dtype=np.float32) for w in layer.get_weights())
        if layer.name.startswith("hidden_"):
            if layer.get_config().get("activation") != "relu":
                return None
            arrays[f"hidden_{hidden}_kernel"] = kernel
            arrays[f"hidden_{hidden}_bias"] = rest[0]
            hidden += 1
        elif layer.name == "topics":
            arrays["topics_kernel"] = kernel
            arrays["topics_bias"] = rest[0]
        elif layer.name == "wide":
            arrays["wide_kernel"] = kernel
        else:
            return None
    if "topics_kernel" not in arrays:
        return None
    return arrays


class NumpyDense:
    """Scores from exported dense weights; `activation` is 'sigmoid' or 'softmax'."""

    def __init__(self, arrays: dict[str, np.ndarray], activation: str) -> None:
        self.hidden = []
        i = 0
        while f"hidden_{i}_kernel" in arrays:
            self.hidden.append((arrays[f"hidden_{i}_kernel"], arrays[f"hidden_{i}_bias"]))
            i += 1
        try:
            self.kernel, self.bias = arrays["topics_kernel"], arrays["topics_bias"]
        except KeyError:
            raise ModelBundleError(f"{WEIGHTS_FILE} has no output layer") from None
        self.wide = arrays.get("wide_kernel")
        self.activation = activation
        self.n_inputs = self.hidden[0][0].shape[0] if self.hidden else self.kernel.shape[0]
        self.n_outputs = self.kernel.shape[1]
        width = self.n_inputs
        for kernel, bias in [*self.hidden, (self.kernel, self.bias)]:
            if kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
                raise ModelBundleError(f"{WEIGHTS_FILE}: layer shapes do not chain")
            width = kernel.shape[1]

    def predict(self, x: sp.csr_matrix | np.ndarray) -> np.ndarray:
        """Scores of shape (rows, topics), float32."""
        h: Any = x
        for kernel, bias in self.hidden:
            h = np.asarray(h @ kernel, dtype=np.float32)
            h += bias
            np.maximum(h, 0.0, out=h)
        logits = np.asarray(h @ self.kernel, dtype=np.float32) + self.bias
        if self.wide is not None:
            logits += np.asarray(x @ self.wide, dtype=np.float32)
        if self.activation == "softmax":
            logits -= logits.max(axis=1, keepdims=True)
            np.exp(logits, out=logits)
            logits /= logits.sum(axis=1, keepdims=True)
            return logits
        # A numerically safe logistic: exp never overflows.
        out = np.empty_like(logits)
        positive = logits >= 0
        out[positive] = 1.0 / (1.0 + np.exp(-logits[positive]))
        e = np.exp(logits[~positive])
        out[~positive] = e / (1.0 + e)
        return out
