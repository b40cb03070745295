from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from topicclf.reports.safe import escape

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_are_shown_not_sent() -> None:
    assert escape("foot\x1b[31mball") == "foot\\x1b[31mball"
    assert escape("[bold]x") == "\\[bold]x"  # markup escaped too
    assert escape("a\x07b\rc\x9bd\u202ee") == "a\\x07b\\x0dc\\x9bd\\u202ee"
    assert escape("two\nlines\tand tab") == "two\nlines\tand tab"


def test_long_values_are_cut_with_their_length() -> None:
    assert escape("x" * 10, limit=4) == "xxxx... (10 characters)"
    assert escape("x" * 3000).endswith("... (3,000 characters)")
    assert escape("x" * 3000, limit=None) == "x" * 3000


@given(st.text(max_size=300))
def test_what_rich_prints_holds_no_control_character(text: str) -> None:
    console = Console(file=None, record=True, width=80, color_system=None)
    with console.capture() as captured:
        console.print(escape(text, limit=100))
    printed = captured.get()
    assert not CONTROL.search(printed)
    assert len(printed) < 100 * 6 + 200  # each kept character at most \uXXXX, plus the note
