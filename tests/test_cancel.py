"""Stop events: work in a server's threads ends at its next checkpoint once stopped."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from topicclf.cancel import Cancelled, checkpoint, stopped_by
from topicclf.classifier import TopicClassifier
from topicclf.types import Document


def test_outside_a_stop_event_a_checkpoint_does_nothing() -> None:
    checkpoint()
    with stopped_by(threading.Event()):
        checkpoint()  # not set: the work goes on
    checkpoint()


def test_a_set_stop_event_reaches_work_run_in_a_copy_of_the_context() -> None:
    """A thread pool does not carry the caller's context: the server hands its work a copy,
    and a stop set after the work began is seen there."""
    stop = threading.Event()
    with stopped_by(stop):
        context = contextvars.copy_context()
    stop.set()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(context.run, checkpoint)
        with pytest.raises(Cancelled, match="no one waits for this work any more"):
            future.result()
        pool.submit(checkpoint).result()  # another context: not stopped


def test_tagging_and_explaining_stop_at_their_first_checkpoint(
    tiny_dense: TopicClassifier, tiny_docs: list[Document]
) -> None:
    texts = [d.text for d in tiny_docs]
    stop = threading.Event()
    stop.set()
    with stopped_by(stop):
        with pytest.raises(Cancelled):
            tiny_dense.tag(texts)
        with pytest.raises(Cancelled):
            tiny_dense.explain(texts[0], topics=list(tiny_dense.classes_))
    assert len(tiny_dense.tag(texts)) == len(texts)  # the event was this block's only


def test_a_custom_token_pattern_stops_before_each_text(slow_pattern_model: Path) -> None:
    """A time-limited token pattern may take up to its limit on each text: a stopped
    request's batch of 512 such texts held a model's threads for minutes after its client
    reset. The pattern checks before each text."""
    clf = TopicClassifier.load(slow_pattern_model)
    stop = threading.Event()
    stop.set()
    with stopped_by(stop), pytest.raises(Cancelled):
        clf.featurizer_.transform(["rain and wind"])  # no scoring batch: the pattern's check
