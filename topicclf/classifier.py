"""TopicClassifier: the estimator facade over training, scoring, the decision rule and the
model directory. Each method delegates to the module that owns its concept."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from topicclf import bundle
from topicclf.config import Config
from topicclf.errors import DataError, NotFittedError
from topicclf.explain import Explanation, explain
from topicclf.features import Featurizer, TfidfFeaturizer
from topicclf.inference import Scorer
from topicclf.labels import LabelEncoder
from topicclf.metrics import EvaluationReport, error_examples, evaluate
from topicclf.thresholds import DEFAULT_RULE, Rule, ThresholdPolicy, decide, topics_of
from topicclf.training import fit_model
from topicclf.types import Document, Progress
from topicclf.vocabulary import Vocabulary

__all__ = ["Explanation", "TopicClassifier"]

Topics = list[list[tuple[str, float]]]


class TopicClassifier:
    """Learns to tag texts with topics (multi-label, or multi-class with exactly one topic)."""

    # Learned by fit (or load); absent before, as in scikit-learn.
    classes_: list[str]
    mode_: str
    scorer_: Scorer
    policy_: ThresholdPolicy
    validation_report_: EvaluationReport  # after fit only: a loaded model has the summary
    validation_summary_: dict[str, Any]
    training_info_: dict[str, Any]
    manifest_: dict[str, Any]
    source_: Path | None
    vocabulary_: Vocabulary | None  # the topics' URIs and labels, if trained with a vocabulary

    def __init__(self, *, config: Config | None = None) -> None:
        self.config = config if config is not None else Config()

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
        texts: Sequence[str],
        label_sets: Sequence[Sequence[str]],
        *,
        progress: Progress | None = None,
    ) -> TopicClassifier:
        """Learn features, network and thresholds from texts and their topic sets."""
        fitted = fit_model(self.config, texts, label_sets, progress)
        self.classes_ = fitted.classes
        self.mode_ = fitted.mode
        self.scorer_ = fitted.scorer
        self.policy_ = fitted.policy
        self.validation_report_ = fitted.validation
        self.validation_summary_ = _summary(fitted.validation)
        self.training_info_ = fitted.info
        self.manifest_ = {}
        self.source_ = None
        self.vocabulary_ = None
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "scorer_"):
            raise NotFittedError("this TopicClassifier is not fitted yet; call fit first")

    def is_tensorflow_free(self) -> bool:
        """True when this model scores with numpy alone (a dense network's exported weights)."""
        self._check_fitted()
        return self.scorer_.tensorflow_free

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1] of shape (len(texts), n_topics), columns in `classes_` order."""
        self._check_fitted()
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a sequence of texts, not a single string")
        return self.scorer_.scores(texts)

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
        (see `thresholds.decide`); with `texts`, blank ones get no topic."""
        self._check_fitted()
        return decide(scores, self.policy_, Rule(threshold, top_k, fallback), texts)

    def topics_of(self, scores: np.ndarray, chosen: np.ndarray) -> Topics:
        """(topic, score) pairs of the chosen topics per document, best first."""
        self._check_fitted()
        return topics_of(scores, chosen, self.classes_)

    def tag(self, texts: Sequence[str], rule: Rule = DEFAULT_RULE) -> Topics:
        """(topic, score) pairs per text, best first: what every entry point outputs."""
        scores = self.predict_proba(texts)
        return topics_of(scores, decide(scores, self.policy_, rule, texts), self.classes_)

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """Topic lists (best first) for each text, under the tuned thresholds."""
        return [[t for t, _ in row] for row in self.tag(texts)]

    def explain(self, text: str, *, top: int = 10, rule: Rule = DEFAULT_RULE) -> list[Explanation]:
        """For each topic given to `text`, the terms that pushed its score up most (and down).

        A term's weight is how much the topic's score drops when that term is taken out of
        the document's TF-IDF vector (occlusion). Only TF-IDF (dense) networks are supported.
        """
        self._check_fitted()
        return explain(self.scorer_, self.policy_, self.classes_, text, top=top, rule=rule)

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
        chosen = decide(scores, self.policy_, DEFAULT_RULE, texts)
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
        predictions = list(
            zip([d.id for d in docs], topics_of(scores, chosen, self.classes_), strict=True)
        )
        return dataclasses.replace(report, examples=examples, predictions=predictions)

    def save(
        self, path: str | Path, *, overwrite: bool = False, corpus: dict[str, Any] | None = None
    ) -> Path:
        """Write the model directory atomically; returns its path."""
        self._check_fitted()
        saved = bundle.SavedModel(
            config=self.config,
            classes=self.classes_,
            mode=self.mode_,
            scorer=self.scorer_,
            policy=self.policy_,
            training=self.training_info_,
            validation=self.validation_summary_,
            manifest=self.manifest_,
            source=self.source_,
            vocabulary=self.vocabulary_,
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
        self.classes_ = saved.classes
        self.mode_ = saved.mode
        self.scorer_ = saved.scorer
        self.policy_ = saved.policy
        self.validation_summary_ = saved.validation
        self.training_info_ = saved.training
        self.manifest_ = saved.manifest
        self.source_ = saved.source
        self.vocabulary_ = saved.vocabulary
        return self


def _summary(report: EvaluationReport) -> dict[str, float]:
    return {
        "micro_f1": round(report.micro.f1, 4),
        "macro_f1": round(report.macro.f1, 4),
        "micro_precision": round(report.micro.precision, 4),
        "micro_recall": round(report.micro.recall, 4),
        "documents": report.n_documents,
    }
