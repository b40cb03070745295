from __future__ import annotations

import numpy as np
import pytest

from topicclf.errors import DataError, NotFittedError
from topicclf.labels import LabelEncoder, detect_mode, split_indices


def test_sorted_classes_and_matrix() -> None:
    encoder = LabelEncoder().fit([["b", "a"], ["c"], ["a"]])
    assert encoder.classes_ == ["a", "b", "c"]
    encoded = encoder.transform([["a"], ["c", "b"], []])
    np.testing.assert_array_equal(encoded.y, [[1, 0, 0], [0, 1, 1], [0, 0, 0]])


def test_min_count_drops_with_warning() -> None:
    with pytest.warns(
        UserWarning, match=r"1 topic\(s\) with fewer than 2 documents were dropped: c"
    ):
        encoder = LabelEncoder(min_count=2).fit([["a", "b"], ["a", "b"], ["c"]])
    assert encoder.classes_ == ["a", "b"]
    assert encoder.dropped_ == {"c": 1}


def test_unknown_labels_are_counted_not_fatal() -> None:
    encoder = LabelEncoder().fit([["a"], ["b"]])
    encoded = encoder.transform([["a", "zz"], ["zz", "yy"]])
    assert encoded.unknown == {"zz": 2, "yy": 1}
    np.testing.assert_array_equal(encoded.y, [[1, 0], [0, 0]])
    names, matrix = encoded.unknown_truth
    assert names == ["yy", "zz"]
    np.testing.assert_array_equal(matrix, [[0, 1], [1, 1]])
    assert encoder.transform([["a"]]).unknown_truth[1].shape == (1, 0)


def test_errors() -> None:
    with pytest.raises(DataError, match="have no labels"):
        LabelEncoder().fit([[], []])
    with pytest.raises(DataError, match=r"at least two topics, found 1 \(a\)"):
        LabelEncoder().fit([["a"], ["a"]])
    with pytest.raises(DataError, match=r"every training document has the same topics \(a, b\)"):
        LabelEncoder().fit([["a", "b"], ["b", "a"]])
    with (
        pytest.raises(DataError, match="the same topics"),
        pytest.warns(UserWarning, match="were dropped: c"),
    ):
        LabelEncoder(min_count=2).fit([["a", "b", "c"], ["a", "b"]])
    with pytest.raises(NotFittedError, match="call fit first"):
        LabelEncoder().transform([["a"]])


def test_detect_mode() -> None:
    assert detect_mode([["a"], ["b"]]) == "multiclass"
    assert detect_mode([["a"], ["a", "b"]]) == "multilabel"
    assert detect_mode([["a"], []]) == "multilabel"


def test_split_keeps_every_topic_in_training() -> None:
    y = np.zeros((20, 3), dtype=np.float32)
    y[:, 0] = 1
    y[[3, 11], 1] = 1
    y[7, 2] = 1
    for seed in range(30):
        train, val = split_indices(y, 0.5, seed)
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 20
        assert y[train, 1].sum() >= 1
    again = split_indices(y, 0.5, 4)
    np.testing.assert_array_equal(again[0], split_indices(y, 0.5, 4)[0])
    with pytest.raises(DataError, match="at least 4 documents"):
        split_indices(y[:3], 0.5, 0)
