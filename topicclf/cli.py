"""The `topicclf` command line: each command parses, makes one core call and renders.

Heavy modules (numpy, scikit-learn, TensorFlow) are imported inside the commands that need
them, so `topicclf --help`, `info` and `corpus stats` start fast and never load TensorFlow.
Results go to stdout, progress and diagnostics to stderr; errors map to exit codes in `main`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from topicclf import __version__
from topicclf.errors import BadRecordWarning, DataError, TopicclfError

if TYPE_CHECKING:
    from topicclf.corpus import Corpus, CorpusOptions

EXIT_DOMAIN, EXIT_USAGE, EXIT_GATE, EXIT_INTERRUPTED = 1, 2, 3, 130
_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")
REUTERS_ENV = "TOPICCLF_REUTERS"

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    verbose = False
    quiet = False


state = _State()

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


class Network(StrEnum):
    dense = "dense"
    embedding = "embedding"


class Mode(StrEnum):
    auto = "auto"
    multilabel = "multilabel"
    multiclass = "multiclass"


class TagFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"


class Engine(StrEnum):
    local = "local"
    dask = "dask"


class CorpusFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    fasttext = "fasttext"
    txtdir = "txtdir"
    folders = "folders"
    reuters = "reuters"
    lines = "lines"


# -- options shared by every command that reads a corpus --------------------------------
CORPUS_HELP = (
    "A corpus file or directory (format guessed; see --format), '-' for stdin, or "
    f"reuters:SPLIT to read Reuters-21578 from ${REUTERS_ENV}."
)
PANEL = "Reading the corpus"
FormatOpt = Annotated[
    CorpusFormat | None,
    typer.Option("--format", "-f", help="Corpus format (default: guessed).", rich_help_panel=PANEL),
]
SplitOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        help="Reuters split: all, modapte-train, modapte-test, r8-train, r8-test, r52-train, "
        "r52-test.",
    ),
]
EncodingOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="Text encoding of the corpus files.")
]
EncodingErrorsOpt = Annotated[
    str,
    typer.Option(rich_help_panel=PANEL, help="On undecodable bytes: strict (error) or replace."),
]
TextFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the text.")
]
LabelsFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the labels.")
]
IdFieldOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="JSON field / CSV column holding the id.")
]
SeparatorOpt = Annotated[
    str, typer.Option(rich_help_panel=PANEL, help="Separator of labels in a CSV/TSV column.")
]
CategoriesOpt = Annotated[
    str,
    typer.Option(
        rich_help_panel=PANEL,
        help="Reuters category field: topics, places, people, orgs, exchanges.",
    ),
]


@dataclass(frozen=True)
class Reading:
    """A command's corpus format and reading options, gathered by `@reads_corpus`."""

    fmt: CorpusFormat | None
    options: CorpusOptions

    def open(self, path: str) -> Corpus:
        """Open a corpus path (or reuters:SPLIT) with these options."""
        from topicclf.corpus import open_corpus

        if self.options.encoding_errors not in ("strict", "replace"):
            raise typer.BadParameter("--encoding-errors must be strict or replace")
        fmt, options = self.fmt, self.options
        if path.startswith("reuters:"):
            location = os.environ.get(REUTERS_ENV)
            if not location:
                raise TopicclfError(
                    f"{path}: set {REUTERS_ENV} to the path of reuters21578.tar.gz "
                    "(see corpora/reuters21578/README.md)"
                )
            split = path.partition(":")[2]
            if split and options.split == "all":
                options = dataclasses.replace(options, split=split)
            path, fmt = location, CorpusFormat.reuters
        return open_corpus(path, fmt.value if fmt else None, options)


_READING_OPTIONS = {
    "fmt": FormatOpt,
    "split": SplitOpt,
    "encoding": EncodingOpt,
    "encoding_errors": EncodingErrorsOpt,
    "text_field": TextFieldOpt,
    "labels_field": LabelsFieldOpt,
    "id_field": IdFieldOpt,
    "label_separator": SeparatorOpt,
    "categories": CategoriesOpt,
}


def reads_corpus(*names: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the corpus-reading options `names` (all when none are named).

    Typer builds options from the signature, so the wrapper's signature is the command's
    own, minus its `reading` parameter, plus one keyword parameter per option.
    """
    from topicclf.corpus.base import CorpusOptions

    chosen = names or tuple(_READING_OPTIONS)
    defaults = {f.name: f.default for f in dataclasses.fields(CorpusOptions)} | {"fmt": None}

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "reading"]
        extra = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=defaults[name],
                annotation=_READING_OPTIONS[name],
            )
            for name in chosen
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            fmt = kwargs.pop("fmt", None)
            options = CorpusOptions(**{name: kwargs.pop(name) for name in chosen if name != "fmt"})
            reading = Reading(fmt, options)
            command(*args, reading=reading, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
        return wrapper

    return decorate


# -- progress on stderr --------------------------------------------------------------------
class CliProgress:
    """Renders core progress on stderr: rich bars on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self._bar: Any = None
        self._task: Any = None
        self._name = ""
        self._started = 0.0
        self._done = 0
        self._info: dict[str, float] = {}

    def start(self, task: str, total: int | None = None) -> None:
        """Begin a task."""
        self._name, self._started, self._done, self._info = task, time.perf_counter(), 0, {}
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
            )
            self._bar.start()
            self._task = self._bar.add_task(task, total=total, info="")

    def advance(self, steps: int = 1, **info: float) -> None:
        """Record progress."""
        self._done += steps
        self._info.update(info)
        if self._bar is not None:
            text = " ".join(f"{k} {v:.4f}" for k, v in self._info.items())
            self._bar.update(self._task, advance=steps, info=text)

    def finish(self) -> None:
        """End the task, leaving one line behind."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.enabled:
            figures = "".join(f", {k} {v:.4f}" for k, v in self._info.items())
            seconds = time.perf_counter() - self._started
            self.console.print(f"{self._name}: {self._done} done in {seconds:.1f}s{figures}")


def _progress() -> CliProgress:
    return CliProgress(err, enabled=not state.quiet)


def _read_all(corpus: Corpus, progress: CliProgress) -> list[Any]:
    progress.start(f"reading {Path(corpus.path).name}")
    docs = []
    for doc in corpus:
        docs.append(doc)
        if len(docs) % 500 == 0:
            progress.advance(500)
    progress.advance(len(docs) % 500)
    progress.finish()
    if not docs:
        why = (
            "no document files in the directory"
            if Path(corpus.path).is_dir()
            else "the file is empty or holds only blank lines"
        )
        raise DataError(f"{corpus.path}: no documents found ({why})")
    from topicclf.corpus.ids import warn_duplicate_ids

    warn_duplicate_ids(docs, corpus.path)
    return docs


def _note(message: str) -> None:
    if not state.quiet:
        err.print(message)


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
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing model directory.")
    ] = False,
    *,
    reading: Reading,
) -> None:
    """Train a model on a labelled corpus and save it as a model directory."""
    from topicclf.config import load_config

    overrides = list(set_ or [])
    for key, value in (
        ("network.type", network.value if network else None),
        ("train.mode", mode.value if mode else None),
        ("train.validation_split", validation_split),
        ("train.seed", seed),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(config, overrides)
    source = reading.open(corpus)
    from topicclf.bundle import output_lock

    # Held from the start, so a second training to the same directory refuses at once
    # instead of training for minutes and then racing this one to the rename.
    with output_lock(output):
        if output.exists() and not force:
            raise TopicclfError(f"{output} already exists; choose another path or add --force")
        progress = _progress()
        docs = _read_all(source, progress)
        from topicclf.classifier import TopicClassifier

        started = time.perf_counter()
        clf = TopicClassifier(config=cfg).fit(
            [d.text for d in docs], [d.labels for d in docs], progress=progress
        )
        clf.save(output, overwrite=force, corpus=source.describe())
    seconds = time.perf_counter() - started
    val = clf.validation_report_
    info = clf.training_info_
    out.print(
        f"trained a {cfg.network.type} {clf.mode_} model on {info['documents']} documents "
        f"({len(clf.classes_)} topics) in {seconds:.1f}s"
    )
    out.print(
        f"validation ({val.n_documents} documents): micro-F1 {val.micro.f1:.4f}, "
        f"macro-F1 {val.macro.f1:.4f}"
    )
    out.print(f"model saved to {output}")


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
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    output_format: Annotated[
        TagFormat | None,
        typer.Option("--output-format", "-t", help="jsonl, csv or tsv (default: from -o)."),
    ] = None,
    scores: Annotated[bool, typer.Option("--scores", help="Include the topics' scores.")] = False,
    top_k: Annotated[
        int | None, typer.Option(min=1, help="Return the K best topics (ignores thresholds).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="One threshold for every topic, no fallback."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Documents per batch.")] = 512,
    bad_records: Annotated[
        str,
        typer.Option(
            help="A record that cannot be read: report (an output line with its id and "
            "error), skip (a warning only), or stop. Either way the others are tagged and "
            "the exit status is 1."
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
    ] = Engine.local,
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
            help="Number of partitions (default: 4 per worker).",
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
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an existing --output directory.", rich_help_panel="Dask engine"
        ),
    ] = False,
    *,
    reading: Reading,
) -> None:
    """Tag documents with a model; JSON Lines (or CSV/TSV) on stdout, streamed batch by batch.

    With --engine dask, the inputs (JSON Lines, text files or directories, Parquet) are cut
    into partitions tagged on a Dask cluster, and --output is a directory of parts.
    """
    from itertools import chain

    from topicclf.classifier import TopicClassifier
    from topicclf.fileio import atomic_output
    from topicclf.scoring import TagWriter, default_jobs, tag_batches

    sources = inputs or ["-"]
    if bad_records not in ("report", "skip", "stop"):
        raise typer.BadParameter("choose report, skip or stop", param_hint="--bad-records")
    policy = {"report": "report", "skip": "skip", "stop": "raise"}[bad_records]
    reading = dataclasses.replace(
        reading, options=dataclasses.replace(reading.options, on_error=policy)
    )
    if engine is Engine.dask:
        _tag_on_dask(
            model, sources, output, output_format, scores, top_k, threshold, reading,
            scheduler=scheduler, partitions=partitions, workers=workers, force=force,
        )  # fmt: skip
        return
    if output_format is TagFormat.parquet:
        raise typer.BadParameter("parquet output needs --engine dask", param_hint="-t")
    if sources == ["-"] and sys.stdin.isatty():
        raise typer.BadParameter("give INPUT files, or pipe text in (one document per line)")
    corpora = [reading.open(s) for s in sources]
    _warn_shared_names(sources)
    clf = TopicClassifier.load(model)
    kind = output_format.value if output_format else None
    if kind is None:
        suffix = output.suffix.lower().lstrip(".") if output else ""
        kind = suffix if suffix in ("csv", "tsv") else "jsonl"
    documents = chain.from_iterable(corpora)
    started, count = time.perf_counter(), 0

    def run(handle: Any) -> int:
        writer = TagWriter(handle, kind, scores=scores)
        n = 0
        for batch in tag_batches(
            clf,
            documents,
            batch_size=batch_size,
            threshold=threshold,
            top_k=top_k,
            source=", ".join(sources),
            jobs=jobs or default_jobs(),
        ):
            for item in batch:
                writer.write(item)
            handle.flush()
            n += len(batch)
        return n

    bad = 0

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        nonlocal bad
        bad += issubclass(category, BadRecordWarning)
        _show_warning(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", BadRecordWarning)
        warnings.showwarning = show
        if output is None:
            count = run(sys.stdout)
        else:
            with atomic_output(output, newline="") as handle:
                count = run(handle)
    if count == 0:
        _show_warning(f"no documents in {', '.join(sources)}; nothing to tag", UserWarning, "", 0)
    if state.verbose or output is not None:
        _note(
            f"tagged {count} documents in {time.perf_counter() - started:.1f}s"
            + (f"; written to {output}" if output else "")
        )
    if bad:
        what = {"report": "reported in the output", "skip": "skipped"}[bad_records]
        _note(f"{bad} record(s) could not be read ({what})")
        raise typer.Exit(EXIT_DOMAIN)


def _warn_shared_names(sources: list[str]) -> None:
    """Two inputs named alike (a/x.txt, b/x.txt) number their documents alike (x:1, ...)."""
    from topicclf.corpus.base import display_name

    seen: dict[str, str] = {}
    for source in sources:
        name = display_name(source)
        if name in seen:
            _show_warning(
                f"{seen[name]} and {source} both give documents without an id the ids "
                f"'{name}:LINE'; tag them separately to tell their results apart",
                UserWarning,
                "",
                0,
            )
        seen.setdefault(name, source)


def _tag_on_dask(
    model: Path,
    sources: list[str],
    output: Path | None,
    output_format: TagFormat | None,
    scores: bool,
    top_k: int | None,
    threshold: float | None,
    reading: Reading,
    *,
    scheduler: str | None,
    partitions: int | None,
    workers: int | None,
    force: bool,
) -> None:
    from topicclf.distributed import tag_on_dask

    if output is None:
        raise typer.BadParameter("the dask engine writes a directory: give --output DIR")
    kind = output_format.value if output_format else "jsonl"
    if kind not in ("jsonl", "parquet"):
        raise typer.BadParameter("the dask engine writes jsonl or parquet", param_hint="-t")
    progress = _progress()
    started = time.perf_counter()
    summary = tag_on_dask(
        model,
        sources,
        output,
        scheduler=scheduler,
        partitions=partitions,
        workers=workers,
        output_format=kind,
        options=reading.options,
        threshold=threshold,
        top_k=top_k,
        scores=scores,
        overwrite=force,
        progress=progress,
    )
    _note(
        f"tagged {summary.documents} documents in {summary.partitions} partitions on "
        f"{summary.workers} Dask worker(s) in {time.perf_counter() - started:.1f}s; "
        f"written to {summary.output}/ ({len(summary.parts)} parts)"
    )
    if summary.bad_records:
        what = "skipped" if reading.options.on_error == "skip" else "reported in the output"
        _note(f"{summary.bad_records} record(s) could not be read ({what})")
        raise typer.Exit(EXIT_DOMAIN)


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
    *,
    reading: Reading,
) -> None:
    """Evaluate a model on a labelled corpus: summary and per-topic precision, recall, F1."""
    gates = _parse_gates(fail_under or [])
    for path in output or []:
        if path.suffix.lower() not in (".json", ".csv", ".md", ".html"):
            raise typer.BadParameter(
                f"{path}: use a .json, .csv, .md or .html file", param_hint="--output"
            )
    source = reading.open(corpus)
    from topicclf.classifier import TopicClassifier
    from topicclf.reports import write_report
    from topicclf.reports.terminal import render_evaluation

    clf = TopicClassifier.load(model)
    docs = _read_all(source, _progress())
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
        _note(f"report written to {path}")
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
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output file.")
    ] = False,
    *,
    reading: Reading,
) -> None:
    """Search the main hyperparameters and threshold strategy by cross-validation on CORPUS,
    and write the best configuration as TOML for `train --config`."""
    from topicclf.config import load_config, to_toml
    from topicclf.fileio import atomic_write_text
    from topicclf.optimize import OBJECTIVES, describe, search

    if objective not in OBJECTIVES:
        raise typer.BadParameter(
            f"choose one of: {', '.join(OBJECTIVES)}", param_hint="--objective"
        )
    if output.exists() and not force:
        raise TopicclfError(f"{output} already exists; choose another path or add --force")
    overrides = list(set_ or []) + ([f"network.type={network.value}"] if network else [])
    base = load_config(config, overrides)
    docs = _read_all(reading.open(corpus), _progress())
    result = search(
        [d.text for d in docs],
        [d.labels for d in docs],
        base=base,
        trials=trials,
        folds=folds,
        objective=objective,
        progress=_progress(),
    )
    from rich.table import Table

    table = Table(title=f"{len(result.trials)} trials, {folds}-fold cross-validation, best first")
    for col in ("trial", "micro-F1", "macro-F1", "settings"):
        table.add_column(col, justify="left" if col == "settings" else "right")
    for t in result.trials:
        table.add_row(str(t.number), f"{t.micro_f1:.4f}", f"{t.macro_f1:.4f}", describe(t))
    out.print(table)
    header = (
        f"# topicclf optimize: best of {len(result.trials)} trials by {objective} "
        f"({folds}-fold CV on {corpus}): micro-F1 {result.best.micro_f1:.4f}, "
        f"macro-F1 {result.best.macro_f1:.4f}\n"
    )
    atomic_write_text(output, header + to_toml(result.config))
    out.print(f"best configuration written to {output} (use: topicclf train --config {output})")


@app.command(
    epilog="Example: topicclf serve models/newsbriefs --port 8000      curl -s localhost:8000/tag"
    ' -d \'{"text": "Oil prices rose"}\''
)
def serve(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8000,
    max_body: Annotated[
        int, typer.Option(min=1, help="Largest request body accepted, in bytes.")
    ] = 10 * 1024 * 1024,
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
    _note(
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
        str | None,
        typer.Option(help="Output format: jsonl, csv, tsv or fasttext (default: from OUT)."),
    ] = None,
    *,
    reading: Reading,
) -> None:
    """Convert a corpus between formats (e.g. Reuters SGML to JSON Lines)."""
    from topicclf.corpus import WRITERS, write_corpus
    from topicclf.fileio import atomic_output

    by_suffix = {".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".ft": "fasttext"}
    kind = to or by_suffix.get(Path(target).suffix.lower())
    if kind not in WRITERS:
        raise typer.BadParameter(
            f"cannot tell the output format of {target!r}; give --to ({', '.join(WRITERS)})",
            param_hint="--to",
        )
    source = reading.open(source_path)
    if target == "-":
        count = write_corpus(source, sys.stdout, kind, source.options)
    else:
        with atomic_output(target, newline="") as handle:
            count = write_corpus(source, handle, kind, source.options)
        _note(f"wrote {count} documents to {target} ({kind})")


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
        import json

        out.print_json(json.dumps([dataclasses.asdict(e) for e in explanations]))
        return
    if not explanations:
        out.print("no topic: every score is below its threshold")
    from rich.table import Table

    for e in explanations:
        table = Table(title=f"{e.topic} (score {e.score:.3f})")
        table.add_column("raised by", overflow="fold")
        table.add_column("weight", justify="right")
        table.add_column("lowered by", overflow="fold")
        table.add_column("weight", justify="right")
        for i in range(max(len(e.up), len(e.down))):
            up = e.up[i] if i < len(e.up) else ("", None)
            down = e.down[i] if i < len(e.down) else ("", None)
            table.add_row(
                up[0],
                f"{up[1]:+.4f}" if up[1] is not None else "",
                down[0],
                f"{down[1]:+.4f}" if down[1] is not None else "",
            )
        out.print(table)


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
) -> None:
    """Compare two JSON reports (from evaluate -o X.json): overall and per-topic changes."""
    from topicclf.comparison import compare
    from topicclf.reports.compare import render_comparison, write_comparison

    comparison = compare(a, b, tolerance=tolerance)
    render_comparison(out, comparison)
    for path in output or []:
        write_comparison(comparison, path)
        _note(f"comparison written to {path}")


# -- entry point ---------------------------------------------------------------------------
def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    if state.quiet:
        return
    if not state.verbose and not issubclass(category, UserWarning):
        return  # library deprecation chatter is for developers, not users
    err.print(f"[yellow]warning:[/] {escape(str(message))}")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 domain error, 2 usage, 3 gate not met."""
    args = list(sys.argv[1:] if argv is None else argv)
    # -q/-v are global options, but people type them after the command too; accept both.
    cut = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:cut] if a in _GLOBAL_FLAGS]
    args = flags + [a for a in args[:cut] if a not in _GLOBAL_FLAGS] + args[cut:]
    state.verbose = state.quiet = False
    saved_showwarning = warnings.showwarning
    warnings.showwarning = _show_warning
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
