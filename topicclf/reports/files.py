"""Evaluation reports as JSON (everything), CSV (per-topic rows) and Markdown (for reviews)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from topicclf.metrics import EvaluationReport, summary_metrics

SCHEMA_VERSION = 1


def to_json(report: EvaluationReport, context: dict[str, Any]) -> str:
    """The whole report: schema version, context (model, corpus), summary and per-topic rows."""
    from topicclf.scoring import Tagged

    data = {
        "schema_version": SCHEMA_VERSION,
        **context,
        "summary": summary_metrics(report),
        **report.to_dict(),
        # Each document's topics exactly as `topicclf tag --scores` writes them.
        "predictions": [Tagged(i, t).to_record(scores=True) for i, t in report.predictions],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def to_csv(report: EvaluationReport, context: dict[str, Any]) -> str:
    """One row per topic: topic, precision, recall, f1, support, predicted, tp, fp, fn."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["topic", "precision", "recall", "f1", "support", "predicted", "tp", "fp", "fn"]
    )
    for t in report.per_topic:
        writer.writerow(
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
            ]
        )
    return buffer.getvalue()


def md_cell(text: str) -> str:
    """Escape a Markdown table cell."""
    return text.replace("|", "\\|")


def to_markdown(report: EvaluationReport, context: dict[str, Any]) -> str:
    """A summary table and the per-topic table sorted by support, ready for a pull request."""
    lines = ["# Evaluation report", ""]
    for key in ("model", "corpus"):
        if key in context:
            lines.append(f"- {key}: `{context[key].get('path', '')}`")
    lines += [f"- documents: {report.n_documents}, topics: {report.n_topics}", ""]
    lines += ["| average | precision | recall | F1 |", "|---|---:|---:|---:|"]
    for scheme in ("micro", "macro", "weighted", "samples"):
        avg = getattr(report, scheme)
        lines.append(f"| {scheme} | {avg.precision:.4f} | {avg.recall:.4f} | {avg.f1:.4f} |")
    lines += [
        "",
        f"Subset accuracy {report.subset_accuracy:.4f}, Hamming loss {report.hamming_loss:.4f}, "
        f"documents without a predicted topic: {report.documents_without_prediction}.",
        "",
        "| topic | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in sorted(report.per_topic, key=lambda t: (-t.support, t.topic)):
        lines.append(
            f"| {md_cell(t.topic)} | {t.precision:.4f} | {t.recall:.4f} | {t.f1:.4f} "
            f"| {t.support} |"
        )
    if report.unknown_topics:
        lines += [
            "",
            "Topics unknown to the model (counted as misses): "
            + ", ".join(f"{k} ({v})" for k, v in report.unknown_topics.items()),
        ]
    return "\n".join(lines) + "\n"
