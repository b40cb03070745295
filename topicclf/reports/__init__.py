"""Rendering of evaluation reports, corpus statistics and model descriptions (no computing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from topicclf.errors import TopicclfError
from topicclf.fileio import atomic_output
from topicclf.metrics import EvaluationReport
from topicclf.reports.files import to_csv, to_json, to_markdown
from topicclf.reports.html import to_html

FILE_FORMATS = {".json": to_json, ".csv": to_csv, ".md": to_markdown, ".html": to_html}


def write_report(report: EvaluationReport, path: str | Path, context: dict[str, Any]) -> None:
    """Write a report in the format its file extension names (.json .csv .md .html), atomically."""
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_FORMATS:
        raise TopicclfError(
            f"{path}: unknown report format {suffix or '(no extension)'}; "
            f"use one of: {', '.join(FILE_FORMATS)}"
        )
    text = FILE_FORMATS[suffix](report, context)
    with atomic_output(path) as handle:
        handle.writelines([text] if isinstance(text, str) else text)
