"""Tagging quality on Reuters-21578, topicclf against a tuned linear SVM (and fastText), in one run.

Each system trains in its own subprocess (so peak memory is its own) on ModApte train and is
scored on ModApte test (90 topics, multi-label), and on R8 (8 topics, multi-class) where it
applies. Thresholds are chosen on training data only. Prints a table and writes JSON.

    python scripts/benchmark_quality.py [--reuters PATH] [--output results/quality.json]
        [--only NAME ...]

The corpus comes from --reuters, $TOPICCLF_REUTERS, or ../shared/corpora/reuters21578.tar.gz.
fastText runs only when its package imports (pip install fasttext).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_info

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"

# name -> (corpus: "modapte" or "r8", description)
SYSTEMS: dict[str, tuple[str, str]] = {
    "topicclf-dense": ("modapte", "topicclf train, default settings (dense network)"),
    "topicclf-embedding": ("modapte", "topicclf train --network embedding, its defaults"),
    "linear-svm": ("modapte", "TF-IDF (1-2-grams, sublinear, min_df 2) + one-vs-rest LinearSVC"),
    "fasttext-ova": ("modapte", "fastText supervised -loss ova, word bigrams, threshold 0.5"),
    "topicclf-dense-r8": ("r8", "topicclf train on R8, default settings (multi-class)"),
    "linear-svm-r8": ("r8", "TF-IDF + LinearSVC (one-vs-rest, argmax) on R8"),
}


def _load(reuters: str, corpus: str) -> tuple[list[Any], list[Any]]:
    from topicclf.corpus import open_corpus

    prefix = "modapte" if corpus == "modapte" else "r8"
    train = list(open_corpus(reuters, format="reuters", split=f"{prefix}-train"))
    test = list(open_corpus(reuters, format="reuters", split=f"{prefix}-test"))
    return train, test


def _scores(train: list[Any], test: list[Any], predicted: list[list[str]]) -> dict[str, float]:
    """Micro/macro P/R/F1 (and accuracy for single-label data) with topicclf's metrics."""
    import numpy as np

    from topicclf.labels import LabelEncoder
    from topicclf.metrics import evaluate

    encoder = LabelEncoder().fit([d.labels for d in train])
    y_true = encoder.transform([d.labels for d in test]).y
    y_pred = encoder.transform(predicted).y
    classes = encoder.classes_ or []
    single = all(len(d.labels) == 1 for d in test)
    report = evaluate(y_true, y_pred, classes, multiclass=single)
    out = {
        "micro_precision": report.micro.precision,
        "micro_recall": report.micro.recall,
        "micro_f1": report.micro.f1,
        "macro_precision": report.macro.precision,
        "macro_recall": report.macro.recall,
        "macro_f1": report.macro.f1,
    }
    if single:
        out["accuracy"] = float(
            np.mean([p[:1] == list(d.labels) for p, d in zip(predicted, test, strict=True)])
        )
    return out


def _run_topicclf(train: list[Any], test: list[Any], overrides: list[str]) -> list[list[str]]:
    from topicclf.classifier import TopicClassifier
    from topicclf.config import Config

    clf = TopicClassifier(config=Config().with_overrides(overrides))
    clf.fit([d.text for d in train], [d.labels for d in train])
    return clf.predict([d.text for d in test])


def _run_svm(train: list[Any], test: list[Any], single: bool) -> list[list[str]]:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(
        sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english"
    )
    x = vectorizer.fit_transform([d.text for d in train])
    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform([d.labels for d in train])
    model = OneVsRestClassifier(LinearSVC(C=1.0)).fit(x, y)
    decision = model.decision_function(vectorizer.transform([d.text for d in test]))
    classes = list(binarizer.classes_)
    if single:
        return [[classes[int(j)]] for j in np.argmax(decision, axis=1)]
    return [[classes[j] for j in np.flatnonzero(row > 0)] for row in decision]


def _run_fasttext(train: list[Any], test: list[Any]) -> list[list[str]]:
    import fasttext

    def line(text: str) -> str:
        return " ".join(text.lower().split())

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        for d in train:
            handle.write("".join(f"__label__{t} " for t in d.labels) + line(d.text) + "\n")
        path = handle.name
    try:
        model = fasttext.train_supervised(
            path, loss="ova", wordNgrams=2, epoch=25, lr=0.5, dim=100, verbose=0, seed=42
        )
    finally:
        os.unlink(path)
    out = []
    for d in test:
        # model.f.predict: the high-level predict breaks on numpy 2 (copy=False).
        pairs = model.f.predict(line(d.text), -1, 0.5, "strict")
        out.append([label.removeprefix("__label__") for _, label in pairs])
    return out


def run_one(name: str, reuters: str) -> dict[str, Any]:
    """Train and score one system in this process; returns its figures."""
    corpus, _ = SYSTEMS[name]
    train, test = _load(reuters, corpus)
    started = time.perf_counter()
    if name.startswith("topicclf-embedding"):
        predicted = _run_topicclf(train, test, ["network.type=embedding"])
    elif name.startswith("topicclf-dense"):
        predicted = _run_topicclf(train, test, [])
    elif name.startswith("linear-svm"):
        predicted = _run_svm(train, test, single=corpus == "r8")
    else:
        predicted = _run_fasttext(train, test)
    seconds = time.perf_counter() - started
    return {
        "system": name,
        "corpus": corpus,
        "train_and_tag_seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **{k: round(v, 4) for k, v in _scores(train, test, predicted).items()},
    }


def _fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    """Run every system in a subprocess, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--output", type=Path, default=REPO / "results" / "quality.json")
    parser.add_argument("--only", nargs="*", choices=sorted(SYSTEMS), default=None)
    parser.add_argument("--run", choices=sorted(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not Path(args.reuters).exists():
        sys.exit(f"Reuters-21578 not found at {args.reuters}; give --reuters or $TOPICCLF_REUTERS")
    if args.run:
        print(json.dumps(run_one(args.run, str(args.reuters))))
        return
    names = args.only or list(SYSTEMS)
    if not _fasttext_available():
        print("fastText is not installed (pip install fasttext): skipping it", file=sys.stderr)
        names = [n for n in names if not n.startswith("fasttext")]
    results = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--run", name, "--reuters", str(args.reuters)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            sys.exit(f"{name} failed")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    _print_table(results)
    ratios = _ratios(results)
    payload = {
        **run_info(),
        "descriptions": {n: SYSTEMS[n][1] for n in names},
        "results": results,
        "ratios_vs_linear_svm": ratios,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {args.output}", file=sys.stderr)


def _ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_name = {r["system"]: r for r in results}
    out = {}
    for r in results:
        base = by_name.get("linear-svm-r8" if r["corpus"] == "r8" else "linear-svm")
        if base is None or base is r:
            continue
        out[r["system"]] = {
            k: round(r[k] / base[k], 3)
            for k in ("micro_f1", "macro_f1", "train_and_tag_seconds")
            if base.get(k)
        }
    return out


def _print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'system':<20} {'corpus':<8} {'micro P':>8} {'micro R':>8} {'micro F1':>8} "
        f"{'macro P':>8} {'macro R':>8} {'macro F1':>8} {'acc':>6} {'time s':>7} {'RSS MB':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        print(
            f"{r['system']:<20} {r['corpus']:<8} {r['micro_precision']:>8.4f} "
            f"{r['micro_recall']:>8.4f} {r['micro_f1']:>8.4f} {r['macro_precision']:>8.4f} "
            f"{r['macro_recall']:>8.4f} {r['macro_f1']:>8.4f} {acc:>6} "
            f"{r['train_and_tag_seconds']:>7.1f} {r['peak_rss_mb']:>7}"
        )


if __name__ == "__main__":
    main()
