"""Short texts: topicclf's default (character n-grams tried, kept on validation) against the
same pipeline with words only, on Reuters-21578 training documents cut short.

Shapes: each ModApte training document's title alone, its first 30 words, its first 50
words. Each is scored on held-out fifths of the training documents (train on four fifths,
score the fifth: the ModApte test set is never looked at, so the default can be chosen on
these figures). Every run trains in its own subprocess. Prints a table and writes JSON.

    python scripts/benchmark_short_texts.py [--reuters PATH] [--fifths 3]
        [--shapes titles words30 words50] [--output results/short_texts.json]

The corpus comes from --reuters, $TOPICCLF_REUTERS, or ../shared/corpora/reuters21578.tar.gz.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_quality import DEFAULT_REUTERS, _load, _scores
from measure import run_info

REPO = Path(__file__).resolve().parent.parent
SHAPES = ("titles", "words30", "words50")
SYSTEMS = {"default": [], "words only": ["features.char_ngrams=off"]}


def reshape(docs: list[Any], shape: str) -> list[Any]:
    """Documents cut to a shape: `titles` (the first line), `wordsN` (the first N words);
    documents left empty are dropped."""
    if shape == "titles":
        cut = [dataclasses.replace(d, text=d.text.strip().split("\n")[0]) for d in docs]
    elif shape.startswith("words") and shape[5:].isdigit():
        n = int(shape[5:])
        cut = [dataclasses.replace(d, text=" ".join(d.text.split()[:n])) for d in docs]
    else:
        raise SystemExit(f"unknown shape {shape!r}: titles or wordsN (e.g. words30)")
    return [d for d in cut if d.text.strip()]


def fifth(docs: list[Any], k: int) -> tuple[list[Any], list[Any]]:
    """(the other four fifths, fifth k) of the documents, in a random order seeded by k."""
    import numpy as np

    order = np.random.default_rng(k).permutation(len(docs))
    held = set(order[: len(docs) // 5].tolist())
    rest = [d for i, d in enumerate(docs) if i not in held]
    return rest, [d for i, d in enumerate(docs) if i in held]


def run_one(reuters: str, shape: str, k: int, system: str) -> dict[str, Any]:
    """Train one system on four fifths of a shape and score it on the fifth, here."""
    from topicclf.classifier import TopicClassifier
    from topicclf.config import Config

    docs, _ = _load(reuters, "modapte")
    train, held = fifth(reshape(docs, shape), k)
    clf = TopicClassifier(config=Config().with_overrides(SYSTEMS[system]))
    started = time.perf_counter()
    clf.fit([d.text for d in train], [d.labels for d in train])
    seconds = time.perf_counter() - started
    scores = _scores(train, held, clf.predict([d.text for d in held]))
    info = clf.training_info_
    return {
        "shape": shape,
        "fifth": k,
        "system": system,
        "mean_characters": round(sum(len(d.text) for d in train) / len(train), 1),
        "char_ngrams": info.get("char_ngrams"),
        "char_ngram_choice": info.get("char_ngram_choice"),
        "train_seconds": round(seconds, 1),
        **{key: round(value, 4) for key, value in scores.items()},
    }


def _child(reuters: str, shape: str, k: int, system: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--reuters", reuters, "--one", shape, str(k), system]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        raise SystemExit(f"{shape} fifth {k} {system}: failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--fifths", type=int, default=3, help="held-out fifths per shape (1-5)")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--output", default=str(REPO / "results" / "short_texts.json"))
    parser.add_argument("--one", nargs=3, metavar=("SHAPE", "FIFTH", "SYSTEM"), help="internal")
    args = parser.parse_args()
    if args.one:
        shape, k, system = args.one
        print(json.dumps(run_one(str(args.reuters), shape, int(k), system)))
        return
    if not Path(args.reuters).exists():
        raise SystemExit(f"Reuters-21578 not found at {args.reuters}; pass --reuters PATH")
    if not 1 <= args.fifths <= 5:
        raise SystemExit("--fifths must be between 1 and 5")
    results = []
    for shape in args.shapes:
        reshape([], shape)  # an unknown shape fails before any training
        for k in range(1, args.fifths + 1):
            for system in SYSTEMS:
                row = _child(str(args.reuters), shape, k, system)
                results.append(row)
                print(
                    f"{shape} fifth {k} {system}: micro {row['micro_f1']:.4f} macro "
                    f"{row['macro_f1']:.4f} in {row['train_seconds']} s"
                    f" (character n-grams {row['char_ngrams'] or 'off'})",
                    file=sys.stderr,
                    flush=True,
                )
    print(table(results))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"run": run_info(), "results": results}, indent=2) + "\n")
    print(f"written to {out}")


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table: per shape and fifth, words only against the default, and the change."""
    rows = {(r["shape"], r["fifth"], r["system"]): r for r in results}
    lines = [
        "| shape | chars | fifth | words only | default | change | seconds | kept |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for shape, k, _ in [key for key in rows if key[2] == "default"]:
        new, old = rows[(shape, k, "default")], rows.get((shape, k, "words only"))
        if old is None:
            continue
        change = (
            f"{new['micro_f1'] - old['micro_f1']:+.4f}/{new['macro_f1'] - old['macro_f1']:+.4f}"
        )
        lines.append(
            f"| {shape} | {new['mean_characters']:.0f} | {k} | "
            f"{old['micro_f1']:.4f}/{old['macro_f1']:.4f} | "
            f"{new['micro_f1']:.4f}/{new['macro_f1']:.4f} | {change} | "
            f"{old['train_seconds']} -> {new['train_seconds']} | "
            f"{'yes' if new['char_ngrams'] else 'no'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
