"""Training cost as the corpus grows: `topicclf train` on 1x, 4x and 16x a base corpus.

The base is the first N documents of Reuters-21578 ModApte train (default 1000). Larger
corpora repeat the whole training set with light perturbation (each copy drops a different
random 10% of every document's words), so they have the same topics and text lengths, not
exact duplicates. Each size trains with default settings in a fresh `topicclf train` process;
wall time and peak memory of the process tree are measured. Prints a table and writes JSON
with the ratios of time and memory to the 1x run, beside the ratio of corpus sizes.

    python scripts/benchmark_scaling.py [--reuters PATH] [--base 1000] [--factors 1 4 16]
        [--output results/scaling.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_info, run_measured

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"
DROP = 0.1  # share of words each perturbed copy leaves out


def write_corpus(docs: list[Any], factor: int, path: Path, base: int, seed: int = 0) -> int:
    """`factor` x `base` documents as JSON Lines: the base documents, then perturbed copies
    drawn from the whole training set. Returns the number written."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(base * factor):
            doc = docs[i % base] if i < base else docs[rng.randrange(len(docs))]
            words = doc.text.split()
            if i >= base:
                words = [w for w in words if rng.random() >= DROP] or words
            record = {"id": f"d{i}", "text": " ".join(words), "labels": list(doc.labels)}
            handle.write(json.dumps(record) + "\n")
    return base * factor


def main() -> None:
    """Train at each size in a child process, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--base", type=int, default=1000, help="documents in the 1x corpus")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--output", type=Path, default=REPO / "results" / "scaling.json")
    args = parser.parse_args()
    if not Path(args.reuters).exists():
        sys.exit(f"Reuters-21578 not found at {args.reuters}; give --reuters or $TOPICCLF_REUTERS")
    from topicclf.corpus import open_corpus

    docs = list(open_corpus(args.reuters, format="reuters", split="modapte-train"))
    base = min(args.base, len(docs))
    topicclf = str(Path(sys.executable).parent / "topicclf")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for factor in args.factors:
            corpus = Path(tmp) / f"x{factor}.jsonl"
            n = write_corpus(docs, factor, corpus, base)
            print(f"training on {n} documents ({factor}x) ...", file=sys.stderr, flush=True)
            measured = run_measured(
                [topicclf, "-q", "train", str(corpus), "-o", str(Path(tmp) / f"m{factor}")]
            )
            if measured.returncode != 0:
                sys.exit(f"training {factor}x failed:\n{measured.stderr[-2000:]}")
            results.append(
                {
                    "factor": factor,
                    "documents": n,
                    "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
                    "seconds": round(measured.seconds, 1),
                    "peak_tree_rss_mb": measured.peak_tree_rss_mb,
                }
            )
    first = results[0]
    for r in results:
        r["size_ratio"] = round(r["documents"] / first["documents"], 2)
        r["time_ratio"] = round(r["seconds"] / first["seconds"], 2)
        r["memory_ratio"] = round(r["peak_tree_rss_mb"] / first["peak_tree_rss_mb"], 2)
    print(
        f"{'size':>5} {'documents':>9} {'MB':>6} {'seconds':>8} {'peak RSS MB':>11} "
        f"{'time ratio':>10} {'memory ratio':>12}"
    )
    for r in results:
        print(
            f"{r['factor']:>4}x {r['documents']:>9} {r['corpus_mb']:>6} {r['seconds']:>8} "
            f"{r['peak_tree_rss_mb']:>11} {r['time_ratio']:>10} {r['memory_ratio']:>12}"
        )
    payload = {**run_info(), "base_documents": base, "drop": DROP, "results": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
