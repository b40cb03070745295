"""Do the README's quality figures reproduce? topicclf's defaults trained on Reuters-21578
ModApte and R8, each run in a fresh process as a fresh clone would run it: the default seed
twice (is training deterministic on this machine?) and two more seeds (how far apart do
runs of different seeds land?). Prints a table and writes JSON.

    python scripts/reproduce_figures.py [--reuters PATH] [--seeds 42 43 44]
        [--output results/reproducibility.json]

The corpus comes from --reuters, $TOPICCLF_REUTERS, or ../shared/corpora/reuters21578.tar.gz.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"
CORPORA = {"modapte": ("modapte-train", "modapte-test"), "r8": ("r8-train", "r8-test")}


def run_one(reuters: str, corpus: str, seed: int) -> dict[str, Any]:
    """Train the defaults with `seed` on one corpus's train split; its test-split figures
    and a digest of every test document's topics (equal digests: the same tags)."""
    from topicclf.classifier import TopicClassifier
    from topicclf.config import Config
    from topicclf.corpus import open_corpus

    train_split, test_split = CORPORA[corpus]
    train = list(open_corpus(reuters, split=train_split))
    test = list(open_corpus(reuters, split=test_split))
    clf = TopicClassifier(config=Config().with_overrides([f"train.seed={seed}"]))
    started = time.perf_counter()
    clf.fit([d.text for d in train], [d.labels for d in train])
    seconds = time.perf_counter() - started
    report = clf.evaluate(test)
    tags = clf.predict([d.text for d in test])
    digest = hashlib.sha256(json.dumps(tags).encode()).hexdigest()[:16]
    figures = {"micro_f1": round(report.micro.f1, 4), "macro_f1": round(report.macro.f1, 4)}
    if report.multiclass:
        figures["accuracy"] = round(report.multiclass["accuracy"], 4)
    return {"corpus": corpus, "seed": seed, **figures, "tags_digest": digest,
            "train_seconds": round(seconds, 1)}  # fmt: skip


def summarize(runs: list[dict[str, Any]], default_seed: int) -> dict[str, Any]:
    """Per corpus: whether the default seed's runs gave the same tags, and the spread of
    each figure over the seeds (one run per seed)."""
    out: dict[str, Any] = {}
    for corpus in CORPORA:
        mine = [r for r in runs if r["corpus"] == corpus]
        if not mine:
            continue
        repeats = [r for r in mine if r["seed"] == default_seed]
        per_seed = {r["seed"]: r for r in mine}.values()  # one run per seed
        spread = {}
        for figure in ("micro_f1", "macro_f1", "accuracy"):
            values = [r[figure] for r in per_seed if figure in r]
            if values:
                spread[figure] = {
                    "min": min(values),
                    "max": max(values),
                    "mean": round(statistics.fmean(values), 4),
                    "range": round(max(values) - min(values), 4),
                }
        out[corpus] = {
            "deterministic": len({r["tags_digest"] for r in repeats}) == 1,
            "repeats_of_default_seed": len(repeats),
            "spread_over_seeds": spread,
        }
    return out


def main() -> None:
    """Run every (corpus, seed) in its own process, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--corpora", nargs="+", choices=sorted(CORPORA), default=list(CORPORA))
    parser.add_argument("--output", type=Path, default=REPO / "results" / "reproducibility.json")
    parser.add_argument("--run", nargs=2, metavar=("CORPUS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_one(str(args.reuters), args.run[0], int(args.run[1]))))
        return
    if not Path(args.reuters).exists():
        sys.exit(f"Reuters-21578 not found at {args.reuters} (give --reuters or TOPICCLF_REUTERS)")
    default_seed = args.seeds[0]
    plan = [(c, s) for c in args.corpora for s in [default_seed, *args.seeds]]
    runs = []
    for corpus, seed in plan:
        done = subprocess.run(
            [sys.executable, __file__, "--run", corpus, str(seed), "--reuters", str(args.reuters)],
            capture_output=True, text=True, check=True, timeout=1800,
        )  # fmt: skip
        run = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(
            f"{corpus:8} seed {seed:>3}: micro-F1 {run['micro_f1']:.4f} macro-F1 "
            f"{run['macro_f1']:.4f}"
            + (f" accuracy {run['accuracy']:.4f}" if "accuracy" in run else "")
            + f"  tags {run['tags_digest']}  {run['train_seconds']:.0f}s",
            flush=True,
        )
    summary = summarize(runs, default_seed)
    print()
    print("| corpus | same tags from the default seed twice | micro-F1 over seeds | "
          "macro-F1 over seeds |")  # fmt: skip
    print("|---|---|---|---|")
    for corpus, s in summary.items():
        cells = [
            f"{f['mean']:.4f} ({f['min']:.4f}-{f['max']:.4f})"
            for f in (s["spread_over_seeds"]["micro_f1"], s["spread_over_seeds"]["macro_f1"])
        ]
        print(f"| {corpus} | {'yes' if s['deterministic'] else 'no'} | {cells[0]} | {cells[1]} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "seeds": args.seeds,
                "runs": runs,
                "summary": summary,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
