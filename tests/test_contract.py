"""One input, every entry point, one answer: the same ~40 awkward documents go through the
Python API, `topicclf tag` (jobs 1 and 2, batch sizes 1 and 512), `serve`, the Dask engine
and `evaluate`'s JSON report, for dense and embedding models, multi-label and multi-class,
fallback on and off; topic lists must be identical and scores equal to 1e-6."""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import local_cluster

from topicclf.classifier import TopicClassifier
from topicclf.cli import run
from topicclf.config import Config
from topicclf.corpus import open_corpus

NEWS = Path(__file__).parent.parent / "corpora" / "newsbriefs"
MIXED = Path(__file__).parent / "data" / "mixed.jsonl"
Record = tuple[str, list[str], dict[str, float]]


def awkward_documents() -> list[dict[str, Any]]:
    """~40 documents: blank, one word, huge, scripts, control characters, repeated ids."""
    news = [d.text for d in open_corpus(NEWS / "test.jsonl")][:16]
    texts = [
        "",
        " ",
        "\t\n ",
        "\u00a0",
        "goal",
        "battery",
        "budget",
        "a",
        "电池工厂将雇用四百人",
        "Правительство снизило налоги",
        "الحكومة خفضت الضرائب",
        "Η κυβέρνηση μείωσε τους φόρους",
        "🔋⚡️ new battery factory 🏭",
        "control \x00 characters \x07 and \x1b[31m escapes\x7f",
        "line\rbreak and\u2028separator",
        "tabs\tbetween\twords",
        "vote " * 3,
        "The council voted to cut the museum's budget. " * 23000,  # about 1 MB
        "oil oil oil oil prices prices",
        "\ufeffbyte order mark first",
        "x" * 5000,
        "12345 67890",
        "shares fell; the bank raised rates",
        "storm",
        *news,
        # Texts in other languages: a model of several languages analyses each by its own.
        "Der Sturm hat das Stadion überflutet und das Spiel wurde abgesagt.",
        "Keskuspankki nosti korkoja ja inflaatio hidastuu.",
        "Le gouvernement a annoncé une hausse des impôts pour l'année prochaine.",
    ]
    docs = [{"id": f"c{i:02d}", "text": t} for i, t in enumerate(texts)]
    docs[5]["id"] = docs[4]["id"]  # a repeated id
    docs[30]["id"] = docs[29]["id"]
    return docs


def _train(
    path: Path,
    network: str,
    mode: str,
    fallback: str,
    chars: str = "auto",
    corpus: Path = NEWS / "train.jsonl",
    stemmer: str = "none",
) -> Path:
    config = Config().with_overrides(
        [
            f"text.stemmer={stemmer}",
            f"network.type={network}",
            "network.hidden_units=32",
            "network.embedding_dim=16",
            "train.epochs=4",
            "train.patience=4",
            "train.refit=false",
            f"thresholds.fallback={fallback}",
            f"features.char_ngrams={chars}",
        ]
    )
    docs = list(open_corpus(corpus))
    labels = [d.labels[:1] if mode == "multiclass" else d.labels for d in docs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=config).fit([d.text for d in docs], labels)
    clf.save(path)
    return path


MODELS = {
    "dense-multilabel-fallback": ("dense", "multilabel", "always"),
    "dense-multilabel-no-fallback": ("dense", "multilabel", "never"),
    "dense-multiclass": ("dense", "multiclass", "auto"),
    "embedding-multilabel-fallback": ("embedding", "multilabel", "always"),
    "embedding-multiclass": ("embedding", "multiclass", "auto"),
    # Character n-grams in the TF-IDF features (the network's, or the blend's beside an
    # embedding network) take the same path through every entry point.
    "dense-multilabel-chars": ("dense", "multilabel", "auto", "on"),
    "embedding-multilabel-chars": ("embedding", "multilabel", "auto", "on"),
    # Large vocabularies: shortlists rescored in numpy, scores 0 off the shortlist.
    "shortlist-multilabel": ("shortlist", "multilabel", "auto"),
    "shortlist-multiclass": ("shortlist", "multiclass", "auto"),
    # Several languages: each text's language detected, its stop words and stemmer applied.
    "dense-multilabel-languages": ("dense", "multilabel", "always", "auto", MIXED, "snowball"),
    "shortlist-multilabel-languages": (
        "shortlist",
        "multilabel",
        "auto",
        "auto",
        MIXED,
        "snowball",
    ),
}


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract") / "docs.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for doc in awkward_documents():
            handle.write(json.dumps({**doc, "labels": ["politics"]}, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker local cluster, shared by this module's tests."""
    with local_cluster() as address:
        yield address


def _records(rows: list[dict[str, Any]]) -> list[Record]:
    return [(r["id"], r["labels"], r.get("scores", {})) for r in rows]


def _by_api(model: Path, texts: list[str], ids: list[str]) -> list[Record]:
    clf = TopicClassifier.load(model)
    tagged = clf.tag(texts)
    assert clf.predict(texts) == [[t for t, _ in row] for row in tagged]
    proba = clf.predict_proba(texts)
    assert np.isfinite(proba).all()
    for row, topics in zip(proba, tagged, strict=True):
        for topic, score in topics:
            assert row[list(clf.classes_).index(topic)] == pytest.approx(score, abs=1e-7)
    return [
        (i, [t for t, _ in row], {t: s for t, s in row}) for i, row in zip(ids, tagged, strict=True)
    ]


def _by_tag(model: Path, corpus: Path, out: Path, jobs: int, batch: int) -> list[Record]:
    code = run(
        ["-q", "tag", str(model), str(corpus), "--scores", "-o", str(out), "--force"]
        + ["--jobs", str(jobs), "--batch-size", str(batch)]
    )
    assert code == 0
    return _records([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()])


def _by_serve(model: Path, docs: list[dict[str, Any]]) -> list[Record]:
    # A real uvicorn server in a thread: the application, protocol and limits `serve` runs
    # with one worker, over HTTP on 127.0.0.1 (not an in-process test client).
    from topicclf.server import ServeOptions, load_models, parse_model_specs, serve_in_thread

    models = load_models(parse_model_specs([str(model)]))
    with serve_in_thread(models, ServeOptions(port=0)) as (host, port):
        body = json.dumps({"documents": docs, "scores": True}).encode()
        request = urllib.request.Request(f"http://{host}:{port}/tag", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return _records(json.load(answer)["results"])


def _by_dask(model: Path, corpus: Path, out: Path, scheduler: str) -> list[Record]:
    from topicclf.tagging.distributed import read_output, tag_on_dask

    tag_on_dask(model, [str(corpus)], out, scheduler=scheduler, partitions=3, scores=True)
    return _records(list(read_output(out)))


def _by_evaluate(model: Path, corpus: Path, out: Path) -> list[Record]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run(["-q", "evaluate", str(model), str(corpus), "-o", str(out)]) == 0
    return _records(json.loads(out.read_text(encoding="utf-8"))["predictions"])


def _same(reference: list[Record], other: list[Record], where: str) -> None:
    assert [r[0] for r in other] == [r[0] for r in reference], where
    for (doc_id, labels, scores), (_, other_labels, other_scores) in zip(
        reference, other, strict=True
    ):
        assert other_labels == labels, f"{where}: {doc_id}"
        assert other_scores.keys() == scores.keys(), f"{where}: {doc_id}"
        for topic, score in scores.items():
            assert other_scores[topic] == pytest.approx(score, abs=1e-6), f"{where}: {doc_id}"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_entry_point_gives_the_same_topics_and_scores(
    name: str,
    corpus_file: Path,
    scheduler: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = _train(tmp_path / "model", *MODELS[name])
    docs = awkward_documents()
    reference = _by_api(model, [d["text"] for d in docs], [d["id"] for d in docs])
    blank = [r for r, d in zip(reference, docs, strict=True) if not d["text"].strip()]
    assert blank and all(labels == [] for _, labels, _ in blank)  # blank text: no topic
    if "multiclass" in name or (name.endswith("-fallback") and "no-fallback" not in name):
        # Every text gets its best topic, unless no topic scores above 0 (a multi-label
        # shortlist model's text that shares no word with any training document): a topic
        # scoring 0 is never given, in any mode.
        proba = TopicClassifier.load(model).predict_proba([d["text"] for d in docs])
        if "multiclass" in name:
            # A distribution over the topics, shortlist too (before: rows of a shortlist
            # model summed to 0 .. 2.4, which roc_auc_score's 'ovr' refuses).
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
        assert all(
            labels
            for (_, labels, _), d, row in zip(reference, docs, proba, strict=True)
            if d["text"].strip() and row.max() > 0
        )
        unscored = [labels for (_, labels, _), row in zip(reference, proba, strict=True)
                    if row.max() == 0]  # fmt: skip
        assert not any(unscored)
    combos = [(1, 512), (2, 1)] if name.startswith("embedding") else [(1, 512), (1, 1), (2, 1)]
    combos += [] if name.startswith("embedding") else [(2, 512)]
    for jobs, batch in combos:
        tagged = _by_tag(model, corpus_file, tmp_path / f"tags-{jobs}-{batch}.jsonl", jobs, batch)
        _same(reference, tagged, f"tag --jobs {jobs} --batch-size {batch}")
    _same(reference, _by_serve(model, docs), "serve")
    _same(reference, _by_dask(model, corpus_file, tmp_path / "dask", scheduler), "dask")
    _same(reference, _by_evaluate(model, corpus_file, tmp_path / "report.json"), "evaluate")


def test_every_entry_point_says_the_same_warnings(
    corpus_file: Path, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What one entry point warns about, every one says, in the same words: a top_k a
    multi-class model does not apply (the API and `tag` warn, the Dask engine warns, `serve`
    notes it in the answer) and ids used twice (`tag` and the Dask engine)."""
    from topicclf.model.thresholds import Rule
    from topicclf.server import ServeOptions, load_models, parse_model_specs, serve_in_thread
    from topicclf.tagging.distributed import tag_on_dask

    model = _train(tmp_path / "model", "dense", "multiclass", "auto")
    ignored = "this is a multi-class model: it always gives its one best topic, so top_k"
    reused = "document(s) reuse an id seen before"
    docs = awkward_documents()
    assert len({d["id"] for d in docs}) < len(docs)  # the corpus repeats ids

    clf = TopicClassifier.load(model)
    with pytest.warns(UserWarning, match=ignored):
        clf.tag([d["text"] for d in docs], Rule(top_k=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.tag([d["text"] for d in docs])  # the model's own rule: nothing to say

    out = tmp_path / "tags.jsonl"
    code = run(["tag", str(model), str(corpus_file), "--top-k", "3", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and err.count(ignored) == 1 and err.count(reused) == 1

    with pytest.warns(UserWarning) as said:
        tag_on_dask(model, [str(corpus_file)], tmp_path / "dask", scheduler=scheduler,
                    partitions=3, rule=Rule(top_k=3))  # fmt: skip
    messages = [str(w.message) for w in said]
    assert sum(ignored in m for m in messages) == 1 and sum(reused in m for m in messages) == 1

    models = load_models(parse_model_specs([str(model)]))
    with serve_in_thread(models, ServeOptions(port=0)) as (host, port):
        for top_k, notes in ((3, [ignored]), (None, None)):
            body = json.dumps({"documents": docs[:3], **({"top_k": top_k} if top_k else {})})
            request = urllib.request.Request(
                f"http://{host}:{port}/tag", data=body.encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                found = json.load(answer).get("notes")
            assert (found is None) if notes is None else (ignored in found[0])
