"""Stopping long work that no one waits for any more.

A server runs a request's tagging or explaining in a thread; when the client has gone, or
the server stops and --timeout-shutdown has passed, the request's stop event is set and the
work raises Cancelled at its next checkpoint (between batches of texts, or of a text's
copies in `explain`) instead of holding the thread for minutes. Outside a server no event
is set and `checkpoint` costs a context-variable lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from topicclf.errors import TopicclfError

_STOP: ContextVar[threading.Event | None] = ContextVar("topicclf_stop", default=None)


class Cancelled(TopicclfError):
    """Work stopped at a checkpoint: its caller no longer waits for it."""


def checkpoint() -> None:
    """Raise Cancelled when the work running in this context was asked to stop."""
    stop = _STOP.get()
    if stop is not None and stop.is_set():
        raise Cancelled("stopped: no one waits for this work any more")


@contextmanager
def stopped_by(event: threading.Event) -> Iterator[threading.Event]:
    """Within the block (and in contexts copied from it), `checkpoint` raises once `event`
    is set."""
    token = _STOP.set(event)
    try:
        yield event
    finally:
        _STOP.reset(token)
