from __future__ import annotations

import io
import json
import os
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.classifier import TopicClassifier
from topicclf.corpus import CorpusOptions
from topicclf.errors import BadRecordWarning, DuplicateIdWarning, OutputError
from topicclf.tagging import LabelsWriter, Tagged, TagWriter, tag_batches
from topicclf.types import Document


def test_every_document_comes_out_once_in_order(tiny_dense: TopicClassifier) -> None:
    docs = [Document(f"d{i}", "rain storm" if i % 3 else "  ") for i in range(10)]
    batches = list(tag_batches(tiny_dense, docs, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    tagged = [t for b in batches for t in b]
    assert [t.id for t in tagged] == [d.id for d in docs]
    assert all(t.topics == [] for t in tagged[::3])  # blank documents: no topic, not dropped
    assert all(t.topics for i, t in enumerate(tagged) if i % 3)


def test_worker_processes_give_the_same_tags_in_order(
    tiny_dense: TopicClassifier, tmp_path: Path
) -> None:
    tiny_dense.save(tmp_path / "m")
    served = TopicClassifier.load(tmp_path / "m")
    assert served.is_tensorflow_free() and not tiny_dense.is_tensorflow_free()
    texts = ["rain storm", "goal", "", "bread and cheese", "shares fell", "sunny"] * 30
    docs = [Document(f"d{i}", t) for i, t in enumerate(texts)]
    one = [t for b in tag_batches(served, docs, batch_size=7) for t in b]
    two = [t for b in tag_batches(served, docs, batch_size=7, jobs=2) for t in b]
    assert two == one and [t.id for t in two] == [d.id for d in docs]


def test_repeated_ids_are_tagged_and_warned_once(tiny_dense: TopicClassifier) -> None:
    docs = [Document(i, "goal") for i in ["a", "b", "a", "c", "b"]]
    with pytest.warns(DuplicateIdWarning, match=r"in\.jsonl: 2 document\(s\) reuse an id") as seen:
        tagged = [
            t for b in tag_batches(tiny_dense, docs, batch_size=2, source="in.jsonl") for t in b
        ]
    assert len(seen) == 1 and [t.id for t in tagged] == ["a", "b", "a", "c", "b"]


def test_generated_ids_are_not_remembered(tiny_dense: TopicClassifier) -> None:
    docs = [Document("stdin:1", "goal", generated_id=True)] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DuplicateIdWarning
        tagged = [t for b in tag_batches(tiny_dense, docs) for t in b]
    assert [t.id for t in tagged] == ["stdin:1"] * 3


def test_writer_formats() -> None:
    items = [Tagged("x", [("sport", 0.9), ("food", 0.61)]), Tagged("y", [], error="bad line")]
    handle = io.StringIO()
    writer = TagWriter(handle, "jsonl", scores=True)
    for item in items:
        writer.write(item)
    rows = [json.loads(line) for line in handle.getvalue().splitlines()]
    assert rows[0] == {
        "id": "x",
        "labels": ["sport", "food"],
        "scores": {"sport": 0.9, "food": 0.61},
    }
    assert rows[1] == {"id": "y", "labels": [], "scores": {}, "error": "bad line"}
    handle = io.StringIO()
    writer = TagWriter(handle, "tsv")
    for item in items:
        writer.write(item)
    assert handle.getvalue() == "id\tlabels\terror\nx\tsport|food\t\ny\t\tbad line\n"
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        TagWriter(io.StringIO(), "xml")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found |= {int(c) for c in task.read_text().split()}
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_killing_tag_with_kill_9_also_ends_its_workers(
    tiny_dense: TopicClassifier, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    tiny_dense.save(tmp_path / "m")
    source = tmp_path / "many.txt"
    source.write_text("rain and snow over the hills today\n" * 400_000)
    tag = subprocess.Popen(
        [sys.executable, "-m", "topicclf", "-q", "tag", str(tmp_path / "m"), str(source)]
        + ["--jobs", "2", "--batch-size", "64", "-o", str(tmp_path / "out.jsonl")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while len(workers) < 2 and time.monotonic() < deadline and tag.poll() is None:
            workers = _children(tag.pid)
            time.sleep(0.2)
        assert len(workers) >= 2, "the worker processes never started"
        os.kill(tag.pid, signal.SIGKILL)
        tag.wait()
        deadline = time.monotonic() + 20
        while any(_running(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_running(w) for w in workers)
    finally:
        if tag.poll() is None:
            tag.kill()
    # The next run removes what the killed one left (its hidden temporary output file).
    assert run_tag_again(tmp_path) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def run_tag_again(tmp_path: Path) -> int:
    from topicclf.cli import run

    (tmp_path / "few.txt").write_text("rain\n")
    return run(["-q", "tag", str(tmp_path / "m"), str(tmp_path / "few.txt")]
               + ["-o", str(tmp_path / "out.jsonl"), "--force"])  # fmt: skip


def test_writers_never_write_an_ambiguous_or_unencodable_record() -> None:
    from topicclf.errors import OutputError

    with pytest.raises(OutputError, match=r"the topic 'a\|b' contains '\|', which separates"):
        TagWriter(io.StringIO(), "csv", topics=["ok", "a|b"])
    TagWriter(io.StringIO(), "jsonl", topics=["ok", "a|b"])  # JSON Lines keeps lists apart
    handle = io.StringIO()
    TagWriter(handle, "jsonl", scores=True).write(Tagged("id\ud800", [("t\udfff", 0.5)]))
    record = json.loads(handle.getvalue())
    assert record == {"id": "id\ufffd", "labels": ["t\ufffd"], "scores": {"t\ufffd": 0.5}}
    handle.getvalue().encode("utf-8")  # no lone surrogate left to fail a UTF-8 stream


def test_tagging_reports_progress_a_batch_at_a_time(tiny_dense: TopicClassifier) -> None:
    from topicclf.tagging import tag_documents

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, object]] = []

        def start(self, task: str, total: int | None = None) -> None:
            self.calls.append(("start", (task, total)))

        def advance(self, steps: int = 1, **info: float) -> None:
            self.calls.append(("advance", steps))

        def finish(self) -> None:
            self.calls.append(("finish", None))

    docs = [Document(f"d{i}", f"rain and wind number {i}") for i in range(25)]
    recorder = Recorder()
    tag_documents(tiny_dense, docs, io.StringIO(), batch_size=10, progress=recorder)
    assert recorder.calls == [
        ("start", ("tagging", None)),  # a stream: its length is not known
        ("advance", 10),
        ("advance", 10),
        ("advance", 5),
        ("finish", None),
    ]


def test_never_more_workers_than_cores(
    tiny_dense: TopicClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import concurrent.futures

    import topicclf.tagging as tagging

    started: list[int] = []
    real = concurrent.futures.ProcessPoolExecutor

    def recording(*args: object, **kwargs: object) -> object:
        started.append(int(kwargs["max_workers"]))  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", recording)
    monkeypatch.setattr(tagging, "default_jobs", lambda: 2)
    tiny_dense.save(tmp_path / "m")
    served = TopicClassifier.load(tmp_path / "m")
    docs = [Document(f"d{i}", "rain storm") for i in range(30)]
    tagged = [t for b in tag_batches(served, docs, batch_size=10, jobs=100) for t in b]
    assert len(tagged) == 30 and started == [2]


def test_labels_writer_names_the_labels_file_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "a.labels").mkdir()  # appeared after the check
    writer = LabelsWriter(tmp_path)
    with pytest.raises(OutputError, match=r"a\.labels: cannot write the topics of a there \("):
        writer.write_batch([Tagged("a", [("x", 0.9)])])
    assert [p.name for p in tmp_path.iterdir()] == ["a.labels"]  # no temporary left


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=254), st.sampled_from(["a", "\u00e9", "\u6587"]))
def test_a_document_whose_labels_name_is_too_long_is_its_bad_record(
    tmp_path_factory: pytest.TempPathFactory, length: int, char: str
) -> None:
    """A 250-byte NAME.txt stopped the whole run with the raw "File name too long" and no
    .labels file was written; now that document alone is a bad record, with the rule's
    message, exactly when NAME.labels would pass 255 bytes."""
    root = tmp_path_factory.mktemp("wl")
    name = char * (length // len(char.encode()))
    writer = LabelsWriter(root)
    docs = [Document(name, "oil prices"), Document("b", "team won")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = list(writer.documents(docs, CorpusOptions(on_error="report")))
    assert out[1] == docs[1]
    size = len(name.encode()) + len(".labels")
    if size <= 255:
        assert out[0] == docs[0] and not caught
        return
    message = (
        rf"labels: the name {name[:40]}\.\.\. is {size} bytes, and a file name may have at most "
        r"255 here; rename its text file shorter \(--write-labels writes its topics there\)$"
    )
    assert out[0].id == name and re.search(message, out[0].error or "")
    assert [w.category for w in caught] == [BadRecordWarning]
    with pytest.warns(BadRecordWarning, match=r"rename its text file shorter"):
        assert list(writer.documents(docs[:1], CorpusOptions(on_error="skip"))) == []


def _dies_on_poison(texts: list[str], rule: object) -> object:
    """A worker that is killed (as by the out-of-memory killer) on a poisoned batch."""
    import signal

    from topicclf import tagging

    if "poison" in texts:
        os.kill(os.getpid(), signal.SIGKILL)
    return tagging.tag_each(tagging._WORKER["classifier"], texts, rule)  # type: ignore[arg-type]


def test_a_killed_worker_is_said_in_words_not_broken_process_pool(
    tiny_dense: TopicClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: `internal error: BrokenProcessPool: A process in the process pool was
    # terminated abruptly ...`.
    from topicclf import tagging
    from topicclf.errors import TopicclfError

    tiny_dense.save(tmp_path / "m")
    served = TopicClassifier.load(tmp_path / "m")
    monkeypatch.setattr(tagging, "_worker_topics", _dies_on_poison)
    _dies_on_poison.__module__, _dies_on_poison.__qualname__ = "topicclf.tagging", "_worker_topics"
    docs = [Document(f"d{i}", "poison" if i == 40 else "rain storm") for i in range(60)]
    with pytest.raises(
        TopicclfError,
        match=r"^a tagging worker process was killed \(by a signal: the out-of-memory killer, or "
        r"kill\) after \d+ documents were tagged; tag again, with fewer --jobs",
    ):
        for _ in tag_batches(served, docs, batch_size=5, jobs=2):
            pass


def test_labels_writer_refuses_a_topic_its_reader_would_split(tmp_path: Path) -> None:
    # Before: 'energy\npolicy' was written as is and read back as two topics.
    from topicclf.corpus import open_corpus

    (tmp_path / "a.txt").write_text("oil prices rose")
    writer = LabelsWriter(tmp_path)
    with pytest.raises(
        OutputError, match=r"a\.labels: the topic 'energy\\npolicy' holds a line break"
    ):
        writer.write_batch([Tagged("a", [("energy\npolicy", 0.9)])])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"] and writer.written == 0
    writer.write_batch([Tagged("a", [("sport\u2028news", 0.9), ("x\x1cy", 0.8)])])
    (doc,) = open_corpus(tmp_path, format="txtdir")
    assert doc.labels == ("sport\u2028news", "x\x1cy")


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_text_the_token_pattern_times_out_on_is_its_own_bad_record(
    slow_pattern_model: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """The slow text's batch is tagged text by text: the other documents keep their topics
    (before: the run stopped and lost every document, with -o nothing was written)."""
    from conftest import SLOW_TEXT

    from topicclf.errors import BadRecordWarning
    from topicclf.features import text as text_module

    monkeypatch.setattr(text_module, "TOKEN_PATTERN_SECONDS", 0.5)
    clf = TopicClassifier.load(slow_pattern_model)
    texts = ["oil prices rose", SLOW_TEXT, "the team won the match", "wheat and corn"]
    docs = [Document(f"d{i}", text) for i, text in enumerate(texts)]
    with pytest.warns(
        BadRecordWarning,
        match=r"^document 'd1': text.token_pattern = .* took more than 0.5 s on one text of "
        r"40 characters: it backtracks too much; make the end of each repetition unambiguous$",
    ):
        tagged = [t for batch in tag_batches(clf, docs, batch_size=2, jobs=jobs) for t in batch]
    assert [t.id for t in tagged] == ["d0", "d1", "d2", "d3"]
    assert [t.error is None for t in tagged] == [True, False, True, True]
    assert tagged[1].topics == []
    for item, text in zip(tagged, texts, strict=True):
        if item.error is None:  # scored in another batch: equal but for the last float bits
            alone = clf.tag([text])[0]
            assert [t for t, _ in item.topics] == [t for t, _ in alone]
            assert [s for _, s in item.topics] == pytest.approx([s for _, s in alone])


def test_an_unknown_bad_records_policy_is_named(tiny_dense: TopicClassifier) -> None:
    """It was a bare ValueError listing a tuple."""
    from topicclf.errors import InputError
    from topicclf.tagging import tag_stream

    with pytest.raises(InputError, match=r"^bad_records: one of report, skip, stop, not str 'x'$"):
        tag_stream(tiny_dense, [], lambda batch: None, bad_records="x")


def test_labels_files_sweep_each_directory_for_stale_temporary_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--write-labels listed its directory once per file to find a killed writer's
    leftovers: 8,000 files took 49 s, against 2.4 s into one file (pass 47). Each directory
    is swept once, leftovers of any name removed, live writers' kept."""
    import topicclf.fileio as fileio

    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".other.labels.{dead}-{fileio._HOST}.abc12345.tmp"
    stale.write_text("half")
    alive = tmp_path / "sub" / f".x.labels.{os.getpid()}-{fileio._HOST}.keep1234.tmp"
    alive.write_text("busy")
    sweeps: list[Path] = []
    sweep = fileio.remove_stale
    monkeypatch.setattr(fileio, "remove_stale", lambda p, n=None: sweeps.append(p) or sweep(p, n))
    writer = LabelsWriter(tmp_path)
    items = [Tagged(f"sub/d{i}", [("x", 0.9)]) for i in range(40)] + [Tagged("top", [])]
    writer.write_batch(items[:20])
    writer.write_batch(items[20:])
    assert sorted(sweeps) == [tmp_path, tmp_path / "sub"]
    assert not stale.exists() and alive.exists() and writer.written == 41
    assert (tmp_path / "sub" / "d7.labels").read_text() == "x\n"
