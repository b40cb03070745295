"""JSON Lines corpora: one object per line with a text field, a list of labels and an id."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import IO, Any

from topicclf import config, jsontext
from topicclf.corpus.base import (
    LANGUAGE_FIELD,
    CorpusOptions,
    check_topic_names,
    clean_labels,
    scrub_surrogates,
)
from topicclf.corpus.lines import LineFormat, line_documents
from topicclf.errors import CorpusFormatError
from topicclf.types import Document


def read_jsonl(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream documents from a JSON Lines file (or '-', stdin)."""
    return line_documents(path, options, JSONL)


class BigInt:
    """An integer literal too long for int() (Python limits conversions to 4300 digits)."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits


def _parse_int(digits: str) -> int | BigInt:
    # Kept as digits: an id of 5000 digits is still an id, and no record fails on it.
    try:
        return int(digits)
    except ValueError:
        return BigInt(digits)


class _Repeating(dict[str, Any]):
    """A JSON object that names some keys more than once (json keeps the last silently)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Repeating(obj)
    marked.repeated = tuple(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return marked


def _type_name(value: object) -> str:
    return "int" if isinstance(value, BigInt) else type(value).__name__


# What json.loads(line, parse_int=..., object_pairs_hook=...) builds on every call (a decoder
# and its scanner), built once: a record is read per line. Its only state is the scanner's
# cache of key strings, emptied after each call.
_DECODER = json.JSONDecoder(parse_int=_parse_int, object_pairs_hook=_object)
_BOM = "\ufeff"


def parse_record(line: str, where: str, default_id: str, options: CorpusOptions) -> Document:
    """One JSON Lines record as a Document; `where` names it in errors (file:line).

    Lone surrogates (JSON escapes such as \\ud800) become U+FFFD, integers of any length
    are read (as ids they keep all their digits); any other failure raises.
    """
    try:
        if line.startswith(_BOM):  # as json.loads says it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", line, 0)
        record = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        # json's message reads on into the position it leaves out ("... character at").
        raise CorpusFormatError(f"{where}: invalid JSON ({exc.msg.removesuffix(' at')})") from None
    if not isinstance(record, dict):
        raise CorpusFormatError(f"{where}: expected a JSON object, got {_type_name(record)}")
    reads_topics = options.labels_files == "read"
    used = (options.text_field, options.id_field, LANGUAGE_FIELD) + (
        (options.labels_field,) if reads_topics else ()
    )
    repeated = [key for key in getattr(record, "repeated", ()) if key in used]
    if repeated:  # which of the values is meant cannot be told
        raise CorpusFormatError(
            f"{where}: the record repeats the field {repeated[0]!r}; give it once"
        )
    text = record.get(options.text_field)
    if not isinstance(text, str):
        if options.text_field not in record:
            problem = "missing"
        else:
            problem = (
                "null, not a string" if text is None else f"a {_type_name(text)}, not a string"
            )
        raise CorpusFormatError(
            f"{where}: the text field {options.text_field!r} is {problem} "
            "(name the field with --text-field, text_field= in Python)"
        )
    labels = record.get(options.labels_field, []) if reads_topics else []
    if labels is None:
        labels = []
    if isinstance(labels, list):  # counted before each name is checked and scrubbed
        check_topic_names(len(labels), where)
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise CorpusFormatError(
            f"{where}: the labels field {options.labels_field!r} must be a list of strings"
        )
    labels = clean_labels([scrub_surrogates(x) for x in labels], where)
    language = record.get(LANGUAGE_FIELD)
    if language is not None and not isinstance(language, str):
        raise CorpusFormatError(f"{where}: the language field must be a string (a name or code)")
    if language is not None and len(language) > config.MAX_LANGUAGE_CHARS:
        raise CorpusFormatError(
            f"{where}: the language field is {len(language):,} characters long, more than the "
            f"{config.MAX_LANGUAGE_CHARS} a language name or code may have"
        )
    language = scrub_surrogates(language).strip() or None if language is not None else None
    raw_id = record.get(options.id_field)
    # An empty or blank id is no id, in every reader: a CSV cell cannot tell "" from a
    # missing value, and two records with "" would otherwise be duplicates of each other.
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        return Document(
            default_id, scrub_surrogates(text), labels, generated_id=True, language=language
        )
    if isinstance(raw_id, BigInt):
        doc_id = raw_id.digits
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        doc_id = scrub_surrogates(str(raw_id))
    else:
        raise CorpusFormatError(
            f"{where}: the id field {options.id_field!r} must be a string or an integer"
        )
    return Document(doc_id, scrub_surrogates(text), labels, language=language)


JSONL = LineFormat(parse_record, escapes_backslashes=True)


def write_jsonl(documents: Iterable[Document], handle: IO[str], options: CorpusOptions) -> int:
    """Write documents as JSON Lines; returns how many were written."""
    count = 0
    for doc in documents:
        record = {
            options.id_field: scrub_surrogates(doc.id),
            options.text_field: scrub_surrogates(doc.text),
            options.labels_field: [scrub_surrogates(label) for label in doc.labels],
        }
        if doc.language:
            record[LANGUAGE_FIELD] = scrub_surrogates(doc.language)
        handle.write(jsontext.dumps(record) + "\n")
        count += 1
    return count
