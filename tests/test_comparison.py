from __future__ import annotations

import json
from pathlib import Path

import pytest

from topicclf.comparison import compare, load_report
from topicclf.errors import TopicclfError


def _report(path: Path, micro: float, topics: dict[str, float]) -> Path:
    data = {
        "schema_version": 1,
        "summary": {
            "micro_f1": micro,
            "macro_f1": sum(topics.values()) / len(topics),
            "hamming_loss": 0.1,
        },
        "per_topic": [{"topic": t, "f1": f, "support": 10} for t, f in topics.items()],
    }
    path.write_text(json.dumps(data))
    return path


def test_deltas_better_and_worse(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.json", 0.80, {"x": 0.5, "y": 0.9, "z": 0.7})
    b = _report(tmp_path / "b.json", 0.85, {"x": 0.8, "y": 0.7, "z": 0.702, "new": 0.4})
    comparison = compare(a, b, tolerance=0.005)
    assert comparison.overall["micro_f1"] == (0.80, 0.85)
    assert [t.topic for t in comparison.better] == ["new", "x"]
    assert [t.topic for t in comparison.worse] == ["y"]
    new = next(t for t in comparison.topics if t.topic == "new")
    assert new.f1_a is None and new.delta == pytest.approx(0.4)
    data = comparison.to_dict()
    assert data["overall"]["micro_f1"]["delta"] == pytest.approx(0.05)


def test_bad_reports(tmp_path: Path) -> None:
    with pytest.raises(TopicclfError, match="no such report"):
        load_report(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(TopicclfError, match="not a JSON report"):
        load_report(bad)
    bad.write_text('{"schema_version": 9, "per_topic": []}')
    with pytest.raises(TopicclfError, match="report schema 9 is not supported"):
        load_report(bad)
    bad.write_text('{"a": 1}')
    with pytest.raises(TopicclfError, match="not a topicclf JSON report"):
        load_report(bad)
