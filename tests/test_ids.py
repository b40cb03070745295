from __future__ import annotations

import pytest

from topicclf.corpus.ids import DuplicateIds, warn_duplicate_ids
from topicclf.errors import DuplicateIdWarning
from topicclf.types import Document


def test_duplicates_within_and_across_batches() -> None:
    tracker = DuplicateIds()
    assert tracker.add(["a", "b", "a"]) == ["a"]
    assert tracker.add([]) == []
    assert tracker.add(["c", "b"]) == ["b"]
    assert tracker.add(["d", "e", "f", "g"]) == []
    assert tracker.add(["g", "a", "z"]) == ["g", "a"]
    assert tracker.count == 4 and tracker.examples == ["a", "b", "g"]


def test_many_batches_match_a_set() -> None:
    tracker, seen, total = DuplicateIds(), set(), 0
    for batch in range(200):
        ids = [str((batch * 37 + i * 11) % 3001) for i in range(25)]
        expected = []
        for i in ids:
            if i in seen:
                expected.append(i)
            seen.add(i)
        assert tracker.add(ids) == expected
        total += len(expected)
    assert tracker.count == total
    # Runs are merged, so memory stays at one hash per distinct id.
    assert sum(len(run) for run in tracker._runs) == len(seen)


def test_warning_names_source_and_examples() -> None:
    docs = [Document(i, "text") for i in ["x", "y", "x", "x", "z", "y"]]
    with pytest.warns(
        DuplicateIdWarning,
        match=r"c\.jsonl: 3 document\(s\) reuse an id seen before \(e\.g\. 'x', 'y'\)",
    ):
        warn_duplicate_ids(docs, "c.jsonl")
