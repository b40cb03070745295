"""Streaming tagging: documents in, topic sets out, batch by batch, in constant memory."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
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
    jobs: int = 1,
) -> Iterator[list[Tagged]]:
    """Tag documents lazily, a batch at a time; empty documents get no topic, never dropped.

    With `jobs` > 1 and a model served without TensorFlow, batches are vectorized and scored
    in that many forked worker processes (once a first full batch shows there is work, so a
    single document never pays for a pool), with at most 2 x `jobs` batches in flight so
    memory stays flat;
    output order is input order. Keras-served models score in this process: TensorFlow
    already spreads its work over the cores, and cannot be forked safely.

    Ids that repeat are tagged like any other document and reported by one
    DuplicateIdWarning when the stream ends. Ids the readers generated (file and line) are
    unique within their source and are not remembered, so plain-text streams stay flat.
    """
    duplicates = DuplicateIds()
    scored = _scored(classifier, batches(documents, batch_size), threshold, top_k, jobs, batch_size)
    for batch, topics in scored:
        duplicates.add([doc.id for doc in batch if not doc.generated_id])
        yield [Tagged(doc.id, t, doc.error) for doc, t in zip(batch, topics, strict=True)]
    duplicates.warn(source)


Topics = list[list[tuple[str, float]]]


def choose_topics(
    classifier: TopicClassifier, texts: list[str], threshold: float | None, top_k: int | None
) -> Topics:
    """(topic, score) pairs per text, best first; a blank text gets no topic."""
    scores = classifier.predict_proba(texts)
    chosen = classifier.decide(scores, threshold=threshold, top_k=top_k)
    for row, text in enumerate(texts):
        if not text.strip():
            chosen[row] = False
    return classifier.topics_of(scores, chosen)


def _scored(
    classifier: TopicClassifier,
    groups: Iterator[list[Document]],
    threshold: float | None,
    top_k: int | None,
    jobs: int,
    batch_size: int,
) -> Iterator[tuple[list[Document], Topics]]:
    first = next(groups, None)
    if first is None:
        return
    rest = chain([first], groups)
    # A first batch that is not full is the only one: not worth starting workers for. A full
    # one starts them without waiting for the next batch, so output still flows early.
    if jobs <= 1 or len(first) < batch_size or not classifier.is_tensorflow_free():
        for batch in rest:
            yield batch, choose_topics(classifier, [d.text for d in batch], threshold, top_k)
        return
    yield from _in_worker_processes(classifier, rest, threshold, top_k, jobs)


# The classifier the forked workers use: set before the pool forks, inherited, never pickled.
_WORKER: dict[str, TopicClassifier] = {}


def _worker_start() -> None:
    # The parent decides when workers stop: Ctrl-C and SIGTERM are its to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_topics(texts: list[str], threshold: float | None, top_k: int | None) -> Topics:
    return choose_topics(_WORKER["classifier"], texts, threshold, top_k)


def _in_worker_processes(
    classifier: TopicClassifier,
    groups: Iterator[list[Document]],
    threshold: float | None,
    top_k: int | None,
    jobs: int,
) -> Iterator[tuple[list[Document], Topics]]:
    _WORKER["classifier"] = classifier
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
    )
    pending: deque[tuple[list[Document], Future[Topics]]] = deque()
    try:
        for batch in groups:
            texts = [d.text for d in batch]
            pending.append((batch, pool.submit(_worker_topics, texts, threshold, top_k)))
            if len(pending) >= 2 * jobs:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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
