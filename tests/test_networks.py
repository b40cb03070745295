from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from topicclf.bundle.info import FEATURE_TEXT
from topicclf.config import AUTO_LEARNING_RATE, NETWORK_TYPES, Config
from topicclf.errors import ConfigError
from topicclf.features import FEATURIZERS, make_featurizer
from topicclf.model.networks import (
    NETWORKS,
    adam,
    build_dense_network,
    build_embedding_network,
    build_network,
    keras_module,
    loss_function,
    network_kind,
    stacked,
    wide_path,
)


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


def _trained_weights(optimizer: object, sparse_input: bool) -> list[np.ndarray]:
    """Weights of a small network after three epochs with `optimizer`, from one seed."""
    keras = keras_module()
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    y = (rng.random((40, 3)) < 0.3).astype(np.float32)
    if sparse_input:
        model = build_dense_network(
            30, 3, hidden_units=(8,), dropout=0.0, multiclass=False, wide=False
        )
        x: object = sp.random(40, 30, density=0.1, format="csr", dtype=np.float32, random_state=3)
    else:
        model = build_embedding_network(
            25, 6, 3, embedding_dim=4, conv_filters=0, kernel_size=3,
            hidden_units=(5,), dropout=0.0, multiclass=False,
        )  # fmt: skip
        x = rng.integers(0, 25, size=(40, 6)).astype(np.int32)
    model.compile(optimizer=optimizer, loss="binary_crossentropy")
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.parametrize("sparse_input", [True, False], ids=["sparse-tfidf", "embedding"])
def test_fused_adam_is_adam_on_the_summed_gradient(sparse_input: bool) -> None:
    # The first layer's gradient on sparse input and an embedding's come as row slices. The
    # fused update sums them into the whole gradient and decays every row's moments, as
    # Adam's definition does. Keras's own Adam squares an embedding's repeated rows one by
    # one instead of their sum, so it is the reference only once the gradient is dense.
    keras = keras_module()
    import tensorflow as tf

    class SummedGradientAdam(keras.optimizers.Adam):  # type: ignore[misc, name-defined]
        def update_step(self, gradient: object, variable: object, learning_rate: object) -> None:
            super().update_step(tf.convert_to_tensor(gradient), variable, learning_rate)

    ours = _trained_weights(adam(0.01), sparse_input)
    reference = _trained_weights(SummedGradientAdam(learning_rate=0.01), sparse_input)
    plain = _trained_weights(keras.optimizers.Adam(learning_rate=0.01), sparse_input)
    for a, b in zip(ours, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    if sparse_input:  # distinct rows: Keras's Adam agrees too
        for a, b in zip(ours, plain, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_stacked_network_adds_the_given_logits_before_its_activation() -> None:
    keras_module().utils.set_random_seed(0)
    model = build_dense_network(
        12, 3, hidden_units=(5,), dropout=0.0, multiclass=False, wide=False, linear_logits=True
    )
    assert [i.name for i in model.inputs] == ["tfidf", "linear_logits"]
    x = sp.random(4, 12, density=0.3, format="csr", dtype=np.float32, random_state=0)
    zero = np.zeros((4, 3), dtype=np.float32)
    shift = np.array([[2.0, -1.0, 0.5]] * 4, dtype=np.float32)
    plain = model.predict((x, zero), verbose=0)
    shifted = model.predict((x, shift), verbose=0)
    logit = np.log(plain / (1 - plain))
    np.testing.assert_allclose(np.log(shifted / (1 - shifted)), logit + shift, atol=1e-4)


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    # A new interpreter: this one has Keras loaded already.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_sqrt_weighting_makes_a_rare_topics_positives_weigh_more() -> None:
    keras = keras_module()
    # Topic 0 is on 1 of 10 documents (weight sqrt(9/1) = 3), topic 1 on 5 (weight 1).
    y = np.zeros((10, 2), dtype=np.float32)
    y[0, 0] = 1.0
    y[:5, 1] = 1.0
    weighted = loss_function(keras, y, multiclass=False, weighting="sqrt")
    plain = loss_function(keras, y, multiclass=False, weighting="none")
    assert plain == "binary_crossentropy"
    assert loss_function(keras, y, multiclass=True, weighting="sqrt") == (
        "categorical_crossentropy"
    )
    half = np.full((1, 2), 0.5, dtype=np.float32)
    rare_positive = np.array([[1.0, 0.0]], dtype=np.float32)
    common_positive = np.array([[0.0, 1.0]], dtype=np.float32)
    # Cross-entropy at p = 0.5 is ln 2 per term; the mean over topics weighs them.
    assert float(weighted(rare_positive, half)[0]) == pytest.approx(2 * np.log(2), rel=1e-5)
    assert float(weighted(common_positive, half)[0]) == pytest.approx(np.log(2), rel=1e-5)


def test_keras_imports_in_the_background_with_python_stderr_still_visible() -> None:
    code = (
        "import os, sys\n"
        "from topicclf.model import networks\n"
        "with networks._stderr_silenced():\n"
        "    os.write(2, b'c-level log\\n')\n"
        "    print('python progress', file=sys.stderr)\n"
        "    held = sys.stderr  # as a log handler made during the import would hold it\n"
        "print('later, through the held stream', file=held)\n"
        "networks.start_loading_keras()\n"
        "print('loading' if not networks.keras_loaded() else 'loaded early')\n"
        "keras = networks.keras_module()\n"
        "print(networks.keras_loaded(), keras.__name__, hasattr(keras, 'layers'))\n"
    )
    done = _fresh_python(code)
    assert done.stderr == "python progress\nlater, through the held stream\n"
    assert done.stdout.split("\n")[-2] == "True keras True"


def test_a_failed_background_import_is_raised_where_keras_is_needed() -> None:
    code = (
        "from topicclf.model import networks\n"
        "def broken():\n"
        "    raise ImportError('no tensorflow here')\n"
        "networks._import_keras = broken\n"
        "networks.start_loading_keras()\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        networks.keras_module()\n"
        "    except ImportError as exc:\n"
        "        print(exc)\n"
    )
    assert _fresh_python(code).stdout == "no tensorflow here\nno tensorflow here\n"


def test_stacking_applies_to_dense_networks_beside_a_linear_model() -> None:
    dense = Config().with_overrides(["network.type=dense"])
    assert stacked(dense) and wide_path(dense)
    assert not stacked(dense.with_overrides(["blend.stack=false"]))
    assert not stacked(dense.with_overrides(["blend.linear=off"]))
    assert not stacked(Config().with_overrides(["network.type=embedding"]))
    wide = dense.with_overrides(["network.wide=true"])  # learns its own linear path
    assert not stacked(wide) and wide_path(wide)


def test_every_network_kind_is_in_config_the_table_and_the_step_sizes() -> None:
    # A kind added to one of them and not the others would fail here, not train as another.
    # "auto" is not a kind: it picks one (training.choose_network).
    assert set(NETWORK_TYPES) - {"auto"} == set(NETWORKS) == set(AUTO_LEARNING_RATE)
    assert set(FEATURE_TEXT) == set(FEATURIZERS)  # `info` describes every kind of features
    for name, kind in NETWORKS.items():
        assert kind.name == name
        assert kind.featurizer in FEATURIZERS
        assert kind.refit in ("continue", "fresh")
        for key in kind.search_space:  # every setting it searches is one `--set` accepts
            Config().with_overrides([f"{key}={kind.search_space[key][0]!r}".replace("'", "")])


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_each_kind_builds_its_network_for_its_featurizer(name: str) -> None:
    config = Config().with_overrides([f"network.type={name}", "network.hidden_units=4"])
    featurizer = make_featurizer(config.text, config.features, network_kind(name).featurizer)
    featurizer.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    model = build_network(config, featurizer, 3, False)
    # A shortlist network's rescorer scores one candidate at a time.
    outputs = 3 if network_kind(name).pipeline == "standard" else 1
    assert model.output_shape == (None, outputs)
    assert network_kind(name).describe(config.to_dict()["network"]).startswith(name)


def test_an_unknown_network_kind_is_an_error_never_the_other_one() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown network type 'sparse'; known types: dense, embedding"
    ):
        network_kind("sparse")
    with pytest.raises(ConfigError, match=r"network.type = 'sparse'"):
        Config().with_overrides(["network.type=sparse"])


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_a_network_too_large_to_train_or_save_is_refused_before_keras_allocates(
    name: str,
) -> None:
    # Before: hidden units within their bounds but 16 layers of 65,536 made TensorFlow fail
    # allocating (an internal error, after seconds of work).
    config = Config().with_overrides(
        [f"network.type={name}", "network.hidden_units=" + ",".join(["65536"] * 16)]
    )
    featurizer = make_featurizer(config.text, config.features, network_kind(name).featurizer)
    featurizer.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    with pytest.raises(
        ConfigError,
        match=r"the network would have [\d,]+ weights \(.*hidden units \[65536, .*\); a saved "
        r"network may hold at most 16 GiB\. Lower network\.hidden_units",
    ):
        build_network(config, featurizer, 3, False)


def test_a_network_within_the_file_limit_but_beyond_memory_is_refused() -> None:
    config = Config().with_overrides(["network.type=dense", "network.hidden_units=45000,45000"])
    featurizer = make_featurizer(config.text, config.features, "tfidf")
    featurizer.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    import os

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if memory > 4 * 4 * 45000**2 * 1.01:
        pytest.skip("this machine could train 45000 x 45000 weights")
    with pytest.raises(
        ConfigError,
        match=r"training it needs about 30\.\d GiB; this (machine has|process.s address-space)",
    ):
        build_network(config, featurizer, 3, False)


def test_a_network_that_fits_the_machine_but_not_ulimit_v_is_refused_naming_the_limit() -> None:
    """Attacker pass 26, CLI F1: the check compared with the machine's RAM alone, so under
    `ulimit -v` a network it let through ran out of memory as TensorFlow built it."""
    import os
    import resource

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if memory < 8 * 1024**3 or (hard != resource.RLIM_INFINITY and hard < 3 * 1024**3):
        pytest.skip("needs a machine with more than 8 GiB and room to set ulimit -v to 3 GiB")
    code = (
        "import resource\n"
        "hard = resource.getrlimit(resource.RLIMIT_AS)[1]\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, hard))\n"
        "from topicclf.config import Config\n"
        "from topicclf.features import make_featurizer\n"
        "from topicclf.model.networks import build_network\n"
        "config = Config().with_overrides(\n"
        "    ['network.type=dense', 'network.hidden_units=20000,20000']\n"
        ")\n"
        "featurizer = make_featurizer(config.text, config.features, 'tfidf')\n"
        "featurizer.fit(['rain and wind', 'wheat prices rise', 'rain on wheat', 'wind farms'])\n"
        "build_network(config, featurizer, 3, False)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert re.search(
        r"ConfigError: the network would have 40\d,[\d,]+ weights \(\d+ features, hidden units "
        r"\[20000, 20000\], 3 topics\); training it needs about 6\.0 GiB; this process's "
        r"address-space limit \(ulimit -v\) is 3\.0 GiB\. Lower network\.hidden_units",
        done.stderr,
    ), done.stderr


def test_the_memory_limit_is_the_least_of_ram_ulimit_v_and_the_cgroup() -> None:
    """What the size checks compare with, as they say it."""
    from topicclf import machine

    limit, says = machine.memory_limit()
    memory = machine.machine_memory()
    assert 0 < limit <= memory
    rlimit = machine.address_space_limit()
    if rlimit:
        assert limit <= rlimit
    cgroup, where = machine.cgroup_memory_limit()
    if cgroup:
        assert limit <= cgroup and where
    if limit == memory:
        assert says == f"this machine has {memory / 1024**3:,.1f} GiB"


def _huge_batches() -> tuple[Config, object]:
    config = Config().with_overrides(
        [
            "network.type=embedding",
            "features.sequence_length=100000",
            "network.embedding_dim=4096",
            "train.epochs=1",
        ]
    )
    featurizer = make_featurizer(config.text, config.features, "sequence")
    featurizer.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    return config, featurizer


def test_an_embedding_batch_beyond_memory_is_refused_before_keras_allocates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Weights within bounds, but one batch of 64 documents x 100,000 tokens x 4,096
    dimensions is 98 GiB of activations, three times over in training: TensorFlow ran out
    of memory after 18 s (an internal error)."""
    from topicclf import machine
    from topicclf.model import networks

    monkeypatch.setattr(machine, "machine_memory", lambda: 4 * 1024**3)
    config, featurizer = _huge_batches()
    with pytest.raises(
        ConfigError,
        match=r"a batch of 64 documents of 100,000 tokens in 4096 dimensions is too large: "
        r"training it needs about 293\.0 GiB per batch; this machine has 4\.0 GiB\. Lower "
        r"features\.sequence_length, network\.embedding_dim or train\.batch_size",
    ):
        networks.check_batch_memory(config, featurizer, 64)
    small = Config().with_overrides(["network.type=embedding", "features.sequence_length=512"])
    short = make_featurizer(small.text, small.features, "sequence")
    short.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    networks.check_batch_memory(small, short, 64)  # 48 MiB: fine
    dense = Config().with_overrides(["features.sequence_length=100000"])
    networks.check_batch_memory(dense, make_featurizer(dense.text, dense.features, "tfidf"), 64)
    # Convolution filters are named where they take the memory (their advice helped nothing).
    conv = Config().with_overrides(
        ["network.type=embedding", "features.sequence_length=2000", "network.embedding_dim=64",
         "network.conv_filters=65536", "network.kernel_size=64"]
    )  # fmt: skip
    wide = make_featurizer(conv.text, conv.features, "sequence")
    wide.fit(["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"])
    with pytest.raises(
        ConfigError,
        match=r"in 64 dimensions and 65,536 convolution filters is too large: .* Lower "
        r"features\.sequence_length, network\.embedding_dim, network\.conv_filters or train",
    ):
        networks.check_batch_memory(conv, wide, 64)


def test_training_refuses_the_batch_before_building_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from topicclf import machine
    from topicclf.training import fit_model
    from topicclf.training import network as training_network

    def never(*_: object, **__: object) -> None:
        raise AssertionError("a network was built before its batch was checked")

    monkeypatch.setattr(machine, "machine_memory", lambda: 4 * 1024**3)
    monkeypatch.setattr(training_network, "build_network", never)
    config, _ = _huge_batches()
    words = ["rain and wind", "wheat prices rise", "rain on wheat fields", "wind farms"]
    texts = [f"{words[i % 4]} record{i:02d}" for i in range(20)]
    labels = [["weather"], ["grain"], ["weather", "grain"], ["energy"]] * 5
    with pytest.raises(ConfigError, match=r"GiB per batch; this machine has 4\.0 GiB"):
        fit_model(config, texts, labels)


def test_running_out_of_memory_while_keras_trains_is_a_clear_error() -> None:
    """TensorFlow's ResourceExhaustedError (or MemoryError) is said with advice; any other
    error goes through as it is."""
    from topicclf.errors import TopicclfError
    from topicclf.training.network import out_of_memory_explained

    class ResourceExhaustedError(Exception):  # tf.errors' name, without importing it
        pass

    for error in (ResourceExhaustedError("OOM when allocating tensor"), MemoryError()):
        with (
            pytest.raises(
                ConfigError,
                match=r"training ran out of memory building or training the network in batches "
                r"of 64 documents \(\w+\); lower network\.hidden_units, train\.batch_size, "
                r"features\.sequence_length, network\.embedding_dim or features\.max_features",
            ) as caught,
            out_of_memory_explained(64),
        ):
            raise error
        assert isinstance(caught.value, TopicclfError)
    with pytest.raises(ValueError, match="other"), out_of_memory_explained(64):
        raise ValueError("other")


def test_keras_backend_in_the_environment_is_overridden_with_a_warning(
    data_dir: Path, tmp_path: Path
) -> None:
    """Attacker pass 26, CLI F6: KERAS_BACKEND=jax (common on ML machines) made Keras import
    jax: `internal error: ModuleNotFoundError` after the corpus was read."""
    done = subprocess.run(
        [sys.executable, "-m", "topicclf", "train", str(data_dir / "tiny.jsonl"),
         "-o", str(tmp_path / "m"), "--set", "train.epochs=1", "--set", "train.refit=false"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: KERAS_BACKEND=jax is set; topicclf uses Keras's tensorflow backend"]
    assert (tmp_path / "m" / "manifest.json").exists()


def test_keras_imported_first_with_another_backend_is_a_clear_error() -> None:
    """A Python API user who imported Keras under another backend: named, not a raw error
    from inside Keras (a backend is chosen once per process)."""
    import importlib.util

    backend = next((b for b in ("jax", "torch") if importlib.util.find_spec(b)), None)
    if backend is None:
        pytest.skip("neither jax nor torch is installed: Keras cannot import another backend")
    code = (
        "import keras\n"
        "from topicclf.errors import ConfigError\n"
        "from topicclf.model.networks import keras_module\n"
        "try:\n"
        "    keras_module()\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**os.environ, "KERAS_BACKEND": backend},
    )  # fmt: skip
    assert done.stdout.strip() == (
        f"Keras was imported with its {backend} backend (KERAS_BACKEND={backend}) before "
        "topicclf needed it; topicclf needs Keras's tensorflow backend: set "
        "KERAS_BACKEND=tensorflow (or unset it) before keras is imported"
    ), done.stderr
