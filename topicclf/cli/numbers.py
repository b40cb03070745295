"""Numbers on the command line as people write them: plain decimals and whole numbers within
their range.

Python's float() and int() also read `1_0` (ten), `+5`, and digits of any script (`٠.٥`);
float() also `1e-1` and `nan`: an option given so is more likely a slip than a wish, and
`--tolerance 1_0` silently hid every change of a comparison (`--top-k 1_0` gave ten topics).
One rule for every decimal option and `--fail-under` value, one for every integer option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from topicclf.config import PLAIN_DECIMAL, shown


def decimal(
    low: float, high: float | None = None, *, exclusive: bool = False
) -> Callable[[str], float]:
    """A typer `parser`: a plain decimal number (ASCII digits, at most one point) from `low`
    to `high` (no upper bound when None; `exclusive`: both bounds left out), else a usage
    error (exit 2) that says so."""
    between = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"
    if exclusive:
        between = f"greater than {low:g}" + (f" and less than {high:g}" if high is not None else "")

    def parse(text: str | float) -> float:
        if isinstance(text, int | float):  # the default, already a number
            return float(text)
        if not PLAIN_DECIMAL.fullmatch(text.strip()):
            raise typer.BadParameter(
                f"{shown(text)}: write a plain decimal number (ASCII digits and a point), {between}"
            )
        value = float(text)
        outside = value <= low or (high is not None and value >= high)
        if outside if exclusive else value < low or (high is not None and value > high):
            raise typer.BadParameter(f"{shown(text)} is not {between}")
        return value

    parse.__name__ = "decimal"
    return parse


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """A typer `parser`: a whole number in plain ASCII digits from `low` to `high` (no upper
    bound when None), else a usage error (exit 2) that says so."""
    between = f"between {low} and {high}" if high is not None else f"{low} or more"

    def parse(text: str | int) -> int:
        if isinstance(text, int):  # the default, already a number
            return text
        digits = text.strip()
        # str.isdigit alone also takes other scripts' digits (and superscripts int() refuses)
        if not (digits.isascii() and digits.isdigit()):
            raise typer.BadParameter(
                f"{shown(text)}: write a plain whole number (ASCII digits only), {between}"
            )
        # int() refuses more than 4,300 digits with its own error; no option needs 100
        if len(digits.lstrip("0")) > 100:
            beyond = f"is not {between}" if high is not None else "is too large"
            raise typer.BadParameter(f"{shown(text)} {beyond}")
        value = int(digits)
        if value < low or (high is not None and value > high):
            raise typer.BadParameter(f"{shown(text)} is not {between}")
        return value

    parse.__name__ = "integer"
    return parse


def integer_option(
    low: int, high: int | None, *, help: str, metavar: str = "N", **options: Any
) -> Any:
    """A typer Option of a whole number from `low` to `high`, its range in its help (typer's
    own min/max are not used: a `parser` replaces them, and int() reads `1_0`)."""
    span = f"{low} to {high}" if high is not None else f"{low} or more"
    text = f"{help.removesuffix('.')} ({span})."
    return typer.Option(parser=integer(low, high), metavar=metavar, help=text, **options)
