"""fastText supervised format: `__label__a __label__b text` on each line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from topicclf.corpus.base import CorpusOptions, clean_labels, display_name, numbered_lines
from topicclf.errors import CorpusFormatError
from topicclf.types import Document

PREFIX = "__label__"


def read_fasttext(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a fastText-format file; labels are the leading `__label__` tokens."""
    stem = display_name(path)
    for lineno, line in numbered_lines(path, options):
        if not line.strip():
            continue
        tokens = line.split(" ")
        labels: list[str] = []
        rest = 0
        for rest, token in enumerate(tokens):  # noqa: B007 - rest is used after the loop
            if token.startswith(PREFIX):
                labels.append(token[len(PREFIX) :])
            elif token:
                break
        else:
            rest = len(tokens)
        text = " ".join(tokens[rest:]).strip()
        yield Document(f"{stem}:{lineno}", text, clean_labels(labels), generated_id=True)


def write_fasttext(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents in fastText format; returns how many were written."""
    count = 0
    for doc in documents:
        for label in doc.labels:
            if any(ch.isspace() for ch in label):
                raise CorpusFormatError(
                    f"document {doc.id}: label {label!r} contains white space, "
                    "which the fastText format cannot hold; write JSON Lines instead"
                )
        text = " ".join(doc.text.split())
        if not text and not doc.labels:
            raise CorpusFormatError(
                f"document {doc.id}: empty and without labels, which the fastText format "
                "cannot hold (it would be a blank line); write JSON Lines instead"
            )
        if text.startswith(PREFIX):
            raise CorpusFormatError(
                f"document {doc.id}: the text starts with {PREFIX!r}, which the fastText "
                "format would read as a label; write JSON Lines instead"
            )
        prefix = "".join(f"{PREFIX}{label} " for label in doc.labels)
        handle.write(prefix + text + "\n")
        count += 1
    return count
