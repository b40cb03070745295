from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from topicclf.errors import TopicclfError
from topicclf.metrics import error_examples, evaluate
from topicclf.reports import write_report
from topicclf.reports.files import SCHEMA_VERSION

NAMES = ["alpha", "beta", "gamma|x", "delta"]
TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=bool)
PRED = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=bool)
SCORES = np.array(
    [[0.9, 0.1, 0.4, 0.6], [0.3, 0.8, 0.1, 0.2], [0.7, 0.45, 0.1, 0.05], [0.1, 0.2, 0.3, 0.9]]
)
CONTEXT = {
    "model": {
        "path": "models/x",
        "threshold_curve": {"thresholds": [0.1, 0.5, 0.9], "micro_f1": [0.5, 0.8, 0.4]},
        "global_threshold": 0.5,
    },
    "corpus": {"path": "test.jsonl", "format": "jsonl"},
}


@pytest.fixture(scope="module")
def report():
    import dataclasses

    zeta = np.array([[1], [0], [1], [0]])
    base = evaluate(TRUE, PRED, NAMES, scores=SCORES, unknown_truth=(["zeta"], zeta))
    examples = error_examples(TRUE, PRED, NAMES, ["d0", "d1", "d2", "d3"], ["a <b>", "", "", ""])
    return dataclasses.replace(base, examples=examples)


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                (self.images if tag == "img" else self.urls).append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_html_is_one_valid_offline_file(report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_report(report, path, CONTEXT)
    text = path.read_text()
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []  # every element closed, properly nested
    assert len(checker.images) == 5  # F1/support, PR, threshold, counts, confusions
    assert all(src.startswith("data:image/png;base64,") for src in checker.images)
    assert checker.urls == []
    assert not re.search(r"https?://", text)
    assert "a &lt;b&gt;" in text  # document text is escaped
    assert "class=sortable" in text and "zeta (2)" in text


def test_json_schema(report, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_report(report, path, CONTEXT)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) >= {
        "model",
        "corpus",
        "summary",
        "n_documents",
        "n_topics",
        "micro",
        "macro",
        "weighted",
        "samples",
        "per_topic",
        "hamming_loss",
        "subset_accuracy",
        "ranking",
        "confusions",
        "topics_without_support",
        "unknown_topics",
        "label_cardinality_true",
        "label_cardinality_predicted",
        "topics_per_document",
        "examples",
        "curves",
    }
    assert data["summary"]["micro_f1"] == pytest.approx(report.micro.f1)
    assert data["per_topic"][0] == {
        "topic": "alpha",
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
        "predicted": 2,
        "tp": 2,
        "fp": 0,
        "fn": 0,
        "known": True,
    }
    assert data["per_topic"][-1]["topic"] == "zeta" and data["per_topic"][-1]["known"] is False


def test_markdown_and_csv_escape(report, tmp_path: Path) -> None:
    md, cs = tmp_path / "r.md", tmp_path / "r.csv"
    write_report(report, md, CONTEXT)
    write_report(report, cs, CONTEXT)
    assert "| gamma\\|x |" in md.read_text()
    assert any(line.startswith("gamma|x,") for line in cs.read_text().splitlines())


def test_unknown_extension(report, tmp_path: Path) -> None:
    with pytest.raises(TopicclfError, match=r"unknown report format \.pdf; use one of"):
        write_report(report, tmp_path / "r.pdf", CONTEXT)
