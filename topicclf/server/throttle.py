"""Log lines that repeat at most once a minute while a shortage lasts (file descriptors,
memory): one rule for every such line."""

from __future__ import annotations

import time


class EveryMinute:
    """A log line that repeats at most once a minute, however often its occasion comes (a
    line, or a traceback, per request would flood the log while a shortage lasts); it counts
    the occasions in between, for the line to say how many."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self.said_at: float | None = None  # time.monotonic() when last said
        self.since = 0  # occasions since then, unsaid

    def due(self) -> int:
        """Count one occasion; when the line is due again, the occasions it covers (this one
        included), else 0."""
        self.since += 1
        now = time.monotonic()
        if self.said_at is not None and now - self.said_at < self.seconds:
            return 0
        count, self.said_at, self.since = self.since, now, 0
        return count
