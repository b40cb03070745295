"""Commands that adjust a trained model without training it again: `tune`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from topicclf.cli_util import (
    CORPUS_HELP,
    ForceOpt,
    ModelArg,
    Reading,
    app,
    check_output,
    examples,
    make_progress,
    out,
    reads_corpus,
    shown_path,
)


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
        check_output(output, [str(model), corpus], force, kind="directory")
        source = reading.open(corpus)
        clf = TopicClassifier.load(model)
        docs = read_all(source, make_progress())
        before, after = clf.tune_thresholds(docs)
        clf.save(output, overwrite=force)
    out.print(f"on {before.n_documents} documents of {shown_path(source.path)}:")
    for name, report in (("before", before), ("after", after)):
        out.print(f"{name}: micro-F1 {report.micro.f1:.4f}, macro-F1 {report.macro.f1:.4f}")
    out.print(f"thresholds tuned in {time.perf_counter() - started:.1f}s; model saved to {output}")
