"""Comparing two saved evaluation reports (JSON): overall and per-topic deltas."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from topicclf.config import cut, shown
from topicclf.errors import InputError, TopicclfError, too_many_digits
from topicclf.inputs import as_path
from topicclf.metrics import LOWER_IS_BETTER
from topicclf.metrics.ranking import RANKING_NAMES
from topicclf.smallfile import SmallFileError, read_small_file, small_file_text

SUPPORTED_SCHEMAS = (1,)
# Compared when both reports have them (ranking figures need scores, accuracy a multi-class
# model, and reports of figures version 1 lack some).
HEADLINE = (
    "micro_f1",
    "macro_f1",
    "macro_seen_f1",
    "weighted_f1",
    "samples_f1",
    "micro_precision",
    "micro_recall",
    "subset_accuracy",
    "hamming_loss",
    "accuracy",
    "precision@1",
    "ndcg@3",
    "lrap",
    "micro_average_precision",
    "macro_average_precision",
)
_AVERAGES = ("micro", "macro", "weighted", "samples")
_PRF = ("precision", "recall", "f1")


@dataclass(frozen=True)
class TopicDelta:
    """One topic's F1 in report A and B (None where the report lacks the topic)."""

    topic: str
    f1_a: float | None
    f1_b: float | None
    support_a: int
    support_b: int

    @property
    def delta(self) -> float | None:
        """B minus A; None when one report lacks the topic: its absence is no F1 of 0 (a
        topic missing from B was listed as worse by -1.0, with support 0)."""
        if self.f1_a is None or self.f1_b is None:
            return None
        return self.f1_b - self.f1_a


@dataclass(frozen=True)
class Comparison:
    """Report B against report A."""

    a: str
    b: str
    overall: dict[str, tuple[float, float]]
    topics: list[TopicDelta]
    tolerance: float
    notes: list[str] = field(default_factory=list)

    def improved(self, name: str) -> bool | None:
        """Whether figure `name` got better from A to B beyond the tolerance (None: no change)."""
        a, b = self.overall[name]
        if abs(b - a) <= self.tolerance:
            return None
        return (b < a) if name in LOWER_IS_BETTER else (b > a)

    def _changes(self) -> list[tuple[float, TopicDelta]]:
        return [(t.delta, t) for t in self.topics if t.delta is not None]

    @property
    def better(self) -> list[TopicDelta]:
        """Topics of both reports whose F1 rose by more than the tolerance, most first."""
        rose = [(d, t) for d, t in self._changes() if d > self.tolerance]
        return [t for _, t in sorted(rose, key=lambda pair: -pair[0])]

    @property
    def worse(self) -> list[TopicDelta]:
        """Topics of both reports whose F1 fell by more than the tolerance, most first."""
        fell = [(d, t) for d, t in self._changes() if d < -self.tolerance]
        return [t for _, t in sorted(fell, key=lambda pair: pair[0])]

    @property
    def only_in_a(self) -> list[TopicDelta]:
        """Topics report B has no row for, by name: not compared."""
        return [t for t in self.topics if t.f1_b is None]

    @property
    def only_in_b(self) -> list[TopicDelta]:
        """Topics report A has no row for, by name: not compared."""
        return [t for t in self.topics if t.f1_a is None]

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
            "only_in_a": [t.topic for t in self.only_in_a],
            "only_in_b": [t.topic for t in self.only_in_b],
            "tolerance": self.tolerance,
            "notes": self.notes,
        }


REPORT_MAX_BYTES = 1024**3  # a JSON report: 33,000 topics and 100,000 predictions fit


def _too_large(paths: list[Path]) -> TopicclfError:
    """The error for reports that do not fit in memory once read, naming them and sizes."""
    sizes = []
    for path in paths:
        try:
            sizes.append(f"{path} ({path.stat().st_size:,} bytes)")
        except OSError:
            sizes.append(str(path))
    return TopicclfError(
        f"{' and '.join(sizes)}: {'together ' if len(sizes) > 1 else ''}too large to hold in "
        "memory (a report takes about 5 times "
        "its size once read: 0.7 GB for 143 MB of 1,000,000 topics); compare reports of fewer "
        "topics, or run where more memory is free"
    )


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a JSON report written by `evaluate --output X.json`, checking its schema and
    every field a comparison uses (a report may come from anyone): a regular file of at
    most REPORT_MAX_BYTES, finite numbers, topic names as strings."""
    path = Path(path)
    try:
        return _load_report(path)
    except MemoryError:  # an error naming the file, not an internal error (at 7.4 GB)
        raise _too_large([path]) from None


def _load_report(path: Path) -> dict[str, Any]:
    as_path(path, "path")  # a NUL: open()'s ValueError read as "an integer of 4,300 digits"
    try:
        raw = read_small_file(path, REPORT_MAX_BYTES, "a report is a JSON file")
        data = json.loads(small_file_text(raw))
    except SmallFileError as exc:
        raise TopicclfError(str(exc)) from None
    except RecursionError:
        raise TopicclfError(f"{path}: not a JSON report (nested too deeply)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TopicclfError(f"{path}: not a JSON report ({exc})") from None
    except ValueError:  # int() refuses a literal past sys.get_int_max_str_digits()
        raise TopicclfError(f"{path}: not a JSON report ({too_many_digits()})") from None
    if not isinstance(data, dict) or "schema_version" not in data or "per_topic" not in data:
        raise TopicclfError(
            f"{path}: not a topicclf JSON report (write one with evaluate -o X.json)"
        )
    if data["schema_version"] not in SUPPORTED_SCHEMAS:
        raise TopicclfError(
            f"{path}: report schema {data['schema_version']!r:.40} is not supported "
            f"(this topicclf reads {', '.join(map(str, SUPPORTED_SCHEMAS))})"
        )
    _check_report(data, path)
    return data


_ROW_FIGURES = ("precision", "recall", "f1")
_ROW_COUNTS = ("support", "predicted", "tp", "fp", "fn")
# A float holds every whole number up to 2**53, so counts up to it are recounted exactly
# (upgrade_report), and the sums of a report's rows (at most REPORT_MAX_BYTES of them)
# stay far inside a float.
MAX_REPORT_COUNT = 2**53
_ROUNDING = 1e-9
_COUNT = f"a count, a whole number from 0 to {MAX_REPORT_COUNT:,} (2**53)"


def _check_report(data: dict[str, Any], path: Path) -> None:
    """TopicclfError naming the first field a comparison could not use."""

    def refuse(field: str, problem: str) -> None:
        raise TopicclfError(f"{path}: field {field!r} {problem}; is it a topicclf report?")

    def fail(field: str, what: str) -> None:
        refuse(field, f"must be {what}")

    def number(value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        try:
            return math.isfinite(value)
        except OverflowError:  # an integer of over 308 digits: no float holds it
            return False

    def fraction(value: Any) -> bool:
        # Every figure compared lies in [0, 1]; the slack is for a weighted average's
        # rounding (1.0000000000000002), and the bound keeps B minus A finite.
        return number(value) and -_ROUNDING <= value <= 1 + _ROUNDING

    def count(value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 0 <= value <= MAX_REPORT_COUNT
        )

    summary = data.get("summary", {})
    if not isinstance(summary, dict):
        fail("summary", "an object of figures")
    for name in HEADLINE:
        if name in summary and not fraction(summary[name]):
            fail(f"summary.{name}", "a number from 0 to 1")
    rows = data["per_topic"]
    if not isinstance(rows, list):
        fail("per_topic", "a list of objects, one per topic")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("topic"), str):
            fail(f"per_topic[{i}]", "an object with a topic name (a string)")
        # A comparison keys the rows by topic: a repeated one would silently win over the first.
        if row["topic"] in seen:
            refuse(f"per_topic[{i}]", f"repeats the topic {shown(row['topic'])}")
        seen.add(row["topic"])
        if "f1" not in row:  # what a comparison compares
            fail(f"per_topic[{i}].f1", "a number from 0 to 1")
        for key in _ROW_FIGURES:
            if key in row and not fraction(row[key]):
                fail(f"per_topic[{i}].{key}", "a number from 0 to 1")
        for key in _ROW_COUNTS:
            if key in row and not count(row[key]):
                fail(f"per_topic[{i}].{key}", _COUNT)
    figures = data.get("figures_version", 0)
    if not isinstance(figures, int) or isinstance(figures, bool) or figures < 0:
        fail("figures_version", "a whole number, at least 0")
    unknown = data.get("unknown_topics", {})
    if not isinstance(unknown, dict):
        fail("unknown_topics", "an object of topic names and counts")
    old = data.get("figures_version", 1) < 2  # as upgrade_report reads it
    for topic, value in unknown.items():
        if not count(value):
            fail(f"unknown_topics.{cut(topic)}", _COUNT)
        # upgrade_report adds an old report's unknown topics to its rows: one there already
        # would be a repeated row (today's reports list unknown topics in both, as known=False).
        if old and topic in seen:
            refuse(f"unknown_topics.{cut(topic)}", "repeats the topic of a per_topic row")
    if not count(data.get("n_documents", 0)):
        fail("n_documents", _COUNT)


def _mean(rows: list[dict[str, Any]], key: str, weight: str | None = None) -> float | None:
    if not rows or any(key not in r or (weight and weight not in r) for r in rows):
        return None
    weights = [float(r[weight]) if weight else 1.0 for r in rows]
    total = sum(weights)
    return (
        sum(w * float(r[key]) for w, r in zip(weights, rows, strict=True)) / total if total else 0.0
    )


def _pooled(rows: list[dict[str, Any]]) -> dict[str, float] | None:
    if not rows or any(k not in r for r in rows for k in ("tp", "fp", "fn")):
        return None
    tp, fp, fn = (sum(int(r[k]) for r in rows) for k in ("tp", "fp", "fn"))
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "errors": float(fp + fn),
    }


def _unknown_row(topic: str, support: int) -> dict[str, Any]:
    return {
        "topic": topic,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": support,
        "predicted": 0,
        "tp": 0,
        "fp": 0,
        "fn": support,
        "known": False,
    }


def _recounted(rows: list[dict[str, Any]], unknown: bool, n_docs: int) -> dict[str, Any]:
    """Today's figures as the per-topic rows give them (None: they cannot)."""
    pooled = _pooled(rows)
    out: dict[str, Any] = {f"macro_{m}": _mean(rows, m) for m in _PRF}
    if unknown:  # without unknown topics the other figures kept their meaning
        for m in _PRF:
            out[f"micro_{m}"] = pooled[m] if pooled else None
            out[f"weighted_{m}"] = _mean(rows, m, "support")
            out[f"samples_{m}"] = None
        out["subset_accuracy"] = None
        cells = n_docs * len(rows)
        out["hamming_loss"] = pooled["errors"] / cells if pooled and cells else None
    return out


def upgrade_report(data: dict[str, Any], label: str) -> tuple[dict[str, Any], list[str]]:
    """A report of figures version 1 recast in today's definitions, where its counts allow.

    Version 1 averaged macro over the topics seen in truth or predictions (today's
    macro_seen) and left topics unknown to the model out of every figure. Its per-topic rows
    and unknown-topic counts give back scikit-learn's macro, and, with unknown topics, micro,
    weighted and Hamming loss; samples and subset accuracy cannot be, so they are dropped.
    """
    version = data.get("figures_version", 1)
    if version >= 2:
        return _without_tied_unknowns(data, label) if version == 2 else (data, [])
    summary = dict(data.get("summary", {}))
    for m in _PRF:
        if f"macro_{m}" in summary:
            summary[f"macro_seen_{m}"] = summary.pop(f"macro_{m}")
    unknown = {str(k): int(v) for k, v in data.get("unknown_topics", {}).items()}
    rows = list(data["per_topic"]) + [_unknown_row(k, v) for k, v in unknown.items()]
    for name, value in _recounted(rows, bool(unknown), int(data.get("n_documents", 0))).items():
        summary.pop(name, None)
        if value is not None:
            summary[name] = value
    notes = [f"{label} is an older report: its macro figures are compared as macro_seen"]
    if unknown:
        notes.append(
            f"{label} left its {len(unknown)} unknown topic(s) out of its figures; they are "
            "counted as misses again from its per-topic counts, and figures that cannot be "
            "recounted (samples averages, subset accuracy) are not compared"
        )
    return data | {"summary": summary, "per_topic": rows, "figures_version": 2}, notes


def _without_tied_unknowns(data: dict[str, Any], label: str) -> tuple[dict[str, Any], list[str]]:
    """A report of figures version 2: its ranking figures scored unknown topics 0.0, tied
    with the model's unscored topics (a share of their places counted as found); today they
    rank below every topic. With unknown topics those figures cannot be recounted, so they
    are not compared."""
    if not data.get("unknown_topics"):
        return data, []
    summary = {k: v for k, v in data.get("summary", {}).items() if k not in RANKING_NAMES}
    note = (
        f"{label}'s ranking figures (precision@k, recall@k, ndcg, lrap, ...) tied its unknown "
        "topics with the topics its model scored 0 (figures version 2), where they now rank "
        "below every topic: those figures are not compared"
    )
    return data | {"summary": summary}, [note]


def _evaluated_on(report: dict[str, Any]) -> str:
    """The evaluated corpus as a report records it: file name, format and split."""
    corpus = report.get("corpus")
    if not isinstance(corpus, dict):
        return "an unrecorded corpus"
    name = Path(str(corpus.get("path", "?"))).name
    split = corpus.get("split")
    return f"{name} ({corpus.get('format', '?')}" + (f", split {split})" if split else ")")


def compare(a_path: str | Path, b_path: str | Path, *, tolerance: float = 0.005) -> Comparison:
    """Compare report B with report A: headline figures and per-topic F1.

    Older reports (figures version 1) are first recast in today's definitions
    (upgrade_report); the comparison's notes say what that changed.
    """
    # An F1 change lies in [-1, 1]: a tolerance of 1 or more hides every change.
    number = isinstance(tolerance, int | float) and not isinstance(tolerance, bool)
    if not number or not 0 <= tolerance <= 1:
        raise InputError(f"tolerance: {tolerance!r}; give an F1 change between 0 and 1")
    try:
        a, notes_a = upgrade_report(_load_report(Path(a_path)), "A")
        b, notes_b = upgrade_report(_load_report(Path(b_path)), "B")
        return _compared(a, b, notes_a + notes_b, str(a_path), str(b_path), tolerance)
    except MemoryError:  # both are held at once: either may be the one that did not fit
        raise _too_large([Path(a_path), Path(b_path)]) from None


def _compared(
    a: dict[str, Any],
    b: dict[str, Any],
    notes: list[str],
    a_path: str,
    b_path: str,
    tolerance: float,
) -> Comparison:
    """The comparison of two loaded, upgraded reports."""
    if _evaluated_on(a) != _evaluated_on(b):
        warnings.warn(
            f"the reports evaluate different corpora ({_evaluated_on(a)} vs "
            f"{_evaluated_on(b)}); their figures are not directly comparable",
            UserWarning,
            stacklevel=3,
        )
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
    return Comparison(a_path, b_path, overall, topics, tolerance, notes)
