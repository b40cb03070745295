"""The tagging commands: `tag` (local streaming, worker processes, or a Dask cluster, over
`topicclf.tagging`) and `explain` (why a document got its topics, `model.explain`). Each
parses its options, makes one core call and reports; `serve` is in `cli.serve`."""

from __future__ import annotations

import errno
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from topicclf.cli.common import (
    EXIT_DOMAIN,
    BadRecords,
    Engine,
    ForceOpt,
    ModelArg,
    Reading,
    TagFormat,
    app,
    check_output,
    examples,
    make_progress,
    note,
    out,
    print_json,
    progress_bar_only,
    reads_corpus,
    resume_gc,
    shown_on_terminal,
    standard_output,
    state,
    warn,
)
from topicclf.cli.numbers import decimal, integer_option
from topicclf.config import (
    DASK_PARTITION_MIN_BYTES,
    DASK_PARTITIONS_PER_WORKER,
    MAX_BATCH,
    MAX_PARTITIONS,
    MAX_WORKERS,
    TAG_BATCH_SIZE,
)
from topicclf.reports.safe import escape

# Any size, as /tag's top_k and Annif's limit take it: a K past the model's topics is every
# topic (it was refused past 2**31 here alone).
TopKOpt = Annotated[
    int | None,
    integer_option(
        1,
        None,
        help="Return the K best topics (ignores thresholds; more than the model has: all).",
        metavar="K",
    ),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        parser=decimal(0, 1),
        metavar="F",
        help="One threshold for every topic (0 to 1), no fallback.",
    ),
]
BatchSizeOpt = Annotated[int, integer_option(1, MAX_BATCH, help="Documents per batch.")]
BadRecordsOpt = Annotated[
    BadRecords,
    typer.Option(
        help="A record that cannot be read: report (an output line with its id and "
        "error), skip (a warning only), or stop. Either way the exit status is 1."
    ),
]
JobsOpt = Annotated[
    int,
    integer_option(
        0,
        None,
        help="Worker processes for the local engine (0: one per core, and never more than "
        "the cores; used when there is more than one batch, for models served without "
        "TensorFlow).",
    ),
]
DASK = "Dask engine"
EngineOpt = Annotated[
    Engine,
    typer.Option(
        help="local (this process, streaming) or dask (partitions on a Dask cluster, "
        "written as one part each into the --output directory).",
        rich_help_panel=DASK,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        help="Dask scheduler address, e.g. tcp://host:8786 (default: start a local cluster).",
        rich_help_panel=DASK,
    ),
]
PartitionsOpt = Annotated[
    int | None,
    integer_option(
        1,
        MAX_PARTITIONS,
        help=f"Number of partitions (default: {DASK_PARTITIONS_PER_WORKER} per worker); at "
        f"most one per {DASK_PARTITION_MIN_BYTES // 1024} KiB of input, as smaller ones cost "
        "more to schedule than to tag.",
        rich_help_panel=DASK,
    ),
]
WorkersOpt = Annotated[
    int | None,
    integer_option(
        1,
        MAX_WORKERS,
        help="Workers of the local cluster (default: one per core; at most one per partition).",
        rich_help_panel=DASK,
    ),
]
InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[INPUT]...",
        help="Corpora or text files/directories to tag; '-' (default) reads stdin, one "
        "document per line.",
        show_default=False,
    ),
]
TagOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write here instead of stdout (a directory with --engine dask)."
    ),
]
TagFormatOpt = Annotated[
    TagFormat | None,
    typer.Option(
        "--output-format", "-t", help="jsonl, csv, tsv, or parquet (dask; default: from -o)."
    ),
]
WriteLabelsOpt = Annotated[
    bool,
    typer.Option(
        "--write-labels",
        help="For text directories: write each NAME.txt's topics to NAME.labels beside it "
        "(one a line; what the txtdir reader reads), instead of to stdout.",
    ),
]
ScoresOpt = Annotated[bool, typer.Option("--scores", help="Include the topics' scores.")]
NoFallbackOpt = Annotated[
    bool,
    typer.Option(
        "--no-fallback",
        help="Never give a topic below its threshold: off-topic text gets no topic (by "
        "default the model may fall back to its best topic).",
    ),
]


@app.command(
    epilog=examples(
        "topicclf tag models/newsbriefs corpora/newsbriefs/test.jsonl --scores",
        "echo 'Oil prices rose' | topicclf tag models/newsbriefs -",
        "topicclf tag models/newsbriefs docs/ -o tags.csv",
    ),
)
@reads_corpus("fmt", "encoding", "encoding_errors", "text_field", "id_field")
def tag(
    model: ModelArg,
    inputs: InputsArg = None,
    output: TagOutputOpt = None,
    output_format: TagFormatOpt = None,
    scores: ScoresOpt = False,
    top_k: TopKOpt = None,
    threshold: ThresholdOpt = None,
    no_fallback: NoFallbackOpt = False,
    batch_size: BatchSizeOpt = TAG_BATCH_SIZE,
    bad_records: BadRecordsOpt = "report",
    jobs: JobsOpt = 0,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    partitions: PartitionsOpt = None,
    workers: WorkersOpt = None,
    write_labels: WriteLabelsOpt = False,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Tag documents with a model; JSON Lines (or CSV/TSV) on stdout, streamed batch by batch.

    With --engine dask, the inputs (JSON Lines, text files or directories, Parquet) are cut
    into partitions tagged on a Dask cluster, and --output is a directory of parts. With
    --write-labels, each NAME.txt of a text directory gets its topics in NAME.labels.
    """
    from topicclf.model.thresholds import Rule
    from topicclf.tagging import output_format_for

    sources = inputs or ["-"]
    # Tagging never uses a document's topics, and --write-labels replaces them: no topics are
    # read (a text directory's .labels files are not opened, a labels column is not read),
    # so none can cost a document its tags, or the run its memory.
    reading = reading.with_options(labels_files="ignore")
    rule = Rule(threshold, top_k, False if no_fallback else None)
    if write_labels:
        # The topics go beside each text file: an output, a format or scores would be
        # silently ignored.
        ignored = ((output, "--output"), (output_format, "--output-format"), (scores, "--scores"))
        for given, option in ignored:
            if given:
                raise typer.BadParameter(
                    f"{option} does nothing with --write-labels, which writes NAME.labels "
                    "beside each NAME.txt; leave it out, or tag without --write-labels",
                    param_hint=option,
                )
        _write_labels(model, sources, reading, rule, batch_size, force, str(bad_records))
        return
    if output is not None and str(output) == "-":
        output = None  # `-o -`: standard output, as `-` is standard input among the inputs
    _check_format_agrees(output, output_format)
    fmt = output_format_for(output, output_format)
    reading = reading.with_options(on_error="report")  # the policy is applied while tagging
    if output is not None:
        kind = "parts" if engine == "dask" else "file"
        check_output(output, [str(model), *sources], force, kind=kind)
    if engine == "dask":
        _tag_on_dask(
            model, sources, output, fmt, scores, rule, reading, str(bad_records),
            scheduler=scheduler, partitions=partitions, workers=workers, force=force,
        )  # fmt: skip
        return
    if fmt == "parquet":
        raise typer.BadParameter("parquet output needs --engine dask", param_hint="-t")
    if output is None:
        standard_output()  # closed (>&-): said before any work
        from topicclf.fileio import check_standard_output

        check_standard_output(sources)
    if sources == ["-"] and sys.stdin is not None and sys.stdin.isatty():
        raise typer.BadParameter("give INPUT files, or pipe text in (one document per line)")
    from topicclf.tagging import default_jobs

    started = time.perf_counter()
    settings = {
        "fmt": fmt,
        "scores": scores,
        "rule": rule,
        "batch_size": batch_size,
        "jobs": jobs or default_jobs(),
        "source": ", ".join(sources),
        "bad_records": str(bad_records),
    }
    summary = _tag_locally(model, sources, output, reading, settings)
    if summary.documents + summary.bad_records == 0:
        from topicclf.corpus.sources import warn_no_documents

        warn_no_documents(", ".join(sources), "tag")
    if state.verbose or output is not None:
        note(
            f"tagged {summary.documents} documents in {time.perf_counter() - started:.1f}s"
            + (f"; written to {output}" if output else "")
        )
    _exit_on_bad_records(summary.bad_records, str(bad_records))


def _write_labels(
    model: Path,
    sources: list[str],
    reading: Reading,
    rule: Any,
    batch_size: int,
    force: bool,
    bad_records: str,
) -> None:
    """Tag text directories into NAME.labels files beside their NAME.txt files; a file that
    cannot be read gets none, and by --bad-records stops the run or is warned about."""
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.directory import (
        check_labels_file_topics,
        document_path,
        labels_file,
        text_files,
    )
    from topicclf.errors import BadRecordWarning, OutputError
    from topicclf.tagging import LabelsWriter, tag_stream

    corpora = [reading.open(s) for s in sources]
    for corpus in corpora:
        if corpus.format != "txtdir":
            raise typer.BadParameter(
                f"{corpus.path}: --write-labels writes NAME.labels beside each NAME.txt of a "
                f"text directory, and this input is {corpus.format}",
                param_hint="--write-labels",
            )
    # Every .labels file is checked before the first is written, so a refusal never leaves
    # a directory half tagged.
    existing: list[Path] = []
    for corpus in corpora:
        root = Path(corpus.path)
        for text in text_files(root, warn=False):  # the reader warns
            if LabelsWriter(root).unwritable(document_path(root, text)):
                continue  # that document's bad record, as it is tagged: the others are written
            target = labels_file(text)
            if target.is_dir():
                raise OutputError(
                    f"{target} is a directory, where --write-labels would write the topics "
                    f"of {text.name}; move it away, or tag without --write-labels"
                )
            # Special files are refused even with --force; a .labels file beside its .txt
            # is inside the text directory, an input, so only the model counts as one.
            check_output(target, [str(model)], True, kind="file")
            if os.path.lexists(target):
                existing.append(target)
    if existing and not force:
        raise OutputError(
            f"{existing[0]} already exists ({len(existing)} documents have topics); add "
            "--force to replace their .labels files"
        )
    clf = TopicClassifier.load(model)
    # Any topic may be given, so all must fit a .labels file before the first is written.
    check_labels_file_topics(clf.topics_, str(model))
    resume_gc()
    bad = 0
    for corpus in corpora:
        writer = LabelsWriter(Path(corpus.path))
        opened = reading.with_options(on_error="report").open(corpus.path)
        with warnings.catch_warnings():
            # With `stop`, the error names the first bad file; else each is one warning.
            stop = bad_records == "stop"
            warnings.simplefilter("ignore" if stop else "always", BadRecordWarning)
            summary = tag_stream(
                clf,
                writer.documents(opened, opened.options),
                writer.write_batch,
                rule=rule,
                batch_size=batch_size,
                source=corpus.path,
                bad_records=bad_records,
            )
        note(f"wrote {writer.written} .labels files in {corpus.path}")
        bad += summary.bad_records
    # No output holds the bad records' errors: each was a warning, and has no .labels file.
    _exit_on_bad_records(bad, "skip")


def _tag_locally(
    model: Path, sources: list[str], output: Path | None, reading: Reading, settings: Any
) -> Any:
    """Tag every source in this process (and its workers) into stdout or --output."""
    from itertools import chain

    from topicclf.classifier import TopicClassifier
    from topicclf.errors import BadRecordWarning
    from topicclf.fileio import atomic_output
    from topicclf.tagging import tag_documents

    corpora = [reading.open(s) for s in sources]
    _warn_shared_names(sources)
    clf = TopicClassifier.load(model)
    resume_gc()  # start-up is over: what is made from here on is the input's
    documents = chain.from_iterable(corpora)
    with warnings.catch_warnings():
        # One line per bad record; with `stop`, none: the error names the first, and the
        # reader, a batch ahead, would warn of records tagging never reaches.
        stop = settings["bad_records"] == "stop"
        warnings.simplefilter("ignore" if stop else "always", BadRecordWarning)
        # A bar on a terminal, never lines in a log: tagging's output is its records.
        terminal = progress_bar_only()
        if output is None:
            stdout = standard_output()
            shown = terminal if not stdout.isatty() else None  # stdout would cut the bar
            stdout = shown_on_terminal(stdout, settings["fmt"])
            return tag_documents(clf, documents, stdout, progress=shown, **settings)
        with atomic_output(output, newline="") as handle:
            return tag_documents(clf, documents, handle, progress=terminal, **settings)


@app.command(
    epilog=examples(
        'topicclf explain models/newsbriefs "The council cut the museum\'s budget."',
        "topicclf explain models/newsbriefs article.txt --format text --json",
    ),
)
@reads_corpus("fmt", "encoding", "encoding_errors", "text_field", "id_field")
def explain(
    model: ModelArg,
    source: Annotated[
        str,
        typer.Argument(
            metavar="TEXT|INPUT",
            help="A text to explain, or a file, directory or '-' read as `tag` reads it.",
            show_default=False,
        ),
    ],
    top: Annotated[int, integer_option(1, 1000, help="Terms shown per topic and direction.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    *,
    reading: Reading,
) -> None:
    """Show which terms raised (and lowered) each topic a document gets.

    A term's weight is how much the topic's log-odds fall when the term is taken out of the
    document. INPUT is read exactly as `tag` reads it: a plain-text file is one document
    per line; with --format text the whole file is one document.
    """
    from topicclf.classifier import TopicClassifier

    standard_output()  # closed (>&-): said before any work
    # As in `tag`: topics are never used, so none is read (a Parquet column of millions).
    documents = _documents_to_explain(source, reading.with_options(labels_files="ignore"))
    clf = TopicClassifier.load(model)
    explained = [(doc.id, clf.explain(doc.text, top=top)) for doc in documents]
    if as_json:
        import dataclasses

        records = [
            {"id": doc_id, "topics": [dataclasses.asdict(e) for e in explanations]}
            for doc_id, explanations in explained
        ]
        print_json(records)
        return
    from topicclf.reports.console import render_explanations

    for doc_id, explanations in explained:
        if len(explained) > 1:
            out.print(f"[bold]{escape(doc_id)}[/]")
        render_explanations(out, explanations)


def _documents_to_explain(source: str, reading: Reading) -> list[Any]:
    """The documents `explain` works on: TEXT as one, or an input read as `tag` reads it."""
    from topicclf.types import Document

    if not source.strip():
        return [Document("text", source)]  # Path("") would be the working directory
    try:
        named = source == "-" or Path(source).exists()
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # No file can be named so (a word or a sentence of over 255 characters between
        # slashes): it is the text (before: "File name too long").
        return [Document("text", source)]
    if named:
        return list(reading.open(source))
    looks_like_path = not any(c.isspace() for c in source) and (
        "/" in source or Path(source).suffix.lower() in _PATH_SUFFIXES
    )
    if looks_like_path:
        raise typer.BadParameter(
            f"{source}: no such file or directory (to explain it as text, quote a sentence)",
            param_hint="TEXT|INPUT",
        )
    return [Document("text", source)]


# The suffixes that name a tag output format; `output_format_for` reads the same (jsonl by default).
_FORMAT_SUFFIXES = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def _check_format_agrees(output: Path | None, requested: TagFormat | None) -> None:
    """Refuse -t naming another format than the output's suffix: a file named .jsonl holding
    CSV is later read by its suffix, every line a bad record."""
    if output is None or requested is None:
        return
    named = _FORMAT_SUFFIXES.get(output.suffix.lower())
    if named is not None and named != str(requested):
        raise typer.BadParameter(
            f"-t {requested} writes {requested}, but the output {output} is named as a "
            f"{output.suffix} file ({named}); give -t {named}, or leave -t out, or name the "
            f"output .{requested}",
            param_hint="-t",
        )


_PATH_SUFFIXES = (".txt", ".md", ".jsonl", ".ndjson", ".csv", ".tsv", ".ft", ".json", ".html")


def _exit_on_bad_records(count: int, policy: str) -> None:
    """Say how many records could not be read, and exit 1 if any."""
    if count:
        what = {"report": "reported in the output", "skip": "skipped"}.get(policy, "stopped")
        note(f"{count} record(s) could not be read ({what})")
        raise typer.Exit(EXIT_DOMAIN)


def _warn_shared_names(sources: list[str]) -> None:
    """Two inputs named alike (a/x.txt, b/x.txt) number their documents alike (x:1, ...)."""
    from topicclf.corpus.base import shared_id_names

    for message in shared_id_names(sources):
        warn(message)


def _tag_on_dask(
    model: Path,
    sources: list[str],
    output: Path | None,
    fmt: str,
    scores: bool,
    rule: Any,
    reading: Reading,
    bad_records: str,
    *,
    scheduler: str | None,
    partitions: int | None,
    workers: int | None,
    force: bool,
) -> None:
    from topicclf.tagging.distributed import OUTPUT_FORMATS, tag_on_dask

    resume_gc()  # the cluster loads the model
    if output is None:
        raise typer.BadParameter("the dask engine writes a directory: give --output DIR")
    if fmt not in OUTPUT_FORMATS:
        raise typer.BadParameter("the dask engine writes jsonl or parquet", param_hint="-t")
    started = time.perf_counter()
    summary = tag_on_dask(
        model,
        sources,
        output,
        scheduler=scheduler,
        partitions=partitions,
        workers=workers,
        output_format=fmt,
        options=reading.options,
        fmt=str(reading.fmt) if reading.fmt is not None else None,
        rule=rule,
        scores=scores,
        bad_records=bad_records,
        overwrite=force,
        progress=make_progress(),
    )
    note(
        f"tagged {summary.documents} documents in {summary.partitions} partition(s) on "
        f"{summary.workers} Dask worker(s) in {time.perf_counter() - started:.1f}s; "
        f"written to {summary.output}/ ({len(summary.parts)} parts)"
    )
    _exit_on_bad_records(summary.bad_records, bad_records)
