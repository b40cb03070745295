from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pytest

from topicclf.classifier import TopicClassifier
from topicclf.errors import DuplicateIdWarning
from topicclf.scoring import Tagged, TagWriter, tag_batches
from topicclf.types import Document


def test_every_document_comes_out_once_in_order(tiny_dense: TopicClassifier) -> None:
    docs = [Document(f"d{i}", "rain storm" if i % 3 else "  ") for i in range(10)]
    batches = list(tag_batches(tiny_dense, docs, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    tagged = [t for b in batches for t in b]
    assert [t.id for t in tagged] == [d.id for d in docs]
    assert all(t.topics == [] for t in tagged[::3])  # blank documents: no topic, not dropped
    assert all(t.topics for i, t in enumerate(tagged) if i % 3)


def test_worker_processes_give_the_same_tags_in_order(
    tiny_dense: TopicClassifier, tmp_path: Path
) -> None:
    tiny_dense.save(tmp_path / "m")
    served = TopicClassifier.load(tmp_path / "m")
    assert served.is_tensorflow_free() and not tiny_dense.is_tensorflow_free()
    texts = ["rain storm", "goal", "", "bread and cheese", "shares fell", "sunny"] * 30
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    one = [t for b in tag_batches(served, docs, batch_size=7) for t in b]
    two = [t for b in tag_batches(served, docs, batch_size=7, jobs=2) for t in b]
    assert two == one and [t.id for t in two] == [d.id for d in docs]


def test_repeated_ids_are_tagged_and_warned_once(tiny_dense: TopicClassifier) -> None:
    docs = [Document(i, "goal") for i in ["a", "b", "a", "c", "b"]]
    with pytest.warns(DuplicateIdWarning, match=r"in\.jsonl: 2 document\(s\) reuse an id") as seen:
        tagged = [
            t for b in tag_batches(tiny_dense, docs, batch_size=2, source="in.jsonl") for t in b
        ]
    assert len(seen) == 1 and [t.id for t in tagged] == ["a", "b", "a", "c", "b"]


def test_generated_ids_are_not_remembered(tiny_dense: TopicClassifier) -> None:
    docs = [Document("stdin:1", "goal", generated_id=True)] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DuplicateIdWarning
        tagged = [t for b in tag_batches(tiny_dense, docs) for t in b]
    assert [t.id for t in tagged] == ["stdin:1"] * 3


def test_writer_formats() -> None:
    items = [Tagged("x", [("sport", 0.9), ("food", 0.61)]), Tagged("y", [], error="bad line")]
    handle = io.StringIO()
    writer = TagWriter(handle, "jsonl", scores=True)
    for item in items:
        writer.write(item)
    rows = [json.loads(line) for line in handle.getvalue().splitlines()]
    assert rows[0] == {
        "id": "x",
        "labels": ["sport", "food"],
        "scores": {"sport": 0.9, "food": 0.61},
    }
    assert rows[1] == {"id": "y", "labels": [], "scores": {}, "error": "bad line"}
    handle = io.StringIO()
    writer = TagWriter(handle, "tsv")
    for item in items:
        writer.write(item)
    assert handle.getvalue() == "id\tlabels\nx\tsport|food\ny\t\n"
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        TagWriter(io.StringIO(), "xml")
