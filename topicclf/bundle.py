"""The model directory: every file's name, saving and loading them, checks and versions.

A model directory holds the manifest, the Keras network, its exported dense weights, the
featurizer, the topics, the thresholds and the blended linear model. This module is the
only one that knows their names and formats; it writes them atomically and reads them back
with cross-checks (shapes, topic counts, multi-class flags). Nothing here unpickles.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from topicclf.blend import LinearBlend
from topicclf.config import Config
from topicclf.errors import ConfigError, ModelBundleError
from topicclf.features import FEATURIZERS, Featurizer, TfidfFeaturizer
from topicclf.fileio import atomic_directory
from topicclf.inference import (
    ENGINES,
    NumpyDense,
    Scorer,
    export_dense_weights,
    n_inputs,
    n_outputs,
)
from topicclf.modelfiles import read_json, read_npz, write_json
from topicclf.thresholds import ThresholdPolicy
from topicclf.vocabulary import Vocabulary

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
FEATURES_META = "features.json"
FEATURES_ARRAYS = "features.npz"
LINEAR_FILE = "linear.npz"
LINEAR_FEATURES_META = "linear_features.json"
LINEAR_FEATURES_ARRAYS = "linear_features.npz"
LABELS_FILE = "labels.json"
THRESHOLDS_FILE = "thresholds.json"
VOCABULARY_FILE = "vocabulary.json"  # optional: the topics' URIs and labels (train --vocabulary)
REQUIRED_FILES = (MANIFEST, MODEL_FILE, FEATURES_META, LABELS_FILE, THRESHOLDS_FILE)
TRACKED_PACKAGES = ("topicclf", "tensorflow", "keras", "numpy", "scikit-learn", "nltk")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def new_manifest(**fields: Any) -> dict[str, Any]:
    """A manifest with the format version, creation time and package versions filled in."""
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": package_versions(),
        **fields,
    }


def check_directory(directory: str | Path) -> dict[str, Any]:
    """Check that a directory is a model this version can read; return its manifest."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelBundleError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelBundleError(f"{directory}: not a model directory (it is a file)")
    manifest = read_json(directory, MANIFEST)
    if not isinstance(manifest, dict) or "format_version" not in manifest:
        raise ModelBundleError(f"{directory}/{MANIFEST}: not a topicclf manifest")
    version = manifest["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        recorded = manifest.get("versions", {}).get("topicclf", "unknown")
        raise ModelBundleError(
            f"{directory}: model format {version} (made by topicclf {recorded}) is newer than "
            f"this topicclf {package_versions()['topicclf']} reads (format {FORMAT_VERSION}); "
            "upgrade topicclf"
        )
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelBundleError(
            f"{directory}: incomplete model directory, missing {', '.join(missing)}"
        )
    return manifest


def describe_versions(manifest: dict[str, Any]) -> str:
    """'package recorded -> installed' for packages whose versions differ."""
    recorded = manifest.get("versions", {})
    installed = package_versions()
    diffs = [
        f"{name} {recorded[name]} -> {installed.get(name)}"
        for name in sorted(recorded)
        if recorded[name] != installed.get(name)
    ]
    return "; ".join(diffs) if diffs else "same package versions"


def _describe_blend(blend: dict[str, Any]) -> str:
    if "linear_weight" not in blend:
        return "off"
    chosen = "chosen on validation" if "validation_micro_f1_by_weight" in blend else "fixed"
    return (
        f"{blend['linear_weight']} of a linear SVM's calibrated scores (C={blend.get('svm_c')}), "
        f"{chosen}"
    )


def describe(directory: str | Path) -> dict[str, Any]:
    """What a model is, from its JSON files alone (no network is loaded)."""
    directory = Path(directory)
    manifest = check_directory(directory)
    labels = read_json(directory, LABELS_FILE)
    thresholds = read_json(directory, THRESHOLDS_FILE)
    config = manifest.get("config", {})
    net = config.get("network", {})
    network = manifest.get("network", "?")
    if network == "dense":
        shape = f"dense, hidden layers {net.get('hidden_units')}, dropout {net.get('dropout')}"
    else:
        shape = (
            f"embedding (dim {net.get('embedding_dim')}, conv filters {net.get('conv_filters')}),"
            f" hidden layers {net.get('hidden_units')}"
        )
    training = manifest.get("training", {})
    topics = list(labels) if isinstance(labels, list) else []
    shown = ", ".join(topics[:30]) + (f" ... (+{len(topics) - 30})" if len(topics) > 30 else "")
    return {
        "path": str(directory),
        "format version": manifest.get("format_version"),
        "created": manifest.get("created_at"),
        "mode": manifest.get("mode"),
        "network": shape,
        "features": f"{manifest.get('n_features')} ({config.get('features', {})})",
        "topics": f"{len(topics)}: {shown}",
        "thresholds": (
            f"{thresholds.get('strategy')} (global {thresholds.get('global_threshold', 0):.3f}, "
            f"fallback to best topic: {thresholds.get('fallback')})"
        ),
        "linear blend": _describe_blend(training.get("blend", {})),
        "trained on": manifest.get("corpus", {}),
        # The per-threshold curve and blend details stay in manifest.json: too long here.
        "training": {k: v for k, v in training.items() if k not in ("threshold_curve", "blend")},
        "validation": manifest.get("validation", {}),
        "seed": config.get("train", {}).get("seed"),
        "versions (recorded)": manifest.get("versions", {}),
        "versions (installed)": describe_versions(manifest),
    }


@dataclass
class SavedModel:
    """Everything a model directory holds, as objects."""

    config: Config
    classes: list[str]
    mode: str
    scorer: Scorer
    policy: ThresholdPolicy
    training: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    # The directory it was loaded from: a numpy-served model re-saves its Keras file from there.
    source: Path | None = None
    vocabulary: Vocabulary | None = None


def save_model(
    model: SavedModel,
    target: str | Path,
    *,
    overwrite: bool = False,
    corpus: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory atomically (a temporary sibling renamed into place)."""
    target = Path(target)
    scorer = model.scorer
    with atomic_directory(target, overwrite=overwrite) as tmp:
        _save_network(scorer.network, tmp, model.source)
        _save_featurizer(scorer.featurizer, tmp, FEATURES_META, FEATURES_ARRAYS)
        if scorer.blend is not None:
            _save_npz(tmp / LINEAR_FILE, scorer.blend.to_arrays())
        if scorer.linear_featurizer is not None:
            _save_featurizer(
                scorer.linear_featurizer, tmp, LINEAR_FEATURES_META, LINEAR_FEATURES_ARRAYS
            )
        write_json(tmp / LABELS_FILE, model.classes)
        write_json(tmp / THRESHOLDS_FILE, model.policy.to_dict())
        manifest = new_manifest(
            mode=model.mode,
            network=model.config.network.type,
            n_topics=len(model.classes),
            n_features=scorer.featurizer.n_features,
            config=model.config.to_dict(),
            corpus=corpus if corpus is not None else model.manifest.get("corpus", {}),
            training=model.training,
            validation=model.validation,
        )
        write_json(tmp / MANIFEST, manifest)
        if model.vocabulary is not None:
            save_vocabulary(tmp, model.vocabulary)
    return target


def save_vocabulary(directory: Path, vocabulary: Vocabulary) -> None:
    """Write the topics' subjects (URI, label, notation) into a model directory."""
    write_json(directory / VOCABULARY_FILE, vocabulary.to_dict())


def load_vocabulary(directory: Path, classes: list[str]) -> Vocabulary | None:
    """The topics' subjects stored in a model directory, or None when it has none."""
    if not (directory / VOCABULARY_FILE).is_file():
        return None
    try:
        return Vocabulary.from_dict(read_json(directory, VOCABULARY_FILE), classes)
    except ValueError as exc:
        raise ModelBundleError(f"{directory}/{VOCABULARY_FILE}: {exc}") from None


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # Numeric arrays only, so nothing in the archive is pickled.
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _save_featurizer(featurizer: Featurizer, directory: Path, meta: str, arrays: str) -> None:
    state, numeric = featurizer.get_state()
    write_json(directory / meta, state)
    _save_npz(directory / arrays, numeric)


def _save_network(network: Any, directory: Path, source: Path | None) -> None:
    if isinstance(network, NumpyDense):
        # Loaded without TensorFlow: the Keras file is carried over from where it came from.
        if source is None or not (source / MODEL_FILE).is_file():
            raise ModelBundleError(
                f"cannot save this numpy-served model: its {MODEL_FILE} is no longer at "
                f"{source}; load it again with engine='keras' to save it"
            )
        shutil.copyfile(source / MODEL_FILE, directory / MODEL_FILE)
        _save_npz(directory / WEIGHTS_FILE, network.arrays)
        return
    network.save(directory / MODEL_FILE)
    exported = export_dense_weights(network)
    if exported is not None:
        _save_npz(directory / WEIGHTS_FILE, exported)


def load_model(path: str | Path, *, engine: str = "auto") -> SavedModel:
    """Read and cross-check a model directory written by `save_model` (no pickle).

    `engine`: 'auto' serves dense networks with numpy from their exported weights (no
    TensorFlow import) and other networks with Keras (safe mode); 'keras' or 'numpy' force one.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    path = Path(path)
    manifest = check_directory(path)
    try:
        config = Config.from_dict(manifest["config"])
    except (ConfigError, KeyError, TypeError) as exc:
        raise ModelBundleError(f"{path}: invalid configuration in the manifest: {exc}") from None
    classes = read_json(path, LABELS_FILE)
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ModelBundleError(f"{path}/{LABELS_FILE}: expected a list of topic names")
    featurizer = _load_featurizer(path, config, FEATURES_META, FEATURES_ARRAYS, None)
    try:
        policy = ThresholdPolicy.from_dict(read_json(path, THRESHOLDS_FILE))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelBundleError(f"{path}/{THRESHOLDS_FILE}: malformed ({exc})") from None
    if policy.thresholds.shape != (len(classes),):
        raise ModelBundleError(
            f"{path}/{THRESHOLDS_FILE}: {policy.thresholds.size} thresholds for "
            f"{len(classes)} topics in {LABELS_FILE}"
        )
    network = _load_network(path, manifest, engine, policy.multiclass)
    _check_network(path, network, featurizer, len(classes))
    blend, linear_featurizer = _load_blend(path, config, featurizer, len(classes))
    mode = str(manifest.get("mode", "multilabel"))
    _check_mode(path, mode, policy, blend)
    return SavedModel(
        config=config,
        classes=classes,
        mode=mode,
        scorer=Scorer(featurizer, network, blend, linear_featurizer),
        policy=policy,
        training=dict(manifest.get("training") or {}),
        validation=dict(manifest.get("validation") or {}),
        manifest=manifest,
        source=path,
        vocabulary=load_vocabulary(path, classes),
    )


def _load_featurizer(
    path: Path, config: Config, meta_name: str, arrays_name: str, kind: str | None
) -> Featurizer:
    meta = read_json(path, meta_name)
    arrays = read_npz(path, arrays_name)
    found = meta.get("kind") if isinstance(meta, dict) else None
    if found not in FEATURIZERS or (kind is not None and found != kind):
        raise ModelBundleError(f"{path}/{meta_name}: unknown featurizer kind {found!r}")
    try:
        return FEATURIZERS[found].from_state(config.text, config.features, meta, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelBundleError(
            f"{path}: inconsistent {meta_name} / {arrays_name} ({exc})"
        ) from None


def _load_network(path: Path, manifest: dict[str, Any], engine: str, multiclass: bool) -> Any:
    has_weights = (path / WEIGHTS_FILE).is_file()
    if engine == "numpy" and not has_weights:
        raise ModelBundleError(
            f"{path}: no {WEIGHTS_FILE}; the numpy engine serves dense networks saved by "
            "topicclf 0.1 or later (use engine='keras')"
        )
    if has_weights and engine in ("auto", "numpy"):
        try:
            return NumpyDense(read_npz(path, WEIGHTS_FILE), "softmax" if multiclass else "sigmoid")
        except ModelBundleError as exc:
            raise ModelBundleError(f"{path}/{WEIGHTS_FILE}: {exc}") from None
    return _load_keras(path, manifest)


def _load_keras(path: Path, manifest: dict[str, Any]) -> Any:
    from topicclf.networks import keras_module

    keras = keras_module()
    try:
        return keras.models.load_model(path / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files; all mean the same here
        first = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise ModelBundleError(
            f"{path}/{MODEL_FILE} cannot be loaded safely ({type(exc).__name__}: {first}); "
            f"versions recorded vs installed: {describe_versions(manifest)}"
        ) from None


def _check_network(path: Path, network: Any, featurizer: Featurizer, n_topics: int) -> None:
    outputs = n_outputs(network)
    if outputs != n_topics:
        raise ModelBundleError(
            f"{path}: the network has {outputs} outputs but {LABELS_FILE} lists {n_topics} topics"
        )
    expected = (
        featurizer.n_features
        if isinstance(featurizer, TfidfFeaturizer)
        else getattr(featurizer, "sequence_length_", 0)
    )
    if n_inputs(network) != expected:
        raise ModelBundleError(
            f"{path}: the network takes {n_inputs(network)} inputs but the features give {expected}"
        )


def _load_blend(
    path: Path, config: Config, featurizer: Featurizer, n_topics: int
) -> tuple[LinearBlend | None, TfidfFeaturizer | None]:
    """The saved linear model, if the directory has one, checked against the rest."""
    if not (path / LINEAR_FILE).is_file():
        return None, None
    linear_featurizer = None
    if (path / LINEAR_FEATURES_META).is_file():
        loaded = _load_featurizer(
            path, config, LINEAR_FEATURES_META, LINEAR_FEATURES_ARRAYS, "tfidf"
        )
        assert isinstance(loaded, TfidfFeaturizer)
        linear_featurizer = loaded
        n_features = loaded.n_features
    elif isinstance(featurizer, TfidfFeaturizer):
        n_features = featurizer.n_features
    else:
        raise ModelBundleError(
            f"{path}: {LINEAR_FILE} needs TF-IDF features, but {LINEAR_FEATURES_META} is missing"
        )
    try:
        blend = LinearBlend.from_arrays(read_npz(path, LINEAR_FILE), n_topics, n_features)
    except ModelBundleError as exc:
        raise ModelBundleError(f"{path}/{exc}") from None
    return blend, linear_featurizer


def _check_mode(path: Path, mode: str, policy: ThresholdPolicy, blend: LinearBlend | None) -> None:
    """Multi-class is recorded in three files; they must agree."""
    if mode not in ("multilabel", "multiclass"):
        raise ModelBundleError(f"{path}/{MANIFEST}: mode {mode!r} is not multilabel or multiclass")
    multiclass = mode == "multiclass"
    if policy.multiclass != multiclass:
        raise ModelBundleError(
            f"{path}: {MANIFEST} says {mode} but {THRESHOLDS_FILE} says "
            f"multiclass={policy.multiclass}; the model directory is inconsistent"
        )
    if blend is not None and blend.multiclass != multiclass:
        raise ModelBundleError(
            f"{path}: {MANIFEST} says {mode} but {LINEAR_FILE} says "
            f"multiclass={blend.multiclass}; the model directory is inconsistent"
        )
