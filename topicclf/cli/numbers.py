"""Numbers on the command line as people write them: plain decimals within their range.

Python's float() also reads `1_0` (ten), `1e-1`, `nan` and digits of any script (`٠.٥`): an
option given so is more likely a slip than a wish, and `--tolerance 1_0` silently hid every
change of a comparison. One rule for every decimal option, and for `--fail-under` values.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from topicclf.config import PLAIN_DECIMAL


def decimal(low: float, high: float | None = None) -> Callable[[str], float]:
    """A typer `parser`: a plain decimal number (ASCII digits, at most one point) from `low`
    to `high` (no upper bound when None), else a usage error (exit 2) that says so."""
    shown = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"

    def parse(text: str | float) -> float:
        if isinstance(text, int | float):  # the default, already a number
            return float(text)
        if not PLAIN_DECIMAL.fullmatch(text.strip()):
            raise typer.BadParameter(
                f"{text!r}: write a plain decimal number (ASCII digits and a point), {shown}"
            )
        value = float(text)
        if value < low or (high is not None and value > high):
            raise typer.BadParameter(f"{text!r} is not {shown}")
        return value

    parse.__name__ = "decimal"
    return parse
