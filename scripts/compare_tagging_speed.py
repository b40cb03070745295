"""Tagging speed of this checkout against another (an earlier commit), on Reuters ModApte.

Each checkout trains a dense model (3 epochs: the network's size is what tagging pays for,
not its quality) in its own process and scores the 3,019 test documents five times; the best
time counts. Used to check that detecting languages costs English models nothing (they never
run the detector).

    git worktree add /tmp/before COMMIT
    python scripts/compare_tagging_speed.py --other /tmp/before [--reuters PATH]
        [--output results/tagging_languages.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_info

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"
RUNS = 5
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from topicclf import TopicClassifier
from topicclf.config import Config
from topicclf.corpus import open_corpus
path = sys.argv[2]
train = list(open_corpus(path, format="reuters", split="modapte-train"))
test = [d.text for d in open_corpus(path, format="reuters", split="modapte-test")]
config = Config().with_overrides(["train.epochs=3", "network.type=dense"])
clf = TopicClassifier(config=config).fit([d.text for d in train], [d.labels for d in train])
times = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    clf.predict_proba(test)
    times.append(time.perf_counter() - started)
print(json.dumps({"documents": len(test), "seconds": sorted(times)}))
"""


def measure(checkout: Path, reuters: str) -> dict[str, object]:
    """Train and time tagging with the topicclf package of `checkout`, in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), reuters, str(RUNS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"{checkout}: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    best = min(result["seconds"])
    return {
        "checkout": str(checkout),
        **result,
        "documents_per_second": round(result["documents"] / best),
    }


def main() -> None:
    """Measure both checkouts, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, required=True, help="another checkout's root")
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--output", type=Path, default=REPO / "results" / "tagging_languages.json")
    args = parser.parse_args()
    rows = {
        "this": measure(REPO, str(args.reuters)),
        "other": measure(args.other, str(args.reuters)),
    }
    for name, row in rows.items():
        print(f"{name:<6} {row['documents_per_second']:>7} documents/s  ({row['checkout']})")
    ratio = rows["this"]["documents_per_second"] / rows["other"]["documents_per_second"]
    print(f"this / other: {ratio:.3f}")
    args.output.write_text(
        json.dumps({**run_info(), **rows, "ratio": round(ratio, 3)}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
