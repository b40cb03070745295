"""Unlabelled plain text: one document per line (a file or stdin)."""

from __future__ import annotations

from collections.abc import Iterator

from topicclf.corpus.base import CorpusOptions, display_name, numbered_lines
from topicclf.types import Document


def read_lines(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream one unlabelled document per line; blank lines are kept as empty documents."""
    stem = display_name(path)
    for lineno, line in numbered_lines(path, options):
        yield Document(f"{stem}:{lineno}", line, generated_id=True)
