from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from topicclf.classifier import TopicClassifier
from topicclf.errors import ModelBundleError
from topicclf.model.inference import NumpyDense, _batches, export_dense_weights
from topicclf.model.networks import build_dense_network, build_embedding_network, keras_module
from topicclf.types import Document


@pytest.mark.parametrize(
    ("hidden", "wide", "multiclass"),
    [((), False, False), ((16,), False, False), ((16, 8), False, True), ((16,), True, False)],
)
def test_numpy_matches_keras(hidden: tuple[int, ...], wide: bool, multiclass: bool) -> None:
    keras_module().utils.set_random_seed(3)
    model = build_dense_network(
        40, 5, hidden_units=hidden, dropout=0.5, wide=wide, multiclass=multiclass
    )
    x = sp.random(25, 40, density=0.2, format="csr", dtype=np.float32, random_state=1)
    arrays = export_dense_weights(model)
    assert arrays is not None
    fast = NumpyDense(arrays, "softmax" if multiclass else "sigmoid")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(fast.predict(x), expected, atol=1e-5)


def test_embedding_networks_are_not_exported() -> None:
    model = build_embedding_network(
        20,
        6,
        3,
        embedding_dim=4,
        conv_filters=0,
        kernel_size=3,
        hidden_units=(5,),
        dropout=0.5,
        multiclass=False,
    )
    assert export_dense_weights(model) is None


def test_bad_weights_are_refused() -> None:
    arrays = {
        "hidden_0_kernel": np.zeros((4, 3), np.float32),
        "hidden_0_bias": np.zeros(3, np.float32),
        "topics_kernel": np.zeros((2, 5), np.float32),
        "topics_bias": np.zeros(5, np.float32),
    }
    with pytest.raises(ModelBundleError, match="layer shapes do not chain"):
        NumpyDense(arrays, "sigmoid")
    with pytest.raises(ModelBundleError, match="no output layer"):
        NumpyDense({}, "sigmoid")


def test_saved_model_scores_the_same_with_both_engines(
    tmp_path: Path, tiny_dense: TopicClassifier, tiny_docs: list[Document]
) -> None:
    path = tmp_path / "m"
    tiny_dense.save(path)
    texts = [d.text for d in tiny_docs]
    fast = TopicClassifier.load(path)
    reference = TopicClassifier.load(path, engine="keras")
    assert isinstance(fast.model_, NumpyDense)
    np.testing.assert_allclose(fast.predict_proba(texts), reference.predict_proba(texts), atol=1e-5)
    assert fast.predict(texts) == reference.predict(texts)


def test_tagging_a_dense_model_does_not_import_tensorflow(
    tmp_path: Path, tiny_dense: TopicClassifier
) -> None:
    path = tmp_path / "m"
    tiny_dense.save(path)
    code = (
        "import sys\n"
        "from topicclf.classifier import TopicClassifier\n"
        f"clf = TopicClassifier.load({str(path)!r})\n"
        "print(clf.predict(['snow and frost overnight']))\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_an_embedding_network_is_scored_in_batches_its_activations_fit() -> None:
    # A fixed 256 rows per predict: at a sequence length of 100,000 one batch's embedding
    # alone was 256 x 100,000 x 128 floats (13 GB).
    from topicclf.config import SCORE_BATCH_BYTES
    from topicclf.model.inference import network_scores, rows_at_once

    net = build_embedding_network(
        50, 100_000, 3, embedding_dim=128, conv_filters=0, kernel_size=3,
        hidden_units=(8,), dropout=0.0, multiclass=False,
    )  # fmt: skip
    rows = rows_at_once(net)
    assert 1 <= rows <= SCORE_BATCH_BYTES // (100_000 * 128 * 4) == 5
    x = np.zeros((7, 100_000), dtype=np.int32)
    x[:, :3] = np.arange(21).reshape(7, 3) + 2
    expected = np.vstack([net.predict_on_batch(x[i : i + 1]) for i in range(7)])
    np.testing.assert_allclose(network_scores(net, x), expected, atol=1e-6)
    small = build_embedding_network(
        50, 64, 3, embedding_dim=16, conv_filters=0, kernel_size=3,
        hidden_units=(8,), dropout=0.0, multiclass=False,
    )  # fmt: skip
    assert rows_at_once(small) == 1024  # short sequences: PREDICT_BATCH, as before


def test_a_model_of_the_longest_sequences_train_allows_tags_many_lines(tmp_path: Path) -> None:
    # Trained with features.sequence_length = 100,000 (the top of its range), it tagged one
    # line, but 300 ended in "internal error: ResourceExhaustedError"; 40 lines took 2.9 GB.
    repo = Path(__file__).resolve().parent.parent
    model, lines = tmp_path / "model", tmp_path / "lines.txt"
    lines.write_text("".join(f"rain and wind number {i}\n" for i in range(40)))
    train = [sys.executable, "-m", "topicclf", "-q", "train", str(repo / "tests/data/tiny.jsonl")]
    settings = ["--network", "embedding", "--set", "train.epochs=1"]
    longest = ["--set", "features.sequence_length=100000"]
    subprocess.run([*train, "-o", str(model), *settings, *longest], check=True)
    one = tmp_path / "one.txt"
    one.write_text("rain and wind\n")

    def peak_kb(source: Path) -> int:  # the tagging process's own peak, in KB
        out = tmp_path / "tags.jsonl"
        args = ["-q", "tag", str(model), str(source), "--format", "lines", "-o", str(out)]
        measured = (
            "import resource, sys\nfrom topicclf.cli import run\n"
            f"code = run({args!r} + ['--force'])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)\n"
        )
        done = subprocess.run([sys.executable, "-c", measured], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert len(out.read_text().splitlines()) == len(source.read_text().splitlines())
        return int(done.stderr.split()[-1])

    # Against one line's peak on the same machine (TensorFlow's own share varies): 40 lines
    # took 2.1 GB more before, one batch of 40 x 100,000 x 128 floats; now about 0.2 GB.
    assert peak_kb(lines) - peak_kb(one) < 1_500_000


def _brute_occlusion(clf: TopicClassifier, text: str, columns: list[int]) -> np.ndarray:
    """The text's scores and those of a copy without each term, every copy normalised again
    as the featurizer normalises a text's row and scored whole by `Scorer.from_features` as
    tagging scores a text: the full matrix, then `columns`."""
    x = sp.csr_matrix(clf.featurizer_.transform([text]))
    x.sort_indices()
    rows = [x]
    for i in range(x.nnz):
        copy = x.copy()
        copy.data[i] = 0.0
        copy.eliminate_zeros()
        copy.data /= np.float32(np.sqrt(np.sum(copy.data.astype(np.float64) ** 2)))
        rows.append(copy)
    copies = sp.vstack(rows, format="csr")
    return clf.scorer_.from_features(copies, [text] * copies.shape[0])[:, columns]


@pytest.mark.parametrize("kind", ["dense-blend", "dense-blend-numpy", "shortlist"])
def test_occlusion_a_batch_at_a_time_equals_the_whole_matrix(
    tiny_docs: list[Document], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    import topicclf.model.explain as explain_module
    import topicclf.model.inference as inference
    from tests.conftest import tiny_config

    network, *blend = kind.split("-")[:2]
    config = tiny_config(network, epochs=3).with_overrides(
        ["blend.linear=fixed", "blend.stack=false"] if blend else []
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=config).fit(
            [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
        )
    if kind.endswith("numpy"):  # the numpy engine, as a loaded model scores
        clf.save(tmp_path / "m")
        clf = TopicClassifier.load(tmp_path / "m")
        assert isinstance(clf.scorer_.network, NumpyDense)
    assert (clf.scorer_.blend is not None) == bool(blend)
    text = "The striker scored a late goal in the cup final as rain fell on the stadium."
    topics = list(clf.classes_[:3])
    columns = [list(clf.classes_).index(t) for t in topics]
    whole = _brute_occlusion(clf, text, columns)
    expected = clf.explain(text, top=50, topics=topics)
    assert any(e.up or e.down for e in expected)
    # One copy and one topic at a time: the same scores and explanations.
    monkeypatch.setattr(inference, "EXPLAIN_BATCH_CELLS", 1)
    monkeypatch.setattr(explain_module, "EXPLAIN_BATCH_CELLS", 1)
    occlusion = clf.scorer_.occlusion(text)
    assert occlusion._copies_at_once() == 1
    np.testing.assert_allclose(occlusion.scores(columns), whole, rtol=1e-5, atol=1e-6)
    assert clf.explain(text, top=50, topics=topics) == expected


def test_a_long_text_weighs_its_heaviest_terms_only_and_says_so(
    tiny_dense: TopicClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    import topicclf.model.inference as inference
    from topicclf.model.explain import explainable_terms

    text = "The striker scored a late goal in the cup final."
    x = tiny_dense.featurizer_.transform([text])
    heaviest = set(x.indices[np.argsort(-x.data, kind="stable")[:3]].tolist())
    monkeypatch.setattr(inference, "EXPLAIN_MAX_OCCLUDED", 3)
    occlusion = tiny_dense.scorer_.occlusion(text)
    assert set(occlusion.present.tolist()) == heaviest
    message = (
        rf"explain: the text has {x.nnz} distinct terms \(word and character n-grams\); "
        r"only the 3 of largest TF-IDF weight are weighed \(config.EXPLAIN_MAX_OCCLUDED\)"
    )
    with pytest.warns(UserWarning, match=message):
        (why,) = tiny_dense.explain(text, top=50, topics=["sport"])
    names = tiny_dense.featurizer_.terms()
    assert {t for t, _ in why.up + why.down} <= {names[c] for c in heaviest}
    # The server counts an answer's items by the same terms (--max-pairs).
    assert explainable_terms(tiny_dense.scorer_, text) == 3


def test_explaining_a_long_text_on_a_many_topic_shortlist_model_keeps_memory_bounded(
    tmp_path: Path,
) -> None:
    # Every copy's scores of every topic were kept, then copied in float64: a 541 KB text
    # on a 7,730-topic model took 4.8 GB (MemoryError under 3 GB). Now only the explained
    # topics' columns are kept of each bounded batch.
    import json
    import random

    rng = random.Random(1)
    n_topics, words = 1200, [f"w{i}" for i in range(3000)]
    corpus = tmp_path / "many.jsonl"
    with corpus.open("w") as f:
        for d in range(2 * n_topics):
            ts = [d % n_topics, rng.randrange(n_topics)]
            text = " ".join(f"t{t}k{rng.randrange(3)}" for t in ts for _ in range(4))
            text += " " + " ".join(rng.sample(words, 12))
            f.write(json.dumps({"id": f"d{d}", "text": text, "labels": [f"topic {t}" for t in ts]}))
            f.write("\n")
    model = tmp_path / "model"
    train = [sys.executable, "-m", "topicclf", "-q", "train", str(corpus), "-o", str(model)]
    settings = ["--network", "shortlist", "--set", "train.epochs=1"]
    subprocess.run([*train, *settings, "--set", "features.char_ngrams=off"], check=True)
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    long_text = " ".join(texts)  # every term of the corpus: thousands of distinct terms

    def peak_kb(text: str) -> tuple[int, int]:  # the explaining process's own peak, in KB
        measured = (
            "import json, resource, sys\nfrom topicclf.classifier import TopicClassifier\n"
            f"clf = TopicClassifier.load({str(model)!r})\n"
            "text = sys.stdin.read()\n"
            "why = clf.explain(text, top=3, topics=['topic 1', 'topic 2'])\n"
            "terms = clf.featurizer_.transform([text]).nnz\n"
            "print(terms, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", measured], input=text, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        terms, peak = done.stderr.split()[-2:]
        return int(terms), int(peak)

    short_terms, short = peak_kb(texts[0])
    long_terms, long = peak_kb(long_text)
    assert short_terms < 50 and long_terms > 4_000
    # Before: about 40 bytes per (term, topic), 4,000 x 1,200 x 40 = 190 MB more.
    assert long - short < 80_000


@given(
    st.lists(st.integers(0, 50), max_size=40),
    st.integers(1, 8),
    st.integers(1, 120),
)
def test_scoring_batches_are_bounded_in_texts_and_characters(
    lengths: list[int], most: int, chars: int
) -> None:
    """Batches are where a stopped request's work ends (topicclf.cancel): bounded in
    characters too, a batch of long texts held a server's stop 10 s past its time."""
    texts = ["x" * n for n in lengths]
    batches = list(_batches(texts, most, chars))
    assert [i for start, stop in batches for i in range(start, stop)] == list(range(len(texts)))
    for start, stop in batches:
        assert 1 <= stop - start <= most
        assert stop - start == 1 or sum(lengths[start:stop]) <= chars


def test_a_text_scores_the_same_alone_and_in_a_batch() -> None:
    """BLAS multiplies one row by another routine than several, rounding differently: a text
    tagged alone scored 0.005726 where in a batch 0.005727 (a threshold between them gave a
    topic one way and not the other). Bit for bit, as README promises."""
    rng = np.random.default_rng(0)
    arrays = {
        "hidden_0_kernel": rng.standard_normal((300, 256)).astype(np.float32),
        "hidden_0_bias": rng.standard_normal(256).astype(np.float32),
        "hidden_1_kernel": rng.standard_normal((256, 512)).astype(np.float32) / 16,
        "hidden_1_bias": np.zeros(512, np.float32),
        "topics_kernel": rng.standard_normal((512, 1000)).astype(np.float32) / 16,
        "topics_bias": np.zeros(1000, np.float32),
    }
    dense = NumpyDense(arrays, "sigmoid")
    x = sp.random(40, 300, density=0.1, format="csr", dtype=np.float32, random_state=2)
    together = dense.predict(x)
    alone = np.vstack([dense.predict(x[i]) for i in range(x.shape[0])])
    assert np.array_equal(alone, together)
    occluded = dense.predict_occluded(sp.csr_matrix(x[0]), np.array([-1]))
    assert np.array_equal(occluded[0], together[0])


def test_a_fitted_keras_network_is_exported_once_for_explaining_and_not_pickled(
    tiny_dense: TopicClassifier,
) -> None:
    """Explain exported every weight of a model fitted in memory for each text it explained."""
    import pickle

    scorer = tiny_dense.scorer_
    first = scorer.numpy_dense()
    assert first is not None and scorer.numpy_dense() is first
    tiny_dense.explain("rain and storms over the harbour", top=3)
    assert scorer.numpy_dense() is first
    copy = pickle.loads(pickle.dumps(scorer))
    assert "_exported" not in copy.__dict__
    np.testing.assert_array_equal(
        copy.scores(["rain and storms"]), scorer.scores(["rain and storms"])
    )
