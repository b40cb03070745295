"""The short-text benchmark's own rules (scripts/benchmark_short_texts.py): how documents
are cut, how the held-out fifths are drawn, and the table the README quotes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from topicclf.types import Document

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
import benchmark_short_texts as bst


def _docs(texts: list[str]) -> list[Document]:
    return [Document(f"d{i}", text, ("a",)) for i, text in enumerate(texts)]


def test_shapes_cut_documents_and_drop_the_empty_ones() -> None:
    docs = _docs(
        ["WHEAT UP\nPrices rose in Chicago today.", "\n\nbody only", "   ", "one two three"]
    )
    assert [d.text for d in bst.reshape(docs, "titles")] == [
        "WHEAT UP",
        "body only",
        "one two three",
    ]
    assert [d.text for d in bst.reshape(docs, "words2")] == ["WHEAT UP", "body only", "one two"]
    assert [d.id for d in bst.reshape(docs, "words2")] == ["d0", "d1", "d3"]
    with pytest.raises(SystemExit, match="unknown shape 'words'"):
        bst.reshape(docs, "words")


def test_fifths_are_disjoint_seeded_and_keep_the_documents_order() -> None:
    docs = _docs([f"text {i}" for i in range(101)])
    for k in range(1, 6):
        rest, held = bst.fifth(docs, k)
        assert len(held) == 20 and len(rest) == 81
        assert {d.id for d in rest}.isdisjoint(d.id for d in held)
        assert [d.id for d in rest] == sorted((d.id for d in rest), key=lambda i: int(i[1:]))
        assert bst.fifth(docs, k) == (rest, held)
    assert bst.fifth(docs, 1)[1] != bst.fifth(docs, 2)[1]


def test_table_sets_the_default_beside_words_only() -> None:
    common = {"shape": "titles", "fifth": 1, "mean_characters": 46.2}
    rows = [
        {
            **common,
            "system": "default",
            "micro_f1": 0.85,
            "macro_f1": 0.47,
            "train_seconds": 60.0,
            "char_ngrams": [3, 5],
        },
        {
            **common,
            "system": "words only",
            "micro_f1": 0.84,
            "macro_f1": 0.45,
            "train_seconds": 30.0,
            "char_ngrams": None,
        },
    ]
    table = bst.table(rows)
    assert table.splitlines()[2] == (
        "| titles | 46 | 1 | 0.8400/0.4500 | 0.8500/0.4700 | +0.0100/+0.0200 | 30.0 -> 60.0 | yes |"
    )
