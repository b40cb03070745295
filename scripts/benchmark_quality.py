"""Tagging quality on Reuters-21578: topicclf against its peers (omikuji as Annif runs it,
linear SVMs, fastText) and against its own parts (network alone, linear model alone), in one run.

Each system trains in its own subprocess (so peak memory is its own) on ModApte train and is
scored on ModApte test (90 topics, multi-label), and on R8 (8 topics, multi-class) where it
applies, and on the Debian corpora of scripts/debian_corpus.py (single-label: package
descriptions by section, in German, French and English, and English synopses alone as the
short texts). Thresholds and limits are chosen on training data only (a validation split of it).
A paired bootstrap over the test documents (1000 resamples) gives a 95% interval for the
micro-F1 difference between topicclf's default and each other system. The same run also
times importing Keras (TensorFlow backend) in a fresh process, the floor under any training
of a Keras network. Prints tables and writes JSON (predictions are not kept).

    python scripts/benchmark_quality.py [--reuters PATH] [--output results/quality.json]
        [--only NAME ...] [--corpora CORPUS ...] [--debian DIR]

The corpus comes from --reuters, $TOPICCLF_REUTERS, or ../shared/corpora/reuters21578.tar.gz.
The peers come with the bench extra (pip install -e ".[bench]": omikuji, fastText); a peer
whose package does not import is skipped, with a message.
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

# name -> (corpus: "modapte", "r8" or one of DEBIAN_CORPORA, description)
SYSTEMS: dict[str, tuple[str, str]] = {
    "topicclf-dense": ("modapte", "topicclf train, default settings (dense network + blend)"),
    "topicclf-network-alone": ("modapte", "topicclf's network alone (--set blend.linear=off)"),
    "topicclf-stacked-alone": (
        "modapte",
        "topicclf's stacked network without the blend (blend.linear=fixed, blend.weight=0): "
        "the network with the linear model's logits inside it",
    ),
    "topicclf-linear-alone": (
        "modapte",
        "the blend's linear model alone (SVM, Platt-calibrated), topicclf's threshold tuning",
    ),
    "topicclf-embedding": ("modapte", "topicclf train --network embedding, its defaults"),
    "svm-tuned": (
        "modapte",
        "TF-IDF + one-vs-rest LinearSVC, one global threshold tuned on a 10% validation "
        "split, best-topic fallback",
    ),
    "linear-svm": ("modapte", "TF-IDF (1-2-grams, sublinear, min_df 2) + one-vs-rest LinearSVC"),
    "omikuji-bonsai": (
        "modapte",
        "omikuji Bonsai as Annif runs it (stemmed TF-IDF; limit and threshold on validation)",
    ),
    "omikuji-parabel": (
        "modapte",
        "omikuji Parabel as Annif runs it (stemmed TF-IDF; limit and threshold on validation)",
    ),
    "fasttext-ova": ("modapte", "fastText supervised -loss ova, word bigrams, threshold 0.5"),
    "topicclf-dense-r8": ("r8", "topicclf train on R8, default settings (multi-class)"),
    "linear-svm-r8": ("r8", "TF-IDF + LinearSVC (one-vs-rest, argmax) on R8"),
    "omikuji-bonsai-r8": ("r8", "omikuji Bonsai on R8, best topic"),
    # Not English: Debian package descriptions in German and French, by section (single
    # label; built by scripts/debian_corpus.py, see DEBIAN_CORPORA).
    **{
        name: (corpus, text)
        for lang, language in (("de", "German"), ("fr", "French"))
        for corpus in (f"debian-{lang}",)
        for name, text in (
            (
                f"topicclf-dense-{corpus}",
                f"topicclf train on {corpus}, default settings ({language} detected: its stop "
                "words)",
            ),
            (
                f"topicclf-english-rules-{corpus}",
                f"topicclf train on {corpus} with the analysis before languages "
                "(text.language=english, text.stop_words=english)",
            ),
            (
                f"topicclf-snowball-{corpus}",
                f"topicclf train on {corpus}, defaults and text.stemmer=snowball ({language} "
                "Snowball stemmer)",
            ),
            (f"linear-svm-{corpus}", f"TF-IDF + LinearSVC (one-vs-rest, argmax) on {corpus}"),
            (f"omikuji-bonsai-{corpus}", f"omikuji Bonsai on {corpus}, best topic"),
        )
    },
    # English Debian descriptions: the large single-label corpus (63,421 documents) and the
    # short texts (the same packages' one-line synopses, 46 characters on average). English
    # needs no rows for the analysis of other languages, only the peers.
    **{
        name: (corpus, text)
        for corpus, what in (
            ("debian-en", "English descriptions"),
            ("debian-en-short", "English synopses (short texts)"),
        )
        for name, text in (
            (f"topicclf-dense-{corpus}", f"topicclf train on {corpus} ({what}), defaults"),
            (f"linear-svm-{corpus}", f"TF-IDF + LinearSVC (one-vs-rest, argmax) on {corpus}"),
            (f"omikuji-bonsai-{corpus}", f"omikuji Bonsai on {corpus}, best topic"),
        )
    },
}
# The Debian corpora: corpus -> the directory under DIR that scripts/debian_corpus.py writes
# (DIR from --debian, $TOPICCLF_DEBIAN or ../debian-corpora) and the language Annif's
# analyzer stems with for omikuji; a corpus's rows are skipped when its directory is absent.
DEBIAN_CORPORA = {
    "debian-de": ("de", "german"),
    "debian-fr": ("fr", "french"),
    "debian-en": ("en", "english"),
    "debian-en-short": ("en-short", "english"),
}
SINGLE_LABEL = ("r8", *DEBIAN_CORPORA)
DEFAULT_DEBIAN = REPO.parent / "debian-corpora"
# The systems the default is compared with, document by document (paired bootstrap).
PEERS = ("topicclf-linear-alone", "svm-tuned", "omikuji-bonsai", "omikuji-parabel", "linear-svm")
BOOTSTRAP_RESAMPLES = 1000
VALIDATION_SHARE = 0.1  # of the training documents, for the peers' limits and thresholds


def _load(reuters: str, corpus: str) -> tuple[list[Any], list[Any]]:
    from topicclf.corpus import open_corpus

    if corpus in DEBIAN_CORPORA:
        root = _debian_dir(corpus)
        return list(open_corpus(root / "train.jsonl")), list(open_corpus(root / "test.jsonl"))
    prefix = "modapte" if corpus == "modapte" else "r8"
    train = list(open_corpus(reuters, format="reuters", split=f"{prefix}-train"))
    test = list(open_corpus(reuters, format="reuters", split=f"{prefix}-test"))
    return train, test


def _debian_dir(corpus: str) -> Path:
    """Where a Debian corpus's train.jsonl and test.jsonl are."""
    return Path(os.environ.get("TOPICCLF_DEBIAN", DEFAULT_DEBIAN)) / DEBIAN_CORPORA[corpus][0]


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


Run = tuple[list[list[str]], float, dict[str, Any]]  # predictions, training seconds, extras


def _split(n: int, seed: int = 42) -> tuple[Any, Any]:
    """Training and validation rows of n documents (the peers' 10% validation split)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, round(n * VALIDATION_SHARE))
    return np.sort(order[cut:]), np.sort(order[:cut])


def _run_topicclf(train: list[Any], test: list[Any], overrides: list[str]) -> Run:
    from topicclf.classifier import TopicClassifier
    from topicclf.config import Config

    clf = TopicClassifier(config=Config().with_overrides(overrides))
    started = time.perf_counter()
    clf.fit([d.text for d in train], [d.labels for d in train])
    seconds = time.perf_counter() - started
    blend = clf.training_info_.get("blend") or {}
    extras = {
        "network_weight": round(1.0 - blend["linear_weight"], 3) if blend else 1.0,
        "epochs_run": clf.training_info_.get("epochs_run"),
        "best_epoch": clf.training_info_.get("best_epoch"),
        # Where training's time went, step by step (TrainingInfo.stage_seconds).
        "stage_seconds": clf.training_info_.get("stage_seconds"),
    }
    return clf.predict([d.text for d in test]), seconds, extras


def _run_linear_alone(train: list[Any], test: list[Any]) -> Run:
    """The blend's linear model by itself, fitted, calibrated, thresholded and refitted by
    the default pipeline's own steps, with the network's share set to 0."""
    import numpy as np

    from topicclf.config import Config
    from topicclf.model.blend import fit_linear
    from topicclf.model.thresholds import apply
    from topicclf.training.pipeline import fit_blend, prepare, threshold_tuner, vectorize
    from topicclf.types import NullProgress

    config = Config().with_overrides(
        ["network.type=dense", "blend.linear=fixed", "blend.weight=1.0"]
    )
    started = time.perf_counter()
    data = prepare(config, [d.text for d in train], [d.labels for d in train])
    vectors = vectorize(config, data, NullProgress())
    featurizer, x = vectors.featurizer, vectors.x
    tune = threshold_tuner(config, data.multiclass)
    no_network = np.zeros((len(data.val_idx), len(data.classes)), dtype=np.float32)
    blended = fit_blend(config, data, vectors, no_network, tune, NullProgress())
    linear, val_scores = blended.blend, blended.val_scores
    assert linear is not None
    policy = tune(data.y[data.val_idx], val_scores)
    linear.coef, linear.intercept = fit_linear(x, data.y, config.blend.svm_c)  # as refit does
    seconds = time.perf_counter() - started
    chosen = apply(linear.scores(featurizer.transform([d.text for d in test])), policy)
    return [[data.classes[j] for j in np.flatnonzero(row)] for row in chosen], seconds, {}


def _svm_features() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, stop_words="english")


def _fit_svm(x: Any, y: Any) -> Any:
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    return OneVsRestClassifier(LinearSVC(C=1.0)).fit(x, y)


def _run_svm(train: list[Any], test: list[Any], single: bool, tuned: bool = False) -> Run:
    """One-vs-rest LinearSVC: cut at 0 (argmax for single-label data), or with `tuned` at one
    global threshold chosen on a validation split, never leaving a document without a topic."""
    import numpy as np
    from sklearn.preprocessing import MultiLabelBinarizer

    started = time.perf_counter()
    texts = [d.text for d in train]
    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform([d.labels for d in train])
    cut = 0.0
    if tuned and not single:
        tr, val = _split(len(train))
        vectorizer = _svm_features()
        x_tr = vectorizer.fit_transform([texts[i] for i in tr])
        keep = y[tr].sum(axis=0) > 0  # a topic absent from the split has no classifier
        decision = np.full((len(val), y.shape[1]), -10.0)
        model = _fit_svm(x_tr, y[tr][:, keep])
        decision[:, keep] = model.decision_function(vectorizer.transform([texts[i] for i in val]))
        grid = np.round(np.arange(-1.0, 1.0001, 0.05), 2)
        cut = float(max(grid, key=lambda t: _micro_f1(y[val], _cut(decision, t))))
    vectorizer = _svm_features()
    model = _fit_svm(vectorizer.fit_transform(texts), y)
    seconds = time.perf_counter() - started
    decision = model.decision_function(vectorizer.transform([d.text for d in test]))
    classes = list(binarizer.classes_)
    if single:
        return [[classes[int(j)]] for j in np.argmax(decision, axis=1)], seconds, {}
    chosen = _cut(decision, cut) if tuned else decision > 0
    return [[classes[j] for j in np.flatnonzero(row)] for row in chosen], seconds, {"cut": cut}


def _cut(scores: Any, threshold: float, limit: int = 0) -> Any:
    """Scores at or above the threshold, else the best one (at most `limit` when > 0)."""
    import numpy as np

    chosen = scores >= threshold
    best = np.argmax(scores, axis=1)
    chosen[np.arange(len(scores)), best] = True
    if limit:
        order = np.argsort(-scores, axis=1)[:, limit:]
        np.put_along_axis(chosen, order, False, axis=1)
    return chosen


def _micro_f1(truth: Any, chosen: Any) -> float:
    tp = float((truth.astype(bool) & chosen).sum())
    return 2 * tp / max(1.0, float(truth.sum() + chosen.sum()))


def omikuji_model(x: Any, y: Any, kind: str, path: Path) -> Any:
    """An omikuji forest trained as Annif trains it: a file in the Extreme Classification
    Repository format at `path`, Bonsai or Parabel hyper-parameters. `y`: a 0/1 matrix,
    dense or sparse (a library vocabulary's is never made dense)."""
    import omikuji
    import scipy.sparse as sp

    x, y = x.tocsr(), sp.csr_matrix(y)
    y.sort_indices()
    with path.open("w") as handle:
        rows = [i for i in range(x.shape[0]) if y[i].nnz and x[i].nnz]
        handle.write(f"{len(rows)} {x.shape[1]} {y.shape[1]}\n")
        for i in rows:
            row = x[i]
            labels = ",".join(str(j) for j in y[i].indices)
            pairs = " ".join(f"{j}:{v:.6f}" for j, v in zip(row.indices, row.data, strict=True))
            handle.write(f"{labels} {pairs}\n")
    hyper = omikuji.Model.default_hyper_param()
    if kind == "bonsai":  # Annif's documented Bonsai settings
        hyper.cluster_balanced = False
        hyper.cluster_k = 100
        hyper.max_depth = 3
    return omikuji.Model.train_on_data(str(path), hyper)


def _omikuji_scores(model: Any, x: Any, n_labels: int, top_k: int = 10) -> Any:
    import numpy as np

    x = x.tocsr()
    out = np.zeros((x.shape[0], n_labels), dtype=np.float32)
    for i in range(x.shape[0]):
        row = x[i]
        pairs = list(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        for label, score in model.predict(pairs, top_k=top_k):
            out[i, label] = score
    return out


def _run_omikuji(
    train: list[Any], test: list[Any], kind: str, single: bool, language: str = "english"
) -> Run:
    """Annif's omikuji backend: TF-IDF of snowball-stemmed words (Annif's analyzer for the
    corpus's language, min_df 1, unigrams), an omikuji forest; `limit` and `threshold`
    picked on a validation split (as `annif optimize` does), then the forest trained again
    on every training document."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import MultiLabelBinarizer

    from topicclf.config import TextConfig
    from topicclf.features.text import Analyzer

    analyzer = Analyzer(TextConfig(stemmer="snowball", stop_words="none", language=language))

    def vectorizer() -> Any:
        return TfidfVectorizer(analyzer=analyzer.tokens, min_df=1)

    texts = [d.text for d in train]
    binarizer = MultiLabelBinarizer()
    y = binarizer.fit_transform([d.labels for d in train])
    started = time.perf_counter()
    limit, threshold = 1, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if not single:
            tr, val = _split(len(train))
            vec = vectorizer()
            model = omikuji_model(
                vec.fit_transform([texts[i] for i in tr]), y[tr], kind, Path(tmp) / "tune.txt"
            )
            scores = _omikuji_scores(
                model, vec.transform([texts[i] for i in val]), y.shape[1], top_k=10
            )
            options = [(k, t) for k in range(1, 11) for t in np.arange(0.0, 0.96, 0.05)]
            limit, threshold = max(
                options, key=lambda o: _micro_f1(y[val], _limited(scores, o[1], o[0]))
            )
        vec = vectorizer()
        tuned_seconds = time.perf_counter() - started
        final_started = time.perf_counter()
        model = omikuji_model(vec.fit_transform(texts), y, kind, Path(tmp) / "train.txt")
        train_seconds = time.perf_counter() - final_started
    scores = _omikuji_scores(model, vec.transform([d.text for d in test]), y.shape[1], limit)
    chosen = _limited(scores, float(threshold), limit)
    classes = list(binarizer.classes_)
    extras = {
        "limit": int(limit),
        "threshold": round(float(threshold), 2),
        "tuning_seconds": round(tuned_seconds, 1),
    }
    return [[classes[j] for j in np.flatnonzero(row)] for row in chosen], train_seconds, extras


def _limited(scores: Any, threshold: float, limit: int) -> Any:
    """Annif's suggestion rule: the `limit` best topics whose score is above `threshold`."""
    import numpy as np

    chosen = (scores > threshold) & (scores > 0)
    order = np.argsort(-scores, axis=1)[:, limit:]
    np.put_along_axis(chosen, order, False, axis=1)
    return chosen


def _run_fasttext(train: list[Any], test: list[Any]) -> tuple[list[list[str]], float]:
    import fasttext

    def line(text: str) -> str:
        return " ".join(text.lower().split())

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        for d in train:
            handle.write("".join(f"__label__{t} " for t in d.labels) + line(d.text) + "\n")
        path = handle.name
    started = time.perf_counter()
    try:
        model = fasttext.train_supervised(
            path, loss="ova", wordNgrams=2, epoch=25, lr=0.5, dim=100, verbose=0, seed=42
        )
    finally:
        os.unlink(path)
    seconds = time.perf_counter() - started
    out = []
    for d in test:
        # model.f.predict: the high-level predict breaks on numpy 2 (copy=False).
        pairs = model.f.predict(line(d.text), -1, 0.5, "strict")
        out.append([label.removeprefix("__label__") for _, label in pairs])
    return out, seconds


def run_one(name: str, reuters: str) -> dict[str, Any]:
    """Train and score one system in this process; returns its figures and predictions."""
    corpus, _ = SYSTEMS[name]
    train, test = _load(reuters, corpus)
    single = corpus in SINGLE_LABEL
    started = time.perf_counter()
    extras: dict[str, Any] = {}
    if name.startswith("topicclf-english-rules"):
        overrides = ["text.language=english", "text.stop_words=english"]
        predicted, train_seconds, extras = _run_topicclf(train, test, overrides)
    elif name.startswith("topicclf-snowball"):
        predicted, train_seconds, extras = _run_topicclf(train, test, ["text.stemmer=snowball"])
    elif name.startswith("topicclf-embedding"):
        predicted, train_seconds, extras = _run_topicclf(train, test, ["network.type=embedding"])
    elif name == "topicclf-network-alone":
        predicted, train_seconds, extras = _run_topicclf(train, test, ["blend.linear=off"])
    elif name == "topicclf-stacked-alone":
        overrides = ["blend.linear=fixed", "blend.weight=0"]
        predicted, train_seconds, extras = _run_topicclf(train, test, overrides)
    elif name == "topicclf-linear-alone":
        predicted, train_seconds, extras = _run_linear_alone(train, test)
    elif name.startswith("topicclf-dense"):
        predicted, train_seconds, extras = _run_topicclf(train, test, [])
    elif name == "svm-tuned":
        predicted, train_seconds, extras = _run_svm(train, test, single, tuned=True)
    elif name.startswith("linear-svm"):
        predicted, train_seconds, extras = _run_svm(train, test, single)
    elif name.startswith("omikuji"):
        kind = "bonsai" if "bonsai" in name else "parabel"
        language = DEBIAN_CORPORA.get(corpus, ("", "english"))[1]
        predicted, train_seconds, extras = _run_omikuji(train, test, kind, single, language)
    else:
        predicted, train_seconds = _run_fasttext(train, test)
    seconds = time.perf_counter() - started
    return {
        "system": name,
        "corpus": corpus,
        "train_seconds": round(train_seconds, 1),
        "train_and_tag_seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **{k: round(v, 4) for k, v in _scores(train, test, predicted).items()},
        **extras,
        "predictions": predicted,
    }


def paired_bootstrap(
    test: list[Any], ours: list[list[str]], theirs: list[list[str]], resamples: int, seed: int = 0
) -> dict[str, float]:
    """Micro-F1 of ours minus theirs on the test documents, and its 95% interval over
    `resamples` resamplings of the documents (the same resample for both systems)."""
    import numpy as np

    def counts(predicted: list[list[str]]) -> Any:
        rows = []
        for doc, topics in zip(test, predicted, strict=True):
            truth, chosen = set(doc.labels), set(topics)
            rows.append((len(truth & chosen), len(chosen - truth), len(truth - chosen)))
        return np.array(rows, dtype=np.float64)

    a, b = counts(ours), counts(theirs)

    def f1(c: Any) -> Any:
        tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
        return 2 * tp / np.maximum(1.0, 2 * tp + fp + fn)

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(test), size=(resamples, len(test)))
    diffs = f1(a[picks].sum(axis=1)) - f1(b[picks].sum(axis=1))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {
        "micro_f1_difference": round(float(f1(a.sum(axis=0)) - f1(b.sum(axis=0))), 4),
        "ci95_low": round(float(low), 4),
        "ci95_high": round(float(high), 4),
        "excludes_zero": bool(low > 0 or high < 0),
    }


def _fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


def _omikuji_available() -> bool:
    try:
        import omikuji  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    """Run every system in a subprocess, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuters", default=os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    parser.add_argument("--debian", type=Path, default=None, help="scripts/debian_corpus.py's DIR")
    parser.add_argument("--output", type=Path, default=REPO / "results" / "quality.json")
    parser.add_argument("--only", nargs="*", choices=sorted(SYSTEMS), default=None)
    corpora = sorted({corpus for corpus, _ in SYSTEMS.values()})
    parser.add_argument(
        "--corpora", nargs="+", choices=corpora, default=None, help="only these corpora's rows"
    )
    parser.add_argument("--run", choices=sorted(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not Path(args.reuters).exists():
        sys.exit(f"Reuters-21578 not found at {args.reuters}; give --reuters or $TOPICCLF_REUTERS")
    if args.debian is not None:
        os.environ["TOPICCLF_DEBIAN"] = str(args.debian)  # the subprocesses read it too
    if args.run:
        print(json.dumps(run_one(args.run, str(args.reuters))))
        return
    names = args.only or list(SYSTEMS)
    if args.corpora:
        names = [n for n in names if SYSTEMS[n][0] in args.corpora]
    for corpus in DEBIAN_CORPORA:
        # Each corpus on its own: a DIR built before the English corpora has only de and fr.
        if not (_debian_dir(corpus) / "train.jsonl").exists():
            if any(SYSTEMS[n][0] == corpus for n in names):
                print(
                    f"no {corpus} corpus in {_debian_dir(corpus)} "
                    "(python scripts/debian_corpus.py): skipping its rows",
                    file=sys.stderr,
                )
            names = [n for n in names if SYSTEMS[n][0] != corpus]
    if not _fasttext_available():
        print("fastText is not installed (pip install -e '.[bench]'): skipping it", file=sys.stderr)
        names = [n for n in names if not n.startswith("fasttext")]
    if not _omikuji_available():
        print("omikuji is not installed (pip install -e '.[bench]'): skipping it", file=sys.stderr)
        names = [n for n in names if not n.startswith("omikuji")]
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
    predictions = {r["system"]: r.pop("predictions") for r in results}
    _print_table(results)
    imports = keras_import_seconds(KERAS_IMPORT_RUNS)
    print(
        f"\nimporting Keras (TensorFlow backend) in a fresh process, {len(imports)} runs: "
        + ", ".join(f"{s:.1f} s" for s in imports)
    )
    bootstrap = _comparisons(str(args.reuters), predictions)
    payload = {
        **run_info(),
        "descriptions": {n: SYSTEMS[n][1] for n in names},
        "results": results,
        "keras_import_seconds": imports,
        "ratios_vs_linear_svm": _ratios(results),
        "paired_bootstrap_vs_topicclf_dense": bootstrap,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {args.output}", file=sys.stderr)


KERAS_IMPORT_RUNS = 3


def keras_import_seconds(runs: int) -> list[float]:
    """Wall seconds to import Keras as topicclf does (TensorFlow backend, its start-up logs
    hidden) in `runs` fresh processes, one after the other: the time no training of a
    Keras network can avoid."""
    code = (
        "import time; started = time.perf_counter()\n"
        "from topicclf.model.networks import keras_module; keras_module()\n"
        "print(time.perf_counter() - started)"
    )
    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            sys.exit("importing Keras failed")
        out.append(round(float(done.stdout.strip().splitlines()[-1]), 2))
    return out


def _comparisons(reuters: str, predictions: dict[str, list[list[str]]]) -> dict[str, Any]:
    """topicclf's default against each peer on ModApte test, document by document."""
    ours = predictions.get("topicclf-dense")
    peers = [p for p in (*PEERS, "topicclf-network-alone", "fasttext-ova") if p in predictions]
    if ours is None or not peers:
        return {}
    _, test = _load(reuters, "modapte")
    out = {p: paired_bootstrap(test, ours, predictions[p], BOOTSTRAP_RESAMPLES) for p in peers}
    stacked, linear = "topicclf-stacked-alone", "topicclf-linear-alone"
    if stacked in predictions and linear in predictions:
        # Does the network add to the linear model it is stacked on? Not a comparison
        # with the default: stored under its own "X minus Y" name.
        out[f"{stacked} minus {linear}"] = paired_bootstrap(
            test, predictions[stacked], predictions[linear], BOOTSTRAP_RESAMPLES
        )
    print(f"\nmicro-F1 differences, paired bootstrap ({BOOTSTRAP_RESAMPLES} resamples):")
    for peer, b in out.items():
        label = peer if " minus " in peer else f"topicclf-dense minus {peer}"
        print(
            f"  {label:<60} {b['micro_f1_difference']:+.4f}  "
            f"95% [{b['ci95_low']:+.4f}, {b['ci95_high']:+.4f}]"
            + ("" if b["excludes_zero"] else "  (includes 0)")
        )
    return out


def _ratios(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_name = {r["system"]: r for r in results}
    out = {}
    for r in results:
        base = by_name.get(
            "linear-svm" if r["corpus"] == "modapte" else f"linear-svm-{r['corpus']}"
        )
        if base is None or base is r:
            continue
        out[r["system"]] = {
            k: round(r[k] / base[k], 3)
            for k in ("micro_f1", "macro_f1", "train_seconds", "train_and_tag_seconds")
            if base.get(k)
        }
    return out


def _print_table(results: list[dict[str, Any]]) -> None:
    head = (
        f"{'system':<34} {'corpus':<15} {'micro P':>8} {'micro R':>8} {'micro F1':>8} "
        f"{'macro P':>8} {'macro R':>8} {'macro F1':>8} {'acc':>6} {'train s':>7} "
        f"{'total s':>7} {'RSS MB':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        print(
            f"{r['system']:<34} {r['corpus']:<15} {r['micro_precision']:>8.4f} "
            f"{r['micro_recall']:>8.4f} {r['micro_f1']:>8.4f} {r['macro_precision']:>8.4f} "
            f"{r['macro_recall']:>8.4f} {r['macro_f1']:>8.4f} {acc:>6} "
            f"{r['train_seconds']:>7.1f} {r['train_and_tag_seconds']:>7.1f} {r['peak_rss_mb']:>7}"
        )


if __name__ == "__main__":
    main()
