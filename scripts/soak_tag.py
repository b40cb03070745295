"""Soak test: stream a million short documents through `topicclf tag -` and check that
throughput holds and memory stays flat with input size.

Runs `topicclf tag MODEL -` as a fresh process on --small (100,000) and then --large
(1,000,000) short documents written to its stdin as they are generated, checks that exactly
one output line comes back per document, in order, and reports documents/s and peak RSS
(the process alone, and with any worker processes). The memory verdict compares the peak
RSS at --large with that at --small: flat means a ratio within --max-ratio (1.2).

    python scripts/soak_tag.py [--model DIR] [--small 100000] [--large 1000000]
        [--output results/soak.json] [-- EXTRA TAG OPTIONS]

Without --model, a model is trained on the demo corpus (corpora/newsbriefs, ~20 s).
Documents are 1-3 sentences drawn at random (seeded) from that corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measured, run_info, run_measured

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "corpora" / "newsbriefs" / "train.jsonl"


def sentences() -> list[str]:
    """The demo corpus's sentences: realistic short texts with the model's vocabulary."""
    out = []
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip())
    return out


def documents(count: int, seed: int = 0) -> Iterator[bytes]:
    """`count` short documents, one per line, as bytes for a pipe."""
    pool = sentences()
    rng = random.Random(seed)
    batch: list[str] = []
    for _ in range(count):
        batch.append(" ".join(rng.choice(pool) for _ in range(rng.randint(1, 3))))
        if len(batch) == 1000:
            yield ("\n".join(batch) + "\n").encode()
            batch = []
    if batch:
        yield ("\n".join(batch) + "\n").encode()


def soak(model: Path, count: int, extra: list[str]) -> dict[str, object]:
    """Tag `count` documents from stdin in a fresh process; check the output; measure."""
    topicclf = str(Path(sys.executable).parent / "topicclf")
    print(f"tagging {count:,} documents ...", file=sys.stderr, flush=True)
    result: Measured = run_measured([topicclf, "tag", str(model), "-", *extra], documents(count))
    if result.returncode != 0:
        sys.exit(f"topicclf tag failed ({result.returncode}):\n{result.stderr[-2000:]}")
    last_id = json.loads(result.last_line)["id"] if result.last_line else None
    if result.output_lines != count or last_id != f"stdin:{count}":
        sys.exit(
            f"expected {count} output lines ending with stdin:{count}, "
            f"got {result.output_lines} ending with {last_id}"
        )
    return {
        "documents": count,
        "seconds": round(result.seconds, 2),
        "docs_per_s": round(count / result.seconds),
        "peak_rss_mb": result.peak_rss_mb,
        "peak_rss_with_workers_mb": result.peak_tree_rss_mb,
    }


def main() -> None:
    """Train a demo model if needed, soak at two sizes, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--max-ratio", type=float, default=1.2)
    parser.add_argument("--output", type=Path, default=REPO / "results" / "soak.json")
    parser.add_argument("extra", nargs="*", help="options passed on to topicclf tag")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            print("training a demo model ...", file=sys.stderr, flush=True)
            model = Path(tmp) / "model"
            topicclf = str(Path(sys.executable).parent / "topicclf")
            trained = run_measured([topicclf, "-q", "train", str(DEMO), "-o", str(model)])
            if trained.returncode != 0:
                sys.exit(trained.stderr[-2000:])
        rows = [soak(model, n, args.extra) for n in (args.small, args.large)]
    ratio = rows[1]["peak_rss_with_workers_mb"] / rows[0]["peak_rss_with_workers_mb"]  # type: ignore[operator]
    head = (
        f"{'documents':>10} {'seconds':>8} {'docs/s':>8} {'peak RSS MB':>12} {'with workers':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['documents']:>10,} {r['seconds']:>8.1f} {r['docs_per_s']:>8,} "
            f"{r['peak_rss_mb']:>12} {r['peak_rss_with_workers_mb']:>13}"
        )
    flat = ratio <= args.max_ratio
    print(
        f"\npeak RSS {args.large:,} / {args.small:,} documents: {ratio:.3f} "
        f"({'flat' if flat else 'NOT flat'}: limit {args.max_ratio})"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **run_info(),
        "tag_options": args.extra,
        "results": rows,
        "rss_ratio": round(ratio, 3),
        "flat": flat,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {args.output}", file=sys.stderr)
    if not flat:
        sys.exit(1)


if __name__ == "__main__":
    main()
