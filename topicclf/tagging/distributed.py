"""Batch tagging on a Dask cluster (dask.distributed): every worker loads the model once and
tags whole partitions of the input, writing one output part per partition.

Inputs: JSON Lines, fastText or plain-text files (cut into line-aligned byte ranges), text
directories (groups of files) and Parquet files (groups of row groups). Reading is corpus/'s:
the same line splitter, blank-line rule and bad-record policy as plain `topicclf tag`. A
first pass on the cluster counts the lines of each byte range, so documents without an id
get the same `name:line` id as with plain `topicclf tag`, and the driver can check that
every input document came out exactly once. The output directory is written atomically:
parts go to a temporary sibling that is renamed into place when all partitions are done.

Model, inputs and output must be at paths every worker can read (or write): on a real
cluster, a shared file system.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import logging
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topicclf.bundle.layout import MANIFEST
from topicclf.config import (
    BAD_RECORD_POLICIES,
    DASK_PARTITION_MIN_BYTES,
    DASK_PARTITIONS_PER_WORKER,
)
from topicclf.corpus import (
    LINE_FORMATS,
    CorpusOptions,
    count_range,
    detect_format,
    plan_cuts,
    read_range,
    validate_options,
)
from topicclf.corpus.base import (
    check_source,
    cut_message,
    file_kind,
    guarded,
    shared_id_names,
)
from topicclf.corpus.directory import text_file_document, text_files
from topicclf.corpus.ids import EXAMPLES, DuplicateIds, repeated_hashes, stable_hashes
from topicclf.corpus.parquet import (
    INSTALL_HINT,
    open_parquet,
    parquet_files,
    pyarrow_parquet,
    read_row_groups,
)
from topicclf.corpus.sources import REUTERS_PREFIX
from topicclf.errors import (
    BadRecordWarning,
    ConfigError,
    CorpusFormatError,
    MissingResourceError,
    TopicclfError,
)
from topicclf.fileio import atomic_directory, atomic_output, check_replaceable_directory
from topicclf.inputs import (
    as_choice,
    as_count,
    as_flag,
    as_instance,
    as_path,
    as_paths,
    as_progress,
)
from topicclf.model.thresholds import DEFAULT_RULE, Rule, check_rule, ignored_by
from topicclf.tagging import Tagged, TagWriter, default_jobs, tag_stream, write_parquet
from topicclf.types import Document, Progress

OUTPUT_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class Partition:
    """One unit of work: a byte range of a text file, some files, or some Parquet row groups."""

    index: int
    path: str
    kind: str  # a line format (jsonl | fasttext | lines), txtdir or parquet
    start: int = 0  # byte offset, or first row group
    stop: int = 0  # byte offset (exclusive), or row group (exclusive)
    first_line: int = 1  # number of the first line (text) or first row (Parquet), from 1
    files: tuple[str, ...] = ()
    # (size, mtime_ns) of a file when it was cut: a byte range or row group of a file that
    # changed since would be other documents, or none (a range past a shorter file's end).
    stamp: tuple[int, int] | None = None
    # Several Parquet files' row groups read in turn, each a partition of one file: files
    # are grouped as a text directory's are (one partition per file made 3,000 partitions
    # of a dataset of 3,000 small files, whatever --partitions said).
    pieces: tuple[Partition, ...] = ()
    # The input's position among those given: the same file given twice (`a.jsonl
    # ./a.jsonl`) is two inputs, each numbered from line 1 and named as given, as plain
    # `tag` reads it (keyed by path, the second continued the first's line numbers).
    source: int = 0


@dataclass(frozen=True)
class DaskSummary:
    """What a Dask tagging run did."""

    documents: int
    bad_records: int
    partitions: int
    workers: int
    output: Path
    parts: list[str]


def _require_dask() -> Any:
    try:
        import dask.distributed
    except ImportError:
        raise MissingResourceError(
            f"the dask engine needs dask.distributed; {INSTALL_HINT}"
        ) from None
    return dask.distributed


# -- planning --------------------------------------------------------------------------------
def _kind(path: str, given: str | None = None) -> str:
    fmt = given or detect_format(path)
    if fmt not in (*LINE_FORMATS, "txtdir", "parquet"):
        raise CorpusFormatError(_not_read(path, fmt))
    return fmt


def _not_read(path: str, what: str) -> str:
    return (
        f"{path}: the dask engine reads JSON Lines, plain text (one document per line), "
        f"fastText, text directories and Parquet, not {what}; convert it first with "
        "`topicclf corpus convert`"
    )


def plan(
    inputs: list[str],
    partitions: int,
    options: CorpusOptions | None = None,
    fmt: str | None = None,
    *,
    min_bytes: int = DASK_PARTITION_MIN_BYTES,
) -> list[Partition]:
    """Cut the inputs (in format `fmt`, or each its detected one) into about `partitions`
    partitions: at least one per input, and at most one per `min_bytes` of it."""
    if partitions < 1:
        raise TopicclfError(f"--partitions must be at least 1, not {partitions}")
    for path in inputs:
        if path == "-":
            raise CorpusFormatError("-: the dask engine reads files, not stdin")
        mode = check_source(path).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            raise CorpusFormatError(
                f"{path}: {file_kind(mode)}; the dask engine cuts its inputs into "
                "partitions, so each must be a regular file or a directory"
            )
    kinds = [_kind(p, fmt) for p in inputs]
    sizes = [_input_size(p, k) for p, k in zip(inputs, kinds, strict=True)]
    total = sum(sizes)
    out: list[Partition] = []
    for source, (path, kind, size) in enumerate(zip(inputs, kinds, sizes, strict=True)):
        share = partition_share(partitions, size, total, min_bytes)
        if kind == "parquet":
            out.extend(_plan_parquet(path, share, len(out), source))
        elif kind == "txtdir":
            files = [str(f) for f in text_files(Path(path))]
            step = max(1, -(-len(files) // share))
            for i in range(0, len(files), step):
                run = tuple(files[i : i + step])
                out.append(Partition(len(out), path, kind, files=run, source=source))
        else:
            stamp = file_stamp(path)
            cuts = plan_cuts(path, share, options)
            for start, stop in itertools.pairwise(cuts):
                out.append(Partition(len(out), path, kind, start, stop, stamp=stamp, source=source))
    return out


def partition_share(partitions: int, size: int, total: int, min_bytes: int) -> int:
    """How many of `partitions` an input of `size` of the `total` bytes gets: its part of
    them, but never partitions smaller than `min_bytes` (their overhead would exceed their
    work), and at least one."""
    return max(1, min(round(partitions * size / (total or 1)), size // max(1, min_bytes)))


def _input_size(path: str, kind: str) -> int:
    if kind == "parquet":
        return sum(f.stat().st_size for f in parquet_files(path))
    if kind == "txtdir":
        return sum(f.stat().st_size for f in text_files(Path(path), warn=False))
    return os.path.getsize(path)


def _plan_parquet(path: str, share: int, first_index: int, source: int = 0) -> list[Partition]:
    """At most `share` partitions of a Parquet file or dataset directory: a file's row
    groups cut in ranges when there are fewer files than partitions, else whole files
    grouped in runs, in order."""
    pieces = [dataclasses.replace(p, source=source) for p in _parquet_pieces(path, share)]
    step = max(1, -(-len(pieces) // share))  # as `plan` groups a text directory's files
    out: list[Partition] = []
    for i in range(0, len(pieces), step):
        run = pieces[i : i + step]
        index = first_index + len(out)
        if len(run) == 1:
            out.append(dataclasses.replace(run[0], index=index))
        else:
            out.append(Partition(index, path, "parquet", pieces=tuple(run), source=source))
    return out


def _parquet_pieces(path: str, share: int) -> list[Partition]:
    """Each Parquet file's row groups in `share // files` ranges (one range at least)."""
    out: list[Partition] = []
    files = parquet_files(path)
    per_file = max(1, share // len(files)) if files else 1
    for file in files:
        stamp = file_stamp(str(file))
        try:
            with open_parquet(str(file)) as parquet:
                metadata = parquet.metadata
        except CorpusFormatError:
            # Opened again, and refused, on a worker: that file's bad record (as in plain
            # `tag`), while the dataset's other files are tagged.
            out.append(Partition(len(out), str(file), "parquet", 0, 0, 1, (), stamp))
            continue
        groups = metadata.num_row_groups
        step = max(1, -(-groups // per_file))
        first_row = 1
        for g in range(0, groups, step):
            stop = min(groups, g + step)
            out.append(Partition(len(out), str(file), "parquet", g, stop, first_row, (), stamp))
            first_row += sum(metadata.row_group(i).num_rows for i in range(g, stop))
    return out


def count_lines(part: Partition, options: CorpusOptions | None = None) -> tuple[int, int]:
    """(lines, records) of a line-format partition; (0, 0) for other kinds. Runs on a worker."""
    if part.kind not in LINE_FORMATS:
        return 0, 0
    try:
        return count_range(part.path, part.kind, part.start, part.stop, options or CorpusOptions())
    except (CorpusFormatError, OSError):  # gone or unreadable: tag_partition says so
        return 0, 0


# -- on the workers --------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _classifier(model: str, mtime: float) -> Any:
    # One load per worker process and model version: partitions reuse it.
    from topicclf.classifier import TopicClassifier

    return TopicClassifier.load(model)


def file_stamp(path: str) -> tuple[int, int]:
    """(size, modification time in ns) of a file: what tells that it changed."""
    info = os.stat(path)
    return info.st_size, info.st_mtime_ns


def read_partition(
    part: Partition, options: CorpusOptions, failures: list[str] | None = None
) -> Iterator[Document]:
    """The documents of one partition, with the ids plain `topicclf tag` would give them.
    A file that vanished, cannot be read or changed since it was cut is one bad record of
    this partition (as plain `tag` makes a failed source one); the other partitions go on."""
    if part.kind == "txtdir":
        for file in part.files:
            doc = text_file_document(Path(part.path), Path(file), options)
            if doc is not None:
                yield doc
        return
    for piece in part.pieces:  # several Parquet files, each read (and failing) on its own
        yield from read_partition(piece, options, failures)
    if part.pieces:
        return

    def documents(path: str, options: CorpusOptions) -> Iterator[Document]:
        try:
            _check_unchanged(part)
            if part.kind == "parquet":
                yield from read_row_groups(path, part.start, part.stop, part.first_line, options)
            else:
                yield from read_range(
                    path, part.kind, part.start, part.stop, part.first_line, options
                )
        except (CorpusFormatError, OSError) as exc:
            if failures is not None:  # its documents cannot be counted against the plan
                failures.append(str(exc))
            raise

    yield from guarded(part.path, documents, options)


def _check_unchanged(part: Partition) -> None:
    try:
        now = file_stamp(part.path)
    except FileNotFoundError:
        raise CorpusFormatError(
            f"{part.path}: no such file (it was removed after tag --engine dask cut it into "
            "partitions)"
        ) from None
    if part.stamp is not None and now != part.stamp:
        raise CorpusFormatError(
            f"{part.path}: changed after tag --engine dask cut it into partitions "
            f"({part.stamp[0]:,} bytes then, {now[0]:,} now); this partition's documents "
            "are not tagged: tag the file again"
        )


def tag_partition(
    part: Partition,
    *,
    model: str,
    directory: str,
    output_format: str,
    options: CorpusOptions,
    rule: Rule,
    scores: bool,
    bad_records: str,
    names: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Tag one partition and write it as one part file; returns its counts and the messages
    of its bad records, its input named as `names` (each input's absolute path and the name
    the user gave it, by position) names it. Runs on a worker."""
    # Only this partition's own input: a file given twice, spelled two ways, has one
    # absolute path and two names, and each input's records carry its own.
    own = dict(names[part.source : part.source + 1]) if names else {}
    clf = _classifier(model, os.path.getmtime(Path(model) / MANIFEST))
    name = f"part-{part.index:05d}.{output_format}"
    target = Path(directory) / name
    failures: list[str] = []
    documents = read_partition(part, dataclasses.replace(options, on_error="report"), failures)
    ids: list[str] = []  # the ids the documents bring (not made up from line numbers)
    caught: list[warnings.WarningMessage] = []

    def noted(stream: Iterator[Document]) -> Iterator[Document]:
        for doc in stream:
            if not doc.generated_id:
                ids.append(doc.id)
            if doc.error is not None:
                doc = dataclasses.replace(doc, error=_error_as_given(doc.error, caught, own))
            yield doc

    run = functools.partial(
        tag_stream, clf, noted(documents), rule=rule, source=part.path, bad_records=bad_records
    )
    with warnings.catch_warnings(record=True) as log:
        caught = log
        warnings.simplefilter("always", BadRecordWarning)
        if output_format == "parquet":
            items: list[Tagged] = []
            summary = run(items.extend)
            write_parquet(items, target, scores=scores)
        else:
            with atomic_output(target, newline="") as handle:
                summary = run(TagWriter(handle, "jsonl", scores=scores).write_batch)
    messages = [
        as_given(str(w.message), own) for w in caught if issubclass(w.category, BadRecordWarning)
    ]
    return {
        "part": name,
        "index": part.index,
        "documents": summary.documents,
        "bad_records": summary.bad_records,
        "source_failed": bool(failures),
        "messages": messages,
        # Repeated ids are told apart on the client, across every partition.
        "id_hashes": stable_hashes(ids),
    }


def as_given(message: str, names: dict[str, str]) -> str:
    """`message` with the absolute input path it starts with (`names`' keys: what workers
    read, wherever their working directory is) named as the user gave it, as plain `tag`
    names it (`ids.jsonl:1: ...`, `docs/b.txt: ...`), so both engines write the same bytes."""
    for absolute in sorted(names, key=len, reverse=True):  # the innermost input first
        if message.startswith(absolute) and message[len(absolute) : len(absolute) + 1] in (
            ":",
            "/",
        ):
            return names[absolute] + message[len(absolute) :]
    return message


def _error_as_given(
    error: str, caught: list[warnings.WarningMessage], names: dict[str, str]
) -> str:
    """A bad record's `error` (cut to config.BAD_RECORD_CHARS) named as `as_given` names it,
    cut again from the whole message its reader warned with just before, so that a long one
    is cut where plain `tag` cuts it."""
    for warned in reversed(caught):
        whole = str(warned.message)
        if issubclass(warned.category, BadRecordWarning) and cut_message(whole) == error:
            return cut_message(as_given(whole, names))
    return as_given(error, names)


def _input_names(inputs: list[str]) -> list[tuple[str, str]]:
    """Each input's absolute path (what the workers read) and its name as plain `tag` shows
    it, in the order given: a file as given, a directory's files below it as pathlib joins
    them (`td/` is `td`)."""
    return [
        (_absolute(given), str(Path(given)) if Path(given).is_dir() else given) for given in inputs
    ]


def _absolute(path: str) -> str:
    """`path` from the caller's working directory, its links left for the reader to follow:
    resolve() followed them first, so a link to nothing was named by its target
    (`/home/me/moved.jsonl: no such file`) and a link loop was a RuntimeError."""
    return str(Path(path).absolute())


def _plan_as_given(
    inputs: list[str],
    sources: list[str],
    names: list[tuple[str, str]],
    *args: Any,
    **kwargs: Any,
) -> list[Partition]:
    """`plan(sources, ...)`, its errors naming each input as the user gave it (`nope.jsonl:
    no such file`, `empty/: cannot tell the corpus format`), as plain `tag` names them."""
    try:
        return plan(sources, *args, **kwargs)
    except CorpusFormatError as exc:
        message = str(exc)
        pairs = sorted(zip(sources, inputs, strict=True), key=lambda p: len(p[0]), reverse=True)
        for source, given in pairs:  # the input itself, exactly as given (`empty/`, `./x`)
            if message.startswith(source + ":"):
                raise CorpusFormatError(given + message[len(source) :]) from None
        # A path given twice: plan stopped at its first spelling, as plain `tag` does.
        first: dict[str, str] = {}
        for absolute, shown in names:
            first.setdefault(absolute, shown)
        raise CorpusFormatError(as_given(message, first)) from None  # a file below one


# -- the driver ------------------------------------------------------------------------------
def tag_on_dask(
    model: str | Path,
    inputs: list[str],
    output: str | Path,
    *,
    scheduler: str | None = None,
    partitions: int | None = None,
    workers: int | None = None,
    output_format: str = "jsonl",
    options: CorpusOptions | None = None,
    fmt: str | None = None,
    rule: Rule = DEFAULT_RULE,
    scores: bool = False,
    bad_records: str = "report",
    overwrite: bool = False,
    progress: Progress | None = None,
    min_partition_bytes: int = DASK_PARTITION_MIN_BYTES,
) -> DaskSummary:
    """Tag `inputs` on a Dask cluster (a local one unless `scheduler` is given) into `output`,
    in `partitions` parts of at least `min_partition_bytes` of input each."""
    # Every argument is checked before a cluster starts, as the API's other entry points
    # check theirs (a single path was read character by character; overwrite="no" replaced).
    model, output = as_path(model, "model"), as_path(output, "output")
    inputs = as_paths(inputs, "inputs")
    output_format = as_choice(output_format, OUTPUT_FORMATS, "output_format")
    bad_records = as_choice(bad_records, BAD_RECORD_POLICIES, "bad_records")
    scores, overwrite = as_flag(scores, "scores"), as_flag(overwrite, "overwrite")
    partitions = None if partitions is None else as_count(partitions, "partitions")
    workers = None if workers is None else as_count(workers, "workers")
    min_partition_bytes = as_count(min_partition_bytes, "min_partition_bytes")
    rule = check_rule(rule)
    progress = as_progress(progress)
    if scheduler is not None:
        scheduler = as_instance(scheduler, str, "scheduler", "an address such as tcp://host:8786")
    options = as_instance(
        CorpusOptions(on_error="report") if options is None else options,
        CorpusOptions,
        "options",
        "topicclf.corpus.CorpusOptions(...)",
    )
    validate_options(options)  # a bad --encoding fails here, as with the local engine
    for given in inputs:
        if given.startswith(REUTERS_PREFIX):  # a named corpus, no path: said as for a format
            raise CorpusFormatError(_not_read(given, "the Reuters-21578 archive"))
    check_replaceable_directory(Path(output), "parts")  # before a cluster starts
    distributed = _require_dask()
    if scheduler:
        check_scheduler_address(scheduler)
    from topicclf.classifier import TopicClassifier

    loaded = TopicClassifier.load(model)  # fail here, with a clear error, before a cluster
    # Said once the inputs are planned: the local engine says it only once its inputs
    # are open, so a missing input is the one line of both.
    ignored = ignored_by(loaded.policy_, rule)
    model = str(Path(model).resolve())
    sources = [_absolute(p) for p in inputs]
    names = _input_names(inputs)
    parts: list[Partition] = []
    if not scheduler:
        # A local cluster's size is known before it starts: the input is cut first, and no
        # more workers start than there are partitions (each loads its own copy of the model:
        # one line started a worker per core).
        local = _local_workers(workers)
        wanted = partitions or DASK_PARTITIONS_PER_WORKER * local
        parts = _plan_as_given(
            inputs, sources, names, wanted, options, fmt, min_bytes=min_partition_bytes
        )
        workers = min(local, len(parts))
    with _client(distributed, scheduler, workers) as client:
        n_workers = len(client.scheduler_info().get("workers", {})) or 1
        if scheduler:
            wanted = partitions or DASK_PARTITIONS_PER_WORKER * n_workers
            parts = _plan_as_given(
                inputs, sources, names, wanted, options, fmt, min_bytes=min_partition_bytes
            )
        _warn_before_tagging(inputs, ignored)
        counts = client.gather(client.map(count_lines, parts, pure=False, options=options))
        parts, expected = _number_lines(parts, counts)
        with atomic_directory(output, overwrite=overwrite, kind="parts") as tmp:
            futures = client.map(
                tag_partition,
                parts,
                pure=False,
                model=model,
                directory=str(Path(tmp).absolute()),  # workers have their own cwd
                output_format=output_format,
                options=options,
                rule=rule,
                scores=scores,
                bad_records=bad_records,
                names=names,
            )
            results = _gather(distributed, futures, progress)
            _warn_repeated_ids(results, Path(tmp), inputs)
            documents = sum(r["documents"] for r in results)
            bad = sum(r["bad_records"] for r in results)
            _check_counts(parts, counts, results, expected, bad_records == "skip")
    return DaskSummary(
        documents=documents,
        bad_records=bad,
        partitions=len(parts),
        workers=n_workers,
        output=Path(output),
        parts=[r["part"] for r in results],
    )


def _warn_before_tagging(inputs: list[str], ignored: str | None) -> None:
    """What the local engine warns of once its inputs are open (none missing: an error about
    one is the only line, as there): inputs whose documents without an id get the same ids,
    then a rule the model ignores."""
    # As `topicclf tag` warns: without it, `a.jsonl ./a.jsonl` gave every generated id to
    # two documents, unsaid.
    for message in shared_id_names(inputs):
        warnings.warn(message, UserWarning, stacklevel=3)
    if ignored:
        warnings.warn(ignored, UserWarning, stacklevel=3)


def _check_counts(
    parts: list[Partition],
    counts: list[tuple[int, int]],
    results: list[dict[str, Any]],
    expected: int | None,
    skipping: bool,
) -> None:
    """Every document the plan counted came back, but in partitions whose file vanished,
    failed or changed (their bad record says so): nothing was lost unsaid."""
    if expected is None:
        return
    failed = {r["index"] for r in results if r["source_failed"]}
    planned = sum(c[1] for p, c in zip(parts, counts, strict=True) if p.index not in failed)
    tagged = sum(
        r["documents"] + (r["bad_records"] if skipping else 0)
        for r in results
        if r["index"] not in failed
    )
    if tagged != planned:
        raise TopicclfError(
            f"tagged {tagged} documents but the inputs hold {planned}; the output was not written"
        )


def _warn_repeated_ids(results: list[dict[str, Any]], written: Path, inputs: list[str]) -> None:
    """Warn (DuplicateIdWarning) as the local engine does when documents share ids, in
    whichever partitions they are; examples are read back from the parts just written."""
    count, repeated = repeated_hashes([r["id_hashes"] for r in results])
    if not count:
        return
    examples: list[str] = []
    for record in read_output(written):
        doc_id = str(record.get("id"))
        if doc_id not in examples and stable_hashes([doc_id])[0] in repeated:
            examples.append(doc_id)
            if len(examples) == EXAMPLES:
                break
    # Every input as given, as plain `tag` names them (`a.jsonl, ./a.jsonl`, not `a.jsonl,
    # a.jsonl`), so both engines write the same warning.
    DuplicateIds.found(count, examples).warn(", ".join(inputs))


def _gather(distributed: Any, futures: list[Any], progress: Progress) -> list[dict[str, Any]]:
    """Partition results as they finish, in input order, their bad records re-warned here
    in input order too (a partition's once every one before it is done), as plain `tag`
    warns them: by finishing order, the second input's came before the first's."""
    progress.start("tagging partitions", len(futures))
    results: dict[int, dict[str, Any]] = {}
    said = 0  # partitions whose bad records were re-warned
    for future in distributed.as_completed(futures):
        result = future.result()
        results[result["index"]] = result
        while said in results:
            for message in results[said]["messages"]:
                _warn_each_time(message, BadRecordWarning, 3)
            said += 1
        progress.advance(1)
    progress.finish()
    return [results[i] for i in sorted(results)]


def _warn_each_time(message: str, category: type[Warning], stacklevel: int) -> None:
    """The caller's `warnings.warn(message, category, stacklevel=stacklevel)`, but said again
    when the same message comes again: each is a record of the output (a file given twice
    has the same bad records twice, and plain `tag` warns of each), where warn's registry
    says a repeat once under the default filter. The filters still apply ("ignore",
    "error", "once")."""
    frame = sys._getframe(1)
    for _ in range(stacklevel - 1):
        frame = frame.f_back or frame
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=frame.f_globals.get("__name__"),
        registry={},
        module_globals=frame.f_globals,
    )


def _number_lines(
    parts: list[Partition], counts: list[tuple[int, int]]
) -> tuple[list[Partition], int | None]:
    """Give each line-format partition its first line number; the number of documents
    expected (None when some input is not line-based)."""
    numbered: list[Partition] = []
    expected = 0
    next_line: dict[int, int] = {}  # by input, not path: a file given twice is two inputs
    known = True
    for part, (lines, records) in zip(parts, counts, strict=True):
        if part.kind in LINE_FORMATS:
            first = next_line.get(part.source, 1)
            next_line[part.source] = first + lines
            numbered.append(dataclasses.replace(part, first_line=first))
            expected += records
        else:
            numbered.append(part)
            known = False
    return numbered, expected if known else None


def check_scheduler_address(address: str) -> None:
    """Refuse a scheduler address Dask cannot connect to by its form (unknown scheme, no
    host and port), before any work; whether it answers is found when connecting."""
    from distributed.comm import get_address_host_port, parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, _ = parse_address(address)
        get_backend(scheme)
        get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--scheduler {address[:200]!r} is not a Dask scheduler address ({exc}); "
            "expected e.g. tcp://host:8786"
        ) from None


# Above CRITICAL: Dask's own log records never reach the terminal. What matters to the user
# (a task that failed, a scheduler out of reach) comes back as an exception and is said once.
_SILENT = logging.CRITICAL + 1


def quiet_dask_logs() -> None:
    """Keep dask.distributed's log records off this process's stderr (run on each worker
    process of a local cluster, whose stderr is the terminal): a worker that outlives the
    scheduler by a heartbeat at shutdown logged a traceback even after a successful run."""
    for handler in logging.getLogger("distributed").handlers:
        handler.setLevel(_SILENT)
    logging.getLogger("asyncio").setLevel(_SILENT)


def _drop_gather_exits(loop: Any, context: dict[str, Any]) -> None:
    # Client.gather waits in one asyncio task per future; when the client closes early
    # (Ctrl-C, SIGTERM) each ends in AllExit that nobody retrieves, and asyncio logged a
    # traceback for every one: tens of thousands of lines on stderr.
    if type(context.get("exception")).__name__ == "AllExit":
        return
    loop.default_exception_handler(context)


def _local_workers(workers: int | None, warn: bool = True) -> int:
    """The workers of a local cluster: `workers`, or one per core, never more than the cores
    (worker processes beyond them only share the cores, and each costs its memory)."""
    cores = default_jobs()
    if warn and workers and workers > cores:
        warnings.warn(
            f"--workers {workers}: a local cluster on {cores} core(s) starts "
            f"{cores} worker(s); give --scheduler to use a larger cluster",
            UserWarning,
            stacklevel=3,
        )
    return min(workers or cores, cores)


class _client:
    """A Client on the given scheduler, or on a quiet local cluster closed afterwards; Dask's
    log records stay off the terminal while it runs."""

    def __init__(self, distributed: Any, address: str | None, workers: int | None) -> None:
        self.distributed, self.address, self.workers = distributed, address, workers
        self.cluster: Any = None
        self.client: Any = None
        self.levels: list[tuple[logging.Handler, int]] = []

    def __enter__(self) -> Any:
        self._quiet()
        try:
            return self._connect()
        except BaseException:
            self.__exit__()
            raise

    def _connect(self) -> Any:
        if self.address:
            try:
                self.client = self.distributed.Client(self.address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise TopicclfError(
                    f"cannot reach the Dask scheduler at {self.address} ({exc})"
                ) from None
            self._quiet_loop()
            return self.client
        self.cluster = self.distributed.LocalCluster(
            n_workers=_local_workers(self.workers, warn=False),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=_SILENT,
        )
        self.client = self.distributed.Client(self.cluster)
        self._quiet_loop()
        # Our workers write to our terminal; a remote cluster's logs are its operator's.
        self.client.run(quiet_dask_logs)
        return self.client

    def _quiet(self) -> None:
        """Silence this process's Dask log handlers (the scheduler and nannies of a local
        cluster run here) until the client is closed."""
        for handler in logging.getLogger("distributed").handlers:
            self.levels.append((handler, handler.level))
            handler.setLevel(_SILENT)

    def _quiet_loop(self) -> None:
        self.client.loop.asyncio_loop.set_exception_handler(_drop_gather_exits)

    def __exit__(self, *exc: object) -> None:
        try:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            for handler, level in self.levels:
                handler.setLevel(level)
            self.levels.clear()


def read_output(directory: str | Path) -> Iterator[dict[str, Any]]:
    """The records of a Dask output directory, part by part (JSON Lines or Parquet)."""
    for part in sorted(Path(directory).glob("part-*")):
        if part.suffix == ".parquet":
            yield from pyarrow_parquet().read_table(part).to_pylist()
        else:
            with part.open(encoding="utf-8") as handle:
                for line in handle:
                    yield json.loads(line)
