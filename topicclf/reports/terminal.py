"""Terminal rendering with rich: evaluation tables, corpus statistics, model descriptions and
file checks."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from topicclf.corpus.stats import CorpusStats
from topicclf.metrics import AVERAGES, EvaluationReport, library_figures, summary_figures
from topicclf.reports.files import figure_text, languages_from, left_out_of_confusions
from topicclf.reports.safe import escape, topic_cell

WEAK_F1 = 0.5


def _f1_style(f1: float) -> str:
    return "red" if f1 < WEAK_F1 else ""


def render_evaluation(console: Console, report: EvaluationReport, *, max_topics: int = 40) -> None:
    """Summary table, then per-topic rows sorted by support (weak topics in red); for a large
    vocabulary, the figures subject indexers compare tools by come first."""
    library = library_figures(report)
    if library:
        table = Table(title="subject indexing figures (the top suggestions against the gold set)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, value in library:
            table.add_row(name, f"{value:.4f}")
        console.print(table)
    summary = Table(title=f"{report.n_documents} documents, {report.n_topics} topics")
    for col in ("average", "precision", "recall", "F1"):
        summary.add_column(col, justify="left" if col == "average" else "right")
    for scheme in AVERAGES:
        avg = getattr(report, scheme)
        summary.add_row(scheme, f"{avg.precision:.4f}", f"{avg.recall:.4f}", f"{avg.f1:.4f}")
    # fastText's `test` reports P@k and R@k of the k best-scored topics: the same, up front.
    for k in (1, 3):
        p, r = report.ranking.get(f"precision@{k}"), report.ranking.get(f"recall@{k}")
        if p is not None and r is not None:
            summary.add_row(f"best {k} (P@{k}, R@{k})", f"{p:.4f}", f"{r:.4f}", "")
    console.print(summary)
    topics = Table(title="per topic (by support)")
    topics.add_column("topic", overflow="fold", max_width=30)
    for col in ("precision", "recall", "F1", "support"):
        topics.add_column(col, justify="right")
    ordered = sorted(report.per_topic, key=lambda t: (-t.support, t.topic))
    for t in ordered[:max_topics]:
        topics.add_row(
            topic_cell(t.topic) + ("" if t.known else " (unknown)"),
            f"{t.precision:.3f}",
            f"{t.recall:.3f}",
            f"{t.f1:.3f}",
            str(t.support),
            style=_f1_style(t.f1),
        )
    console.print(topics)
    if len(ordered) > max_topics:
        console.print(
            f"... {len(ordered) - max_topics} more topics; write them all with "
            "--output report.md/.csv/.json (or --max-topics N)"
        )
    if "confusion_matrix" in report.multiclass:  # a batched evaluation has none
        render_confusion_matrix(console, report.multiclass)
    console.print(" · ".join(f"{f.label} {v:.4f}" for f, v in summary_figures(report)))
    console.print(
        f"documents without a predicted topic {report.documents_without_prediction}"
        f" · without a true topic {report.documents_without_true_topic}"
        + "".join(f" · {text}" for text in left_out_of_confusions(report))
    )
    if report.ranking:
        console.print("ranking figures (ties averaged; the glossary of a .md or .html report):")
        for line in _ranking_lines(report.ranking):
            console.print("  " + line)
    if report.by_language:
        source = languages_from(report)
        title = f"by language ({source})" if source else "by language"
        render_groups(console, title, report.by_language)
    if report.unknown_topics:
        console.print(
            "topics unknown to the model (counted as misses): "
            + ", ".join(
                f"{topic_cell(k)} ({v})" for k, v in list(report.unknown_topics.items())[:10]
            )
        )


def render_groups(console: Console, title: str, groups: dict[str, dict[str, float]]) -> None:
    """One row per group of documents (a language) with its figures."""
    names = list(next(iter(groups.values())))
    table = Table(title=title)
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    for group, figures in groups.items():
        table.add_row(escape(group), *(figure_text(figures.get(n)) for n in names))
    console.print(table)


def render_confusion_matrix(console: Console, multiclass: dict[str, Any], most: int = 12) -> None:
    """Rows: true topic; columns: predicted topic (the `most` largest topics)."""
    labels: list[str] = multiclass["labels"]
    matrix: list[list[int]] = multiclass["confusion_matrix"]
    keep = sorted(range(len(labels)), key=lambda i: -sum(matrix[i]))[:most]
    table = Table(title="confusion matrix (rows true, columns predicted)")
    table.add_column("true \\ predicted", overflow="fold", max_width=14)
    for j in keep:
        table.add_column(escape(labels[j][:7]), justify="right")
    for i in keep:
        table.add_row(topic_cell(labels[i]), *(str(matrix[i][j]) for j in keep))
    console.print(table)
    if len(labels) > most:
        console.print(f"... {len(labels) - most} smaller topics left out; see --output report.json")


def render_stats(console: Console, stats: CorpusStats, *, top: int = 20) -> None:
    """Corpus figures and the most frequent topics."""
    table = Table(show_header=False, title="corpus")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("documents", f"{stats.documents}"),
        ("labelled documents", f"{stats.labelled_documents}"),
        ("empty documents", f"{stats.empty_documents}"),
        ("duplicate ids", f"{stats.duplicate_ids}"),
        ("topics", f"{stats.topics}"),
        ("topics per labelled document", f"{stats.label_cardinality:.2f}"),
        ("documents with 2+ topics", f"{stats.multi_topic_share:.1%}"),
        ("words per document (mean)", f"{stats.words_mean:.1f}"),
        (
            "words per document (median, min-max)",
            f"{stats.words_median:g} ({stats.words_min}-{stats.words_max})",
        ),
    ]
    total = sum(stats.languages.values())
    rows.extend(
        (f"documents in {name}", f"{n} ({n / total:.1%})") for name, n in stats.languages.items()
    )
    if stats.bad_records:
        rows.append(("bad records (not counted)", f"{stats.bad_records}"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if stats.label_separator_hint:
        console.print(f"note: {escape(stats.label_separator_hint)}")
    if stats.topic_counts:
        freq = Table(title=f"topics by frequency (top {min(top, stats.topics)} of {stats.topics})")
        freq.add_column("topic", overflow="fold", max_width=40)
        freq.add_column("documents", justify="right")
        freq.add_column("share", justify="right")
        for topic, count in list(stats.topic_counts.items())[:top]:
            freq.add_row(
                topic_cell(topic), str(count), f"{count / max(stats.labelled_documents, 1):.1%}"
            )
        console.print(freq)


def render_info(console: Console, info: dict[str, Any]) -> None:
    """A model's description as a two-column table."""
    table = Table(show_header=False, title=escape(str(info.get("path", "model"))))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in info.items():
        if key == "path":
            continue
        table.add_row(key, escape(_plain(value)))
    console.print(table)


def _plain(value: Any) -> str:
    """A manifest value in words: `key value` pairs, lists joined, no Python syntax."""
    if isinstance(value, dict):
        if not value:
            return "none"
        return ", ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    return str(value)


def render_verification(console: Console, report: dict[str, Any]) -> None:
    """Each file of a model and whether it matches the size and SHA-256 its manifest records."""
    if not report["hashes recorded"]:
        console.print(
            f"{escape(report['path'])}: model format {report['format version']} records no "
            "file hashes, so there is nothing to verify against; saving the model again with "
            "this topicclf records them"
        )
        return
    table = Table(title=f"{escape(str(report['path']))}: files against the manifest")
    table.add_column("file")
    table.add_column("status", overflow="fold")
    for name, status in report["files"].items():
        style = "green" if status == "OK" else "red" if name in report["mismatched"] else "dim"
        table.add_row(escape(name), f"[{style}]{escape(status)}[/]")
    more = report.get("more unrecorded files", 0)
    if more:
        table.add_row(f"... and {more:,} more", "[dim]not recorded in the manifest (never read)[/]")
    console.print(table)


def _ranking_lines(ranking: dict[str, float], width: int = 88) -> list[str]:
    """Ranking figures packed into lines of at most `width` characters, each @k family on
    lines of its own (lines are never wrapped, so they are kept short here)."""
    families: dict[str, list[str]] = {}
    for name, value in ranking.items():
        family = name.split("@")[0] if "@" in name else ""
        families.setdefault(family, []).append(f"{name} {value:.4f}")
    lines: list[str] = []
    for items in families.values():
        line = ""
        for item in items:
            if line and len(line) + 3 + len(item) > width:
                lines.append(line)
                line = ""
            line = f"{line} · {item}" if line else item
        lines.append(line)
    return lines
