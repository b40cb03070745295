"""Topic encoding over scikit-learn's MultiLabelBinarizer: sorted topics, rare topics, modes."""

from __future__ import annotations

import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topicclf.errors import DataError, NotFittedError


@dataclass
class EncodedLabels:
    """A label matrix plus what was left out on the way."""

    y: np.ndarray
    unknown: Counter[str] = field(default_factory=Counter)
    unknown_y: Any = None  # scipy sparse: dense, it is quadratic in a large vocabulary

    @property
    def unknown_truth(self) -> tuple[list[str], Any]:
        """The unknown topics (sorted) and their sparse 0/1 matrix, as metrics.evaluate
        takes them."""
        if self.unknown_y is None:
            raise ValueError("these labels were encoded without their unknown-topic matrix")
        return sorted(self.unknown), self.unknown_y


def _visible(name: str) -> str:
    """`name` without Unicode format characters (category Cf: zero-width spaces, joiners,
    soft hyphens), which print as nothing."""
    if name.isprintable():  # no Cf character is printable: most names end here
        return name
    return "".join(c for c in name if unicodedata.category(c) != "Cf")


def warn_of_invisible_differences(names: Iterable[str]) -> None:
    """Warn, once, of topic names that differ only by invisible format characters: they
    print alike in every table and report ("\\u200bweather" and "weather")."""
    # The names are kept as given: a joiner can be meaningful in some scripts, so only the
    # person who labelled the corpus can say whether two of them are one topic.
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_visible(name), []).append(name)
    alike = [group for group in groups.values() if len(group) > 1]
    if not alike:
        return
    # Whole names, escaped: cut short, two names could show the same part.
    shown = "; ".join(
        " and ".join(repr(name) for name in group[:5]) + (" ..." if len(group) > 5 else "")
        for group in alike[:10]
    )
    warnings.warn(
        f"{len(alike)} group(s) of topic names differ only by invisible format characters "
        f"(zero-width spaces, joiners, soft hyphens), so they print alike: {shown}"
        + (" ..." if len(alike) > 10 else "")
        + "; they are trained as different topics (if they are one, remove those characters "
        "from the corpus's labels)",
        UserWarning,
        stacklevel=3,
    )


class LabelEncoder:
    """Maps topic sets to a 0/1 matrix with one column per topic, in sorted order."""

    def __init__(self, *, min_count: int = 1) -> None:
        self.min_count = min_count
        self.classes_: list[str] | None = None
        self.dropped_: dict[str, int] = {}

    def fit(self, label_sets: Iterable[Sequence[str]]) -> LabelEncoder:
        """Learn the topics; those seen fewer than `min_count` times are dropped with a warning."""
        sets = [frozenset(labels) for labels in label_sets]
        counts = Counter(label for labels in sets for label in labels)
        if not counts:
            raise DataError(
                "the training documents have no labels; a labelled corpus is needed to train "
                "(check the labels field or column name)"
            )
        kept = sorted(label for label, n in counts.items() if n >= self.min_count)
        self.dropped_ = {label: n for label, n in sorted(counts.items()) if n < self.min_count}
        if self.dropped_:
            warnings.warn(
                f"{len(self.dropped_)} topic(s) with fewer than {self.min_count} documents "
                f"were dropped: {', '.join(list(self.dropped_)[:10])}"
                + (" ..." if len(self.dropped_) > 10 else ""),
                UserWarning,
                stacklevel=2,
            )
        warn_of_invisible_differences(kept)
        if len(kept) < 2:
            raise DataError(
                f"training needs at least two topics, found {len(kept)}"
                + (f" ({kept[0]})" if kept else "")
                + (
                    f" after dropping topics rarer than train.min_count={self.min_count}"
                    if self.dropped_
                    else ""
                )
            )
        known = set(kept)
        if len({labels & known for labels in sets}) == 1:
            raise DataError(
                f"every training document has the same topics ({', '.join(kept)}), so there is "
                "nothing to tell apart; the corpus needs documents with different topics"
            )
        self.classes_ = kept
        return self

    @property
    def n_classes(self) -> int:
        """Number of topics (= output columns)."""
        return len(self._classes())

    def _classes(self) -> list[str]:
        if self.classes_ is None:
            raise NotFittedError.of("LabelEncoder")
        return self.classes_

    def transform(self, label_sets: Iterable[Sequence[str]]) -> EncodedLabels:
        """Encode topic sets; unknown topics are counted (and ignored), never a crash."""
        from sklearn.preprocessing import MultiLabelBinarizer

        classes = self._classes()
        known = set(classes)
        label_sets = list(label_sets)
        cleaned = [[label for label in labels if label in known] for labels in label_sets]
        y = MultiLabelBinarizer(classes=classes).fit_transform(cleaned).astype(np.float32)
        # The unknown topics' own matrix keeps the documents that carry them, so that
        # evaluation can count them as misses instead of forgetting them.
        unknown, unknown_y = self.unknown(label_sets)
        return EncodedLabels(y=y, unknown=unknown, unknown_y=unknown_y)

    def transform_sparse(self, label_sets: Iterable[Sequence[str]]) -> Any:
        """Topic sets as a sparse 0/1 matrix (scipy CSR, float32), unknown topics left out:
        for vocabularies too large for a dense documents x topics matrix."""
        import scipy.sparse as sp

        index = {label: j for j, label in enumerate(self._classes())}
        indptr, indices = [0], []
        for labels in label_sets:
            columns = sorted({index[label] for label in labels if label in index})
            indices.extend(columns)
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        shape = (len(indptr) - 1, len(index))
        return sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), indptr), shape=shape)

    def unknown(self, label_sets: Sequence[Sequence[str]]) -> tuple[Counter[str], Any]:
        """The topics of these sets the model does not know, counted, and a sparse 0/1
        matrix (documents x those topics, sorted), as an evaluation counts them as misses."""
        import scipy.sparse as sp

        known = set(self._classes())
        counts: Counter[str] = Counter(
            label for labels in label_sets for label in dict.fromkeys(labels) if label not in known
        )
        index = {label: j for j, label in enumerate(sorted(counts))}
        indptr, indices = [0], []
        for labels in label_sets:
            indices.extend(sorted({index[label] for label in labels if label in index}))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        shape = (len(label_sets), len(index))
        return counts, sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), indptr), shape)

    def decode(self, rows: Iterable[Iterable[int]]) -> list[list[str]]:
        """Column indices per document back to topic names."""
        classes = self._classes()
        return [[classes[i] for i in row] for row in rows]


def detect_mode(label_sets: Iterable[Sequence[str]]) -> str:
    """'multiclass' when every document has exactly one topic, else 'multilabel'."""
    return "multiclass" if all(len(set(labels)) == 1 for labels in label_sets) else "multilabel"


def split_indices(
    y: Any, fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation row indices; every topic with 2+ documents keeps one in training.

    Without that guarantee a rare topic could land wholly in validation, leaving the network
    nothing to learn it from. With `groups` (near-duplicates share a number), a group is
    never split: all its rows land on one side; when groups are too few for that, a warning
    says so and the rows are split as if each were its own group.
    """
    n = y.shape[0]
    if n < 4:
        raise DataError(f"training needs at least 4 documents, found {n}")
    groups = np.arange(n) if groups is None else groups
    order = grouped_order(groups, np.random.default_rng(seed))
    n_val = split_point(order, groups, min(max(1, round(n * fraction)), n - 1))
    is_val = np.zeros(n, dtype=bool)
    is_val[order[:n_val]] = True
    y = y.tocsc() if hasattr(y, "tocsc") else y
    for j in range(y.shape[1]):
        rows = y[:, j].nonzero()[0]
        if len(rows) >= 2 and is_val[rows].all():
            is_val[groups == groups[rows[0]]] = False  # its whole group, not one copy
    n_groups = len(np.unique(groups))
    parted = np.intersect1d(groups[is_val], groups[~is_val]).size > 0
    if n_groups < n and (parted or not is_val.any()):
        # So few distinct texts that no split keeps each group whole: one text throughout
        # (split_point parts the one group), or every group some topic's last hope for
        # training (two texts, each ten times). Validation is cut from rows instead.
        warn_too_few_groups(n, n_groups)
        return split_indices(y, fraction, seed)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def warn_too_few_groups(n_documents: int, n_groups: int, folds: int | None = None) -> None:
    """Warn that near-duplicate groups this few cannot each stay on one side of the
    validation split (or, with `folds`, in one fold of a cross-validation), so held-out
    documents have copies among the training documents."""
    few, where = "too few", "on one side of the validation split"
    effect = "validation holds copies of training documents, so its figures (and the "
    effect += "thresholds tuned on them) flatter the model"
    if folds is not None:
        # group_folds fills every fold while groups are as many as folds, however unequal in
        # size, so only fewer groups than folds come here.
        few, where = f"fewer than the {folds} folds, too few", "in one fold"
        effect = "held-out folds hold copies of training documents, so the cross-validated "
        effect += "figures flatter the model"
    warnings.warn(
        f"the {n_documents} training documents hold only {n_groups} "
        f"group{'' if n_groups == 1 else 's'} of near-duplicates, {few} to keep each group "
        f"{where}; {effect}. More distinct documents fix this",
        UserWarning,
        stacklevel=3,
    )


def grouped_order(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices in a random order of the groups, each group's rows together (in index
    order). With every row its own group (groups = 0..n-1) this is `rng.permutation(n)`."""
    groups = np.unique(groups, return_inverse=True)[1].reshape(-1)  # numbered 0..k-1
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    rank = np.empty(n_groups, dtype=np.int64)
    rank[rng.permutation(n_groups)] = np.arange(n_groups)
    return np.lexsort((np.arange(len(groups)), rank[groups]))


def group_cut(order: np.ndarray, groups: np.ndarray, position: int) -> int:
    """`position` moved forward to the end of the group it falls inside, so that cutting
    `order` there splits no group."""
    ordered = groups[order]
    while 0 < position < len(order) and ordered[position] == ordered[position - 1]:
        position += 1
    return position


def split_point(order: np.ndarray, groups: np.ndarray, position: int) -> int:
    """Where to cut `order` into two non-empty parts near `position` without parting a
    group: after the group it falls in, or before it when that leaves nothing after; only a
    group holding every row is parted."""
    forward = group_cut(order, groups, position)
    if forward < len(order):
        return forward
    ordered = groups[order]
    backward = position
    while backward > 0 and ordered[backward - 1] == ordered[backward]:
        backward -= 1
    return backward if backward > 0 else position


def group_folds(groups: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """`folds` sets of row indices that split no group, none empty while there are as many
    groups as folds, and sizes within the largest group's size of each other; with every row
    its own group, `np.array_split(rng.permutation(n), folds)`.

    Groups go largest first to the fold holding the fewest rows (the lowest-numbered among
    equals); which groups of one size go to which fold follows the seeded order of groups.
    """
    order = grouped_order(groups, np.random.default_rng(seed))
    if len(order) == 0:
        return [order[:0] for _ in range(folds)]
    ordered = np.asarray(groups)[order]
    # grouped_order keeps each group's rows together: one run per group, in seeded order.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    fold_of = np.empty(len(sizes), dtype=np.int64)
    loads = np.zeros(folds, dtype=np.int64)
    for size in np.unique(sizes)[::-1]:
        members = np.flatnonzero(sizes == size)
        counts = _smallest_first(loads, int(size), len(members))
        # The seeded order, not the fold number, decides which groups land together: with
        # every row its own group, fold k is the k-th slice of the permutation.
        fold_of[members] = np.repeat(np.arange(folds), counts)
        loads += counts * size
    row_fold = np.repeat(fold_of, sizes)
    return [order[row_fold == k] for k in range(folds)]


def _smallest_first(loads: np.ndarray, size: int, count: int) -> np.ndarray:
    """How many of `count` groups of `size` rows each fold gets when each in turn goes to the
    fold with the fewest rows (`loads`; the lowest-numbered among equals).

    Fold i takes its j-th such group at load loads[i] + j*size, so the turns taken are the
    `count` smallest (load, fold) slots: found by the load they reach, not one by one (a
    corpus of a million distinct documents is a million groups of one).
    """

    def slots_upto(level: int) -> int:
        below = loads[loads <= level]
        return int(((level - below) // size + 1).sum())

    low, high = int(loads.min()), int(loads.min()) + (count - 1) * size
    while low < high:  # the lowest level holding `count` slots
        mid = (low + high) // 2
        if slots_upto(mid) >= count:
            high = mid
        else:
            low = mid + 1
    under = np.where(loads < low, -((loads - low) // size), 0)  # slots below that level
    at_level = np.flatnonzero((loads <= low) & ((low - loads) % size == 0))
    under[at_level[: count - int(under.sum())]] += 1
    return under


# Characters that join several topics into one when a corpus is read with another separator
# (or none): a `;`-joined CSV column read with the default `|` gives topics such as
# 'annoyance;disapproval'.
LIKELY_SEPARATORS = (";", "|", ",")


def separator_hint(label_sets: Iterable[Sequence[str]]) -> str | None:
    """`joined_topics_hint` of a corpus's topic sets."""
    counts: Counter[str] = Counter()
    single = True
    for labels in label_sets:
        counts.update(labels)
        single = single and len(labels) <= 1
    return joined_topics_hint(counts, single)


def joined_topics_hint(counts: Mapping[str, int], single: bool) -> str | None:
    """A note when topic names (with their document counts; `single`: no document has two
    topics) look like several topics joined by a separator the reader did not split on,
    naming --label-separator; None when they do not.

    They look joined when at least a tenth of the topics (and 3) contain the character and
    at least half of the pieces recur (as a topic of their own or in two joined names).
    A comma alone is no evidence (names such as 'Berlin, Germany' hold one), so it counts
    only when no document has two topics.
    """
    for sep in LIKELY_SEPARATORS:
        joined = [topic for topic in counts if sep in topic]
        if len(joined) < max(3, 0.1 * len(counts)) or (sep == "," and not single):
            continue
        pieces = Counter(p.strip() for topic in joined for p in topic.split(sep) if p.strip())
        recurring = sum(1 for p, n in pieces.items() if n >= 2 or p in counts)
        if recurring < 0.5 * len(pieces):
            continue
        example = max(joined, key=lambda topic: (counts[topic], topic))
        alone = ", and no document has two topics" if single else ""
        return (
            f"{len(joined)} of {len(counts)} topics contain {sep!r} (e.g. {example[:80]!r})"
            f"{alone}: if {sep!r} joins several topics, read them with --label-separator "
            f"'{sep}' (label_separator= in Python)"
        )
    return None
