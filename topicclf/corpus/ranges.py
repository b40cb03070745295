"""Byte ranges of line-based corpora, for engines that read one file in parallel pieces:
the line-aligned cut planner, the line counter and the reader of one range."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import NamedTuple

from topicclf.corpus.base import CorpusOptions, is_compressed, record_limit
from topicclf.corpus.fasttext import FASTTEXT
from topicclf.corpus.jsonl import JSONL
from topicclf.corpus.lines import (
    LineFormat,
    LongLine,
    byte_reader,
    file_line_end,
    line_codec,
    line_documents,
    numbered_lines,
    split_lines,
)
from topicclf.corpus.plaintext import LINES
from topicclf.errors import CorpusFormatError
from topicclf.types import Document

LINE_FORMATS: dict[str, LineFormat] = {"jsonl": JSONL, "fasttext": FASTTEXT, "lines": LINES}


class RangeCount(NamedTuple):
    """What a byte range holds: its lines, and how many of them are records (documents or
    bad records; blank lines are not records except in the `lines` format)."""

    lines: int
    records: int


def _line_format(fmt: str) -> LineFormat:
    if fmt not in LINE_FORMATS:
        raise CorpusFormatError(
            f"byte ranges are read only in the formats {', '.join(LINE_FORMATS)}, not {fmt!r}"
        )
    return LINE_FORMATS[fmt]


def plan_cuts(path: str, pieces: int, options: CorpusOptions | None = None) -> list[int]:
    """Byte offsets [0, ..., size] cutting a file into at most `pieces` ranges, each starting
    at a line start (as the line splitter sees lines). A compressed file cannot be entered
    in the middle: it is one range, to its end wherever that is."""
    options = options or CorpusOptions()
    if is_compressed(path):
        return [0, sys.maxsize]
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as handle:
        codec = line_codec(options, handle.read(4))
        # Cut where the reader ends lines: a file of lone CR line ends (told from its start)
        # at its CRs, not at an LF it holds later inside a record.
        newline = file_line_end(handle, codec)
        for i in range(1, pieces):
            # From the byte before the ideal cut, so a cut already at a line start is kept.
            target = max(size * i // pieces - 1, cuts[-1])
            target -= target % codec.unit
            handle.seek(target)
            lines = split_lines(byte_reader(handle), newline, codec.unit, record_limit())
            first = next(lines, b"")
            if isinstance(first, LongLine):  # skipped, not held
                if not first.ended:
                    break
                position = target + first.size
            elif not first.endswith(newline):
                break  # the last line: no later line start
            else:
                position = target + len(first)
            if position >= size:
                break
            if position > cuts[-1]:
                cuts.append(position)
    cuts.append(size)
    return cuts


def count_range(
    path: str, fmt: str, start: int, stop: int | None, options: CorpusOptions
) -> RangeCount:
    """Count the lines and records of the byte range [start, stop) of a file."""
    spec = _line_format(fmt)
    lines = records = 0
    for line in numbered_lines(path, options, start, stop):
        lines += 1
        records += spec.is_record(line)
    return RangeCount(lines, records)


def read_range(
    path: str,
    fmt: str,
    start: int,
    stop: int | None,
    first_line: int,
    options: CorpusOptions,
) -> Iterator[Document]:
    """The documents of the byte range [start, stop) of a JSON Lines, fastText or plain-text
    file whose first line is number `first_line`: exactly those reading the whole file gives
    for these lines, with the same ids and bad records."""
    return line_documents(path, options, _line_format(fmt), start, stop, first_line)
