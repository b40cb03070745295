"""Library-scale subject indexing on TIBKAT (LLMs4Subjects): topicclf against omikuji Bonsai
as Annif runs it and tree-based linear models (LibMultiLabel's tree method, napkinXC's PLT),
in one run.

Every system trains in its own subprocess on all 81,937 training records (German and
English, 33,318 GND subjects) and suggests its 10 best subjects for each of the 13,666 dev
records. Scored as subject indexers score (Annif, the shared task): P@1, P@3, P@5, F1@5 (each
record's 5 best suggestions against its gold set, F1 averaged over records) and nDCG@10, on
the English records, the German records and all of them. A paired bootstrap over the records
(1000 resamples) gives a 95% interval for the F1@5 difference between topicclf and each other
system. Everything a system chooses is chosen on training data; dev is only scored.

    python scripts/benchmark_library.py [--tibkat DIR] [--output results/library.json]
        [--only NAME ...] [--limit N]

The corpus comes from --tibkat, $TOPICCLF_TIBKAT, or ../shared/corpora/tibkat. The peers come
with the bench extra (pip install -e ".[bench]": omikuji, libmultilabel, napkinxc); a peer
whose package does not import is skipped, with a message, and one that crashes is reported.
--limit N trains on the first N training records (a quick look; the table in the README is
from full runs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_quality import omikuji_model
from measure import run_info, write_results

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TIBKAT = REPO.parent / "shared" / "corpora" / "tibkat"
TOP = 10
LANGUAGES = ("en", "de", "all")
BOOTSTRAP_RESAMPLES = 1000
OURS = "topicclf-shortlist"

SYSTEMS: dict[str, str] = {
    OURS: (
        "topicclf train, its defaults (network.type=auto takes the shortlist network: 200,000 "
        "terms, no dropout; each language's stop words, its stemmer where validation shows it "
        "helps)"
    ),
    "topicclf-sources-alone": (
        "the shortlist's sources alone (neighbours and centroids mixed, no rescoring network), "
        "from the same trained model"
    ),
    "omikuji-bonsai": (
        "omikuji Bonsai as Annif runs it (TF-IDF unigrams stemmed by each record's language's "
        "Snowball stemmer, cluster_k 100, max_depth 3, unbalanced)"
    ),
    "libmultilabel-tree": (
        "LibMultiLabel's tree method (linear.train_tree: Bonsai-like label tree of one-vs-rest "
        "liblinear models, K 100, depth up to 10, its default liblinear options; beam 10) on "
        "the same TF-IDF"
    ),
    "napkinxc-plt": "napkinXC's probabilistic label tree (its defaults) on the same TF-IDF",
}


def load(tibkat: Path, split: str, limit: int | None = None) -> list[Any]:
    """The records of train or dev, in file order."""
    from topicclf.corpus import open_corpus

    docs = list(open_corpus(tibkat / f"{split}.jsonl.gz"))
    return docs[:limit] if limit else docs


def language(doc: Any) -> str:
    """A record's language, from its id (RECORD-LANG)."""
    return str(doc.id).rsplit("-", 1)[-1]


def _run_topicclf(train: list[Any], dev: list[Any]) -> tuple[dict[str, list[list[str]]], float]:
    import numpy as np

    from topicclf import TopicClassifier

    started = time.perf_counter()
    clf = TopicClassifier().fit([d.text for d in train], [list(d.labels) for d in train])
    seconds = time.perf_counter() - started
    network, classes = clf.scorer_.network, clf.topics_  # the scorer's column order
    rescored, sources_alone = [], []
    for start in range(0, len(dev), 512):
        texts = [d.text for d in dev[start : start + 512]]
        x = clf.featurizer_.transform(texts)
        scores = clf.scorer_.from_features(x, texts)  # as tagging scores them
        for row in scores:
            best = np.argsort(-row, kind="stable")[:TOP]
            rescored.append([classes[j] for j in best if row[j] > 0])
        shortlist = network.shortlist(x, clf.scorer_.shortlist_languages(texts))
        for topics, mask in zip(shortlist.topics, shortlist.mask, strict=True):
            sources_alone.append([classes[j] for j in topics[mask][:TOP]])
    return {OURS: rescored, "topicclf-sources-alone": sources_alone}, seconds


def _annif_tfidf(train: list[Any]) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from topicclf.config import TextConfig
    from topicclf.features.text import Analyzer

    # Each record by its own language's Snowball stemmer, as Annif's German and English
    # projects would analyse them (the analyzer before a corpus: it detects every text).
    analyzer = Analyzer(TextConfig(stemmer="snowball", stop_words="none"))
    return TfidfVectorizer(analyzer=analyzer.tokens, min_df=1).fit([d.text for d in train])


def _run_omikuji(train: list[Any], dev: list[Any]) -> tuple[dict[str, list[list[str]]], float]:
    import tempfile

    from sklearn.preprocessing import MultiLabelBinarizer

    started = time.perf_counter()
    vec = _annif_tfidf(train)
    x = vec.transform([d.text for d in train]).tocsr()
    binarizer = MultiLabelBinarizer(sparse_output=True)
    y = binarizer.fit_transform([d.labels for d in train]).tocsr()
    with tempfile.TemporaryDirectory() as tmp:
        model = omikuji_model(x, y, "bonsai", Path(tmp) / "train.txt")
    seconds = time.perf_counter() - started
    classes = list(binarizer.classes_)
    xd = vec.transform([d.text for d in dev]).tocsr()
    out = []
    for i in range(xd.shape[0]):
        row = xd[i]
        pairs = list(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        out.append([classes[label] for label, _ in model.predict(pairs, top_k=TOP)])
    return {"omikuji-bonsai": out}, seconds


def _run_napkinxc(train: list[Any], dev: list[Any]) -> tuple[dict[str, list[list[str]]], float]:
    import tempfile

    from napkinxc.models import PLT

    started = time.perf_counter()
    vec = _annif_tfidf(train)
    x = vec.transform([d.text for d in train]).tocsr()
    classes = sorted({label for d in train for label in d.labels})
    index = {c: i for i, c in enumerate(classes)}
    y = [[index[label] for label in d.labels] for d in train]
    with tempfile.TemporaryDirectory() as tmp:
        model = PLT(str(Path(tmp) / "plt"), seed=1)
        model.fit(x, y)
        seconds = time.perf_counter() - started
        predicted = model.predict(vec.transform([d.text for d in dev]).tocsr(), top_k=TOP)
    return {"napkinxc-plt": [[classes[j] for j in row] for row in predicted]}, seconds


def _run_libmultilabel(
    train: list[Any], dev: list[Any]
) -> tuple[dict[str, list[list[str]]], float]:
    import numpy as np
    from libmultilabel import linear
    from sklearn.preprocessing import MultiLabelBinarizer

    started = time.perf_counter()
    vec = _annif_tfidf(train)
    x = vec.transform([d.text for d in train]).tocsr()
    binarizer = MultiLabelBinarizer(sparse_output=True)
    y = binarizer.fit_transform([d.labels for d in train]).tocsr()
    model = linear.train_tree(y, x, options="", K=100, dmax=10, verbose=False)
    seconds = time.perf_counter() - started
    classes = list(binarizer.classes_)
    xd = vec.transform([d.text for d in dev]).tocsr()
    out = []
    for start in range(0, xd.shape[0], 500):  # its scores are dense: documents x topics
        scores = model.predict_values(xd[start : start + 500])
        for row in scores:
            best = np.argsort(-row, kind="stable")[:TOP]
            out.append([classes[j] for j in best])
    return {"libmultilabel-tree": out}, seconds


RUNNERS = {
    OURS: _run_topicclf,
    "omikuji-bonsai": _run_omikuji,
    "libmultilabel-tree": _run_libmultilabel,
    "napkinxc-plt": _run_napkinxc,
}


def run_one(name: str, tibkat: Path, limit: int | None) -> dict[str, Any]:
    """Train one system (and the rows that come with it) in this process."""
    train, dev = load(tibkat, "train", limit), load(tibkat, "dev")
    started = time.perf_counter()
    suggestions, train_seconds = RUNNERS[name](train, dev)
    return {
        "system": name,
        "train_seconds": round(train_seconds, 1),
        "train_and_suggest_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "suggestions": suggestions,
    }


def per_record(dev: list[Any], suggested: list[list[str]]) -> dict[str, Any]:
    """Each record's P@1, P@3, P@5, F1@5 and nDCG@10 (arrays over the records)."""
    import numpy as np

    out: dict[str, list[float]] = {"p@1": [], "p@3": [], "p@5": [], "f1@5": [], "ndcg@10": []}
    for doc, topics in zip(dev, suggested, strict=True):
        gold = set(doc.labels)
        hits = [t in gold for t in topics[:TOP]]
        for k in (1, 3, 5):
            out[f"p@{k}"].append(sum(hits[:k]) / k)
        out["f1@5"].append(2 * sum(hits[:5]) / (5 + len(gold)) if gold else 0.0)
        dcg = sum(1 / np.log2(i + 2) for i, hit in enumerate(hits) if hit)
        ideal = sum(1 / np.log2(i + 2) for i in range(min(TOP, len(gold))))
        out["ndcg@10"].append(dcg / ideal if ideal else 0.0)
    return {k: np.asarray(v) for k, v in out.items()}


def figures(dev: list[Any], suggested: list[list[str]]) -> dict[str, dict[str, float]]:
    """The figures by language (en, de, all)."""
    rows = per_record(dev, suggested)
    out = {}
    for lang in LANGUAGES:
        pick = [i for i, d in enumerate(dev) if lang == "all" or language(d) == lang]
        out[lang] = {k: round(float(v[pick].mean()), 4) for k, v in rows.items()}
        out[lang]["records"] = len(pick)
    return out


def paired_bootstrap(a: Any, b: Any, resamples: int, seed: int = 0) -> dict[str, Any]:
    """Mean of a minus mean of b (per-record figures), and its 95% interval over resamples
    of the records (the same resample for both)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), size=(resamples, len(a)))
    diffs = a[picks].mean(axis=1) - b[picks].mean(axis=1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {
        "difference": round(float(a.mean() - b.mean()), 4),
        "ci95_low": round(float(low), 4),
        "ci95_high": round(float(high), 4),
        "excludes_zero": bool(low > 0 or high < 0),
    }


def comparisons(dev: list[Any], suggestions: dict[str, list[list[str]]]) -> dict[str, Any]:
    """F1@5 of topicclf minus each other system, by language, paired bootstrap."""
    ours = per_record(dev, suggestions[OURS])["f1@5"]
    out: dict[str, Any] = {}
    for name, suggested in suggestions.items():
        if name == OURS:
            continue
        theirs = per_record(dev, suggested)["f1@5"]
        out[name] = {}
        for lang in LANGUAGES:
            pick = [i for i, d in enumerate(dev) if lang == "all" or language(d) == lang]
            out[name][lang] = paired_bootstrap(ours[pick], theirs[pick], BOOTSTRAP_RESAMPLES)
    return out


def _available(name: str) -> bool:
    module = {
        "omikuji-bonsai": "omikuji",
        "libmultilabel-tree": "libmultilabel",
        "napkinxc-plt": "napkinxc",
    }.get(name)
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        print(
            f"{module} is not installed (pip install -e '.[bench]'): skipping it", file=sys.stderr
        )
        return False
    return True


def print_table(results: list[dict[str, Any]]) -> None:
    """One row per system and language."""
    head = "| system | records | P@1 | P@3 | P@5 | F1@5 | nDCG@10 | train s | peak MB |"
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for lang in LANGUAGES:
            f = r["figures"][lang]
            print(
                f"| {r['system']} | {lang} ({f['records']}) | {f['p@1']:.4f} | {f['p@3']:.4f} "
                f"| {f['p@5']:.4f} | {f['f1@5']:.4f} | {f['ndcg@10']:.4f} "
                f"| {r['train_seconds']} | {r['peak_rss_mb']} |"
            )


def tibkat_parser(doc: str | None, output: str) -> argparse.ArgumentParser:
    """The options of every TIBKAT benchmark: where the corpus is, and the JSON written to
    results/`output` unless told otherwise."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument(
        "--tibkat", type=Path, default=Path(os.environ.get("TOPICCLF_TIBKAT", DEFAULT_TIBKAT))
    )
    parser.add_argument("--output", type=Path, default=REPO / "results" / output)
    return parser


def main() -> None:
    """Run every system in a subprocess, print the table, write JSON."""
    parser = tibkat_parser(__doc__, "library.json")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNNERS), default=None)
    parser.add_argument("--limit", type=int, default=None, help="training records to use")
    parser.add_argument("--run", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.tibkat / "train.jsonl.gz").exists():
        sys.exit(f"TIBKAT not found in {args.tibkat}; give --tibkat or $TOPICCLF_TIBKAT")
    if args.run:
        print(json.dumps(run_one(args.run, args.tibkat, args.limit)))
        return
    names = [n for n in (args.only or list(RUNNERS)) if _available(n)]
    results, suggestions = [], {}
    failed: dict[str, int] = {}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--run", name, "--tibkat", str(args.tibkat)]
        if args.limit:
            command += ["--limit", str(args.limit)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:  # a peer that fails is reported, the others still count
            print(done.stderr[-3000:], file=sys.stderr)
            print(f"{name} failed (exit status {done.returncode})", file=sys.stderr)
            failed[name] = done.returncode
            continue
        run = json.loads(done.stdout.strip().splitlines()[-1])
        for system, suggested in run.pop("suggestions").items():
            suggestions[system] = suggested
            results.append({**run, "system": system})
    dev = load(args.tibkat, "dev")
    for r in results:
        r["figures"] = figures(dev, suggestions[r["system"]])
    print_table(results)
    bootstrap = comparisons(dev, suggestions) if OURS in suggestions else {}
    for peer, by_lang in bootstrap.items():
        for lang, b in by_lang.items():
            print(
                f"F1@5 {OURS} minus {peer} ({lang}): {b['difference']:+.4f} "
                f"[{b['ci95_low']:+.4f}, {b['ci95_high']:+.4f}]"
            )
    payload = {
        **run_info(),
        "limit": args.limit,
        "descriptions": {r["system"]: SYSTEMS[r["system"]] for r in results},
        "results": results,
        "paired_bootstrap_f1_at_5_vs_topicclf": bootstrap,
        "failed": failed,
    }
    write_results(args.output, payload)


if __name__ == "__main__":
    main()
