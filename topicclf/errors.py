"""The exception hierarchy: every user-facing failure is a TopicclfError subclass."""

from __future__ import annotations

import sys


class TopicclfError(Exception):
    """Base class of every error topicclf raises on purpose; its message is for the user."""


class ConfigError(TopicclfError, ValueError):
    """A configuration key, value or file is invalid."""


class CorpusFormatError(TopicclfError, ValueError):
    """A corpus cannot be read: wrong format, bad record, wrong encoding."""


class SlowTextError(ConfigError):
    """The token pattern took longer than its time limit on one text: that text cannot be
    tagged (one bad record), the others can."""


class TooManyPairsError(TopicclfError, ValueError):
    """An answer would hold more (document, topic) pairs, counting each pair's explained
    terms as pairs too, than the caller allows."""

    def __init__(self, pairs: int, limit: int, terms: int = 0) -> None:
        held = f"{pairs:,} (document, topic) pairs"
        if terms:
            held = (
                f"{pairs + terms:,} items ({pairs:,} (document, topic) pairs and up to "
                f"{terms:,} explained terms)"
            )
        super().__init__(
            f"the answer would hold {held}, more than the {limit:,} one answer may hold"
        )
        self.pairs = pairs
        self.terms = terms
        self.limit = limit


class NotFittedError(TopicclfError, AttributeError):
    """A classifier was used before it was fitted."""

    @classmethod
    def of(cls, name: str) -> NotFittedError:
        """The error for an object of class `name` used before `fit`."""
        return cls(f"this {name} is not fitted yet; call fit first")


class ModelBundleError(TopicclfError):
    """A model directory is missing, incomplete, inconsistent or from an incompatible version."""


class OutputError(TopicclfError):
    """An output cannot be written: it exists (without --force), is an input, or is locked."""


class InputError(TopicclfError, TypeError, ValueError):
    """The Python API was given texts or topics of a kind it cannot use."""


class MissingResourceError(TopicclfError):
    """An optional package or data resource is not installed."""


class DataError(TopicclfError, ValueError):
    """The training data cannot produce a model (e.g. no labels, a single topic)."""


class UnsupportedError(TopicclfError):
    """The operation does not apply to this kind of model."""


class BadRecordWarning(UserWarning):
    """A corpus record could not be read and was reported or skipped instead of stopping."""


class DuplicateIdWarning(UserWarning):
    """Several documents share an id, so their tags or report rows cannot be told apart."""


class TruncatedDocumentWarning(UserWarning):
    """A document is cut short (e.g. a Reuters <REUTERS> without its </REUTERS>); what is
    there is read."""


def too_many_digits() -> str:
    """What a JSON or TOML reader says of an integer literal Python's int() refuses to read."""
    return f"an integer of more than {sys.get_int_max_str_digits():,} digits"
