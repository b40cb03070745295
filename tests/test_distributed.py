from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import local_cluster
from hypothesis import given
from hypothesis import strategies as st

from topicclf.classifier import TopicClassifier
from topicclf.cli import run
from topicclf.config import DASK_PARTITION_MIN_BYTES
from topicclf.corpus import CorpusOptions, open_corpus
from topicclf.errors import (
    BadRecordWarning,
    CorpusFormatError,
    ModelBundleError,
    OutputError,
    TopicclfError,
)
from topicclf.tagging import tag_batches
from topicclf.tagging.distributed import (
    _number_lines,
    count_lines,
    partition_share,
    plan,
    read_output,
    read_partition,
    tag_on_dask,
)
from topicclf.types import Document

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
distributed = pytest.importorskip("dask.distributed")

REPO = Path(__file__).parent.parent
NEWS_TEST = REPO / "corpora/newsbriefs/test.jsonl"


@pytest.fixture(scope="module")
def model(tiny_dense: TopicClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dask") / "model"
    tiny_dense.save(path)
    return path


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A two-worker local cluster, shared by this module's tests."""
    with local_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """JSON Lines with ids, one without ids and with blank lines, plain lines, Parquet."""
    root = tmp_path_factory.mktemp("inputs")
    docs = list(open_corpus(NEWS_TEST))
    no_ids = root / "no_ids.jsonl"
    no_ids.write_text(
        "".join(
            json.dumps({"text": d.text}) + ("\n\n" if i % 7 == 0 else "\n")
            for i, d in enumerate(docs)
        )
    )
    lines = root / "plain.txt"
    lines.write_text("".join(d.text + "\n" for d in docs[:30]) + "\nlast line, no newline")
    table = pa.table({"id": [f"p{i}" for i in range(len(docs))], "text": [d.text for d in docs]})
    parquet = root / "docs.parquet"
    pq.write_table(table, parquet, row_group_size=16)
    return [NEWS_TEST, no_ids, lines, REPO / "tests/data/txtdir", parquet]


def _plain_tags(model: Path, inputs: list[Path]) -> list[dict[str, object]]:
    """What the local engine gives, document by document, in input order."""
    clf = TopicClassifier.load(model)
    out: list[dict[str, object]] = []
    for path in inputs:
        if path.suffix == ".parquet":
            docs = [Document(r["id"], r["text"]) for r in pq.read_table(path).to_pylist()]
        else:
            docs = list(open_corpus(path))
        for batch in tag_batches(clf, docs):
            out.extend({"id": t.id, "labels": [x for x, _ in t.topics]} for t in batch)
    return out


def _by_id(rows: list[dict[str, object]]) -> dict[object, object]:
    return {r["id"]: r["labels"] for r in rows}


def test_two_workers_give_the_plain_tags(
    model: Path, scheduler: str, inputs: list[Path], tmp_path: Path
) -> None:
    summary = tag_on_dask(
        model,
        [str(p) for p in inputs],
        tmp_path / "out",
        scheduler=scheduler,
        partitions=7,
        min_partition_bytes=1024,  # the inputs are small: cut them all the same
    )
    rows = list(read_output(tmp_path / "out"))
    expected = _plain_tags(model, inputs)
    assert summary.documents == len(expected) == len(rows)
    assert summary.workers == 2 and summary.partitions >= 7
    assert [r["id"] for r in rows] == [r["id"] for r in expected]  # parts in input order
    assert len({r["id"] for r in rows}) == len(rows)  # every id exactly once
    assert rows == expected
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == summary.parts


def test_parquet_output_and_scores(model: Path, scheduler: str, tmp_path: Path) -> None:
    tag_on_dask(
        model,
        [str(NEWS_TEST)],
        tmp_path / "out",
        scheduler=scheduler,
        output_format="parquet",
        scores=True,
    )
    rows = list(read_output(tmp_path / "out"))
    plain = _plain_tags(model, [NEWS_TEST])
    assert [(r["id"], r["labels"]) for r in rows] == [(r["id"], r["labels"]) for r in plain]
    assert all(len(r["scores"]) == len(r["labels"]) and r["error"] is None for r in rows)


def test_line_aligned_partitions_cover_every_line(inputs: list[Path]) -> None:
    parts = plan([str(inputs[1])], 9, min_bytes=1)
    assert len(parts) > 3
    assert parts[0].start == 0 and all(a.stop == b.start for a, b in itertools.pairwise(parts))
    lines = sum(count_lines(p)[0] for p in parts)
    assert lines == len(inputs[1].read_bytes().splitlines())
    options = CorpusOptions()
    first = 1
    ids = []
    for part in parts:
        ids.extend(
            d.id for d in read_partition(dataclasses.replace(part, first_line=first), options)
        )
        first += count_lines(part)[0]
    assert ids == [d.id for d in open_corpus(inputs[1])]


@pytest.mark.parametrize("fmt", ["jsonl", "lines", "fasttext"])
def test_partitions_read_what_the_local_engine_reads(
    tricky_jsonl: Path, tmp_path: Path, fmt: str
) -> None:
    """Without a cluster: plan, count and read partitions as the workers do."""
    import warnings

    from topicclf.errors import BadRecordWarning

    path = tmp_path / f"tricky.{ {'jsonl': 'jsonl', 'lines': 'txt', 'fasttext': 'ft'}[fmt] }"
    path.write_bytes(tricky_jsonl.read_bytes())
    options = CorpusOptions(on_error="report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadRecordWarning)
        local = list(open_corpus(path, format=fmt, options=options))
        for partitions in (1, 4, 9):
            parts = [
                dataclasses.replace(p, kind=fmt) for p in plan([str(path)], partitions, min_bytes=1)
            ]
            counts = [count_lines(p, options) for p in parts]
            parts, expected = _number_lines(parts, counts)
            docs = [d for p in parts for d in read_partition(p, options)]
            assert docs == local and expected == len(local)


def test_bad_encoding_fails_before_a_cluster_starts(tmp_path: Path) -> None:
    options = CorpusOptions(encoding="no-such-codec")
    with pytest.raises(
        CorpusFormatError, match=r"unknown text encoding 'no-such-codec' \(--encoding\)"
    ):
        tag_on_dask(tmp_path / "no model", [str(NEWS_TEST)], tmp_path / "out", options=options)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test documents, copied under new ids, to just over three smallest partitions."""
    docs = list(open_corpus(NEWS_TEST))
    path = tmp_path_factory.mktemp("large") / "large.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        copy = 0
        while handle.tell() < 3 * DASK_PARTITION_MIN_BYTES + 1000:
            for doc in docs:
                handle.write(json.dumps({"id": f"{doc.id}-{copy}", "text": doc.text}) + "\n")
            copy += 1
    return path


def test_cli_starts_a_local_cluster(
    model: Path, large: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    documents = sum(1 for _ in open_corpus(large))
    code = run(
        [
            "tag",
            str(model),
            str(large),
            "--engine",
            "dask",
            "--workers",
            "1000",  # never more than cores: 2 here (1000 filled 24 GB with workers)
            "--partitions",
            "1000000",  # at most one per 256 KiB (it made one per line)
            "-o",
            str(out),
        ]
    )
    err = capfd.readouterr().err
    cores = len(os.sched_getaffinity(0))
    assert code == 0
    assert f"tagged {documents} documents in 3 partition(s) on {cores} Dask worker(s)" in err
    assert f"warning: --workers 1000: a local cluster on {cores} core(s) starts {cores}" in err
    # Nothing of Dask's own logs (a heartbeat traceback of a worker at shutdown), from this
    # process or the workers: only our lines.
    assert all(line.startswith(("warning:", "tagging partitions", "tagged ")) for line in
               err.splitlines()), err  # fmt: skip
    assert len(list(read_output(out))) == documents
    code = run(["tag", str(model), str(large), "--engine", "dask", "-o", str(out)])
    assert code == 1 and "already exists" in capfd.readouterr().err
    code = run(["tag", str(model), str(large), "--engine", "dask", "--workers", "1",
                "--partitions", "2", "-o", str(out), "--force"])  # fmt: skip
    assert code == 0 and sorted(p.name for p in out.iterdir()) == [
        "part-00000.jsonl",
        "part-00001.jsonl",
    ]  # the parts of a Dask output are replaced
    code = run(["tag", "--help"])
    assert "at most one per 256 KiB of input" in " ".join(
        capfd.readouterr().out.replace("│", " ").split()
    )


def test_partitions_are_bounded_by_the_input(inputs: list[Path], large: Path) -> None:
    # Before: --partitions 1000000 made one partition per line, ~10 ms each of scheduling:
    # 60,000 lines did not finish in 120 s (3 partitions: 5 s).
    size = large.stat().st_size
    assert len(plan([str(large)], 1_000_000)) == size // DASK_PARTITION_MIN_BYTES == 3
    assert len(plan([str(large)], 2)) == 2  # fewer asked for: as asked
    # Every kind of input: one partition each when it is small, whatever is asked.
    assert len(plan([str(p) for p in inputs], 1_000_000)) == len(inputs)
    txtdir, parquet = str(inputs[3]), str(inputs[4])
    assert len(plan([txtdir], 1_000_000, min_bytes=1)) > 1
    assert len(plan([parquet], 1_000_000, min_bytes=1)) > 1


@pytest.mark.parametrize(("files", "groups", "partitions"), [(30, 1, 2), (3, 4, 5), (7, 2, 1)])
def test_a_parquet_dataset_of_many_files_is_grouped_into_the_partitions_asked(
    tmp_path: Path, files: int, groups: int, partitions: int
) -> None:
    """3,000 one-row files made 3,000 partitions with --partitions 2 (36 s for 1.5 s of
    work): each file was one partition at least. Every row group is read once, in order."""
    for f in range(files):
        rows = [f"f{f}r{r}" for r in range(groups)]
        pq.write_table(pa.table({"id": rows, "text": rows}), tmp_path / f"p{f:03d}.parquet", 1)
    parts = plan([str(tmp_path)], partitions, min_bytes=1)
    assert len(parts) <= partitions and (files < partitions or len(parts) == partitions)
    assert [p.index for p in parts] == list(range(len(parts)))
    read = [d.id for p in parts for d in read_partition(p, CorpusOptions())]
    assert read == [f"f{f}r{r}" for f in range(files) for r in range(groups)]
    assert len(plan([str(tmp_path)], 1_000_000)) == 1  # small: one partition, not one per file


def test_a_grouped_parquet_file_that_vanished_is_its_own_bad_record(
    model: Path, scheduler: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for f in range(6):
        pq.write_table(pa.table({"id": [f"d{f}"], "text": ["oil prices"]}), data / f"p{f}.parquet")
    parts = plan([str(data)], 2, min_bytes=1)
    assert len(parts) == 2 and all(len(p.pieces) == 3 for p in parts)
    (data / "p1.parquet").unlink()  # after planning, as a file removed while a run waits
    with pytest.warns(BadRecordWarning, match=r"p1\.parquet: no such file \(it was removed"):
        docs = list(read_partition(parts[0], CorpusOptions(on_error="report")))
    assert [d.id for d in docs if d.error is None] == ["d0", "d2"]
    pq.write_table(pa.table({"id": ["d1"], "text": ["oil prices"]}), data / "p1.parquet")
    summary = tag_on_dask(
        model, [str(data)], tmp_path / "out", scheduler=scheduler, partitions=2,
        min_partition_bytes=1,
    )  # fmt: skip
    assert summary.partitions == 2 and summary.documents == 6
    assert [r["id"] for r in read_output(tmp_path / "out")] == [f"d{f}" for f in range(6)]


def test_a_named_pipe_in_a_parquet_dataset_is_its_own_bad_record(
    model: Path, scheduler: str, tmp_path: Path
) -> None:
    # Before: planning hung in pyarrow's open() of the pipe, deaf to SIGTERM.
    from conftest import unblock_fifo

    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"id": ["d0"], "text": ["oil prices"]}), data / "p0.parquet")
    os.mkfifo(data / "p1.parquet")
    unblock_fifo(data / "p1.parquet")
    with pytest.warns(BadRecordWarning, match=r"p1\.parquet: a named pipe, not a regular file"):
        summary = tag_on_dask(model, [str(data)], tmp_path / "out", scheduler=scheduler)
    assert (summary.documents, summary.bad_records) == (2, 1)
    rows = list(read_output(tmp_path / "out"))
    assert [(r["id"], r.get("error") is None) for r in rows] == [("d0", True), ("p1", False)]


@given(
    partitions=st.integers(1, 10**6),
    size=st.integers(0, 10**12),
    rest=st.integers(0, 10**12),
    min_bytes=st.integers(1, 10**7),
)
def test_a_share_is_at_least_one_and_never_below_the_smallest_partition(
    partitions: int, size: int, rest: int, min_bytes: int
) -> None:
    share = partition_share(partitions, size, size + rest, min_bytes)
    assert share >= 1
    assert share == 1 or size // share >= min_bytes
    assert share <= max(1, partitions)


def test_an_interrupted_run_stops_quietly(
    model: Path,
    scheduler: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped while the cluster counts the lines of many partitions: the interruption
    alone, not a traceback per partition (asyncio's `Task exception was never retrieved
    ... AllExit`: 54,440 of them, 11 MB, for a SIGTERM)."""
    import gc
    import signal

    import topicclf.tagging.distributed as dask_engine

    corpus = tmp_path / "many.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"oil {i}"}) + "\n" for i in range(400)))
    planned = dask_engine.plan

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    def plan_then_interrupt(*args: object, **kwargs: object) -> list[object]:
        parts = planned(*args, **kwargs)  # type: ignore[arg-type]
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # while the 400 partitions are counted
        return parts

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dask_engine, "plan", plan_then_interrupt)
            with pytest.raises(KeyboardInterrupt):
                tag_on_dask(model, [str(corpus)], tmp_path / "out", scheduler=scheduler,
                            partitions=400, min_partition_bytes=1)  # fmt: skip
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    gc.collect()  # asyncio says an exception was never retrieved when its task is collected
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[:2000]
    # pytest takes log records off stderr; the records of this module's scheduler (it runs
    # in this process, and is not the run's to silence) may hold tracebacks of their own.
    assert "never retrieved" not in caplog.text and "AllExit" not in caplog.text
    assert not (tmp_path / "out").exists()


def test_errors(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CorpusFormatError, match="the dask engine reads files, not stdin"):
        plan(["-"], 2)
    csv = tmp_path / "c.csv"
    csv.write_text("text\nhello\n")
    with pytest.raises(CorpusFormatError, match="reads JSON Lines, plain text .* not csv"):
        plan([str(csv)], 2)
    # It said "/abs/cwd/reuters:modapte-test: no such file or directory".
    with pytest.raises(
        CorpusFormatError,
        match="^reuters:modapte-test: the dask engine reads JSON Lines, .* not "
        "the Reuters-21578 archive; convert it first",
    ):
        tag_on_dask(model, ["reuters:modapte-test"], tmp_path / "out")
    with pytest.raises(ModelBundleError, match="looks like a corpus, not a model directory"):
        tag_on_dask(tmp_path, [str(NEWS_TEST)], tmp_path / "out")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelBundleError, match="manifest.json is missing"):
        tag_on_dask(empty, [str(NEWS_TEST)], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(
        TopicclfError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"
    ):
        tag_on_dask(model, [str(NEWS_TEST)], tmp_path / "out", scheduler="tcp://127.0.0.1:1")
    for address, why in [
        ("bogus://x", "unknown address scheme 'bogus'"),
        ("tcp://[::1", "invalid address"),
        ("tcp://h:port", "invalid literal"),
    ]:
        code = run(["tag", str(model), str(NEWS_TEST), "--engine", "dask", "--scheduler",
                    address, "-o", str(tmp_path / "out")])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and f"--scheduler {address!r} is not a Dask scheduler address" in err
        assert why in err and "internal error" not in err
    code = run(["tag", str(model), str(NEWS_TEST), "--engine", "dask"])
    assert code == 2 and "give --output DIR" in capsys.readouterr().err
    # --force replaced any directory with the parts (its files deleted), after the tagging.
    ordinary = tmp_path / "u"
    ordinary.mkdir()
    (ordinary / "keep.txt").write_text("precious")
    code = run(["tag", str(model), str(NEWS_TEST), "--engine", "dask", "--workers", "1", "-o",
                str(ordinary), "--force"])  # fmt: skip
    err = capsys.readouterr().err
    assert (
        code == 1
        and (
            f"error: {ordinary} is a directory that is not a Dask tagging output (it holds "
            "keep.txt); --force replaces only a directory of part-* files that --engine dask "
            "wrote: choose another path"
        )
        in err
    )
    assert "tagged" not in err and (ordinary / "keep.txt").read_text() == "precious"
    with pytest.raises(OutputError, match=r"u is a directory that is not a Dask tagging output"):
        tag_on_dask(model, [str(NEWS_TEST)], ordinary, overwrite=True)  # before a cluster starts
    assert (ordinary / "keep.txt").read_text() == "precious"
    code = run(["tag", str(model), str(NEWS_TEST), "-t", "parquet"])
    assert code == 2 and "parquet output needs --engine dask" in capsys.readouterr().err


def test_repeated_ids_are_warned_about_as_the_local_engine_does(
    model: Path, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from topicclf.errors import DuplicateIdWarning

    docs = list(open_corpus(NEWS_TEST))[:40]
    corpus = tmp_path / "repeated.jsonl"
    with corpus.open("w", encoding="utf-8") as handle:
        for i, doc in enumerate(docs):
            # The first and the last document share an id: different partitions.
            doc_id = "same" if i in (0, len(docs) - 1) else f"d{i}"
            handle.write(json.dumps({"id": doc_id, "text": doc.text}) + "\n")
    from topicclf.tagging import tag_stream

    said = r"repeated.jsonl: 1 document\(s\) reuse an id seen before \(e.g. 'same'\)"
    with pytest.warns(DuplicateIdWarning, match=said):  # the local engine, for reference
        tag_stream(
            TopicClassifier.load(model), open_corpus(corpus), lambda _: None, source=str(corpus)
        )
    with pytest.warns(DuplicateIdWarning, match=said):
        tag_on_dask(
            model,
            [str(corpus)],
            tmp_path / "out",
            scheduler=scheduler,
            partitions=4,
            min_partition_bytes=1,
        )


def test_every_engine_says_what_a_multiclass_model_ignores(
    tiny_docs: list[Document], scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import tiny_config

    from topicclf.cli import run
    from topicclf.model.thresholds import Rule
    from topicclf.server import ServedModel, ServeOptions, serve_in_thread

    clf = TopicClassifier(config=tiny_config(epochs=2)).fit(
        [d.text for d in tiny_docs], [d.labels[:1] for d in tiny_docs]
    )
    model = clf.save(tmp_path / "one")
    said = (
        "this is a multi-class model: it always gives its one best topic, so top_k, "
        "threshold and fallback settings change nothing"
    )
    corpus = tmp_path / "in.jsonl"
    corpus.write_text('{"id": "a", "text": "rain and wind"}\n', encoding="utf-8")
    assert run(["tag", str(model), str(corpus), "--top-k", "3"]) == 0
    assert f"warning: {said}" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="this is a multi-class model: it always gives"):
        tag_on_dask(model, [str(corpus)], tmp_path / "out", scheduler=scheduler, rule=Rule(top_k=3))
    served = ServedModel("one", model, TopicClassifier.load(model))
    with serve_in_thread({"one": served}, ServeOptions(port=0)) as (host, port):
        import urllib.request

        body = json.dumps({"text": "rain and wind", "top_k": 3}).encode()
        request = urllib.request.Request(f"http://{host}:{port}/tag", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["notes"] == [said]


@pytest.mark.parametrize("change", ["removed", "rewritten"])
def test_a_file_removed_or_changed_after_planning_is_its_bad_record_and_the_rest_is_written(
    model: Path,
    scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    # Before: a removed file failed the whole run after the other parts were tagged, and a
    # shorter file gave its byte ranges past the end no documents, with nothing said.
    import topicclf.tagging.distributed as dask_engine

    docs = list(open_corpus(NEWS_TEST))
    kept, doomed = tmp_path / "kept.jsonl", tmp_path / "doomed.jsonl"
    kept.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs[:20]))
    doomed.write_text(
        "".join(json.dumps({"id": f"x{i}", "text": d.text}) + "\n" for i, d in enumerate(docs))
    )
    planned = dask_engine.plan

    def plan_then_change(*args: object, **kwargs: object) -> list[object]:
        parts = planned(*args, **kwargs)  # type: ignore[arg-type]
        if change == "removed":
            doomed.unlink()
        else:
            doomed.write_text(json.dumps({"id": "new", "text": "oil"}) + "\n")
        return parts

    monkeypatch.setattr(dask_engine, "plan", plan_then_change)
    with pytest.warns(
        UserWarning,
        match=r"doomed\.jsonl: (no such file \(it was removed after "
        r"tag --engine dask cut it|changed after tag --engine dask cut it into "
        r"partitions \(\d[\d,]* bytes then, 29 now\); this partition's documents are not "
        r"tagged: tag the file again)",
    ):
        summary = tag_on_dask(
            model,
            [str(kept), str(doomed)],
            tmp_path / "out",
            scheduler=scheduler,
            partitions=4,
            min_partition_bytes=1,
        )
    rows = list(read_output(tmp_path / "out"))
    assert [r["id"] for r in rows if not r.get("error")] == [d.id for d in docs[:20]]
    failed = [r for r in rows if r.get("error")]
    assert failed and all(r["id"] == "doomed" for r in failed)
    assert summary.bad_records == len(failed)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inputs": str(NEWS_TEST)}, r"^inputs: got a single path \('/.*test.jsonl'\); pass a"),
        ({"overwrite": "no"}, r"^overwrite: expected True or False, not str 'no'$"),
        ({"scores": 1}, r"^scores: expected True or False, not int 1$"),
        ({"partitions": "3"}, r"^partitions: expected an integer, not str '3'$"),
        ({"workers": 0}, r"^workers: must be at least 1, not 0$"),
        ({"bad_records": "ignore"}, r"^bad_records: one of report, skip, stop, not str 'ignore'$"),
        ({"output_format": "csv"}, r"^output_format: one of jsonl, parquet, not str 'csv'$"),
        ({"output": None}, r"^output: expected a path \(a str or pathlib.Path\), not NoneType"),
        ({"rule": {"top_k": 2}}, r"^rule: expected a Rule, not dict"),
        ({"scheduler": 5}, r"^scheduler: expected a str \(an address such as tcp://host:8786\)"),
        ({"options": "x"}, r"^options: expected a CorpusOptions \(topicclf.corpus.Corpus.*not str"),
        ({"progress": "x"}, r"^progress: expected a Progress \(an object with start, advance"),
    ],
)
def test_arguments_are_checked_before_a_cluster_starts(
    model: Path, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    """A single path was read character by character (the first input '/', the root read as
    a text directory); overwrite="no" replaced an output; others failed on the workers."""
    from topicclf.errors import InputError

    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00000.jsonl").write_text("kept\n")
    arguments: dict[str, object] = {"inputs": [str(NEWS_TEST)], "output": out, **change}
    with pytest.raises(InputError, match=message):
        tag_on_dask(model, **arguments)  # type: ignore[arg-type]
    assert (out / "part-00000.jsonl").read_text() == "kept\n"


def test_a_local_cluster_starts_no_more_workers_than_partitions(
    model: Path, tmp_path: Path
) -> None:
    # The cluster started before the input was cut: one line started one worker per core,
    # each loading its own copy of the model.
    one = tmp_path / "one.txt"
    one.write_text("rain and storms all week\n")
    summary = tag_on_dask(model, [str(one)], tmp_path / "out", workers=2)
    assert (summary.partitions, summary.workers, summary.documents) == (1, 1, 1)
    assert [r["id"] for r in read_output(tmp_path / "out")] == ["one:1"]


def test_bad_records_of_inputs_given_by_relative_paths_read_alike_in_both_engines(
    model: Path,
    scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The workers read absolute paths (their working directory is not the caller's); the
    # records name the inputs as given, as plain `tag` does (before: `/tmp/.../ids.jsonl:1:`
    # from the Dask engine, `ids.jsonl:1:` from plain `tag`).
    monkeypatch.chdir(tmp_path)
    long_field = "f" * 2500  # a message cut to config.BAD_RECORD_CHARS: cut at one place
    # (id "c": "b" would repeat td/b.txt's made-up id "b", which plain `tag` warns of and the
    # Dask engine, comparing hashes per partition, does not yet: README says so)
    Path("ids.jsonl").write_text('{"id": 1.5, "text": "a"}\n{"id": "c", "text": "rain"}\n')
    Path("td").mkdir()
    Path("td/a.txt").write_text("rain and wind")
    Path("td/b.txt").write_bytes(b"ab\xff\n")
    for inputs, extra in (
        (["ids.jsonl", "td/"], []),
        (["./ids.jsonl"], ["--text-field", long_field]),
    ):
        common = ["tag", str(model), *inputs, *extra]
        assert run(common) == 1
        plain = capsys.readouterr()
        assert run([*common, "--engine", "dask", "--scheduler", scheduler, "-o", "out"]) == 1
        dask = capsys.readouterr()
        parts = "".join(p.read_text() for p in sorted(Path("out").iterdir()))
        assert parts == plain.out
        errors = [e for e in (json.loads(x).get("error") for x in parts.splitlines()) if e]
        warned = [
            sorted(w for w in e.splitlines() if "warning:" in w) for e in (plain.err, dask.err)
        ]
        assert warned[0] == warned[1] and len(warned[0]) == len(errors)
        assert errors and all(e.startswith((f"{inputs[0]}:", "td/b.txt:")) for e in errors)
        os.rename("out", f"out-{len(extra)}")


def test_whole_input_errors_name_the_input_as_given_in_both_engines(
    model: Path,
    scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Dask engine named the resolved path (`/tmp/.../nope.jsonl: no such file`), a
    link to nothing by its target and a link loop as `internal error: RuntimeError`; plain
    `tag` names each as given (attacker pass 29, names F2)."""
    monkeypatch.chdir(tmp_path)
    Path("dangling.jsonl").symlink_to("moved.jsonl")
    Path("loop.jsonl").symlink_to("loop.jsonl")
    Path("empty").mkdir()
    Path("x.sgm").write_text("no reuters here\n")
    expected = {
        "nope.jsonl": "error: nope.jsonl: no such file or directory",
        "dangling.jsonl": "error: dangling.jsonl: a symbolic link to moved.jsonl, which does not",
        "loop.jsonl": "error: loop.jsonl: a symbolic link loop (ELOOP)",
        "empty/": "error: empty/: cannot tell the corpus format of this directory",
        "./empty": "error: ./empty: cannot tell the corpus format of this directory",
        "x.sgm": "error: x.sgm: not a Reuters-21578 archive; give the format with --format",
    }
    for path, start in expected.items():
        assert run(["tag", str(model), path]) == 1
        plain = capsys.readouterr().err
        assert plain.startswith(start) and len(plain.splitlines()) == 1
        for cluster in (["--workers", "1"], ["--scheduler", scheduler]):
            assert run(["tag", str(model), path, "--engine", "dask", "-o", "out", *cluster]) == 1
            assert capsys.readouterr().err == plain
    assert not Path("out").exists()


REPEATED = (
    '{"id": "a", "text": "rain and wind"}\n{"text": "x", "id": 5.5}\nnot json\n'
    '{"text": "\\ud800 stocks"}\n{"text": "markets fell"}\n'
)


def test_a_file_given_twice_is_two_inputs_in_its_partitions(tmp_path: Path) -> None:
    """Each input is numbered from line 1, however many partitions it is cut into: the
    second input continued the first's numbering (lines past the end of the file)."""
    path = tmp_path / "bad.jsonl"
    path.write_text(REPEATED * 3)
    options = CorpusOptions(on_error="report")
    with pytest.warns(BadRecordWarning, match=r"bad\.jsonl:3: invalid JSON"):
        once = list(open_corpus(path, options=options))
        parts = plan([str(path), str(path)], 6, options, min_bytes=1)
        counts = [count_lines(p, options) for p in parts]
        parts, expected = _number_lines(parts, counts)
        docs = [d for p in parts for d in read_partition(p, options)]
    assert len(parts) > 2 and docs == once + once and expected == 2 * len(once)


@pytest.mark.parametrize("second", ["./bad.jsonl", "bad.jsonl", "absolute"])
def test_a_file_given_twice_is_tagged_and_named_as_plain_tag_does(
    model: Path,
    scheduler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    second: str,
) -> None:
    """The Dask engine numbered the second input on from the first (`bad:6`, `bad.jsonl:7:
    invalid JSON` in a 5-line file), named it by the first spelling, said the repeated ids
    of `bad.jsonl, bad.jsonl` and not the shared `bad:LINE` ids (attacker pass 30, F2)."""
    monkeypatch.chdir(tmp_path)
    Path("bad.jsonl").write_text(REPEATED)
    inputs = ["bad.jsonl", str(tmp_path / "bad.jsonl") if second == "absolute" else second]
    assert run(["tag", str(model), *inputs]) == 1
    plain = capsys.readouterr()
    on_dask = ["--engine", "dask", "--scheduler", scheduler, "-o", "out"]
    assert run(["tag", str(model), *inputs, *on_dask]) == 1
    dask = capsys.readouterr()
    assert "".join(p.read_text() for p in sorted(Path("out").iterdir())) == plain.out
    ids = [json.loads(line)["id"] for line in plain.out.splitlines()]
    assert ids == ["a", "bad:2", "bad:3", "bad:4", "bad:5"] * 2
    assert f'"error": "{inputs[1]}:3: invalid JSON' in plain.out.splitlines()[7]

    def said(err: str) -> list[str]:  # not the Dask engine's own notes (partitions, workers)
        return [line for line in err.splitlines() if line.startswith(("warning:", "error:"))]

    assert said(dask.err) == said(plain.err)
    assert said(plain.err) == [
        f"warning: bad.jsonl and {inputs[1]} both give documents without an id the ids "
        "'bad:LINE'; tag them separately to tell their results apart",
        "warning: bad.jsonl:2: the id field 'id' must be a string or an integer",
        "warning: bad.jsonl:3: invalid JSON (Expecting value)",
        f"warning: {inputs[1]}:2: the id field 'id' must be a string or an integer",
        f"warning: {inputs[1]}:3: invalid JSON (Expecting value)",
        f"warning: bad.jsonl, {inputs[1]}: 1 document(s) reuse an id seen before (e.g. 'a'); "
        "give every document its own id so tags and report rows can be traced back",
    ]
