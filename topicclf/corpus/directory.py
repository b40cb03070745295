"""Directory corpora: `.txt` files with sibling `.labels` files, or one sub-folder per topic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from topicclf.corpus.base import (
    ChangeWatch,
    CorpusOptions,
    bad_record,
    clean_labels,
    decode_text,
    encoding_error,
    read_capped,
    source_error,
)
from topicclf.errors import CorpusFormatError
from topicclf.types import Document

LABELS_SUFFIX = ".labels"


def _read_file(path: Path, options: CorpusOptions) -> str:
    try:
        with path.open("rb") as handle:
            read = ChangeWatch(str(path), handle).reader(handle.read1, lambda: "its text")
            raw = read_capped(read, str(path))
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise source_error(path, exc) from None
        raise CorpusFormatError(
            f"{path}: no such file (it was removed after the directory was listed)"
        ) from None
    except OSError as exc:  # e.g. made unreadable after the directory was listed
        raise source_error(path, exc) from None
    # Newlines as a text-mode read gives them: "\r\n" and "\r" become "\n".
    try:
        text = decode_text(raw, options)
    except UnicodeDecodeError as exc:
        raise encoding_error(str(path), None, options, exc) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_files(root: Path) -> list[Path]:
    """The `.txt` files below a directory, sorted so every run sees the same order; a link
    that leads nowhere (a loop, a missing target) is listed too, to be reported when read."""
    return sorted(p for p in root.rglob("*.txt") if p.is_file() or _broken_link(p))


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def read_txtdir(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream `.txt` files below a directory; labels come from `name.labels` beside each file."""
    root = Path(path)
    if not root.is_dir():
        raise CorpusFormatError(f"{path}: not a directory")
    for file in text_files(root):
        doc = text_file_document(root, file, options)
        if doc is not None:
            yield doc


def text_file_document(root: Path, file: Path, options: CorpusOptions) -> Document | None:
    """One `.txt` file below `root` as a document, with the labels of its `.labels` sibling;
    a file that cannot be read is a bad record (None when skipped)."""
    try:
        return _text_file_document(root, file, options)
    except CorpusFormatError as exc:
        return bad_record(exc, file.relative_to(root).with_suffix("").as_posix(), options)


def _text_file_document(root: Path, file: Path, options: CorpusOptions) -> Document:
    labels_file = file.with_suffix(LABELS_SUFFIX)
    labels: tuple[str, ...] = ()
    if labels_file.is_file():
        labels = clean_labels(_read_file(labels_file, options).splitlines(), str(labels_file))
    doc_id = file.relative_to(root).with_suffix("").as_posix()
    return Document(doc_id, _read_file(file, options), labels, generated_id=True)


def read_folders(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream a single-label corpus laid out as one sub-folder per topic, one file per document."""
    root = Path(path)
    if not root.is_dir():
        raise CorpusFormatError(f"{path}: not a directory")
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            if file.name.startswith("."):
                continue
            doc_id = file.relative_to(root).as_posix()
            doc: Document | None
            try:
                doc = Document(doc_id, _read_file(file, options), (folder.name,), generated_id=True)
            except CorpusFormatError as exc:
                doc = bad_record(exc, doc_id, options)
            if doc is not None:
                yield doc


def looks_like_folders(root: Path) -> bool:
    """True when a directory holds topic sub-folders and no top-level `.txt` files."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(p.is_dir() for p in entries)
