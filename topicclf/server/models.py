"""The models a server holds, each under a name: loaded once per worker process. Small
requests are tagged in batches (see batching.py), on the event loop for numpy-served models
while a batch stays small; every other call runs in threads of the model's own (`Lane`), a
bounded amount of work running or waiting (more gets 503): large requests in 2 threads of a numpy
model, explain requests in 2 more; every request of a model whose custom token pattern may
take seconds on a text in 4 threads and no queue; every call of a Keras model in one thread
(they are not documented as thread-safe). Work in a thread runs with its request's stop
event (topicclf.cancel): it ends at its next batch once the client has gone."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from topicclf.cancel import checkpoint
from topicclf.classifier import TopicClassifier
from topicclf.config import (
    SERVE_EXPLAIN_THREADS,
    SERVE_INLINE_CELLS,
    SERVE_INLINE_CHARS,
    SERVE_INLINE_TEXTS,
    SERVE_MODEL_THREADS,
    SERVE_MODEL_WORK,
    SERVE_PATTERN_THREADS,
    SERVE_RETRY_SECONDS,
    TEXT_COST,
)
from topicclf.errors import ConfigError, SlowTextError, TooManyPairsError
from topicclf.jsontext import encoded_size
from topicclf.model.explain import Explanation, explainable_terms
from topicclf.model.inference import Scorer
from topicclf.model.thresholds import Rule
from topicclf.server.batching import Batcher
from topicclf.server.http import AnswerSize
from topicclf.server.schemas import ApiError
from topicclf.vocabulary import Subject, Vocabulary

# Names appear in URLs (/models/{name}/tag, /v1/projects/{name}): keep them path-safe.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
Topics = list[list[tuple[str, float]]]
T = TypeVar("T")


@dataclass(frozen=True)
class ModelSpec:
    """A model directory and the name it is served under."""

    name: str
    path: Path


def _timestamp(value: Any) -> str | None:
    """A manifest's created_at as RFC 3339, what the OpenAPI document promises: loading takes
    any ISO 8601 form Python reads (a week date, the basic form, no offset), echoed as given
    until pass 47; an offset-less time is the UTC the saver writes."""
    from datetime import UTC, datetime

    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # load checked it: never here, but no answer fails for it
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def parse_model_specs(args: Sequence[str]) -> list[ModelSpec]:
    """`DIR` (named after the directory) or `NAME=DIR` arguments; ConfigError when a name is
    not path-safe or given twice."""
    specs = []
    for arg in args:
        name, sep, directory = arg.partition("=")
        if not sep or Path(arg).exists():  # a directory whose name holds '=' is just a DIR
            name, directory = _directory_name(arg), arg
        if not directory:  # Path("") is ".": `a=` served (or refused) the current directory
            raise ConfigError(f"{arg!r}: no model directory; give DIR or NAME=DIR")
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"{arg!r}: {name!r} cannot be a model name (letters, digits, '.', '_', '-'; "
                "starting with a letter or digit); choose one with NAME=DIR"
            )
        specs.append(ModelSpec(name, Path(directory)))
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"model name given twice: {', '.join(repeated)}; use NAME=DIR")
    return specs


def _directory_name(arg: str) -> str:
    """The name a DIR argument is served under: its directory's, links followed (`.` is the
    current directory's name). A link loop keeps its own name; loading says what it is."""
    try:
        return Path(arg).resolve().name
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python 3.11)
        return Path(os.path.abspath(arg)).name


def answer_items(scorer: Scorer, texts: Sequence[str], chosen: Topics, explain: int) -> int:
    """What an explained answer holds, as --max-pairs counts it: one item per (text, topic)
    pair, and one per term its explanation may list: up to `explain` each way, and never
    more than the text's own terms. A 70 KB request for 100 terms of each of 2,000 topics
    asked for a 345 MB answer, counted as 100,000 pairs. Featurizes every text that got a
    topic: call it off the event loop."""
    return sum(
        len(topics) * (1 + min(2 * explain, explainable_terms(scorer, text)))
        for text, topics in zip(texts, chosen, strict=True)
        if topics
    )


class ServedModel:
    """One loaded model and how its tagging is run."""

    def __init__(self, name: str, path: Path, classifier: TopicClassifier) -> None:
        self.name = name
        self.path = path
        self.classifier = classifier
        self.vocabulary = getattr(classifier, "vocabulary_", None) or Vocabulary({})
        self.keras = not classifier.is_tensorflow_free()
        self.topics = len(classifier.topics_)
        # Short batches of a numpy model are tagged on the event loop, unless a text may take
        # its custom token pattern up to the time limit: that would stop every other request
        # (the blend's featurizer has the same text settings).
        self.inline = not self.keras and not classifier.featurizer_.analyzer.time_limited
        # Requests that do not wait for a batch run in threads of the model's own, a bounded
        # amount of work running or waiting (more gets 503): one model's load never holds another's
        # requests (a shortlist model's large requests in a shared pool held the other
        # models' 83 s), nor a model's small requests for long (60 queued requests held a
        # Keras model's one-text requests 110 s). Keras models are not documented as
        # thread-safe: one thread makes all their calls, batches included. A numpy model
        # whose token pattern may take seconds on a text runs every request in its threads,
        # as many as it has and no queue: its slow texts would hold the ones behind them.
        most = f"{SERVE_MODEL_WORK:,} characters of texts, each counted as {TEXT_COST} at least"
        if self.keras:
            self.lane = Lane(
                1,
                f"keras-{name}",
                f"model {name!r} has as much work running or waiting as it takes ({most}; a "
                "Keras model runs one call at a time)",
                SERVE_MODEL_WORK,
            )
        elif not self.inline:
            self.lane = Lane(
                SERVE_PATTERN_THREADS,
                f"pattern-{name}",
                f"model {name!r} is tagging {SERVE_PATTERN_THREADS} requests at once, the most "
                "it takes: its custom token pattern may take seconds on a text",
            )
        else:
            self.lane = Lane(
                SERVE_MODEL_THREADS,
                f"tag-{name}",
                f"model {name!r} has as much work running or waiting as it takes ({most})",
                SERVE_MODEL_WORK,
            )
        # Explaining scores a text once per term (seconds for a hundred long texts): in a few
        # threads of the model's own, beside its tagging, so explain requests never hold up
        # its large requests (a Keras model's calls all go through its one thread).
        self.explainer = self.lane
        if self.inline:
            self.explainer = Lane(
                SERVE_EXPLAIN_THREADS,
                f"explain-{name}",
                f"model {name!r} is explaining {SERVE_EXPLAIN_THREADS} requests at once, the "
                "most it takes",
            )
        self.batcher = Batcher(self._tag_batch)
        # Bytes each topic takes in an answer, as encoded (see answer_size): its name, and on
        # Annif's routes its subject's URI, label and notation. Counted once, here: a
        # character of a name may take 6 bytes escaped, 9 percent-encoded in a URI.
        self.name_bytes = {t: encoded_size(t) for t in classifier.topics_}
        self.subject_bytes = {t: _subject_size(self.subject(t)) for t in classifier.topics_}

    async def tag(self, texts: list[str], rule: Rule, max_pairs: int | None = None) -> Topics:
        """(topic, score) pairs per text, best first. Small requests (see `small`) wait for a
        batch; any other one goes to the model's threads (`lane`), not to hold others up (a
        batch runs one at a time). TooManyPairsError when more than `max_pairs` (text,
        topic) pairs are chosen; ApiError 422 when the model's token pattern runs out of
        time on a text, 503 when as many requests as its threads take are there already."""
        try:
            if not self.inline and not self.keras:  # every request in the pattern's threads
                return await self.lane.run(self._tag, texts, rule, max_pairs)
            if not self.small(texts):
                cost = work(texts)
                return await self.lane.run(self._tag, texts, rule, max_pairs, cost=cost)
            chosen = await self.batcher.submit(texts, rule)
        except SlowTextError as exc:  # the request's own text: the other requests go on
            raise ApiError(
                422, f"model {self.name!r} cannot tag a text of this request: {exc}"
            ) from None
        pairs = sum(len(topics) for topics in chosen)  # a small request: a small count
        if max_pairs is not None and pairs > max_pairs:
            raise TooManyPairsError(pairs, max_pairs)
        return chosen

    def small(self, texts: Sequence[str]) -> bool:
        """Whether tagging `texts` takes a few milliseconds at most: few short texts, and few
        (text, topic) scores to decide. Only these are tagged on the event loop."""
        return (
            len(texts) <= SERVE_INLINE_TEXTS
            and len(texts) * self.topics <= SERVE_INLINE_CELLS
            and sum(len(t) for t in texts) <= SERVE_INLINE_CHARS
        )

    def _tag(self, texts: list[str], rule: Rule, max_pairs: int | None) -> Topics:
        return self.classifier.tag(texts, rule, warn=False, max_pairs=max_pairs)

    async def _tag_batch(self, texts: list[str], rule: Rule) -> Topics:
        if not self.inline or not self.small(texts):  # several small requests may add up
            # Many requests' batch, not bounded as one request is: it waits its turn.
            return await self.lane.run_batch(self._tag, texts, rule, None)
        # A few milliseconds at most: handing them to a thread would cost more, as the thread
        # and the loop pass the GIL back and forth (every 5 ms when both are busy).
        return self.classifier.tag(texts, rule, warn=False)  # the answer notes it

    async def explain(
        self, texts: list[str], chosen: Topics, top: int, max_pairs: int | None = None
    ) -> tuple[list[list[Explanation]], int]:
        """Why each text got the topics tagging chose for it: `top` terms per topic and
        direction, with the scores tagging gave; and the items the answer holds (see
        `answer_items`). TooManyPairsError, before any text is explained, when they are more
        than `max_pairs`. Each text is scored once per term, so this always runs off the
        event loop (a Keras model in its own thread)."""

        def explain_all() -> tuple[list[list[Explanation]], int]:
            items = answer_items(self.classifier.scorer_, texts, chosen, top)
            if max_pairs is not None and items > max_pairs:
                pairs = sum(len(topics) for topics in chosen)
                raise TooManyPairsError(pairs, max_pairs, terms=items - pairs)
            out = []
            for text, topics in zip(texts, chosen, strict=True):
                checkpoint()  # the client may have gone: a text takes up to 5,001 scorings
                why = self.classifier.explain(text, top=top, topics=[t for t, _ in topics])
                # Scored alone, not in a batch, a score may differ in its last float bits:
                # the answer shows one score per topic.
                out.append([replace(e, score=s) for e, (_, s) in zip(why, topics, strict=True)])
            return out, items

        try:
            if self.keras:  # in the Keras thread, beside its tagging
                return await self.explainer.run(explain_all, cost=work(texts))
            return await self.explainer.run(explain_all)
        except SlowTextError as exc:  # explain reads the text again: it may run out of time
            raise ApiError(
                422, f"model {self.name!r} cannot explain a text of this request: {exc}"
            ) from None

    def subject(self, topic: str) -> Subject:
        """The URI and label a topic is served with."""
        return self.vocabulary.subject(topic)

    def answer_size(
        self,
        ids: Sequence[str | None],
        chosen: Topics,
        *,
        subjects: bool = False,
        scores: bool = True,
        explained: Sequence[Sequence[Explanation]] | None = None,
        items: int | None = None,
    ) -> AnswerSize:
        """What an answer of `chosen` for documents `ids` takes, for answer_body to bound and
        place before building it: each pair's topic as encoded (its name, once more with
        `scores` and again with `explained`; with `subjects`, Annif's URI, label and
        notation), the echoed ids and explained terms, and a few bytes a pair, document and
        term for the JSON around them (an upper bound). `items`: as --max-pairs counts them."""
        sizes = self.subject_bytes if subjects else self.name_bytes
        copies = 1 if subjects else 1 + scores + (explained is not None)
        terms = [t for why in explained or () for e in why for t, _ in (*e.up, *e.down)]
        explanations = sum(len(why) for why in explained or ())

        pairs = sum(len(topics) for topics in chosen)

        def fixed() -> int:
            names = sum(sizes[topic] for topics in chosen for topic, _ in topics)
            return (
                ANSWER_BYTES
                + DOCUMENT_BYTES * len(ids)
                + PAIR_BYTES * pairs
                + copies * names
                + EXPLANATION_BYTES * explanations
                + TERM_BYTES * len(terms)
            )

        echoed = [i for i in ids if i is not None] + terms
        return AnswerSize(len(ids), pairs if items is None else items, echoed, fixed)

    @property
    def languages(self) -> list[str]:
        """The ISO 639-1 codes of the languages the model has rules for, most trained on
        first ('und' for a model without language rules)."""
        rules = self.classifier.featurizer_.analyzer.languages
        return [r.code for r in rules if r.code] or ["und"]

    @property
    def language(self) -> str:
        """The model's main language as an ISO 639-1 code (Annif's project language)."""
        return self.languages[0]

    def info(self) -> dict[str, Any]:
        """What GET /models reports about this model."""
        clf = self.classifier
        return {
            "name": self.name,
            "topics": len(clf.topics_),
            "network": clf.config_.network.type,
            "mode": clf.mode_,
            "engine": "keras" if self.keras else "numpy",
            "language": self.language,
            "languages": self.languages,
            "vocabulary": bool(self.vocabulary.subjects),
            "explain": clf.can_explain(),
            "created": _timestamp(clf.manifest_.get("created_at")),
        }

    def close(self) -> None:
        """Stop the model's own threads, if it has any."""
        self.lane.close()
        if self.explainer is not self.lane:
            self.explainer.close()


def work(texts: Sequence[str]) -> int:
    """What tagging `texts` costs a model's threads, as Lane capacities count it: their
    characters, each text counted as TEXT_COST characters at least (10,000 two-letter texts
    took as long as a megabyte of text)."""
    return sum(max(len(text), TEXT_COST) for text in texts)


class Lane:
    """A few threads of their own for one kind of slow call, taking a bounded amount of work
    at once: as many calls as it has threads, or (with `capacity`) calls whose costs add up
    to at most `capacity` running or waiting (a call alone always runs). One more gets
    ApiError 503 at once. An unbounded queue made every call wait behind the slow ones (six
    slow requests held the others 7 s and more; 60 queued requests 110 s)."""

    def __init__(self, threads: int, name: str, busy: str, capacity: int | None = None) -> None:
        self.threads = threads
        self.capacity = capacity
        self.name = name
        # Begun at the first call, and again after `close` (a program may serve a loaded
        # model once more: serve_in_thread).
        self.executor: ThreadPoolExecutor | None = None
        self.busy_message = busy
        self.busy = 0  # calls running in the threads or waiting for one
        self.held = 0  # their costs
        self._lock = threading.Lock()  # released from those threads

    async def run(self, call: Callable[..., T], *args: Any, cost: int = 1) -> T:
        """`call(*args)` in one of the lane's threads, in a copy of the current context (the
        request's stop event goes with it: topicclf.cancel); ApiError 503 when the lane
        holds as much work as it takes."""
        with self._lock:
            if self.capacity is None:
                full = self.busy >= self.threads
            else:
                full = self.busy > 0 and self.held + cost > self.capacity
            if full:
                raise ApiError(
                    503,
                    f"{self.busy_message}; retry shortly",
                    {"Retry-After": str(SERVE_RETRY_SECONDS)},
                )
            self.busy += 1
            self.held += cost
        release = functools.partial(self._release, cost)
        try:
            context = contextvars.copy_context()
            future: Future[T] = self._threads().submit(context.run, call, *args)
        except BaseException:
            release()
            raise
        # Released when the thread is done, not when the request ends: a client that leaves
        # holds the thread until its work reaches a checkpoint.
        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    async def run_batch(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` for a batch of many requests: in the lane's threads, uncounted, and
        without any one request's stop event."""
        return await asyncio.wrap_future(self._threads().submit(call, *args))

    def _threads(self) -> ThreadPoolExecutor:
        if self.executor is None:
            self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
        return self.executor

    def _release(self, cost: int, _: object = None) -> None:
        with self._lock:
            self.busy -= 1
            self.held -= cost

    def close(self) -> None:
        """Stop the threads once their calls are done; calls not begun are dropped."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None


# JSON around an answer's parts, at most (see answer_size): a pair's punctuation and score
# (`,"t":0.123456`; `{"uri":,"label":,"notation":,"score":}` on Annif's routes), a
# document's (`{"id":,"labels":[],"scores":{}}`), an explained topic's
# (`{"topic":,"score":0.123456,"up":[],"down":[]},`: uncounted, an answer passed --max-answer
# by ~3%), an explained term's (`{"term":,"weight":}`) and the answer's own fields (model,
# milliseconds, notes).
PAIR_BYTES = 48
DOCUMENT_BYTES = 64
EXPLANATION_BYTES = 48
TERM_BYTES = 32
ANSWER_BYTES = 4096


def _subject_size(subject: Subject) -> int:
    """Bytes of a subject's URI, label and notation as encoded (a missing notation: null)."""
    notation = 4 if subject.notation is None else encoded_size(subject.notation)
    return encoded_size(subject.uri) + encoded_size(subject.label) + notation


def load_models(specs: Sequence[ModelSpec]) -> dict[str, ServedModel]:
    """Load every model (TopicclfError when one cannot be), keyed by name, in given order."""
    return {
        spec.name: ServedModel(spec.name, spec.path, TopicClassifier.load(spec.path))
        for spec in specs
    }
