"""The scaling benchmark's corpora (scripts/benchmark_scaling.py): shapes and perturbed
copies, and the reference SVM script it times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from topicclf.types import Document

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
import benchmark_scaling as bs


def _docs() -> list[Document]:
    texts = ["WHEAT UP\nPrices rose in Chicago today on dry weather", "\n\nOIL FALLS\nCrude fell"]
    return [Document(f"d{i}", t, (f"t{i}",)) for i, t in enumerate(texts * 5)]


def test_titles_are_first_lines_and_copies_keep_topics_with_fewer_words(tmp_path: Path) -> None:
    docs = _docs()
    path = tmp_path / "c.jsonl"
    assert bs.write_corpus(docs, 4, path, base=2, shape="titles") == 8
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["text"] for r in records[:2]] == ["WHEAT UP", "OIL FALLS"]
    assert all(r["labels"] in [list(d.labels) for d in docs] for r in records)
    whole = tmp_path / "w.jsonl"
    bs.write_corpus(docs, 4, whole, base=2)
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    assert rows[0]["text"] == " ".join(docs[0].text.split())
    assert all(len(r["text"].split()) <= len(docs[0].text.split()) for r in rows[2:])
    assert len({r["id"] for r in rows}) == len(rows)


def test_the_reference_svm_script_trains_and_pickles(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    bs.write_corpus(_docs(), 2, corpus, base=10)
    done = subprocess.run(
        [sys.executable, "-c", bs.SVM_SCRIPT, str(corpus), str(tmp_path / "m.pkl")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.pkl").stat().st_size > 0
