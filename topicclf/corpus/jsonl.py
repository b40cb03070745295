"""JSON Lines corpora: one object per line with a text field, a list of labels and an id."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

from topicclf.corpus.base import (
    CorpusOptions,
    bad_record,
    clean_labels,
    display_name,
    numbered_lines,
)
from topicclf.errors import CorpusFormatError
from topicclf.types import Document


def read_jsonl(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a JSON Lines file."""
    stem = display_name(path)
    for lineno, line in numbered_lines(path, options):
        if not line.strip():
            continue
        try:
            yield parse_record(line, f"{path}:{lineno}", f"{stem}:{lineno}", options)
        except CorpusFormatError as exc:
            placeholder = bad_record(exc, f"{stem}:{lineno}", options)
            if placeholder is not None:
                yield placeholder


def parse_record(line: str, where: str, default_id: str, options: CorpusOptions) -> Document:
    """One JSON Lines record as a Document; `where` names it in errors (file:line)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusFormatError(f"{where}: invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise CorpusFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
    text = record.get(options.text_field)
    if not isinstance(text, str):
        problem = "missing" if text is None else f"a {type(text).__name__}, not a string"
        raise CorpusFormatError(
            f"{where}: the text field {options.text_field!r} is {problem} "
            "(set the text field name with the `text_field` option)"
        )
    labels = record.get(options.labels_field, [])
    if labels is None:
        labels = []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise CorpusFormatError(
            f"{where}: the labels field {options.labels_field!r} must be a list of strings"
        )
    raw_id = record.get(options.id_field)
    if raw_id is None:
        return Document(default_id, text, clean_labels(labels), generated_id=True)
    if isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        doc_id = str(raw_id)
    else:
        raise CorpusFormatError(
            f"{where}: the id field {options.id_field!r} must be a string or an integer"
        )
    return Document(doc_id, text, clean_labels(labels))


def write_jsonl(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as JSON Lines; returns how many were written."""
    count = 0
    for doc in documents:
        record = {
            options.id_field: doc.id,
            options.text_field: doc.text,
            options.labels_field: list(doc.labels),
        }
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count
