"""The tagging commands: `tag` (local streaming, worker processes, or a Dask cluster) and
`serve` (an HTTP API). Each parses its options, makes one core call and reports."""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from topicclf.cli_util import (
    EXIT_DOMAIN,
    BadRecords,
    Engine,
    ForceOpt,
    ModelArg,
    Reading,
    TagFormat,
    app,
    check_output,
    make_progress,
    note,
    reads_corpus,
    state,
    warn,
)
from topicclf.config import (
    DASK_PARTITIONS_PER_WORKER,
    SERVE_BACKLOG,
    SERVE_HOST,
    SERVE_MAX_BODY,
    SERVE_PORT,
    SERVE_TIMEOUT_BODY,
    SERVE_TIMEOUT_HEADERS,
    SERVE_TIMEOUT_IDLE,
    SERVE_TIMEOUT_SHUTDOWN,
    SERVE_WORKERS,
    TAG_BATCH_SIZE,
)

TopKOpt = Annotated[
    int | None, typer.Option(min=1, help="Return the K best topics (ignores thresholds).")
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(min=0.0, max=1.0, help="One threshold for every topic, no fallback."),
]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Documents per batch.")]
BadRecordsOpt = Annotated[
    BadRecords,
    typer.Option(
        help="A record that cannot be read: report (an output line with its id and "
        "error), skip (a warning only), or stop. Either way the exit status is 1."
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        min=0,
        help="Worker processes for the local engine (0: one per core; used when there "
        "is more than one batch, for models served without TensorFlow).",
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
    typer.Option(
        min=1,
        help=f"Number of partitions (default: {DASK_PARTITIONS_PER_WORKER} per worker).",
        rich_help_panel=DASK,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        min=1, help="Workers of the local cluster (default: one per core).", rich_help_panel=DASK
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
ScoresOpt = Annotated[bool, typer.Option("--scores", help="Include the topics' scores.")]


@app.command(
    epilog="Example: topicclf tag models/newsbriefs corpora/newsbriefs/test.jsonl --scores"
    " | head -3      echo 'Oil prices rose' | topicclf tag models/newsbriefs -",
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
    batch_size: BatchSizeOpt = TAG_BATCH_SIZE,
    bad_records: BadRecordsOpt = "report",
    jobs: JobsOpt = 0,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    partitions: PartitionsOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Tag documents with a model; JSON Lines (or CSV/TSV) on stdout, streamed batch by batch.

    With --engine dask, the inputs (JSON Lines, text files or directories, Parquet) are cut
    into partitions tagged on a Dask cluster, and --output is a directory of parts.
    """
    from topicclf.scoring import output_format_for
    from topicclf.thresholds import Rule

    sources = inputs or ["-"]
    rule = Rule(threshold, top_k)
    fmt = output_format_for(output, output_format)
    reading = reading.with_options(on_error="report")  # the policy is applied while tagging
    if output is not None:
        check_output(output, [str(model), *sources], force)
    if engine == "dask":
        _tag_on_dask(
            model, sources, output, fmt, scores, rule, reading, str(bad_records),
            scheduler=scheduler, partitions=partitions, workers=workers, force=force,
        )  # fmt: skip
        return
    if fmt == "parquet":
        raise typer.BadParameter("parquet output needs --engine dask", param_hint="-t")
    if sources == ["-"] and sys.stdin.isatty():
        raise typer.BadParameter("give INPUT files, or pipe text in (one document per line)")
    from topicclf.scoring import default_jobs

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
        warn(f"no documents in {', '.join(sources)}; nothing to tag")
    if state.verbose or output is not None:
        note(
            f"tagged {summary.documents} documents in {time.perf_counter() - started:.1f}s"
            + (f"; written to {output}" if output else "")
        )
    _exit_on_bad_records(summary.bad_records, str(bad_records))


def _tag_locally(
    model: Path, sources: list[str], output: Path | None, reading: Reading, settings: Any
) -> Any:
    """Tag every source in this process (and its workers) into stdout or --output."""
    from itertools import chain

    from topicclf.classifier import TopicClassifier
    from topicclf.errors import BadRecordWarning
    from topicclf.fileio import atomic_output
    from topicclf.scoring import tag_documents

    corpora = [reading.open(s) for s in sources]
    _warn_shared_names(sources)
    clf = TopicClassifier.load(model)
    documents = chain.from_iterable(corpora)
    with warnings.catch_warnings():
        warnings.simplefilter("always", BadRecordWarning)  # one line per bad record
        if output is None:
            return tag_documents(clf, documents, sys.stdout, **settings)
        with atomic_output(output, newline="") as handle:
            return tag_documents(clf, documents, handle, **settings)


def _exit_on_bad_records(count: int, policy: str) -> None:
    """Say how many records could not be read, and exit 1 if any."""
    if count:
        what = {"report": "reported in the output", "skip": "skipped"}.get(policy, "stopped")
        note(f"{count} record(s) could not be read ({what})")
        raise typer.Exit(EXIT_DOMAIN)


def _warn_shared_names(sources: list[str]) -> None:
    """Two inputs named alike (a/x.txt, b/x.txt) number their documents alike (x:1, ...)."""
    from topicclf.corpus.base import display_name

    seen: dict[str, str] = {}
    for source in sources:
        name = display_name(source)
        if name in seen:
            warn(
                f"{seen[name]} and {source} both give documents without an id the ids "
                f"'{name}:LINE'; tag them separately to tell their results apart"
            )
        seen.setdefault(name, source)


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
    from topicclf.distributed import OUTPUT_FORMATS, tag_on_dask

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
        rule=rule,
        scores=scores,
        bad_records=bad_records,
        overwrite=force,
        progress=make_progress(),
    )
    note(
        f"tagged {summary.documents} documents in {summary.partitions} partitions on "
        f"{summary.workers} Dask worker(s) in {time.perf_counter() - started:.1f}s; "
        f"written to {summary.output}/ ({len(summary.parts)} parts)"
    )
    _exit_on_bad_records(summary.bad_records, bad_records)


SERVE_PANEL = "Limits and timeouts"


def _limit(help: str) -> Any:
    return typer.Option(min=0.01, help=help, rich_help_panel=SERVE_PANEL)


@app.command(
    epilog="Example: topicclf serve models/newsbriefs --port 8000      curl -s localhost:8000/tag"
    ' -d \'{"text": "Oil prices rose"}\'      topicclf serve news=models/a sport=models/b'
    " --workers 2",
)
def serve(
    models: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL_DIR...",
            help="Model directories, each served under its directory's name, or NAME=DIR.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = SERVE_HOST,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (0: any free port).")
    ] = SERVE_PORT,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes, each loading every model.")
    ] = SERVE_WORKERS,
    max_body: Annotated[
        int,
        typer.Option(
            min=1, help="Largest request body accepted, in bytes.", rich_help_panel=SERVE_PANEL
        ),
    ] = SERVE_MAX_BODY,
    backlog: Annotated[
        int,
        typer.Option(
            min=1, help="Connections queued before they are accepted.", rich_help_panel=SERVE_PANEL
        ),
    ] = SERVE_BACKLOG,
    timeout_idle: Annotated[
        float, _limit("Seconds a connection may wait for its next request.")
    ] = SERVE_TIMEOUT_IDLE,
    timeout_headers: Annotated[
        float, _limit("Seconds from a request's first byte to the end of its headers.")
    ] = SERVE_TIMEOUT_HEADERS,
    timeout_body: Annotated[
        float, _limit("Seconds from a request's headers to the end of its body.")
    ] = SERVE_TIMEOUT_BODY,
    timeout_shutdown: Annotated[
        float, _limit("On SIGTERM or Ctrl-C, seconds requests in flight get to finish.")
    ] = SERVE_TIMEOUT_SHUTDOWN,
) -> None:
    """Serve models over HTTP (uvicorn): POST /tag, GET /health and /models, an
    Annif-compatible API under /v1, /openapi.json and a docs page at /docs.

    POST /tag takes {"text": "..."}, {"texts": [...]} or {"documents": [{"id": ..., "text":
    ...}]}, with optional "top_k", "threshold", "fallback", "scores" and "model", and answers
    {"results": [{"id", "labels", "scores"}]}, the records `topicclf tag` writes. Add -v to
    log every request on stderr. SIGTERM or Ctrl-C stops it once requests in flight are done.
    """
    from topicclf.errors import ConfigError
    from topicclf.server import ServeOptions, parse_model_specs
    from topicclf.server import serve as run_server

    try:
        specs = parse_model_specs(models)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="MODEL_DIR") from None
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        backlog=backlog,
        max_body=max_body,
        timeout_idle=timeout_idle,
        timeout_headers=timeout_headers,
        timeout_body=timeout_body,
        timeout_shutdown=timeout_shutdown,
        access_log=state.verbose,
    )
    served = (
        str(specs[0].path) if len(specs) == 1 else ", ".join(f"{s.path} as {s.name}" for s in specs)
    )

    def announce(bound_host: str, bound_port: int) -> None:
        note(
            f"serving {served} on http://{bound_host}:{bound_port} (POST /tag, GET /health, "
            f"/v1 for Annif clients, /docs); {workers} process(es); Ctrl-C to stop"
        )

    run_server(specs, options, announce)
