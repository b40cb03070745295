from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from topicclf.networks import build_dense_network, build_embedding_network, keras_module


def test_dense_network_shapes_names_and_activation() -> None:
    model = build_dense_network(
        50, 4, hidden_units=(8, 6), dropout=0.2, multiclass=False, wide=False
    )
    assert [layer.name for layer in model.layers] == [
        "tfidf",
        "hidden_0",
        "dropout_0",
        "hidden_1",
        "dropout_1",
        "topics",
    ]
    assert model.get_layer("topics").activation.__name__ == "sigmoid"
    x = sp.random(3, 50, density=0.2, format="csr", dtype=np.float32)
    scores = model.predict(x, verbose=0)
    assert scores.shape == (3, 4) and np.all((scores > 0) & (scores < 1))
    assert not model.compiled  # builders return uncompiled models


def test_multiclass_uses_softmax() -> None:
    model = build_dense_network(
        10, 3, hidden_units=(4,), dropout=0.5, multiclass=True, wide=False, sparse=False
    )
    scores = model.predict(np.random.default_rng(0).random((2, 10)), verbose=0)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_embedding_network_masks_padding() -> None:
    keras_module().utils.set_random_seed(0)
    model = build_embedding_network(
        20,
        6,
        3,
        embedding_dim=4,
        conv_filters=0,
        kernel_size=3,
        hidden_units=(5,),
        dropout=0.0,
        multiclass=False,
    )
    # Mean pooling ignores padding: "5 7" padded scores as "5 7 5 7 5 7" (same mean).
    short = np.array([[5, 7, 0, 0, 0, 0]], dtype=np.int32)
    tokens = np.array([[5, 7, 5, 7, 5, 7]], dtype=np.int32)
    np.testing.assert_allclose(
        model.predict(short, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5
    )


def test_embedding_network_with_convolution() -> None:
    model = build_embedding_network(
        20,
        6,
        3,
        embedding_dim=4,
        conv_filters=5,
        kernel_size=3,
        hidden_units=(),
        dropout=0.5,
        multiclass=False,
    )
    assert "conv" in [layer.name for layer in model.layers]
    assert model.predict(np.ones((2, 6), dtype=np.int32), verbose=0).shape == (2, 3)
