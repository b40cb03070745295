"""Text from files and models made safe for a terminal: rich markup escaped, control
characters shown as escapes (a topic name holding ESC [31m must not recolour, retitle or
clear the user's terminal), and long values cut short (rich wraps a 20 MB string in minutes)."""

from __future__ import annotations

import re

from rich.markup import escape as escape_markup

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates that reorder what is shown (U+202A-U+202E, U+2066-U+2069).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
TERMINAL_MAX_CHARS = 2000  # one value (a table cell, a message) as a terminal shows it


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str) -> str:
    """`text` with its control characters (tab and newline aside) and bidirectional
    overrides shown as `\\x1b`-style escapes, nothing else changed: for anything read in a
    terminal, such as a Markdown report."""
    return _CONTROL.sub(_visible, text)


def escape(text: object, limit: int | None = TERMINAL_MAX_CHARS) -> str:
    """`text` ready for rich to print: control characters as `\\x1b`-style escapes, markup
    escaped, cut to `limit` characters with the full length said (None: never cut)."""
    text = str(text)
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"... ({len(text):,} characters)"
        text = text[:limit]
    return escape_markup(visible_controls(text)) + cut
