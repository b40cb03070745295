"""Rendering a comparison of two evaluation reports: terminal, JSON, CSV, Markdown, HTML."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from topicclf import jsontext
from topicclf.errors import TopicclfError
from topicclf.fileio import atomic_write_text
from topicclf.metrics.comparison import Comparison, TopicDelta
from topicclf.reports.files import csv_text, md_cell
from topicclf.reports.html import html_text
from topicclf.reports.safe import escape, topic_cell


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _apart(comparison: Comparison) -> list[tuple[str, list[TopicDelta]]]:
    """The topics of one report only, with the report (A or B) that has them: no F1 change
    is computed for them (an absent topic is not one whose F1 fell to 0)."""
    return [("A", comparison.only_in_a), ("B", comparison.only_in_b)]


def _side(t: TopicDelta, report: str) -> tuple[str, str]:
    """A topic's F1 and support in the one report (A or B) that has it."""
    return (_fmt(t.f1_a), str(t.support_a)) if report == "A" else (_fmt(t.f1_b), str(t.support_b))


def render_comparison(console: Console, comparison: Comparison, *, most: int = 15) -> None:
    """Overall deltas, then the topics that got better and worse."""
    overall = Table(title=f"A = {comparison.a}   B = {comparison.b}")
    for col in ("metric", "A", "B", "B - A"):
        overall.add_column(col, justify="left" if col == "metric" else "right")
    styles = {True: "green", False: "red", None: ""}
    for name, (a, b) in comparison.overall.items():
        style = styles[comparison.improved(name)]
        delta = f"{b - a:+.4f}"
        overall.add_row(name, f"{a:.4f}", f"{b:.4f}", f"[{style}]{delta}[/]" if style else delta)
    console.print(overall)
    for note in comparison.notes:
        console.print(f"note: {escape(note)}")
    for title, rows in (("better in B", comparison.better), ("worse in B", comparison.worse)):
        table = Table(title=f"{title} ({len(rows)} topics, F1 change > {comparison.tolerance})")
        for col in ("topic", "F1 A", "F1 B", "change", "support"):
            table.add_column(col, justify="left" if col == "topic" else "right")
        for t in rows[:most]:
            table.add_row(
                topic_cell(t.topic), _fmt(t.f1_a), _fmt(t.f1_b), _change(t.delta), str(t.support_b)
            )
        console.print(table)
        if len(rows) > most:
            console.print(f"... {len(rows) - most} more; write them all with --output")
    for report, rows in _apart(comparison):
        if not rows:
            continue
        table = Table(title=f"only in {report} ({len(rows)} topics, not compared)")
        for col in ("topic", f"F1 {report}", f"support {report}"):
            table.add_column(col, justify="left" if col == "topic" else "right")
        for t in rows[:most]:
            table.add_row(topic_cell(t.topic), *_side(t, report))
        console.print(table)
        if len(rows) > most:
            console.print(f"... {len(rows) - most} more; write them all with --output")


def comparison_json(comparison: Comparison) -> str:
    """Everything, as JSON."""
    return jsontext.dumps(comparison.to_dict(), indent=2) + "\n"


def comparison_csv(comparison: Comparison) -> str:
    """One row per topic: topic, f1_a, f1_b, delta, support_a, support_b; the F1 and the
    change of a topic one report lacks are empty cells (a "-" would read "'-", formula-safe)."""

    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.4f}"

    header = ["topic", "f1_a", "f1_b", "delta", "support_a", "support_b"]
    return csv_text(
        [header]
        + [
            [t.topic, number(t.f1_a), number(t.f1_b), number(t.delta), t.support_a, t.support_b]
            for t in comparison.topics
        ]
    )


def comparison_markdown(comparison: Comparison) -> str:
    """Overall and per-topic deltas as Markdown tables."""
    lines = [
        "# Report comparison",
        "",
        f"A: {md_cell(str(comparison.a))}  ",
        f"B: {md_cell(str(comparison.b))}",
        "",
        "| metric | A | B | B - A |",
        "|---|---:|---:|---:|",
    ]
    for name, (a, b) in comparison.overall.items():
        lines.append(f"| {name} | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
    if comparison.notes:
        lines += ["", *(f"Note: {md_cell(note)}." for note in comparison.notes)]
    for title, rows in (("Better in B", comparison.better), ("Worse in B", comparison.worse)):
        lines += [
            "",
            f"## {title} ({len(rows)})",
            "",
            "| topic | F1 A | F1 B | change |",
            "|---|---:|---:|---:|",
        ]
        for t in rows:
            lines.append(
                f"| {md_cell(t.topic)} | {_fmt(t.f1_a)} | {_fmt(t.f1_b)} | {_change(t.delta)} |"
            )
    for report, rows in _apart(comparison):
        if not rows:
            continue
        lines += [
            "",
            f"## Only in {report} ({len(rows)}, not compared)",
            "",
            f"| topic | F1 {report} | support {report} |",
            "|---|---:|---:|",
        ]
        for t in rows:
            f1, support = _side(t, report)
            lines.append(f"| {md_cell(t.topic)} | {f1} | {support} |")
    return "\n".join(lines) + "\n"


def comparison_html(comparison: Comparison) -> str:
    """A self-contained page with the same tables."""

    def rows(items: list[tuple[str, ...]]) -> str:
        return "".join(
            "<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in r) + "</tr>" for r in items
        )

    overall = rows(
        [(k, f"{a:.4f}", f"{b:.4f}", f"{b - a:+.4f}") for k, (a, b) in comparison.overall.items()]
    )
    notes = "".join(f"<p>Note: {html_text(note)}.</p>" for note in comparison.notes)
    compared = [(t.delta, t) for t in comparison.topics if t.delta is not None]
    topics = rows(
        [
            (t.topic, _fmt(t.f1_a), _fmt(t.f1_b), _change(delta), str(t.support_b))
            for delta, t in sorted(compared, key=lambda pair: pair[0])
        ]
    )
    apart = "".join(
        f"<h2>Only in {report} ({len(items)}, not compared)</h2>\n<table><tr><th>topic</th>"
        f"<th>F1 {report}</th><th>support {report}</th></tr>\n"
        + rows([(t.topic, *_side(t, report)) for t in items])
        + "</table>\n"
        for report, items in _apart(comparison)
        if items
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>topicclf report comparison</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2rem auto}}
table{{border-collapse:collapse}}
td,th{{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Report comparison</h1><p>A: <code>{html_text(comparison.a)}</code><br>
B: <code>{html_text(comparison.b)}</code></p>
<h2>Overall</h2><table><tr><th>metric</th><th>A</th><th>B</th><th>B - A</th></tr>{overall}</table>
{notes}
<h2>Per topic of both reports (worst change first)</h2>
<table><tr><th>topic</th><th>F1 A</th><th>F1 B</th><th>change</th><th>support</th></tr>
{topics}</table>
{apart}</body></html>
"""


COMPARISON_FORMATS = {
    ".json": comparison_json,
    ".csv": comparison_csv,
    ".md": comparison_markdown,
    ".html": comparison_html,
}


def write_comparison(comparison: Comparison, path: str | Path) -> None:
    """Write a comparison in the format its extension names, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix not in COMPARISON_FORMATS:
        raise TopicclfError(
            f"{path}: unknown format {suffix or '(no extension)'}; use one of: "
            + ", ".join(COMPARISON_FORMATS)
        )
    atomic_write_text(path, COMPARISON_FORMATS[suffix](comparison))
