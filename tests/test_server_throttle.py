"""The once-a-minute log rule every shortage line of the server shares."""

from __future__ import annotations

import pytest

from topicclf.server import throttle
from topicclf.server.throttle import EveryMinute


def test_a_line_is_due_once_a_minute_and_counts_the_occasions_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    line = EveryMinute()
    assert line.due() == 1  # the first occasion is said at once
    assert [line.due() for _ in range(5)] == [0] * 5
    now[0] += 59.9
    assert line.due() == 0
    now[0] += 0.1
    assert line.due() == 7  # the six unsaid and this one
    assert line.due() == 0 and line.since == 1
