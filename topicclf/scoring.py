"""Streaming tagging: documents in, topic sets out, batch by batch, in constant memory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO

from topicclf.classifier import TopicClassifier
from topicclf.corpus.delimited import RowWriter
from topicclf.corpus.ids import DuplicateIds
from topicclf.types import Document

OUTPUT_FORMATS = ("jsonl", "csv", "tsv")


@dataclass(frozen=True)
class Tagged:
    """One tagged document: its id and (topic, score) pairs, best first."""

    id: str
    topics: list[tuple[str, float]]
    error: str | None = None


def batches(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    """Consecutive lists of at most `size` documents."""
    iterator = iter(documents)
    while batch := list(islice(iterator, size)):
        yield batch


def tag_batches(
    classifier: TopicClassifier,
    documents: Iterable[Document],
    *,
    batch_size: int = 512,
    threshold: float | None = None,
    top_k: int | None = None,
    source: str = "input",
) -> Iterator[list[Tagged]]:
    """Tag documents lazily, a batch at a time; empty documents get no topic, never dropped.

    Ids that repeat are tagged like any other document and reported by one
    DuplicateIdWarning when the stream ends.
    """
    duplicates = DuplicateIds()
    for batch in batches(documents, batch_size):
        duplicates.add([doc.id for doc in batch])
        scores = classifier.predict_proba([doc.text for doc in batch])
        chosen = classifier.decide(scores, threshold=threshold, top_k=top_k)
        for row, doc in enumerate(batch):
            if not doc.text.strip():
                chosen[row] = False
        yield [
            Tagged(doc.id, topics, doc.error)
            for doc, topics in zip(batch, classifier.topics_of(scores, chosen), strict=True)
        ]
    duplicates.warn(source)


class TagWriter:
    """Writes tagged documents as JSON Lines, CSV or TSV, flushing each batch."""

    def __init__(self, handle: IO[str], fmt: str = "jsonl", *, scores: bool = False) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.handle, self.fmt, self.scores = handle, fmt, scores
        self._csv = None
        if fmt != "jsonl":
            self._csv = RowWriter(handle, "," if fmt == "csv" else "\t")
            self._csv.writerow(["id", "labels", "scores"] if scores else ["id", "labels"])

    def write(self, item: Tagged) -> None:
        """Write one tagged document."""
        if self._csv is None:
            record: dict[str, object] = {"id": item.id, "labels": [t for t, _ in item.topics]}
            if self.scores:
                record["scores"] = {t: round(s, 6) for t, s in item.topics}
            if item.error is not None:
                record["error"] = item.error
            self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        row = [item.id, "|".join(t for t, _ in item.topics)]
        if self.scores:
            row.append("|".join(f"{s:.6f}" for _, s in item.topics))
        self._csv.writerow(row)
