from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
from conftest import DATA

from topicclf.corpus import open_corpus
from topicclf.training.groups import near_duplicate_groups


def _drop(text: str, rng: random.Random, share: float = 0.1) -> str:
    return " ".join(w for w in text.split() if rng.random() >= share)


def test_copies_with_a_tenth_of_their_words_dropped_are_one_group() -> None:
    texts = [d.text for d in open_corpus(DATA / "tiny.jsonl")]
    long = [t for t in texts if len(t.split()) >= 8]
    rng = random.Random(0)
    copies = [_drop(t, rng) for t in long for _ in range(3)]
    groups = near_duplicate_groups(copies)
    together = [len(set(groups[3 * i : 3 * i + 3])) == 1 for i in range(len(long))]
    assert sum(together) >= 0.9 * len(long)
    # Different documents stay apart: as many groups as originals (give or take the few
    # originals of the tiny corpus that are near-duplicates themselves).
    assert len(set(groups)) >= 0.9 * len(set(near_duplicate_groups(long)))


def test_unrelated_and_empty_texts_are_their_own_groups() -> None:
    texts = ["oil prices rose sharply today", "the striker scored twice", "", "   ", "x"]
    assert list(near_duplicate_groups(texts)) == [0, 1, 2, 3, 4]
    assert list(near_duplicate_groups(["same words here", "Same words, here!"])) == [0, 0]
    assert list(near_duplicate_groups([])) == [] and list(near_duplicate_groups(["a"])) == [0]


def test_a_copy_in_nfd_is_the_same_text() -> None:
    """The analyzer reads NFD as NFC; grouping lowercased the raw text, so an NFD copy of a
    record (macOS, a PDF extractor) was another document, and could validate its twin."""
    import unicodedata

    text = "Käse und Gemüse aus Österreich, Süßigkeiten"
    nfd = unicodedata.normalize("NFD", text)
    assert list(near_duplicate_groups([text, nfd, "Öl"])) == [0, 0, 1]


def test_groups_are_the_same_in_every_process() -> None:
    """The word hashes are stable (not Python's per-process str hash): a model's split is
    the same whichever process trains it."""
    code = (
        "from topicclf.training.groups import near_duplicate_groups as g\n"
        "print(list(g(['a b c d e f', 'a b c d e', 'k l m n', 'k l m n o', 'z'] * 3, 7)))"
    )
    runs = set()
    for seed in (1, 2):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        runs.add(done.stdout)
    assert len(runs) == 1


def test_cost_grows_with_the_documents_not_their_pairs() -> None:
    """Many identical short texts (one big group) are grouped without comparing every pair:
    each joins its band bucket's first document."""
    texts = ["thanks"] * 20_000 + [f"word{i} other{i}" for i in range(20_000)]
    groups = near_duplicate_groups(texts)
    assert len(set(groups[:20_000])) == 1 and len(set(groups[20_000:])) == 20_000
    assert np.all(groups[:20_000] != groups[20_000])
