"""Unlabelled plain text: one document per line (format `lines`), or the whole file (or all
of stdin) as one document (format `text`)."""

from __future__ import annotations

from collections.abc import Iterator

from topicclf.corpus.base import (
    BinarySniffer,
    ChangeWatch,
    CorpusOptions,
    RecordTooLongError,
    bad_record,
    decode_text,
    display_name,
    encoding_error,
    read_capped,
    record_limit,
    source_error,
    standard_input,
    too_long_error,
)
from topicclf.corpus.lines import LineFormat, line_documents
from topicclf.errors import CorpusFormatError
from topicclf.types import Document


def read_lines(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream one unlabelled document per line; blank lines are kept as empty documents."""
    return line_documents(path, options, LINES)


def parse_plain_line(line: str, where: str, default_id: str, options: CorpusOptions) -> Document:
    """One line of plain text as an unlabelled document with a `name:line` id."""
    return Document(default_id, line, generated_id=True)


# Blank lines stay: `tag` gives every input line an output line, so outputs line up.
LINES = LineFormat(parse_plain_line, keeps_blank=True)


def read_text(path: str, options: CorpusOptions) -> Iterator[Document]:
    """The whole file (or stdin) as one unlabelled document, its id the file's name."""
    doc_id = display_name(path)
    try:
        raw = _read_whole(path, options)
    except IsADirectoryError:
        raise CorpusFormatError(f"{path}: is a directory, not a text file") from None
    except OSError as exc:
        raise source_error(path, exc) from None
    except RecordTooLongError as exc:
        placeholder = bad_record(exc, doc_id, options)
        if placeholder is not None:
            yield placeholder
        return
    try:
        text = decode_text(raw, options)
    except UnicodeDecodeError as exc:
        placeholder = bad_record(encoding_error(path, None, options, exc), doc_id, options)
        if placeholder is not None:
            yield placeholder
        return
    yield Document(doc_id, text, generated_id=True)


def _read_whole(path: str, options: CorpusOptions) -> bytes:
    """A file's (or stdin's) bytes, refused when binary; more than `record_limit()` bytes
    make it a bad record, read no further."""
    if path == "-":
        stdin = standard_input()
        handle = getattr(stdin, "buffer", None)
        if handle is None:  # a text stream without bytes under it (e.g. io.StringIO)
            text = stdin.read(record_limit() + 1)
            if len(text) > record_limit():
                raise too_long_error(path, len(text), ended=False)
            return text.encode("utf-8", "surrogatepass")
        read = getattr(handle, "read1", handle.read)
        return read_capped(BinarySniffer(read, path, options.encoding), path)
    with open(path, "rb") as file:
        read = ChangeWatch(path, file).reader(file.read1, lambda: "the document")
        return read_capped(BinarySniffer(read, path, options.encoding), path)
