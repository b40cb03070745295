from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from topicclf.bundle import FORMAT_VERSION
from topicclf.classifier import TopicClassifier
from topicclf.errors import ModelBundleError, OutputError
from topicclf.fileio import atomic_directory, output_lock
from topicclf.model.networks import stacked
from topicclf.types import Document


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, tiny_dense: TopicClassifier) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny"
    tiny_dense.save(path, corpus={"path": "tests/data/tiny.jsonl"})
    return path


@pytest.fixture(scope="module")
def saved_embedding(tmp_path_factory: pytest.TempPathFactory, tiny_docs: list[Document]) -> Path:
    """An embedding model: its network is a Keras file (a dense one is its weights alone)."""
    import warnings

    from conftest import tiny_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=tiny_config("embedding", epochs=3, patience=3)).fit(
            [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
        )
    return clf.save(tmp_path_factory.mktemp("models") / "embedding")


def test_save_load_gives_identical_scores(
    saved: Path, tiny_dense: TopicClassifier, tiny_docs: list[Document]
) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [
        "features.json",
        "features.safetensors",
        "labels.json",
        "linear.safetensors",
        "manifest.json",
        "thresholds.json",
        "weights.safetensors",
    ]
    loaded = TopicClassifier.load(saved, engine="keras")
    texts = [d.text for d in tiny_docs]
    np.testing.assert_array_equal(loaded.predict_proba(texts), tiny_dense.predict_proba(texts))
    assert loaded.predict(texts) == tiny_dense.predict(texts)
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["config"]["network"]["hidden_units"] == [32]
    assert manifest["corpus"] == {"path": "tests/data/tiny.jsonl"}
    assert set(manifest["versions"]) >= {"topicclf", "keras", "tensorflow"}


def test_no_pickle_anywhere(saved: Path) -> None:
    from safetensors.numpy import load_file

    for path in saved.iterdir():
        assert b"pickle" not in path.read_bytes()[:4096].lower() or path.suffix == ".keras"
    assert set(load_file(saved / "features.safetensors")) == {"idf"}


def test_manifest_records_every_other_file(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    files = {p.name for p in saved.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == files
    for name in files:
        data = (saved / name).read_bytes()
        assert manifest["files"][name] == {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


def test_refuses_to_overwrite(saved: Path, tiny_dense: TopicClassifier) -> None:
    with pytest.raises(OutputError, match=r"already exists; choose another path or add --force"):
        tiny_dense.save(saved)


def test_failed_save_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "half.json").write_text("{")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_whole(tmp_path: Path, tiny_dense: TopicClassifier) -> None:
    target = tmp_path / "model"
    tiny_dense.save(target)
    (target / "labels.json").write_text('["stale"]')
    tiny_dense.save(target, overwrite=True)
    assert json.loads((target / "labels.json").read_text()) == list(tiny_dense.classes_)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_overwrite_never_replaces_a_directory_of_other_files(
    tmp_path: Path, tiny_dense: TopicClassifier
) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("precious")
    with pytest.raises(OutputError, match=r"model is a directory that is not a topicclf model "
                       r"\(it holds stale\.txt\); --force replaces only a model"):  # fmt: skip
        tiny_dense.save(target, overwrite=True)
    assert (target / "stale.txt").read_text() == "precious"
    tiny_dense.save(target / "inner")
    (target / "stale.txt").unlink()
    with pytest.raises(OutputError, match=r"it holds inner/\)"):  # a model inside is not one
        tiny_dense.save(target, overwrite=True)


def _copy(saved: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "copy"
    shutil.copytree(saved, dest)
    return dest


def _rerecord(model: Path, *names: str) -> None:
    """Record edited files' new sizes and hashes, as a careful hand edit would: the checks
    behind the hashes are then what is tested."""
    manifest = json.loads((model / "manifest.json").read_text())
    for name in names:
        data = (model / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (model / "manifest.json").write_text(json.dumps(manifest))


HOLD_LOCK = """
import sys, time
from topicclf.fileio import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    target = tmp_path / "model"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with (
            pytest.raises(OutputError, match=r"model is being written by another process"),
            atomic_directory(target),
        ):
            pass
        assert not target.exists()
    finally:
        holder.kill()  # even a killed holder releases the lock: the OS drops its flock
        holder.wait()
    with atomic_directory(target) as tmp:
        (tmp / "f").write_text("x")
    assert (target / "f").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_lock_is_reentrant_and_removed_after_use(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with output_lock(target):
        assert (tmp_path / ".model.lock").read_text() == f"{os.getpid()}\n"
        with atomic_directory(target) as tmp:
            (tmp / "f").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_missing_and_incomplete(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelBundleError, match="no such model directory"):
        TopicClassifier.load(tmp_path / "nope")
    broken = _copy(saved, tmp_path)
    (broken / "labels.json").unlink()
    with pytest.raises(ModelBundleError, match="incomplete model directory, missing labels.json"):
        TopicClassifier.load(broken)


def test_newer_format_is_refused(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ModelBundleError,
        match=rf"model format {FORMAT_VERSION + 1} .* is newer than .* upgrade topicclf",
    ):
        TopicClassifier.load(broken)


def test_labels_not_matching_outputs(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    (broken / "labels.json").write_text('["a", "b", "c"]')
    (broken / "thresholds.json").write_text(
        (broken / "thresholds.json").read_text().replace("[", "[0.5, ", 1)
    )
    thresholds = json.loads((saved / "thresholds.json").read_text())
    thresholds["thresholds"] = thresholds["thresholds"][:3]
    (broken / "thresholds.json").write_text(json.dumps(thresholds))
    _rerecord(broken, "labels.json", "thresholds.json")
    # The weights are checked against the topic count before they are read, by either engine.
    for engine in ("numpy", "keras"):
        with pytest.raises(ModelBundleError, match=r"weights.safetensors: array 'topics_\w+'"):
            TopicClassifier.load(broken, engine=engine)


def test_keras_file_not_matching_labels(saved_embedding: Path, tmp_path: Path) -> None:
    broken = _copy(saved_embedding, tmp_path)
    (broken / "labels.json").write_text('["a", "b", "c"]')
    thresholds = json.loads((saved_embedding / "thresholds.json").read_text())
    thresholds["thresholds"] = thresholds["thresholds"][:3]
    (broken / "thresholds.json").write_text(json.dumps(thresholds))
    blend = broken / "linear.safetensors"
    if blend.exists():  # the blend's arrays would be refused first
        blend.unlink()
        manifest = json.loads((broken / "manifest.json").read_text())
        del manifest["files"]["linear.safetensors"]
        (broken / "manifest.json").write_text(json.dumps(manifest))
    _rerecord(broken, "labels.json", "thresholds.json")
    # Refused from config.json, before Keras builds the network.
    with pytest.raises(
        ModelBundleError,
        match=r"model.keras: the network's output is \(\?, 4\), and the model has 3 topics; "
        "the model directory is inconsistent",
    ):
        TopicClassifier.load(broken)


def test_wrong_threshold_count(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    thresholds = json.loads((saved / "thresholds.json").read_text())
    thresholds["thresholds"] = thresholds["thresholds"][:2]
    (broken / "thresholds.json").write_text(json.dumps(thresholds))
    _rerecord(broken, "thresholds.json")
    with pytest.raises(ModelBundleError, match="2 thresholds for 4 topics"):
        TopicClassifier.load(broken)


def test_linear_model_not_matching_the_topics(saved: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    broken = _copy(saved, tmp_path)
    arrays = load_file(broken / "linear.safetensors")
    arrays["coef"] = arrays["coef"][:-1]
    save_file(arrays, broken / "linear.safetensors")
    _rerecord(broken, "linear.safetensors")
    with pytest.raises(
        ModelBundleError,
        match=r"linear\.safetensors: array 'coef' has shape \(3, \d+\), expected \(4, \d+\)",
    ):
        TopicClassifier.load(broken)


def test_truncated_files(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    (broken / "features.json").write_text('{"kind": "tfidf", "vocab')
    with pytest.raises(
        ModelBundleError, match=r"features.json: 24 bytes, but the manifest records"
    ):
        TopicClassifier.load(broken)
    _rerecord(broken, "features.json")
    with pytest.raises(ModelBundleError, match="corrupt or truncated JSON"):
        TopicClassifier.load(broken)


def test_truncated_keras_file(saved_embedding: Path, tmp_path: Path) -> None:
    broken = _copy(saved_embedding, tmp_path)
    data = (broken / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelBundleError, match=r"model.keras: [\d,]+ bytes, but the manifest"):
        TopicClassifier.load(broken)
    _rerecord(broken, "model.keras")
    with pytest.raises(ModelBundleError, match=r"model.keras: not a readable \.keras file"):
        TopicClassifier.load(broken)


def test_a_keras_file_describing_more_weights_than_it_stores_is_refused_before_building(
    saved_embedding: Path, tmp_path: Path
) -> None:
    """Keras allocates every layer before reading weights. A forged hidden layer of 20,000,000
    units without a bias, whose recorded input widths say 0, counted no weights and made
    Keras allocate 16 x 20,000,000 (the width it derives). Widths are derived as Keras does."""

    def bigger(layer: dict[str, Any]) -> None:
        name = layer["config"]["name"]
        if name == "hidden_0":
            layer["config"].update(units=20_000_000, use_bias=False)
        if name == "topics":
            layer["build_config"]["input_shape"] = [None, 20_000_000]
        for node in layer["inbound_nodes"]:  # the widths the file records: ignored
            for tensor in node["args"]:
                if isinstance(tensor, dict) and name in ("hidden_0", "topics", "dropout_out"):
                    tensor["config"]["shape"] = [None, 0]

    broken = _forge_keras_layers(saved_embedding, tmp_path, bigger)
    with pytest.raises(
        ModelBundleError,
        match=r"model.keras: its configuration describes 400,00\d,\d{3} weights \(1,600,0[\d,]+ "
        r"bytes\) but the file stores [\d,]+ bytes of weights; refused before Keras allocates",
    ):
        TopicClassifier.load(broken, engine="keras")


def _set(name: str, **settings: Any) -> Callable[[dict[str, Any]], None]:
    """An edit giving the layer `name` these settings (`build_config` replaces its build)."""

    def edit(layer: dict[str, Any]) -> None:
        if layer["config"]["name"] == name:
            if "build_config" in settings:
                layer["build_config"] = settings["build_config"]
            layer["config"].update({k: v for k, v in settings.items() if k != "build_config"})

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        # Keras builds a layer from its recorded build before wiring it.
        (
            _set("hidden_0", build_config={"input_shape": [None, 10**9]}),
            r"layer 'hidden_0' records a build of \{'input_shape': \[None, 1000000000\]\}, "
            r"and is wired to inputs of \(\?, 16\); refused",
        ),
        (_set("hidden_0", build_config={"shapes_dict": {}}), "records a build of"),
        (
            _set("embedding", input_dim=10**9),
            r"an embedding of 1,000,000,000 words, and the model's features have \d+; refused",
        ),
        (
            _set("hidden_0", lora_rank=10**6),
            r"layer 'hidden_0' \(Dense\) has 'lora_rank' set, which no topicclf network has; "
            "refused",
        ),
        (
            _set("embedding", quantization_config={}),
            r"layer 'embedding' \(Embedding\) has 'quantization_config' set",
        ),
        (_set("dropout_0", noise_shape=[10**6, 10**6]), "'noise_shape' set"),
        (
            _set("hidden_0", dtype={"class_name": "DTypePolicy", "config": {"name": "int8"}}),
            r"layer 'hidden_0' \(Dense\) has dtype .*int8.*, not float32; refused",
        ),
        # A width of 0 lets a layer of any size count no weights, then allocate per text.
        (
            _set("embedding", output_dim=0),
            r"not a network topicclf wrote \(ValueError: a size of '0'",
        ),
        (_set("hidden_0", units=-1), "a size of '-1'"),
        (
            _set("tokens", batch_shape=[None, 10**6]),
            r"the network's input 'tokens' has shape \(\?, 1000000\), and the model's "
            r"features give \(\?, \d+\); refused",
        ),
        (
            _set("topics", units=5),
            r"the network's output is \(\?, 5\), and the model has 4 topics",
        ),
        # Within the byte slack, but not the weights stored.
        (
            lambda layer: (
                _set("hidden_0", units=33)(layer)
                or _set("topics", build_config={"input_shape": [None, 33]})(layer)
            ),
            r"its configuration gives weights of shapes .*\(16, 33\).* but the file stores "
            r".*\(16, 32\).*; refused before Keras allocates them",
        ),
    ],
)
def test_a_keras_file_whose_layers_would_allocate_what_the_model_does_not_justify_is_refused(
    saved_embedding: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], match: str
) -> None:
    """Every way config.json sets what Keras allocates is held against the model's sizes and
    the weights stored, before Keras builds a layer."""
    broken = _forge_keras_layers(saved_embedding, tmp_path, edit)
    with pytest.raises(ModelBundleError, match=match):
        TopicClassifier.load(broken, engine="keras")


def test_a_convolution_network_loads_and_a_forged_convolution_is_refused(
    tiny_docs: list[Document], tmp_path: Path
) -> None:
    """The Conv1D shapes derived here are those Keras builds; forged filters are refused."""
    import warnings

    from conftest import tiny_config

    config = tiny_config("embedding", epochs=1).with_overrides(
        ["network.conv_filters=8", "network.kernel_size=3"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=config).fit(
            [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
        )
    saved = clf.save(tmp_path / "conv")
    texts = [d.text for d in tiny_docs]
    np.testing.assert_allclose(
        TopicClassifier.load(saved).predict_proba(texts), clf.predict_proba(texts), atol=1e-6
    )
    forged = _forge_keras_layers(
        saved,
        tmp_path / "f",
        lambda layer: (
            _set("conv", filters=10**6)(layer)
            or _set("hidden_0", build_config={"input_shape": [None, 10**6]})(layer)
        ),
    )
    with pytest.raises(ModelBundleError, match=r"describes [\d,]+ weights .* refused before"):
        TopicClassifier.load(forged)
    grouped = _forge_keras_layers(saved, tmp_path / "g", _set("conv", groups=2))
    with pytest.raises(ModelBundleError, match="a grouped or channels-first convolution"):
        TopicClassifier.load(grouped)


def _forge_keras_layers(
    saved: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]
) -> Path:
    """A copy of `saved` whose model.keras has each layer of its config.json passed through
    `edit`, the new hash recorded (as a careful forger would)."""
    broken = _copy(saved, tmp_path)
    source = zipfile.ZipFile(saved / "model.keras")
    config = json.loads(source.read("config.json"))
    for layer in config["config"]["layers"]:
        edit(layer)
    with zipfile.ZipFile(broken / "model.keras", "w") as forged:
        for info in source.infolist():
            data = source.read(info)
            forged.writestr(info, json.dumps(config) if info.filename == "config.json" else data)
    _rerecord(broken, "model.keras")
    return broken


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("bad name", "'bad name'"),
        ("\x1b[2Jx", r"'\\x1b\[2Jx'"),  # shown escaped: the name must not clear the terminal
        ("a/b", "'a/b'"),
        ("x" * 101, "'x{60}'"),
        (None, "'None'"),
        (7, "'7'"),
    ],
)
def test_a_keras_file_with_a_name_keras_cannot_use_is_refused_at_load(
    saved_embedding: Path, tmp_path: Path, name: object, shown: str
) -> None:
    """Keras loaded a layer named 'bad name', then failed on the first text scored (an
    internal error in `tag`, a 500 in `serve`)."""

    def rename(layer: dict[str, Any]) -> None:
        if layer["config"].get("name") == "hidden_0":
            layer["config"]["name"] = name

    broken = _forge_keras_layers(saved_embedding, tmp_path, rename)
    with pytest.raises(
        ModelBundleError,
        match=rf"model.keras: a layer name {shown} is not one Keras can use \(letters, "
        r"digits, '_', '\.', '-', at most 100 characters\); refused$",
    ):
        TopicClassifier.load(broken)


def test_truncated_weights(saved: Path, tmp_path: Path) -> None:
    broken2 = _copy(saved, tmp_path / "b")
    (broken2 / "weights.safetensors").write_bytes(b"\x40\x00\x00\x00 truncated")
    _rerecord(broken2, "weights.safetensors")
    for engine in ("numpy", "keras"):  # Keras rebuilds a dense network from these weights
        with pytest.raises(
            ModelBundleError,
            match=r"weights.safetensors: safetensors header of [\d,]+ bytes is implausible",
        ):
            TopicClassifier.load(broken2, engine=engine)


def test_lambda_layer_is_refused_without_running_it(saved_embedding: Path, tmp_path: Path) -> None:
    from topicclf.model.networks import keras_module

    keras = keras_module()
    broken = _copy(saved_embedding, tmp_path)
    marker = tmp_path / "ran.txt"
    inputs = keras.Input(shape=(4,))
    # The lambda's code writes a marker file when run; loading must not run it.
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"
    evil = keras.layers.Lambda(eval(code))(inputs)
    keras.Model(inputs, evil).save(broken / "model.keras")
    _rerecord(broken, "model.keras")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelBundleError, match="a 'Lambda' layer, which no topicclf network has"):
        TopicClassifier.load(broken, engine="keras")
    assert not marker.exists()


@pytest.mark.parametrize("engine", ["numpy", "keras"])
def test_a_loaded_model_saves_again_and_tags_identically(
    saved: Path, tmp_path: Path, tiny_docs: list[Document], engine: str
) -> None:
    loaded = TopicClassifier.load(saved, engine=engine)
    again = loaded.save(tmp_path / "again")
    texts = [d.text for d in tiny_docs]
    reloaded = TopicClassifier.load(again, engine=engine)
    np.testing.assert_array_equal(reloaded.predict_proba(texts), loaded.predict_proba(texts))
    assert reloaded.predict(texts) == loaded.predict(texts)
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["validation"] == json.loads((saved / "manifest.json").read_text())["validation"]
    assert manifest["corpus"] == {"path": "tests/data/tiny.jsonl"}


def test_multiclass_flags_that_disagree_are_refused(saved: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    thresholds = json.loads((broken / "thresholds.json").read_text())
    thresholds["multiclass"] = True
    (broken / "thresholds.json").write_text(json.dumps(thresholds))
    _rerecord(broken, "thresholds.json")
    with pytest.raises(
        ModelBundleError, match=r"manifest.json says multilabel but thresholds.json says"
    ):
        TopicClassifier.load(broken)


def test_the_keras_file_has_no_optimizer_state(saved_embedding: Path) -> None:
    import zipfile

    with zipfile.ZipFile(saved_embedding / "model.keras") as archive:
        weights = archive.read("model.weights.h5")
    assert b"optimizer" not in weights


def test_a_dense_network_is_stored_once(saved: Path, tiny_docs: list[Document]) -> None:
    assert not (saved / "model.keras").exists()
    texts = [d.text for d in tiny_docs]
    keras = TopicClassifier.load(saved, engine="keras")  # rebuilt from the configuration
    assert not keras.is_tensorflow_free()
    numpy = TopicClassifier.load(saved, engine="numpy")
    np.testing.assert_allclose(keras.predict_proba(texts), numpy.predict_proba(texts), atol=1e-6)
    assert keras.predict(texts) == numpy.predict(texts)


def test_a_format_2_model_with_its_keras_file_still_loads(
    saved: Path, tmp_path: Path, tiny_docs: list[Document]
) -> None:
    """Models saved before format 3 kept a dense network twice: model.keras and weights."""
    old = _copy(saved, tmp_path)
    keras_model = TopicClassifier.load(saved, engine="keras").model_
    keras_model.save(old / "model.keras")
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 2
    (old / "manifest.json").write_text(json.dumps(manifest))
    _rerecord(old, "model.keras")
    texts = [d.text for d in tiny_docs]
    expected = TopicClassifier.load(saved).predict_proba(texts)
    for engine in ("auto", "numpy", "keras"):
        loaded = TopicClassifier.load(old, engine=engine)
        np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    again = TopicClassifier.load(old).save(tmp_path / "again")  # written as format 3
    assert not (again / "model.keras").exists()
    assert json.loads((again / "manifest.json").read_text())["format_version"] == 3


# -- untrusted model directories (issue 13) ------------------------------------------------
def _edit_json(model: Path, name: str, path: str, value: object) -> None:
    """Set a (dotted) field of a JSON file of the model, e.g. 'config.network'."""
    data = json.loads((model / name).read_text())
    *parents, last = path.split(".")
    holder = data
    for part in parents:
        holder = holder[part]
    holder[last] = value
    (model / name).write_text(json.dumps(data))


def _both_refuse(model: Path, match: str) -> None:
    """`info` (describe) and `load` both stop with the same clear error."""
    from topicclf.bundle.info import describe

    with pytest.raises(ModelBundleError, match=match):
        describe(model)
    with pytest.raises(ModelBundleError, match=match):
        TopicClassifier.load(model)


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("format_version", True, "a positive integer"),
        ("format_version", -1, "a positive integer"),
        ("format_version", 0, "a positive integer"),
        ("format_version", "2", "a positive integer"),
        ("format_version", 2.0, "a positive integer"),
        ("created_at", 20240101, "an ISO 8601 timestamp"),
        ("versions", ["numpy"], "an object of strings"),
        ("versions", {"numpy": 2}, "an object of strings"),
        ("mode", ["multilabel"], "a string"),
        ("network", None, "a string"),
        ("n_topics", "4", "a non-negative integer"),
        ("n_features", -3, "a non-negative integer"),
        ("n_features", False, "a non-negative integer"),
        ("config", [], "an object"),
        ("config.network", "dense", "an object"),
        ("config.train", 7, "an object"),
        ("config.features", None, "an object"),
        ("corpus", "tiny.jsonl", "an object"),
        ("training", [], "an object"),
        ("training.blend", 0.5, "an object"),
        # Read by `info` alone: a 20 MB string here was a 20 MB line of `info --json`.
        ("training.char_ngrams", "3-5", "null or a list of non-negative integers"),
        ("training.char_ngrams", [3, "5"], "null or a list of non-negative integers"),
        ("training.blend.linear_weight", "0.5", "a number"),
        ("training.blend.svm_c", [1.0], "a number"),
        # Shown by `info` as the floor applied (attacker pass 25: all of these were shown).
        ("training.min_df_applied", True, "null or a positive integer"),
        ("training.min_df_applied", -3, "null or a positive integer"),
        ("training.min_df_applied", 0, "null or a positive integer"),
        ("training.min_df_applied", 1.5, "null or a positive integer"),
        ("training.min_df_applied", float("inf"), "null or a positive integer"),
        ("training.min_df_applied", "ten", "null or a positive integer"),
        ("training.min_df_applied", [1, 2], "null or a positive integer"),
        ("validation", None, "an object"),
        ("files", [], "an object"),
    ],
)
def test_manifest_fields_of_the_wrong_type_are_named(
    saved: Path, tmp_path: Path, field: str, value: object, kind: str
) -> None:
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", field, value)
    _both_refuse(broken, re.escape(f"manifest.json: field '{field}' must be {kind}, not {value!r}"))


def test_a_document_floor_above_the_setting_is_refused_and_none_or_absent_is_fine(
    saved: Path, tmp_path: Path
) -> None:
    # Attacker pass 25: 7 with features.min_df 2 was shown as "in at least 7 documents
    # (features.min_df 2, lowered)"; training only ever lowers the floor.
    from topicclf.bundle.info import describe

    min_df = json.loads((saved / "manifest.json").read_text())["config"]["features"]["min_df"]
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", "training.min_df_applied", min_df + 5)
    _both_refuse(
        broken,
        re.escape(
            f"manifest.json: field 'training.min_df_applied' says {min_df + 5}, above "
            f"features.min_df {min_df} in the configuration"
        ),
    )
    _edit_json(broken, "manifest.json", "training.min_df_applied", min_df)  # the highest
    assert f"in at least {min_df} documents, " in describe(broken)["features"]
    _edit_json(broken, "manifest.json", "training.min_df_applied", None)  # token sequences
    assert TopicClassifier.load(broken).predict(["wheat"]) is not None
    manifest = json.loads((broken / "manifest.json").read_text())
    del manifest["training"]["min_df_applied"]  # a model saved before attacker pass 24
    (broken / "manifest.json").write_text(json.dumps(manifest))
    assert f"in at least {min_df} documents" in describe(broken)["features"]
    assert TopicClassifier.load(broken).predict(["wheat"]) is not None


def test_file_records_of_the_wrong_shape_are_named(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    manifest = json.loads((broken / "manifest.json").read_text())
    record = manifest["files"]["labels.json"]
    for files, match in [
        ({**manifest["files"], "labels.json": {**record, "size": "46"}}, "field 'size' must be a"),
        ({**manifest["files"], "labels.json": {"size": 46}}, "field 'sha256' is missing"),
        ({**manifest["files"], "labels.json": {**record, "sha256": "00"}}, "a SHA-256 hex digest"),
        ({**manifest["files"], "../labels.json": record}, "'../labels.json', not a plain file"),
    ]:
        (broken / "manifest.json").write_text(json.dumps({**manifest, "files": files}))
        _both_refuse(broken, re.escape("manifest.json: ") + ".*" + re.escape(match))
    del manifest["files"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    _both_refuse(broken, "manifest.json: field 'files' is missing; it must be an object")


@pytest.mark.parametrize(
    ("name", "field", "value", "match"),
    [
        ("thresholds.json", "fallback", "no", "field 'fallback' must be a boolean, not 'no'"),
        ("thresholds.json", "global_threshold", "0.5", "field 'global_threshold' must be a num"),
        ("thresholds.json", "thresholds", [0.5, "x"], "field 'thresholds' must be a list of num"),
        ("features.json", "vocabulary", [1, 2], "field 'vocabulary' must be a list of strings"),
        ("features.json", "kind", ["tfidf"], r"unknown featurizer kind \['tfidf'\]"),
        ("features.json", "char_vocabulary", "abc", "field 'char_vocabulary' must be a list of"),
        ("features.json", "char_ngrams", [3, -5], "field 'char_ngrams' must be a list of non-neg"),
        # Of the right type, but values no working model has (a forgery re-recorded in the
        # manifest): each would tag with wrong topics or none.
        ("thresholds.json", "global_threshold", 7, "thresholds must be numbers between 0 and 1"),
        ("thresholds.json", "global_threshold", -5, "thresholds must be numbers between 0 and 1"),
        ("thresholds.json", "global_threshold", 10**400, "thresholds must be numbers between 0"),
        ("thresholds.json", "strategy", "bogus", "unknown strategy 'bogus'"),
        ("thresholds.json", "top_k", 10**20, "top_k .* is not a plausible count"),
    ],
)
def test_other_json_fields_of_the_wrong_type_are_named(
    saved: Path, tmp_path: Path, name: str, field: str, value: object, match: str
) -> None:
    broken = _copy(saved, tmp_path)
    _edit_json(broken, name, field, value)
    _rerecord(broken, name)
    with pytest.raises(ModelBundleError, match=f"{re.escape(name)}: {match}"):
        TopicClassifier.load(broken)
    (broken / "labels.json").write_text('["a", 2]')
    _rerecord(broken, "labels.json")
    _both_refuse(broken, "labels.json: expected a list of topic names")


def test_a_sequence_length_no_setting_can_give_is_refused_and_info_shows_the_one_read(
    saved_embedding: Path, tmp_path: Path
) -> None:
    # features.json's length was only "a positive integer": 1,000,000 (with model.keras's
    # input shapes to match) loaded, and every batch of tagging asked for gigabytes.
    from topicclf.bundle.info import describe
    from topicclf.config import MAX_SEQUENCE_LENGTH

    length = json.loads((saved_embedding / "features.json").read_text())["sequence_length"]
    assert f"sequence length {length}, from the data)" in describe(saved_embedding)["features"]
    kind = f"a sequence length (1 to {MAX_SEQUENCE_LENGTH:,})"
    for value in (MAX_SEQUENCE_LENGTH + 1, 0, 10**6):
        broken = _copy(saved_embedding, tmp_path / str(value))
        _edit_json(broken, "features.json", "sequence_length", value)
        _rerecord(broken, "features.json")
        match = re.escape(f"features.json: field 'sequence_length' must be {kind}, not {value}")
        _both_refuse(broken, match)


@pytest.mark.parametrize(
    ("chars", "ngrams", "match"),
    [
        (["abc"], [3, 5], r"features.safetensors.*idf"),  # one more column than idf has
        (["abc"], [5, 3], r"features.safetensors.*idf"),
        ([], [0, 99], None),  # no character n-grams: the range is not used
    ],
)
def test_character_ngram_fields_that_disagree_with_the_arrays_are_refused(
    saved: Path, tmp_path: Path, chars: list[str], ngrams: list[int], match: str | None
) -> None:
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "features.json", "char_vocabulary", chars)
    _edit_json(broken, "features.json", "char_ngrams", ngrams)
    _rerecord(broken, "features.json")
    if match is None:
        assert TopicClassifier.load(broken).predict(["wheat"]) is not None
    else:
        with pytest.raises(ModelBundleError, match=match):
            TopicClassifier.load(broken)


def test_a_newer_format_is_refused_before_its_fields_are_judged(
    saved: Path, tmp_path: Path
) -> None:
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", "format_version", FORMAT_VERSION + 1)
    _edit_json(broken, "manifest.json", "config", "a newer layout")
    _both_refuse(broken, "is newer than .* upgrade topicclf")


def test_an_edited_byte_is_caught_by_the_hash(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    labels = (broken / "labels.json").read_bytes()
    (broken / "labels.json").write_bytes(labels.replace(b"food", b"fool"))
    _both_refuse(broken, "labels.json: its SHA-256 is not the one the manifest records")
    broken = _copy(saved, tmp_path / "b")
    weights = bytearray((broken / "weights.safetensors").read_bytes())
    weights[-1] ^= 0x40  # one bit of one weight: still a valid file, but not the saved one
    (broken / "weights.safetensors").write_bytes(bytes(weights))
    with pytest.raises(ModelBundleError, match="weights.safetensors: its SHA-256 is not"):
        TopicClassifier.load(broken)


def test_verify_checks_every_recorded_file(saved_embedding: Path, tmp_path: Path) -> None:
    from topicclf.bundle.layout import verify_files

    report = verify_files(saved_embedding)
    assert report["hashes recorded"] and report["mismatched"] == []
    assert set(report["files"].values()) == {"OK"} and "model.keras" in report["files"]
    broken = _copy(saved_embedding, tmp_path)
    keras_file = bytearray((broken / "model.keras").read_bytes())
    keras_file[len(keras_file) // 2] ^= 0xFF
    (broken / "model.keras").write_bytes(bytes(keras_file))
    (broken / "notes.txt").write_text("mine")
    report = verify_files(broken)
    assert report["mismatched"] == ["model.keras"]
    assert report["files"]["model.keras"] == "content differs: SHA-256 is not the recorded one"
    assert report["files"]["notes.txt"] == "not recorded in the manifest (never read)"
    (broken / "model.keras").write_bytes(bytes(keras_file[:-100]))
    report = verify_files(broken)
    assert report["files"]["model.keras"].startswith("size differs: ")
    (broken / "labels.json").unlink()
    report = verify_files(broken)
    assert report["mismatched"] == ["labels.json", "model.keras"]
    assert report["files"]["labels.json"].endswith(
        "incomplete model directory, labels.json is missing"
    )


def test_verify_fails_a_manifest_that_records_none_of_the_model_files(
    saved_embedding: Path, tmp_path: Path
) -> None:
    from topicclf.bundle.layout import verify_files

    emptied = _copy(saved_embedding, tmp_path)
    manifest = json.loads((emptied / "manifest.json").read_text())
    manifest["files"] = {}
    (emptied / "manifest.json").write_text(json.dumps(manifest))
    (emptied / "thresholds.json").unlink()
    report = verify_files(emptied)
    # Loading refuses every unrecorded model file, so verify must not pass them.
    assert "labels.json" in report["mismatched"] and "model.keras" in report["mismatched"]
    assert report["files"]["labels.json"] == "not recorded in the manifest (loading refuses it)"
    assert report["files"]["thresholds.json"] == "missing (a model needs it)"


def _as_format_1(saved: Path, dest: Path) -> Path:
    """The model as topicclf 0.1 wrote it: arrays in .npz files, no file records."""
    import shutil

    from safetensors.numpy import load_file

    shutil.copytree(saved, dest)
    for path in dest.glob("*.safetensors"):
        np.savez(path.with_suffix(".npz"), **load_file(path))
        path.unlink()
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["format_version"] = 1
    del manifest["files"]
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_format_1_models_still_load_and_say_they_have_no_hashes(
    saved: Path, tmp_path: Path, tiny_docs: list[Document]
) -> None:
    from topicclf.bundle.info import describe
    from topicclf.bundle.layout import verify_files

    old = _as_format_1(saved, tmp_path / "old")
    texts = [d.text for d in tiny_docs]
    reference = TopicClassifier.load(saved).predict_proba(texts)
    np.testing.assert_array_equal(TopicClassifier.load(old).predict_proba(texts), reference)
    assert describe(old)["format version"] == 1
    report = verify_files(old)
    assert report == {
        "path": str(old),
        "format version": 1,
        "hashes recorded": False,
        "files": {},
        "mismatched": [],
    }
    again = TopicClassifier.load(old).save(tmp_path / "again")
    assert json.loads((again / "manifest.json").read_text())["format_version"] == FORMAT_VERSION
    assert verify_files(again)["mismatched"] == []
    # The hardened .npz reader still checks what format 1 holds.
    np.savez(old / "features.npz", idf=np.array(["a"] * 439))
    with pytest.raises(ModelBundleError, match=r"features.npz: array 'idf' has dtype <U1"):
        TopicClassifier.load(old)


def test_symbolic_links_leading_out_are_refused(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    (broken / "manifest.json").rename(tmp_path / "manifest.json")
    os.symlink("/dev/zero", broken / "manifest.json")
    _both_refuse(broken, "manifest.json: a symbolic link to /dev/zero, outside the model")
    (broken / "manifest.json").unlink()
    (tmp_path / "manifest.json").rename(broken / "manifest.json")
    outside = tmp_path / "labels.json"
    outside.write_bytes((broken / "labels.json").read_bytes())
    (broken / "labels.json").unlink()
    os.symlink(outside, broken / "labels.json")
    _both_refuse(broken, "labels.json: a symbolic link to .*, outside the model directory")
    (broken / "labels.json").unlink()
    (broken / "labels-real.json").write_bytes(outside.read_bytes())
    os.symlink("labels-real.json", broken / "labels.json")  # inside: followed
    TopicClassifier.load(broken)


@pytest.mark.parametrize("name", ["manifest.json", "features.safetensors"])
def test_a_fifo_is_refused_without_opening_it(saved: Path, tmp_path: Path, name: str) -> None:
    from conftest import deadline

    broken = _copy(saved, tmp_path)
    (broken / name).unlink()
    os.mkfifo(broken / name)
    with deadline(10):  # opening a FIFO would block until a writer came: fail, don't hang
        _both_refuse(broken, f"{re.escape(name)}: a named pipe, not a regular file")


def test_oversized_files_are_refused_before_reading(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from topicclf import config

    size = (saved / "manifest.json").stat().st_size
    monkeypatch.setattr(config, "MODEL_JSON_MAX_BYTES", size - 1)
    _both_refuse(saved, rf"manifest.json: {size:,} bytes, more than the {size - 1:,} topicclf")
    # Just above the manifest's size: the vocabulary file is the one over the cap.
    assert (saved / "features.json").stat().st_size > size
    monkeypatch.setattr(config, "MODEL_JSON_MAX_BYTES", size)
    with pytest.raises(ModelBundleError, match=r"features.json: [\d,]+ bytes, more than the"):
        TopicClassifier.load(saved)
    monkeypatch.setattr(config, "MODEL_JSON_MAX_BYTES", 10**8)
    monkeypatch.setattr(config, "MODEL_ARRAYS_MAX_BYTES", 1000)
    with pytest.raises(ModelBundleError, match=r"safetensors: [\d,]+ bytes, more than the 1,000"):
        TopicClassifier.load(saved)


@pytest.mark.parametrize(
    ("dtype", "match"),
    [
        (np.float16, r"array 'idf' has no dtype or one no topicclf array has \(.*F16"),
        (np.int64, "array 'idf' has dtype int64, expected float32 or float64"),
        (np.uint8, r"array 'idf' has no dtype or one no topicclf array has \(.*U8"),
    ],
)
def test_arrays_of_the_wrong_dtype_are_refused(
    saved: Path, tmp_path: Path, dtype: type, match: str
) -> None:
    from safetensors.numpy import load_file, save_file

    broken = _copy(saved, tmp_path)
    idf = load_file(broken / "features.safetensors")["idf"]
    save_file({"idf": idf.astype(dtype)}, broken / "features.safetensors")
    _rerecord(broken, "features.safetensors")
    with pytest.raises(ModelBundleError, match=f"features.safetensors: {match}"):
        TopicClassifier.load(broken)


def test_a_model_saved_before_stacking_loads_as_unstacked(
    tmp_path: Path, tiny_docs: list[Document]
) -> None:
    # Earlier versions wrote no blend.stack: their dense networks have no wide path.
    import warnings

    from conftest import tiny_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=tiny_config(epochs=2).with_overrides(["blend.stack=false"]))
        clf.fit([d.text for d in tiny_docs], [d.labels for d in tiny_docs])
    model = clf.save(tmp_path / "old")
    manifest = json.loads((model / "manifest.json").read_text())
    del manifest["config"]["blend"]["stack"]
    (model / "manifest.json").write_text(json.dumps(manifest))
    loaded = TopicClassifier.load(model)
    assert not stacked(loaded.config_)
    texts = [d.text for d in tiny_docs]
    np.testing.assert_allclose(loaded.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)


def test_nan_thresholds_duplicate_topics_and_nan_weights_are_refused(
    saved: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    from topicclf.bundle.info import describe

    broken = _copy(saved, tmp_path / "a")
    thresholds = json.loads((broken / "thresholds.json").read_text())
    thresholds["thresholds"][0] = float("nan")
    (broken / "thresholds.json").write_text(json.dumps(thresholds))  # writes NaN
    _rerecord(broken, "thresholds.json")
    with pytest.raises(ModelBundleError, match="thresholds must be numbers between 0 and 1"):
        TopicClassifier.load(broken)

    broken = _copy(saved, tmp_path / "b")
    labels = json.loads((broken / "labels.json").read_text())
    (broken / "labels.json").write_text(json.dumps([labels[0], *labels[:-1]]))
    _rerecord(broken, "labels.json")
    with pytest.raises(ModelBundleError, match=rf"the topic '{labels[0]}' is listed more than"):
        TopicClassifier.load(broken)
    (broken / "labels.json").write_text(json.dumps(["", *labels[1:]]))
    _rerecord(broken, "labels.json")
    with pytest.raises(ModelBundleError, match=r"labels\.json: a topic name is empty"):
        TopicClassifier.load(broken)
    # Before: names of a megabyte loaded and were served, 2 GB for 1,000 pairs.
    (broken / "labels.json").write_text(json.dumps(["z" * 1001, *labels[1:]]))
    _rerecord(broken, "labels.json")
    too_long = r"labels\.json: a topic name of 1,001 characters \('z+'\.\.\.\), more than the 1,000"
    with pytest.raises(ModelBundleError, match=too_long):
        TopicClassifier.load(broken)
    with pytest.raises(ModelBundleError, match=too_long):
        describe(broken)  # `info` refuses what `load` refuses

    broken = _copy(saved, tmp_path / "c")
    arrays = load_file(broken / "weights.safetensors")
    key = sorted(arrays)[0]
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan
    save_file(arrays, broken / "weights.safetensors")
    _rerecord(broken, "weights.safetensors")
    with pytest.raises(ModelBundleError, match=rf"array '{key}' holds NaN or infinite values"):
        TopicClassifier.load(broken)


def test_models_saved_before_languages_load_and_tag_as_before(
    saved: Path, tmp_path: Path, tiny_docs: list[Document]
) -> None:
    """A model written before languages were detected: its features state has no
    `languages` (its stop-word list applies to every text), its settings name English and
    no `auto`, its training record has no analyzer."""
    from topicclf.bundle.info import describe

    old = _as_format_1(saved, tmp_path / "old")
    state = json.loads((old / "features.json").read_text())
    assert [r["code"] for r in state.pop("languages")] == ["en"]
    (old / "features.json").write_text(json.dumps(state))
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["config"]["text"].update(stop_words="english", stemmer="none", language="english")
    for key in ("analyzer", "stemming_choice"):
        manifest["training"].pop(key, None)
    (old / "manifest.json").write_text(json.dumps(manifest))
    texts = [d.text for d in tiny_docs] + ["Die Wirtschaft und the markets of the world"]
    reference = TopicClassifier.load(saved)
    loaded = TopicClassifier.load(old)
    np.testing.assert_array_equal(loaded.predict_proba(texts), reference.predict_proba(texts))
    assert not loaded.featurizer_.analyzer.detects
    assert describe(old)["analyzer"] == (
        "regexp tokens, lowercased; every text: English stop words, stemmer none"
    )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("config.text.token_pattern", "(?:a+)+b", "could take exponential time"),
        ("config.text.token_pattern", "x" * 5000, "longer than 1000 characters"),
        ("config.text.token_pattern", r"\w*", "matches the empty string, so it would make empty"),
        ("config.features.ngram_max", 10**18, "ngram_max = 1000000000000000000 must be between"),
        ("config.network.hidden_units", [10**30], "must be between"),
    ],
)
def test_settings_in_a_model_are_checked_as_any_setting_before_tagging(
    saved: Path, tmp_path: Path, field: str, value: object, match: str
) -> None:
    """A forged setting that would make tagging hang or allocate without end is refused on
    load, by the same check as a setting given to train (so save never writes one)."""
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", field, value)
    with pytest.raises(ModelBundleError, match="invalid configuration in the manifest: .*" + match):
        TopicClassifier.load(broken)


def test_keras_rebuilds_a_dense_network_only_after_its_weights_match(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest forged to 60,000 hidden units: the weights' recorded shapes are checked
    first, so no 60,000-unit network is allocated (built)."""
    from topicclf.model import networks

    def never(*_: object) -> None:
        raise AssertionError("a network was built before its weights were checked")

    monkeypatch.setattr(networks, "build_network", never)
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", "config.network.hidden_units", [60_000])
    with pytest.raises(
        ModelBundleError,
        match=r"the settings in manifest\.json \(network\.hidden_units \[60000\]; .*\) and the "
        r"arrays in weights\.safetensors disagree: its hidden layers have \[32\] units",
    ):
        TopicClassifier.load(broken, engine="keras")


def test_a_model_whose_thresholds_load_would_refuse_is_never_saved(
    saved: Path, tmp_path: Path
) -> None:
    """Training that diverged (NaN scores) once saved a model every later load refused, with
    --force replacing a working one: save runs the load's own check first."""
    clf = TopicClassifier.load(saved)
    clf.policy_.thresholds[0] = float("nan")
    target = tmp_path / "never"
    with pytest.raises(ModelBundleError, match=r"never/thresholds.json: thresholds must be"):
        clf.save(target)
    assert not target.exists()


def test_a_forged_character_ngram_range_is_refused_before_tagging(
    tiny_docs: list, tmp_path: Path
) -> None:
    """[1, 1000000] made tagging one long word quadratic (a 20,000-character word hung
    `tag`): a range no training forms is refused on load."""
    from conftest import tiny_config

    config = tiny_config().with_overrides(["features.char_ngrams=on"])
    clf = TopicClassifier(config=config).fit(
        [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    )
    model = clf.save(tmp_path / "chars")
    _edit_json(model, "features.json", "char_ngrams", [1, 1000000])
    _rerecord(model, "features.json")
    with pytest.raises(ModelBundleError, match=r"1 <= low <= high <= 10: 1, 1000000"):
        TopicClassifier.load(model)


def test_info_and_load_refuse_the_same_forged_settings(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", "config.features.ngram_max", 10**9)
    _both_refuse(broken, r"invalid configuration in the manifest: .*ngram_max = 1000000000 must")
    broken = _copy(saved, tmp_path / "net")
    _edit_json(broken, "manifest.json", "network", "\x1b[2J")
    from topicclf.bundle.info import describe

    with pytest.raises(ModelBundleError, match=r"net/copy/manifest.json: unknown network type"):
        describe(broken)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("stemmer", "lancaster", r"languages: unknown language or stemmer in \{'code': 'en'"),
        ("code", "xx\x1b[2J", r"languages: unknown language or stemmer in \{'code': 'xx\\x1b"),
        ("stop_words", ["a", 1], r"languages: stop_words of en must be a list of strings"),
    ],
)
def test_info_and_load_refuse_the_same_forged_analyzer_rules(
    saved: Path, tmp_path: Path, field: str, value: object, message: str
) -> None:
    """`info` described a model whose languages `tag` refused (one check, in both)."""
    broken = _copy(saved, tmp_path)
    state = json.loads((broken / "features.json").read_text())
    state["languages"][0][field] = value
    (broken / "features.json").write_text(json.dumps(state))
    _rerecord(broken, "features.json")
    _both_refuse(broken, rf"copy: inconsistent features\.json / features\.safetensors \({message}")


def test_info_cuts_each_topic_name_it_shows(saved: Path, tmp_path: Path) -> None:
    """`info --json` gave a 10 MB topic name whole; the table view cut it."""
    from topicclf.bundle.info import describe

    model = _copy(saved, tmp_path)
    topics = json.loads((model / "labels.json").read_text())
    topics[-1] = "z" * 1000  # the longest legal name (config.MAX_TOPIC_CHARS)
    (model / "labels.json").write_text(json.dumps(topics))
    _rerecord(model, "labels.json")
    shown = describe(model)["topics"]
    assert shown.endswith(f", {'z' * 100}... (1,000 characters)") and len(shown) < 300


def test_the_python_api_never_saves_a_model_inside_a_model(saved: Path) -> None:
    """The CLI refused `train -o MODEL/sub`; `save` did not."""
    with pytest.raises(OutputError, match=r"sub is inside the model directory .*; a model hold"):
        TopicClassifier.load(saved).save(saved / "sub")
    assert not (saved / "sub").exists()


def test_verify_lists_files_the_model_never_reads_up_to_the_info_budget(
    saved: Path, tmp_path: Path
) -> None:
    import shutil

    from topicclf.bundle.layout import verify_files
    from topicclf.config import INFO_SHOWN_ITEMS

    # Before: every one listed; 30,000 empty files made 7.6 s and 2.2 MB of table.
    model = tmp_path / "many"
    shutil.copytree(saved, model)
    for i in range(INFO_SHOWN_ITEMS + 3):
        (model / f"extra{i:05}").touch()
    (model / "vocabulary.json").write_text("{}")  # sorted after them: still listed
    report = verify_files(model)
    unread = [n for n, s in report["files"].items() if s.endswith("(never read)")]
    assert len(unread) == INFO_SHOWN_ITEMS and unread[0] == "extra00000"
    assert report["more unrecorded files"] == 3
    assert report["mismatched"] == ["vocabulary.json"]
    assert report["files"]["weights.safetensors"] == "OK"
    (model / "vocabulary.json").unlink()
    (model / "extra00000").unlink()
    (model / "extra00001").unlink()
    (model / "extra00002").unlink()
    assert "more unrecorded files" not in verify_files(model)  # all of them listed again


@pytest.mark.parametrize(
    ("subjects", "message"),
    [
        (
            {"x": {"uri": "http://x/x", "label": "X"}},
            r"copy/vocabulary\.json: names topics the model does not have: x$",
        ),
        ([], r"copy/vocabulary\.json: malformed \(expected \{\"subjects\": "),
        (
            {"TOPIC": {"uri": "http://x/a", "label": "L" * 3000}},
            r"copy/vocabulary\.json: topic '.+': a uri, label or notation of 3,000 characters",
        ),
    ],
)
def test_info_and_load_refuse_the_same_forged_vocabulary(
    saved: Path, tmp_path: Path, subjects: object, message: str
) -> None:
    """`info` (and `info --json`) described a model whose vocabulary.json `tag`, `serve` and
    `load` refused, with exit 0."""
    broken = _copy(saved, tmp_path)
    topic = json.loads((broken / "labels.json").read_text())[0]
    if isinstance(subjects, dict) and "TOPIC" in subjects:
        subjects = {topic: subjects["TOPIC"]}
    (broken / "vocabulary.json").write_text(json.dumps({"subjects": subjects}))
    _rerecord(broken, "vocabulary.json")
    _both_refuse(broken, message)


def test_save_and_load_keep_indicator_columns_by_one_rule(saved: Path, tmp_path: Path) -> None:
    """save read the model back with load_model, but the columns were checked only by
    TopicClassifier.load: a model with 10,001 unlearned columns was saved, then refused by
    load, tag and evaluate. At the bound, what save writes loads; past it, nothing is saved."""
    from topicclf.errors import InputError

    clf = TopicClassifier.load(saved)
    clf.target_kind_ = "indicator"
    clf.target_columns_ = [*clf.classes_, *(f"extra{i}" for i in range(10_000))]
    assert TopicClassifier.load(clf.save(tmp_path / "bound")).target_columns_ == (
        clf.target_columns_
    )
    clf.target_columns_.append("one more")
    with pytest.raises(
        InputError,
        match=r"^cannot save this model: indicator columns: 10,005 columns for 4 topics; a "
        r"model keeps at most 10,000 columns that are none of its topics$",
    ):
        clf.save(tmp_path / "past")
    assert not (tmp_path / "past").exists()


def test_info_and_load_refuse_the_same_forged_indicator_columns(
    saved: Path, tmp_path: Path
) -> None:
    """`info` showed a model whose recorded columns `tag` refused."""
    broken = _copy(saved, tmp_path)
    _edit_json(
        broken, "manifest.json", "training.target", {"kind": "indicator", "columns": ["a", "a"]}
    )
    _both_refuse(broken, r"field 'training.target.columns': a column name is empty or repeated")


_SINGLE = {"kind": "single", "columns": None}


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        (
            {"training.target_dtype": "int64"},
            r"field 'training\.target_dtype': 'int64' is recorded, but the model's target kind "
            r"\('training\.target\.kind'\) is 'sets': only a model fitted on one topic per text",
        ),
        (
            {"training.target": _SINGLE, "training.target_dtype": "V99999999999999999999"},
            r"field 'training\.target_dtype': 'V99999999999999999999' is not one of int8, int16, "
            r"int32, int64, float32, float64$",
        ),
        (
            {"training.target": {"kind": "bogus", "columns": None}},
            r"field 'training\.target\.kind': 'bogus' is not one of sets, indicator, single$",
        ),
        (
            {"training.target": {"kind": "indicator", "columns": 5}},
            r"field 'training\.target\.columns': expected the column names of the indicator y "
            r"\(a list of strings\), not 5$",
        ),
    ],
)
def test_info_and_load_refuse_the_same_forged_target_fields(
    saved: Path, tmp_path: Path, edits: dict[str, object], message: str
) -> None:
    """`info` described models whose forged target dtype or kind `tag` and `load` refused,
    and `load`'s message contradicted itself ("'int64' is not one of ..., int64, ...") and
    named no file."""
    broken = _copy(saved, tmp_path)
    for field, value in edits.items():
        _edit_json(broken, "manifest.json", field, value)
    _both_refuse(broken, rf"^{re.escape(str(broken))}/manifest\.json: {message}")


def test_a_target_kind_that_contradicts_the_indicator_columns_is_refused(
    saved: Path, tmp_path: Path
) -> None:
    """An indicator model's kind forged to 'single' loaded, and `predict` answered one topic
    per text in place of the indicator matrix, silently."""
    clf = TopicClassifier.load(saved)
    clf.target_kind_ = "indicator"
    clf.target_columns_ = list(clf.classes_)
    model = clf.save(tmp_path / "indicator")
    assert TopicClassifier.load(model).predict(["rain and snow"]).shape == (1, 4)
    _edit_json(model, "manifest.json", "training.target.kind", "single")
    _both_refuse(
        model,
        rf"^{re.escape(str(model))}/manifest\.json: field 'training\.target\.kind': 'single', "
        r"but the manifest records indicator columns \('training\.target\.columns'\), which "
        r"only a model fitted on an indicator y \('indicator'\) has$",
    )


def test_save_and_load_bound_a_topic_name_by_one_rule(saved: Path, tmp_path: Path) -> None:
    """A topic (or indicator column) name over config.MAX_TOPIC_CHARS is refused by save
    and by load alike (bundle.labels_problem, target_problem): a model fitted on names of a
    megabyte saved, loaded and made a 2 GB `serve` answer of 1,000 pairs."""
    from topicclf.errors import InputError

    too_long = r"a topic name of 1,001 characters \('z+'\.\.\.\), more than the 1,000 topicclf"
    clf = TopicClassifier.load(saved)
    clf.topics_ = ["z" * 1000, *clf.topics_[1:]]
    assert TopicClassifier.load(clf.save(tmp_path / "bound")).topics_ == clf.topics_
    clf.topics_ = ["z" * 1001, *clf.topics_[1:]]
    with pytest.raises(InputError, match=rf"^cannot save this model: {too_long}"):
        clf.save(tmp_path / "past")
    clf = TopicClassifier.load(saved)
    clf.target_kind_ = "indicator"
    clf.target_columns_ = [*clf.classes_, "z" * 1001]
    with pytest.raises(
        InputError, match=rf"^cannot save this model: indicator columns: {too_long}"
    ):
        clf.save(tmp_path / "past")
    assert not (tmp_path / "past").exists()
    broken = _copy(saved, tmp_path)
    columns = [*clf.classes_, "z" * 1001]
    _edit_json(
        broken, "manifest.json", "training.target", {"kind": "indicator", "columns": columns}
    )
    _both_refuse(broken, rf"field 'training.target.columns': {too_long}")


@pytest.mark.parametrize("value", ["no", "False", 0.0001, [0], 1, None])
def test_save_overwrite_is_true_or_false(saved: Path, tmp_path: Path, value: object) -> None:
    """`overwrite="no"` (any truthy value) replaced an existing model."""
    from topicclf.errors import InputError

    model = _copy(saved, tmp_path)
    before = (model / "manifest.json").read_bytes()
    with pytest.raises(InputError, match=r"^overwrite: expected True or False, not \w+ "):
        TopicClassifier.load(saved).save(model, overwrite=value)  # type: ignore[arg-type]
    assert (model / "manifest.json").read_bytes() == before


def test_paths_and_engines_of_the_wrong_type_are_named(saved: Path) -> None:
    """A raw TypeError from Path(None), and a bare ValueError for an unknown engine."""
    from topicclf.errors import InputError

    clf = TopicClassifier.load(saved)
    with pytest.raises(InputError, match=r"^path: expected a path \(a str or pathlib.Path\), not"):
        clf.save(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^path: expected a path .*, not list \["):
        TopicClassifier.load([saved])  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^engine: one of auto, keras, numpy, not str 'torch'$"):
        TopicClassifier.load(saved, engine="torch")


@pytest.mark.parametrize(
    ("model", "edits", "match"),
    [
        (
            "saved",
            {"config.network.type": "embedding"},
            r"copy: manifest\.json says network = dense, and its config says network\.type = "
            r"embedding$",
        ),
        (
            "saved",
            {"network": "embedding"},
            r"copy: manifest\.json says network = embedding, and its config says network\.type "
            r"= dense$",
        ),
        (
            "saved",
            {"network": "embedding", "config.network.type": "embedding"},
            r"copy: features\.json holds tfidf features, and manifest\.json says network\.type = "
            r"embedding, which reads sequence features$",
        ),
        (
            "saved_embedding",
            {"network": "dense", "config.network.type": "dense"},
            r"copy: features\.json holds sequence features, and manifest\.json says "
            r"network\.type = dense, which reads tfidf features$",
        ),
        (
            "saved",
            {"network": "auto"},
            r"copy/manifest\.json: unknown network type 'auto'; known types: dense, embedding, "
            r"shortlist$",
        ),
        (
            "saved",
            {"config.network.type": "auto"},
            r"copy/manifest\.json: config: unknown network type 'auto'",
        ),
    ],
)
def test_info_and_load_refuse_a_network_type_its_manifest_and_files_disagree_on(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    model: str,
    edits: dict[str, str],
    match: str,
) -> None:
    """Attacker pass 26, CLI F3: the manifest's `network`, `config.network.type` and the
    files were not checked against each other: `info` showed one type while `tag` used
    another (or failed on an unexpected array), and an embedding model could `explain`."""
    broken = _copy(request.getfixturevalue(model), tmp_path)
    for field_name, value in edits.items():
        _edit_json(broken, "manifest.json", field_name, value)
    _both_refuse(broken, match)


@pytest.mark.parametrize(
    ("field_name", "value", "detail"),
    [
        ("config.network.hidden_units", [], r"it has array 'hidden_0_\w+', which the settings"),
        ("config.network.hidden_units", [32, 16], r"it has no array 'hidden_1_kernel', which"),
        ("config.network.hidden_units", [128], r"its hidden layers have \[32\] units"),
        ("config.blend.linear", "off", r"it has array 'wide_kernel', which the settings do not"),
        ("config.blend.stack", False, r"it has array 'wide_kernel', which the settings do not"),
    ],
)
def test_info_and_load_say_hand_edited_network_settings_disagree_with_the_weights(
    saved: Path, tmp_path: Path, field_name: str, value: object, detail: str
) -> None:
    """Attacker pass 26, CLI F3: `info` exited 0 and `tag` said `weights.safetensors:
    unexpected array 'wide_kernel'`, naming the file, not the edited settings."""
    broken = _copy(saved, tmp_path)
    _edit_json(broken, "manifest.json", field_name, value)
    _both_refuse(
        broken,
        r"copy: the settings in manifest\.json \(network\.hidden_units \[.*\]; a wide path: "
        r"(yes|no), by network\.wide, blend\.linear and blend\.stack\) and the arrays in "
        r"weights\.safetensors disagree: " + detail,
    )


def test_saving_to_a_path_with_a_nul_character_is_named(saved: Path, tmp_path: Path) -> None:
    """os.stat's raw "ValueError: embedded null byte" named no path; load already said
    "no such model directory"."""
    from topicclf.errors import InputError

    clf = TopicClassifier.load(saved)
    with pytest.raises(InputError, match=r"^path: 'm\\x00x' holds a NUL character"):
        clf.save("m\x00x")
    with pytest.raises(InputError, match=r"^path: '.*/m\\x00x' holds a NUL character"):
        clf.save(tmp_path / "m\x00x", overwrite=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("stemmer", "language", "read_as"),
    [
        ("porter", "English", ("porter", "english")),
        ("porter", "AUTO", ("porter", "auto")),
        ("porter", "DE", ("none", "german")),
        ("porter", "nb", ("none", "norwegian")),
    ],
)
def test_a_manifest_language_is_read_by_the_settings_rule_when_porter_is_checked(
    saved: Path, tmp_path: Path, stemmer: str, language: str, read_as: tuple[str, str]
) -> None:
    # Attacker pass 35, CLI/API 6: models saved before porter was refused with another
    # language load as what they applied (no stemmer), but the manifest's language was
    # compared as written: porter with `English` was read as `none`, though TextConfig reads
    # `English` as english, which porter stems; `AUTO` was refused.
    import shutil

    model = tmp_path / "m"
    shutil.copytree(saved, model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["config"]["text"].update(stemmer=stemmer, language=language)
    (model / "manifest.json").write_text(json.dumps(manifest))
    loaded = TopicClassifier.load(model)
    assert (loaded.config.text.stemmer, loaded.config.text.language) == read_as


def test_a_manifest_stemmer_its_language_has_none_of_is_refused_naming_the_manifest(
    saved: Path, tmp_path: Path
) -> None:
    # The cross-field check of --set (config.stemmer_problem) applies to a manifest too;
    # only porter with another language, which models saved before the check hold, loads.
    import shutil

    model = tmp_path / "m"
    shutil.copytree(saved, model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["config"]["text"].update(stemmer="snowball", language="Hebrew")
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ModelBundleError,
        match=r"/m: invalid configuration in the manifest: configuration: "
        r"text\.stemmer = 'snowball' with text\.language = 'hebrew': NLTK has no Snowball "
        r"stemmer for hebrew;",
    ):
        TopicClassifier.load(model)


def test_a_format_1_models_fingerprint_covers_its_files(saved: Path, tmp_path: Path) -> None:
    """Attacker pass 46, server 2: a served format-1 model (no file hashes recorded) whose
    thresholds were edited was loaded by a replacement worker unnoticed, so two models
    answered under one name: its files' sizes and modification times count in the
    fingerprint the server compares. A format 2+ manifest's hashes cover its files."""
    import os

    from topicclf.bundle.manifest import fingerprint

    old = _as_format_1(saved, tmp_path / "old")
    manifest = TopicClassifier.load(old).manifest_
    before = fingerprint(manifest, old)
    assert fingerprint(manifest, old) == before
    thresholds = old / "thresholds.json"
    stat = thresholds.stat()
    thresholds.write_text(thresholds.read_text().replace("0.", "0.9", 1))
    os.utime(thresholds, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert fingerprint(manifest, old) != before
    current = TopicClassifier.load(saved).manifest_
    assert fingerprint(current, saved) == fingerprint(current)  # the hashes say it all
