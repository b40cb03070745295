"""Unlabelled plain text: one document per line (a file or stdin)."""

from __future__ import annotations

from collections.abc import Iterator

from topicclf.corpus.base import CorpusOptions
from topicclf.corpus.lines import LineFormat, line_documents
from topicclf.types import Document


def read_lines(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream one unlabelled document per line; blank lines are kept as empty documents."""
    return line_documents(path, options, LINES)


def parse_plain_line(line: str, where: str, default_id: str, options: CorpusOptions) -> Document:
    """One line of plain text as an unlabelled document with a `name:line` id."""
    return Document(default_id, line, generated_id=True)


# Blank lines stay: `tag` gives every input line an output line, so outputs line up.
LINES = LineFormat(parse_plain_line, keeps_blank=True)
