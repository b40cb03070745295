"""What `topicclf info` says about a model: its description, from the JSON files alone (no
network is loaded, so no TensorFlow)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from topicclf.bundle import (
    check_counts,
    check_featurizer_meta,
    check_network_files,
    check_recorded_mode,
    load_vocabulary,
    manifest_config,
    read_labels,
    read_target,
    read_thresholds,
)
from topicclf.bundle.layout import (
    FEATURES_ARRAYS,
    FEATURES_META,
    LINEAR_FEATURES_ARRAYS,
    LINEAR_FEATURES_META,
    check_directory,
    model_files,
)
from topicclf.bundle.manifest import describe_versions
from topicclf.config import INFO_SHOWN_CHARS, INFO_SHOWN_ITEMS, INFO_TOPIC_CHARS
from topicclf.errors import ConfigError, ModelBundleError
from topicclf.features.languages import describe_rules
from topicclf.model.networks import network_kind


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
    # Forged settings, or files that disagree, are refused as `load` refuses them.
    config_read = manifest_config(directory, manifest)
    files = model_files(directory, manifest)
    topics = read_labels(files)
    thresholds = read_thresholds(files)
    # Its kind, fields and analyzer rules, as `load` checks them (the arrays are not read).
    _, features_meta = check_featurizer_meta(files, FEATURES_META, FEATURES_ARRAYS)
    if files.has(LINEAR_FEATURES_META):
        check_featurizer_meta(files, LINEAR_FEATURES_META, LINEAR_FEATURES_ARRAYS, "tfidf")
    if features_meta.get("kind") == "tfidf":
        terms = [features_meta.get(k) or [] for k in ("vocabulary", "char_vocabulary")]
        counted = sum(len(t) for t in terms if isinstance(t, list))
    else:  # token sequences: the count is the configured length, checked by `load`
        counted = manifest.get("n_features", 0)
    check_counts(directory, manifest, len(topics), counted)
    mode = str(manifest.get("mode", "multilabel"))
    check_recorded_mode(directory, mode, thresholds.get("multiclass", False))
    check_network_files(
        files, manifest, config_read, str(features_meta.get("kind")), counted, len(topics)
    )
    read_target(directory, manifest, topics)
    load_vocabulary(files, topics)  # subjects of topics the model lacks: `tag` refuses them
    config = manifest.get("config", {})
    net = config.get("network", {})
    try:
        kind = network_kind(str(manifest.get("network")))
    except ConfigError as exc:
        raise ModelBundleError(f"{directory}/manifest.json: {exc}") from None
    training = manifest.get("training", {})
    shown = ", ".join(_cut(name) for name in topics[:30])
    shown += f" ... (+{len(topics) - 30})" if len(topics) > 30 else ""
    described = {
        "path": str(directory),
        "format version": manifest.get("format_version"),
        "created": manifest.get("created_at"),
        "mode": manifest.get("mode"),
        "network": kind.describe(net),
        "features": FEATURE_TEXT[kind.featurizer](
            manifest.get("n_features"),
            # The length a sequence model reads, as load checked it (the settings' 0 means
            # "from the data"): what each document costs in memory.
            {
                **config.get("features", {}),
                "length": features_meta.get("sequence_length"),
                "min_df_applied": training.get("min_df_applied"),
            },
            manifest.get("training", {}).get("char_ngrams"),
        ),
        "analyzer": _describe_analyzer(config.get("text", {}), training.get("analyzer")),
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
    # Every value cut by one rule, those made from the manifest's fields too: a forged
    # manifest's 200,000 analyzer languages made a 26 MB line of `info --json`.
    return {key: shown_value(value) for key, value in described.items()}


def _cut(name: str) -> str:
    """A topic name cut to INFO_TOPIC_CHARS, its length said (a 10 MB name is legal)."""
    if len(name) <= INFO_TOPIC_CHARS:
        return name
    return f"{name[:INFO_TOPIC_CHARS]}... ({len(name):,} characters)"


def shown_value(value: Any) -> Any:
    """`value` with lists, objects and strings cut once INFO_SHOWN_ITEMS items or
    INFO_SHOWN_CHARS characters of it have been shown in all, depth first (nesting is bounded
    when the file is read, so the recursion is too)."""
    budget = {"items": INFO_SHOWN_ITEMS, "chars": INFO_SHOWN_CHARS}

    def cut(item: Any) -> Any:
        if isinstance(item, str):
            room = max(0, min(len(item), budget["chars"]))
            budget["chars"] -= room
            return item if room == len(item) else item[:room] + f"... ({len(item):,} characters)"
        if not isinstance(item, dict | list):
            return item
        pairs = iter(item.items()) if isinstance(item, dict) else enumerate(item)
        kept: list[tuple[Any, Any]] = []
        for key, child in pairs:
            if budget["items"] <= 0:
                break
            budget["items"] -= 1
            kept.append((key, cut(child)))
        rest = len(item) - len(kept)
        if isinstance(item, dict):
            out: Any = {str(k)[:1000]: v for k, v in kept}
            if rest:
                out["..."] = f"{rest:,} more entries"
            return out
        return [v for _, v in kept] + ([f"... ({rest:,} more items)"] if rest else [])

    return cut(value)


def _describe_analyzer(text: Any, analyzer: Any) -> str:
    """Tokens, stop words and stemming: per language from the training record, or (a model
    saved before languages were detected) from the settings."""
    text = text if isinstance(text, dict) else {}
    tokens = f"{text.get('tokenizer')} tokens" + (", lowercased" if text.get("lowercase") else "")
    try:
        rules = describe_rules(analyzer) if isinstance(analyzer, dict) else None
    except (AttributeError, TypeError):  # a hand-edited record: say what the settings say
        rules = None
    if rules is None:
        words = "English stop words" if text.get("stop_words") == "english" else "no stop words"
        rules = f"every text: {words}, stemmer {text.get('stemmer')}"
    return f"{tokens}; {rules}"


def _pieces(chars: Any) -> str:
    if isinstance(chars, list) and len(chars) == 2:
        return f" and character {chars[0]}-{chars[1]}-grams inside words"
    return ""


def _sequence_features(count: Any, features: dict[str, Any], chars: Any) -> str:
    pieces = _pieces(chars)
    return (
        f"{count} token ids (vocabulary up to {features.get('sequence_vocabulary')}, "
        f"word 1-{features.get('sequence_ngrams')}-grams, sequence length "
        f"{features.get('length')}"
        f"{'' if features.get('sequence_length') else ', from the data'})"
        + (f"; the linear model's TF-IDF terms: words{pieces}" if pieces else "")
    )


def _tfidf_features(count: Any, features: dict[str, Any], chars: Any) -> str:
    pieces = _pieces(chars)
    # The floor applied (recorded since attacker pass 24), said beside the setting when a
    # small corpus lowered it; older models record only the setting.
    asked, floor = features.get("min_df"), features.get("min_df_applied")
    lowered = "" if floor in (None, asked) else f" (features.min_df {asked}, lowered)"
    return (
        f"{count} TF-IDF terms (word 1-{features.get('ngram_max')}-grams{pieces}, in at least "
        f"{asked if floor is None else floor} documents{lowered}, at most "
        f"{features.get('max_features') or 'all'}"
        f"{', sublinear tf' if features.get('sublinear_tf') else ''})"
    )


# The features line of `info`, per featurizer kind (features.FEATURIZERS; a test holds them
# to the same keys): (feature count, saved feature settings, character n-gram range).
FEATURE_TEXT: dict[str, Callable[[Any, dict[str, Any], Any], str]] = {
    "tfidf": _tfidf_features,
    "sequence": _sequence_features,
}
