"""Shared fixtures: test data paths, the Reuters corpus (skip locally, fail in CI), tiny models."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from topicclf.config import Config
from topicclf.corpus import open_corpus
from topicclf.types import Document

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent
DEFAULT_REUTERS = REPO.parent / "shared" / "corpora" / "reuters21578.tar.gz"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_docs() -> list[Document]:
    return list(open_corpus(DATA / "tiny.jsonl"))


@pytest.fixture(scope="session")
def reuters_path() -> Path:
    """The Reuters-21578 archive; a missing corpus skips locally but fails in CI."""
    path = Path(os.environ.get("TOPICCLF_REUTERS", DEFAULT_REUTERS))
    if not path.exists():
        message = f"Reuters-21578 not found at {path} (set TOPICCLF_REUTERS)"
        if os.environ.get("TOPICCLF_REQUIRE_REUTERS") or os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def tiny_config(network: str = "dense", **train: object) -> Config:
    """A small, quick configuration for tests on the tiny corpus."""
    overrides = [
        f"network.type={network}",
        "network.hidden_units=32",
        "network.embedding_dim=16",
        "features.min_df=1",
        "train.epochs=40",
        "train.patience=40",
        "train.batch_size=8",
        "train.learning_rate=0.01",
        "train.validation_split=0.25",
        "train.refit=false",
    ]
    overrides += [f"train.{k}={v}" for k, v in train.items()]
    return Config().with_overrides(overrides)


@pytest.fixture(scope="session")
def tiny_dense(tiny_docs: list[Document]):
    """A dense classifier trained once on the tiny corpus."""
    from topicclf.classifier import TopicClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TopicClassifier(config=tiny_config()).fit(
            [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
        )
