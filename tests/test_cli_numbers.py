from __future__ import annotations

import math

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from topicclf.cli.numbers import decimal, integer
from topicclf.config import PLAIN_DECIMAL

TEXTS = st.text(alphabet=st.sampled_from([*"0123456789.", "_", "e", "-", "+", " ", "\u0665", "n"]))


@given(TEXTS)
def test_a_decimal_option_takes_exactly_plain_decimals_in_its_range(text: str) -> None:
    parse = decimal(0, 1)
    plain = PLAIN_DECIMAL.fullmatch(text.strip()) is not None
    if plain and 0 <= float(text) <= 1:
        assert parse(text) == float(text)
    else:
        with pytest.raises(typer.BadParameter):
            parse(text)


def test_messages_say_the_rule_and_the_range() -> None:
    with pytest.raises(
        typer.BadParameter,
        match=r"^'1_0': write a plain decimal number \(ASCII digits and a point\), between 0 "
        r"and 1$",
    ):
        decimal(0, 1)("1_0")
    with pytest.raises(typer.BadParameter, match=r"^'0.001' is not 0.01 or more$"):
        decimal(0.01)("0.001")
    assert decimal(0)("3600") == 3600.0
    assert math.isclose(decimal(0, 1)(0.005), 0.005)  # a default passes as it is


WHOLE = st.text(
    alphabet=st.sampled_from([*"0123456789", "_", "e", "-", "+", " ", ".", "\u0665", "\u00b2"])
)


@given(WHOLE)
def test_an_integer_option_takes_exactly_plain_ascii_digits_in_its_range(text: str) -> None:
    parse = integer(1, 1000)
    digits = text.strip()
    # int() also reads 1_0, +5, -0 and Arabic-Indic digits: none of them is plain
    plain = digits != "" and all(c in "0123456789" for c in digits)
    if plain and 1 <= int(digits) <= 1000:
        assert parse(text) == int(digits)
    else:
        with pytest.raises(typer.BadParameter):
            parse(text)


def test_integer_messages_say_the_rule_and_the_range() -> None:
    with pytest.raises(
        typer.BadParameter,
        match=r"^'1_0': write a plain whole number \(ASCII digits only\), between 1 and 100$",
    ):
        integer(1, 100)("1_0")
    with pytest.raises(typer.BadParameter, match=r"^'\+5': write a plain whole number"):
        integer(0)("+5")
    with pytest.raises(typer.BadParameter, match=r"^'0' is not 1 or more$"):
        integer(1)("0")
    with pytest.raises(typer.BadParameter, match=r"^'101' is not between 1 and 100$"):
        integer(1, 100)("101")
    # int() refuses 4,301 digits with its own ValueError; the message is cut short
    with pytest.raises(typer.BadParameter, match=r"\(5,002 characters\) is too large$"):
        integer(1)("9" * 5000)
    with pytest.raises(typer.BadParameter, match=r"characters\) is not between 1 and 100$"):
        integer(1, 100)("9" * 5000)
    assert integer(0, 65535)("0080") == 80
    assert integer(1)(7) == 7  # a default passes as it is
