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

from topicclf.cli_util import (
    CORPUS_HELP,
    EXIT_BROKEN_PIPE,
    EXIT_DOMAIN,
    EXIT_GATE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ForceOpt,
    Mode,
    Network,
    Reading,
    app,
    check_output,
    err,
    examples,
    make_progress,
    note,
    out,
    reads_corpus,
    show_warning,
    shown_path,
    state,
    stop_progress,
    warn,
)
from topicclf.errors import TopicclfError

_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


# -- commands ------------------------------------------------------------------------------
@app.command(
    epilog=examples(
        "topicclf train corpora/newsbriefs/train.jsonl -o models/newsbriefs",
        "topicclf train reuters:modapte-train -o models/reuters --set train.epochs=20",
    ),
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
    vocabulary: Annotated[
        Path | None,
        typer.Option(
            help="Annif TSV vocabulary (a subject URI in angle brackets, a tab, its label, per "
            "line) giving the topics the "
            "URIs and labels that `serve` answers with; topics match by URI or label."
        ),
    ] = None,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Train a model on a labelled corpus and save it as a model directory."""
    from topicclf.config import load_config
    from topicclf.vocabulary import read_vocabulary

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
    subjects = read_vocabulary(vocabulary) if vocabulary is not None else None
    source = reading.open(corpus)
    if source.format == "reuters" and source.options.split == "all":
        warn(
            "training on every Reuters-21578 document, the test documents included; give "
            "a split (reuters:modapte-train, or --split modapte-train) to keep a test set"
        )
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.sources import read_all
    from topicclf.fileio import output_lock
    from topicclf.reports.console import render_training

    # Held from the start, so a second training to the same directory refuses at once
    # instead of training for minutes and then racing this one to the rename.
    with output_lock(output):
        given = [str(p) for p in (config, vocabulary) if p is not None]
        check_output(output, [corpus, *given], force, kind="directory")
        progress = make_progress()
        docs = read_all(source, progress)
        started = time.perf_counter()
        clf = TopicClassifier(config=cfg).fit(
            [d.text for d in docs], [d.labels for d in docs], progress=progress
        )
        if subjects is not None:
            _attach_vocabulary(clf, subjects, str(vocabulary))
        clf.save(output, overwrite=force, corpus=source.describe())
    render_training(out, clf, cfg.network.type, time.perf_counter() - started, output)


def _attach_vocabulary(clf: Any, subjects: list[Any], source: str) -> None:
    from topicclf.config import TOPIC_URI_BASE
    from topicclf.vocabulary import Vocabulary

    clf.vocabulary_, unmatched = Vocabulary.match(subjects, clf.classes_)
    if unmatched:
        warn(
            f"{len(unmatched)} of {len(clf.classes_)} topics are not in {source}; they are "
            f"served as {TOPIC_URI_BASE}<topic>: " + ", ".join(unmatched[:10])
        )


# `tag`, `explain` and `serve` come right after `train` in the help.
from topicclf import cli_tag  # noqa: E402, F401


def _parse_gates(gates: list[str]) -> list[tuple[str, float]]:
    from topicclf.errors import ConfigError
    from topicclf.metrics import parse_gate

    try:
        return [parse_gate(gate) for gate in gates]
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fail-under") from None


@app.command(
    epilog=examples(
        "topicclf evaluate models/newsbriefs corpora/newsbriefs/test.jsonl -o report.html",
        "topicclf evaluate models/newsbriefs test.jsonl --fail-under micro_f1=0.6",
    ),
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
            "--output",
            "-o",
            metavar="FILE",
            help="Also write the report: .json, .csv, .md or .html (repeatable).",
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
            "path": shown_path(model),
            "network": clf.config_.network.type,
            "mode": clf.mode_,
            "topics": len(clf.classes_),
            "threshold_curve": clf.training_info_.get("threshold_curve"),
            "global_threshold": clf.policy_.global_threshold,
        },
        "corpus": {**source.describe(), "path": shown_path(source.path)},
    }
    for path in output or []:
        write_report(report, path, context)
        note(f"report written to {path}")
    from topicclf.metrics import check_gates

    failed = check_gates(report, gates)
    if failed:
        err.print("[red]gate not met:[/] " + "; ".join(failed))
        raise typer.Exit(EXIT_GATE)


@app.command(
    epilog=examples(
        "topicclf optimize corpora/newsbriefs/train.jsonl -o best.toml --trials 6",
        "topicclf train corpora/newsbriefs/train.jsonl --config best.toml -o models/best",
    ),
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
    search_set: Annotated[
        list[str] | None,
        typer.Option(
            "--search-set",
            help="A setting for the search only, e.g. train.epochs=10 to try faster; not "
            "written to the output (repeatable).",
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Seconds after which no new trial starts (the running one finishes).",
        ),
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
    check_output(output, [corpus, *([str(config)] if config else [])], force)
    overrides = list(set_ or []) + ([f"network.type={network}"] if network else [])
    base = load_config(config, overrides)
    from topicclf.corpus.sources import read_all
    from topicclf.reports.console import render_trials

    docs = read_all(reading.open(corpus), make_progress())
    result = search(
        [d.text for d in docs],
        [d.labels for d in docs],
        base=base.with_overrides(list(search_set or [])),
        trials=trials,
        folds=folds,
        objective=objective,
        time_budget=time_budget,
        progress=make_progress(),
    )
    render_trials(out, result, folds)
    atomic_write_text(output, best_config_toml(result, folds, corpus, base))
    out.print(f"best configuration written to {output} (use: topicclf train --config {output})")


@app.command(epilog=examples("topicclf info models/newsbriefs"))
def info(
    model: Annotated[
        Path, typer.Argument(metavar="MODEL", help="Model directory.", show_default=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Instead, check every file's size and SHA-256 against the manifest "
            "(exit 1 on a mismatch).",
        ),
    ] = False,
) -> None:
    """Describe a model: topics, network, features, training, validation figures, versions."""
    if verify:
        _verify(model, as_json)
        return
    from topicclf.modelinfo import describe

    details = describe(model)
    if as_json:
        import json

        out.print_json(json.dumps(details, default=str))
    else:
        from topicclf.reports.terminal import render_info

        render_info(out, details)


def _verify(model: Path, as_json: bool) -> None:
    from topicclf.errors import ModelBundleError
    from topicclf.modeldir import verify_files

    report = verify_files(model)
    if as_json:
        import json

        out.print_json(json.dumps(report))
    else:
        from topicclf.reports.terminal import render_verification

        render_verification(out, report)
    if report["mismatched"]:
        names = ", ".join(report["mismatched"])
        raise ModelBundleError(f"{model}: files that do not match the manifest: {names}")


# The other commands register themselves on the same app when their modules are imported.
from topicclf import cli_corpus, cli_model, cli_serve  # noqa: E402, F401


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
            stop_progress()
            err.print("interrupted")
        return result if isinstance(result, int) else 0
    except typer.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # click's own handling: exit(1)
            return EXIT_BROKEN_PIPE
        raise
    except (typer.Abort, KeyboardInterrupt):
        stop_progress()
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
        # The reader went away (e.g. `| head`): stop quietly with the status a Unix tool
        # killed by SIGPIPE has, not 1, which says the data or model is wrong.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
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
