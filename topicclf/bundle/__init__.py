"""Saving and loading a model directory. Its neighbours: `layout` (file names, required files,
pre-load checks, `info --verify`), `files` (one file read as untrusted input), `manifest`
(format version, recorded fields and versions) and `info` (what `topicclf info` says).

A model directory holds the manifest, the Keras network, its exported dense weights, the
featurizer, the topics, the thresholds and the blended linear model. This package is the
only one that knows their formats; this module writes them atomically, records each file's
size and SHA-256 in the manifest, and reads them back through `files` (capped, checked
against those records) with cross-checks (shapes, topic counts, multi-class flags). Nothing
here unpickles.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topicclf.arrayfiles import ArraySpec, write_arrays
from topicclf.bundle.files import (
    KINDS,
    ModelFiles,
    check_fields,
    hash_file,
    nesting,
    write_json,
)
from topicclf.bundle.keras_file import check_keras_file
from topicclf.bundle.layout import (
    FEATURES_ARRAYS,
    FEATURES_META,
    LABELS_FILE,
    LINEAR_FEATURES_ARRAYS,
    LINEAR_FEATURES_META,
    LINEAR_FILE,
    MANIFEST,
    MODEL_FILE,
    SHORTLIST_META,
    THRESHOLDS_FILE,
    VOCABULARY_FILE,
    WEIGHTS_FILE,
    check_directory,
    model_files,
)

# FORMAT_VERSION is defined with the manifest and re-exported: it versions the whole bundle.
from topicclf.bundle.manifest import FORMAT_VERSION as FORMAT_VERSION
from topicclf.bundle.manifest import describe_versions, new_manifest
from topicclf.classes import checked_target_dtype
from topicclf.config import (
    MAX_TOP_K,
    MODEL_JSON_MAX_BYTES,
    THRESHOLD_STRATEGIES,
    Config,
    setting_language,
    shown,
    too_many_columns,
    topic_too_long,
)
from topicclf.errors import ConfigError, InputError, ModelBundleError
from topicclf.features import FEATURIZERS, Featurizer
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.fileio import atomic_directory
from topicclf.inputs import TARGET_KINDS, as_choice, as_flag, as_path
from topicclf.model.blend import LinearBlend
from topicclf.model.inference import (
    ENGINES,
    NumpyDense,
    Scorer,
    dense_weight_specs,
    export_dense_weights,
    import_dense_weights,
    n_inputs,
    n_outputs,
)
from topicclf.model.networks import network_kind, wide_path
from topicclf.model.shortlist import ShortlistNetwork
from topicclf.model.shortlist import array_specs as shortlist_specs
from topicclf.model.shortlist import from_state as shortlist_from_state
from topicclf.model.shortlist import state as shortlist_state
from topicclf.model.thresholds import ThresholdPolicy
from topicclf.vocabulary import Vocabulary

THRESHOLD_FIELDS = {
    "strategy": "a string",
    "thresholds": "a list of numbers",
    "global_threshold": "a number",
    "fallback": "a boolean",
    "top_k": "a non-negative integer",
    "multiclass": "a boolean",
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
    vocabulary: Vocabulary | None = None
    # How `y` was given to fit (inputs.TARGET_KINDS), and an indicator's column names, so
    # that a loaded model predicts in the same shape.
    target_kind: str = "sets"
    target_columns: list[str] | None = None


def save_model(
    model: SavedModel,
    target: str | Path,
    *,
    overwrite: bool = False,
    corpus: dict[str, Any] | None = None,
) -> Path:
    """Write a model directory atomically (a temporary sibling renamed into place)."""
    overwrite = as_flag(overwrite, "overwrite")
    target = Path(as_path(target, "path"))
    scorer = model.scorer
    with atomic_directory(target, overwrite=overwrite, kind="model") as tmp:
        _save_network(scorer.network, tmp)
        _save_featurizer(scorer.featurizer, tmp, FEATURES_META, FEATURES_ARRAYS)
        if scorer.blend is not None:
            write_arrays(tmp / LINEAR_FILE, scorer.blend.to_arrays())
        if scorer.linear_featurizer is not None:
            _save_featurizer(
                scorer.linear_featurizer, tmp, LINEAR_FEATURES_META, LINEAR_FEATURES_ARRAYS
            )
        problem = labels_problem(model.classes)
        if problem:  # the topics come from fit's checks; this is the last line of defence
            raise InputError(f"cannot save this model: {problem}")
        write_json(tmp / LABELS_FILE, model.classes)
        problem = target_problem(model.target_columns, model.classes)
        if problem:  # fit refuses such a `y` first; this is the last line of defence
            raise InputError(f"cannot save this model: indicator columns: {problem}")
        thresholds = model.policy.to_dict()
        check_thresholds(json.loads(json.dumps(thresholds)), f"{target}/{THRESHOLDS_FILE}")
        write_json(tmp / THRESHOLDS_FILE, thresholds)
        if model.vocabulary is not None:  # before hashing: every file is recorded
            write_json(tmp / VOCABULARY_FILE, model.vocabulary.to_dict())
        # Hashed from disk once written: the records are of exactly what a reader will see.
        files = {path.name: hash_file(tmp, path.name) for path in sorted(tmp.iterdir())}
        manifest = new_manifest(
            mode=model.mode,
            network=model.config.network.type,
            n_topics=len(model.classes),
            n_features=scorer.featurizer.n_features,
            config=model.config.to_dict(),
            corpus=checked_corpus(
                corpus if corpus is not None else model.manifest.get("corpus", {})
            ),
            training={
                **model.training,
                "target": {"kind": model.target_kind, "columns": model.target_columns},
            },
            validation=model.validation,
            files={name: record.to_dict() for name, record in files.items()},
        )
        write_json(tmp / MANIFEST, manifest)
        if (tmp / MANIFEST).stat().st_size > MODEL_JSON_MAX_BYTES:
            raise InputError(
                f"cannot save this model: its manifest would be larger than the "
                f"{MODEL_JSON_MAX_BYTES:,} bytes topicclf reads (a corpus record that large?)"
            )
        # Read back by the loader itself: a model that loading would refuse is never saved
        # (nor put in the place of a working one).
        try:
            load_model(tmp, engine="numpy" if isinstance(scorer.network, NumpyDense) else "auto")
        except ModelBundleError as exc:
            message = str(exc).replace(str(tmp), str(target))
            raise InputError(f"cannot save this model, it would not load: {message}") from None
    return target


# The corpus record of a manifest (the training corpus's path, reader, counts) is small; a
# record beyond this many characters of JSON is a mistake, and would be echoed by `info`.
CORPUS_RECORD_MAX_CHARS = 100_000
CORPUS_RECORD_MAX_NESTING = 8


def checked_corpus(corpus: Any) -> dict[str, Any]:
    """The corpus record a manifest will hold, checked as loading checks it: an object of
    finite JSON values, of a bounded size."""
    if not isinstance(corpus, dict):
        raise InputError(
            f"corpus: a dict describing the training corpus (e.g. {{'path': ...}}), not a "
            f"{type(corpus).__name__}"
        )
    if nesting(corpus) > CORPUS_RECORD_MAX_NESTING:
        raise InputError(
            f"corpus: nested more than {CORPUS_RECORD_MAX_NESTING} levels deep; describe the "
            "corpus with a flat record"
        )
    try:
        text = json.dumps(corpus, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate cannot be written
    except (TypeError, ValueError, RecursionError) as exc:
        raise InputError(f"corpus: not writable as JSON ({str(exc)[:200]})") from None
    if len(text) > CORPUS_RECORD_MAX_CHARS:
        raise InputError(
            f"corpus: {len(text):,} characters of JSON, more than the "
            f"{CORPUS_RECORD_MAX_CHARS:,} a model's corpus record holds"
        )
    return corpus


def _save_featurizer(featurizer: Featurizer, directory: Path, meta: str, arrays: str) -> None:
    state, numeric = featurizer.get_state()
    write_json(directory / meta, state)
    write_arrays(directory / arrays, numeric)


def _save_network(network: Any, directory: Path) -> None:
    if isinstance(network, ShortlistNetwork):
        meta, arrays = shortlist_state(network)
        write_json(directory / SHORTLIST_META, meta)
        write_arrays(directory / WEIGHTS_FILE, arrays)
        return
    # A dense network is its exported weights alone: Keras rebuilds it from the configuration
    # when asked to (engine='keras'), so it is not stored a second time as model.keras.
    if isinstance(network, NumpyDense):
        write_arrays(directory / WEIGHTS_FILE, network.arrays)
        return
    exported = export_dense_weights(network)
    if exported is not None:
        write_arrays(directory / WEIGHTS_FILE, exported)
        return
    # A fresh copy from the configuration carries the weights without the optimizer's state,
    # which tagging never needs and which would double or triple the file.
    plain = type(network).from_config(network.get_config())
    plain.set_weights(network.get_weights())
    plain.save(directory / MODEL_FILE)


def load_model(path: str | Path, *, engine: str = "auto") -> SavedModel:
    """Read and cross-check a model directory written by `save_model` (no pickle).

    `engine`: 'auto' serves dense networks with numpy from their exported weights (no
    TensorFlow import) and other networks with Keras (safe mode); 'keras' or 'numpy' force one.
    """
    engine = as_choice(engine, ENGINES, "engine")
    path = Path(as_path(path, "path"))
    manifest = check_directory(path)
    files = model_files(path, manifest)
    config = manifest_config(path, manifest)
    classes = read_labels(files)
    featurizer = _load_featurizer(files, config, FEATURES_META, FEATURES_ARRAYS, None)
    try:
        policy = ThresholdPolicy.from_dict(read_thresholds(files))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelBundleError(f"{path}/{THRESHOLDS_FILE}: malformed ({exc})") from None
    if policy.thresholds.shape != (len(classes),):
        raise ModelBundleError(
            f"{path}/{THRESHOLDS_FILE}: {policy.thresholds.size} thresholds for "
            f"{len(classes)} topics in {LABELS_FILE}"
        )
    net = config.network
    features_kind = "tfidf" if isinstance(featurizer, TfidfFeaturizer) else "sequence"
    check_network_files(files, manifest, config, features_kind, featurizer.n_features, len(classes))
    if network_kind(net.type).pipeline == "shortlist":
        network = _load_shortlist(files, config, policy.multiclass)
    else:
        specs = dense_weight_specs(
            featurizer.n_features, net.hidden_units, len(classes), wide=wide_path(config)
        )
        network = _load_network(
            files, manifest, engine, policy.multiclass, specs, featurizer, len(classes)
        )
    if network is None:  # a dense network kept as weights alone, asked for as Keras
        network = _rebuild_keras(config, featurizer, len(classes), policy.multiclass, files, specs)
    _check_network(path, network, featurizer, len(classes))
    check_counts(path, manifest, len(classes), featurizer.n_features)
    blend, linear_featurizer = _load_blend(files, config, featurizer, len(classes))
    mode = str(manifest.get("mode", "multilabel"))
    _check_mode(path, mode, policy, blend)
    target_kind, target_columns = read_target(path, manifest, classes)
    return SavedModel(
        config=config,
        classes=classes,
        mode=mode,
        scorer=Scorer(featurizer, network, blend, linear_featurizer),
        policy=policy,
        training=dict(manifest.get("training") or {}),
        validation=dict(manifest.get("validation") or {}),
        manifest=manifest,
        vocabulary=load_vocabulary(files, classes),
        target_kind=target_kind,
        target_columns=target_columns,
    )


def _applied_stemmer(stored: Any) -> Any:
    """A manifest's configuration with `text.stemmer = porter` and a fixed non-English
    `text.language` read as `none`: models saved before TextConfig refused the pair applied
    no stemmer to any text (languages.stemmer_of), and load as what they are."""
    text = stored.get("text") if isinstance(stored, dict) else None
    if not isinstance(text, dict) or text.get("stemmer") != "porter":
        return stored
    try:
        # Read as TextConfig reads it: a manifest's `English` or `AUTO` with porter stems
        # English texts, and was taken as another language (so the stemmer dropped).
        language = setting_language(text.get("language", "auto"))
    except ConfigError:
        return stored  # Config.from_dict says what is wrong with it
    if language in ("auto", "english"):
        return stored
    return {**stored, "text": {**text, "stemmer": "none"}}


def manifest_config(path: Path, manifest: dict[str, Any]) -> Config:
    """The configuration a manifest records, checked as any setting is (`load` and `info`
    refuse the same forged values), and the floor applied checked against it."""
    try:
        stored = manifest["config"]
        if isinstance(stored, dict) and isinstance(stored.get("blend"), dict):
            # Models saved before stacking existed were not stacked.
            stored = {**stored, "blend": {"stack": False, **stored["blend"]}}
        stored = _applied_stemmer(stored)
        config = Config.from_dict(stored)
    except (ConfigError, KeyError, TypeError) as exc:
        raise ModelBundleError(f"{path}: invalid configuration in the manifest: {exc}") from None
    # Its type was checked with the manifest. Training only ever lowers the floor
    # (FeatureConfig.document_floor), so one above the setting is a forgery that `info`
    # would show as "lowered".
    applied = manifest.get("training", {}).get("min_df_applied")
    if applied is not None and applied > config.features.min_df:
        raise ModelBundleError(
            f"{path}/{MANIFEST}: field 'training.min_df_applied' says {applied}, above "
            f"features.min_df {config.features.min_df} in the configuration; training only "
            "ever lowers it, so the manifest was changed after the model was saved"
        )
    return config


def load_vocabulary(files: ModelFiles, classes: list[str]) -> Vocabulary | None:
    """The topics' subjects stored in a model directory, or None when it has none."""
    if not files.has(VOCABULARY_FILE):
        return None
    try:
        return Vocabulary.from_dict(files.json(VOCABULARY_FILE), classes)
    except ValueError as exc:
        raise ModelBundleError(f"{files.directory}/{VOCABULARY_FILE}: {exc}") from None


def read_labels(files: ModelFiles) -> list[str]:
    """The topic names, in output-column order."""
    classes = files.json(LABELS_FILE)
    if not KINDS["a list of strings"](classes):
        raise ModelBundleError(f"{files.directory}/{LABELS_FILE}: expected a list of topic names")
    problem = labels_problem(classes)
    if problem:
        raise ModelBundleError(f"{files.directory}/{LABELS_FILE}: {problem}")
    return list(classes)


def labels_problem(classes: list[str]) -> str:
    """What is wrong with a model's topic names ("" if nothing): the one check of saving
    and loading."""
    if "" in classes:  # readers drop empty labels, so no training gives one
        return "a topic name is empty"
    if len(set(classes)) != len(classes):
        twice = next(c for c, n in Counter(classes).items() if n > 1)
        return f"the topic {twice!r} is listed more than once"
    # Readers and fit refuse such a name; one here is a forgery, which would make every
    # answer naming the topic megabytes.
    return next(filter(None, map(topic_too_long, classes)), "")


def target_problem(columns: list[str] | None, classes: list[str]) -> str:
    """What is wrong with the indicator columns a model keeps for `predict` ("" if nothing):
    the one check of fitting, saving and loading (a model saved is a model that loads)."""
    if columns is None:
        return ""
    if "" in columns or len(set(columns)) != len(columns):
        return "a column name is empty or repeated"
    too_long = next(filter(None, map(topic_too_long, columns)), "")
    if too_long:  # fit reads column names as topic names
        return too_long
    return too_many_columns(len(columns), len(classes))


def read_target(
    path: Path, manifest: dict[str, Any], classes: list[str]
) -> tuple[str, list[str] | None]:
    """How `y` was given to fit, from the manifest: its kind and an indicator's columns,
    checked with the dtype of a `y` of numbers, as `load` and `info` alike check them (a
    model saved before it was recorded: topic lists)."""
    where = f"{path}/{MANIFEST}"
    training = manifest.get("training")
    training = training if isinstance(training, dict) else {}
    target = training.get("target")
    kind, columns = ("sets", None) if target is None else _target_fields(target, classes, where)
    checked_target_dtype(training, kind, classes, where)
    return kind, columns


def _target_fields(target: Any, classes: list[str], where: str) -> tuple[str, list[str] | None]:
    """A recorded target's kind and columns, which must agree: an indicator `y` has its
    columns, any other none (a kind forged to 'single' changed what `predict` answers)."""
    kind = target.get("kind") if isinstance(target, dict) else None
    if not isinstance(kind, str) or kind not in TARGET_KINDS:
        raise ModelBundleError(
            f"{where}: field 'training.target.kind': {shown(kind)} is not one of "
            f"{', '.join(TARGET_KINDS)}"
        )
    columns = target.get("columns")
    if kind != "indicator":
        if columns is not None:
            raise ModelBundleError(
                f"{where}: field 'training.target.kind': {kind!r}, but the manifest records "
                "indicator columns ('training.target.columns'), which only a model fitted on "
                "an indicator y ('indicator') has"
            )
        return kind, None
    if not KINDS["a list of strings"](columns):
        raise ModelBundleError(
            f"{where}: field 'training.target.columns': expected the column names of the "
            f"indicator y (a list of strings), not {shown(columns)}"
        )
    problem = target_problem(columns, classes)
    if problem:
        raise ModelBundleError(f"{where}: field 'training.target.columns': {problem}")
    return kind, list(columns)


def read_thresholds(files: ModelFiles) -> dict[str, Any]:
    """The thresholds file's fields, type-checked."""
    return check_thresholds(files.json(THRESHOLDS_FILE), f"{files.directory}/{THRESHOLDS_FILE}")


def check_thresholds(data: Any, where: str) -> dict[str, Any]:
    """The one check of a thresholds record, on load and before saving (a model whose
    training diverged to NaN is never saved to fail every later load)."""
    required = ("strategy", "thresholds", "global_threshold", "fallback")
    check_fields(data, THRESHOLD_FIELDS, where, required=required)
    # Scores are probabilities: a threshold outside [0, 1] (or NaN) gives every topic or none.
    values = [*data["thresholds"], data["global_threshold"]]
    # 0 <= v <= 1 first: math.isfinite of a 400-digit integer raises OverflowError.
    if not all(0.0 <= v <= 1.0 and math.isfinite(v) for v in values):
        raise ModelBundleError(f"{where}: thresholds must be numbers between 0 and 1")
    if data["strategy"] not in (*THRESHOLD_STRATEGIES, "argmax"):
        raise ModelBundleError(f"{where}: unknown strategy {data['strategy']!r}")
    if data.get("top_k", 0) > MAX_TOP_K:
        raise ModelBundleError(f"{where}: top_k {data['top_k']} is not a plausible count")
    return dict(data)


def check_featurizer_meta(
    files: ModelFiles, meta_name: str, arrays_name: str, kind: str | None = None
) -> tuple[type[Featurizer], dict[str, Any]]:
    """The featurizer class and JSON state of `meta_name`, checked as far as they go without
    the arrays (its kind, fields and analyzer rules): what `info` refuses as `load` does."""
    path = files.directory
    meta = files.json(meta_name)
    found = meta.get("kind") if isinstance(meta, dict) else None
    if not isinstance(found, str) or found not in FEATURIZERS or kind not in (None, found):
        raise ModelBundleError(f"{path}/{meta_name}: unknown featurizer kind {found!r}")
    featurizer = FEATURIZERS[found]
    fields = featurizer.state_fields
    required = tuple(f for f in fields if f not in featurizer.optional_fields)
    check_fields(meta, fields, f"{path}/{meta_name}", required=required)
    try:
        featurizer.analyzer_rules(meta)  # unknown stemmers, stop words that are no strings
    except (KeyError, TypeError, ValueError) as exc:
        raise _inconsistent(files, meta_name, arrays_name, exc) from None
    return featurizer, meta


def _inconsistent(
    files: ModelFiles, meta_name: str, arrays_name: str, exc: Exception
) -> ModelBundleError:
    return ModelBundleError(
        f"{files.directory}: inconsistent {meta_name} / {files.name(arrays_name)} ({exc})"
    )


def _load_featurizer(
    files: ModelFiles, config: Config, meta_name: str, arrays_name: str, kind: str | None
) -> Featurizer:
    featurizer, meta = check_featurizer_meta(files, meta_name, arrays_name, kind)
    arrays = files.arrays(arrays_name, featurizer.state_specs(meta))
    try:
        return featurizer.from_state(config.text, config.features, meta, arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise _inconsistent(files, meta_name, arrays_name, exc) from None


def _load_network(
    files: ModelFiles,
    manifest: dict[str, Any],
    engine: str,
    multiclass: bool,
    specs: dict[str, ArraySpec],
    featurizer: Featurizer,
    n_topics: int,
) -> Any:
    has_weights = files.has(WEIGHTS_FILE)
    where = f"{files.directory}/{files.name(WEIGHTS_FILE)}"
    if engine == "numpy" and not has_weights:
        raise ModelBundleError(
            f"{files.directory}: no {files.name(WEIGHTS_FILE)}; the numpy engine serves dense "
            "networks saved by topicclf 0.1 or later (use engine='keras')"
        )
    if has_weights and engine in ("auto", "numpy"):
        arrays = files.arrays(WEIGHTS_FILE, specs)
        try:
            return NumpyDense(arrays, "softmax" if multiclass else "sigmoid")
        except ModelBundleError as exc:
            raise ModelBundleError(f"{where}: {exc}") from None
    if not files.has(MODEL_FILE):
        return None
    return _load_keras(files, manifest, featurizer, n_topics)


def check_counts(path: Path, manifest: dict[str, Any], n_topics: int, n_features: int) -> None:
    """The manifest's topic and feature counts are the model's (`info` shows them)."""
    for field_name, actual in (("n_topics", n_topics), ("n_features", n_features)):
        recorded = manifest.get(field_name, actual)
        if recorded != actual:
            raise ModelBundleError(
                f"{path}/{MANIFEST}: field {field_name!r} says {recorded}, but the model has "
                f"{actual}; the model directory is inconsistent"
            )


def check_recorded_mode(path: Path, mode: str, multiclass: Any) -> None:
    """The manifest's mode and the thresholds' multi-class flag agree (`load_model`, and
    `info`, which reads the JSON files alone)."""
    if mode not in ("multilabel", "multiclass"):
        raise ModelBundleError(f"{path}/{MANIFEST}: mode {mode!r} is not multilabel or multiclass")
    if bool(multiclass) != (mode == "multiclass"):
        raise ModelBundleError(
            f"{path}: {MANIFEST} says {mode} but {THRESHOLDS_FILE} says "
            f"multiclass={multiclass}; the model directory is inconsistent"
        )


def check_network_files(
    files: ModelFiles,
    manifest: dict[str, Any],
    config: Config,
    features_kind: str,
    n_features: int,
    n_topics: int,
) -> None:
    """The network the manifest names is the one the model's files hold (`load_model` and
    `info` refuse alike): its top-level `network` and its configuration's network.type are
    one known kind, the features are the ones that kind reads, the kind's files are there
    and no other kind's, and a dense network's weights are the arrays its settings give
    (their header alone is read)."""
    path = files.directory
    name = config.network.type
    try:
        kind = network_kind(name)
    except ConfigError as exc:  # "auto" is chosen when training, never saved
        raise ModelBundleError(f"{path}/{MANIFEST}: config: {exc}") from None
    recorded = manifest.get("network", name)
    try:
        network_kind(recorded)
    except ConfigError as exc:
        raise ModelBundleError(f"{path}/{MANIFEST}: {exc}") from None
    if recorded != name:
        raise ModelBundleError(
            f"{path}: {MANIFEST} says network = {recorded}, and its config says "
            f"network.type = {name}"
        )
    if features_kind != kind.featurizer:
        raise ModelBundleError(
            f"{path}: {FEATURES_META} holds {features_kind} features, and {MANIFEST} says "
            f"network.type = {name}, which reads {kind.featurizer} features"
        )
    if kind.pipeline == "shortlist":
        if not (files.has(SHORTLIST_META) and files.has(WEIGHTS_FILE)):
            raise ModelBundleError(
                f"{path}: a shortlist model needs {SHORTLIST_META} and {WEIGHTS_FILE}"
            )
        return
    if files.has(SHORTLIST_META):
        raise ModelBundleError(
            f"{path}: {SHORTLIST_META} belongs to a shortlist model, and {MANIFEST} says "
            f"network.type = {name}"
        )
    weights = files.has(WEIGHTS_FILE)
    if kind.featurizer == "sequence":  # an embedding network is saved whole, as Keras's file
        if weights:
            raise ModelBundleError(
                f"{path}: {files.name(WEIGHTS_FILE)} belongs to a dense model, and {MANIFEST} "
                f"says network.type = {name}"
            )
        if not files.has(MODEL_FILE):
            raise ModelBundleError(f"{path}: an {name} model needs {MODEL_FILE}")
        return
    if weights:
        check_dense_weights(files, config, n_features, n_topics)


def check_dense_weights(files: ModelFiles, config: Config, n_features: int, n_topics: int) -> None:
    """A dense network's weights file holds the arrays the manifest's settings give (hidden
    layers, the wide path), by its header: a hand-edited setting is named as such, not met
    as an unexpected array when tagging. (Shapes that follow the features and topics are
    checked as the arrays are read.)"""
    shapes = files.array_shapes(WEIGHTS_FILE)
    if shapes is None:  # an older .npz, or a header that reading the arrays will name
        return
    net = config.network
    wide = wide_path(config)
    expected = dense_weight_specs(n_features, net.hidden_units, n_topics, wide=wide)
    extra = [key for key in shapes if key not in expected]
    lacking = [key for key in expected if key not in shapes]
    # Each hidden layer's width is its kernel's last dimension.
    found = [
        units
        for i in range(len(net.hidden_units))
        for units in shapes.get(f"hidden_{i}_kernel", ())[-1:]
    ]
    if extra:
        detail = f"it has array {extra[0]!r}, which the settings do not give"
    elif lacking:
        detail = f"it has no array {lacking[0]!r}, which the settings give"
    elif found != list(net.hidden_units):
        detail = f"its hidden layers have {found} units"
    else:
        return
    raise ModelBundleError(
        f"{files.directory}: the settings in {MANIFEST} (network.hidden_units "
        f"{list(net.hidden_units)}; a wide path: {'yes' if wide else 'no'}, by network.wide, "
        f"blend.linear and blend.stack) and the arrays in {files.name(WEIGHTS_FILE)} "
        f"disagree: {detail}; the model directory is inconsistent"
    )


def _load_shortlist(files: ModelFiles, config: Config, multiclass: bool) -> ShortlistNetwork:
    """A shortlist network (numpy, whatever the engine): sizes first, then arrays of exactly
    those shapes; `multiclass`: the model's mode, which its scores follow."""
    path = files.directory
    meta = files.json(SHORTLIST_META)
    try:
        specs = shortlist_specs(meta)
    except ModelBundleError as exc:
        raise ModelBundleError(f"{path}/{SHORTLIST_META}: {exc}") from None
    arrays = files.arrays(WEIGHTS_FILE, specs)
    net = config.network
    try:
        return shortlist_from_state(
            meta,
            arrays,
            neighbours=net.neighbours,
            candidates=net.candidates,
            multiclass=multiclass,
        )
    except ModelBundleError as exc:
        raise ModelBundleError(f"{path}/{files.name(WEIGHTS_FILE)}: {exc}") from None


def _rebuild_keras(
    config: Config,
    featurizer: Featurizer,
    n_topics: int,
    multiclass: bool,
    files: ModelFiles,
    specs: dict[str, ArraySpec],
) -> Any:
    """A dense Keras network built from the configuration, with the saved weights."""
    from topicclf.model.networks import build_network  # the one training used: they match

    # The arrays first, shapes checked against their header: a forged configuration never
    # gets a network built (allocated) for it.
    arrays = files.arrays(WEIGHTS_FILE, specs)
    model = build_network(config, featurizer, n_topics, multiclass)
    import_dense_weights(model, arrays)
    return model


def _load_keras(
    files: ModelFiles, manifest: dict[str, Any], featurizer: Featurizer, n_topics: int
) -> Any:
    from topicclf.model.networks import keras_module

    files.check(MODEL_FILE)  # Keras opens the file itself: check it is the recorded one first
    path = files.directory
    tfidf = isinstance(featurizer, TfidfFeaturizer)
    check_keras_file(
        path / files.name(MODEL_FILE),
        inputs=_network_input(featurizer),
        topics=n_topics,
        vocabulary=None if tfidf else featurizer.n_features,  # the embedding's rows
    )
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
    expected = _network_input(featurizer)
    if n_inputs(network) != expected:
        raise ModelBundleError(
            f"{path}: the network takes {n_inputs(network)} inputs but the features give {expected}"
        )


def _network_input(featurizer: Featurizer) -> int:
    """The width of the network's input: TF-IDF features, or a sequence's token ids."""
    if isinstance(featurizer, TfidfFeaturizer):
        return featurizer.n_features
    return int(getattr(featurizer, "sequence_length_", None) or 0)


def _load_blend(
    files: ModelFiles, config: Config, featurizer: Featurizer, n_topics: int
) -> tuple[LinearBlend | None, TfidfFeaturizer | None]:
    """The saved linear model, if the directory has one, checked against the rest."""
    path = files.directory
    if not files.has(LINEAR_FILE):
        return None, None
    linear_featurizer = None
    if files.has(LINEAR_FEATURES_META):
        loaded = _load_featurizer(
            files, config, LINEAR_FEATURES_META, LINEAR_FEATURES_ARRAYS, "tfidf"
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
    arrays = files.arrays(LINEAR_FILE, LinearBlend.array_specs(n_topics, n_features))
    try:
        blend = LinearBlend.from_arrays(arrays, n_topics, n_features)
    except ModelBundleError as exc:
        raise ModelBundleError(f"{path}/{files.name(LINEAR_FILE)}: {exc}") from None
    return blend, linear_featurizer


def _check_mode(path: Path, mode: str, policy: ThresholdPolicy, blend: LinearBlend | None) -> None:
    """Multi-class is recorded in three files; they must agree."""
    check_recorded_mode(path, mode, policy.multiclass)
    multiclass = mode == "multiclass"
    if blend is not None and blend.multiclass != multiclass:
        raise ModelBundleError(
            f"{path}: {MANIFEST} says {mode} but {LINEAR_FILE} says "
            f"multiclass={blend.multiclass}; the model directory is inconsistent"
        )
