"""TopicClassifier: the estimator facade over training, scoring, the decision rule and the
model directory. Each method delegates to the module that owns its concept."""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topicclf import bundle
from topicclf.classes import (
    NO_TOPIC,
    TARGET_DTYPE,
    ClassesView,
    check_integers,
    target_dtype,
)
from topicclf.config import (
    ESTIMATOR_PARAMS,
    EVALUATE_BATCH_CELLS,
    TAG_BLOCK_CELLS,
    Config,
    defaults_for,
    language_named,
    shown,
    with_values,
)
from topicclf.corpus.ids import warn_duplicate_ids
from topicclf.errors import DataError, InputError, TooManyPairsError
from topicclf.estimator import Estimator, not_fitted_error
from topicclf.features import Featurizer
from topicclf.features.languages import NAMES
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.inputs import (
    NO_DOCUMENT_COLUMNS,
    Targets,
    as_count,
    as_flag,
    as_list,
    as_progress,
    as_targets,
    as_texts,
    names_shown,
    topic_names_given,
    topic_set,
)
from topicclf.labels import LabelEncoder, separator_hint
from topicclf.metrics import (
    Evaluation,
    EvaluationReport,
    error_examples,
    group_figures,
    micro_f1_of_sets,
)
from topicclf.metrics.mistakes import ERROR_EXAMPLES
from topicclf.model.explain import Explanation, explain, explainable
from topicclf.model.inference import Scorer
from topicclf.model.thresholds import (
    DEFAULT_RULE,
    Rule,
    ThresholdPolicy,
    check_rule,
    decide,
    ignored_by,
    topics_of,
)
from topicclf.types import Document, Progress
from topicclf.vocabulary import Vocabulary

__all__ = ["Explanation", "TopicClassifier", "TopicClassifierNotFittedError"]  # noqa: F822 - the last is defined on first use (module __getattr__)

Topics = list[list[tuple[str, float]]]


def __getattr__(name: str) -> Any:
    if name == "TopicClassifierNotFittedError":  # defined on first use: see estimator.py
        return not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TopicClassifier(Estimator):
    """Learns to tag texts with topics (multi-label, or multi-class with exactly one topic).

    A scikit-learn estimator: keyword arguments set the main settings (None keeps the value
    of `config`, or the default), so `get_params`, `set_params`, `clone`, `GridSearchCV`,
    `cross_val_score` and `Pipeline` work. Every other setting comes from `config`.
    `fit(X, y)` takes texts and, per text, a topic list, or a 0/1 indicator matrix (one
    column per topic), or one topic; `predict` answers in the same shape as `y` was given.
    """

    # Learned by fit (or load); absent before, as in scikit-learn.
    # scikit-learn's view of the topics, what its tools index with (cross_val_predict,
    # StackingClassifier): a 1-D array, classes_[i] naming predict_proba's column i. The
    # topic names (dtype object), or for a `y` of one number per text those numbers in its
    # dtype, sorted as np.unique(y) sorts them.
    classes_: np.ndarray
    # The topic names in the network's own column order (sorted as strings): what tag,
    # evaluate, explain, save and the server name topics by.
    topics_: list[str]
    _classes: ClassesView  # classes_ and the way between its order and the network's
    mode_: str
    scorer_: Scorer
    policy_: ThresholdPolicy
    validation_report_: EvaluationReport  # after fit only: a loaded model has the summary
    validation_summary_: dict[str, Any]
    training_info_: dict[str, Any]
    manifest_: dict[str, Any]
    vocabulary_: Vocabulary | None  # the topics' URIs and labels, if trained with a vocabulary

    config_: Config
    target_kind_: str
    target_columns_: list[str] | None
    target_dtype_: np.dtype[Any] | None  # a 1-D integer y's dtype, which predict answers in

    def __init__(
        self,
        *,
        config: Config | None = None,
        network: str | None = None,
        hidden_units: tuple[int, ...] | None = None,
        dropout: float | None = None,
        embedding_dim: int | None = None,
        ngram_max: int | None = None,
        min_df: int | None = None,
        max_features: int | None = None,
        mode: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        patience: int | None = None,
        validation_split: float | None = None,
        min_count: int | None = None,
        seed: int | None = None,
        threshold_strategy: str | None = None,
        fallback: str | None = None,
        blend: str | None = None,
        svm_c: float | None = None,
    ) -> None:
        self.config = config
        self.network = network
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.embedding_dim = embedding_dim
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.mode = mode
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_split = validation_split
        self.min_count = min_count
        self.seed = seed
        self.threshold_strategy = threshold_strategy
        self.fallback = fallback
        self.blend = blend
        self.svm_c = svm_c

    def resolved_config(self) -> Config:
        """The configuration fit uses: `config` (or defaults) with the keyword settings."""
        values = {
            key: getattr(self, name)
            for name, key in ESTIMATOR_PARAMS.items()
            if getattr(self, name) is not None
        }
        if self.config is not None and not isinstance(self.config, Config):
            raise InputError(
                f"config: a topicclf Config (topicclf.config.load_config(PATH) reads a TOML "
                f"file), not a {type(self.config).__name__}; or give settings as keywords"
            )
        # Without a config, the network kind's own defaults apply (config.NETWORK_DEFAULTS);
        # a config given is taken as it is.
        kind = str(values.get("network.type", Config().network.type))
        # Named as every other keyword setting is (before: "defaults: network.type ...").
        base = self.config or defaults_for(kind, source="TopicClassifier")
        return with_values(base, values, source="TopicClassifier")

    def __sklearn_tags__(self) -> Any:
        """Tags for scikit-learn: a multi-label classifier of 1-D collections of strings."""
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        if tags.classifier_tags is None:
            from sklearn.utils import ClassifierTags

            tags.classifier_tags = ClassifierTags()
        tags.classifier_tags.multi_label = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        """True once fit (or load) has run."""
        return hasattr(self, "scorer_")

    # The scoring parts, by their familiar names.
    @property
    def featurizer_(self) -> Featurizer:
        """The network's featurizer."""
        return self.scorer_.featurizer

    @property
    def model_(self) -> Any:
        """The network: a Keras model, or NumpyDense when served without TensorFlow."""
        return self.scorer_.network

    @property
    def blend_(self) -> Any:
        """The blended linear model, or None."""
        return self.scorer_.blend

    @property
    def linear_featurizer_(self) -> TfidfFeaturizer | None:
        """The blend's own TF-IDF featurizer (embedding networks), or None."""
        return self.scorer_.linear_featurizer

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        classes: Sequence[Any] | None = None,
        progress: Progress | None = None,
    ) -> TopicClassifier:
        """Learn features, network and thresholds from texts and their topics.

        `y`: a topic list per text, a 0/1 indicator matrix (columns named by `classes`, a
        DataFrame's columns, which `classes` must then equal, or "0", "1", ...), or one
        topic per text.
        """
        if y is None:  # scikit-learn's wording, which its tools look for
            raise InputError(
                "TopicClassifier requires y to be passed, but the target y is None: give "
                "each text's topics"
            )
        texts = as_texts(X, "X")
        targets = as_targets(y, len(texts), classes)
        check_integers(targets)
        progress = as_progress(progress)  # before training, not at its first step
        hint = separator_hint(targets.label_sets)
        if hint:
            warnings.warn(hint, UserWarning, stacklevel=2)
        # Imported here: tagging never trains, and need not import the training code.
        from topicclf.training import choose_network, fit_model

        # Before training, with every topic some document has; after, with those it kept.
        _check_columns(targets, sorted({t for labels in targets.label_sets for t in labels}))
        config, chosen = choose_network(self.resolved_config(), targets.label_sets)
        fitted = fit_model(config, texts, targets.label_sets, progress)
        _check_columns(targets, fitted.classes)
        if chosen:
            fitted.info.network_choice = chosen
        self.validation_report_ = fitted.validation
        training = fitted.info.as_dict()
        if targets.dtype is not None:  # in the manifest, so that a loaded model answers so too
            training[TARGET_DTYPE] = targets.dtype.name
        self._learned(
            bundle.SavedModel(
                config=config,
                classes=fitted.classes,
                mode=fitted.mode,
                scorer=fitted.scorer,
                policy=fitted.policy,
                training=training,
                validation=_summary(fitted.validation),
                target_kind=targets.kind,
                target_columns=targets.columns,
            )
        )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            raise not_fitted_error()(
                "this TopicClassifier is not fitted yet; call fit first (or TopicClassifier.load)"
            )

    def is_tensorflow_free(self) -> bool:
        """True when this model scores with numpy alone (a dense network's exported weights)."""
        self._check_fitted()
        return self.scorer_.tensorflow_free

    def predict_proba(self, X: Any) -> np.ndarray:
        """Scores in [0, 1] of shape (len(X), n_topics), columns in `classes_` order."""
        self._check_fitted()
        return self._classes.to_classes(self.scorer_.scores(as_texts(X, "X")))

    def decide(
        self,
        scores: np.ndarray,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
        fallback: bool | None = None,
        texts: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Boolean topic matrix from scores under the stored policy or overridden rules
        (see `model.thresholds.decide`); with `texts`, blank ones get no topic."""
        self._check_fitted()
        scores = self._checked_scores(scores, "scores")
        if texts is not None:
            texts = as_texts(texts, "texts")
            if len(texts) != len(scores):
                raise InputError(f"{len(scores)} rows of scores but {len(texts)} texts")
        # The policy's thresholds are in the network's column order.
        chosen = decide(
            self._classes.from_classes(scores),
            self.policy_,
            Rule(threshold, top_k, fallback),
            texts,
        )
        return self._classes.to_classes(chosen)

    def topics_of(self, scores: np.ndarray, chosen: np.ndarray) -> Topics:
        """(topic, score) pairs of the chosen topics per document, best first."""
        self._check_fitted()
        scores = self._checked_scores(scores, "scores")
        chosen = np.asarray(chosen)
        if chosen.shape != scores.shape or chosen.dtype != bool:
            raise InputError(
                f"chosen: a boolean matrix of the scores' shape {scores.shape} (what decide "
                f"returns), not {chosen.dtype} of shape {chosen.shape}"
            )
        view = self._classes
        return topics_of(view.from_classes(scores), view.from_classes(chosen), self.topics_)

    def _checked_scores(self, scores: Any, what: str) -> np.ndarray:
        """`scores` as predict_proba gives them: (documents, topics), finite, in [0, 1]."""
        try:
            matrix = np.asarray(scores)
        except (TypeError, ValueError):  # ragged rows
            matrix = np.asarray(None)
        if matrix.dtype.kind not in "fiu":
            raise InputError(f"{what}: a matrix of numbers, as predict_proba returns")
        if matrix.ndim != 2 or matrix.shape[1] != len(self.classes_):
            raise InputError(
                f"{what}: shape {matrix.shape}, but the model scores {len(self.classes_)} "
                "topics: give predict_proba's (documents, topics) matrix"
            )
        if not np.isfinite(matrix).all() or ((matrix < 0) | (matrix > 1)).any():
            raise InputError(f"{what}: scores are probabilities, finite numbers in [0, 1]")
        return matrix

    def tag(
        self,
        texts: Any,
        rule: Rule = DEFAULT_RULE,
        *,
        warn: bool = True,
        max_pairs: int | None = None,
    ) -> Topics:
        """(topic, score) pairs per text, best first: what every entry point outputs. A
        rule the model does not apply (top_k on a multi-class model) is warned about, as
        every entry point says it (`warn=False`: the caller has said it once already).
        TooManyPairsError when more than `max_pairs` (text, topic) pairs are chosen, raised
        before the pairs are built (a server bounds its answers with it)."""
        self._check_fitted()
        rule = check_rule(rule)
        ignored = ignored_by(self.policy_, rule) if as_flag(warn, "warn") else None
        if ignored:
            warnings.warn(ignored, UserWarning, stacklevel=2)
        if max_pairs is not None:  # before any scoring: -1, True and "2" were taken
            max_pairs = as_count(max_pairs, "max_pairs", minimum=0)
        texts = as_texts(texts, "texts")
        # A block of texts at a time, each reduced to its chosen pairs: 10,000 texts for a
        # 5,000-topic model held 200 MB of scores (330 MB at its peak, from a 50 KB request).
        step = max(1, TAG_BLOCK_CELLS // max(1, len(self.topics_)))
        tagged: Topics = []
        pairs = 0
        for start in range(0, len(texts), step):
            block = texts[start : start + step]
            scores = self.scorer_.scores(block)  # texts are checked once, above
            chosen = decide(scores, self.policy_, rule, block)
            pairs += int(np.count_nonzero(chosen))
            # Past max_pairs no pair is built, but counting goes on: the error says how many.
            if max_pairs is None or pairs <= max_pairs:
                tagged += topics_of(scores, chosen, self.topics_)
        if max_pairs is not None and pairs > max_pairs:
            raise TooManyPairsError(pairs, max_pairs)
        return tagged

    def predict(self, X: Any) -> Any:
        """Each text's topics, in the shape `y` had in fit: topic lists (best first), an
        indicator matrix in `y`'s column order, or one topic per text ("" for none; for a
        `y` of integers, an array of its dtype, -1 for none)."""
        self._check_fitted()
        kind = getattr(self, "target_kind_", "sets")
        if kind == "indicator":
            return self.predict_indicator(X)
        topics = [[t for t, _ in row] for row in self.tag(X)]
        if kind == "single":
            dtype = getattr(self, "target_dtype_", None)
            if dtype is not None and dtype.kind == "f":  # whole numbers, NaN for none
                return np.array([float(row[0]) if row else np.nan for row in topics], dtype)
            if dtype is not None:  # the topics are integers' str(): read back, exactly
                return np.array([int(row[0]) if row else NO_TOPIC for row in topics], dtype)
            return np.array([row[0] if row else "" for row in topics], dtype=object)
        return topics

    def predict_indicator(self, X: Any, columns: Sequence[str] | None = None) -> np.ndarray:
        """A 0/1 matrix of each text's topics, one column per topic of `columns` (default:
        the columns of an indicator `y` given to fit, else `classes_`); `columns` may name
        the topics of a `y` of numbers by those numbers, as `classes_` does."""
        self._check_fitted()
        if columns is not None:
            columns = self._known_topics(columns, "columns")
        return self._indicator(X, columns)

    def _known_topics(self, topics: Any, what: str) -> list[str]:
        """`topics` as a list of this model's topic names, or an InputError."""
        if isinstance(topics, np.ndarray):  # a 0-d one was a bare "iteration over a 0-d array"
            topics = topics.tolist()
        topics = self._classes.named(topics)
        names = as_list(
            topics,
            what,
            "topic names",
            lambda: f"got a single string; give a list of topic names, e.g. [{shown(topics)}]",
            "an empty list; name at least one topic (None: all)",
            (str,),
        )
        # By the rule every topic name of the model was read with (config.normal_topic):
        # "Gemüse" spelt decomposed was "not topics of this model", printed as one of them.
        read = topic_names_given(names, what)
        # A column of an indicator y no document had is in classes_ too (scored 0).
        known = set(self.topics_) | set(getattr(self, "target_columns_", None) or ())
        bad = [n for n, r in zip(names, read, strict=True) if r not in known]
        if bad:
            raise InputError(
                f"{what}: not topics of this model: {names_shown(bad)} (its topics are in classes_)"
            )
        return read

    def _indicator(self, X: Any, columns: Sequence[str] | None) -> np.ndarray:
        """predict_indicator without checking `columns`: a name the model does not know
        is a column of zeros (score's truth may hold such topics)."""
        names = list(columns or self._classes.names)
        index = {name: j for j, name in enumerate(names)}
        rows = self.tag(X)
        out = np.zeros((len(rows), len(names)), dtype=np.int64)
        for i, row in enumerate(rows):
            for topic, _ in row:
                if topic in index:
                    out[i, index[topic]] = 1
        return out

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Micro-averaged F1 of the predicted topics against `y` (any shape fit takes);
        topics the model does not know count as misses."""
        self._check_fitted()
        if sample_weight is not None:
            raise InputError("score does not take sample weights")
        texts = as_texts(X, "X")
        truth = self._truth(y, len(texts))
        _check_not_empty(len(texts))  # an F1 over no documents is no figure (it said 0.0)
        # From topic sets: a texts x topics matrix of a truth with many unknown topics is huge.
        predicted = [[topic for topic, _ in row] for row in self.tag(texts)]
        return micro_f1_of_sets(truth, predicted)

    def explain(
        self,
        text: str,
        *,
        top: int = 10,
        rule: Rule = DEFAULT_RULE,
        topics: Sequence[str] | None = None,
    ) -> list[Explanation]:
        """For each topic given to `text` (or each of `topics`), the terms that pushed its
        score up most (and down).

        A term's weight is how much the topic's score drops when that term is taken out of
        the document's TF-IDF vector (occlusion). TF-IDF networks (dense and shortlist) only.
        """
        self._check_fitted()
        if isinstance(topics, np.ndarray):
            topics = topics.tolist()
        topics = self._classes.named(topics)
        if isinstance(topics, list | tuple):
            unlearned = self._classes.unlearned_among(topics)
            if unlearned:
                raise InputError(
                    f"topics: {names_shown(unlearned)}: a column of the 0/1 y the model was "
                    "fitted on that no training document has, so no topic of the model (it "
                    "scores 0; the model's topics are in topics_)"
                )
        return explain(
            self.scorer_, self.policy_, self.topics_, text, top=top, rule=rule, topics=topics
        )

    def can_explain(self) -> bool:
        """Whether `explain` works for this model (a network on TF-IDF features)."""
        self._check_fitted()
        return explainable(self.scorer_)

    def evaluate(
        self,
        X: Any,
        y: Any = None,
        *,
        explain_examples: bool = False,
        progress: Progress | None = None,
    ) -> EvaluationReport:
        """Precision, recall and F1 (micro, macro, per topic), ranking metrics and example
        errors on labelled documents (`X` alone: Document objects; or texts `X` and topics
        `y` in any shape fit takes); with `explain_examples`, why each example got its
        topics (dense networks only); `progress` hears of every document scored."""
        self._check_fitted()
        explain_examples = as_flag(explain_examples, "explain_examples")
        progress = as_progress(progress)  # before the documents are read
        docs = self._documents(X, y)
        _check_not_empty(len(docs))
        if not any(doc.labels for doc in docs):
            raise DataError("the evaluation corpus has no labels; it needs labelled documents")
        encoder = LabelEncoder()
        encoder.classes_ = self.topics_
        label_sets = [doc.labels for doc in docs]
        truth = encoder.transform_sparse(label_sets)
        unknown, unknown_y = encoder.unknown(label_sets)
        self._warn_about_labels(docs, unknown)
        # Scored and measured a block of about TAG_BLOCK_CELLS scores at a time, as `tag`
        # scores (one piece of a corpus of EVALUATE_BATCH_CELLS held 1.6 GB at 12,000
        # documents x 1,200 topics); the blocks are kept for the whole-corpus figures (average
        # precision, curves) up to EVALUATE_BATCH_CELLS. The unknown topics stay sparse.
        evaluation = Evaluation(
            self.topics_,
            sorted(unknown),
            multiclass=self.policy_.multiclass,
            whole_cells=EVALUATE_BATCH_CELLS,
        )
        languages, languages_from = self._languages_of(docs)
        groups: dict[str, Evaluation] = {}
        batch = max(1, TAG_BLOCK_CELLS // max(1, len(self.topics_)))
        examples: list[dict[str, Any]] = []
        predictions: list[tuple[str, list[tuple[str, float]]]] = []
        progress.start("scoring", len(docs))
        for start in range(0, len(docs), batch):
            part = docs[start : start + batch]
            texts = [doc.text for doc in part]
            ids = [doc.id for doc in part]
            # In the network's column order, as topics_ names them (predict_proba's is classes_'s).
            scores = self.scorer_.scores(texts)
            chosen = decide(scores, self.policy_, DEFAULT_RULE, texts)
            true = truth[start : start + batch].toarray() > 0
            unknown_part = unknown_y[start : start + batch]
            evaluation.add(true, chosen, scores=scores, unknown=unknown_part)
            if languages is not None:
                names = languages[start : start + batch]
                for name in np.unique(names):
                    rows = np.flatnonzero(names == name)
                    group = groups.setdefault(
                        str(name),
                        Evaluation(
                            self.topics_,
                            sorted(unknown),
                            multiclass=evaluation.multiclass,
                            whole_cells=None,  # a language's figures need no whole corpus
                        ),
                    )
                    group.add(
                        true[rows], chosen[rows], scores=scores[rows], unknown=unknown_part[rows]
                    )
            # Merged as they come (most errors first, then corpus order), so that what is
            # held grows with one batch, not with the corpus.
            examples = sorted(
                examples
                + error_examples(true, chosen, self.topics_, ids, texts, first_position=start),
                key=lambda e: -(len(e["false_positives"]) + len(e["false_negatives"])),
            )[:ERROR_EXAMPLES]
            predictions += list(zip(ids, topics_of(scores, chosen, self.topics_), strict=True))
            progress.advance(len(part))
        progress.finish()
        # Average precision and curves over every score kept: a sort of the whole corpus.
        progress.start("whole-corpus figures", 1)
        report = evaluation.report()
        progress.advance(1)
        progress.finish()
        for example in examples:
            # By position, not id: ids may repeat, and each example explains its own text.
            text = docs[example.pop("position")].text
            if explain_examples and isinstance(self.featurizer_, TfidfFeaturizer):
                example["explanations"] = {e.topic: e.up for e in self.explain(text, top=6)}
        by_language = {
            name: group_figures(group.report())
            for name, group in sorted(groups.items(), key=lambda kv: -kv[1].n_docs)
        }
        return dataclasses.replace(
            report,
            examples=examples,
            predictions=predictions,
            by_language=by_language,
            languages_from=languages_from if by_language else "",
        )

    def _warn_about_labels(self, docs: list[Document], unknown: Collection[str]) -> None:
        """Warn before evaluating of what will count as misses: topics unknown to the model,
        a likely wrong label separator, several topics under a multi-class model."""
        label_sets = [doc.labels for doc in docs]
        if unknown:
            known = set(self.topics_)
            unknown_docs = sum(1 for d in docs if any(lab not in known for lab in d.labels))
            warnings.warn(
                f"{len(unknown)} topic(s) in the evaluation corpus are unknown to the "
                f"model ({unknown_docs} documents); they count as misses: "
                + ", ".join(list(unknown)[:10]),
                UserWarning,
                stacklevel=3,
            )
        hint = separator_hint(label_sets)
        if hint:
            warnings.warn(hint, UserWarning, stacklevel=3)
        several = sum(len(d.labels) > 1 for d in docs)
        if self.policy_.multiclass and several:
            warnings.warn(
                f"{several} of {len(docs)} documents have several topics, but this multi-class "
                "model gives each document one; their other topics count as misses",
                UserWarning,
                stacklevel=3,
            )

    def _languages_of(self, docs: list[Document]) -> tuple[np.ndarray | None, str]:
        """Each document's language for the figures by language, and where it came from: as
        the corpus gives it (a `language` field: a name or code, `config.language_named`),
        "corpus"; or as a model of several languages tells it, "model"; (None, "") otherwise.
        A value that names no language is warned about and taken as not given."""
        given = [(d.language or "").strip() for d in docs]  # blank: not given
        names = [language_named(value) if value else None for value in given]
        unnamed = Counter(v for v, name in zip(given, names, strict=True) if v and not name)
        if unnamed:
            shown_values = ", ".join(f"{shown(v)} ({n})" for v, n in unnamed.most_common(5))
            more = f" and {len(unnamed) - 5} more" if len(unnamed) > 5 else ""
            warnings.warn(
                f"{unnamed.total()} document(s) give a language that is neither a language "
                f"name nor an ISO 639-1 code topicclf knows: {shown_values}{more}; they are "
                "taken as not given (as a document without a language field)",
                UserWarning,
                stacklevel=3,
            )
        if any(names):
            return np.array([name or "not given" for name in names]), "corpus"
        analyzer = self.featurizer_.analyzer
        if not analyzer.detects:
            return None, ""
        return np.array([NAMES.get(analyzer.language_of(d.text), "other") for d in docs]), "model"

    def tune_thresholds(self, X: Any, y: Any = None) -> tuple[EvaluationReport, EvaluationReport]:
        """Tune the thresholds again on labelled documents (a validation corpus), keeping
        the network and blend; returns the evaluation there before and after."""
        self._check_fitted()
        docs = self._documents(X, y)
        from topicclf.training import retune_model

        # Tuned first: a corpus it refuses is refused before any evaluation.
        tuned = retune_model(
            self.config_,
            self.policy_,
            self.scorer_,
            [d.text for d in docs],
            [d.labels for d in docs],
            self.topics_,
        )
        before = self.evaluate(docs)
        self.policy_ = tuned
        self.training_info_ = {**self.training_info_, "thresholds_retuned_on": len(docs)}
        with warnings.catch_warnings():
            # The same documents: their warnings (unknown topics, ...) were given just above.
            warnings.simplefilter("ignore")
            return before, self.evaluate(docs)

    def _columns(self) -> list[str]:
        """The columns an indicator `y` stands for when they are not named: the model's
        indicator columns if it was fitted on one, else its topics in classes_ order."""
        return self._classes.names

    def _documents(self, X: Any, y: Any) -> list[Document]:
        if y is None:
            items = [X] if isinstance(X, str) else list(X)
            docs = [d for d in items if isinstance(d, Document)]
            if len(docs) != len(items):
                raise InputError(
                    "evaluate takes Document objects, or texts and their topics: "
                    "evaluate(texts, topic_lists)"
                )
            # A Document made by hand meets the rules of `y` (and of the corpus readers).
            texts = as_texts([d.text for d in docs], "Document.text")
            checked = [
                dataclasses.replace(
                    d,
                    id=_document_id(d.id, i),
                    text=text,
                    labels=topic_set(d.labels, i, "Document.labels of document"),
                    language=_document_language(d.language, i),
                )
                for i, (d, text) in enumerate(zip(docs, texts, strict=True))
            ]
            # As `topicclf evaluate` warns of a corpus (a position filled in counts too).
            warn_duplicate_ids(checked, "documents")
            return checked
        texts = as_texts(X, "X")
        return [
            Document(str(i), text, labels)
            for i, (text, labels) in enumerate(zip(texts, self._truth(y, len(texts)), strict=True))
        ]

    def _truth(self, y: Any, n_texts: int) -> list[tuple[str, ...]]:
        """The topic sets of a `y` given to score or evaluate, read as fit reads one."""
        targets = as_targets(y, n_texts, model=self._columns())
        dtype = getattr(self, "target_dtype_", None)
        if targets.kind != "single" or dtype is None or dtype.kind not in "iu":
            return targets.label_sets
        # predict's own "no topic" (fit refuses it as a topic), as NaN and "" read: it was an
        # unknown topic '-1', so score(X, predict(X)) said 0.857.
        none = (str(NO_TOPIC),)
        return [() if labels == none else labels for labels in targets.label_sets]

    def save(
        self, path: str | Path, *, overwrite: bool = False, corpus: dict[str, Any] | None = None
    ) -> Path:
        """Write the model directory atomically; returns its path."""
        self._check_fitted()
        saved = bundle.SavedModel(
            config=self.config_,
            classes=self.topics_,
            mode=self.mode_,
            scorer=self.scorer_,
            policy=self.policy_,
            training=self.training_info_,
            validation=self.validation_summary_,
            manifest=self.manifest_,
            vocabulary=self.vocabulary_,
            target_kind=self.target_kind_,
            target_columns=self.target_columns_,
        )
        return bundle.save_model(saved, path, overwrite=overwrite, corpus=corpus)

    @classmethod
    def load(cls, path: str | Path, *, engine: str = "auto") -> TopicClassifier:
        """Load a model directory written by `save` (no pickle).

        `engine`: 'auto' serves dense networks with numpy from their exported weights (no
        TensorFlow import) and other networks with Keras (safe mode); 'keras' or 'numpy'
        force one.
        """
        saved = bundle.load_model(path, engine=engine)
        self = cls(config=saved.config)
        self._learned(saved)
        return self

    def _learned(self, model: bundle.SavedModel) -> None:
        """Set the learned attributes from a model, fitted or loaded: one list of them."""
        self.config_ = model.config
        self.topics_ = model.classes
        self.mode_ = model.mode
        self.scorer_ = model.scorer
        self.policy_ = model.policy
        self.validation_summary_ = model.validation
        self.training_info_ = model.training
        self.manifest_ = model.manifest
        self.vocabulary_ = model.vocabulary
        self.target_kind_ = model.target_kind
        self.target_columns_ = model.target_columns
        self.target_dtype_ = target_dtype(model)
        self._classes = ClassesView.of(self.topics_, self.target_dtype_, self.target_columns_)
        self.classes_ = self._classes.classes


def _summary(report: EvaluationReport) -> dict[str, float]:
    return {
        "micro_f1": round(report.micro.f1, 4),
        "macro_f1": round(report.macro.f1, 4),
        "micro_precision": round(report.micro.precision, 4),
        "micro_recall": round(report.micro.recall, 4),
        "documents": report.n_documents,
    }


def _check_columns(targets: Targets, classes: list[str]) -> None:
    """An indicator `y` whose columns a saved model could keep (bundle.target_problem)."""
    problem = bundle.target_problem(targets.columns, classes)
    if problem:
        raise InputError(f"y: {problem}: {NO_DOCUMENT_COLUMNS}")


def _document_id(value: Any, i: int) -> str:
    """A hand-made Document's id by the readers' rule: a string, or an integer as its
    digits; None, '' or a blank string is no id and gets its position (0, 1, ...)."""
    # Numbered from 0 as evaluate(X, y) numbers its texts, so both entry points agree.
    if value is None or (isinstance(value, str) and not value.strip()):
        return str(i)
    if isinstance(value, bool) or not isinstance(value, str | int | np.integer):
        raise InputError(
            f"Document.id of document #{i + 1} is of type {type(value).__name__}; an id is a "
            "string or an integer"
        )
    return str(value)


def _document_language(value: Any, i: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(
            f"Document.language of document #{i + 1} is of type {type(value).__name__}; a "
            "language is a name or an ISO 639-1 code, e.g. 'en'"
        )
    return value


def _check_not_empty(documents: int) -> None:
    """Raise DataError when there is nothing to measure: `evaluate` and `score` alike."""
    if not documents:
        raise DataError("cannot evaluate on an empty corpus")
