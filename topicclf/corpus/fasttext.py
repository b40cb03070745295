"""fastText supervised format: `__label__a __label__b text` on each line."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import IO

from topicclf import config
from topicclf.corpus.base import (
    CorpusOptions,
    check_topic_names,
    clean_labels,
    scrub_surrogates,
)
from topicclf.corpus.lines import LineFormat, line_documents
from topicclf.errors import CorpusFormatError
from topicclf.types import Document

PREFIX = "__label__"


_LABEL = re.compile(r"\s*" + PREFIX + r"(\S*)")


def read_fasttext(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a fastText-format file; labels are the leading `__label__` tokens."""
    return line_documents(path, options, FASTTEXT)


def parse_fasttext_line(line: str, where: str, default_id: str, options: CorpusOptions) -> Document:
    """One fastText line: the `__label__` tokens before the first word are its labels (tokens
    are separated by any white space), the rest is its text, kept as it is."""
    labels: list[str] = []
    listed = 0
    position = 0
    while match := _LABEL.match(line, position):
        listed += 1
        if listed <= config.MAX_TOPIC_NAMES_LISTED:  # counted, never built, past the bound
            labels.append(match.group(1))
        position = match.end()
    check_topic_names(listed, where)
    return Document(
        default_id, line[position:].strip(), clean_labels(labels, where), generated_id=True
    )


FASTTEXT = LineFormat(parse_fasttext_line)


def write_fasttext(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents in fastText format; returns how many were written."""
    count = 0
    for doc in documents:
        doc = Document(
            scrub_surrogates(doc.id),
            scrub_surrogates(doc.text),
            tuple(scrub_surrogates(label) for label in doc.labels),
        )
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
        # A leading byte order mark is dropped by the reader, as at any line's start: what
        # follows it would then be read as a label (pass 47).
        if text.lstrip("\ufeff").lstrip().startswith(PREFIX):
            raise CorpusFormatError(
                f"document {doc.id}: the text starts with {PREFIX!r}, which the fastText "
                "format would read as a label; write JSON Lines instead"
            )
        prefix = "".join(f"{PREFIX}{label} " for label in doc.labels)
        handle.write(prefix + text + "\n")
        count += 1
    return count
