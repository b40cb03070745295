"""Streaming tagging: documents in, tagged records out, batch by batch, in constant memory.

Home of the tagged record (`Tagged`: id, topics with scores, error) and of how it is written
(JSON Lines, CSV/TSV, Parquet), and of the bad-record policy while tagging. `tag`, its worker
processes, the Dask engine (`tagging.distributed`) and `serve` all produce records here.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from topicclf import jsontext
from topicclf.classifier import TopicClassifier
from topicclf.config import BAD_RECORD_POLICIES, TAG_BATCH_SIZE
from topicclf.corpus.base import CorpusOptions, bad_record, scrub_surrogates
from topicclf.corpus.delimited import RowWriter
from topicclf.corpus.directory import labels_file_text
from topicclf.corpus.ids import DuplicateIds
from topicclf.errors import (
    BadRecordWarning,
    CorpusFormatError,
    OutputError,
    SlowTextError,
    TopicclfError,
)
from topicclf.inputs import as_choice, as_progress
from topicclf.machine import available_cores
from topicclf.model.thresholds import DEFAULT_RULE, Rule, ignored_by
from topicclf.types import Document, Progress

if TYPE_CHECKING:
    from concurrent.futures import Future

OUTPUT_FORMATS = ("jsonl", "csv", "tsv")
SCORE_DIGITS = 6  # every output rounds scores to this many decimals
LABEL_SEPARATOR = "|"  # between topics (and scores) in a CSV/TSV output column

Topics = list[list[tuple[str, float]]]
Scored = tuple[Topics, list[str | None]]  # topics per text, and each text's error or None


@dataclass(frozen=True)
class Tagged:
    """One tagged document: its id and (topic, score) pairs, best first."""

    id: str
    topics: list[tuple[str, float]]
    error: str | None = None

    def to_record(self, scores: bool = False) -> dict[str, Any]:
        """The output record: id, labels, scores (topic -> rounded score) and error if any;
        lone surrogates become U+FFFD (the corpus rule), so any UTF-8 output can hold it."""
        topics = [(scrub_surrogates(t), s) for t, s in self.topics]
        record: dict[str, Any] = {"id": scrub_surrogates(self.id), "labels": [t for t, _ in topics]}
        if scores:
            record["scores"] = {t: round(s, SCORE_DIGITS) for t, s in topics}
        if self.error is not None:
            record["error"] = scrub_surrogates(self.error)
        return record


@dataclass
class TagSummary:
    """What a tagging run did: documents written and records that could not be read."""

    documents: int = 0
    bad_records: int = 0

    def add(self, other: TagSummary) -> None:
        """Add another run's counts (e.g. one Dask partition's)."""
        self.documents += other.documents
        self.bad_records += other.bad_records


def batches(documents: Iterable[Document], size: int) -> Iterator[list[Document]]:
    """Consecutive lists of at most `size` documents."""
    iterator = iter(documents)
    while batch := list(islice(iterator, size)):
        yield batch


def tag_stream(
    classifier: TopicClassifier,
    documents: Iterable[Document],
    write: Callable[[list[Tagged]], None],
    *,
    rule: Rule = DEFAULT_RULE,
    batch_size: int = TAG_BATCH_SIZE,
    source: str = "input",
    jobs: int = 1,
    bad_records: str = "report",
    progress: Progress | None = None,
) -> TagSummary:
    """Tag documents and hand each batch of records to `write`; count what was done
    (`progress` hears of every batch: the total is not known while reading a stream).

    Documents carrying a read error (readers asked to report bad records) are the bad
    records: 'report' writes them with their error and no topic, 'skip' leaves them out,
    'stop' writes the documents before the first one and raises its error.
    """
    bad_records = as_choice(bad_records, BAD_RECORD_POLICIES, "bad_records")
    ignored = ignored_by(classifier.policy_, rule)
    if ignored:
        warnings.warn(ignored, UserWarning, stacklevel=2)
    summary = TagSummary()
    progress = as_progress(progress)
    progress.start("tagging")
    for batch in tag_batches(
        classifier, documents, batch_size=batch_size, rule=rule, source=source, jobs=jobs
    ):
        progress.advance(len(batch))
        kept = []
        for item in batch:
            if item.error is None:
                kept.append(item)
                continue
            summary.bad_records += 1
            if bad_records == "stop":
                write(kept)
                summary.documents += len(kept)
                raise CorpusFormatError(item.error)
            if bad_records == "report":
                kept.append(item)
        write(kept)
        summary.documents += len(kept)
    progress.finish()
    return summary


def tag_batches(
    classifier: TopicClassifier,
    documents: Iterable[Document],
    *,
    batch_size: int = TAG_BATCH_SIZE,
    rule: Rule = DEFAULT_RULE,
    source: str = "input",
    jobs: int = 1,
) -> Iterator[list[Tagged]]:
    """Tag documents lazily, a batch at a time; empty documents get no topic, never dropped.

    With `jobs` > 1 and a model served without TensorFlow, batches are vectorized and scored
    in that many forked worker processes (once a first full batch shows there is work, so a
    single document never pays for a pool), with at most 2 x `jobs` batches in flight so
    memory stays flat; output order is input order. Keras-served models score in this
    process: TensorFlow already spreads its work over the cores, and cannot be forked safely.

    Ids that repeat are tagged like any other document and reported by one
    DuplicateIdWarning when the stream ends, a made-up id (file and line) equal to a
    document's own id included; made-up ids are remembered as runs of lines, so plain-text
    streams stay flat (`DuplicateIds.add_documents`).
    """
    duplicates = DuplicateIds()
    scored = _scored(classifier, batches(documents, batch_size), rule, jobs, batch_size)
    for batch, (topics, errors) in scored:
        duplicates.add_documents(batch)
        tagged = []
        for doc, t, error in zip(batch, topics, errors, strict=True):
            if error is not None:  # a bad record found while tagging: warned as a reader does
                error = f"document {doc.id!r}: {error}"
                warnings.warn(error, BadRecordWarning, stacklevel=2)
            tagged.append(Tagged(doc.id, t, doc.error or error))
        yield tagged
    duplicates.warn(source)


def tag_each(classifier: TopicClassifier, texts: list[str], rule: Rule) -> Scored:
    """The texts' topics, and for each the error that kept it from being tagged (None when
    tagged): a text the token pattern times out on is its own bad record, the others of its
    batch are tagged (found by tagging them one by one; the tokenizer remembers the slow
    text, so it fails at once the second time)."""
    try:
        return classifier.tag(texts, rule, warn=False), [None] * len(texts)
    except SlowTextError as exc:
        if len(texts) == 1:
            return [[]], [str(exc)]
    alone = [tag_each(classifier, [text], rule) for text in texts]
    return [topics[0] for topics, _ in alone], [errors[0] for _, errors in alone]


def _scored(
    classifier: TopicClassifier,
    groups: Iterator[list[Document]],
    rule: Rule,
    jobs: int,
    batch_size: int,
) -> Iterator[tuple[list[Document], Scored]]:
    first = next(groups, None)
    if first is None:
        return
    rest = chain([first], groups)
    # Never more workers than cores: a forked pool starts every worker at once, and more
    # processes than cores only share them (`--jobs 100` forked 100 for three batches).
    jobs = min(jobs, default_jobs())
    # A first batch that is not full is the only one: not worth starting workers for. A full
    # one starts them without waiting for the next batch, so output still flows early.
    if jobs <= 1 or len(first) < batch_size or not classifier.is_tensorflow_free():
        for batch in rest:
            yield batch, tag_each(classifier, [d.text for d in batch], rule)
        return
    yield from _in_worker_processes(classifier, rest, rule, jobs)


# The classifier the forked workers use: set before the pool forks, inherited, never pickled.
_WORKER: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


def _worker_start(parent: int) -> None:
    # The parent decides when workers stop: Ctrl-C and SIGTERM are its to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when its parent dies, however it dies (kill -9 too)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown still applies
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_topics(texts: list[str], rule: Rule) -> Scored:
    return tag_each(_WORKER["classifier"], texts, rule)


def _in_worker_processes(
    classifier: TopicClassifier,
    groups: Iterator[list[Document]],
    rule: Rule,
    jobs: int,
) -> Iterator[tuple[list[Document], Scored]]:
    # Imported here, as the pool is started: a single batch never pays for them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _WORKER["classifier"] = classifier
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
        initargs=(os.getpid(),),
    )
    pending: deque[tuple[list[Document], Future[Scored]]] = deque()
    tagged = 0
    try:
        for batch in groups:
            texts = [d.text for d in batch]
            pending.append((batch, pool.submit(_worker_topics, texts, rule)))
            if len(pending) >= 2 * jobs:
                done, future = pending.popleft()
                yield done, _result(future, tagged)
                tagged += len(done)
        while pending:
            done, future = pending.popleft()
            yield done, _result(future, tagged)
            tagged += len(done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()


def _result(future: Future[Scored], tagged: int) -> Scored:
    """A batch's topics from its worker; a worker killed meanwhile (the out-of-memory killer,
    kill -9) is said in words, not as BrokenProcessPool."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        raise TopicclfError(
            f"a tagging worker process was killed (by a signal: the out-of-memory killer, or "
            f"kill) after {tagged:,} documents were tagged; tag again, with fewer --jobs or a "
            "smaller --batch-size if memory ran out"
        ) from None


def default_jobs() -> int:
    """The cores this process may run on."""
    return available_cores()


def output_format_for(path: str | Path | None, requested: str | None = None) -> str:
    """The tag output format: the one requested, else from the file suffix, else jsonl."""
    if requested:
        return requested
    suffix = Path(path).suffix.lower().lstrip(".") if path else ""
    return suffix if suffix in ("csv", "tsv", "parquet") else "jsonl"


class TagWriter:
    """Writes tagged records as JSON Lines, CSV or TSV to a text handle.

    In CSV/TSV, topics (and their scores) are joined by `LABEL_SEPARATOR`; a model whose
    topics contain it is refused up front (`topics`), since its output could not be read back.
    """

    def __init__(
        self,
        handle: IO[str],
        fmt: str = "jsonl",
        *,
        scores: bool = False,
        topics: Iterable[str] = (),
    ) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}")
        self.handle, self.fmt, self.scores = handle, fmt, scores
        self._csv = None
        if fmt != "jsonl":
            clashing = [t for t in topics if LABEL_SEPARATOR in t]
            if clashing:
                raise OutputError(
                    f"the topic {clashing[0]!r} contains {LABEL_SEPARATOR!r}, which separates "
                    f"topics in {fmt} output; use JSON Lines output (-t jsonl)"
                )
            self._csv = RowWriter(handle, "," if fmt == "csv" else "\t")
            # `error` as in JSON Lines: empty, or why a bad record could not be read.
            header = ["id", "labels", "scores", "error"] if scores else ["id", "labels", "error"]
            self._csv.writerow(header)

    def write(self, item: Tagged) -> None:
        """Write one tagged document."""
        if self._csv is None:
            record = item.to_record(self.scores)
            self.handle.write(jsontext.dumps(record) + "\n")
            return
        record = item.to_record(scores=True)
        row = [record["id"], LABEL_SEPARATOR.join(record["labels"])]
        if self.scores:
            row.append(
                LABEL_SEPARATOR.join(f"{s:.{SCORE_DIGITS}f}" for s in record["scores"].values())
            )
        self._csv.writerow([*row, record.get("error", "")])

    def write_batch(self, items: list[Tagged]) -> None:
        """Write a batch and flush, so output flows as the input is read."""
        for item in items:
            self.write(item)
        self.handle.flush()


def write_parquet(items: Iterable[Tagged], target: Path, *, scores: bool) -> int:
    """Write tagged records as one Parquet file (columns id, labels, scores, error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: dict[str, list[Any]] = {"id": [], "labels": [], "scores": [], "error": []}
    for item in items:
        rows["id"].append(item.id)
        rows["labels"].append([t for t, _ in item.topics])
        rows["scores"].append([round(s, SCORE_DIGITS) for _, s in item.topics])
        rows["error"].append(item.error)
    if not scores:
        del rows["scores"]
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(pa.table(rows), tmp)
    os.replace(tmp, target)
    return len(rows["id"])


def tag_documents(
    classifier: TopicClassifier,
    documents: Iterable[Document],
    handle: IO[str],
    *,
    fmt: str = "jsonl",
    scores: bool = False,
    rule: Rule = DEFAULT_RULE,
    batch_size: int = TAG_BATCH_SIZE,
    jobs: int = 1,
    source: str = "input",
    bad_records: str = "report",
    progress: Progress | None = None,
) -> TagSummary:
    """Tag documents into an open text handle (JSON Lines, CSV or TSV), batch by batch."""
    writer = TagWriter(handle, fmt, scores=scores, topics=classifier.topics_)
    return tag_stream(
        classifier,
        documents,
        writer.write_batch,
        rule=rule,
        batch_size=batch_size,
        source=source,
        jobs=jobs,
        bad_records=bad_records,
        progress=progress,
    )


class LabelsWriter:
    """Writes each document's topics as a `.labels` file beside its `.txt` file (one topic a
    line), the sidecar the txtdir reader reads, so a tagged folder reads back labelled."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written = 0
        # Directories whose stale temporary files were removed: once each, as listing a
        # directory per file made --write-labels quadratic (8,000 files: 49 s; pass 47).
        self.cleaned: set[Path] = set()

    def sidecar(self, doc_id: str) -> Path:
        """Where a document's topics go: ROOT/ID.labels (ids are paths below ROOT)."""
        return self.root / f"{doc_id}.labels"

    def unwritable(self, doc_id: str) -> str | None:
        """Why no `.labels` file can ever hold a document's topics (its name would be
        longer than the file system takes: NAME.txt of 250 bytes), or None."""
        from topicclf.fileio import check_name_length

        try:
            fix = "rename its text file shorter (--write-labels writes its topics there)"
            check_name_length(self.sidecar(doc_id), fix)
        except OutputError as exc:
            return str(exc)
        return None

    def documents(
        self, documents: Iterable[Document], options: CorpusOptions
    ) -> Iterator[Document]:
        """`documents`, where one whose `.labels` file cannot be made is its bad record under
        the `on_error` policy of `options`, so the other documents still get theirs."""
        for doc in documents:
            why = None if doc.error is not None else self.unwritable(doc.id)
            if why is None:
                yield doc
                continue
            bad = bad_record(CorpusFormatError(why), doc.id, options)
            if bad is not None:
                yield bad

    def write_batch(self, items: list[Tagged]) -> None:
        """Write a batch of sidecars, each atomically; records with an error get none."""
        from topicclf.fileio import atomic_write_text, remove_stale

        for item in items:
            if item.error is None:
                target = self.sidecar(item.id)
                text = labels_file_text(item.to_record()["labels"], str(target))
                if target.parent not in self.cleaned:
                    remove_stale(target.parent)
                    self.cleaned.add(target.parent)
                try:
                    atomic_write_text(target, text, clean=False)
                except OSError as exc:  # e.g. made a directory after the outputs were checked
                    raise OutputError(
                        f"{target}: cannot write the topics of {item.id} there "
                        f"({exc.strerror or exc}); {self.written} .labels file(s) were written"
                    ) from None
                self.written += 1
