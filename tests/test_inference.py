from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from topicclf.classifier import TopicClassifier
from topicclf.errors import ModelBundleError
from topicclf.model.inference import NumpyDense, export_dense_weights
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
