"""Duplicate document ids in a stream of any length, in about 8 bytes of memory per id."""

from __future__ import annotations

import hashlib
import warnings
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from topicclf.errors import DuplicateIdWarning
from topicclf.types import Document

EXAMPLES = 5


class DuplicateIds:
    """Remembers the ids seen so far and reports those seen again.

    Ids are kept as 64-bit hashes in a few sorted runs (merged like a log-structured tree),
    so a million ids cost about 8 MB and each batch is checked with binary searches, not a
    Python set of strings. Among a million distinct ids, two share a hash with a chance of
    about one in 30 million, which could at worst cause one spurious warning.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []
        self.count = 0
        self.examples: list[str] = []
        # Ids the readers made up (see `add_documents`).
        self._spans: dict[str, tuple[list[int], list[int]]] = {}
        self._paths: set[int] = set()
        self._last: tuple[str, int] | None = None  # the span the last document grew

    def add(self, ids: Sequence[str]) -> list[str]:
        """Record a batch of ids; return those already seen (earlier or in this batch)."""
        if not ids:
            return []
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        known = np.zeros(len(ids), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            known |= run[pos] == hashes
        repeated = known.copy()
        repeated[order[1:][ordered[1:] == ordered[:-1]]] = True
        fresh = np.unique(hashes[~known])
        if len(fresh):
            self._push(fresh)
        found = [ids[int(i)] for i in np.flatnonzero(repeated)]
        self._note(found)
        return found

    def add_documents(self, documents: Sequence[Document]) -> list[str]:
        """Record a batch of documents; return the ids already seen. An id a reader made up
        is unique among those (file and line) but may equal a document's own id (`e:3`), so
        each is checked against the documents' ids, and theirs against the made-up ones."""
        given: list[str] = []
        made: list[str] = []
        for doc in documents:
            if doc.generated_id:
                made.append(doc.id)
                self._made(doc.id)
            else:
                given.append(doc.id)
                self._last = None
        # Against earlier batches' own ids; one of this batch is found by the next loop.
        found = [made[int(i)] for i in np.flatnonzero(self._seen(made))] if made else []
        found += [doc_id for doc_id in given if self._made_before(doc_id)]
        self._note(found)
        return found + self.add(given)

    def _seen(self, ids: Sequence[str]) -> np.ndarray:
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        known = np.zeros(len(ids), dtype=bool)
        for run in self._runs:
            pos = np.minimum(np.searchsorted(run, hashes), len(run) - 1)
            known |= run[pos] == hashes
        return known

    def _made(self, doc_id: str) -> None:
        # A stream of `name:line` ids is kept as spans of lines per name, a span growing
        # while no document with its own id comes between: flat for a plain-text stream,
        # one span per switch otherwise (bounded by the documents' own ids, as `add` is).
        # A span may cover a blank line between two documents: an id naming that line
        # would be taken as seen, a spurious warning at worst, as a shared hash can give.
        name, line = _name_and_line(doc_id)
        if line is None:  # a text directory's path: one per file, kept as its hash
            self._paths.add(hash(doc_id))
            self._last = None
            return
        starts, ends = self._spans.setdefault(name, ([], []))
        if self._last is not None and self._last[0] == name and line > ends[self._last[1]]:
            ends[self._last[1]] = line
            return
        at = bisect_right(starts, line)
        starts.insert(at, line)
        ends.insert(at, line)
        self._last = (name, at)

    def _made_before(self, doc_id: str) -> bool:
        name, line = _name_and_line(doc_id)
        if line is None:
            return hash(doc_id) in self._paths
        starts, ends = self._spans.get(name, ([], []))
        # The span that starts last before the line: spans of one name are disjoint unless
        # two inputs share the name (a/x.jsonl b/x.jsonl), which is warned about as it is.
        at = bisect_right(starts, line)
        return at > 0 and ends[at - 1] >= line

    def _note(self, found: list[str]) -> None:
        self.count += len(found)
        for doc_id in found:
            if len(self.examples) < EXAMPLES and doc_id not in self.examples:
                self.examples.append(doc_id)

    def _push(self, run: np.ndarray) -> None:
        # Runs hold disjoint hashes (only unseen ones are pushed): merging is a sort.
        while self._runs and len(self._runs[-1]) <= len(run):
            run = np.concatenate((self._runs.pop(), run))
            run.sort(kind="stable")
        self._runs.append(run)

    @classmethod
    def found(cls, count: int, examples: Sequence[str]) -> DuplicateIds:
        """A tracker that holds what another pass found (its `warn` says it)."""
        tracker = cls()
        tracker.count, tracker.examples = count, list(examples)[:EXAMPLES]
        return tracker

    def message(self, source: str) -> str | None:
        """What `warn` says about the duplicates found (None: there are none); the server
        notes it in an answer."""
        if not self.count:
            return None
        examples = ", ".join(repr(i) for i in self.examples)
        return (
            f"{source}: {self.count} document(s) reuse an id seen before (e.g. {examples}); "
            "give every document its own id so tags and report rows can be traced back"
        )

    def warn(self, source: str) -> None:
        """Warn once about all the duplicates found, if any."""
        message = self.message(source)
        if message is not None:
            warnings.warn(message, DuplicateIdWarning, stacklevel=2)


def stable_hashes(ids: Sequence[str]) -> np.ndarray:
    """64-bit hashes of ids that are the same in every process (Python's `hash` of a string
    is salted per process), so that ids seen on several Dask workers can be compared."""
    return np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(i.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                "little",
                signed=True,
            )
            for i in ids
        ),
        dtype=np.int64,
        count=len(ids),
    )


def repeated_hashes(parts: Sequence[np.ndarray]) -> tuple[int, np.ndarray]:
    """How many documents reuse an id seen before, and the hashes seen more than once, from
    the `stable_hashes` of each part's ids."""
    every = np.concatenate([*parts, np.zeros(0, np.int64)])
    distinct, counts = np.unique(every, return_counts=True)
    return int(len(every) - len(distinct)), distinct[counts > 1]


def warn_duplicate_ids(documents: Sequence[Document], source: str) -> None:
    """Warn (DuplicateIdWarning) when documents share ids."""
    tracker = DuplicateIds()
    tracker.add([doc.id for doc in documents])
    tracker.warn(source)


def warning_duplicate_ids(
    documents: Iterable[Document], source: str, batch: int = 1_000
) -> Iterator[Document]:
    """The documents as they stream, then the DuplicateIdWarning `tag` gives when some share
    an id, a made-up one (file and line) equal to a document's own id included."""
    tracker = DuplicateIds()
    pending: list[Document] = []
    for doc in documents:
        pending.append(doc)
        if len(pending) == batch:
            tracker.add_documents(pending)
            pending = []
        yield doc
    tracker.add_documents(pending)
    tracker.warn(source)


def _name_and_line(doc_id: str) -> tuple[str, int | None]:
    """A made-up id's name and line (`e:3`: 'e', 3); a text directory's path has no line."""
    name, colon, line = doc_id.rpartition(":")
    if colon and line.isascii() and line.isdigit():
        return name, int(line)
    return doc_id, None
