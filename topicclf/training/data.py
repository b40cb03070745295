"""The records the fit steps hand each other: the prepared data (`Prepared`), every
document's features (`Vectors`), the linear model a network is stacked on (`Stack`), the
blend step's result (`Blended`), and what training reports (`TrainingInfo`, saved in the
manifest). `pipeline` makes them; `network` reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from topicclf.features import Featurizer
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.model.blend import LinearBlend
from topicclf.model.thresholds import ThresholdPolicy

Tuner = Callable[[np.ndarray, np.ndarray], ThresholdPolicy]


@dataclass
class Prepared:
    """Training data checked, encoded and split: the rows of `y` follow `texts`. `y` is a
    dense 0/1 array, or for the shortlist network a sparse (CSR) one."""

    texts: list[str]
    y: Any
    classes: list[str]
    mode: str
    train_idx: np.ndarray
    val_idx: np.ndarray
    skipped: int
    dropped: dict[str, int]
    # Near-duplicate texts share a number (training.groups); no split or fold parts them.
    groups: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Documents left out for want of a topic to learn (none, or only topics under min_count).
    left_out: int = 0

    def near_duplicates(self) -> dict[str, int]:
        """How many documents have a near-duplicate, in how many groups."""
        if not len(self.groups):
            return {"documents": 0, "groups": 0}
        sizes = np.bincount(np.unique(self.groups, return_inverse=True)[1].reshape(-1))
        shared = sizes[sizes > 1]
        return {"documents": int(shared.sum()), "groups": len(shared)}

    @property
    def multiclass(self) -> bool:
        """True in multi-class (exactly one topic) mode."""
        return self.mode == "multiclass"


@dataclass
class Vectors:
    """The network's featurizer, fitted on the training rows, and every document's features;
    `char_choice`: the validation scores that decided on character n-grams (empty when
    nothing was decided)."""

    featurizer: Featurizer
    x: Any
    char_choice: dict[str, float]


@dataclass
class Stack:
    """The linear model a stacked network learns on (the mean of its fold models until
    the final fit), one calibration sigmoid, and every document's held-out margins and
    calibrated logits."""

    coef: np.ndarray
    intercept: np.ndarray
    slope: float
    offset: float
    margins: np.ndarray
    logits: np.ndarray


@dataclass
class Blended:
    """The blend step's result: the calibrated linear model (None when it is off), its own
    TF-IDF featurizer (embedding networks; None when it reads the network's features), its
    features of every document, the blended validation scores, and a record for the
    manifest."""

    blend: LinearBlend | None
    featurizer: TfidfFeaturizer | None
    x: Any
    val_scores: np.ndarray
    info: dict[str, Any]


@dataclass
class TrainingInfo:
    """What training did, saved as the manifest's "training" (`as_dict`), read back by `info`,
    reports and `TopicClassifier.training_info_` as plain data."""

    char_ngrams: list[int] | None
    char_ngram_choice: dict[str, float] | None
    blend: dict[str, Any]
    documents: int
    train_documents: int
    validation_documents: int
    skipped_empty_documents: int
    dropped_topics: dict[str, int]
    epochs_run: int
    best_epoch: int
    refit_on_all_documents: bool
    refit_epochs: int
    stacked: bool
    stack_calibration: list[float] | None
    stack_documents: int | None
    batch_size: int
    learning_rate: float
    seconds: float
    threshold_curve: dict[str, list[float]]
    shortlist: dict[str, Any] | None = None  # the shortlist network's own record
    analyzer: dict[str, Any] | None = None  # languages and their rules (Analyzer.describe)
    stemming_choice: dict[str, Any] | None = None  # text.stemmer = auto: what was measured
    network_choice: str | None = None  # network.type = auto: the kind and why
    # Documents with a near-duplicate among the training documents, and their groups
    # (training.groups), kept together on one side of every split.
    near_duplicates: dict[str, int] | None = None
    # Seconds per step of training (`training.StageTimer`): where the time went.
    stage_seconds: dict[str, float] | None = None
    # The document-frequency floor the features were learned with: features.min_df, relaxed
    # on a small corpus (FeatureConfig.document_floor); None in models saved before.
    min_df_applied: int | None = None
    # Training documents left out for want of a topic to learn (no topic, or only topics under
    # train.min_count): the shortlist and multi-class networks learn only from documents with
    # topics; None in models saved before it was recorded.
    left_out_documents: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, keys in the order above."""
        return dataclasses.asdict(self)
