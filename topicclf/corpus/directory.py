"""Directory corpora: `.txt` files with sibling `.labels` files, or one sub-folder per topic."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from topicclf import config
from topicclf.corpus.base import (
    ChangeWatch,
    CorpusOptions,
    bad_record,
    check_source,
    check_topic_names,
    clean_labels,
    decode_text,
    encoding_error,
    file_kind,
    open_regular_bytes,
    read_capped,
    refuse_binary,
    scrub_surrogates,
    source_error,
    uncompressed_name,
)
from topicclf.errors import CorpusFormatError, OutputError
from topicclf.types import Document

LABELS_SUFFIX = ".labels"
# A .labels file holds one topic a line, and lines end at "\n" ("\r\n" and "\r" become
# "\n" as the file is read), nowhere else: str.splitlines also splits at \v \f \x1c-\x1e
# \x85 U+2028 U+2029, so a topic holding one was read back as two.
LABELS_LINE_BREAKS = ("\n", "\r")


def labels_file_topics(text: str, where: str) -> tuple[str, ...]:
    """The topics of a .labels file's (decoded, newline-translated) text: one a line."""
    body = text.removesuffix("\n")  # the last line's end starts no line of its own
    # Counted before the lines are split: 67 million blank lines made as many strings.
    check_topic_names(body.count("\n") + 1 if body else 0, where)
    return clean_labels(body.split("\n") if body else [], where)


def check_labels_file_topics(topics: Iterable[str], where: str) -> None:
    """Refuse a topic a .labels file cannot hold: one that would not read back as itself
    (a line break splits it in two; white space at either end is stripped; empty is none)."""
    for topic in topics:
        if any(brk in topic for brk in LABELS_LINE_BREAKS):
            why = "holds a line break, and a .labels file holds one topic a line"
        elif not topic or topic != topic.strip():
            why = "is empty or has white space at either end, which reading strips"
        else:
            continue
        raise OutputError(
            f"{where}: the topic {topic!r} {why}, so it would not read back as one topic; "
            "write the tags as JSON Lines instead (tag MODEL DIR -o tags.jsonl)"
        )


def labels_file_text(topics: Iterable[str], where: str) -> str:
    """The text of a .labels file for `topics`, one a line: what `labels_file_topics`
    reads back as exactly these topics; a topic it could not is refused (OutputError)."""
    topics = list(topics)
    check_labels_file_topics(topics, where)
    return "".join(f"{topic}\n" for topic in topics)


def _read_file(path: Path, options: CorpusOptions) -> str:
    try:
        with open_regular_bytes(str(path)) as handle:  # a .gz file decompressed
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
    # The test every other text source gets: a UTF-16 file without a byte order mark, or
    # NULs, read as text would be an empty document, tagged with no error.
    refuse_binary(path, raw[: config.BINARY_SNIFF_BYTES], options.encoding)
    # Newlines as a text-mode read gives them: "\r\n" and "\r" become "\n".
    try:
        text = decode_text(raw, options)
    except UnicodeDecodeError as exc:
        raise encoding_error(str(path), None, options, exc) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


TEXT_SUFFIX = ".txt"
SHOWN_SKIPPED = 3  # names a warning about skipped entries shows


def is_text_name(name: str) -> bool:
    """True for a document file's name in a text directory: NAME.txt, or NAME.txt.gz (read
    decompressed), in any case (Windows tools write NAME.TXT)."""
    return uncompressed_name(name).lower().endswith(TEXT_SUFFIX)


def document_path(root: Path, file: Path) -> str:
    """A text file's id: its path below `root` without `.txt` (and `.gz`), '/' between
    folders ('sub/a' for sub/a.TXT.gz)."""
    relative = file.relative_to(root)
    name = uncompressed_name(relative.name)
    return (relative.parent / name[: -len(TEXT_SUFFIX)]).as_posix()


def labels_file(file: Path) -> Path:
    """Where a text file's topics are: NAME.labels beside NAME.txt (or NAME.txt.gz)."""
    name = uncompressed_name(file.name)
    return file.with_name(name[: -len(TEXT_SUFFIX)] + LABELS_SUFFIX)


def text_files(root: Path, *, warn: bool = True) -> list[Path]:
    """The document files below a directory (`is_text_name`), sorted so every run sees the
    same order; a link that leads nowhere (a loop, a missing target) is listed too, to be
    reported when read. With `warn`, one warning names what is below it and is not read
    (other files, links to directories, folders that cannot be listed), so no document is
    dropped without a word; hidden entries (.git, .DS_Store) are not read, and counted in it."""
    files: list[Path] = []
    skipped = _Skipped(root)
    for here, names in _walk(root, skipped):
        for name in names:
            path = here / name
            if is_text_name(name) and (path.is_file() or _broken_link(path)):
                files.append(path)
            elif is_text_name(name):
                skipped.add("special file(s), not regular files", path)
            elif not name.lower().endswith(LABELS_SUFFIX):
                skipped.add("file(s) not named .txt", path)
    kept = _one_per_name(sorted(files), skipped)
    if warn:
        skipped.warn(
            "a text directory reads NAME.txt and NAME.txt.gz files (any case) below it, "
            "with no links to directories followed"
        )
    return kept


def _one_per_name(files: list[Path], skipped: _Skipped) -> list[Path]:
    """One document per name: NAME.txt, NAME.TXT and NAME.txt.gz would share an id and a
    NAME.labels file (one document's topics written over another's), so the first of
    NAME.txt, then the others in sorted order, is read and the rest are named as skipped."""
    chosen: dict[Path, Path] = {}
    for file in sorted(files, key=lambda f: (not f.name.endswith(TEXT_SUFFIX), f)):
        target = labels_file(file)
        if target in chosen:
            skipped.add(
                "file(s) whose name another document has (NAME.txt beside NAME.TXT or "
                "NAME.txt.gz: one id, one .labels file), not read: rename them",
                file,
            )
        else:
            chosen[target] = file
    return sorted(chosen.values())


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def _walk(root: Path, skipped: _Skipped) -> Iterator[tuple[Path, list[str]]]:
    """Each folder below `root`, top down, with the names of the entries in it that are not
    folders. What is not walked is a skipped entry, where os.walk would leave it out without
    a word: a link to a directory (it may lead back up the tree, a loop, or out of it), a
    folder that cannot be listed, and an entry whose path is too long to open. Folders wait
    on a list, not on the call stack: Python 3.11's os.walk recursed once per level, and a
    tree 1,000 levels deep ended in RecursionError. Hidden entries are skipped ones too, and
    a hidden folder is not walked (`.git` is one entry, not its thousands of files)."""
    waiting = [root]
    while waiting:
        here = waiting.pop()
        try:
            folders, links, names = _listing(here)
        except OSError as exc:
            if here == root:
                raise source_error(root, exc) from None
            skipped.add("folder(s) that cannot be listed", here)
            continue
        for name in links:
            skipped.add(_link_or_hidden(name), here / name)
        for name in [*folders, *names]:
            if is_hidden(name):
                skipped.add(HIDDEN, here / name)
        folders = [name for name in folders if not is_hidden(name)]
        names = [name for name in names if not is_hidden(name)]
        # No call can open such a path: named once here, not failed on one by one later.
        too_long = {name for name in names + folders if _path_bytes(here / name) >= PATH_MAX}
        for name in sorted(too_long):
            skipped.add(_TOO_LONG, here / name)
        yield here, [name for name in names if name not in too_long]
        # Reversed, so the first sub-folder is walked first, as os.walk does.
        waiting.extend(here / name for name in reversed(folders) if name not in too_long)


# One rule for both directory readers: `folders` read no hidden entry, and `txtdir` read
# hidden .txt files (even inside .git); each said nothing of them.
HIDDEN = "hidden file(s) and folder(s), whose names start with '.'"


def is_hidden(name: str) -> bool:
    """True for a hidden entry's name (.git, .DS_Store, .NET), which no directory reader reads."""
    return name.startswith(".")


def _link_or_hidden(name: str) -> str:
    return HIDDEN if is_hidden(name) else "link(s) to a directory, not followed"


PATH_MAX = 4096  # bytes of a path the kernel takes, its final NUL included (Linux)
_TOO_LONG = f"path(s) longer than {PATH_MAX - 1:,} bytes, too long to open"


def _path_bytes(path: Path) -> int:
    return len(os.fsencode(path))


def _listing(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """The names in `folder`: (sub-folders, links to directories, everything else)."""
    folders: list[str] = []
    links: list[str] = []
    names: list[str] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:  # as os.walk: an entry that cannot be examined is not a folder
                is_dir = False
            if is_dir:
                (links if entry.is_symlink() else folders).append(entry.name)
            else:
                names.append(entry.name)
    return folders, links, names


class _Skipped:
    """Entries of a corpus directory that are not read, by why, for one warning."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_reason: dict[str, list[Path]] = {}

    def add(self, reason: str, path: Path) -> None:
        """Note one entry not read."""
        self.by_reason.setdefault(reason, []).append(path.relative_to(self.root))

    def warn(self, rule: str) -> None:
        """One warning with the count and the first names of each kind of entry not read."""
        if not self.by_reason:
            return
        total = sum(len(paths) for paths in self.by_reason.values())
        kinds = []
        for reason, paths in self.by_reason.items():
            paths = sorted(paths)
            shown = ", ".join(repr(p.as_posix()) for p in paths[:SHOWN_SKIPPED])
            more = f" and {len(paths) - SHOWN_SKIPPED:,} more" if len(paths) > SHOWN_SKIPPED else ""
            kinds.append(f"{len(paths):,} {reason} ({shown}{more})")
        warnings.warn(
            f"{self.root}: {total:,} entr{'y' if total == 1 else 'ies'} not read as documents: "
            f"{'; '.join(kinds)}; {rule}",
            UserWarning,
            stacklevel=4,
        )


def _directory(path: str) -> Path:
    """A corpus directory, or the error saying what is there instead: nothing (it may have
    been removed since the command started: it is not called a file), or not a directory."""
    if not stat.S_ISDIR(check_source(path).st_mode):
        raise CorpusFormatError(f"{path}: not a directory")
    return Path(path)


def read_txtdir(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream `.txt` files below a directory; labels come from `name.labels` beside each file."""
    root = _directory(path)
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
        return bad_record(exc, document_path(root, file), options)


def _text_file_document(root: Path, file: Path, options: CorpusOptions) -> Document:
    labels = () if options.labels_files == "ignore" else _labels_of(file, options)
    doc_id = document_path(root, file)
    return Document(doc_id, _read_file(file, options), labels, generated_id=True)


def _labels_of(file: Path, options: CorpusOptions) -> tuple[str, ...]:
    """The topics in a text file's NAME.labels: none when there is no such name. Anything
    else there that is no readable file (a link to nothing, a directory, a named pipe) is
    the document's bad record, as for its .txt: taken as "no topics", the document was
    learned as an example of none of them."""
    sidecar = labels_file(file)
    try:
        mode = os.lstat(sidecar).st_mode
    except FileNotFoundError:
        return ()
    except OSError as exc:
        # A name too long to exist (NAME.labels of a 250-byte NAME.txt) has no topics.
        if exc.errno == errno.ENAMETOOLONG:
            return ()
        raise source_error(sidecar, exc) from None
    if stat.S_ISLNK(mode):
        mode = check_source(sidecar).st_mode  # a link to nothing, or a loop, said so
    if not stat.S_ISREG(mode):
        raise CorpusFormatError(
            f"{sidecar}: {file_kind(mode)}, not a regular file; NAME.labels holds the topics "
            f"of NAME.txt ({file.name}), one a line: make it a file, or remove it"
        )
    return labels_file_topics(_read_file(sidecar, options), str(sidecar))


def read_folders(path: str, options: CorpusOptions) -> Iterator[Document]:
    """Stream a single-label corpus laid out as one sub-folder per topic, one file per
    document (a .gz file decompressed, its id without .gz); files directly in the top
    directory, links to directories inside a topic and special files are not documents, and
    one warning names them."""
    root = _directory(path)
    skipped = _Skipped(root)
    try:
        topics, links, names = _listing(root)
    except OSError as exc:
        raise source_error(root, exc) from None
    # A topic folder that is a link is not followed either: `loop -> .` read the whole
    # corpus again as the topic "loop", `up -> ..` the parent's tree.
    for name in links:
        skipped.add(_link_or_hidden(name), root / name)
    for name in topics:
        if is_hidden(name):
            skipped.add(HIDDEN, root / name)
    for name in sorted(names):
        entry = root / name
        if is_hidden(name):
            skipped.add(HIDDEN, entry)
        elif _broken_link(entry):
            skipped.add("link(s) to nothing (a missing target or a loop)", entry)
        else:
            skipped.add("file(s) directly in the top directory, not in a topic folder", entry)
    files: list[tuple[tuple[str, ...], Path]] = []
    folders = sorted(root / name for name in topics if not is_hidden(name))
    topic_of = {folder.name: folder_topic(folder) for folder in folders}
    for folder in folders:
        for here, names in _walk(folder, skipped):
            for name in names:
                file = here / name
                if not file.is_file():
                    skipped.add("special file(s), not regular files", file)
                    continue
                files.append((topic_of[folder.name], file))
    skipped.warn(
        "in --format folders each document is a file inside its topic's folder (a link to "
        "a directory is not followed)"
    )
    _warn_topic_folders(
        root, topic_of, Counter(file.relative_to(root).parts[0] for _, file in files)
    )
    for topic, file in sorted(files, key=lambda item: item[1]):
        relative = file.relative_to(root)
        # Ids by the readers' rule for ids: a file name's undecodable bytes read as U+FFFD.
        doc_id = scrub_surrogates((relative.parent / uncompressed_name(relative.name)).as_posix())
        doc: Document | None
        try:
            doc = Document(doc_id, _read_file(file, options), topic, generated_id=True)
        except CorpusFormatError as exc:
            doc = bad_record(exc, doc_id, options)
        if doc is not None:
            yield doc


def folder_topic(folder: Path) -> tuple[str, ...]:
    """The topic a `folders` corpus's topic folder names, by the rule of every reader's
    topic names (`clean_labels`, `scrub_surrogates`): () when its name reads as none."""
    return clean_labels([scrub_surrogates(folder.name)], str(folder))


def _warn_topic_folders(
    root: Path, topic_of: dict[str, tuple[str, ...]], docs: Counter[str]
) -> None:
    """Warn of topic folders whose names read as one topic, or as none: stats, convert and
    train would otherwise see one topic, or unlabelled documents, without a word."""
    by_topic: dict[tuple[str, ...], list[str]] = {}
    for name, topic in topic_of.items():
        if docs[name]:
            by_topic.setdefault(topic, []).append(name)
    said = []
    for topic, names in by_topic.items():
        shown = ", ".join(repr(name) for name in names)
        if not topic:
            count = sum(docs[name] for name in names)
            said.append(
                f"folder(s) {shown} name no topic (empty once white space is stripped): "
                f"their {count:,} document(s) are read with no topic"
            )
        elif len(names) > 1:
            said.append(
                f"folders {shown} read as one topic, {topic[0]!r}, and their documents are "
                "read so; rename them to keep them apart"
            )
    if said:
        warnings.warn(
            f"{root}: {'; '.join(said)} (a topic name is read in Unicode NFC, stripped, "
            "undecodable bytes as U+FFFD, as in every format)",
            UserWarning,
            stacklevel=3,
        )


def looks_like_folders(root: Path) -> bool:
    """True when a directory holds topic sub-folders and no top-level `.txt` files."""
    entries = [p for p in root.iterdir() if not is_hidden(p.name)]
    return bool(entries) and all(p.is_dir() for p in entries)
