from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from topicclf.reports.safe import escape, one_line, visible_controls

# What must never reach a terminal raw from a name or a path: C0 and C1 controls, DEL, the
# line and paragraph separators, bidi overrides and isolates, and lone surrogates (the
# undecodable bytes of a file name, which a surrogateescape stream writes back raw).
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_control_characters_are_shown_not_sent() -> None:
    assert escape("foot\x1b[31mball") == "foot\\x1b[31mball"
    assert escape("[bold]x") == "\\[bold]x"  # markup escaped too
    assert escape("a\x07b\rc\x9bd\u202ee") == "a\\x07b\\x0dc\\x9bd\\u202ee"
    # One line: a file named "x\nerror: ..." cannot forge a second `error:` line.
    assert escape("two\nlines\tand tab") == "two\\x0alines\\x09and tab"
    assert escape("a\x85b\u2028c\u2029d") == "a\\x85b\\u2028c\\u2029d"
    # A file name's undecodable byte 0x9B (the 8-bit CSI), as os.fsdecode gives it.
    assert escape("\udc9bmdl") == "\\udc9bmdl"


def test_texts_of_many_lines_keep_their_lines_and_nothing_else() -> None:
    assert visible_controls("a\nb\tc\rd\udc9be\u2028") == "a\nb\tc\\x0dd\\udc9be\\u2028"
    assert one_line("a\nb\tc") == "a\\x0ab\\x09c"


def test_long_values_are_cut_with_their_length() -> None:
    assert escape("x" * 10, limit=4) == "xxxx... (10 characters)"
    assert escape("x" * 3000).endswith("... (3,000 characters)")
    assert escape("x" * 3000, limit=None) == "x" * 3000


# Any text, lone surrogates included (hypothesis leaves them out of st.text by default).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300)


@given(ANY_TEXT)
def test_what_rich_prints_holds_no_control_character(text: str) -> None:
    console = Console(file=None, record=True, width=80, color_system=None, soft_wrap=True)
    with console.capture() as captured:
        console.print(escape(text, limit=100))
    printed = captured.get().removesuffix("\n")  # print's own line end
    assert not CONTROL.search(printed)  # one line, whatever the text holds
    assert len(printed) < 100 * 6 + 200  # each kept character at most \uXXXX, plus the note


@given(ANY_TEXT)
def test_escapes_read_back_as_the_text(text: str) -> None:
    # Nothing is lost: a backslash-escape decoder gives the very text back (markup aside).
    shown = one_line(text.replace("\\", ""))
    assert shown.encode("ascii", "backslashreplace").decode("unicode_escape") == text.replace(
        "\\", ""
    )
