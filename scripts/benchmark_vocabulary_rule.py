"""The dense network against the shortlist network on mid-size vocabularies: does the rule
of `network.type = auto` (the shortlist network from SHORTLIST_FROM_TOPICS = 1,000 topics,
else the dense network) hold up when measured?

Vocabularies of K subjects come from TIBKAT (LLMs4Subjects): the K most frequent GND
subjects of the training records are kept, every other subject is dropped from every record,
and records left with no subject are dropped. Training takes a seeded random sample of at
most --limit of those records (so that each run takes minutes); dev is every dev record that
keeps at least one subject, with its subjects restricted the same way. For each K both
networks (`TopicClassifier(network="dense")` and `TopicClassifier(network="shortlist")`,
defaults otherwise, seed fixed) train on the same records, each in its own subprocess, which
reports its wall time and its peak RSS (getrusage, as scripts/benchmark_library.py does: after
training, and after scoring dev too). Dev is scored on each record's 10 best topics by
predict_proba (P@1, F1@5, nDCG@10, as benchmark_library scores them) and on the model's own
decisions, predict (micro-F1 over (record, topic) pairs); a paired bootstrap over the dev
records gives a 95% interval for shortlist minus dense in P@1, F1@5 and nDCG@10. A run that
takes more than --timeout seconds is stopped and recorded as such. The load of the machine
(uptime, os.getloadavg) is recorded before and after each run: other jobs slow the runs down.

    python scripts/benchmark_vocabulary_rule.py [--tibkat DIR] [--output PATH]
        [--sizes 300 1000 3000] [--limit 20000] [--timeout 1500] [--seed 42]

The corpus comes from --tibkat, $TOPICCLF_TIBKAT, or ../shared/corpora/tibkat. The JSON goes
to --output (default results/vocabulary_rule.json); a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark_library
from measure import run_info, write_results

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TIBKAT = REPO.parent / "shared" / "corpora" / "tibkat"
SYSTEMS = ("dense", "shortlist")
TOP = 10
BATCH = 512
BOOTSTRAP_RESAMPLES = 1000


def restricted(docs: list[Any], kept: set[str]) -> list[tuple[Any, list[str]]]:
    """Each record with its subjects restricted to `kept`, records left with none dropped."""
    out = []
    for doc in docs:
        labels = [t for t in doc.labels if t in kept]
        if labels:
            out.append((doc, labels))
    return out


def vocabulary(train: list[Any], size: int) -> set[str]:
    """The `size` most frequent subjects of the training records (ties by name)."""
    counts = Counter(t for doc in train for t in set(doc.labels))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {topic for topic, _ in ranked[:size]}


def datasets(tibkat: Path, size: int, limit: int, seed: int) -> tuple[list[Any], list[Any]]:
    """Training sample and dev records, as (document, restricted subjects) pairs."""
    train = benchmark_library.load(tibkat, "train")
    kept = vocabulary(train, size)
    pool = restricted(train, kept)
    if len(pool) > limit:
        picked = sorted(random.Random(seed).sample(range(len(pool)), limit))
        pool = [pool[i] for i in picked]
    dev = restricted(benchmark_library.load(tibkat, "dev"), kept)
    return pool, dev


class _Gold:
    """A dev record as benchmark_library's scorers read it: an id and its (restricted) labels."""

    def __init__(self, doc: Any, labels: list[str]) -> None:
        self.id, self.labels = doc.id, labels


def run_one(system: str, tibkat: Path, size: int, limit: int, seed: int) -> dict[str, Any]:
    """Train one network on one vocabulary in this process and score dev."""
    import numpy as np

    from topicclf import TopicClassifier
    from topicclf.config import Config
    from topicclf.training import choose_network

    train, dev = datasets(tibkat, size, limit, seed)
    texts, label_sets = [d.text for d, _ in train], [labels for _, labels in train]
    started = time.perf_counter()
    clf = TopicClassifier(network=system, seed=seed).fit(texts, label_sets)
    train_seconds = time.perf_counter() - started
    train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    classes = clf.classes_
    ranked: list[list[str]] = []
    decided: list[list[str]] = []
    for start in range(0, len(dev), BATCH):
        batch = [d.text for d, _ in dev[start : start + BATCH]]
        for row in clf.predict_proba(batch):
            best = np.argsort(-row, kind="stable")[:TOP]
            ranked.append([classes[j] for j in best if row[j] > 0])
        decided.extend(clf.predict(batch))
    suggest_seconds = time.perf_counter() - started
    gold = [_Gold(d, labels) for d, labels in dev]
    hits = sum(len(set(p) & set(g.labels)) for p, g in zip(decided, gold, strict=True))
    predicted = sum(len(set(p)) for p in decided)
    true = sum(len(g.labels) for g in gold)
    precision = hits / predicted if predicted else 0.0
    recall = hits / true if true else 0.0
    micro_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rows = benchmark_library.per_record(gold, ranked)
    _, auto_choice = choose_network(Config(), label_sets)
    return {
        "system": system,
        "topics": size,
        "topics_in_sample": len(classes),
        "train_records": len(train),
        "dev_records": len(dev),
        "auto_would_take": auto_choice,
        "train_seconds": round(train_seconds, 1),
        "suggest_seconds": round(suggest_seconds, 1),
        "train_peak_rss_mb": round(train_peak),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "stage_seconds": clf.training_info_.get("stage_seconds"),
        "figures": benchmark_library.figures(gold, ranked),
        "decisions": {
            "micro_precision": round(precision, 4),
            "micro_recall": round(recall, 4),
            "micro_f1": round(micro_f1, 4),
            "topics_per_record": round(predicted / len(dev), 3),
        },
        "per_record": {
            k: [round(float(v), 5) for v in rows[k]] for k in ("p@1", "f1@5", "ndcg@10")
        },
    }


def load_now() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def run_child(args: argparse.Namespace, system: str, size: int) -> dict[str, Any]:
    """One run in a subprocess, stopped after args.timeout seconds."""
    command = [
        sys.executable,
        __file__,
        "--run",
        system,
        "--sizes",
        str(size),
        "--tibkat",
        str(args.tibkat),
        "--limit",
        str(args.limit),
        "--seed",
        str(args.seed),
    ]
    before, started = load_now(), time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {
            "system": system,
            "topics": size,
            "status": f"stopped after {args.timeout} s (timeout)",
            "wall_seconds": round(time.perf_counter() - started, 1),
            "load_before": before,
            "load_after": load_now(),
        }
    wall = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return {
            "system": system,
            "topics": size,
            "status": f"failed (exit status {done.returncode})",
            "wall_seconds": wall,
            "load_before": before,
            "load_after": load_now(),
        }
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        **result,
        "status": "ok",
        "wall_seconds": wall,
        "load_before": before,
        "load_after": load_now(),
    }


def compare(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Shortlist minus dense per vocabulary size: P@1, F1@5 and nDCG@10, paired bootstrap."""
    import numpy as np

    out: dict[str, Any] = {}
    by = {(r["topics"], r["system"]): r for r in results if r["status"] == "ok"}
    for size in sorted({r["topics"] for r in results}):
        dense, shortlist = by.get((size, "dense")), by.get((size, "shortlist"))
        if dense is None or shortlist is None:
            continue
        out[str(size)] = {
            metric: benchmark_library.paired_bootstrap(
                np.asarray(shortlist["per_record"][metric]),
                np.asarray(dense["per_record"][metric]),
                BOOTSTRAP_RESAMPLES,
            )
            for metric in ("p@1", "f1@5", "ndcg@10")
        }
    return out


def print_table(results: list[dict[str, Any]], differences: dict[str, Any]) -> None:
    """One row per vocabulary size and network (all dev records)."""
    print("| K | system | train s | peak MB | P@1 | F1@5 | nDCG@10 | micro-F1 | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        load = f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}"
        if r["status"] != "ok":
            print(f"| {r['topics']} | {r['system']} | {r['status']} | | | | | | {load} |")
            continue
        f = r["figures"]["all"]
        print(
            f"| {r['topics']} | {r['system']} | {r['train_seconds']} | {r['peak_rss_mb']} "
            f"| {f['p@1']:.4f} | {f['f1@5']:.4f} | {f['ndcg@10']:.4f} "
            f"| {r['decisions']['micro_f1']:.4f} | {load} |"
        )
    for size, by_metric in differences.items():
        for metric, b in by_metric.items():
            print(
                f"K={size}: {metric} shortlist minus dense {b['difference']:+.4f} "
                f"[{b['ci95_low']:+.4f}, {b['ci95_high']:+.4f}]"
            )


def main() -> None:
    """Run both networks for each size in subprocesses, print the table, write JSON."""
    parser = benchmark_library.tibkat_parser(__doc__, "vocabulary_rule.json")
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument("--limit", type=int, default=20_000, help="training records at most")
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds per run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--run", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.tibkat / "train.jsonl.gz").exists():
        sys.exit(f"TIBKAT not found in {args.tibkat}; give --tibkat or $TOPICCLF_TIBKAT")
    if args.run:
        print(json.dumps(run_one(args.run, args.tibkat, args.sizes[0], args.limit, args.seed)))
        return
    uptime_at_start = _uptime()
    results: list[dict[str, Any]] = []
    for size in args.sizes:
        for system in SYSTEMS:
            print(f"K={size}: training {system} ...", file=sys.stderr, flush=True)
            results.append(run_child(args, system, size))
            r = results[-1]
            print(f"  {r['status']} in {r['wall_seconds']} s", file=sys.stderr, flush=True)
    differences = compare(results)
    print_table(results, differences)
    payload = {
        **run_info(),
        "uptime_at_start": uptime_at_start,
        "uptime_at_end": _uptime(),
        "sizes": args.sizes,
        "limit": args.limit,
        "seed": args.seed,
        "timeout_seconds": args.timeout,
        "results": [{k: v for k, v in r.items() if k != "per_record"} for r in results],
        "shortlist_minus_dense": differences,
    }
    write_results(args.output, payload)


if __name__ == "__main__":
    main()
