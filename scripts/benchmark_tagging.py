"""Tagging speed: `topicclf tag` as a fresh process against a fresh process running the
equivalent scikit-learn pipeline (TF-IDF + one-vs-rest LinearSVC), on the same inputs.

Inputs: Reuters ModApte test (3,019 documents) as JSON Lines, the same replicated to about
30,000 documents, and one short document on stdin. On the large input topicclf also runs
with one process (--jobs 1) and on a local Dask cluster of 1 and 2 workers. Prints wall time
(the one-document case is start-up time; the median of --repeat rounds, each running every
system of a case once, in turn, so load from other work falls on all of them alike),
documents per second and peak memory of each child process with its workers, and the
ratios to scikit-learn; then the latency of `topicclf serve` for one short document per
request. Writes JSON.

    python scripts/benchmark_tagging.py [--model DIR] [--reuters PATH]
        [--output results/tagging.json] [--repeat 3]

Without --model, a default dense model is trained on ModApte train first (about 2 minutes).
The scikit-learn pipeline is pickled into a temporary directory: that is the reference
users would deploy, not something topicclf itself ever does.

topicclf's modules are compiled to bytecode (`__pycache__`) before timing, as installing
a package does and as scikit-learn's already are: in a source checkout run with
PYTHONDONTWRITEBYTECODE set, each start compiled them anew (about 0.1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_info, run_measured

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
    """Wall seconds and peak RSS (MB, with any worker processes) of one child process."""
    result = run_measured(command, [stdin] if stdin is not None else None)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return result.seconds, result.peak_tree_rss_mb


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
        compiled = compile_package()
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
    _report(results, args.output, args.repeat, compiled)


def compile_package() -> bool:
    """Compile topicclf's modules to bytecode, as an installed package has them."""
    import compileall

    import topicclf

    return bool(compileall.compile_dir(Path(topicclf.__file__).parent, quiet=1))


def time_cases(workdir: Path, model: Path, repeat: int) -> list[dict[str, Any]]:
    """Time every case in fresh child processes; median wall time, peak RSS."""
    topicclf = str(Path(sys.executable).parent / "topicclf")
    small, large = workdir / "test.jsonl", workdir / "test-x10.jsonl"
    pipeline = workdir / "sklearn.pkl"
    tagger = workdir / "sklearn_tag.py"
    tagger.write_text(SKLEARN_TAGGER)
    one = b"Oil prices rose after the cartel agreed to cut output.\n"
    tag = [topicclf, "tag", str(model)]
    dask_out = ["-o", str(workdir / "dask-out"), "--force", "--engine", "dask"]
    # (input, documents, stdin, {system: command}); the first system is the reference.
    cases: list[tuple[str, int, bytes | None, dict[str, list[str]]]] = [
        (
            "1 document (stdin)",
            1,
            one,
            {
                "sklearn": [sys.executable, str(tagger), str(pipeline), "-"],
                "topicclf": [*tag, "-"],
            },
        ),
        (
            small.name,
            3019,
            None,
            {
                "sklearn": [sys.executable, str(tagger), str(pipeline), str(small)],
                "topicclf": [*tag, str(small)],
            },
        ),
        (
            large.name,
            30190,
            None,
            {
                "sklearn": [sys.executable, str(tagger), str(pipeline), str(large)],
                "topicclf": [*tag, str(large)],
                "topicclf --jobs 1": [*tag, str(large), "--jobs", "1"],
                "topicclf dask, 1 worker": [*tag, str(large), *dask_out, "--workers", "1"],
                "topicclf dask, 2 workers": [*tag, str(large), *dask_out, "--workers", "2"],
            },
        ),
    ]
    results: list[dict[str, Any]] = []
    for name, n_docs, stdin, systems in cases:
        # Round by round, every system once per round: a spell of load from other work on
        # the machine falls on all of them, not on one system's runs in a row.
        runs: dict[str, list[tuple[float, int]]] = {system: [] for system in systems}
        for round_ in range(repeat):
            for system, command in systems.items():
                print(f"timing {system} on {name} ({round_ + 1}/{repeat}) ...", file=sys.stderr)
                runs[system].append(timed(command, stdin))
        reference = None
        for system, timings in runs.items():
            wall = statistics.median(t for t, _ in timings)
            reference = reference or wall
            results.append(
                {
                    "input": name,
                    "documents": n_docs,
                    "system": system,
                    "seconds": round(wall, 3),
                    "docs_per_s": round(n_docs / wall, 1),
                    "peak_rss_mb": max(m for _, m in timings),
                    "ratio_to_sklearn": round(wall / reference, 3),
                }
            )
    results.append(serve_latency(topicclf, model))
    return results


def serve_latency(topicclf: str, model: Path, requests: int = 500) -> dict[str, Any]:
    """p50/p95 latency of POST /tag with one short document, on a kept-alive connection."""
    import http.client

    print("timing topicclf serve ...", file=sys.stderr, flush=True)
    proc = subprocess.Popen(
        [topicclf, "serve", str(model), "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"text": "Oil prices rose after the cartel agreed to cut output."})
        latencies = []
        for i in range(requests + 20):
            started = time.perf_counter()
            conn.request("POST", "/tag", body=body.encode())
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                sys.exit(f"serve answered {response.status}")
            if i >= 20:  # the first requests warm caches up
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        proc.terminate()
        proc.wait()
    latencies.sort()
    return {
        "input": f"{requests} requests of 1 short document",
        "documents": 1,
        "system": "topicclf serve",
        "p50_ms": round(latencies[len(latencies) // 2], 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)], 2),
    }


def _report(results: list[dict[str, Any]], output: Path, repeat: int, compiled: bool) -> None:
    head = (
        f"{'input':<20} {'system':<26} {'docs':>6} {'seconds':>8} {'ratio':>6} "
        f"{'docs/s':>8} {'peak RSS MB':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        if "p50_ms" in r:
            print(
                f"{r['system']}: one short document per request, p50 {r['p50_ms']} ms, "
                f"p95 {r['p95_ms']} ms ({r['input']})"
            )
            continue
        print(
            f"{r['input']:<20} {r['system']:<26} {r['documents']:>6} {r['seconds']:>8.2f} "
            f"{r['ratio_to_sklearn']:>6.2f} {r['docs_per_s']:>8.0f} {r['peak_rss_mb']:>11}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **run_info(),
        "repeat": repeat,
        "bytecode_compiled": compiled,
        "results": results,
    }
    output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
