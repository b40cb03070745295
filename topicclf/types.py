"""Small typed containers shared by every layer: documents and progress reporting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a corpus: an id, its text and its (possibly empty) topic labels."""

    id: str
    text: str
    labels: tuple[str, ...] = field(default=())
    # Set (with an empty text) for a record that could not be read, when the reader was asked
    # to report bad records instead of stopping at the first one.
    error: str | None = None
    # True when the reader made the id up from where the document is (file and line, path):
    # such ids are unique within their source, so streams need not remember them.
    generated_id: bool = False
    # The language the corpus says the document is in (a JSON Lines `language` field), for
    # `evaluate`'s figures by language; the analyzer never reads it (it detects).
    language: str | None = None


class Progress(Protocol):
    """Receives progress of long work; the CLI renders it, the core never prints."""

    def start(self, task: str, total: int | None = None) -> None:
        """Begin a task of `total` steps (None when unknown)."""

    def advance(self, steps: int = 1, **info: float) -> None:
        """Record `steps` more steps done, with optional figures such as a loss."""

    def finish(self) -> None:
        """End the current task."""


class NullProgress:
    """A Progress that reports nothing."""

    def start(self, task: str, total: int | None = None) -> None:
        """Begin a task (ignored)."""

    def advance(self, steps: int = 1, **info: float) -> None:
        """Advance (ignored)."""

    def finish(self) -> None:
        """End a task (ignored)."""
