"""ClassesView: scikit-learn's classes_ beside the network's own column order."""

from __future__ import annotations

import numpy as np

from topicclf.classes import ClassesView


def test_numbers_are_in_numeric_order_and_the_two_orders_round_trip() -> None:
    topics = ["-3", "10", "2"]  # the network's order: sorted as strings
    view = ClassesView.of(topics, np.dtype("int64"))
    assert view.classes.tolist() == [-3, 2, 10] and view.classes.dtype == np.int64
    assert view.names == ["-3", "2", "10"]
    network = np.array([[0.1, 0.9, 0.5]])
    assert view.to_classes(network).tolist() == [[0.1, 0.5, 0.9]]
    assert (view.from_classes(view.to_classes(network)) == network).all()
    assert view.named([2, 10.0, "x", True]) == ["2", "10", "x", True]


def test_names_keep_the_network_order_and_no_copy_is_made() -> None:
    view = ClassesView.of(["a", "b"], None)
    assert view.classes.dtype == object and view.names == ["a", "b"]
    matrix = np.eye(2)
    assert view.to_classes(matrix) is matrix and view.from_classes(matrix) is matrix
    assert view.named([1]) == [1]  # a model of names leaves numbers for the caller to refuse


def test_an_indicator_column_no_document_had_is_zeros_and_named_unlearned() -> None:
    view = ClassesView.of(["a", "c"], None, columns=["c", "never", "a"])
    assert view.classes.tolist() == ["c", "never", "a"] and view.unlearned == {"never"}
    network = np.array([[0.2, 0.7]])  # a, c
    assert view.to_classes(network).tolist() == [[0.7, 0.0, 0.2]]
    assert view.from_classes(view.to_classes(network)).tolist() == network.tolist()
    assert view.unlearned_among(["never", "a", 3]) == ["never"]
