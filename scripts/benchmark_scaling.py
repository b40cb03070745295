"""Training cost as the corpus grows: `topicclf train` on 1x, 4x and 16x a base corpus, of
three shapes, beside a reference system trained on the same file in the same run.

Shapes:
- `documents`: whole Reuters-21578 ModApte training documents (about 800 characters);
- `titles`: each such document's first line (its headline, about 50 characters): short texts;
- `library` (not run unless asked for): TIBKAT training records (title and abstract, German
  and English, GND subjects), the first N x factor of them in a fixed shuffled order, so the
  vocabulary of subjects grows with the records as a catalogue's does (base 5,000: 16x is
  80,000 records and about 33,000 subjects). Its reference is omikuji Bonsai with Annif's
  settings on TF-IDF (a one-vs-rest SVM over 30,000 subjects does not finish).
For `documents` and `titles` the 1x corpus is the first N documents (default 1000). Larger
corpora repeat the whole training set with light perturbation (each copy drops a different
random 10% of every document's words): the same topics and text lengths, full of
near-duplicates, which is where liblinear once crawled and where copies of one document must
not straddle the validation split; their reference is TF-IDF 1-2-grams + one-vs-rest
LinearSVC (scikit-learn, pickled). Each size trains with default settings in a fresh
`topicclf train` process, and the reference in a fresh Python process; wall time and peak
memory of each process tree are measured. Prints a table and writes JSON with the ratios of
time and memory to the 1x run (beside the ratio of corpus sizes), topicclf's time over the
reference's, and where topicclf's time went (its stage_seconds).

    python scripts/benchmark_scaling.py [--reuters PATH] [--base 1000] [--factors 1 4 16]
        [--shapes documents titles] [--output results/scaling.json]
    python scripts/benchmark_scaling.py --shapes library [--tibkat DIR] [--library-base 5000]
        --output results/scaling_library.json
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
DEFAULT_TIBKAT = REPO.parent / "shared" / "corpora" / "tibkat"
DROP = 0.1  # share of words each perturbed copy leaves out
SHAPES = ("documents", "titles", "library")

# The reference: what a user would write with scikit-learn for the same file.
SVM_SCRIPT = """
import json, pickle, sys
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
y = MultiLabelBinarizer().fit_transform([r["labels"] for r in records])
model = make_pipeline(
    TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
    OneVsRestClassifier(LinearSVC(C=1.0)),
).fit([r["text"] for r in records], y)
pickle.dump(model, open(sys.argv[2], "wb"))
"""

# The library shape's reference: omikuji Bonsai as Annif runs it (cluster_k 100, max_depth 3,
# unbalanced) on plain TF-IDF of the same file, in one process (benchmark extra: omikuji).
OMIKUJI_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import MultiLabelBinarizer
sys.path.insert(0, sys.argv[3])
from benchmark_quality import omikuji_model
records = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
x = TfidfVectorizer(sublinear_tf=True).fit_transform([r["text"] for r in records])
y = MultiLabelBinarizer(sparse_output=True).fit_transform([r["labels"] for r in records])
omikuji_model(x, y, "bonsai", Path(tempfile.mkdtemp()) / "train.txt").save(sys.argv[2])
"""
REFERENCES = {"documents": "LinearSVC", "titles": "LinearSVC", "library": "omikuji Bonsai"}


def shaped(text: str, shape: str) -> str:
    """The text of a document in this shape: whole, or its first non-empty line."""
    if shape == "titles":
        return next((line.strip() for line in text.splitlines() if line.strip()), "")
    return text


def write_corpus(
    docs: list[Any], factor: int, path: Path, base: int, shape: str = "documents", seed: int = 0
) -> int:
    """`factor` x `base` documents as JSON Lines: the base documents, then perturbed copies
    drawn from the whole training set. Returns the number written."""
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(base * factor):
            doc = docs[i % base] if i < base else docs[rng.randrange(len(docs))]
            words = shaped(doc.text, shape).split()
            if i >= base:
                words = [w for w in words if rng.random() >= DROP] or words
            if not words:
                continue
            record = {"id": f"d{i}", "text": " ".join(words), "labels": list(doc.labels)}
            handle.write(json.dumps(record) + "\n")
            written += 1
    return written


def write_library(records: list[Any], count: int, path: Path) -> tuple[int, int]:
    """The first `count` records as JSON Lines; returns (records, distinct subjects)."""
    subjects: set[str] = set()
    with path.open("w", encoding="utf-8") as handle:
        for doc in records[:count]:
            subjects.update(doc.labels)
            record = {"id": doc.id, "text": doc.text, "labels": list(doc.labels)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return min(count, len(records)), len(subjects)


def _row(shape: str, factor: int, n: int, corpus: Path, tmp: Path) -> dict[str, Any]:
    """Train topicclf and the reference on one corpus, each in a fresh process."""
    topicclf = str(Path(sys.executable).parent / "topicclf")
    model = tmp / f"m-{shape}-{factor}"
    print(f"{shape}: training on {n} documents ({factor}x) ...", file=sys.stderr, flush=True)
    ours = run_measured([topicclf, "-q", "train", str(corpus), "-o", str(model)])
    if ours.returncode != 0:
        sys.exit(f"training {shape} {factor}x failed:\n{ours.stderr[-2000:]}")
    script = OMIKUJI_SCRIPT if shape == "library" else SVM_SCRIPT
    reference = tmp / f"reference-{shape}-{factor}"  # omikuji saves into a new directory only
    scripts = str(Path(__file__).resolve().parent)  # where the reference finds omikuji_model
    svm = run_measured([sys.executable, "-c", script, str(corpus), str(reference), scripts])
    if svm.returncode != 0:
        sys.exit(f"the reference on {shape} {factor}x failed:\n{svm.stderr[-2000:]}")
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    training = manifest["training"]
    return {
        "shape": shape,
        "factor": factor,
        "documents": n,
        "topics": manifest.get("n_topics"),
        "network": manifest.get("network"),
        "network_choice": training.get("network_choice"),
        "model_mb": round(sum(f.stat().st_size for f in model.rglob("*") if f.is_file()) / 1e6, 1),
        "reference": REFERENCES[shape],
        "corpus_mb": round(corpus.stat().st_size / 1e6, 1),
        "seconds": round(ours.seconds, 1),
        "peak_tree_rss_mb": ours.peak_tree_rss_mb,
        "svm_seconds": round(svm.seconds, 1),
        "svm_peak_tree_rss_mb": svm.peak_tree_rss_mb,
        "time_over_svm": round(ours.seconds / svm.seconds, 2),
        "batch_size": training.get("batch_size"),
        "epochs_run": training.get("epochs_run"),
        "stage_seconds": training.get("stage_seconds"),
    }


def main() -> None:
    """Train at each shape and size in child processes, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--base", type=int, default=1000, help="documents in the 1x corpus")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument(
        "--tibkat", type=Path, default=Path(os.environ.get("TOPICCLF_TIBKAT", DEFAULT_TIBKAT))
    )
    parser.add_argument("--library-base", type=int, default=5000, help="records in 1x library")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "scaling.json")
    args = parser.parse_args()
    from topicclf.corpus import open_corpus

    docs: list[Any] = []
    if {"documents", "titles"} & set(args.shapes):
        if not Path(args.reuters).exists():
            sys.exit(
                f"Reuters-21578 not found at {args.reuters}; give --reuters or $TOPICCLF_REUTERS"
            )
        docs = list(open_corpus(args.reuters, format="reuters", split="modapte-train"))
    records: list[Any] = []
    if "library" in args.shapes:
        if not (args.tibkat / "train.jsonl.gz").exists():
            sys.exit(f"TIBKAT not found in {args.tibkat}; give --tibkat or $TOPICCLF_TIBKAT")
        records = list(open_corpus(args.tibkat / "train.jsonl.gz"))
        random.Random(0).shuffle(records)  # the file is ordered by record type and language
    base = min(args.base, len(docs)) if docs else 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            first: dict[str, Any] | None = None
            for factor in args.factors:
                corpus = Path(tmp) / f"{shape}-x{factor}.jsonl"
                if shape == "library":
                    n, _ = write_library(records, args.library_base * factor, corpus)
                else:
                    n = write_corpus(docs, factor, corpus, base, shape)
                row = _row(shape, factor, n, corpus, Path(tmp))
                first = first or row
                row["size_ratio"] = round(row["documents"] / first["documents"], 2)
                row["time_ratio"] = round(row["seconds"] / first["seconds"], 2)
                row["memory_ratio"] = round(row["peak_tree_rss_mb"] / first["peak_tree_rss_mb"], 2)
                results.append(row)
    print(
        f"{'shape':>9} {'size':>5} {'documents':>9} {'seconds':>8} {'peak MB':>8} "
        f"{'time ratio':>10} {'memory ratio':>12} {'topics':>7} {'reference':>14} {'ref s':>6} "
        f"{'x ref':>6}"
    )
    for r in results:
        print(
            f"{r['shape']:>9} {r['factor']:>4}x {r['documents']:>9} {r['seconds']:>8} "
            f"{r['peak_tree_rss_mb']:>8} {r['time_ratio']:>10} {r['memory_ratio']:>12} "
            f"{r['topics'] or '':>7} {r['reference']:>14} {r['svm_seconds']:>6} "
            f"{r['time_over_svm']:>6}"
        )
    payload = {**run_info(), "base_documents": base, "drop": DROP, "results": results}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
