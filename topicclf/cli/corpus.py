"""The corpus and report commands: `corpus stats`, `corpus convert`, `report compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from topicclf.cli.common import (
    CORPUS_HELP,
    EXIT_DOMAIN,
    ForceOpt,
    Reading,
    WriteFormat,
    check_output,
    corpus_app,
    distinct_outputs,
    examples,
    note,
    out,
    print_json,
    reads_corpus,
    report_app,
    shown_on_terminal,
    standard_output,
)
from topicclf.cli.numbers import decimal, integer_option


@corpus_app.command(epilog=examples("topicclf corpus stats corpora/newsbriefs/train.jsonl"))
@reads_corpus()
def stats(
    corpus: Annotated[str, typer.Argument(metavar="CORPUS", help=CORPUS_HELP, show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    top: Annotated[int, integer_option(1, None, help="Topics listed in the frequency table.")] = 20,
    *,
    reading: Reading,
) -> None:
    """Corpus statistics: documents, topics, topics per document, frequencies, lengths,
    languages."""
    from topicclf.corpus.stats import corpus_stats
    from topicclf.features.languages import language_name

    standard_output()  # closed (>&-): said before the corpus is read
    # A bad record is one, as in `tag`: warned about, counted, and the rest is read.
    source = reading.with_options(on_error="report").open(corpus)
    figures = corpus_stats(source, language_name)
    if figures.documents + figures.bad_records == 0:
        from topicclf.corpus.sources import warn_no_documents

        warn_no_documents(corpus, "count")
    if as_json:
        print_json(figures.to_dict())
    else:
        from topicclf.reports.terminal import render_stats

        render_stats(out, figures, top=top)
    if figures.bad_records:
        note(f"{figures.bad_records} record(s) could not be read (not counted)")
        raise typer.Exit(EXIT_DOMAIN)


@corpus_app.command(
    epilog=examples(
        "TOPICCLF_REUTERS=reuters21578.tar.gz topicclf corpus convert "
        "reuters:modapte-test reuters-test.jsonl",
        "topicclf corpus convert train.csv train.ft",
    ),
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
    from topicclf.corpus.ids import warning_duplicate_ids
    from topicclf.corpus.sources import warn_no_documents
    from topicclf.fileio import atomic_output

    kind = str(to) if to else format_for_suffix(target)
    if kind not in WRITERS:
        raise typer.BadParameter(
            f"cannot tell the output format of {target!r}; give --to ({', '.join(WRITERS)})",
            param_hint="--to",
        )
    if target != "-":
        check_output(target, [source_path], force)
    else:
        standard_output()  # closed (>&-): said before any reading
        from topicclf.fileio import check_standard_output

        check_standard_output([source_path])
    source = reading.open(source_path)
    # Repeated ids are said as `tag` says them: the converted corpus keeps them.
    documents = warning_duplicate_ids(source, source_path)
    if target == "-":
        count = write_corpus(
            documents, shown_on_terminal(standard_output(), kind), kind, source.options
        )
    else:
        with atomic_output(target, newline="") as handle:
            count = write_corpus(documents, handle, kind, source.options)
    if not count:
        warn_no_documents(source_path, "convert")
    if target != "-":
        note(f"wrote {count} documents to {target} ({kind})")


@report_app.command(
    "compare", epilog=examples("topicclf report compare old.json new.json -o diff.md")
)
def compare_reports(
    a: Annotated[Path, typer.Argument(metavar="A.json", help="The baseline report.")],
    b: Annotated[Path, typer.Argument(metavar="B.json", help="The report compared with it.")],
    output: Annotated[
        list[Path] | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Also write: .json, .csv, .md or .html (repeatable).",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            parser=decimal(0, 1),
            metavar="F",
            help="F1 changes up to this count as unchanged (0 to 1).",
        ),
    ] = 0.005,
    force: ForceOpt = False,
) -> None:
    """Compare two JSON reports (from evaluate -o X.json): overall and per-topic changes."""
    from topicclf.metrics.comparison import compare
    from topicclf.reports.compare import render_comparison, write_comparison

    distinct_outputs(output or [])  # written twice, the second time without --force
    for path in output or []:
        check_output(path, [str(a), str(b)], force)
    standard_output()  # closed (>&-): said before the reports are read
    comparison = compare(a, b, tolerance=tolerance)
    render_comparison(out, comparison)
    for path in output or []:
        write_comparison(comparison, path)
        note(f"comparison written to {path}")
