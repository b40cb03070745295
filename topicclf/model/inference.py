"""Turning texts into scores: features, the network (numpy or Keras engine) and the blend.

A dense network is sparse TF-IDF x kernel + bias, ReLU, ... , then a sigmoid or softmax;
numpy does that directly from the weights saved beside the Keras model, so tagging never
pays TensorFlow's import. Keras stays the reference: tests check both give the same scores.
`Scorer` is the one place that knows how a model's parts combine into scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.arrayfiles import FLOATS, ArraySpec
from topicclf.cancel import checkpoint
from topicclf.config import (
    EXPLAIN_BATCH_CELLS,
    EXPLAIN_MAX_OCCLUDED,
    PREDICT_BATCH,
    PREDICT_CHARS,
    SCORE_BATCH_BYTES,
)
from topicclf.errors import ModelBundleError
from topicclf.features import Featurizer
from topicclf.features.tfidf import TfidfFeaturizer, without_term_scales
from topicclf.model import logodds
from topicclf.model.blend import LinearBlend
from topicclf.model.shortlist import ShortlistNetwork, language_indices

ENGINES = ("auto", "keras", "numpy")


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


def import_dense_weights(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Set a freshly built dense Keras network's weights from `export_dense_weights` arrays."""
    hidden = 0
    for layer in model.layers:
        if type(layer).__name__ != "Dense":
            continue
        if layer.name.startswith("hidden_"):
            layer.set_weights([arrays[f"hidden_{hidden}_kernel"], arrays[f"hidden_{hidden}_bias"]])
            hidden += 1
        elif layer.name == "topics":
            layer.set_weights([arrays["topics_kernel"], arrays["topics_bias"]])
        elif layer.name == "wide":
            layer.set_weights([arrays["wide_kernel"]])


def dense_weight_specs(
    n_inputs: int, hidden_units: Sequence[int], n_topics: int, *, wide: bool
) -> dict[str, ArraySpec]:
    """The arrays `export_dense_weights` gives for a network of these sizes, exactly."""
    specs = {}
    width = n_inputs
    for i, units in enumerate(hidden_units):
        specs[f"hidden_{i}_kernel"] = ArraySpec(FLOATS, (width, units))
        specs[f"hidden_{i}_bias"] = ArraySpec(FLOATS, (units,))
        width = units
    specs["topics_kernel"] = ArraySpec(FLOATS, (width, n_topics))
    specs["topics_bias"] = ArraySpec(FLOATS, (n_topics,))
    if wide:
        specs["wide_kernel"] = ArraySpec(FLOATS, (n_inputs, n_topics))
    return specs


class NumpyDense:
    """Scores from exported dense weights; `activation` is 'sigmoid' or 'softmax'."""

    def __init__(self, arrays: dict[str, np.ndarray], activation: str) -> None:
        self.arrays = arrays  # kept as read, so a loaded model can be saved again
        self.hidden = []
        i = 0
        while f"hidden_{i}_kernel" in arrays:
            self.hidden.append((arrays[f"hidden_{i}_kernel"], arrays[f"hidden_{i}_bias"]))
            i += 1
        try:
            self.kernel, self.bias = arrays["topics_kernel"], arrays["topics_bias"]
        except KeyError:
            raise ModelBundleError("the exported dense weights have no output layer") from None
        self.wide = arrays.get("wide_kernel")
        self.activation = activation
        self.n_inputs = self.hidden[0][0].shape[0] if self.hidden else self.kernel.shape[0]
        self.n_outputs = self.kernel.shape[1]
        width = self.n_inputs
        for kernel, bias in [*self.hidden, (self.kernel, self.bias)]:
            if kernel.shape[0] != width or bias.shape != (kernel.shape[1],):
                raise ModelBundleError("the exported dense weights' layer shapes do not chain")
            width = kernel.shape[1]

    def predict(
        self, x: sp.csr_matrix | np.ndarray, linear_logits: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores of shape (rows, topics), float32; `linear_logits` are added to the logits
        as a stacked network's second input is while it trains."""
        first = self.hidden[0][0] if self.hidden else self.kernel
        wide = None if self.wide is None else np.asarray(x @ self.wide, dtype=np.float32)
        if linear_logits is not None:
            wide = linear_logits.astype(np.float32) if wide is None else wide + linear_logits
        return self._forward(np.asarray(x @ first, dtype=np.float32), wide)

    def predict_occluded(self, x: sp.csr_matrix, removed: np.ndarray) -> np.ndarray:
        """Scores of copies of a one-row document: copy k without its stored term
        `removed[k]` (an index into `x.indices`; -1: the whole document).

        The first layer is linear, so taking a term out subtracts its row of the kernel:
        memory and time grow with the number of copies, not with copies x terms.
        """
        return _activate(self.logits_occluded(x, removed), self.activation)

    def logits_occluded(self, x: sp.csr_matrix, removed: np.ndarray) -> np.ndarray:
        """`predict_occluded`'s logits, before the sigmoid or softmax: what `explain` weighs,
        since a score that rounds to 1.0 in float32 (a logit past about 17) no longer moves
        when a term is taken out, however much the term matters."""
        first = self.hidden[0][0] if self.hidden else self.kernel
        pre = _without(np.asarray(x @ first, dtype=np.float32), x, first, removed)
        wide = None
        if self.wide is not None:
            w0 = np.asarray(x @ self.wide, dtype=np.float32)
            wide = _without(w0, x, self.wide, removed)
        return self._logits(pre, wide)

    def _forward(self, pre: np.ndarray, wide: np.ndarray | None) -> np.ndarray:
        """The rest of the network from the first layer's pre-activation (bias not added)."""
        return _activate(self._logits(pre, wide), self.activation)

    def _logits(self, pre: np.ndarray, wide: np.ndarray | None) -> np.ndarray:
        if self.hidden:
            h = pre + self.hidden[0][1]
            np.maximum(h, 0.0, out=h)
            for kernel, bias in self.hidden[1:]:
                h = rows_product(h, kernel)
                h += bias
                np.maximum(h, 0.0, out=h)
            logits = rows_product(h, self.kernel) + self.bias
        else:
            logits = pre + self.bias
        if wide is not None:
            logits += wide
        return logits


def rows_product(rows: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`rows @ kernel` as float32, each row's result the same whatever rows come with it.

    BLAS multiplies a single row with another routine (gemv) than several (gemm), and its
    sums round differently: a text tagged alone (`tag` of one file, a server request not
    batched) scored 0.005726 where in a batch it scored 0.005727, and a threshold between
    the two gave it a topic in one and not the other. A single row is multiplied beside a
    row of zeros (reading the kernel costs the same for two rows as for one).
    """
    if rows.shape[0] == 1:
        rows = np.vstack([rows, np.zeros_like(rows)])
        return np.asarray(rows @ kernel, dtype=np.float32)[:1]
    return np.asarray(rows @ kernel, dtype=np.float32)


def _without(
    base: np.ndarray, x: sp.csr_matrix, kernel: np.ndarray, removed: np.ndarray
) -> np.ndarray:
    """A linear layer's output `base` (1 x units) of a one-row document, repeated once per
    entry of `removed`, less that stored term's contribution (none where -1), and scaled
    as the row without it is normalised again (`without_term_scales`)."""
    out = np.repeat(base, len(removed), axis=0)
    taken = removed >= 0
    r = removed[taken]
    out[taken] = base - x.data[r].astype(np.float32)[:, None] * kernel[x.indices[r]]
    out *= without_term_scales(x, removed)[:, None]
    return out


def _activate(logits: np.ndarray, activation: str) -> np.ndarray:
    if activation == "softmax":
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


# Networks scored by numpy alone: `predict(x)`, `n_inputs` and `n_outputs`, no TensorFlow.
NUMPY_NETWORKS = (NumpyDense, ShortlistNetwork)


def n_outputs(network: Any) -> int:
    """The number of topics a network (Keras or numpy) scores."""
    if isinstance(network, NUMPY_NETWORKS):
        return network.n_outputs
    return int(network.outputs[0].shape[-1])


def n_inputs(network: Any) -> int:
    """The width of a network's input (features, or sequence length)."""
    if isinstance(network, NUMPY_NETWORKS):
        return network.n_inputs
    return int(network.inputs[0].shape[-1])


def rows_at_once(network: Any) -> int:
    """Rows a network scores in one batch (at most PREDICT_BATCH): as many as keep a Keras
    network's activations (every layer's output, float32) within SCORE_BATCH_BYTES. A numpy
    network's activations are rows x hidden units, small beside its weights."""
    if isinstance(network, NUMPY_NETWORKS):
        return PREDICT_BATCH
    per_row = 0
    for layer in network.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None) or ()
        per_row += 4 * math.prod(int(d) for d in shape[1:] if d is not None)
    return max(1, min(PREDICT_BATCH, SCORE_BATCH_BYTES // max(per_row, 1)))


def network_scores(network: Any, x: Any) -> np.ndarray:
    """A network's scores for a feature matrix, float32 (rows, topics), any engine."""
    if x.shape[0] == 0:
        return np.zeros((0, n_outputs(network)), dtype=np.float32)
    if isinstance(network, NUMPY_NETWORKS):
        return network.predict(x)
    batch = min(256, rows_at_once(network))
    return np.asarray(network.predict(x, batch_size=batch, verbose=0), dtype=np.float32)


def scores_now(
    network: Any, x: Any, multiclass: bool, linear_logits: np.ndarray | None = None
) -> np.ndarray:
    """A Keras network's scores under its current weights, for validation between epochs.

    Keras's `predict` builds a data pipeline on every call (about 0.4 s even for a handful
    of rows); a dense network is scored in numpy from its weights instead, any other one a
    chunk at a time with `predict_on_batch`. A stacked network (dense) is given the linear
    model's logits of the same rows.
    """
    if x.shape[0] == 0 or isinstance(network, NUMPY_NETWORKS):
        return network_scores(network, x)
    arrays = export_dense_weights(network)
    if arrays is not None:
        dense = NumpyDense(arrays, "softmax" if multiclass else "sigmoid")
        return dense.predict(x, linear_logits)
    out = np.empty((x.shape[0], n_outputs(network)), dtype=np.float32)
    step = rows_at_once(network)
    for start in range(0, x.shape[0], step):
        out[start : start + step] = network.predict_on_batch(x[start : start + step])
    return out


def _batches(texts: Sequence[str], most: int, chars: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive batches of `texts`: at most `most` texts, and at most
    `chars` characters unless one text alone has more."""
    start = 0
    while start < len(texts):
        stop, held = start + 1, len(texts[start])
        while stop < len(texts) and stop - start < most and held + len(texts[stop]) <= chars:
            held += len(texts[stop])
            stop += 1
        yield start, stop
        start = stop


@dataclass
class Scorer:
    """A fitted model's scoring parts: text -> features -> network -> (blended) scores.

    `linear_featurizer` is the blend's own TF-IDF featurizer when the network reads token
    sequences; None means the blend (if any) reads the network's TF-IDF features.
    """

    featurizer: Featurizer
    network: Any
    blend: LinearBlend | None = None
    linear_featurizer: TfidfFeaturizer | None = None

    @property
    def tensorflow_free(self) -> bool:
        """True when scoring needs numpy alone (a dense network's exported weights, or a
        shortlist network)."""
        return isinstance(self.network, NUMPY_NETWORKS)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1], shape (len(texts), topics), a batch of at most PREDICT_BATCH
        texts (fewer where the network's activations would take more: `rows_at_once`) and
        PREDICT_CHARS characters at a time. A text's scores do not depend on its batch."""
        out = np.zeros((len(texts), n_outputs(self.network)), dtype=np.float32)
        for start, stop in _batches(texts, rows_at_once(self.network), PREDICT_CHARS):
            checkpoint()  # a server's client may have gone: stop between batches
            chunk = list(texts[start:stop])
            features = self.featurizer.transform(chunk)
            out[start:stop] = self.from_features(features, chunk)
        return out

    def from_features(self, features: Any, texts: Sequence[str] | None = None) -> np.ndarray:
        """Scores of already vectorized texts (`texts` feed the blend's own featurizer, and
        tell a shortlist network of several languages each text's language)."""
        languages = self.shortlist_languages(texts) if texts is not None else None
        if languages is not None and features.shape[0]:
            scores = self.network.predict(features, languages)
        else:
            scores = network_scores(self.network, features)
        if self.blend is None:
            return scores
        if self.linear_featurizer is None:
            return self.blend.blend(scores, features)
        assert texts is not None, "a blend with its own features needs the texts"
        return self.blend.blend(scores, self.linear_featurizer.transform(list(texts)))

    def shortlist_languages(self, texts: Sequence[str]) -> np.ndarray | None:
        """Each text's column among a shortlist network's languages, by the analyzer's own
        detection; None for any other network, or one of one language."""
        network = self.network
        if not isinstance(network, ShortlistNetwork) or not network.languages:
            return None
        analyzer = self.featurizer.analyzer  # type: ignore[attr-defined]
        return language_indices(analyzer.language_of, texts, network.languages)

    def numpy_dense(self) -> NumpyDense | None:
        """The network as NumpyDense: itself, or a Keras dense network's weights exported
        (a model just fitted scores with Keras), once per network; None for any other."""
        network = self.network
        if isinstance(network, NumpyDense):
            return network
        if isinstance(network, ShortlistNetwork):
            return None
        # Explain asks for each text it explains: a copy of every weight each time.
        cached = self.__dict__.get("_exported")
        if cached is not None and cached[0] is network:
            return cached[1]
        arrays = export_dense_weights(network)
        activation = network.layers[-1].get_config().get("activation")
        dense = None
        if arrays is not None and activation in ("sigmoid", "softmax"):
            dense = NumpyDense(arrays, activation)
        self.__dict__["_exported"] = (network, dense)
        return dense

    def __getstate__(self) -> dict[str, Any]:
        """The scorer without its exported weights (made again where it is unpickled)."""
        state = dict(self.__dict__)
        state.pop("_exported", None)
        return state

    def occlusion(self, text: str) -> Occlusion:
        """`text`'s scores, and what scoring it without each of its terms in turn needs
        (`Occlusion.scores`): at most EXPLAIN_MAX_OCCLUDED terms, see `weighed_terms`.
        TF-IDF only."""
        assert isinstance(self.featurizer, TfidfFeaturizer)
        x = sp.csr_matrix(self.featurizer.transform([text]))
        x.sort_indices()
        languages = self.shortlist_languages([text])
        occlusion = Occlusion(self, x, weighed_terms(x), languages, np.zeros(0, np.float32))
        occlusion.dense = self.numpy_dense()
        occlusion.base = occlusion.copies(np.array([-1]))[0]
        return occlusion


@dataclass
class Occlusion:
    """One text, and its copies without each weighed term: `base` is the text's scores
    (topics,), `weighed` the positions among `x`'s stored terms taken out one at a time."""

    scorer: Scorer
    x: sp.csr_matrix  # (1, features), indices sorted
    weighed: np.ndarray  # positions in x.indices, ascending
    languages: np.ndarray | None  # the text's shortlist language index, as tagging finds it
    base: np.ndarray  # (topics,) float32
    dense: NumpyDense | None = None  # the network in numpy, for its logits (`log_odds`)

    @property
    def present(self) -> np.ndarray:
        """The weighed terms' feature columns, ascending."""
        return self.x.indices[self.weighed]

    def scores(self, columns: Sequence[int]) -> np.ndarray:
        """Scores of topic `columns` (1 + weighed terms, len(columns)), float32: row 0 the
        text, row i + 1 the text without its i-th weighed term. The copies are scored a
        bounded batch at a time and only `columns` kept of each, so memory grows with the
        terms times the topics asked for, never times all the model's topics."""
        kept = np.asarray(columns, dtype=np.int64)
        out = np.empty((1 + len(self.weighed), len(kept)), dtype=np.float32)
        out[0] = self.base[kept]
        step = self._copies_at_once()
        for start in range(0, len(self.weighed), step):
            checkpoint()  # a server's client may have gone: stop between batches
            removed = self.weighed[start : start + step]
            out[1 + start : 1 + start + len(removed)] = self.copies(removed)[:, kept]
        return out

    def log_odds(self, columns: Sequence[int]) -> np.ndarray:
        """Log-odds of topic `columns` (1 + weighed terms, len(columns)), float64, rows as
        `scores` gives them: from the logits where the network has them (dense), so a topic
        whose score rounds to 1.0 still shows what each term does to it."""
        kept = np.asarray(columns, dtype=np.int64)
        every = np.concatenate([[-1], self.weighed])  # the text itself first, in the batches
        out = np.empty((len(every), len(kept)), dtype=np.float64)
        step = self._copies_at_once()
        for start in range(0, len(every), step):
            checkpoint()  # a server's client may have gone: stop between batches
            out[start : start + step] = self._log_odds(every[start : start + step], kept)
        return out

    def _log_odds(self, removed: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """Log-odds of topics `kept` (len(removed), len(kept)) of the copies `copies`
        scores. A sigmoid's are its logits; a softmax's, and a blend's, need every topic
        of a copy (its share of them), so they are reckoned on all and then cut."""
        scorer, x, network = self.scorer, self.x, self.dense
        if network is None:
            return logodds.log_odds(logodds.from_scores(self.copies(removed)[:, kept]))
        logits = network.logits_occluded(x, removed)
        blend = scorer.blend if scorer.blend is not None and scorer.blend.weight > 0 else None
        multiclass = network.activation == "softmax"
        if not multiclass:
            logits = logits[:, kept]
            if blend is None:
                return logits.astype(np.float64)
        logs = logodds.network_logs(logits, multiclass)
        if multiclass:
            logs = (logs[0][:, kept], logs[1][:, kept])
        if blend is not None:
            logs = logodds.mixed(logs, blend.logs_occluded(x, removed, kept), blend.weight)
        return logodds.log_odds(logs)

    def copies(self, removed: np.ndarray) -> np.ndarray:
        """All topics' scores (len(removed), topics) of copies of the text, copy k without
        its stored term `removed[k]` (-1: the whole text), blended as tagging blends."""
        scorer, x = self.scorer, self.x
        if isinstance(scorer.network, NumpyDense):
            scores = scorer.network.predict_occluded(x, removed)
        else:
            rows = _occluded(x, removed)
            if self.languages is not None:  # as tagging scores it (`Scorer.from_features`)
                scores = scorer.network.predict(rows, np.repeat(self.languages, len(removed)))
            else:
                scores = network_scores(scorer.network, rows)
        if scorer.blend is not None:
            scores = scorer.blend.blend_occluded(scores, x, removed)
        return scores

    def _copies_at_once(self) -> int:
        """Copies scored in one batch: EXPLAIN_BATCH_CELLS (copies x topics, and copies x
        terms for a sparse batch), and a Keras network's `rows_at_once`."""
        network = self.scorer.network
        cells = max(n_outputs(network), self.x.nnz, 1)
        if isinstance(network, NumpyDense):  # it holds its first layer's output, not terms
            first = network.hidden[0][0] if network.hidden else network.kernel
            cells = max(network.n_outputs, first.shape[1])
        step = max(1, EXPLAIN_BATCH_CELLS // cells)
        if not isinstance(network, NUMPY_NETWORKS):
            step = min(step, rows_at_once(network))
        return step


def weighed_terms(x: sp.csr_matrix) -> np.ndarray:
    """The positions among one-row `x`'s stored terms that `explain` takes out one at a
    time, ascending: all of them, or the EXPLAIN_MAX_OCCLUDED of largest TF-IDF weight
    (ties: the lower column), since each costs a scoring of the whole text."""
    most = EXPLAIN_MAX_OCCLUDED
    if x.nnz <= most:
        return np.arange(x.nnz)
    order = np.lexsort((x.indices, -x.data))[:most]
    return np.sort(order)


def _occluded(x: sp.csr_matrix, removed: np.ndarray) -> sp.csr_matrix:
    """Copies of one-row `x`, copy k without its stored term `removed[k]` (-1: none)."""
    n, k = x.nnz, len(removed)
    data = np.tile(x.data, k)
    taken = np.flatnonzero(removed >= 0)
    data[taken * n + removed[taken]] = 0.0
    data *= np.repeat(without_term_scales(x, removed), n)
    indptr = np.arange(k + 1) * n
    copies = sp.csr_matrix((data, np.tile(x.indices, k), indptr), shape=(k, x.shape[1]))
    copies.eliminate_zeros()
    return copies
