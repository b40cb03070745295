"""The original Reuters-21578 distribution (SGML, latin-1), as a .tar.gz or a directory.

Splits: `all`; `modapte-train` / `modapte-test` (LEWISSPLIT TRAIN/TEST with TOPICS="YES",
restricted to the categories that have at least one training and one test document, and to
the documents left with at least one of them); `r8-*` and `r52-*` (the single-label subsets:
ModApte documents with exactly one topic, restricted to topics with a training and a test
document, which are 52; for R8, to the ten most frequent ModApte training topics, eight of
which have single-topic documents).
"""

from __future__ import annotations

import html
import lzma
import re
import tarfile
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from topicclf import config
from topicclf.corpus.base import (
    BinarySniffer,
    CorpusOptions,
    RecordTooLongError,
    clean_labels,
    open_regular_bytes,
    read_capped,
    record_limit,
)
from topicclf.errors import CorpusFormatError, TruncatedDocumentWarning
from topicclf.types import Document

SPLITS = (
    "all",
    "modapte-train",
    "modapte-test",
    "r8-train",
    "r8-test",
    "r52-train",
    "r52-test",
)
CATEGORY_FIELDS = ("topics", "places", "people", "orgs", "exchanges")
R8_TOPICS = ("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade")

_FILE = re.compile(r"reut2-\d{3}\.sgm$")
# Tags are found by scanning forward only (no lazy `.*?` up to a closing tag, which is
# quadratic when closing tags are missing); `[^<>]` keeps a tag within one `<...>`.
_DOC_TAG = re.compile(r"<REUTERS\b([^<>]*)>|</REUTERS>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What reading a damaged archive raises: tarfile's own errors for a bad header, but the
# decompressors' for damaged or cut data inside (an EOFError, which click turns into an
# "interrupted" exit 130).
_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class _Record:
    newid: str
    lewissplit: str
    has_topics: bool
    text: str
    categories: dict[str, tuple[str, ...]]
    listed: dict[str, int]


def is_reuters(path: Path) -> bool:
    """True for a Reuters-21578 .tar.gz, a reut2-*.sgm file, or a directory holding them."""
    if path.is_dir():
        return any(_FILE.search(p.name) for p in path.iterdir())
    name = path.name.lower()
    if _FILE.search(name):
        return True
    if name.endswith((".tar.gz", ".tgz")):
        try:
            with tarfile.open(path) as tar:
                return any(_FILE.search(m.name) for m in tar.getmembers())
        except _TAR_ERRORS:  # not a readable archive: said by whichever reader takes it
            return False
    return False


def _sgml_files(path: Path, encoding: str) -> Iterator[tuple[str, bytes]]:
    """The name and bytes of each reut2-*.sgm file of a source, each checked as it is read
    (`_Budget.read`): a directory's files, one such file, or an archive's members."""
    budget = _Budget(path, encoding)
    if path.is_dir():
        for file in sorted(p for p in path.iterdir() if _FILE.search(p.name)):
            yield str(file), _read_file(file, budget)
    elif _FILE.search(path.name):
        yield str(path), _read_file(path, budget)
    else:
        yield from _archive_files(path, budget)


class _Budget:
    """The bytes a Reuters source may still give: each file at most `record_limit()`, all of
    them at most `config.MAX_REUTERS_BYTES`. The reader holds every document (its splits need
    them all), so a sparse 9 GB file, /dev/zero or a member inflating to gigabytes must stop
    at a bound, not in a MemoryError."""

    def __init__(self, source: Path, encoding: str) -> None:
        self.source = source
        self.encoding = encoding
        self.left = config.MAX_REUTERS_BYTES

    def check(self, where: str, size: int) -> None:
        """Refuse a file of `size` bytes that would pass a bound, before it is read."""
        if size > min(record_limit(), self.left):
            raise self._too_long(where, f"{size:,} bytes, ")

    def read(self, read: Callable[[int], bytes], where: str) -> bytes:
        """A file's bytes from `read(n)`, refused when binary or past a bound."""
        try:
            raw = read_capped(
                BinarySniffer(read, where, self.encoding), where, min(record_limit(), self.left)
            )
        except RecordTooLongError:
            raise self._too_long(where, "") from None
        self.left -= len(raw)
        return raw

    def _too_long(self, where: str, size: str) -> CorpusFormatError:
        if record_limit() <= self.left:
            return CorpusFormatError(
                f"{where}: {size}more than the {record_limit():,} bytes topicclf reads from one "
                "reut2-*.sgm file (Reuters-21578's are under 1.4 MB each); is this the "
                "Reuters-21578 distribution?"
            )
        return CorpusFormatError(
            f"{where}: {size}more than the {self.left:,} bytes left of the "
            f"{config.MAX_REUTERS_BYTES:,} topicclf reads from the reut2-*.sgm files of one "
            f"Reuters source ({self.source}; Reuters-21578's 22 files hold 27 MB); is this "
            "the Reuters-21578 distribution?"
        )


def _read_file(file: Path, budget: _Budget) -> bytes:
    """One reut2-*.sgm file's bytes; a named pipe, device or directory is refused before it
    is read (a pipe would be waited on for ever, /dev/zero read without end)."""
    why = "; the reuters reader reads each reut2-*.sgm as a regular file"
    with open_regular_bytes(str(file), why) as handle:  # also one swapped in meanwhile
        return budget.read(handle.read, str(file))


def _archive_files(path: Path, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    """The reut2-*.sgm files of a tar archive (plain, gzip, bzip2 or xz), by name."""
    try:
        with tarfile.open(path) as tar:
            members = sorted(
                (m for m in tar.getmembers() if m.isfile() and _FILE.search(m.name)),
                key=lambda m: m.name,
            )
            # Checked whole before any member is read: damage garbles a member (into NUL
            # bytes, say) before the checksum at the end can tell that it is damage.
            _read_to_end(tar, path)
            if not members:
                raise CorpusFormatError(f"{path}: no reut2-*.sgm files in the archive")
            for member in members:
                where = f"{path}:{member.name}"
                budget.check(where, member.size)  # as the header says, before inflating
                handle = tar.extractfile(member)
                assert handle is not None
                yield where, budget.read(handle.read, where)
    except _TAR_ERRORS as exc:
        raise CorpusFormatError(
            f"{path}: not a readable tar archive ({_tar_reason(exc)})"
        ) from None


def _read_to_end(tar: tarfile.TarFile, path: Path) -> None:
    """Read an archive from where tarfile found its end to the end of the stream, which must
    hold only zero bytes. tarfile takes a damaged header for the end of the archive (the
    members after it were lost without a word), and a compressed stream is checked (gzip's
    CRC, bzip2's and xz's checks) only at its end, so a changed byte went unseen."""
    assert tar.fileobj is not None
    tar.fileobj.seek(tar.offset)
    position = tar.offset
    while chunk := tar.fileobj.read(1 << 20):
        data = chunk.lstrip(b"\0")
        if data:
            at = position + len(chunk) - len(data)
            raise CorpusFormatError(
                f"{path}: not a readable tar archive (damaged: its tar data at byte {at:,} "
                "is neither a member's header nor the zeros after the last one, so the "
                "members from there on cannot be read)"
            )
        position += len(chunk)


def _tar_reason(exc: Exception) -> str:
    """Why tarfile could not open an archive, on one line: it says so in one line per method
    it tried (`- method gz: ReadError('not a gzip file')`), which made a five-line error."""
    lines = str(exc).splitlines()
    tried = [re.sub(r"^- |ReadError\('(.*)'\)$", r"\1", line) for line in lines[1:]]
    return "; ".join(tried) if tried else str(exc)


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", html.unescape(text)).strip()


def _elements(body: str, tag: str) -> Iterator[str]:
    """The contents of each <tag ...>...</tag> of `body`, in linear time."""
    opening = re.compile(rf"<{tag}(?:\s[^<>]*)?>")
    closing = f"</{tag}>"
    position = 0
    while match := opening.search(body, position):
        end = body.find(closing, match.end())
        if end < 0:
            return  # no closing tag anywhere after: nothing more to find
        yield body[match.end() : end]
        position = end + len(closing)


def _element(body: str, tag: str) -> str | None:
    return next(_elements(body, tag), None)


def _documents(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(attributes, body) of each <REUTERS> document, and the NEWIDs of those without
    </REUTERS>: such a document runs to the next <REUTERS> or to the end of the file."""
    documents: list[tuple[str, str]] = []
    truncated: list[str] = []
    opened: re.Match[str] | None = None
    for tag in _DOC_TAG.finditer(text):
        is_opening = tag.group(0) != "</REUTERS>"
        if opened is not None:
            if is_opening:
                truncated.append(dict(_ATTR.findall(opened.group(1))).get("NEWID", "?"))
            documents.append((opened.group(1), text[opened.end() : tag.start()]))
        opened = tag if is_opening else None
    if opened is not None:
        truncated.append(dict(_ATTR.findall(opened.group(1))).get("NEWID", "?"))
        documents.append((opened.group(1), text[opened.end() :]))
    return documents, truncated


def _truncation_note(name: str, newids: list[str]) -> str:
    more = ", ..." if len(newids) > 5 else ""
    return (
        f"{name}: {len(newids)} <REUTERS> document(s) without </REUTERS> "
        f"(NEWID {', '.join(newids[:5])}{more}), read up to the next document or the end "
        "of the file; the file may be truncated"
    )


def _parse(name: str, raw: bytes, encoding: str) -> tuple[list[_Record], list[str]]:
    """The records of one SGML file, and notes about truncated documents to warn about."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise CorpusFormatError(
            f"{name}: cannot decode as {encoding} ({exc.reason}); "
            "the Reuters files are latin-1: use --encoding latin-1 (encoding= in Python)"
        ) from None
    documents, truncated = _documents(text)
    notes = [_truncation_note(name, truncated)] if truncated else []
    return [_record(attributes, body) for attributes, body in documents], notes


def _record(attributes: str, body: str) -> _Record:
    attrs = dict(_ATTR.findall(attributes))
    listed = {
        field: [_clean(d) for d in _elements(_element(body, field.upper()) or "", "D")]
        for field in CATEGORY_FIELDS
    }
    categories = {field: clean_labels(names) for field, names in listed.items()}
    content = _element(body, "TEXT") or ""
    title = _element(content, "TITLE")
    main = _element(content, "BODY")
    if title is None and main is None:
        # TYPE="UNPROC" stories carry their text directly inside TEXT.
        parts = [content]
    else:
        parts = [title or "", main or ""]
    doc_text = "\n".join(p for p in (_clean(part) for part in parts) if p)
    return _Record(
        newid=attrs.get("NEWID", ""),
        lewissplit=attrs.get("LEWISSPLIT", ""),
        has_topics=attrs.get("TOPICS") == "YES",
        text=doc_text,
        categories=categories,
        listed={field: len(names) for field, names in listed.items()},
    )


@lru_cache(maxsize=4)
def _load(path: str, mtime: float, encoding: str) -> tuple[tuple[_Record, ...], tuple[str, ...]]:
    # Cached, so the notes are returned (and warned about on every read), not warned here.
    records: list[_Record] = []
    notes: list[str] = []
    for name, raw in _sgml_files(Path(path), encoding):
        file_records, file_notes = _parse(name, raw, encoding)
        records.extend(file_records)
        notes.extend(file_notes)
    if not records:
        raise CorpusFormatError(f"{path}: no <REUTERS> documents found")
    return tuple(records), tuple(notes)


def option_problem(options: CorpusOptions) -> str | None:
    """Why the split or category field of `options` is none that Reuters-21578 has, or None.

    They are option values, not contents of the source: `validate_options` asks this when a
    corpus is opened, so every command and the API refuse them before any reading (they
    were a bad record in `tag` and `corpus stats`, an error in `train`).
    """
    if options.split not in SPLITS:
        return f"unknown Reuters split {options.split!r}; choose one of: {', '.join(SPLITS)}"
    if options.categories.lower() not in CATEGORY_FIELDS:
        return (
            f"unknown Reuters category field {options.categories!r}; "
            f"choose one of: {', '.join(CATEGORY_FIELDS)}"
        )
    return None


def read_reuters(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream the documents of one split of Reuters-21578 with the chosen category field."""
    problem = option_problem(options)  # said by open_corpus already; Corpus(...) made by hand
    if problem:
        raise CorpusFormatError(problem)
    field = options.categories.lower()
    source = Path(path)
    if not source.exists():
        raise CorpusFormatError(f"{path}: no such file or directory")
    # The SGML files are latin-1; a utf-8 default would fail on a few bytes.
    encoding = "latin-1" if options.encoding.lower() in ("utf-8", "utf8") else options.encoding
    records, notes = _load(str(source.resolve()), source.stat().st_mtime, encoding)
    for note in notes:
        warnings.warn(note, TruncatedDocumentWarning, stacklevel=2)
    if options.split == "all":
        for rec in records:
            yield Document(rec.newid, rec.text, rec.categories[field])
        return
    family, _, part = options.split.partition("-")
    part_name = part.upper()
    modapte = [r for r in records if r.has_topics and r.lewissplit in ("TRAIN", "TEST")]
    if family == "modapte":
        keep = _in_both_splits(modapte, field)
        for rec in modapte:
            labels = tuple(c for c in rec.categories[field] if c in keep)
            if rec.lewissplit == part_name and labels:
                yield Document(rec.newid, rec.text, labels)
        return
    # Counted as listed (test document 19918 lists trade twice), as the published R8 and
    # R52 subsets do, so their sizes match the literature.
    single = [r for r in modapte if r.listed[field] == 1]
    keep = _in_both_splits(single, field)
    if family == "r8":
        # R8 comes from R10, the ten most frequent ModApte training topics: of those, the
        # single-topic documents keep eight (wheat and corn never stand alone).
        counts = Counter(c for r in modapte if r.lewissplit == "TRAIN" for c in r.categories[field])
        keep &= {label for label, _ in counts.most_common(10)}
    for rec in single:
        if rec.lewissplit == part_name and rec.categories[field][0] in keep:
            yield Document(rec.newid, rec.text, rec.categories[field])


def _in_both_splits(records: list[_Record], field: str) -> set[str]:
    train = {c for r in records if r.lewissplit == "TRAIN" for c in r.categories[field]}
    test = {c for r in records if r.lewissplit == "TEST" for c in r.categories[field]}
    return train & test
