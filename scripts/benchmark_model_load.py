"""How long loading a Reuters-sized model takes, and what checking its files' hashes adds.

Builds an untrained model of the given size (a dense network, its exported weights, a TF-IDF
vocabulary and a blended linear model), saves it once, then times `load_model` with the numpy
engine: as saved (sizes and SHA-256 checked), with the hash checks switched off, and the same
model written in format 1 (.npz, no records). Usage:

    python scripts/benchmark_model_load.py [--features 20000] [--topics 90] [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import numpy as np

from topicclf import bundle
from topicclf.bundle.files import ModelFiles
from topicclf.config import Config
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.model.blend import LinearBlend
from topicclf.model.inference import Scorer
from topicclf.model.networks import build_dense_network
from topicclf.model.thresholds import ThresholdPolicy


def build(directory: Path, n_features: int, n_topics: int) -> Path:
    """Save an untrained model of this size (its timing does not depend on training)."""
    config = Config()
    rng = np.random.default_rng(0)
    meta = {"kind": "tfidf", "vocabulary": [f"term{i}" for i in range(n_features)]}
    meta["stop_words"] = []
    featurizer = TfidfFeaturizer.from_state(
        config.text, config.features, meta, {"idf": rng.random(n_features, dtype=np.float32)}
    )
    network = build_dense_network(
        n_features,
        n_topics,
        hidden_units=config.network.hidden_units,
        dropout=config.network.dropout,
        multiclass=False,
        wide=config.network.wide,
    )
    coef = rng.standard_normal((n_topics, n_features), dtype=np.float32)
    blend = LinearBlend(coef, np.zeros(n_topics, np.float32), 1.0, 0.0, 0.35, False)
    policy = ThresholdPolicy("per_topic", np.full(n_topics, 0.5, np.float32), 0.5, True, 0, False)
    saved = bundle.SavedModel(
        config=config,
        classes=[f"topic{i}" for i in range(n_topics)],
        mode="multilabel",
        scorer=Scorer(featurizer, network, blend),
        policy=policy,
    )
    return bundle.save_model(saved, directory / "model")


def as_format_1(model: Path, directory: Path) -> Path:
    """The same model as topicclf 0.1 wrote it: .npz arrays, no file records."""
    import shutil

    from safetensors.numpy import load_file

    old = directory / "format1"
    shutil.copytree(model, old)
    for path in old.glob("*.safetensors"):
        np.savez(path.with_suffix(".npz"), **load_file(path))
        path.unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["format_version"] = 1
    del manifest["files"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    return old


def timed(load: Callable[[], object], repeat: int) -> float:
    """Median wall time of `load`, in milliseconds, after one warm-up run."""
    load()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    """Build, save and time the loads; print one line per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=20000)
    parser.add_argument("--topics", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = build(Path(tmp), args.features, args.topics)
        old = as_format_1(model, Path(tmp))
        sizes = {p.name: p.stat().st_size for p in sorted(model.iterdir())}
        print(f"model files: {json.dumps(sizes)}")
        print(f"read per load: {sum(v for k, v in sizes.items() if k != 'model.keras'):,} bytes")

        def load(path: Path) -> Callable[[], object]:
            return lambda: bundle.load_model(path, engine="numpy")

        checked = timed(load(model), args.repeat)
        with mock.patch.object(ModelFiles, "record", lambda self, name: None):
            unchecked = timed(load(model), args.repeat)
        format_1 = timed(load(old), args.repeat)
    print(f"format 2, sizes and SHA-256 checked: {checked:.1f} ms")
    print(f"format 2, no hash checks:            {unchecked:.1f} ms")
    print(f"format 1 (.npz, hardened reader):    {format_1:.1f} ms")
    print(f"cost of hashing: {checked - unchecked:.1f} ms ({checked / unchecked - 1:+.0%})")


if __name__ == "__main__":
    main()
