"""TopicClassifier: featurizer, Keras network and tuned thresholds, as an estimator."""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf import bundle
from topicclf.config import AUTO_LEARNING_RATE, Config
from topicclf.errors import (
    ConfigError,
    DataError,
    ModelBundleError,
    NotFittedError,
    UnsupportedError,
)
from topicclf.features import FEATURIZERS, Featurizer, TfidfFeaturizer, make_featurizer
from topicclf.inference import WEIGHTS_FILE, NumpyDense, export_dense_weights
from topicclf.labels import LabelEncoder, detect_mode, split_indices
from topicclf.linear import LinearBlend, calibrate, choose_weight, fit_linear
from topicclf.metrics import EvaluationReport, error_examples, evaluate
from topicclf.networks import build_dense_network, build_embedding_network, keras_module, set_seed
from topicclf.thresholds import (
    ThresholdPolicy,
    apply,
    apply_thresholds,
    micro_f1,
    tune_policy,
)
from topicclf.types import Document, NullProgress, Progress

PREDICT_BATCH = 1024
LINEAR_FILE = "linear.npz"
ENGINES = ("auto", "keras", "numpy")


@dataclass(frozen=True)
class Explanation:
    """Why a document got a topic: its score and the terms that raised or lowered it."""

    topic: str
    score: float
    up: list[tuple[str, float]]
    down: list[tuple[str, float]]


class TopicClassifier:
    """Learns to tag texts with topics (multi-label, or multi-class with exactly one topic)."""

    # Learned by fit (or load); absent before, as in scikit-learn.
    classes_: list[str]
    mode_: str
    featurizer_: Featurizer
    model_: Any
    policy_: ThresholdPolicy
    validation_report_: EvaluationReport
    training_info_: dict[str, Any]
    manifest_: dict[str, Any]
    # The linear model mixed into the network's scores, and its own TF-IDF features when the
    # network reads token sequences (None: no blend / the network's features are used).
    blend_: LinearBlend | None
    linear_featurizer_: TfidfFeaturizer | None

    def __init__(self, *, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()

    # -- fitting -----------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        label_sets: Sequence[Sequence[str]],
        *,
        progress: Progress | None = None,
    ) -> TopicClassifier:
        """Learn features, network and thresholds from texts and their topic sets."""
        progress = progress or NullProgress()
        started = time.perf_counter()
        cfg = self.config
        texts, label_sets, skipped = _validate_training_data(texts, label_sets)
        mode = cfg.train.mode if cfg.train.mode != "auto" else detect_mode(label_sets)
        multiclass = mode == "multiclass"
        if multiclass:
            for i, labels in enumerate(label_sets):
                if len(set(labels)) != 1:
                    raise DataError(
                        f"multi-class mode needs exactly one topic per document; document "
                        f"#{i + 1} has {len(set(labels))}. Use --mode multilabel"
                    )
        encoder = LabelEncoder(min_count=cfg.train.min_count).fit(label_sets)
        encoded = encoder.transform(label_sets)
        keep_rows = np.flatnonzero(encoded.y.sum(axis=1) > 0) if multiclass else None
        y = encoded.y if keep_rows is None else encoded.y[keep_rows]
        if keep_rows is not None:
            texts = [texts[i] for i in keep_rows]
        train_idx, val_idx = split_indices(y, cfg.train.validation_split, cfg.train.seed)

        featurizer = make_featurizer(cfg.text, cfg.features, cfg.network.type)
        progress.start("vectorizing", len(texts))
        featurizer.fit([texts[i] for i in train_idx])
        x_all = featurizer.transform(texts)
        progress.advance(len(texts))
        progress.finish()
        x_train, x_val = x_all[train_idx], x_all[val_idx]
        y_train, y_val = y[train_idx], y[val_idx]

        keras = keras_module()
        model = self._new_network(featurizer, y_train, multiclass)
        th = cfg.thresholds
        tune = functools.partial(
            tune_policy,
            strategy=th.strategy,
            fixed_value=th.value,
            shrinkage=th.shrinkage,
            fallback=th.fallback,
            top_k=th.top_k,
            multiclass=multiclass,
        )
        callbacks = [_progress_callback(keras, progress, cfg.train.epochs)]
        if cfg.train.stop_on == "f1":
            monitor, direction = "val_f1", "max"
            callbacks.insert(0, _validation_f1_callback(keras, x_val, y_val, tune))
        else:
            monitor, direction = "val_loss", "min"
        callbacks.insert(
            -1,
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=direction,
                patience=cfg.train.patience,
                restore_best_weights=True,
            ),
        )
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            batch_size=cfg.train.batch_size,
            epochs=cfg.train.epochs,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
        val_scores = _predict(model, x_val)
        blend, linear_featurizer, x_linear, blend_info = self._fit_blend(
            featurizer, texts, x_all, y, train_idx, val_idx, val_scores, multiclass, tune, progress
        )
        if blend is not None:
            val_scores = blend.blend(val_scores, x_linear[val_idx])
        policy = tune(y_val, val_scores)
        history_values = history.history.get(monitor, [])
        best_epoch = (
            int(np.argmax(history_values) if direction == "max" else np.argmin(history_values)) + 1
            if history_values
            else 0
        )
        if cfg.train.refit and best_epoch:
            # Thresholds stay those tuned on validation; the network is trained again on all
            # the data for as many epochs as early stopping found best.
            model = self._new_network(featurizer, y, multiclass)
            model.fit(
                x_all,
                y,
                batch_size=cfg.train.batch_size,
                epochs=best_epoch,
                shuffle=True,
                callbacks=[_progress_callback(keras, progress, best_epoch, "refit")],
                verbose=0,
            )
        if blend is not None and blend.weight > 0 and cfg.train.refit:
            # Like the network: the linear model learns from all the documents, keeping the
            # calibration, weight and thresholds chosen on validation.
            blend.coef, blend.intercept = fit_linear(x_linear, y, cfg.blend.svm_c)
        classes = encoder.classes_
        assert classes is not None
        validation = evaluate(y_val, apply(val_scores, policy), classes)
        grid = np.round(np.linspace(0.02, 0.98, 49), 3)
        curve = [
            micro_f1(y_val, apply_thresholds(val_scores, float(t), fallback=policy.fallback))
            for t in grid
        ]

        self.classes_ = classes
        self.mode_ = mode
        self.featurizer_ = featurizer
        self.model_ = model
        self.policy_ = policy
        self.blend_ = blend
        self.linear_featurizer_ = linear_featurizer
        self.validation_report_ = validation
        self.training_info_ = {
            "blend": blend_info,
            "documents": len(texts),
            "train_documents": len(train_idx),
            "validation_documents": len(val_idx),
            "skipped_empty_documents": skipped,
            "dropped_topics": encoder.dropped_,
            "epochs_run": len(history_values),
            "best_epoch": best_epoch,
            "refit_on_all_documents": bool(cfg.train.refit and best_epoch),
            "seconds": round(time.perf_counter() - started, 2),
            "threshold_curve": {
                "thresholds": grid.tolist(),
                "micro_f1": [round(v, 4) for v in curve],
            },
        }
        return self

    def _fit_blend(
        self,
        featurizer: Featurizer,
        texts: list[str],
        x_all: Any,
        y: np.ndarray,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        network_val: np.ndarray,
        multiclass: bool,
        tune: Any,
        progress: Progress,
    ) -> tuple[LinearBlend | None, TfidfFeaturizer | None, Any, dict[str, Any]]:
        """The linear model on TF-IDF features, calibrated and weighted on validation."""
        cfg = self.config
        if cfg.blend.linear == "off":
            return None, None, None, {}
        progress.start("linear model")
        linear_featurizer = None
        if isinstance(featurizer, TfidfFeaturizer):
            x_linear = x_all
        else:  # an embedding network: the linear model gets TF-IDF features of its own
            linear_featurizer = TfidfFeaturizer(cfg.text, cfg.features)
            linear_featurizer.fit([texts[i] for i in train_idx])
            x_linear = linear_featurizer.transform(texts)
        y_val = y[val_idx]
        coef, intercept = fit_linear(x_linear[train_idx], y[train_idx], cfg.blend.svm_c)
        margins = np.asarray(x_linear[val_idx] @ coef.T) + intercept
        slope, offset = calibrate(margins, y_val)
        blend = LinearBlend(coef, intercept, slope, offset, cfg.blend.weight, multiclass)
        info: dict[str, Any] = {"svm_c": cfg.blend.svm_c, "calibration": [slope, offset]}
        if cfg.blend.linear == "auto":
            linear_val = blend.scores(x_linear[val_idx])
            blend.weight, by_weight = choose_weight(network_val, linear_val, y_val, tune)
            info["validation_micro_f1_by_weight"] = {
                str(w): round(f, 4) for w, f in by_weight.items()
            }
        info["linear_weight"] = blend.weight
        progress.advance(1)
        progress.finish()
        return blend, linear_featurizer, x_linear, info

    def _new_network(self, featurizer: Featurizer, y: np.ndarray, multiclass: bool) -> Any:
        """A freshly seeded, compiled network with output biases at the base rates of y."""
        cfg = self.config
        set_seed(cfg.train.seed)
        model = self._build_network(featurizer, y.shape[1], multiclass)
        _init_output_bias(model, y, multiclass)
        keras = keras_module()
        rate = cfg.train.learning_rate or AUTO_LEARNING_RATE[cfg.network.type]
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=rate),
            loss=_loss(keras, y, multiclass, cfg.train.positive_weight),
        )
        return model

    def _build_network(self, featurizer: Featurizer, n_labels: int, multiclass: bool) -> Any:
        net = self.config.network
        if net.type == "embedding":
            length = getattr(featurizer, "sequence_length_", None)
            assert length is not None
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

    # -- using a fitted classifier -----------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this TopicClassifier is not fitted yet; call fit first")

    def is_tensorflow_free(self) -> bool:
        """True when this model scores with numpy alone (a dense network's exported weights)."""
        self._check_fitted()
        return isinstance(self.model_, NumpyDense)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1] of shape (len(texts), n_topics), columns in `classes_` order."""
        self._check_fitted()
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a sequence of texts, not a single string")
        out = np.zeros((len(texts), len(self.classes_)), dtype=np.float32)
        for start in range(0, len(texts), PREDICT_BATCH):
            chunk = list(texts[start : start + PREDICT_BATCH])
            features = self.featurizer_.transform(chunk)
            scores = _predict(self.model_, features)
            if self.blend_ is not None:
                linear = self.linear_featurizer_
                scores = self.blend_.blend(
                    scores, features if linear is None else linear.transform(chunk)
                )
            out[start : start + len(chunk)] = scores
        return out

    def decide(
        self, scores: np.ndarray, *, threshold: float | None = None, top_k: int | None = None
    ) -> np.ndarray:
        """Boolean topic matrix from scores, with the stored policy or overridden rules."""
        self._check_fitted()
        if threshold is None and top_k is None:
            return apply(scores, self.policy_)
        k = self.policy_.top_k if top_k is None else top_k
        if threshold is None:
            thresholds: np.ndarray | float = self.policy_.thresholds
            fallback = self.policy_.fallback
        else:
            # An explicit threshold means exactly that: no topic below it, no fallback.
            thresholds, fallback = threshold, False
        if threshold is None and top_k is not None:
            # --top-k alone: the k best topics, whatever their scores.
            thresholds, fallback = -np.inf, False
        return apply_thresholds(
            scores, thresholds, fallback=fallback, top_k=k, multiclass=self.policy_.multiclass
        )

    def topics_of(self, scores: np.ndarray, chosen: np.ndarray) -> list[list[tuple[str, float]]]:
        """(topic, score) pairs of the chosen topics per document, best first."""
        out = []
        for row_scores, row in zip(scores, chosen, strict=True):
            idx = np.flatnonzero(row)
            idx = idx[np.argsort(-row_scores[idx], kind="stable")]
            out.append([(self.classes_[j], float(row_scores[j])) for j in idx])
        return out

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Topic lists (best first) for each text, under the tuned thresholds."""
        scores = self.predict_proba(texts)
        return [[t for t, _ in row] for row in self.topics_of(scores, self.decide(scores))]

    def explain(self, text: str, *, top: int = 10) -> list[Explanation]:
        """For each topic given to `text`, the terms that pushed its score up most (and down).

        A term's weight is how much the topic's score drops when that term is taken out of
        the document's TF-IDF vector (occlusion): exact for this network, no approximation.
        Only TF-IDF (dense) networks are supported.
        """
        self._check_fitted()
        featurizer = self.featurizer_
        if not isinstance(featurizer, TfidfFeaturizer):
            raise UnsupportedError(
                f"explain works with dense TF-IDF networks; this model is a "
                f"{self.config.network.type} network on token sequences"
            )
        x = featurizer.transform([text])
        present = x.indices.copy()
        rows = sp.vstack([x] * (len(present) + 1), format="lil")
        for i, col in enumerate(present, start=1):
            rows[i, col] = 0.0
        rows = rows.tocsr()
        scores = _predict(self.model_, rows)
        if self.blend_ is not None:
            scores = self.blend_.blend(scores, rows)
        base = scores[0]
        chosen = np.flatnonzero(self.decide(base[None, :])[0])
        terms = featurizer.terms()
        out = []
        for j in chosen[np.argsort(-base[chosen], kind="stable")]:
            effect = base[j] - scores[1:, j]
            order = np.argsort(-effect, kind="stable")
            up = [(terms[present[i]], float(effect[i])) for i in order[:top] if effect[i] > 0]
            down = [
                (terms[present[i]], float(effect[i])) for i in order[::-1][:top] if effect[i] < 0
            ]
            out.append(Explanation(self.classes_[j], float(base[j]), up, down))
        return out

    def evaluate(
        self, documents: Iterable[Document], *, explain_examples: bool = False
    ) -> EvaluationReport:
        """Precision, recall and F1 (micro, macro, per topic), ranking metrics and example
        errors on labelled documents; with `explain_examples`, why each example got its topics
        (dense networks only)."""
        self._check_fitted()
        docs = list(documents)
        if not docs:
            raise DataError("cannot evaluate on an empty corpus")
        if not any(doc.labels for doc in docs):
            raise DataError("the evaluation corpus has no labels; it needs labelled documents")
        encoder = LabelEncoder()
        encoder.classes_ = self.classes_
        encoded = encoder.transform([doc.labels for doc in docs])
        if encoded.unknown:
            known = set(self.classes_)
            unknown_docs = sum(1 for d in docs if any(lab not in known for lab in d.labels))
            warnings.warn(
                f"{len(encoded.unknown)} topic(s) in the evaluation corpus are unknown to the "
                f"model ({unknown_docs} documents); they count as misses: "
                + ", ".join(list(encoded.unknown)[:10]),
                UserWarning,
                stacklevel=2,
            )
        texts = [doc.text for doc in docs]
        scores = self.predict_proba(texts)
        chosen = self.decide(scores)
        report = evaluate(
            encoded.y,
            chosen,
            self.classes_,
            scores=scores,
            unknown_truth=encoded.unknown_truth,
            multiclass=self.policy_.multiclass,
        )
        examples = error_examples(encoded.y > 0, chosen, self.classes_, [d.id for d in docs], texts)
        if explain_examples and isinstance(self.featurizer_, TfidfFeaturizer):
            by_id = {d.id: d.text for d in docs}
            for example in examples:
                example["explanations"] = {
                    e.topic: e.up for e in self.explain(by_id[example["id"]], top=6)
                }
        return dataclasses.replace(report, examples=examples)

    # -- persistence -------------------------------------------------------------------
    def save(
        self, path: str | Path, *, overwrite: bool = False, corpus: dict[str, Any] | None = None
    ) -> Path:
        """Write the model directory atomically; returns its path."""
        self._check_fitted()
        if isinstance(self.model_, NumpyDense):
            raise UnsupportedError(
                "a model loaded with the numpy engine cannot be saved again; "
                "load it with engine='keras' to save it"
            )
        path = Path(path)
        with bundle.atomic_directory(path, overwrite=overwrite) as tmp:
            self.model_.save(tmp / "model.keras")
            exported = export_dense_weights(self.model_)
            if exported is not None:
                np.savez(tmp / WEIGHTS_FILE, **exported)  # type: ignore[arg-type]
            meta, arrays = self.featurizer_.get_state()
            bundle.write_json(tmp / "features.json", meta)
            # Numeric arrays only, so nothing in the archive is pickled.
            np.savez(tmp / "features.npz", **arrays)  # type: ignore[arg-type]
            if self.blend_ is not None:
                np.savez(tmp / LINEAR_FILE, **self.blend_.to_arrays())  # type: ignore[arg-type]
            if self.linear_featurizer_ is not None:
                meta, arrays = self.linear_featurizer_.get_state()
                bundle.write_json(tmp / "linear_features.json", meta)
                np.savez(tmp / "linear_features.npz", **arrays)  # type: ignore[arg-type]
            bundle.write_json(tmp / "labels.json", self.classes_)
            bundle.write_json(tmp / "thresholds.json", self.policy_.to_dict())
            manifest = bundle.new_manifest(
                mode=self.mode_,
                network=self.config.network.type,
                n_topics=len(self.classes_),
                n_features=self.featurizer_.n_features,
                config=self.config.to_dict(),
                corpus=corpus or {},
                training=self.training_info_,
                validation=_summary(self.validation_report_),
            )
            bundle.write_json(tmp / bundle.MANIFEST, manifest)
        return path

    @classmethod
    def load(cls, path: str | Path, *, engine: str = "auto") -> TopicClassifier:
        """Load a model directory written by `save` (no pickle).

        `engine`: 'auto' serves dense networks with numpy from their exported weights (no
        TensorFlow import) and other networks with Keras (safe mode); 'keras' or 'numpy'
        force one.
        """
        path = Path(path)
        manifest = bundle.check_directory(path)
        try:
            config = Config.from_dict(manifest["config"])
        except (ConfigError, KeyError, TypeError) as exc:
            raise ModelBundleError(
                f"{path}: invalid configuration in the manifest: {exc}"
            ) from None
        classes = bundle.read_json(path, "labels.json")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ModelBundleError(f"{path}/labels.json: expected a list of topic names")
        meta = bundle.read_json(path, "features.json")
        arrays = bundle.read_npz(path, "features.npz")
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind not in FEATURIZERS:
            raise ModelBundleError(f"{path}/features.json: unknown featurizer kind {kind!r}")
        try:
            featurizer = FEATURIZERS[kind].from_state(config.text, config.features, meta, arrays)
            policy = ThresholdPolicy.from_dict(bundle.read_json(path, "thresholds.json"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"{path}: inconsistent model files ({exc})") from None
        if policy.thresholds.shape != (len(classes),):
            raise ModelBundleError(
                f"{path}/thresholds.json: {policy.thresholds.size} thresholds for "
                f"{len(classes)} topics in labels.json"
            )
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        has_weights = (path / WEIGHTS_FILE).is_file()
        if engine == "numpy" and not has_weights:
            raise ModelBundleError(
                f"{path}: no {WEIGHTS_FILE}; the numpy engine serves dense networks saved by "
                "topicclf 0.1 or later (use engine='keras')"
            )
        model: Any
        if has_weights and engine in ("auto", "numpy"):
            activation = "softmax" if policy.multiclass else "sigmoid"
            model = NumpyDense(bundle.read_npz(path, WEIGHTS_FILE), activation)
            inputs = model.n_inputs
        else:
            model = _load_keras(path, manifest)
            inputs = int(model.inputs[0].shape[-1])
        outputs = _n_outputs(model)
        if outputs != len(classes):
            raise ModelBundleError(
                f"{path}: the network has {outputs} outputs but labels.json lists "
                f"{len(classes)} topics"
            )
        expected = (
            featurizer.n_features if kind == "tfidf" else getattr(featurizer, "sequence_length_", 0)
        )
        if inputs != expected:
            raise ModelBundleError(
                f"{path}: the network takes {inputs} inputs but the features give {expected}"
            )
        blend, linear_featurizer = _load_blend(path, config, featurizer, len(classes))
        self = cls(config=config)
        self.blend_ = blend
        self.linear_featurizer_ = linear_featurizer
        self.classes_ = classes
        self.mode_ = str(manifest.get("mode", "multilabel"))
        self.featurizer_ = featurizer
        self.model_ = model
        self.policy_ = policy
        self.training_info_ = dict(manifest.get("training", {}))
        self.manifest_ = manifest
        return self


def _load_blend(
    path: Path, config: Config, featurizer: Featurizer, n_topics: int
) -> tuple[LinearBlend | None, TfidfFeaturizer | None]:
    """The saved linear model, if the directory has one, checked against the rest."""
    if not (path / LINEAR_FILE).is_file():
        return None, None
    linear_featurizer = None
    if (path / "linear_features.json").is_file():
        meta = bundle.read_json(path, "linear_features.json")
        arrays = bundle.read_npz(path, "linear_features.npz")
        try:
            linear_featurizer = TfidfFeaturizer.from_state(
                config.text, config.features, meta, arrays
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"{path}: inconsistent linear_features files ({exc})") from None
        n_features = linear_featurizer.n_features
    elif isinstance(featurizer, TfidfFeaturizer):
        n_features = featurizer.n_features
    else:
        raise ModelBundleError(
            f"{path}: {LINEAR_FILE} needs TF-IDF features, but linear_features.json is missing"
        )
    arrays = bundle.read_npz(path, LINEAR_FILE)
    try:
        blend = LinearBlend.from_arrays(arrays, n_topics, n_features)
    except ModelBundleError as exc:
        raise ModelBundleError(f"{path}/{exc}") from None
    return blend, linear_featurizer


def _init_output_bias(model: Any, y: np.ndarray, multiclass: bool) -> None:
    """Start each output at its topic's base rate instead of 0.5.

    With many rare topics, a network starting at 0.5 spends its first epochs only learning
    that most topics are absent; starting from the log-odds of the training frequencies
    skips that and keeps rare topics from being pushed to zero before their words are learned.
    """
    rate = np.clip(y.mean(axis=0), 1e-4, 1 - 1e-4)
    bias = np.log(rate) if multiclass else np.log(rate / (1 - rate))
    model.get_layer("topics").bias.assign(bias.astype(np.float32))


def _loss(keras: Any, y: np.ndarray, multiclass: bool, weighting: str) -> Any:
    """Cross-entropy; with 'sqrt' weighting, a topic's positives weigh sqrt(negatives/positives).

    Rare topics otherwise contribute so little to the loss that early stopping, driven by the
    frequent ones, ends training before they are learned.
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


def _load_keras(path: Path, manifest: dict[str, Any]) -> Any:
    keras = keras_module()
    try:
        return keras.models.load_model(path / "model.keras", compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same here
        raise ModelBundleError(
            f"{path}/model.keras cannot be loaded safely ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            f"versions recorded vs installed: {bundle.describe_versions(manifest)}"
        ) from None


def _n_outputs(model: Any) -> int:
    if isinstance(model, NumpyDense):
        return model.n_outputs
    return int(model.outputs[0].shape[-1])


def _predict(model: Any, x: Any) -> np.ndarray:
    if x.shape[0] == 0:
        return np.zeros((0, _n_outputs(model)), dtype=np.float32)
    if isinstance(model, NumpyDense):
        return model.predict(x)
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)


def _summary(report: EvaluationReport) -> dict[str, float]:
    return {
        "micro_f1": round(report.micro.f1, 4),
        "macro_f1": round(report.macro.f1, 4),
        "micro_precision": round(report.micro.precision, 4),
        "micro_recall": round(report.micro.recall, 4),
        "documents": report.n_documents,
    }


def _validate_training_data(
    texts: Sequence[str], label_sets: Sequence[Sequence[str]]
) -> tuple[list[str], list[tuple[str, ...]], int]:
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
        warnings.warn(f"{skipped} empty document(s) skipped in training", UserWarning, stacklevel=3)
    return kept_texts, kept_labels, skipped


def _validation_f1_callback(keras: Any, x_val: Any, y_val: np.ndarray, tune: Any) -> Any:
    class _ValidationF1(keras.callbacks.Callback):  # type: ignore[misc, name-defined]
        """Adds val_f1, the mean of micro- and macro-F1 on validation data under thresholds
        tuned there, so early stopping follows what tagging is judged by, not the loss."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            scores = _predict(self.model, x_val)
            policy = tune(y_val, scores)
            report = evaluate(
                y_val, apply(scores, policy), [str(j) for j in range(scores.shape[1])]
            )
            if logs is not None:
                logs["val_f1"] = (report.micro.f1 + report.macro.f1) / 2.0

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
