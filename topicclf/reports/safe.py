"""Text from files and models made safe for a terminal: rich markup escaped, control
characters shown as escapes (a topic name holding ESC [31m must not recolour, retitle or
clear the user's terminal), and long values cut short (rich wraps a 20 MB string in minutes).

The one rule for a path, a model or topic name, or a message on the terminal is `escape`:
one line, every character that could act on a terminal or end a line shown as an escape."""

from __future__ import annotations

import re

from rich.markup import escape as escape_markup

from topicclf.config import INFO_TOPIC_CHARS

# What could act on a terminal or reorder what it shows, in any text: C0 controls (tab and
# newline aside), DEL, C1 controls (U+009B is a CSI to a terminal that honours 8-bit
# controls, U+0085 a line end), the line and paragraph separators U+2028/U+2029, the
# bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), and lone surrogates:
# the undecodable bytes of a file name (0x9B read as U+DC9B), which a stream with
# "surrogateescape" would otherwise write back as the raw byte.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# The same, and tab and newline: a message, a title or a table cell is one line, so a file
# named "x\nerror: ..." cannot forge a second line (the README: one `error:` line).
# The web page shows names and words by this rule too: `visible` in server/static/page.js
# mirrors this class and `_visible`'s forms; change both (tests/test_server_page.py compares).
_CONTROL_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
TERMINAL_MAX_CHARS = 2000  # one value (a table cell, a message) as a terminal shows it


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_controls(text: str) -> str:
    """`text` with its control characters (tab and newline aside), line separators, bidi
    overrides and lone surrogates shown as `\\x1b`-style escapes, nothing else changed: for
    text of many lines read in a terminal, such as a Markdown report."""
    return _CONTROL.sub(_visible, text)


def one_line(text: str) -> str:
    """`text` as one line: `visible_controls`, with tab and newline shown as escapes too."""
    return _CONTROL_ONE_LINE.sub(_visible, text)


def escape(text: object, limit: int | None = TERMINAL_MAX_CHARS) -> str:
    """`text` ready for rich to print as one line: control characters (newline too) as
    `\\x1b`-style escapes, markup escaped, cut to `limit` characters with the full length
    said (None: never cut)."""
    text = str(text)
    cut = ""
    if limit is not None and len(text) > limit:
        cut = f"... ({len(text):,} characters)"
        text = text[:limit]
    return escape_markup(one_line(text)) + cut


def topic_cell(name: object) -> str:
    """A topic name as a terminal table or list shows it: `escape`d, cut to
    `config.INFO_TOPIC_CHARS` characters with its full length said, as `info` shows names (a
    1,000-character name, the longest a corpus may give, folded over 34 rows; pass 46)."""
    return escape(name, limit=INFO_TOPIC_CHARS)
