"""JSON as topicclf writes it for people and programs: UTF-8 text kept readable, but every
character that could act on a terminal or split a line escaped (`\\u009b`), never raw.

`json.dumps(ensure_ascii=False)` escapes C0 controls only. C1 controls (U+009B is a CSI to
some terminals), DEL, the bidirectional overrides and isolates that reorder a shown line
(`cat report.json`), and U+2028/U+2029, which `str.splitlines` and JavaScript take for line
ends (one JSON Lines record read as two), are escaped here too, and so are lone surrogates
(the undecodable bytes of a file name, U+DC9B for 0x9B), which would otherwise make the
output invalid UTF-8 or write the raw byte. A JSON parser reads back exactly the same strings
(but a high surrogate just before a low one, which JSON reads as the pair's one character).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_UNSAFE_RANGES = ((0x7F, 0x9F), (0x2028, 0x202E), (0x2066, 0x2069), (0xD800, 0xDFFF))
# str.translate escapes in C: a regular expression calling back into Python per character
# took 1.8 s on 5 million of them (an id a client sent), on the server's event loop.
_ESCAPES = {c: f"\\u{c:04x}" for low, high in _UNSAFE_RANGES for c in range(low, high + 1)}
_UNSAFE = re.compile("[" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _UNSAFE_RANGES) + "]")


# What json.dumps(data, ensure_ascii=False) builds on every call, built once (it is
# stateless): tag writes one record per document.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def dumps(data: Any, **options: Any) -> str:
    """`json.dumps(data, ensure_ascii=False, **options)` with the characters above escaped."""
    text = json.dumps(data, ensure_ascii=False, **options) if options else _ENCODER.encode(data)
    # Such a character can only stand inside a JSON string, where \uXXXX means the same.
    return _safe(text)


def chunks(data: Any, *, indent: int, size: int = 1 << 16) -> Iterator[str]:
    """`dumps(data, indent=indent)` in pieces of about `size` characters, as they are encoded:
    a report of a million topics is 229 MB of JSON, and `dumps` holds every small piece of it
    before joining them (3 GB)."""
    encoder = json.JSONEncoder(ensure_ascii=False, indent=indent)
    held: list[str] = []
    length = 0
    for piece in encoder.iterencode(data):
        held.append(piece)
        length += len(piece)
        if length >= size:
            yield _safe("".join(held))
            held, length = [], 0
    yield _safe("".join(held))


_PIECE = 1 << 16  # characters escaped in one call


def _safe(text: str) -> str:
    # A piece always ends between characters, so escaping each piece escapes the whole.
    if not _UNSAFE.search(text):  # search: 5x faster
        return text
    if len(text) <= _PIECE:
        return text.translate(_ESCAPES)
    # In pieces: one call holds the interpreter throughout (0.3 s on 5 million C1 controls),
    # and the server builds a large answer in a thread beside its event loop.
    pieces = range(0, len(text), _PIECE)
    return "".join([text[i : i + _PIECE].translate(_ESCAPES) for i in pieces])


def encoded_size(text: str) -> int:
    """Bytes `text` takes as a JSON string (quotes and escapes) in UTF-8, as `dumps` writes it."""
    return len(_safe(_ENCODER.encode(text)).encode("utf-8", "surrogatepass"))
