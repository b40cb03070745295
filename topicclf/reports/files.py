"""Evaluation reports as JSON (everything), CSV (per-topic rows) and Markdown (for reviews).

A report CSV and Markdown are for people, read in terminals, spreadsheets and renderers:
control characters are shown as escapes (`csv_text`, `md_cell`), as on the terminal and in
the HTML report, and Markdown's own syntax in a name is escaped, so it shows as text. JSON is
the data, exact: it escapes control characters itself (`tag -t csv` writes names exactly)."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from topicclf import jsontext
from topicclf.config import CONFUSION_PAIRS_PER_DOCUMENT
from topicclf.corpus.delimited import formula_like
from topicclf.metrics import (
    AVERAGES,
    CONVENTIONS,
    FIGURES_VERSION,
    EvaluationReport,
    library_figures,
    summary_figures,
    summary_metrics,
)
from topicclf.reports.glossary import CONVENTIONS_TEXT, GLOSSARY
from topicclf.reports.safe import visible_controls

# The layout version: new keys may appear within it. What the figures mean is versioned
# separately (figures_version), so that readers checking for schema 1 keep working.
SCHEMA_VERSION = 1


def to_json(report: EvaluationReport, context: dict[str, Any]) -> Iterator[str]:
    """The whole report: schema version, context (model, corpus), summary and per-topic rows,
    in pieces as they are encoded (a million topics make hundreds of MB)."""
    from topicclf.tagging import Tagged

    data = {
        "schema_version": SCHEMA_VERSION,
        "figures_version": FIGURES_VERSION,
        "conventions": CONVENTIONS,
        **context,
        "summary": summary_metrics(report),
        **report.to_dict(),
        # Each document's topics exactly as `topicclf tag --scores` writes them.
        "predictions": [Tagged(i, t).to_record(scores=True) for i, t in report.predictions],
    }
    yield from jsontext.chunks(data, indent=2)
    yield "\n"


def _csv_field(field: Any) -> Any:
    if not isinstance(field, str):
        return field
    # `cat r.csv` must not run a forged topic's ESC sequence: controls shown as in HTML.
    field = visible_controls(field)
    return f"'{field}" if formula_like(field) else field


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """CSV lines ending in \\n, quoting every field that holds a comma, a quote or a line break.

    A report is for people, who open it in a spreadsheet or a terminal: control characters
    (tab and newline aside) are shown as `\\x1b`-style escapes, and a text field that one
    could run as a formula (`=HYPERLINK(...)` as a topic of a forged model) gets a leading
    apostrophe, which spreadsheets show as text and hide (OWASP's advice)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_csv_field(f) for f in row])
    return buffer.getvalue()


def to_csv(report: EvaluationReport, context: dict[str, Any]) -> str:
    """One row per topic: topic, precision, recall, f1, support, predicted, tp, fp, fn, known."""
    header = ["topic", "precision", "recall", "f1", "support", "predicted", "tp", "fp", "fn"]
    rows = [
        [
            t.topic,
            f"{t.precision:.4f}",
            f"{t.recall:.4f}",
            f"{t.f1:.4f}",
            t.support,
            t.predicted,
            t.tp,
            t.fp,
            t.fn,
            "yes" if t.known else "no",
        ]
        for t in report.per_topic
    ]
    return csv_text([[*header, "known"], *rows])


# CommonMark's ASCII punctuation with inline meaning: the backslash itself, code, emphasis and
# strikethrough, links and images, the | of a table cell, # of a heading, GitHub's $ math; and
# what makes a bare `https://...` (any scheme's ':') or `www.` (the '.' after it) a live link
# in GitHub's extended autolinks, which are matched as the text is parsed, so an escape
# breaks them. Backslash-escaped, each shows as itself. & < > are HTML-escaped instead: an
# entity shows as the character in every renderer, even one that passes raw HTML through.
_MD_SYNTAX = re.compile(r"[\\`*_\[\]()!~#|$:]|(?<=www)\.", re.IGNORECASE)
# GitHub finds `name@domain.tld` (and `mailto:`) links in the parsed text, once escapes are
# gone, so `\@` or `&#64;` is still a link (as cmark-gfm, GitHub's renderer, shows); an
# invisible WORD JOINER (U+2060, written as an entity) before the '@' breaks it, and the
# name reads as it is.
_EMAIL_AT = "&#8288;@"


def md_cell(text: str) -> str:
    """Text shown as itself in Markdown, inside one table cell: one line, Markdown's own
    syntax and HTML escaped (a topic `[x](javascript:...)` from a hostile corpus is no link,
    nor is a bare `https://...`, `www....` or e-mail address), control characters shown as
    `\\x1b` (a Markdown file is read in terminals too: a topic named `red\\x1b[31m` must not
    recolour one). Never cut: the report keeps whole names."""
    escaped = _MD_SYNTAX.sub(r"\\\g<0>", html.escape(text, quote=False)).replace("@", _EMAIL_AT)
    # \n, \r\n and \r end a Markdown line (and so the table row); <br> breaks within the cell.
    return visible_controls(re.sub(r"\r\n|\r|\n", "<br>", escaped))


def _md_figures(report: EvaluationReport) -> list[str]:
    lines = []
    library = library_figures(report)
    if library:
        lines += ["| subject indexing figure | value |", "|---|---:|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in library]
        lines.append("")
    lines += ["| average | precision | recall | F1 |", "|---|---:|---:|---:|"]
    for scheme in AVERAGES:
        avg = getattr(report, scheme)
        lines.append(f"| {scheme} | {avg.precision:.4f} | {avg.recall:.4f} | {avg.f1:.4f} |")
    figures = ", ".join(f"{f.label} {v:.4f}" for f, v in summary_figures(report))
    lines += [
        "",
        f"{figures[:1].upper()}{figures[1:]}, "
        f"documents without a predicted topic: {report.documents_without_prediction}, "
        f"without a true topic: {report.documents_without_true_topic}"
        + "".join(f", {text}" for text in left_out_of_confusions(report))
        + ".",
    ]
    if report.ranking:
        lines += ["", "| ranking figure | value |", "|---|---:|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in report.ranking.items()]
    return lines


def evaluated(context: dict[str, Any], value: Callable[[str], str] = str) -> list[str]:
    """What was evaluated, in words: the model (kind, topics) and the corpus (format, split);
    `value` renders each value the context gives (a path, a network's name), never the words
    around it (Markdown's `md_cell` would escape the report's own parentheses)."""
    out = []
    model, corpus = context.get("model"), context.get("corpus")
    if isinstance(model, dict):
        kind = ", ".join(
            value(str(model[k])) + (" topics" if k == "topics" else "")
            for k in ("network", "mode", "topics")
            if k in model
        )
        path = value(str(model.get("path", "?")))
        out.append(f"model: {path}" + (f" ({kind})" if kind else ""))
    if isinstance(corpus, dict):
        details = [value(str(corpus["format"]))] if "format" in corpus else []
        if "split" in corpus:
            details.append(f"split {value(str(corpus['split']))}")
        if "categories" in corpus:
            details.append(f"{value(str(corpus['categories']))} categories")
        shown = f" ({', '.join(details)})" if details else ""
        out.append(f"corpus: {value(str(corpus.get('path', '?')))}{shown}")
    return out


def left_out_of_confusions(report: EvaluationReport) -> list[str]:
    """The documents left out of the confusions, in words (none: an empty list, and reports
    say nothing)."""
    n = report.documents_left_out_of_confusions
    if not n:
        return []
    return [
        f"left out of the confusions: {n} document(s) of more than "
        f"{CONFUSION_PAIRS_PER_DOCUMENT} missed x wrongly given topic pairs"
    ]


# Where the figures by language took each document's language (EvaluationReport.languages_from),
# as every report says it: the corpus's field and the model's guess are not equally sure.
LANGUAGES_FROM = {
    "corpus": "from the corpus's language field",
    "model": "as the model tells them",
}


def languages_from(report: EvaluationReport) -> str:
    """Where the figures by language took the languages from, in words ("" when unknown)."""
    return LANGUAGES_FROM.get(report.languages_from, "")


def figure_text(value: float | None) -> str:
    """A figure as reports print it: counts as they are, fractions to 4 places."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def to_markdown(report: EvaluationReport, context: dict[str, Any]) -> str:
    """Summary tables, the per-topic table by support and a glossary, ready for a review."""
    lines = ["# Evaluation report", ""]
    lines += [f"- {line}" for line in evaluated(context, md_cell)]
    lines += [f"- documents: {report.n_documents}, topics: {report.n_topics}", ""]
    lines += _md_figures(report)
    lines += ["", "| topic | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for t in sorted(report.per_topic, key=lambda t: (-t.support, t.topic)):
        name = md_cell(t.topic) + ("" if t.known else " (unknown to the model)")
        lines.append(f"| {name} | {t.precision:.4f} | {t.recall:.4f} | {t.f1:.4f} | {t.support} |")
    if report.by_language:
        names = list(next(iter(report.by_language.values())))
        source = languages_from(report)
        lines += ["", "## By language", ""] + ([f"Languages {source}.", ""] if source else [])
        lines.append("| language | " + " | ".join(names) + " |")
        lines.append("|---|" + "---:|" * len(names))
        for language, figures in report.by_language.items():
            cells = [figure_text(figures.get(n)) for n in names]
            lines.append(f"| {md_cell(language)} | " + " | ".join(cells) + " |")
    if report.unknown_topics:
        lines += [
            "",
            "Topics unknown to the model (counted as misses): "
            + ", ".join(f"{md_cell(k)} ({v})" for k, v in report.unknown_topics.items()),
        ]
    lines += ["", "## Glossary", "", CONVENTIONS_TEXT, ""]
    lines += [f"- **{name}**: {text}." for name, text in GLOSSARY.items()]
    return "\n".join(lines) + "\n"
