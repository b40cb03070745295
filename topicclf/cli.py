"""The `topicclf` command line: each command parses, makes one core call and renders.

Heavy modules (numpy, scikit-learn, TensorFlow) are imported inside the commands that need
them, so `topicclf --help`, `info` and `corpus stats` start fast and never load TensorFlow.
Results go to stdout, progress and diagnostics to stderr; errors map to exit codes in `run`.
Shared options, progress and output checks are in `cli_util`.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from topicclf import __version__
from topicclf.cli_util import (
    CORPUS_HELP,
    EXIT_DOMAIN,
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    BadRecords,
    Engine,
    ForceOpt,
    Mode,
    Network,
    Reading,
    TagFormat,
    WriteFormat,
    check_output,
    err,
    make_progress,
    note,
    out,
    reads_corpus,
    show_warning,
    state,
    warn,
)
from topicclf.config import (
    DASK_PARTITIONS_PER_WORKER,
    SERVE_HOST,
    SERVE_MAX_BODY,
    SERVE_PORT,
    TAG_BATCH_SIZE,
)
from topicclf.errors import TopicclfError

_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")

app = typer.Typer(
    name="topicclf",
    help="Learn to tag documents with topics, tag collections and report how well it works.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
corpus_app = typer.Typer(
    help="Inspect and convert corpora.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
app.add_typer(corpus_app, name="corpus")
report_app = typer.Typer(
    help="Work with saved evaluation reports.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


# -- global options ------------------------------------------------------------------------
def _version(value: bool) -> None:
    if value:
        out.print(f"topicclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Say more on stderr.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")
    ] = False,
) -> None:
    """Learn to tag documents with topics, tag collections and report how well it works."""
    state.verbose, state.quiet = verbose, quiet


# -- commands ------------------------------------------------------------------------------
@app.command(
    epilog="Example: topicclf train corpora/newsbriefs/train.jsonl -o models/newsbriefs",
)
@reads_corpus()
def train(
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Model directory to write.", show_default=False)
    ],
    network: Annotated[
        Network | None, typer.Option(help="Network type (default: dense, or from --config).")
    ] = None,
    mode: Annotated[
        Mode | None, typer.Option(help="multilabel, multiclass, or auto (detect from data).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML configuration file.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override one setting: section.key=value (repeatable)."),
    ] = None,
    validation_split: Annotated[
        float | None, typer.Option(help="Share of training data held out to tune thresholds.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same model).")] = None,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Train a model on a labelled corpus and save it as a model directory."""
    from topicclf.config import load_config

    overrides = list(set_ or [])
    for key, value in (
        ("network.type", network),
        ("train.mode", mode),
        ("train.validation_split", validation_split),
        ("train.seed", seed),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(config, overrides)
    source = reading.open(corpus)
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.sources import read_all
    from topicclf.fileio import output_lock
    from topicclf.reports.console import render_training

    # Held from the start, so a second training to the same directory refuses at once
    # instead of training for minutes and then racing this one to the rename.
    with output_lock(output):
        check_output(output, [corpus], force)
        progress = make_progress()
        docs = read_all(source, progress)
        started = time.perf_counter()
        clf = TopicClassifier(config=cfg).fit(
            [d.text for d in docs], [d.labels for d in docs], progress=progress
        )
        clf.save(output, overwrite=force, corpus=source.describe())
    render_training(out, clf, cfg.network.type, time.perf_counter() - started, output)


@app.command(
    epilog="Example: topicclf tag models/newsbriefs corpora/newsbriefs/test.jsonl --scores"
    " | head -3      echo 'Oil prices rose' | topicclf tag models/newsbriefs -",
)
@reads_corpus("fmt", "encoding", "encoding_errors", "text_field", "id_field")
def tag(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[INPUT]...",
            help="Corpora or text files/directories to tag; '-' (default) reads stdin, one "
            "document per line.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here instead of stdout (a directory with --engine dask)."
        ),
    ] = None,
    output_format: Annotated[
        TagFormat | None,
        typer.Option(
            "--output-format", "-t", help="jsonl, csv, tsv, or parquet (dask; default: from -o)."
        ),
    ] = None,
    scores: Annotated[bool, typer.Option("--scores", help="Include the topics' scores.")] = False,
    top_k: Annotated[
        int | None, typer.Option(min=1, help="Return the K best topics (ignores thresholds).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="One threshold for every topic, no fallback."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per batch.")] = TAG_BATCH_SIZE,
    bad_records: Annotated[
        BadRecords,
        typer.Option(
            help="A record that cannot be read: report (an output line with its id and "
            "error), skip (a warning only), or stop. Either way the exit status is 1."
        ),
    ] = "report",
    jobs: Annotated[
        int,
        typer.Option(
            min=0,
            help="Worker processes for the local engine (0: one per core; used when there "
            "is more than one batch, for models served without TensorFlow).",
        ),
    ] = 0,
    engine: Annotated[
        Engine,
        typer.Option(
            help="local (this process, streaming) or dask (partitions on a Dask cluster, "
            "written as one part each into the --output directory).",
            rich_help_panel="Dask engine",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address, e.g. tcp://host:8786 (default: start a local cluster).",
            rich_help_panel="Dask engine",
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Number of partitions (default: {DASK_PARTITIONS_PER_WORKER} per worker).",
            rich_help_panel="Dask engine",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Workers of the local cluster (default: one per core).",
            rich_help_panel="Dask engine",
        ),
    ] = None,
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
    from itertools import chain

    from topicclf.classifier import TopicClassifier
    from topicclf.fileio import atomic_output
    from topicclf.scoring import default_jobs, tag_documents

    corpora = [reading.open(s) for s in sources]
    _warn_shared_names(sources)
    clf = TopicClassifier.load(model)
    started = time.perf_counter()

    def run(handle: Any) -> Any:
        return tag_documents(
            clf,
            chain.from_iterable(corpora),
            handle,
            fmt=fmt,
            scores=scores,
            rule=rule,
            batch_size=batch_size,
            jobs=jobs or default_jobs(),
            source=", ".join(sources),
            bad_records=str(bad_records),
        )

    from topicclf.errors import BadRecordWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", BadRecordWarning)  # one line per bad record
        if output is None:
            summary = run(sys.stdout)
        else:
            with atomic_output(output, newline="") as handle:
                summary = run(handle)
    if summary.documents + summary.bad_records == 0:
        warn(f"no documents in {', '.join(sources)}; nothing to tag")
    if state.verbose or output is not None:
        note(
            f"tagged {summary.documents} documents in {time.perf_counter() - started:.1f}s"
            + (f"; written to {output}" if output else "")
        )
    _exit_on_bad_records(summary.bad_records, str(bad_records))


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


def _parse_gates(gates: list[str]) -> list[tuple[str, float]]:
    from topicclf.metrics import METRIC_NAMES

    parsed = []
    for gate in gates:
        name, sep, value = gate.partition("=")
        name = name.strip()
        try:
            threshold = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(
                f"{gate!r}: expected METRIC=VALUE, e.g. micro_f1=0.8", param_hint="--fail-under"
            )
        if name not in METRIC_NAMES:
            raise typer.BadParameter(
                f"unknown metric {name!r}; choose one of: {', '.join(METRIC_NAMES)}",
                param_hint="--fail-under",
            )
        parsed.append((name, threshold))
    return parsed


@app.command(
    epilog="Example: topicclf evaluate models/newsbriefs corpora/newsbriefs/test.jsonl "
    "-o report.md --fail-under micro_f1=0.6",
)
@reads_corpus()
def evaluate(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output", "-o", help="Also write the report: .json, .csv, .md or .html (repeatable)."
        ),
    ] = None,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            help="Exit 3 when METRIC is worse than VALUE, e.g. micro_f1=0.8 (repeatable)."
        ),
    ] = None,
    max_topics: Annotated[int, typer.Option(min=1, help="Topics shown on the terminal.")] = 40,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Evaluate a model on a labelled corpus: summary and per-topic precision, recall, F1."""
    from topicclf.reports import FILE_FORMATS

    gates = _parse_gates(fail_under or [])
    for path in output or []:
        if path.suffix.lower() not in FILE_FORMATS:
            raise typer.BadParameter(
                f"{path}: use a {', '.join(FILE_FORMATS)} file", param_hint="--output"
            )
        check_output(path, [str(model), corpus], force)
    source = reading.open(corpus)
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.sources import read_all
    from topicclf.reports import write_report
    from topicclf.reports.terminal import render_evaluation

    clf = TopicClassifier.load(model)
    docs = read_all(source, make_progress())
    wants_html = any(p.suffix.lower() == ".html" for p in output or [])
    report = clf.evaluate(docs, explain_examples=wants_html)
    render_evaluation(out, report, max_topics=max_topics)
    context = {
        "model": {
            "path": str(model),
            "threshold_curve": clf.training_info_.get("threshold_curve"),
            "global_threshold": clf.policy_.global_threshold,
        },
        "corpus": source.describe(),
    }
    for path in output or []:
        write_report(report, path, context)
        note(f"report written to {path}")
    from topicclf.metrics import LOWER_IS_BETTER, summary_metrics

    figures = summary_metrics(report)
    failed = []
    for name, value in gates:
        if name in LOWER_IS_BETTER and figures[name] > value:
            failed.append(f"{name} {figures[name]:.4f} > {value}")
        elif name not in LOWER_IS_BETTER and figures[name] < value:
            failed.append(f"{name} {figures[name]:.4f} < {value}")
    if failed:
        err.print("[red]gate not met:[/] " + "; ".join(failed))
        raise typer.Exit(EXIT_GATE)


@app.command(
    epilog="Example: topicclf optimize corpora/newsbriefs/train.jsonl -o best.toml --trials 6",
)
@reads_corpus()
def optimize(
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="TOML file for the best configuration.")
    ],
    trials: Annotated[int, typer.Option(min=1, help="Configurations to try.")] = 8,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds per trial.")] = 3,
    objective: Annotated[
        str,
        typer.Option(help="What to maximize: mean_f1 (of micro and macro), micro_f1, macro_f1."),
    ] = "mean_f1",
    network: Annotated[
        Network | None, typer.Option(help="Network type to tune (default: from the config).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Base TOML configuration.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a base setting: section.key=value."),
    ] = None,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Search the main hyperparameters and threshold strategy by cross-validation on CORPUS,
    and write the best configuration as TOML for `train --config`."""
    from topicclf.config import load_config
    from topicclf.fileio import atomic_write_text
    from topicclf.optimize import OBJECTIVES, best_config_toml, search

    if objective not in OBJECTIVES:
        raise typer.BadParameter(
            f"choose one of: {', '.join(OBJECTIVES)}", param_hint="--objective"
        )
    check_output(output, [corpus], force)
    overrides = list(set_ or []) + ([f"network.type={network}"] if network else [])
    base = load_config(config, overrides)
    from topicclf.corpus.sources import read_all
    from topicclf.reports.console import render_trials

    docs = read_all(reading.open(corpus), make_progress())
    result = search(
        [d.text for d in docs],
        [d.labels for d in docs],
        base=base,
        trials=trials,
        folds=folds,
        objective=objective,
        progress=make_progress(),
    )
    render_trials(out, result, folds)
    atomic_write_text(output, best_config_toml(result, folds, corpus))
    out.print(f"best configuration written to {output} (use: topicclf train --config {output})")


@app.command(
    epilog="Example: topicclf serve models/newsbriefs --port 8000      curl -s localhost:8000/tag"
    ' -d \'{"text": "Oil prices rose"}\''
)
def serve(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = SERVE_HOST,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (0: any free port).")
    ] = SERVE_PORT,
    max_body: Annotated[
        int, typer.Option(min=1, help="Largest request body accepted, in bytes.")
    ] = SERVE_MAX_BODY,
) -> None:
    """Serve a model over HTTP: POST /tag with JSON documents, GET /health.

    POST /tag takes {"text": "..."}, {"texts": [...]} or {"documents": [{"id": ..., "text":
    ...}]}, with optional "top_k", "threshold" and "scores", and answers {"results": [{"id",
    "labels", "scores"}]}. Add -v to log every request on stderr. Ctrl-C stops it.
    """
    from topicclf.server import make_server

    try:
        server = make_server(model, host, port, max_body=max_body, log=state.verbose)
    except OSError as exc:
        raise TopicclfError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound_host, bound_port = server.server_address[:2]
    if isinstance(bound_host, bytes):
        bound_host = bound_host.decode()
    note(
        f"serving {model} on http://{bound_host}:{bound_port} (POST /tag, GET /health); "
        "Ctrl-C to stop"
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()


@app.command(epilog="Example: topicclf info models/newsbriefs")
def info(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Describe a model: topics, network, features, training, validation figures, versions."""
    from topicclf.bundle import describe

    details = describe(model)
    if as_json:
        import json

        out.print_json(json.dumps(details, default=str))
    else:
        from topicclf.reports.terminal import render_info

        render_info(out, details)


@corpus_app.command(epilog="Example: topicclf corpus stats corpora/newsbriefs/train.jsonl")
@reads_corpus()
def stats(
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    top: Annotated[int, typer.Option(min=1, help="Topics listed in the frequency table.")] = 20,
    *,
    reading: Reading,
) -> None:
    """Corpus statistics: documents, topics, topics per document, frequencies, lengths."""
    from topicclf.corpus.stats import corpus_stats

    source = reading.open(corpus)
    figures = corpus_stats(source)
    if as_json:
        import json

        out.print_json(json.dumps(figures.to_dict()))
    else:
        from topicclf.reports.terminal import render_stats

        render_stats(out, figures, top=top)


@corpus_app.command(
    epilog="Example: TOPICCLF_REUTERS=reuters21578.tar.gz topicclf corpus convert "
    "reuters:modapte-test reuters-test.jsonl",
)
@reads_corpus()
def convert(
    source_path: Annotated[str, typer.Argument(metavar="IN", help=CORPUS_HELP, show_default=False)],
    target: Annotated[
        str,
        typer.Argument(metavar="OUT", help="File to write, or '-' (stdout).", show_default=False),
    ],
    to: Annotated[
        WriteFormat | None,
        typer.Option(help="Output format (default: from OUT's suffix)."),
    ] = None,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Convert a corpus between formats (e.g. Reuters SGML to JSON Lines)."""
    from topicclf.corpus import WRITERS, format_for_suffix, write_corpus
    from topicclf.fileio import atomic_output

    kind = str(to) if to else format_for_suffix(target)
    if kind not in WRITERS:
        raise typer.BadParameter(
            f"cannot tell the output format of {target!r}; give --to ({', '.join(WRITERS)})",
            param_hint="--to",
        )
    if target != "-":
        check_output(target, [source_path], force)
    source = reading.open(source_path)
    if target == "-":
        count = write_corpus(source, sys.stdout, kind, source.options)
    else:
        with atomic_output(target, newline="") as handle:
            count = write_corpus(source, handle, kind, source.options)
        note(f"wrote {count} documents to {target} ({kind})")


@app.command(
    epilog='Example: topicclf explain models/newsbriefs "The council cut the museum\'s budget."',
)
def explain(
    model: Annotated[Path, typer.Argument(metavar="MODEL", help="Model directory.")],
    text: Annotated[
        str, typer.Argument(metavar="TEXT|FILE", help="A text, or a file whose content is one.")
    ],
    top: Annotated[int, typer.Option(min=1, help="Terms shown per topic and direction.")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Show which terms pushed each predicted topic's score up (and down)."""
    from topicclf.classifier import TopicClassifier

    source = Path(text)
    if len(text) < 4096 and source.is_file():
        text = source.read_text(encoding="utf-8")
    clf = TopicClassifier.load(model)
    explanations = clf.explain(text, top=top)
    if as_json:
        import dataclasses
        import json

        out.print_json(json.dumps([dataclasses.asdict(e) for e in explanations]))
        return
    from topicclf.reports.console import render_explanations

    render_explanations(out, explanations)


@report_app.command(
    "compare", epilog="Example: topicclf report compare old.json new.json -o diff.md"
)
def compare_reports(
    a: Annotated[Path, typer.Argument(metavar="A.json", help="The baseline report.")],
    b: Annotated[Path, typer.Argument(metavar="B.json", help="The report compared with it.")],
    output: Annotated[
        list[Path] | None,
        typer.Option("--output", "-o", help="Also write: .json, .csv, .md or .html (repeatable)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="F1 changes up to this count as unchanged.")
    ] = 0.005,
    force: ForceOpt = False,
) -> None:
    """Compare two JSON reports (from evaluate -o X.json): overall and per-topic changes."""
    from topicclf.comparison import compare
    from topicclf.reports.compare import render_comparison, write_comparison

    for path in output or []:
        check_output(path, [str(a), str(b)], force)
    comparison = compare(a, b, tolerance=tolerance)
    render_comparison(out, comparison)
    for path in output or []:
        write_comparison(comparison, path)
        note(f"comparison written to {path}")


# -- entry point ---------------------------------------------------------------------------
def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 domain error, 2 usage, 3 gate not met."""
    args = list(sys.argv[1:] if argv is None else argv)
    # -q/-v are global options, but people type them after the command too; accept both.
    cut = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:cut] if a in _GLOBAL_FLAGS]
    args = flags + [a for a in args[:cut] if a not in _GLOBAL_FLAGS] + args[cut:]
    state.verbose = state.quiet = False
    saved_showwarning = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        result = app(args=args, prog_name="topicclf", standalone_mode=False)
        if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C (and our SIGTERM) into exit 130
            err.print("interrupted")
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[red]error:[/] {escape(str(exc))}")
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except TopicclfError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_DOMAIN
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_DOMAIN
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[red]error:[/] {escape((exc.strerror or str(exc)) + where)}")
        return EXIT_DOMAIN
    except Exception as exc:  # the last line of defence: a bug, said plainly
        if state.verbose:
            err.print(escape(traceback.format_exc()))
        summary = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        err.print(
            f"[red]error:[/] internal error: {escape(summary)}; please report it "
            "(run with -v for the traceback)"
        )
        return EXIT_DOMAIN
    finally:
        warnings.showwarning = saved_showwarning


def _terminated(signum: int, frame: Any) -> None:
    # Unwind like Ctrl-C, so atomic writes remove their temporary files and directories.
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    sys.exit(run())
