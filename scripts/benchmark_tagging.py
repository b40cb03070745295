"""Tagging speed: `topicclf tag` as a fresh process against a fresh process running the
equivalent scikit-learn pipeline (TF-IDF + one-vs-rest LinearSVC), on the same inputs.

Inputs: Reuters ModApte test (3,019 documents) as JSON Lines, the same replicated to about
30,000 documents, and one short document on stdin. Prints wall time, documents per second
and peak memory of each child process, and the ratios topicclf / scikit-learn; writes JSON.

    python scripts/benchmark_tagging.py [--model DIR] [--reuters PATH]
        [--output results/tagging.json] [--repeat 3]

Without --model, a default dense model is trained on ModApte train first (about 2 minutes).
The scikit-learn pipeline is pickled into a temporary directory: that is the reference
users would deploy, not something topicclf itself ever does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"

SKLEARN_TAGGER = """
import json, pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as handle:
    vectorizer, model, classes = pickle.load(handle)
source = sys.stdin if sys.argv[2] == "-" else open(sys.argv[2], encoding="utf-8")
out = sys.stdout
batch = []
def flush(batch):
    if not batch:
        return
    docs = [json.loads(line) if line.startswith("{") else {"id": "", "text": line}
            for line in batch]
    scores = model.decision_function(vectorizer.transform([d["text"] for d in docs]))
    for d, row in zip(docs, scores):
        labels = [classes[j] for j in np.flatnonzero(row > 0)]
        out.write(json.dumps({"id": d.get("id", ""), "labels": labels}) + "\\n")
for line in source:
    batch.append(line.rstrip("\\n"))
    if len(batch) == 512:
        flush(batch)
        batch = []
flush(batch)
"""


def timed(command: list[str], stdin: bytes | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one child process; its output is discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        assert proc.stderr is not None
        sys.exit(f"{' '.join(command)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return seconds, round(usage.ru_maxrss / 1024)


def prepare(workdir: Path, reuters: str, model: Path | None) -> Path:
    """Write the inputs and the pickled scikit-learn pipeline; return the topicclf model."""
    import pickle

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    from topicclf.corpus import open_corpus

    train = list(open_corpus(reuters, format="reuters", split="modapte-train"))
    test = list(open_corpus(reuters, format="reuters", split="modapte-test"))
    small, large = workdir / "test.jsonl", workdir / "test-x10.jsonl"
    lines = [json.dumps({"id": d.id, "text": d.text}) + "\n" for d in test]
    small.write_text("".join(lines))
    large.write_text("".join(lines) * 10)
    vectorizer = TfidfVectorizer(
        sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english"
    )
    x = vectorizer.fit_transform([d.text for d in train])
    binarizer = MultiLabelBinarizer()
    svm = OneVsRestClassifier(LinearSVC()).fit(
        x, binarizer.fit_transform([d.labels for d in train])
    )
    pipeline = workdir / "sklearn.pkl"
    with pipeline.open("wb") as handle:
        pickle.dump((vectorizer, svm, list(binarizer.classes_)), handle)
    if model is None:
        from topicclf.classifier import TopicClassifier

        model = workdir / "model"
        clf = TopicClassifier().fit([d.text for d in train], [d.labels for d in train])
        clf.save(model)
    return model


def main() -> None:
    """Prepare, time each case --repeat times (median), print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--output", type=Path, default=REPO / "results" / "tagging.json")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-in", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_in:
        print(json.dumps(time_cases(args.time_in, args.model, args.repeat)))
        return
    if not Path(args.reuters).exists():
        sys.exit(f"Reuters-21578 not found at {args.reuters}; give --reuters or $TOPICCLF_REUTERS")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print("preparing inputs and models ...", file=sys.stderr, flush=True)
        model = prepare(workdir, str(args.reuters), args.model)
        # Time from a fresh, small process: a forked child reports its parent's peak memory
        # as its own floor, and this one has just trained models.
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--time-in",
                str(workdir),
                "--model",
                str(model),
                "--repeat",
                str(args.repeat),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:])
        results = json.loads(done.stdout.strip().splitlines()[-1])
    _report(results, args.output, args.repeat)


def time_cases(workdir: Path, model: Path, repeat: int) -> list[dict[str, Any]]:
    """Time every case in fresh child processes; median wall time, peak RSS."""
    topicclf = str(Path(sys.executable).parent / "topicclf")
    small, large = workdir / "test.jsonl", workdir / "test-x10.jsonl"
    pipeline = workdir / "sklearn.pkl"
    tagger = workdir / "sklearn_tag.py"
    tagger.write_text(SKLEARN_TAGGER)
    one = b"Oil prices rose after the cartel agreed to cut output.\n"
    cases: list[tuple[str, int, list[str], list[str], bytes | None]] = [
        (
            "1 document (stdin)",
            1,
            [topicclf, "tag", str(model), "-"],
            [sys.executable, str(tagger), str(pipeline), "-"],
            one,
        ),
        (
            f"{small.name}",
            3019,
            [topicclf, "tag", str(model), str(small)],
            [sys.executable, str(tagger), str(pipeline), str(small)],
            None,
        ),
        (
            f"{large.name}",
            30190,
            [topicclf, "tag", str(model), str(large)],
            [sys.executable, str(tagger), str(pipeline), str(large)],
            None,
        ),
    ]
    results: list[dict[str, Any]] = []
    for name, n_docs, ours, theirs, stdin in cases:
        print(f"timing {name} ...", file=sys.stderr, flush=True)
        runs = {
            "topicclf": [timed(ours, stdin) for _ in range(repeat)],
            "sklearn": [timed(theirs, stdin) for _ in range(repeat)],
        }
        row: dict[str, Any] = {"input": name, "documents": n_docs}
        for system, timings in runs.items():
            wall = statistics.median(t for t, _ in timings)
            row[f"{system}_seconds"] = round(wall, 3)
            row[f"{system}_docs_per_s"] = round(n_docs / wall, 1)
            row[f"{system}_peak_rss_mb"] = max(m for _, m in timings)
        row["wall_ratio"] = round(row["topicclf_seconds"] / row["sklearn_seconds"], 3)
        results.append(row)
    return results


def _report(results: list[dict[str, Any]], output: Path, repeat: int) -> None:
    head = (
        f"{'input':<20} {'docs':>6} {'topicclf s':>10} {'sklearn s':>10} {'ratio':>6} "
        f"{'topicclf docs/s':>15} {'sklearn docs/s':>14} {'RSS MB t/s':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['input']:<20} {r['documents']:>6} {r['topicclf_seconds']:>10.2f} "
            f"{r['sklearn_seconds']:>10.2f} {r['wall_ratio']:>6.2f} "
            f"{r['topicclf_docs_per_s']:>15.0f} {r['sklearn_docs_per_s']:>14.0f} "
            f"{r['topicclf_peak_rss_mb']:>5}/{r['sklearn_peak_rss_mb']:<5}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "repeat": repeat,
        "results": results,
    }
    output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
