from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from topicclf.bundle import FORMAT_VERSION
from topicclf.classifier import TopicClassifier
from topicclf.errors import ModelBundleError, OutputError
from topicclf.fileio import atomic_directory, output_lock
from topicclf.types import Document


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, tiny_dense: TopicClassifier) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny"
    tiny_dense.save(path, corpus={"path": "tests/data/tiny.jsonl"})
    return path


def test_save_load_gives_identical_scores(
    saved: Path, tiny_dense: TopicClassifier, tiny_docs: list[Document]
) -> None:
    assert sorted(p.name for p in saved.iterdir()) == [
        "features.json",
        "features.npz",
        "labels.json",
        "linear.npz",
        "manifest.json",
        "model.keras",
        "thresholds.json",
        "weights.npz",
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
    for path in saved.iterdir():
        assert b"pickle" not in path.read_bytes()[:4096].lower() or path.suffix == ".keras"
    np.load(saved / "features.npz", allow_pickle=False).close()


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
    target.mkdir()
    (target / "stale.txt").write_text("old")
    tiny_dense.save(target, overwrite=True)
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def _copy(saved: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "copy"
    shutil.copytree(saved, dest)
    return dest


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
        ModelBundleError, match=r"model format 2 .* is newer than .* upgrade topicclf"
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
    for engine in ("auto", "keras"):
        with pytest.raises(ModelBundleError, match="network has 4 outputs but labels.json lists 3"):
            TopicClassifier.load(broken, engine=engine)


def test_wrong_threshold_count(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    thresholds = json.loads((saved / "thresholds.json").read_text())
    thresholds["thresholds"] = thresholds["thresholds"][:2]
    (broken / "thresholds.json").write_text(json.dumps(thresholds))
    with pytest.raises(ModelBundleError, match="2 thresholds for 4 topics"):
        TopicClassifier.load(broken)


def test_linear_model_not_matching_the_topics(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    arrays = dict(np.load(broken / "linear.npz"))
    arrays["coef"] = arrays["coef"][:-1]
    np.savez(broken / "linear.npz", **arrays)
    with pytest.raises(ModelBundleError, match=r"linear\.npz has weights of shape .* for 4 topics"):
        TopicClassifier.load(broken)


def test_truncated_files(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    (broken / "features.json").write_text('{"kind": "tfidf", "vocab')
    with pytest.raises(ModelBundleError, match="corrupt or truncated JSON"):
        TopicClassifier.load(broken)
    broken2 = _copy(saved, tmp_path / "b")
    data = (broken2 / "model.keras").read_bytes()
    (broken2 / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelBundleError, match="model.keras cannot be loaded safely"):
        TopicClassifier.load(broken2, engine="keras")
    (broken2 / "weights.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelBundleError, match="weights.npz: corrupt or unreadable"):
        TopicClassifier.load(broken2)


def test_lambda_layer_is_refused_without_running_it(saved: Path, tmp_path: Path) -> None:
    from topicclf.networks import keras_module

    keras = keras_module()
    broken = _copy(saved, tmp_path)
    marker = tmp_path / "ran.txt"
    inputs = keras.Input(shape=(4,))
    # The lambda's code writes a marker file when run; loading must not run it.
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"
    evil = keras.layers.Lambda(eval(code))(inputs)
    keras.Model(inputs, evil).save(broken / "model.keras")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelBundleError, match="cannot be loaded safely"):
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
    with pytest.raises(
        ModelBundleError, match=r"manifest.json says multilabel but thresholds.json says"
    ):
        TopicClassifier.load(broken)


def test_the_keras_file_has_no_optimizer_state(saved: Path) -> None:
    import zipfile

    with zipfile.ZipFile(saved / "model.keras") as archive:
        weights = archive.read("model.weights.h5")
    assert b"optimizer" not in weights
