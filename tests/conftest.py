"""Shared fixtures: test data paths, the Reuters corpus (skip locally, fail in CI), tiny models."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
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


@contextlib.contextmanager
def deadline(seconds: int = 10) -> Iterator[None]:
    """Fail instead of hanging if the block blocks (e.g. opening a FIFO nobody writes to)."""

    def hung(*_: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def unblock_fifo(path: Path, seconds: float = 15) -> None:
    """Open a named pipe's write end (and close it) as soon as a reader waits on it, for up
    to `seconds`: code that wrongly opens the pipe with a blocking C open() (deaf to the
    alarm of `deadline`) then gets an empty read and fails the test instead of hanging it."""

    def poke() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # ENXIO: no reader yet (or the pipe is gone)
                time.sleep(0.1)

    threading.Thread(target=poke, daemon=True).start()


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
        # Word features only: tests on this corpus reason about its words (which terms
        # explain a topic, how its SVM ranks); character n-grams have tests of their own.
        "features.char_ngrams=off",
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


# A token pattern in regex-module syntax (\\p{..}), which the static backtracking check cannot
# read: it tokenizes words at once but backtracks for ages on a run of digits (SLOW_TEXT).
SLOW_PATTERN = r"\p{L}\p{L}+|(?:\p{N}{1,30}){1,30}@"
SLOW_TEXT = "1" * 40


@pytest.fixture(scope="session")
def slow_pattern_model(tiny_docs: list[Document], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved dense model (numpy-served) whose token pattern runs out of time on SLOW_TEXT."""
    from topicclf.classifier import TopicClassifier

    config = tiny_config().with_overrides([f"text.token_pattern={SLOW_PATTERN}"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=config).fit(
            [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
        )
    return clf.save(tmp_path_factory.mktemp("slow") / "slow")


# One line of each kind the line readers must agree on, whole or by byte ranges: a BOM, a
# lone CR, CRLF, blank and NBSP-only lines, invalid UTF-8, deep nesting, a 5000-digit id,
# surrogate escapes, an unterminated last line.
TRICKY_JSONL = b"".join(
    [
        b'\xef\xbb\xbf{"id": "bom", "text": "first"}\n',
        b'{"id": "cr", "text": "a\\rb"}\r{"id": "same line"}\n',
        b'{"id": "crlf",\r"text": "windows"}\r\n',
        b"\n",
        "\u00a0\u00a0\n".encode(),
        b'{"id": "latin", "text": "caf\xe9"}\n',
        b"[" * 100_000 + b"\n",
        b'{"id": ' + b"7" * 5000 + b', "text": "huge id"}\n',
        b'{"id": "\\ud800", "text": "lone \\udfff surrogate", "labels": ["x\\ud800"]}\n',
        b"  \r\n",
        b'{"text": "no id", "labels": ["a", "b"]}\n',
        b'{"text": "last line, no newline"}',
    ]
)


@pytest.fixture(scope="session")
def tricky_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A JSON Lines file holding every kind of line that readers have got wrong."""
    path = tmp_path_factory.mktemp("tricky") / "tricky.jsonl"
    path.write_bytes(TRICKY_JSONL)
    return path


@contextlib.contextmanager
def local_cluster() -> Iterator[str]:
    """A two-worker local Dask cluster's address; modules hold one each, as a fixture."""
    distributed = pytest.importorskip("dask.distributed")
    import logging

    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: parallel test workers would fight over 8787
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster.scheduler_address
