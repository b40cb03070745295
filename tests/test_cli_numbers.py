from __future__ import annotations

import math

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from topicclf.cli.numbers import decimal
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
