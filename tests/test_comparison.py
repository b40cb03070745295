from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.errors import InputError, TopicclfError
from topicclf.metrics.comparison import compare, load_report

SCHEMES = ("micro", "weighted", "samples")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


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
    assert [t.topic for t in comparison.better] == ["x"]
    assert [t.topic for t in comparison.worse] == ["y"]
    new = next(t for t in comparison.topics if t.topic == "new")
    assert new.f1_a is None and new.delta is None  # only in B: listed apart, not "better"
    assert [t.topic for t in comparison.only_in_b] == ["new"] and comparison.only_in_a == []
    data = comparison.to_dict()
    assert data["overall"]["micro_f1"]["delta"] == pytest.approx(0.05)


def test_topics_of_one_report_only_are_listed_apart_in_every_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Attacker pass 27, CLI F5: reports of different topic sets called each topic missing
    # from B "worse" by -1.0 with support 0, and B's own topics "better" by their F1.
    import csv

    from topicclf.cli import run

    a = _report(tmp_path / "a.json", 0.80, {"both": 0.5, "food": 1.0, "sport": 0.9})
    b = _report(tmp_path / "b.json", 0.70, {"both": 0.3, "cars": 0.6})
    comparison = compare(a, b)
    assert [t.topic for t in comparison.worse] == ["both"] and comparison.better == []
    assert [t.topic for t in comparison.only_in_a] == ["food", "sport"]
    assert [t.topic for t in comparison.only_in_b] == ["cars"]

    outputs = [tmp_path / f"c.{ext}" for ext in ("json", "csv", "md", "html")]
    args = ["report", "compare", str(a), str(b), *(x for o in outputs for x in ("-o", str(o)))]
    assert run(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "worse in B (1 topics, F1 change > 0.005)" in out
    assert "only in A (2 topics, not compared)" in out
    assert "only in B (1 topics, not compared)" in out
    assert "-1.0000" not in out and "+0.6000" not in out

    data = json.loads(outputs[0].read_text())
    assert (data["worse"], data["better"]) == (["both"], [])
    assert (data["only_in_a"], data["only_in_b"]) == (["food", "sport"], ["cars"])
    assert {t["topic"]: t["delta"] for t in data["topics"]} == {
        "both": pytest.approx(-0.2),
        "cars": None,
        "food": None,
        "sport": None,
    }
    with outputs[1].open(newline="") as handle:
        rows = {row[0]: row[1:] for row in csv.reader(handle)}
    # Empty cells where a report lacks the topic (a "-" read "'-", made formula-safe).
    assert rows["food"] == ["1.0000", "", "", "10", "0"]
    assert rows["cars"] == ["", "0.6000", "", "0", "10"]
    markdown = outputs[2].read_text()
    assert "## Worse in B (1)" in markdown and "## Better in B (0)" in markdown
    assert "## Only in A (2, not compared)\n\n| topic | F1 A | support A |" in markdown
    assert "| food | 1.0000 | 10 |" in markdown and "| cars | 0.6000 | 10 |" in markdown
    page = outputs[3].read_text()
    both, apart = page.split("<h2>Only in A (2, not compared)</h2>")
    assert "food" not in both and "cars" not in both.split("<h2>Per topic")[1]
    assert "<h2>Only in B (1, not compared)</h2>" in apart
    assert "<td>food</td><td>1.0000</td><td>10</td>" in apart


def test_bad_reports(tmp_path: Path) -> None:
    with pytest.raises(TopicclfError, match=r": no such file"):
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


HOSTILE_REPORTS = [
    (
        '{"schema_version": 1, "summary": {"micro_f1": "x"}, "per_topic": []}',
        r"field 'summary\.micro_f1' must be a number from 0 to 1;",
    ),
    (
        '{"schema_version": 1, "summary": {"micro_f1": NaN}, "per_topic": []}',
        r"field 'summary\.micro_f1' must be a number from 0 to 1;",
    ),
    (
        '{"schema_version": 1, "summary": [], "per_topic": []}',
        r"field 'summary' must be an object of figures",
    ),
    ('{"schema_version": 1, "per_topic": 5}', r"field 'per_topic' must be a list of objects"),
    (
        '{"schema_version": 1, "per_topic": [null]}',
        r"field 'per_topic\[0\]' must be an object with a topic name",
    ),
    (
        '{"schema_version": 1, "per_topic": [{"topic": 5, "f1": 1}]}',
        r"field 'per_topic\[0\]' must be an object with a topic name",
    ),
    (
        '{"schema_version": 1, "per_topic": [{"topic": "a", "f1": "x"}]}',
        r"field 'per_topic\[0\]\.f1' must be a number from 0 to 1;",
    ),
    (
        '{"schema_version": 1, "per_topic": [], "unknown_topics": {"a": -1}}',
        r"field 'unknown_topics\.a' must be a count, a whole number from 0 to "
        r"9,007,199,254,740,992 \(2\*\*53\); is it a topicclf report\?",
    ),
    (
        '{"schema_version": 1, "per_topic": [], "unknown_topics": [1]}',
        r"field 'unknown_topics' must be an object of topic names and counts",
    ),
    (
        '{"schema_version": 1, "per_topic": [], "n_documents": "9"}',
        r"field 'n_documents' must be a count, a whole number from 0 to 9,007,199,254,740,992",
    ),
    ("[" * 100_000 + "]" * 100_000, r"not a JSON report \(nested too deeply\)"),
    # An integer of 309 to 4,300 digits: json reads it, no float holds it (was OverflowError).
    (
        '{"schema_version": 1, "per_topic": [{"topic": "a", "f1": 1' + "0" * 400 + "}]}",
        r"field 'per_topic\[0\]\.f1' must be a number from 0 to 1;",
    ),
    (
        '{"schema_version": 1, "summary": {"micro_f1": 1' + "0" * 400 + '}, "per_topic": []}',
        r"field 'summary\.micro_f1' must be a number from 0 to 1;",
    ),
    # A row without the F1 a comparison compares (was KeyError: 'f1').
    (
        '{"schema_version": 1, "per_topic": [{"topic": "a"}]}',
        r"field 'per_topic\[0\]\.f1' must be a number from 0 to 1;",
    ),
    # A repeated topic row: a comparison keys rows by topic, and the last one silently won.
    (
        '{"schema_version": 1, "per_topic": [{"topic": "a", "f1": 1}, {"topic": "b", "f1": 1}, '
        '{"topic": "a", "f1": 0}]}',
        r"bad\.json: field 'per_topic\[2\]' repeats the topic 'a'; is it a topicclf report\?$",
    ),
    # An old report's unknown topics become rows (upgrade_report): one already a row repeats it.
    (
        '{"schema_version": 1, "figures_version": 1, "per_topic": [{"topic": "a", "f1": 1}], '
        '"unknown_topics": {"a": 2}}',
        r"field 'unknown_topics\.a' repeats the topic of a per_topic row; is it a topicclf",
    ),
    # json's int() refuses 4,300+ digits with a plain ValueError (was an internal error).
    (
        '{"schema_version": 1, "per_topic": [], "note": ' + "9" * 5000 + "}",
        r"bad\.json: not a JSON report \(an integer of more than 4,300 digits\)",
    ),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_REPORTS)
def test_a_report_with_fields_a_comparison_cannot_use_is_refused_by_name(
    tmp_path: Path, text: str, message: str
) -> None:
    # Before: internal errors (ValueError, TypeError, RecursionError) from deep inside.
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(TopicclfError, match=message):
        load_report(bad)


def test_a_report_must_be_a_regular_file(tmp_path: Path) -> None:
    # Before: a FIFO hung `report compare`, /dev/zero took 7.7 GB.
    import os

    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    with pytest.raises(TopicclfError, match=r"r\.json: not a regular file; a report is a JSON"):
        load_report(fifo)
    with pytest.raises(TopicclfError, match=r"/dev/zero: not a regular file"):
        load_report("/dev/zero")


def _old_and_new(tmp_path: Path) -> tuple[Path, Path, object]:
    """The same tags as a report of figures version 1 (as written before) and of today."""
    import dataclasses

    import numpy as np

    from topicclf.metrics import evaluate
    from topicclf.reports import write_report

    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    pred = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 0], [1, 0, 0]])
    ship = np.array([[0], [1], [0], [1]])
    names = ["a", "b", "c"]
    new = evaluate(truth, pred, names, unknown_truth=(["ship"], ship))
    write_report(new, tmp_path / "new.json", {})
    known = evaluate(truth, pred, names)
    old = json.loads((tmp_path / "new.json").read_text())
    del old["figures_version"], old["conventions"]
    prf = ("precision", "recall", "f1")
    summary = {f"{s}_{m}": getattr(getattr(known, s), m) for s in SCHEMES for m in prf}
    summary |= {f"macro_{m}": getattr(known.macro_seen, m) for m in prf}
    summary |= {"subset_accuracy": known.subset_accuracy, "hamming_loss": known.hamming_loss}
    old |= {
        "summary": summary,
        "per_topic": [
            {k: v for k, v in dataclasses.asdict(t).items() if k != "known"}
            for t in known.per_topic
        ],
        "unknown_topics": {"ship": 2},
    }
    (tmp_path / "old.json").write_text(json.dumps(old))
    return tmp_path / "old.json", tmp_path / "new.json", new


def test_old_reports_are_recounted_in_todays_definitions(tmp_path: Path) -> None:
    old, new, report = _old_and_new(tmp_path)
    comparison = compare(old, new)
    # The same tags: every figure that can be recounted from the old report's counts agrees.
    for name in ("micro_f1", "micro_precision", "micro_recall", "macro_f1", "weighted_f1"):
        a, b = comparison.overall[name]
        assert a == pytest.approx(b), name
    assert comparison.overall["hamming_loss"][0] == pytest.approx(report.hamming_loss)
    assert comparison.overall["macro_f1"][1] == pytest.approx(report.macro.f1)
    # What cannot be recounted is not compared, and the notes say why.
    assert "samples_f1" not in comparison.overall and "subset_accuracy" not in comparison.overall
    assert "macro_seen_f1" in comparison.overall
    assert any("A is an older report" in n for n in comparison.notes)
    assert any("1 unknown topic(s)" in n for n in comparison.notes)
    ship = next(t for t in comparison.topics if t.topic == "ship")
    assert (ship.f1_a, ship.f1_b, ship.support_a, ship.support_b) == (0.0, 0.0, 2, 2)
    assert compare(new, new).notes == []


def test_old_report_without_unknown_topics_keeps_its_figures(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.json", 0.80, {"x": 0.5, "y": 0.9})
    data = load_report(a)
    comparison = compare(a, a)
    assert comparison.overall["micro_f1"] == (0.80, 0.80)
    assert comparison.overall["macro_seen_f1"] == (data["summary"]["macro_f1"],) * 2
    assert comparison.overall["macro_f1"] == pytest.approx((0.7, 0.7))  # from the rows


def test_loss_like_figures_improve_downwards(tmp_path: Path) -> None:
    from topicclf.metrics.comparison import Comparison

    overall = {"hamming_loss": (0.2, 0.1), "micro_f1": (0.5, 0.4), "lrap": (0.5, 0.501)}
    comparison = Comparison("a", "b", overall, [], 0.005)
    assert comparison.improved("hamming_loss") is True
    assert comparison.improved("micro_f1") is False
    assert comparison.improved("lrap") is None


def test_comparison_files_escape_topic_names(tmp_path: Path) -> None:
    import csv

    from topicclf.reports.compare import write_comparison

    names = {"a|b\nc": 0.5, 'x,"y"\rz': 0.9}
    a = _report(tmp_path / "a.json", 0.80, names)
    b = _report(tmp_path / "b.json", 0.70, {k: v - 0.2 for k, v in names.items()})
    comparison = compare(a, b)
    write_comparison(comparison, tmp_path / "c.md")
    write_comparison(comparison, tmp_path / "c.csv")
    assert "| a\\|b<br>c |" in (tmp_path / "c.md").read_text()
    with (tmp_path / "c.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert sorted(row[0] for row in rows[1:]) == ["a|b\nc", 'x,"y"\\x0dz']


def test_a_markdown_comparison_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    # A forged report's topic "red\x1b[31m" recoloured the terminal that showed c.md.
    from topicclf.reports.compare import write_comparison

    names = {"red\x1b[31m": 0.5, "rtl\u202eevil": 0.9}
    folder = tmp_path / "runs\x1b]0;title\x07"
    folder.mkdir()
    a = _report(folder / "a.json", 0.80, names)
    b = _report(tmp_path / "b.json", 0.70, {k: v - 0.2 for k, v in names.items()})
    write_comparison(compare(a, b), tmp_path / "c.md")
    text = (tmp_path / "c.md").read_text()
    assert "| red\\x1b\\[31m |" in text and "| rtl\\u202eevil |" in text
    assert "runs\\x1b\\]0;title\\x07" in text  # the report's path too
    assert not CONTROL.search(text.replace("\n", ""))


@pytest.mark.parametrize("tolerance", [5, 1.5, -0.1, float("nan"), "0.1"])
def test_a_tolerance_outside_0_1_is_refused(tmp_path: Path, tolerance: object) -> None:
    # An F1 change lies in [-1, 1]: a tolerance of 5 reported no topic better or worse.
    a = _report(tmp_path / "a.json", 0.80, {"x": 0.5})
    with pytest.raises(InputError, match=r"^tolerance: .*; give an F1 change between 0 and 1$"):
        compare(a, a, tolerance=tolerance)  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=4301, max_value=20_000), st.sampled_from(["", "-"]))
def test_an_integer_too_long_to_read_anywhere_in_a_report_is_refused(
    tmp_path_factory: pytest.TempPathFactory, digits: int, sign: str
) -> None:
    bad = tmp_path_factory.mktemp("r") / "big.json"
    bad.write_text(
        '{"schema_version": 1, "per_topic": [{"topic": "a", "support": %s}]}'
        % (sign + "1" * digits)
    )
    with pytest.raises(TopicclfError, match=r"not a JSON report \(an integer of more than 4,300"):
        compare(bad, bad)  # the Python API reads reports by the same rule


COUNT_RULE = r"a count, a whole number from 0 to 9,007,199,254,740,992 \(2\*\*53\)"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"unknown_topics": {"ghost": 10**400}},
            rf"field 'unknown_topics\.ghost' must be {COUNT_RULE}; is it a topicclf report\?",
        ),
        ({"n_documents": 10**400}, rf"field 'n_documents' must be {COUNT_RULE}"),
        ({"n_documents": 2**53 + 1}, rf"field 'n_documents' must be {COUNT_RULE}"),
        ({"row": {"fp": 1.7e308}}, rf"field 'per_topic\[0\]\.fp' must be {COUNT_RULE}"),
        ({"row": {"support": 10**400}}, rf"field 'per_topic\[0\]\.support' must be {COUNT_RULE}"),
        ({"row": {"tp": 0.5}}, rf"field 'per_topic\[0\]\.tp' must be {COUNT_RULE}"),
        ({"row": {"f1": 1.7e308}}, r"field 'per_topic\[0\]\.f1' must be a number from 0 to 1;"),
        ({"summary": {"micro_f1": -1.7e308}}, r"'summary\.micro_f1' must be a number from 0 to 1;"),
        (
            {"unknown_topics": {"z" * 5000: -1}},
            r"'unknown_topics\.zzz+\.\.\. \(5,000 characters\)'",
        ),
    ],
)
def test_an_old_report_whose_counts_no_float_holds_is_refused_by_name(
    tmp_path: Path, edit: dict[str, object], message: str
) -> None:
    # An old report's figures are recounted from its counts as floats: a 400-digit count,
    # or two rows of fp 1.7e308 whose sum overflows, was internal error: OverflowError.
    old, new, _ = _old_and_new(tmp_path)
    data = json.loads(old.read_text())
    edit = dict(edit)
    data["per_topic"][0].update(edit.pop("row", {}))
    data["summary"].update(edit.pop("summary", {}))
    data.update(edit)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    with pytest.raises(TopicclfError, match=message):
        compare(new, forged)


def test_an_old_report_of_counts_up_to_2_53_is_recounted_in_finite_figures(
    tmp_path: Path,
) -> None:
    # The bound is what makes the recounting safe: sums of the largest counts stay finite.
    old, new, _ = _old_and_new(tmp_path)
    data = json.loads(old.read_text())
    for row in data["per_topic"]:
        row.update(support=2**53, fp=2**53, fn=2**53, predicted=2**53)
    data |= {"n_documents": 2**53, "unknown_topics": {"ship": 2**53, "boat": 2**53}}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    comparison = compare(forged, new)
    assert all(math.isfinite(a) for a, _ in comparison.overall.values())
    json.dumps(comparison.to_dict(), allow_nan=False)  # no inf or NaN anywhere


def test_todays_report_lists_unknown_topics_as_rows_too(tmp_path: Path) -> None:
    # Figures version 2 keeps an unknown topic both as a row (known=False) and in
    # unknown_topics: not a repeated row.
    _, new, _ = _old_and_new(tmp_path)
    data = load_report(new)
    assert "ship" in data["unknown_topics"]
    assert [row["topic"] for row in data["per_topic"]].count("ship") == 1


def test_reports_too_large_for_memory_are_an_error_naming_them(tmp_path: Path) -> None:
    # Reports take about 5 times their size once read, so two under the 1 GiB cap could
    # need 10 GB: `report compare` ended in `internal error: MemoryError`. Here the process
    # is given 150 MB of address space more than it has, and a 39 MB report.
    import subprocess
    import sys

    big = _report(tmp_path / "big.json", 0.5, {f"t{i:07d}": 0.5 for i in range(800_000)})
    small = _report(tmp_path / "small.json", 0.5, {"x": 0.5})
    script = (
        "import resource, sys\n"
        "from topicclf.cli import run\n"
        "size = next(int(line.split()[1]) for line in open('/proc/self/status')"
        " if line.startswith('VmSize'))\n"
        "limit = (size << 10) + (150 << 20)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "sys.exit(run(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "report", "compare", str(small), str(big)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    sizes = [f"{path.stat().st_size:,}" for path in (small, big)]
    assert (done.returncode, done.stdout) == (1, ""), done.stderr
    assert done.stderr == (
        f"error: {small} ({sizes[0]} bytes) and {big} ({sizes[1]} bytes): together too large "
        "to hold in memory (a report takes about 5 times its size once read: 0.7 GB for 143 MB of "
        "1,000,000 topics); compare reports of fewer topics, or run where more memory is free\n"
    )


@pytest.mark.parametrize(
    ("mark", "encoding"),
    [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")],
)
def test_a_report_saved_with_a_byte_order_mark_is_read(
    tmp_path: Path, mark: bytes, encoding: str
) -> None:
    """An editor's UTF-8 mark was "not a JSON report (Unexpected UTF-8 BOM (decode using
    utf-8-sig)...)", a UTF-16 report "'utf-8' codec can't decode byte 0xff"."""
    plain = _report(tmp_path / "a.json", 0.5, {"oil": 0.4, "gold": 0.6})
    marked = tmp_path / "marked.json"
    marked.write_bytes(mark + plain.read_text().encode(encoding))
    assert load_report(marked) == load_report(plain)
    assert compare(marked, plain).overall["micro_f1"] == (0.5, 0.5)
    # Two marks (saved twice, or `cat` of an empty marked file and the report), as the
    # config and vocabulary read them (pass 46: the second one was refused).
    marked.write_bytes(mark + "\ufeff".encode(encoding) + plain.read_text().encode(encoding))
    assert load_report(marked) == load_report(plain)


def test_a_report_path_with_a_nul_character_is_named(tmp_path: Path) -> None:
    """open()'s ValueError was read as "an integer of more than 4,300 digits"."""
    with pytest.raises(InputError, match=r"^path: 'a\\x00b' holds a NUL character"):
        load_report("a\x00b")
    with pytest.raises(InputError, match=r"^path: 'a\\x00b' holds a NUL character"):
        compare("a\x00b", tmp_path / "b.json")


def test_a_version_2_report_with_unknown_topics_leaves_its_ranking_figures_out() -> None:
    """Figures version 2 scored unknown topics 0.0, tied with the model's unscored topics;
    version 3 ranks them below every topic (pass 47): its ranking figures are not compared."""
    from topicclf.metrics.comparison import upgrade_report

    summary = {"micro_f1": 0.5, "ndcg@10": 0.7, "recall@5": 0.6}
    old = {"figures_version": 2, "summary": summary, "unknown_topics": {"tin": 2}}
    upgraded, notes = upgrade_report(old, "A")
    assert upgraded["summary"] == {"micro_f1": 0.5}
    assert notes == [
        "A's ranking figures (precision@k, recall@k, ndcg, lrap, ...) tied its unknown topics "
        "with the topics its model scored 0 (figures version 2), where they now rank below "
        "every topic: those figures are not compared"
    ]
    for same in ({**old, "unknown_topics": {}}, {**old, "figures_version": 3}):
        assert upgrade_report(same, "A") == (same, [])
