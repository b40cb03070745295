"""How scikit-learn sees a model's topics: `classes_` (names, or the numbers of a `y` of
numbers in numeric order, or an indicator `y`'s columns in its order) beside the network's own
column order (`topics_`, sorted names), and the rules of a `y` of numbers (its dtype, what
predict answers for no topic). TopicClassifier builds one ClassesView when it learns a model;
everything that crosses between the two orders goes through it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from topicclf.config import normal_topic, shown
from topicclf.errors import InputError, ModelBundleError
from topicclf.inputs import Targets

if TYPE_CHECKING:
    from topicclf import bundle

# What predict answers for a text of no topic (a blank one, or none above its threshold)
# when `y` was integers: scikit-learn's own "no label" (sklearn.semi_supervised).
NO_TOPIC = -1
# The manifest's training field naming an integer `y`'s dtype (absent for names).
TARGET_DTYPE = "target_dtype"
_INTEGER_DTYPES = ("int8", "int16", "int32", "int64")
# Floats holding whole numbers (pandas' integer column with a gap), up to where each still
# holds every integer exactly; predict answers NaN for no topic.
_FLOAT_DTYPES = ("float32", "float64")
_FLOAT_EXACT = {"float32": 2**24, "float64": 2**53}


@dataclass(frozen=True)
class ClassesView:
    """`classes_` and the way between its order and the network's columns, built once per
    model (`of`). `order[i]`: the network column of classes_[i] (-1: none, a column of zeros,
    for an indicator `y`'s column no training document has); `inverse[j]`: the classes_
    position of network column j; both None when the orders agree."""

    classes: np.ndarray
    names: list[str]  # the topic names (an indicator y's columns) in classes_ order
    order: np.ndarray | None = None
    inverse: np.ndarray | None = None
    unlearned: frozenset[str] = frozenset()  # indicator columns that are no learned topic
    numbers: bool = False  # classes_ are the numbers of a `y` of numbers

    @classmethod
    def of(
        cls,
        topics: list[str],
        dtype: np.dtype[Any] | None,
        columns: list[str] | None = None,
    ) -> ClassesView:
        """`classes_` as scikit-learn's classifiers give it. scikit-learn indexes columns by
        `classes_`, so a list failed (`'list' object has no attribute 'shape'`), and after
        encoding a 1-D `y` as 0..n-1 it needs the numbers in numeric order, not as strings
        sort ('0', '1', '10', '2'). For an indicator `y` (`columns`), its columns in its
        order, as its multi-label classifiers answer: in the topics' sorted order a `y` whose
        columns were not sorted was scored against the wrong columns, silently."""
        if columns is not None:
            names = np.empty(len(columns), dtype=object)
            names[:] = columns
            place = {topic: j for j, topic in enumerate(topics)}
            order = np.array([place.get(c, -1) for c in columns], dtype=np.int64)
            unlearned = frozenset(columns) - frozenset(topics)
            if len(columns) == len(topics) and (order == np.arange(len(order))).all():
                return cls(names, list(columns), unlearned=unlearned)
            return cls(names, list(columns), order, _inverse(order, len(topics)), unlearned)
        if dtype is None:
            names = np.empty(len(topics), dtype=object)  # object: each name kept exactly
            names[:] = topics
            return cls(names, list(topics))
        # The topics are the numbers' str() (checked by target_dtype), each held exactly.
        values = np.array([int(t) for t in topics], dtype=dtype)
        order = np.argsort(values, kind="stable")
        if (order == np.arange(len(order))).all():
            return cls(values, list(topics), numbers=True)
        named = [topics[j] for j in order]
        return cls(values[order], named, order, _inverse(order, len(topics)), numbers=True)

    def to_classes(self, matrix: np.ndarray) -> np.ndarray:
        """A (documents, topics) matrix in the network's column order, in `classes_` order."""
        return matrix if self.order is None else _columns_at(matrix, self.order)

    def from_classes(self, matrix: np.ndarray) -> np.ndarray:
        """A (documents, topics) matrix in `classes_` order, in the network's column order."""
        return matrix if self.inverse is None else _columns_at(matrix, self.inverse)

    def unlearned_among(self, names: list[Any] | tuple[Any, ...]) -> list[str]:
        """Those of `names` that are columns of the indicator `y` fit was given (in
        `classes_`) but no topic the model learned: no training document had them."""
        return [n for n in names if isinstance(n, str) and normal_topic(n) in self.unlearned]

    def named(self, topics: Any) -> Any:
        """`topics` with the numbers of a model fitted on a `y` of numbers (what its
        `classes_` holds) as their topic names; anything else as it is, for the caller to
        check."""
        if not self.numbers or not isinstance(topics, list | tuple):
            return topics
        return [number_name(t) for t in topics]


def _inverse(order: np.ndarray, width: int) -> np.ndarray:
    """For each of `width` network columns, its place in `order` (-1: none)."""
    inverse = np.full(width, -1, dtype=np.int64)
    known = np.flatnonzero(order >= 0)
    inverse[order[known]] = known
    return inverse


def _columns_at(matrix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`matrix`'s columns `order` (-1: a column of zeros)."""
    known = order >= 0
    if known.all():
        return matrix[:, order]
    out = np.zeros((matrix.shape[0], len(order)), dtype=matrix.dtype)
    out[:, known] = matrix[:, order[known]]
    return out


def number_name(value: Any) -> Any:
    """The topic name of a number of a `y` of numbers (as fit named it: its integer's str());
    anything else as it is."""
    if isinstance(value, bool | np.bool_):
        return value
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return value


def check_integers(targets: Targets) -> None:
    """InputError for a `y` of integers that predict could not answer in: one that holds
    NO_TOPIC itself, or of an unsigned dtype, which cannot hold it."""
    if targets.dtype is None:
        return
    if targets.dtype.kind == "f":  # NaN answers no topic: any whole number is a topic
        if targets.dtype.name not in _FLOAT_DTYPES:
            raise InputError(
                f"y: numbers of dtype {targets.dtype.name}; give y.astype(np.float64), or "
                "integers (y.astype('Int64')), or strings"
            )
        exact = _FLOAT_EXACT[targets.dtype.name]
        if any(labels and abs(int(labels[0])) > exact for labels in targets.label_sets):
            raise InputError(
                f"y: a number past {exact:,}, which {targets.dtype.name} cannot hold exactly: "
                "give integers (y.astype('Int64')) or strings"
            )
        return
    if targets.dtype.name not in _INTEGER_DTYPES:
        raise InputError(
            f"y: integers of dtype {targets.dtype.name}, which cannot hold {NO_TOPIC}, what "
            "predict answers for a text of no topic: give y.astype(np.int64) (or strings)"
        )
    if any(labels == (str(NO_TOPIC),) for labels in targets.label_sets):
        raise InputError(
            f"y: {NO_TOPIC} is what predict answers for a text of no topic, so it cannot be a "
            f"topic of an integer y: give other integers (e.g. LabelEncoder().fit_transform(y)) "
            "or strings (y.astype(str))"
        )


def target_dtype(model: bundle.SavedModel) -> np.dtype[Any] | None:
    """The dtype a model's predict answers in (None: names), checked (`checked_target_dtype`)."""
    return checked_target_dtype(model.training, model.target_kind, model.classes, "manifest.json")


def checked_target_dtype(
    training: dict[str, Any], kind: str, topics: list[str], where: str
) -> np.dtype[Any] | None:
    """The dtype of the `y` of numbers a model was fitted on (None: names), checked against
    its target kind and every topic (a manifest can be edited): the one check of `load` and
    `info`; its errors name `where`, the manifest."""
    name = training.get(TARGET_DTYPE)
    if name is None:
        return None
    field = f"{where}: field 'training.{TARGET_DTYPE}'"
    if kind != "single":  # only one number per text is answered in its dtype
        raise ModelBundleError(
            f"{field}: {shown(name)} is recorded, but the model's target kind "
            f"('training.target.kind') is {shown(kind)}: only a model fitted on one topic per "
            "text ('single') answers in its y's dtype"
        )
    names = _INTEGER_DTYPES + _FLOAT_DTYPES
    if name not in names:
        raise ModelBundleError(f"{field}: {shown(name)} is not one of {', '.join(names)}")
    dtype = np.dtype(name)
    if dtype.kind == "f":
        low, high = -_FLOAT_EXACT[name], _FLOAT_EXACT[name]
    else:
        low, high = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    what = f"a whole number {name} holds exactly" if dtype.kind == "f" else f"an {name} integer"
    for topic in topics:
        value = int(topic) if _INTEGER.fullmatch(topic) else None
        if value is None or str(value) != topic or not low <= value <= high:
            raise ModelBundleError(
                f"{field}: the topic {shown(topic)} is not {what}, but the manifest says its y was"
            )
        if value == NO_TOPIC and dtype.kind != "f":
            raise ModelBundleError(
                f"{field}: the topic {NO_TOPIC} is what predict answers for no topic"
            )
    return dtype


_INTEGER = re.compile(r"-?[0-9]{1,20}")
