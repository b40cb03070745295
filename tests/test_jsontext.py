from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from topicclf import jsontext

# Lone low surrogates are what os.fsdecode makes of undecodable file-name bytes. (A high
# surrogate before a low one reads back as the pair's one character: JSON has no other way.)
UNSAFE = "\x7f\x85\x9b\u2028\u2029\u202a\u202e\u2066\u2069\udc9b\udfff"
NAMES = st.text(alphabet=st.sampled_from([*UNSAFE, "a", "Ö", "\x1b", "\n", '"', "\\", "中"]))


@given(st.dictionaries(NAMES, st.lists(NAMES, max_size=4), max_size=4), st.sampled_from([None, 2]))
def test_the_same_data_reads_back_and_nothing_terminal_active_is_raw(
    data: dict[str, list[str]], indent: int | None
) -> None:
    text = jsontext.dumps(data, indent=indent)
    assert json.loads(text) == data
    assert not any(c in text for c in UNSAFE + "\x1b")
    # One JSON Lines record stays one line for str.splitlines (U+2028 is a line end to it).
    assert len(jsontext.dumps(data).splitlines()) == 1


def test_readable_text_stays_readable() -> None:
    assert jsontext.dumps({"topic": "Wirtschaft-Ö 中"}) == '{"topic": "Wirtschaft-Ö 中"}'
    assert jsontext.dumps(["red\x9b31m", "\u202eevil"]) == '["red\\u009b31m", "\\u202eevil"]'


def test_undecodable_file_name_bytes_are_escaped_so_the_output_is_utf8() -> None:
    # os.fsdecode(b"\x9bmdl"): the 0x9B a surrogateescape stream would write back raw,
    # making `info --json` invalid UTF-8 (and a CSI to an 8-bit terminal).
    text = jsontext.dumps({"path": "\udc9bmdl"})
    assert text == '{"path": "\\udc9bmdl"}'
    assert json.loads(text.encode("utf-8")) == {"path": "\udc9bmdl"}


@given(st.dictionaries(NAMES, st.lists(NAMES, max_size=4), max_size=6), st.integers(1, 40))
def test_pieces_make_the_same_text_as_dumps(data: dict[str, list[str]], size: int) -> None:
    # A report is written piece by piece (a million topics made 3 GB in one string); escaping
    # per piece must give exactly the whole text.
    pieces = list(jsontext.chunks(data, indent=2, size=size))
    assert "".join(pieces) == jsontext.dumps(data, indent=2)
    assert all(len(p) >= size for p in pieces[:-1])  # pieces, not one string


@given(st.lists(NAMES, max_size=4))
def test_encoded_size_is_what_a_string_takes_in_json(parts: list[str]) -> None:
    # The server bounds an answer by these sizes before building it: a C1 control is 2
    # bytes of UTF-8 but 6 escaped, so characters undercounted an answer 3-fold.
    text = jsontext.dumps(parts, separators=(",", ":"))
    commas = max(len(parts) - 1, 0)
    assert sum(map(jsontext.encoded_size, parts)) + 2 + commas == len(text.encode())
    assert jsontext.encoded_size("\x9b" * 10) == 62


def test_a_long_text_is_escaped_in_pieces_as_whole() -> None:
    # Escaped a piece at a time (one call held the interpreter 0.3 s on 5 million C1
    # controls, beside the server's event loop): the pieces join into the same text.
    text = ("a\x9b" * 100_003) + "\u2028"
    assert jsontext.dumps(text) == json.dumps(text, ensure_ascii=False).replace(
        "\x9b", "\\u009b"
    ).replace("\u2028", "\\u2028")
