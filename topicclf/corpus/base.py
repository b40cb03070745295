"""Reader options, the Corpus handle and helpers shared by every corpus reader."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from topicclf.errors import BadRecordWarning, CorpusFormatError
from topicclf.types import Document


@dataclass(frozen=True)
class CorpusOptions:
    """How to read a corpus: encoding, field names, label separator, Reuters split."""

    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    text_field: str = "text"
    labels_field: str = "labels"
    id_field: str = "id"
    label_separator: str = "|"
    split: str = "all"
    categories: str = "topics"
    on_error: str = "raise"


Reader = Callable[[str, CorpusOptions], Iterator[Document]]


@dataclass(frozen=True)
class Corpus:
    """A re-iterable corpus: each iteration streams its documents from the source again."""

    path: str
    format: str
    options: CorpusOptions = field(default_factory=CorpusOptions)
    reader: Reader | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[Document]:
        assert self.reader is not None
        return self.reader(self.path, self.options)

    def describe(self) -> dict[str, str]:
        """A short description of where the documents come from, for manifests and reports."""
        out = {"path": self.path, "format": self.format}
        if self.format == "reuters":
            out["split"] = self.options.split
            out["categories"] = self.options.categories
        return out


def open_text(path: str, options: CorpusOptions) -> IO[str]:
    """Open a file (or stdin for '-') as text with the corpus encoding."""
    if path == "-":
        stream = sys.stdin
        if options.encoding_errors != "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=options.encoding_errors)
        return stream
    try:
        return open(path, encoding=options.encoding, errors=options.encoding_errors, newline="")
    except FileNotFoundError:
        raise CorpusFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusFormatError(f"{path}: is a directory, expected a file") from None
    except PermissionError:
        raise CorpusFormatError(f"{path}: permission denied") from None
    except LookupError:
        raise CorpusFormatError(
            f"unknown encoding {options.encoding!r}; set the `encoding` option "
            "to one Python knows, e.g. utf-8 or latin-1"
        ) from None


def numbered_lines(path: str, options: CorpusOptions) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without newline), turning decode errors into clear errors."""
    handle = open_text(path, options)
    lineno = 0
    try:
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as exc:
                raise encoding_error(path, lineno + 1, options, exc) from None
            if not line:
                return
            lineno += 1
            yield lineno, line.rstrip("\r\n")
    finally:
        if handle is not sys.stdin:
            handle.close()


def encoding_error(
    path: str, lineno: int | None, options: CorpusOptions, exc: UnicodeDecodeError
) -> CorpusFormatError:
    """A CorpusFormatError for undecodable bytes that names the `encoding` option."""
    where = f"{path}:{lineno}" if lineno else path
    return CorpusFormatError(
        f"{where}: cannot decode the text as {options.encoding} ({exc.reason}); "
        "set the `encoding` option (e.g. --encoding latin-1), or "
        "--encoding-errors replace to replace undecodable bytes"
    )


ON_ERROR = ("raise", "report", "skip")


def bad_record(error: CorpusFormatError, doc_id: str, options: CorpusOptions) -> Document | None:
    """Apply the `on_error` policy to an unreadable record: raise it, or warn and return a
    placeholder document carrying the error ('report'), or None ('skip')."""
    if options.on_error == "raise":
        raise error
    warnings.warn(str(error), BadRecordWarning, stacklevel=3)
    if options.on_error == "skip":
        return None
    return Document(doc_id, "", (), error=str(error), generated_id=True)


def display_name(path: str) -> str:
    """The name used in generated document ids: the file name without suffixes, or 'stdin'."""
    if path == "-":
        return "stdin"
    name = Path(path).name
    return name.split(".", 1)[0] or name


def clean_labels(labels: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Strip labels, drop empty ones and duplicates, keeping the first occurrence's order."""
    seen: dict[str, None] = {}
    for label in labels:
        label = label.strip()
        if label:
            seen.setdefault(label, None)
    return tuple(seen)
