"""The commands about models: `train`, `evaluate`, `optimize`, `info` and `tune` (thresholds
tuned again without training). Tagging is in `cli.tag`, serving in `cli.serve`; shared options,
progress and output checks in `cli.common`."""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from topicclf.cli.common import (
    CORPUS_HELP,
    EXIT_GATE,
    ForceOpt,
    Mode,
    ModelArg,
    Network,
    Reading,
    after_saving,
    app,
    check_output,
    distinct_outputs,
    err,
    examples,
    make_progress,
    note,
    out,
    print_json,
    reads_corpus,
    shown_path,
    standard_output,
    warn,
)
from topicclf.cli.numbers import decimal, integer_option
from topicclf.errors import ConfigError, DuplicateIdWarning
from topicclf.reports.safe import escape


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
        Network | None,
        typer.Option(
            help="Network type (default: auto: shortlist from 1000 topics, else dense; or "
            "from --config)."
        ),
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
        float | None,
        typer.Option(
            # Both bounds left out, as train.validation_split is checked (pass 47: 0 and 1
            # passed here and failed as a --set error the user never gave, exit 1).
            parser=decimal(0, 1, exclusive=True),
            metavar="F",
            help="Share of training data held out to tune thresholds (greater than 0, less "
            "than 1).",
        ),
    ] = None,
    seed: Annotated[
        int | None, integer_option(0, 2**32 - 1, help="Random seed (same seed, same model).")
    ] = None,
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
    from topicclf.vocabulary import check_vocabulary_file, read_vocabulary

    standard_output()  # closed (>&-): said before any work, not after the training
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
    if vocabulary is not None:
        check_vocabulary_file(vocabulary)  # missing, a FIFO, too large: before any work
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
        check_output(output, [corpus, *given], force, kind="model")
        progress = make_progress()
        docs = read_all(source, progress)
        subjects = None
        if vocabulary is not None:
            # Read once the corpus's topics are known, keeping only their subjects (a model
            # has no others), and before the training, so a bad line costs no training.
            # The topics the model will hold, as training picks them: those of at least
            # train.min_count documents with a text (empty ones are skipped). A rarer topic
            # is dropped, so a subject it shares with a kept topic is no clash (refused).
            counts = Counter(topic for doc in docs if doc.text.strip() for topic in set(doc.labels))
            topics = {topic for topic, n in counts.items() if n >= cfg.train.min_count}
            subjects = read_vocabulary(vocabulary, topics)
        started = time.perf_counter()
        clf = TopicClassifier(config=cfg).fit(
            [d.text for d in docs], [d.labels for d in docs], progress=progress
        )
        if subjects is not None:
            _attach_vocabulary(clf, subjects, str(vocabulary))
        clf.save(output, overwrite=force, corpus=source.describe())
    with after_saving(f"the model was saved to {output}"):
        render_training(out, clf, clf.config_.network.type, time.perf_counter() - started, output)


def _attach_vocabulary(clf: Any, subjects: list[Any], source: str) -> None:
    from topicclf.config import TOPIC_URI_BASE
    from topicclf.vocabulary import Vocabulary

    clf.vocabulary_, unmatched = Vocabulary.match(subjects, clf.topics_)
    if unmatched:
        warn(
            f"{len(unmatched)} of {len(clf.topics_)} topics are not in {source}; they are "
            f"served as {TOPIC_URI_BASE}<topic>: " + ", ".join(unmatched[:10])
        )


@contextlib.contextmanager
def _gate_usage_errors() -> Iterator[None]:
    """A ConfigError about `--fail-under` as the usage error it is (exit 2)."""
    try:
        yield
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
    max_topics: Annotated[int, integer_option(1, None, help="Topics shown on the terminal.")] = 40,
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Evaluate a model on a labelled corpus: summary and per-topic precision, recall, F1."""
    from topicclf.metrics import check_gates_reachable, parse_gates
    from topicclf.reports import FILE_FORMATS

    with _gate_usage_errors():
        gates = parse_gates(fail_under or [])
    distinct_outputs(output or [])
    for path in output or []:
        if path.suffix.lower() not in FILE_FORMATS:
            raise typer.BadParameter(
                f"{path}: use a {', '.join(FILE_FORMATS)} file", param_hint="--output"
            )
        check_output(path, [str(model), corpus], force)
    standard_output()  # closed (>&-): said before any work, not after scoring the corpus
    source = reading.open(corpus)
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.sources import read_all
    from topicclf.reports import write_report
    from topicclf.reports.terminal import render_evaluation

    clf = TopicClassifier.load(model)
    with _gate_usage_errors():  # the model's mode is known now, before any scoring
        check_gates_reachable(gates, clf.policy_.multiclass)
    docs = read_all(source, make_progress())
    wants_html = any(p.suffix.lower() == ".html" for p in output or [])
    with warnings.catch_warnings():
        # Said already of the corpus, by its path, while it was read.
        warnings.simplefilter("ignore", DuplicateIdWarning)
        report = clf.evaluate(docs, explain_examples=wants_html, progress=make_progress())
    render_evaluation(out, report, max_topics=max_topics)
    context = {
        "model": {
            "path": shown_path(model),
            "network": clf.config_.network.type,
            "mode": clf.mode_,
            "topics": len(clf.topics_),
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
    trials: Annotated[int, integer_option(1, 10_000, help="Configurations to try.")] = 8,
    folds: Annotated[int, integer_option(2, 100, help="Cross-validation folds per trial.")] = 3,
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
            "written to the output, unless the search tries that key: it is then held "
            "fixed in every trial and written (repeatable).",
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            parser=decimal(0),
            metavar="SECONDS",
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
    from topicclf.optimize import OBJECTIVES, best_config_toml, describe_settings, search

    if objective not in OBJECTIVES:
        raise typer.BadParameter(
            f"choose one of: {', '.join(OBJECTIVES)}", param_hint="--objective"
        )
    check_output(output, [corpus, *([str(config)] if config else [])], force)
    standard_output()  # closed (>&-): said before any work, not after the search
    overrides = list(set_ or []) + ([f"network.type={network}"] if network else [])
    base = load_config(config, overrides)
    # Checked before the corpus is read, and named as given.
    searched = base.with_overrides(list(search_set or []), option="--search-set")
    from topicclf.corpus.sources import read_all
    from topicclf.reports.console import render_trials

    docs = read_all(reading.open(corpus), make_progress())
    result = search(
        [d.text for d in docs],
        [d.labels for d in docs],
        base=searched,
        trials=trials,
        folds=folds,
        objective=objective,
        time_budget=time_budget,
        progress=make_progress(),
        fixed=[a.partition("=")[0].strip() for a in search_set or []],
    )
    if result.fixed:
        note(
            "held fixed by --search-set in every trial and written: "
            + describe_settings(result.fixed)
        )
    # Saved before the table is printed: a stdout that fails then costs no search.
    atomic_write_text(output, best_config_toml(result, folds, corpus, base))
    with after_saving(f"the best configuration was written to {output}"):
        render_trials(out, result, folds)
        shown = escape(str(output), limit=None)
        out.print(f"best configuration written to {shown} (use: topicclf train --config {shown})")


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
    standard_output()  # closed (>&-): said before the model is read
    if verify:
        _verify(model, as_json)
        return
    from topicclf.bundle.info import describe

    details = describe(model)
    if as_json:
        # A forged manifest may hold NaN or Infinity, which strict JSON has no words for,
        # and lists or strings of millions (the plain view cuts them the same way).
        print_json(_finite(details), default=str, allow_nan=False)
    else:
        from topicclf.reports.terminal import render_info

        render_info(out, details)


def _finite(value: Any) -> Any:
    """`value` with every float that is not finite replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _verify(model: Path, as_json: bool) -> None:
    from topicclf.bundle.layout import verify_files
    from topicclf.errors import ModelBundleError

    report = verify_files(model)
    if as_json:
        print_json(report)
    else:
        from topicclf.reports.terminal import render_verification

        render_verification(out, report)
    if report["mismatched"]:
        names = ", ".join(report["mismatched"])
        raise ModelBundleError(f"{model}: files that do not match the manifest: {names}")


@app.command(
    epilog=examples(
        "topicclf tune models/newsbriefs corpora/newsbriefs/test.jsonl -o models/tuned",
    ),
)
@reads_corpus()
def tune(
    model: ModelArg,
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Model directory to write.", show_default=False),
    ],
    force: ForceOpt = False,
    *,
    reading: Reading,
) -> None:
    """Tune a model's thresholds again on a labelled corpus, in seconds, without training.

    For a validation corpus closer to the documents you will tag than the training data
    was (Annif's `optimize`, applied). The network and the blend stay as they are; the
    figures printed are measured on CORPUS itself, so they flatter the tuned model: judge
    it on another corpus with `evaluate`.
    """
    from topicclf.classifier import TopicClassifier
    from topicclf.corpus.sources import read_all
    from topicclf.fileio import output_lock

    started = time.perf_counter()
    with output_lock(output):
        check_output(output, [str(model), corpus], force, kind="model")
        standard_output()  # closed (>&-): said before any work, not after the tuning
        source = reading.open(corpus)
        clf = TopicClassifier.load(model)
        docs = read_all(source, make_progress())
        before, after = clf.tune_thresholds(docs)
        clf.save(output, overwrite=force)
    with after_saving(f"the model was saved to {output}"):
        out.print(f"on {before.n_documents} documents of {escape(shown_path(source.path))}:")
        for name, report in (("before", before), ("after", after)):
            out.print(f"{name}: micro-F1 {report.micro.f1:.4f}, macro-F1 {report.macro.f1:.4f}")
        out.print(
            f"thresholds tuned in {time.perf_counter() - started:.1f}s; model saved to "
            f"{escape(str(output), limit=None)}"
        )
