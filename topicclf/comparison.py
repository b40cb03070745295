"""Comparing two saved evaluation reports (JSON): overall and per-topic deltas."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from topicclf.errors import TopicclfError

SUPPORTED_SCHEMAS = (1,)
HEADLINE = (
    "micro_f1",
    "macro_f1",
    "weighted_f1",
    "samples_f1",
    "micro_precision",
    "micro_recall",
    "subset_accuracy",
    "hamming_loss",
)


@dataclass(frozen=True)
class TopicDelta:
    """One topic's F1 in report A and B (None where the report lacks the topic)."""

    topic: str
    f1_a: float | None
    f1_b: float | None
    support_a: int
    support_b: int

    @property
    def delta(self) -> float:
        """B minus A (a missing side counts as 0)."""
        return (self.f1_b or 0.0) - (self.f1_a or 0.0)


@dataclass(frozen=True)
class Comparison:
    """Report B against report A."""

    a: str
    b: str
    overall: dict[str, tuple[float, float]]
    topics: list[TopicDelta]
    tolerance: float

    @property
    def better(self) -> list[TopicDelta]:
        """Topics whose F1 rose by more than the tolerance, most first."""
        return sorted((t for t in self.topics if t.delta > self.tolerance), key=lambda t: -t.delta)

    @property
    def worse(self) -> list[TopicDelta]:
        """Topics whose F1 fell by more than the tolerance, most first."""
        return sorted((t for t in self.topics if t.delta < -self.tolerance), key=lambda t: t.delta)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, deltas included."""
        return {
            "schema_version": 1,
            "a": self.a,
            "b": self.b,
            "overall": {k: {"a": a, "b": b, "delta": b - a} for k, (a, b) in self.overall.items()},
            "topics": [asdict(t) | {"delta": t.delta} for t in self.topics],
            "better": [t.topic for t in self.better],
            "worse": [t.topic for t in self.worse],
            "tolerance": self.tolerance,
        }


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a JSON report written by `evaluate --output X.json`, checking its schema."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TopicclfError(f"{path}: no such report") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TopicclfError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or "schema_version" not in data or "per_topic" not in data:
        raise TopicclfError(
            f"{path}: not a topicclf JSON report (write one with evaluate -o X.json)"
        )
    if data["schema_version"] not in SUPPORTED_SCHEMAS:
        raise TopicclfError(
            f"{path}: report schema {data['schema_version']} is not supported "
            f"(this topicclf reads {', '.join(map(str, SUPPORTED_SCHEMAS))})"
        )
    return data


def compare(a_path: str | Path, b_path: str | Path, *, tolerance: float = 0.005) -> Comparison:
    """Compare report B with report A: headline figures and per-topic F1."""
    a, b = load_report(a_path), load_report(b_path)
    overall = {
        k: (float(a["summary"][k]), float(b["summary"][k]))
        for k in HEADLINE
        if k in a.get("summary", {}) and k in b.get("summary", {})
    }
    rows_a = {t["topic"]: t for t in a["per_topic"]}
    rows_b = {t["topic"]: t for t in b["per_topic"]}
    topics = [
        TopicDelta(
            topic=name,
            f1_a=rows_a[name]["f1"] if name in rows_a else None,
            f1_b=rows_b[name]["f1"] if name in rows_b else None,
            support_a=int(rows_a.get(name, {}).get("support", 0)),
            support_b=int(rows_b.get(name, {}).get("support", 0)),
        )
        for name in sorted(set(rows_a) | set(rows_b))
    ]
    return Comparison(str(a_path), str(b_path), overall, topics, tolerance)
