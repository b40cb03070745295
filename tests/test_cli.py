from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from topicclf.cli import run
from topicclf.corpus import open_corpus

REPO = Path(__file__).parent.parent
NEWS_TRAIN = str(REPO / "corpora/newsbriefs/train.jsonl")
NEWS_TEST = str(REPO / "corpora/newsbriefs/test.jsonl")
# Word features only, as tiny_config: the report tests expect this model's mistakes.
FAST = ["--set", "train.epochs=3", "--set", "network.hidden_units=16"]
FAST += ["--set", "features.char_ngrams=off"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "model"
    assert run(["-q", "train", str(REPO / "tests/data/tiny.jsonl"), "-o", str(path), *FAST]) == 0
    return path


def test_help_lists_commands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("train", "tag", "evaluate", "info", "corpus", "serve"):
        assert command in out
    for command in ("train", "tag", "evaluate", "info", "explain", "optimize"):
        code, out, _ = cli(capsys, command, "-h")
        assert code == 0 and "Examples:" in out
        examples = out[out.index("Examples:") :].splitlines()
        # One example per line, never two run together.
        assert sum(line.strip().startswith("topicclf " + command) for line in examples) >= 1
        # Types read as users read them: no Python type names.
        assert "<bool>" not in out and "list[str]" not in out and "<path>" not in out
    code, out, _ = cli(capsys, "corpus", "stats", "--help")
    assert code == 0 and "topicclf corpus stats corpora/" in out
    code, out, _ = cli(capsys, "tag", "--help")
    assert "--jobs" in out and "Dask engine" in out and "--scheduler" in out
    assert "echo 'Oil prices rose' | topicclf tag" in out


def test_backslashreplace_tags_json_lines_records_with_bad_bytes(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    # backslashreplace wrote \xff into the JSON source, which JSON refuses: every record with
    # a bad byte in a string was "invalid JSON (Invalid \escape)", exit 1, and the help said
    # to use replace instead.
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id":"a\xff","text":"rain and wind \xff storm"}\n{"id":"b","text":"oil"}\n')
    code, out, err = cli(
        capsys, "tag", str(model_dir), str(path), "--encoding-errors", "backslashreplace"
    )
    assert code == 0 and err == ""
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a\\xff", "b"]
    code, out, _ = cli(capsys, "tag", "--help")
    flat = " ".join(out.replace("│", " ").split())
    assert code == 0 and "backslashreplace (as the text \\xe9, in JSON Lines strings too)" in flat


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from topicclf import __version__

    assert cli(capsys, "--version") == (0, f"topicclf {__version__}\n", "")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "train")
    assert code == 2 and "Missing argument 'CORPUS'" in err and out == ""
    code, _, err = cli(capsys, "train", NEWS_TRAIN, "-o", "x", "--network", "rnn")
    assert code == 2 and "Invalid value for '--network'" in err
    code, _, err = cli(capsys, "evaluate", "m", NEWS_TEST, "--fail-under", "micro=0.5")
    assert code == 2 and "unknown metric 'micro'" in err
    code, _, err = cli(capsys, "evaluate", "m", NEWS_TEST, "--fail-under", "micro_f1")
    assert code == 2 and "expected METRIC=VALUE" in err


def test_domain_errors_exit_1_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model_dir: Path
) -> None:
    code, out, err = cli(capsys, "train", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "m"))
    assert (code, out) == (1, "") and "error: " in err and "no such file or directory" in err
    assert "Traceback" not in err
    code, _, err = cli(capsys, "train", NEWS_TRAIN, "-o", str(model_dir))
    assert code == 1 and "already exists; choose another path or add --force" in err
    code, _, err = cli(
        capsys, "train", NEWS_TRAIN, "-o", str(tmp_path / "m"), "--set", "train.sed=1"
    )
    assert code == 1 and "unknown key train.sed" in err
    code, _, err = cli(capsys, "info", str(tmp_path))
    assert code == 1 and "manifest.json is missing" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "labels": ["x"]}\nnot json\n')
    code, _, err = cli(capsys, "corpus", "stats", str(bad))
    assert code == 1 and "bad.jsonl:2: invalid JSON" in err


def _jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


_SOME = [{"text": f"text number {i}", "labels": ["a" if i % 2 else "b"]} for i in range(8)]

# (case, file name, file content, extra arguments, the message the user sees)
BAD_INPUTS = [
    ("missing path", None, None, [], r"nope\.jsonl: no such file or directory"),
    ("empty file", "c.jsonl", "", [], r"c\.jsonl: no documents found \(the file is empty"),
    ("blank lines only", "c.jsonl", "\n  \n", [], r"no documents found"),
    (
        "no labels",
        "c.jsonl",
        _jsonl({"text": "a b"}, {"text": "c d"}),
        [],
        r"no document has a topic; is the topics field named .labels.\? \(--labels-field",
    ),
    (
        "only one topic",
        "c.jsonl",
        _jsonl({"text": "a b", "labels": ["x"]}, {"text": "c d"}),
        [],
        r"at least two topics, found 1 \(x\)",
    ),
    (
        "same topics everywhere",
        "c.jsonl",
        _jsonl(*({"text": f"t {i}", "labels": ["x", "y"]} for i in range(6))),
        [],
        r"every training document has the same topics \(x, y\)",
    ),
    (
        "invalid UTF-8",
        "c.jsonl",
        b'{"text": "caf\xe9", "labels": ["a"]}\n',
        [],
        r"c\.jsonl:1: cannot decode the text as utf-8 .*--encoding latin-1.*--encoding-errors",
    ),
    (
        "binary file",
        "c.jsonl",
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        [],
        r"looks like a binary",
    ),
    (
        "malformed JSON line",
        "c.jsonl",
        _jsonl(*_SOME) + '{"text": "x"\n',
        [],
        r"c\.jsonl:9: invalid JSON",
    ),
    (
        "missing text field",
        "c.jsonl",
        _jsonl({"body": "x", "labels": ["a"]}),
        [],
        r"c\.jsonl:1: the text field 'text' is missing \(name the field with --text-field",
    ),
    (
        "non-string text",
        "c.jsonl",
        _jsonl({"text": 3, "labels": ["a"]}),
        [],
        r"the text field 'text' is a int, not a string",
    ),
    (
        "labels not a list",
        "c.jsonl",
        _jsonl({"text": "x", "labels": "a"}),
        [],
        r"c\.jsonl:1: the labels field 'labels' must be a list of strings",
    ),
    (
        "CSV without the text column",
        "c.csv",
        "id,body,labels\n1,x,a\n",
        [],
        r"c\.csv:1: no 'text' column in the header \(found: id, body, labels\)",
    ),
    (
        "ragged CSV row",
        "c.csv",
        "id,text,labels\n1,x,a\n2,y\n",
        [],
        r"c\.csv:3: expected 3 fields as in the header, found 2",
    ),
    (
        "CSV header repeating a column",
        "c.csv",
        "text,labels,text\nx,a,y\n",
        [],
        r"c\.csv:1: the header repeats the column 'text' \(columns 1, 3\); give each column",
    ),
    ("empty Parquet file", "c.parquet", b"", [], r"c\.parquet: an empty file \(0 bytes\)"),
    (
        "damaged Parquet file",
        "c.parquet",
        b"PAR1" + bytes(40) + b"PAR1",
        [],
        r"c\.parquet: not a readable Parquet file",
    ),
    ("directory given as a file", ".", None, ["--format", "jsonl"], r"is a directory"),
    ("file given as a directory", "c.jsonl", "{}\n", ["--format", "txtdir"], r"not a directory"),
    (
        "topic name too long",
        "c.jsonl",
        _jsonl(*_SOME, {"text": "x", "labels": ["a", "z" * 5000]}),
        [],
        r"c\.jsonl:9: a topic name of 5,000 characters \('z+'\.\.\.\), more than the 1,000",
    ),
    (
        "config: unknown key",
        "c.jsonl",
        _jsonl(*_SOME),
        ["--config", "CONFIG:[train]\nepoch = 3\n"],
        r"cfg\.toml: unknown key train\.epoch; valid keys in \[train\]: mode, epochs",
    ),
    (
        "config: wrong type",
        "c.jsonl",
        _jsonl(*_SOME),
        ["--config", 'CONFIG:[train]\nepochs = "ten"\n'],
        r"cfg\.toml: train\.epochs = 'ten' is not an integer",
    ),
    (
        "config: a 5,000-digit integer",  # was internal error: ValueError (int's digit limit)
        "c.jsonl",
        _jsonl(*_SOME),
        ["--config", "CONFIG:[train]\nepochs = " + "9" * 5000 + "\n"],
        r"cfg\.toml: invalid TOML: an integer of more than 4,300 digits; no setting takes",
    ),
    (
        "config: a 5,000-digit hex integer",  # read by TOML, then repr() refused it
        "c.jsonl",
        _jsonl(*_SOME),
        ["--config", "CONFIG:[train]\nepochs = 0x" + "f" * 5000 + "\n"],
        r"cfg\.toml: train\.epochs = <an integer of more than 4,300 digits> must be between",
    ),
    (
        "--set: bad value",
        "c.jsonl",
        _jsonl(*_SOME),
        ["--set", "network.dropout=2"],
        r"--set: network\.dropout = 2\.0 must be at least 0 and less than 1",
    ),
    (
        "--set: not key=value",
        "c.jsonl",
        _jsonl(*_SOME),
        ["--set", "train.epochs"],
        r"expected section\.key=value",
    ),
    (
        "--set: an empty list value",  # trained a network of no hidden layer, exit 0
        "c.jsonl",
        _jsonl(*_SOME),
        ["--set", "network.hidden_units="],
        r"^error: --set: network\.hidden_units = '' is not a list of integers separated by "
        r"single commas, e\.g\. 512,256 or \[512, 256\] \(\[\] for none\)$",
    ),
    (
        "--set: a malformed list",  # read as [64]
        "c.jsonl",
        _jsonl(*_SOME),
        ["--set", "network.hidden_units=((64"],
        r"^error: --set: network\.hidden_units = '\(\(64' is not a list of integers",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_one_clear_error_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str | None,
    content: str | bytes | None,
    extra: list[str],
    message: str,
) -> None:
    corpus = tmp_path / (name or "nope.jsonl")
    if isinstance(content, bytes):
        corpus.write_bytes(content)
    elif content is not None:
        corpus.write_text(content, encoding="utf-8")
    args = []
    for arg in extra:
        if arg.startswith("CONFIG:"):
            (tmp_path / "cfg.toml").write_text(arg.removeprefix("CONFIG:"))
            arg = str(tmp_path / "cfg.toml")
        args.append(arg)
    code, out, err = cli(capsys, "train", str(corpus), "-o", str(tmp_path / "m"), *args)
    assert (code, out) == (1, "")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, " ".join(err.split())), err
    assert "Traceback" not in err and not (tmp_path / "m").exists()


def test_unreadable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "locked.jsonl"
    corpus.write_text(_jsonl(*_SOME))
    corpus.chmod(0)
    if os.access(corpus, os.R_OK):  # root reads anything: have the OS refusal happen anyway
        real_open = open

        def refuse(file: object, *args: object, **kwargs: object) -> object:
            if str(file) == str(corpus):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr("builtins.open", refuse)
        monkeypatch.setattr(Path, "open", lambda self, *a, **k: refuse(self, *a, **k))
    code, _, err = cli(capsys, "train", str(corpus), "-o", str(tmp_path / "m"))
    assert code == 1 and re.search(r"locked\.jsonl: permission denied", err)


def test_huge_document_and_long_stdin_line_are_tagged(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = ["rain", "storm", "goal", "match", "bread", "cheese", "shares", "prices"]
    big = " ".join(words[i % len(words)] + str(i % 9973) for i in range(5_000_000))
    assert len(big) > 50_000_000
    path = tmp_path / "big.jsonl"
    path.write_text(_jsonl({"id": "big", "text": big}, {"id": "small", "text": "rain"}))
    # --top-k 1: the document is read and scored (an empty text would get no topic);
    # whether four topics' evenly mixed words pass a threshold depends on the model.
    code, out, _ = cli(capsys, "tag", str(model_dir), str(path), "--top-k", "1")
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == ["big", "small"]
    assert json.loads(out.splitlines()[0])["labels"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(big[:20_000_000] + "\nshort line\n"))
    code, out, _ = cli(capsys, "tag", str(model_dir), "-")
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == ["stdin:1", "stdin:2"]


def test_empty_input_to_tag_is_a_warning_not_an_error(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    code, out, err = cli(capsys, "tag", str(model_dir), str(tmp_path / "empty.jsonl"))
    assert (code, out) == (0, "")
    assert re.search(r"warning: no documents in .*empty\.jsonl; nothing to tag", err)


def test_corpus_stats_and_convert_warn_about_an_empty_corpus_as_tag_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty, header = tmp_path / "empty.jsonl", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("id,text,labels\n")
    code, out, err = cli(capsys, "corpus", "stats", str(empty), "--json")
    assert code == 0 and json.loads(out)["documents"] == 0
    assert re.search(r"warning: no documents in .*empty\.jsonl; nothing to count", err)
    for source, target in ((empty, "e.csv"), (header, "h.jsonl")):
        code, _, err = cli(capsys, "corpus", "convert", str(source), str(tmp_path / target))
        assert code == 0 and (tmp_path / target).exists()
        said = rf"warning: no documents in .*{source.name}; nothing to convert\n.*wrote 0"
        assert re.search(said, err, re.DOTALL)


def test_corpus_convert_warns_about_repeated_ids_as_tag_does(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "text": "rain", "labels": ["x"]}) + "\n" for i in "aab")
    )
    _, _, tagged = cli(capsys, "tag", str(model_dir), str(path))
    code, _, err = cli(capsys, "corpus", "convert", str(path), str(tmp_path / "out.csv"))
    said = "dup.jsonl: 1 document(s) reuse an id seen before (e.g. 'a'); give every document"
    assert code == 0 and said in err and said in tagged
    assert (tmp_path / "out.csv").read_text().count("\na,") == 2  # converted as it is
    # evaluate reads the corpus (warned of by its path) and hands it to the classifier's
    # evaluate, which warns of repeated ids too: said once.
    _, _, err = cli(capsys, "evaluate", str(model_dir), str(path))
    assert err.count("reuse an id") == 1 and said in err


def test_duplicate_ids_are_tagged_and_reported(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text(
        _jsonl(
            *(
                {"id": f"d{i % 3}", "text": "rain and goals", "labels": ["weather"]}
                for i in range(7)
            )
        )
    )
    code, out, err = cli(capsys, "tag", str(model_dir), str(path))
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == [
        f"d{i % 3}" for i in range(7)
    ]
    assert re.search(
        r"dup\.jsonl: 4 document\(s\) reuse an id seen before \(e\.g\. 'd0', 'd1',", err
    )
    code, _, err = cli(capsys, "evaluate", str(model_dir), str(path))
    assert code == 0 and "4 document(s) reuse an id" in err
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("rain\n")
    (tmp_path / "x.txt").write_text("goal\n")
    code, out, err = cli(
        capsys, "tag", str(model_dir), str(tmp_path / "a/x.txt"), str(tmp_path / "x.txt")
    )
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == ["x:1", "x:1"]
    assert "both give documents without an id the ids 'x:LINE'" in " ".join(err.split())


def test_train_summary_and_progress(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A path longer than any terminal line: it must stay on one line to be copied or parsed.
    target = tmp_path / ("a-model-directory-with-a-long-name-" * 3) / "m"
    code, out, err = cli(capsys, "train", NEWS_TRAIN, "-o", str(target), *FAST, "--seed", "3")
    assert code == 0
    assert "trained a dense multilabel model on 280 documents (10 topics)" in out
    assert "validation (28 documents): micro-F1" in out and f"model saved to {target}" in out
    assert "vectorizing" in err and "epoch 1/3" in err  # progress on stderr, plain lines
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["config"]["train"]["seed"] == 3
    embedding = tmp_path / "e"
    code, out, _ = cli(capsys, "train", str(REPO / "tests/data/tiny.jsonl"), "-o", str(embedding),
                       "--network", "embedding", *FAST)  # fmt: skip
    assert code == 0 and "trained an embedding multilabel model" in out
    code, out, err = cli(capsys, "-q", "train", NEWS_TRAIN, "-o", str(target), *FAST, "--force")
    assert code == 0 and err == ""


def test_tag_jsonl_csv_and_overrides(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import topicclf.corpus

    monkeypatch.setattr(topicclf.corpus, "_NOTED_LINES", set())  # the note is once a process
    code, out, err = cli(
        capsys, "tag", str(model_dir), str(data_dir / "unlabelled.txt"), "--scores"
    )
    assert code == 0 and err == (
        "warning: unlabelled.txt is read as one document per line; to read each file as one "
        "document, give --format text (format='text' in Python)\n"
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == [f"unlabelled:{i}" for i in range(1, 5)]
    assert rows[2] == {"id": "unlabelled:3", "labels": [], "scores": {}}  # blank line kept
    assert set(rows[0]["scores"]) == set(rows[0]["labels"])
    code, out, _ = cli(capsys, "tag", str(model_dir), str(data_dir / "tiny.csv"), "--top-k", "2")
    assert all(len(json.loads(line)["labels"]) == 2 for line in out.splitlines())
    target = tmp_path / "tags.csv"
    code, out, err = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(target)
    )
    assert code == 0 and out == "" and "written to" in err
    lines = target.read_text().splitlines()
    assert lines[0] == "id,labels,error" and len(lines) == 41 and lines[1].startswith("t01,")
    code, out, _ = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "--threshold", "1.0"
    )
    assert all(json.loads(line)["labels"] == [] for line in out.splitlines())


def test_evaluate_outputs_and_gate(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    md, js, cs = tmp_path / "r.md", tmp_path / "r.json", tmp_path / "r.csv"
    code, out, _ = cli(
        capsys,
        "evaluate",
        str(model_dir),
        str(data_dir / "tiny.jsonl"),
        "-o",
        str(md),
        "-o",
        str(js),
        "-o",
        str(cs),
    )
    assert code == 0
    assert "micro" in out and "per topic" in out and "sport" in out
    data = json.loads(js.read_text())
    assert data["schema_version"] == 1 and data["n_documents"] == 40
    # P@1/R@1 and P@3/R@3 (fastText's `test` figures) in the summary table, before the topics.
    p1, r1 = data["ranking"]["precision@1"], data["ranking"]["recall@1"]
    assert re.search(rf"best 1 \(P@1, R@1\)\s*│\s*{p1:.4f}\s*│\s*{r1:.4f}", out)
    assert out.index("best 3 (P@3, R@3)") < out.index("per topic")
    # Every ranking figure below the tables, a few to a line; no line wider than a terminal.
    for name, value in data["ranking"].items():
        assert f"{name} {value:.4f}" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "| topic | precision | recall | F1 | support |" in md.read_text()
    # What was evaluated, with paths as a reader of a shared report should see them.
    expected = "corpus: tiny.jsonl (jsonl)"
    if Path.cwd() in data_dir.parents:
        expected = f"corpus: {data_dir.relative_to(Path.cwd()).as_posix()}/tiny.jsonl (jsonl)"
    assert f"- {expected}" in md.read_text()
    assert "- model: model (dense, multilabel, 4 topics)" in md.read_text()
    assert str(tmp_path) not in md.read_text() and str(tmp_path) not in js.read_text()
    assert cs.read_text().splitlines()[0].startswith("topic,precision,recall,f1,support")
    # A multi-label model has no accuracy: said before the corpus is read (pass 46: it was
    # scored whole, then exit 3), so a corpus that cannot be read is not reached.
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    code, _, err = cli(
        capsys, "evaluate", str(model_dir), str(broken), "--fail-under", "accuracy=0.5"
    )
    flat = " ".join(err.replace("│", " ").split())
    assert code == 2 and "accuracy is measured only for a multi-class model" in flat, flat
    assert "not JSON" not in flat and "invalid JSON" not in flat
    code, _, _ = cli(
        capsys,
        "evaluate",
        str(model_dir),
        str(data_dir / "tiny.jsonl"),
        "--fail-under",
        "micro_f1=0.0",
        "--fail-under",
        "hamming_loss=1.0",
    )
    assert code == 0


def test_a_fail_under_value_outside_0_1_is_a_usage_error_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Before: micro_f1=5 scored the corpus, then failed a gate that could never be met;
    # micro_f1=-5 could never fail; 1_0 was read as 10 and Arabic-Indic digits as 0.5.
    cases = {
        "micro_f1=5": "the value must be between 0 and 1, as micro_f1 is",
        "hamming_loss=-0.5": "the value must be between 0 and 1, as hamming_loss is",
        "micro_f1=1_0": "the value must be between 0 and 1",
        "micro_f1=\u0660.\u0665": "write the value as a plain decimal number",
        "micro_f1=5e-1": "write the value as a plain decimal number",
        "coverage_error=-1": "the value must be 0 or more, as coverage_error is",
    }
    for gate, message in cases.items():
        # A model and corpus that do not exist: refused before either is looked at.
        code, _, err = cli(capsys, "evaluate", "nope", "nope.jsonl", "--fail-under", gate)
        assert code == 2 and message in " ".join(err.split()), gate
        assert "nope" not in err.replace("'nope", "")


def test_a_long_unknown_gate_metric_is_cut_and_keeps_the_metrics_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Pass 46: the whole message was cut at 2,000 characters, counted as 200,551 (the name
    # echoed twice), and the list of metrics was lost.
    code, _, err = cli(
        capsys, "evaluate", "nope", "nope.jsonl", "--fail-under", "x" * 100_000 + "=0.5"
    )
    flat = " ".join(err.replace("│", " ").split())
    assert code == 2 and "(100,006 characters): unknown metric" in flat, flat
    assert "choose one of: micro_precision," in flat and "200," not in flat


def test_a_metric_gated_twice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # Pass 46: both gates were applied without a word; an output given twice is refused.
    gates = ["--fail-under", "micro_f1=0.1", "--fail-under", "micro_f1 = 0.99"]
    code, _, err = cli(capsys, "evaluate", "nope", "nope.jsonl", *gates)
    flat = " ".join(err.replace("│", " ").split())
    assert code == 2 and "micro_f1 is gated twice (0.1 and 0.99); give each metric once" in flat


def test_info(capsys: pytest.CaptureFixture[str], model_dir: Path) -> None:
    code, out, _ = cli(capsys, "info", str(model_dir), "--json")
    assert code == 0
    details = json.loads(out)
    assert details["mode"] == "multilabel" and details["topics"].startswith("4: food, markets")
    assert re.fullmatch(
        r"0(\.\d+)? of a linear SVM's calibrated scores \(C=1\.0\), chosen on validation",
        details["linear blend"],
    )
    assert "threshold_curve" not in details["training"]
    assert "TF-IDF terms (word 1-2-grams" in details["features"]
    code, out, _ = cli(capsys, "info", str(model_dir))
    assert code == 0 and "versions (installed)" in out
    # No Python dicts or reprs (possessives such as "SVM's" and "language's" are words).
    assert "{" not in out and "'" not in re.sub(r"\w's\b", "", out)
    assert "stage seconds" in out and "vectorizing" in out  # where training's time went


def test_info_names_what_a_path_that_is_no_directory_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A FIFO or /dev/null was "a file" (pass 47), where every other command names it."""
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    plain = tmp_path / "f.txt"
    plain.write_text("x")
    for path, kind in ((fifo, "a named pipe"), (Path("/dev/null"), "a character device")):
        code, _, err = cli(capsys, "info", str(path))
        assert code == 1 and err == f"error: {path}: not a model directory (it is {kind})\n"
    code, _, err = cli(capsys, "info", str(plain))
    assert err == f"error: {plain}: not a model directory (it is a file)\n"


def test_info_verify_checks_every_file(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    code, out, _ = cli(capsys, "info", "--verify", str(model_dir))
    assert code == 0 and re.search(r"weights\.safetensors\s+.\s*OK", out)
    code, out, _ = cli(capsys, "info", "--verify", "--json", str(model_dir))
    report = json.loads(out)
    files = report["files"]
    assert code == 0 and report["mismatched"] == [] and files["weights.safetensors"] == "OK"
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    data = (broken / "weights.safetensors").read_bytes()
    (broken / "weights.safetensors").write_bytes(data[: len(data) // 2])
    code, out, err = cli(capsys, "info", "--verify", str(broken))
    assert code == 1 and "size differs" in out and "Traceback" not in err
    expected = f"error: {broken}: files that do not match the manifest: weights.safetensors"
    assert err.strip() == expected
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["format_version"] = True
    (broken / "manifest.json").write_text(json.dumps(manifest))
    for command in ("info", "tag"):
        code, _, err = cli(capsys, command, str(broken), *(["-"] if command == "tag" else []))
        assert code == 1 and "Traceback" not in err
        assert "manifest.json: field 'format_version' must be a positive integer, not True" in err
    manifest["format_version"] = 1  # as topicclf 0.1 wrote it: no file records
    del manifest["files"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    code, out, _ = cli(capsys, "info", "--verify", str(broken))
    assert code == 0 and "records no file hashes, so there is nothing to verify" in out


def test_corpus_stats_count_bad_records_and_exit_1_as_tag_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Before: `error: c.jsonl:2: 2,000 topics in one document ...`, and no figures at all.
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"text": "rain today", "labels": ["weather"]}) + "\n"
        + json.dumps({"text": "oil", "labels": [f"t{i}" for i in range(2000)]}) + "\n"
        + json.dumps({"text": "the match", "labels": ["sport"]}) + "\n"
    )  # fmt: skip
    code, out, err = cli(capsys, "corpus", "stats", str(corpus), "--json")
    figures = json.loads(out)
    assert code == 1 and (figures["documents"], figures["bad_records"]) == (2, 1)
    flat = " ".join(err.split())
    assert f"warning: {corpus}:2: 2,000 topics in one document, more than the 1,000" in flat
    assert "1 record(s) could not be read (not counted)" in flat and "error:" not in err
    code, out, _ = cli(capsys, "corpus", "stats", str(corpus))
    assert code == 1 and re.search(r"bad records \(not counted\)\s*│\s*1 ", out)


def test_a_named_pipe_in_a_parquet_directory_is_a_bad_record_of_tag_and_stats(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model_dir: Path
) -> None:
    # Before: both commands hung in pyarrow's open() of the pipe, deaf to SIGTERM.
    from conftest import unblock_fifo

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"id": ["d1"], "text": ["rain today"]}), tmp_path / "a.parquet")
    os.mkfifo(tmp_path / "b.parquet")
    pipe = f"warning: {tmp_path}/b.parquet: a named pipe, not a regular file; the parquet"
    for args in (("tag", str(model_dir)), ("corpus", "stats", "--json")):
        unblock_fifo(tmp_path / "b.parquet")
        code, out, err = cli(capsys, *args, str(tmp_path))
        assert code == 1 and pipe in " ".join(err.split()) and "error:" not in err
        assert "1 record(s) could not be read" in err
        if args[0] == "tag":
            assert [json.loads(line)["id"] for line in out.splitlines()] == ["d1", "b"]
        else:
            assert (json.loads(out)["documents"], json.loads(out)["bad_records"]) == (1, 1)


def test_corpus_stats_and_convert(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "corpus", "stats", NEWS_TRAIN, "--json")
    stats = json.loads(out)
    assert code == 0 and stats["documents"] == 280 and stats["topics"] == 10
    target = tmp_path / "news.ft"
    code, _, err = cli(capsys, "corpus", "convert", NEWS_TEST, str(target))
    assert code == 0 and "wrote 80 documents" in err
    assert target.read_text().startswith("__label__")
    code, _, err = cli(capsys, "corpus", "convert", NEWS_TEST, str(tmp_path / "x.xml"))
    assert code == 2 and "give --to" in err


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["corpus", "stats", "reuters:bogus"], "split 'bogus'"),
        (["corpus", "stats", "reuters:modapte-test", "--categories", "bogus"], "category field"),
        (["corpus", "stats", "{tiny}", "--split", "bogus"], "split 'bogus'"),
        (["corpus", "convert", "reuters:bogus", "{out}"], "split 'bogus'"),
        (["corpus", "convert", "reuters:all", "{out}", "--categories", "bogus"], "category field"),
        (["train", "reuters:bogus", "-o", "{out}"], "split 'bogus'"),
        (["evaluate", "{model}", "reuters:bogus"], "split 'bogus'"),
        (["tag", "{model}", "{tiny}", "reuters:bogus"], "split 'bogus'"),
    ],
)
def test_an_unknown_reuters_split_or_category_is_a_usage_error_before_any_work(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    tmp_path: Path,
    command: list[str],
    said: str,
) -> None:
    # No archive there: the value is refused before anything is opened (before: `train`
    # said so at its first read, `corpus stats` counted it as a bad record, exit 1 with a
    # table of zeros, and `tag` wrote an `error` record).
    monkeypatch.setenv("TOPICCLF_REUTERS", str(tmp_path / "nowhere.tar.gz"))
    out = tmp_path / "out.jsonl"
    tiny = str(REPO / "tests/data/tiny.jsonl")
    args = [a.format(tiny=tiny, out=out, model=model_dir) for a in command]
    code, stdout, err = cli(capsys, *args)
    assert (code, stdout) == (2, "")
    assert re.search(rf"Invalid value: unknown Reuters {said}.*; choose one of: ", err)
    assert "bad record" not in err and not out.exists()


def test_reuters_shortcut_needs_the_environment_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOPICCLF_REUTERS", raising=False)
    code, _, err = cli(capsys, "corpus", "stats", "reuters:modapte-test")
    assert code == 1 and "set TOPICCLF_REUTERS" in err


@pytest.mark.slow
def test_reuters_through_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, reuters_path: Path
) -> None:
    monkeypatch.setenv("TOPICCLF_REUTERS", str(reuters_path))
    code, out, _ = cli(capsys, "corpus", "stats", "reuters:modapte-test", "--json")
    assert code == 0 and json.loads(out)["documents"] == 3019


def _installed_topicclf() -> str:
    exe = Path(sys.executable).parent / "topicclf"
    if not exe.exists():
        pytest.skip("the topicclf console script is not installed in this environment")
    return str(exe)


@pytest.mark.parametrize("fmt", ["lines", "text", "jsonl", "csv", "fasttext"])
def test_endless_nul_bytes_are_a_binary_source_not_a_memory_error(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    # Each of these read /dev/zero as one endless line until "internal error: MemoryError".
    code, out, err = cli(capsys, "tag", str(model_dir), "/dev/zero", "-f", fmt)
    assert code == 1 and "internal error" not in err
    assert re.search(r"/dev/zero: looks like a binary file \(it contains NUL bytes\)", err)
    with open("/dev/zero", "rb") as zeros:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(zeros))
        code, out, err = cli(capsys, "tag", str(model_dir), "-", "-f", fmt)
        assert code == 1 and re.search(r"-: looks like a binary file", err)
        code, out, err = cli(capsys, "train", "-", "-f", fmt, "-o", str(tmp_path / "m"))
    assert (code, out) == (1, "")
    assert re.search(r"^error: -: looks like a binary file", err, flags=re.M), err


def test_a_line_over_the_record_limit_is_tagged_as_a_bad_record(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from topicclf import config

    monkeypatch.setattr(config, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "' + "rain " * 300 + '"}\n{"text": "rain"}\n')
    code, out, err = cli(capsys, "tag", str(model_dir), str(path))
    assert code == 1 and [json.loads(x)["id"] for x in out.splitlines()] == ["c:1", "c:2"]
    assert re.search(r"c\.jsonl:1: the record is 1,513 bytes long, more than the 1,000", err)


def test_a_corpus_of_two_texts_each_ten_times_trains(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Each text is its own near-duplicate group; the validation split was left empty and
    # training ended in "internal error: ValueError: zero-size array ... minimum".
    records = [{"text": "oil prices rose", "labels": ["a"]}] * 10
    records += [{"text": "rain today", "labels": ["b"]}] * 10
    corpus = tmp_path / "dup.jsonl"
    corpus.write_text(_jsonl(*records))
    code, out, err = cli(capsys, "train", str(corpus), "-o", str(tmp_path / "m"))
    assert code == 0 and "model saved to" in out, err
    assert "only 2 groups of near-duplicates, too few" in " ".join(err.split())
    code, out, _ = cli(capsys, "tag", str(tmp_path / "m"), str(corpus))
    tags = [json.loads(line)["labels"] for line in out.splitlines()]
    assert code == 0 and tags == [["a"]] * 10 + [["b"]] * 10


def test_installed_command_end_to_end(tmp_path: Path) -> None:
    exe = _installed_topicclf()
    model = tmp_path / "model"
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run(
        [exe, "train", NEWS_TRAIN, "-o", str(model), *FAST],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "model saved to" in done.stdout
    # TensorFlow's start-up noise must not reach the terminal.
    for noise in ("cudart", "absl", "oneDNN", "TF_ENABLE_ONEDNN_OPTS"):
        assert noise not in done.stderr
    tagged = subprocess.run(
        [exe, "tag", str(model), "-"],
        input="Voters backed the new stadium plan.\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert tagged.returncode == 0 and tagged.stderr == ""
    assert json.loads(tagged.stdout)["id"] == "stdin:1"


def test_cli_import_does_not_load_tensorflow() -> None:
    # Nor scipy's graph module (85 ms of start-up, needed only to group near-duplicates
    # while training).
    code = (
        "import sys, topicclf.cli; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'sklearn' in sys.modules, "
        "'scipy.sparse.csgraph' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "False", "False"]


def test_info_and_stats_do_not_load_tensorflow(model_dir: Path) -> None:
    code = (
        "import sys\n"
        "from topicclf.cli import run\n"
        f"assert run(['info', {str(model_dir)!r}]) == 0\n"
        f"assert run(['corpus', 'stats', {NEWS_TRAIN!r}]) == 0\n"
        "print('tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_train_runs_with_stderr_closed(tmp_path: Path) -> None:
    # `topicclf train ... 2>&-` (cron, daemons): Python then has no sys.stderr at all, and
    # hiding TensorFlow's start-up logs must not need one.
    model = tmp_path / "model"
    done = subprocess.run(
        [sys.executable, "-m", "topicclf", "train", str(REPO / "tests/data/tiny.jsonl")]
        + ["-o", str(model), *FAST],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
        preexec_fn=lambda: os.close(2),  # in the child only
    )
    assert done.returncode == 0
    assert "model saved to" in done.stdout and (model / "manifest.json").exists()


def test_tag_does_not_import_scikit_learn(model_dir: Path, tmp_path: Path) -> None:
    # Its import takes seconds: a tagger starts without it (numpy and the saved arrays).
    out = tmp_path / "tags.jsonl"
    code = (
        "import sys\n"
        "from topicclf.cli import run\n"
        f"assert run(['tag', {str(model_dir)!r}, {NEWS_TEST!r}, '-o', {str(out)!r}]) == 0\n"
        "print('sklearn' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"
    assert len(out.read_text().splitlines()) == len(list(open_corpus(NEWS_TEST)))


def test_explain_prints_words_for_character_ngrams(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = tmp_path / "chars"
    tiny = str(REPO / "tests/data/tiny.jsonl")
    args = ["-q", "train", tiny, "-o", str(model), "--set", "train.epochs=3"]
    assert cli(capsys, *args, "--set", "features.char_ngrams=on")[0] == 0
    code, out, _ = cli(capsys, "info", str(model), "--json")
    assert code == 0 and "character 3-5-grams inside words" in json.loads(out)["features"]
    code, out, _ = cli(capsys, "explain", str(model), "The striker scored in the final.")
    # Character n-grams are folded into their words: the table shows words.
    assert code == 0 and "striker" in out and not re.search(r"\[_?[a-z]{1,4}_?\]", out), out
    code, out, _ = cli(capsys, "explain", str(model), "The striker scored.", "--json")
    terms = [t for topic in json.loads(out)[0]["topics"] for t, _ in topic["up"] + topic["down"]]
    assert terms and not any(t.startswith("[") for t in terms)


def test_explain_command(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    code, out, _ = cli(
        capsys, "explain", str(model_dir), "The striker scored in the final.", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert [d["id"] for d in data] == ["text"]
    assert data[0]["topics"] and {"topic", "score", "up", "down"} <= set(data[0]["topics"][0])
    # A file is read as tag reads it: one document per line, or whole with --format text.
    doc = tmp_path / "doc.txt"
    doc.write_text("Rain and wind battered the coast.\nThe striker scored.\n")
    code, out, _ = cli(capsys, "explain", str(model_dir), str(doc), "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)] == ["doc:1", "doc:2"]
    code, out, _ = cli(capsys, "explain", str(model_dir), str(doc), "--format", "text", "--json")
    assert code == 0 and [d["id"] for d in json.loads(out)] == ["doc"]
    code, out, _ = cli(capsys, "tag", str(model_dir), str(doc), "--format", "text")
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["doc"]
    code, out, _ = cli(capsys, "explain", str(model_dir), str(doc))
    assert code == 0 and "raised by" in out and "doc:2" in out
    code, _, err = cli(capsys, "explain", str(model_dir), str(tmp_path / "typo.txt"))
    assert code == 2 and "typo.txt: no such file or directory" in err
    code, out, _ = cli(capsys, "explain", str(model_dir), "", "--json")
    assert code == 0 and json.loads(out) == [{"id": "text", "topics": []}]


def test_explain_takes_what_no_file_can_be_named_as_text(
    capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    # Before: "error: File name too long" for a word, or a sentence without a slash, of over
    # 255 characters, as if it were a path.
    for text in ("x" * 300, "x" * 300 + ".txt", "the striker scored in the final " * 10):
        code, out, err = cli(capsys, "explain", str(model_dir), text, "--json")
        assert code == 0 and err == "" and [d["id"] for d in json.loads(out)] == ["text"]


def test_evaluate_html_and_report_compare(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    page, a = tmp_path / "r.html", tmp_path / "a.json"
    code, _, err = cli(
        capsys,
        "evaluate",
        str(model_dir),
        str(data_dir / "tiny.jsonl"),
        "-o",
        str(page),
        "-o",
        str(a),
    )
    assert code == 0 and f"report written to {page}" in err
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    assert "why " in text  # the example errors carry explanations
    b = tmp_path / "b.json"
    data = json.loads(a.read_text())
    data["summary"]["micro_f1"] -= 0.1
    data["per_topic"][0]["f1"] -= 0.2
    b.write_text(json.dumps(data))
    md = tmp_path / "diff.md"
    code, out, _ = cli(capsys, "report", "compare", str(a), str(b), "-o", str(md))
    assert code == 0 and "worse in B (1 topics" in out
    assert "| micro_f1 |" in md.read_text()
    code, _, err = cli(capsys, "report", "compare", str(a), str(tmp_path / "none.json"))
    assert code == 1 and ": no such file" in err
    # 5 hid every change (F1 moves within [-1, 1]); float() reads 0.0_5 as 0.05 and 1_0 as 10.
    for tolerance in ("5", "1.5"):
        code, _, err = cli(capsys, "report", "compare", str(a), str(b), "--tolerance", tolerance)
        assert code == 2 and f"'--tolerance': '{tolerance}' is not between 0 and 1" in err
    for tolerance in ("1_0", "0.0_5", "0_0.5", "-0.5", "nan", "1e-1", "\u0660.\u0665"):
        code, _, err = cli(capsys, "report", "compare", str(a), str(b), "--tolerance", tolerance)
        assert code == 2 and "'--tolerance'" in err and "write a plain decimal number" in err
    # An unused key holding 5,000 digits was internal error: ValueError (int's digit limit).
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data)[:-1] + ', "extra_note": ' + "9" * 5000 + "}")
    code, out, err = cli(capsys, "report", "compare", str(a), str(big))
    assert (code, out) == (1, "") and "internal error" not in err
    assert f"error: {big}: not a JSON report (an integer of more than 4,300 digits)" in err


def test_report_compare_refuses_a_report_that_repeats_a_topic(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The last of two 'food' rows won: food's F1 fell from 1.0 to 0.0, exit 0 (attack pass
    # 17, cli finding 7).
    rows = [{"topic": t, "f1": 1.0, "support": 3} for t in ("food", "sport")]
    report = {"schema_version": 1, "figures_version": 2, "n_documents": 4, "per_topic": rows}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report))
    b.write_text(json.dumps(report | {"per_topic": [*rows, rows[0] | {"f1": 0.0}]}))
    code, out, err = cli(capsys, "report", "compare", str(a), str(b))
    assert (code, out) == (1, "")
    assert (
        err
        == f"error: {b}: field 'per_topic[2]' repeats the topic 'food'; is it a topicclf report?\n"
    )
    code, out, _ = cli(capsys, "report", "compare", str(a), str(a))
    assert code == 0 and "worse in B (0 topics" in out


def test_report_compare_refuses_an_old_report_whose_counts_no_float_holds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A report of figures version 1 is recounted from its counts as floats: a 400-digit
    # unknown-topic count was "internal error: OverflowError", exit 1.
    row = {"topic": "a", "f1": 0.5, "support": 2, "predicted": 2, "tp": 1, "fp": 1, "fn": 1}
    report = {"schema_version": 1, "figures_version": 1, "n_documents": 4, "per_topic": [row]}
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report))
    b.write_text(json.dumps(report | {"unknown_topics": {"ghost": 10**400}}))
    code, out, err = cli(capsys, "report", "compare", str(a), str(b))
    assert (code, out) == (1, "")
    assert err == (
        f"error: {b}: field 'unknown_topics.ghost' must be a count, a whole number from 0 to "
        "9,007,199,254,740,992 (2**53); is it a topicclf report?\n"
    )
    b.write_text(json.dumps(report | {"unknown_topics": {"ghost": 2**53}}))
    code, out, _ = cli(capsys, "report", "compare", str(a), str(b))
    assert code == 0 and "B left its 1 unknown topic(s) out of its figures" in out


@pytest.mark.parametrize(
    "args",
    [
        ["tag", "m", "x.txt", "--threshold", "0.5_0"],
        ["train", "x.jsonl", "-o", "m", "--validation-split", "0.1_0"],
        ["optimize", "x.jsonl", "-o", "m", "--time-budget", "1e3"],
        ["serve", "m", "--timeout-idle", "1_0"],
    ],
)
def test_every_decimal_option_takes_plain_decimals_only(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    # One rule for every decimal option: a usage error before any file is read.
    code, _, err = cli(capsys, *args)
    assert code == 2 and "write a plain decimal number (ASCII digits and a point)" in err


@pytest.mark.parametrize("value", ["0", "1", "0.0", "1.0", "1.5"])
def test_validation_split_leaves_both_bounds_out_as_a_usage_error(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """0 and 1 passed the option and failed later as a --set error the user never gave,
    exit 1 (attacker pass 47, CLI 4); the help said "(0 to 1)"."""
    code, _, err = cli(capsys, "train", "x.jsonl", "-o", "m", "--validation-split", value)
    assert code == 2
    assert f"'{value}' is not greater than 0 and less than 1" in err and "--set" not in err


@pytest.mark.parametrize("value", ["1_0", "\u0665", "+5", "1e3", "-1", "5.0"])
@pytest.mark.parametrize(
    "args",
    [
        ["tag", "m", "x.txt", "--top-k"],
        ["tag", "m", "x.txt", "--batch-size"],
        ["tag", "m", "x.txt", "--jobs"],
        ["train", "x.jsonl", "-o", "m", "--seed"],
        ["optimize", "x.jsonl", "-o", "m", "--trials"],
        ["corpus", "stats", "x.jsonl", "--top"],
        ["serve", "m", "--max-answer"],
    ],
)
def test_every_integer_option_takes_plain_digits_only(
    capsys: pytest.CaptureFixture[str], args: list[str], value: str
) -> None:
    # int() read --top-k 1_0 as ten and --max-answer 1_000_000 as a million: one rule for
    # every integer option, a usage error before any file is read.
    code, _, err = cli(capsys, *args, value)
    flat = " ".join(err.replace("│", " ").split())
    assert code == 2 and f"'{args[-1]}': {value!r}: write a plain whole number" in flat, flat


def test_integer_options_out_of_range_say_the_range(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "explain", str(model_dir), "oil", "--top", "1001")
    assert code == 2 and "'--top': '1001' is not between 1 and 1000" in err
    code, _, err = cli(capsys, "optimize", "x.jsonl", "-o", "b.toml", "--folds", "1")
    assert code == 2 and "'--folds': '1' is not between 2 and 100" in err
    # plain values within the range still work, around spaces too
    text = tmp_path / "x.txt"
    text.write_text("oil prices rose\n", encoding="utf-8")
    code, out, _ = cli(
        capsys, "tag", str(model_dir), str(text), "--top-k", " 2", "--batch-size", "07"
    )
    assert code == 0 and len(json.loads(out)["labels"]) == 2


def test_top_k_takes_any_size_as_the_server_does(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    # /tag's top_k and Annif's limit take any size (every topic); --top-k was refused past
    # 2**31 alone. Past 100 digits it is refused as too large, as every integer option.
    text = tmp_path / "x.txt"
    text.write_text("oil prices rose\n", encoding="utf-8")
    code, every, _ = cli(capsys, "tag", str(model_dir), str(text), "--top-k", "1000")
    assert code == 0
    code, out, _ = cli(capsys, "tag", str(model_dir), str(text), "--top-k", "9" * 30)
    assert code == 0 and out == every
    code, _, err = cli(capsys, "tag", str(model_dir), str(text), "--top-k", "9" * 101)
    assert code == 2 and "is too large" in err
    code, out, _ = cli(capsys, "tag", "--help")
    assert "1 or more" in " ".join(out.replace("│", " ").split())


def test_multiclass_evaluation_shows_accuracy_and_confusion_matrix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data_dir: Path
) -> None:
    model = tmp_path / "mc"
    folders = str(data_dir / "folders")
    assert run(["-q", "train", folders, "-o", str(model), *FAST, "--validation-split", "0.5"]) == 0
    capsys.readouterr()
    page = tmp_path / "mc.html"
    code, out, _ = cli(capsys, "evaluate", str(model), folders, "-o", str(page))
    assert code == 0
    assert "accuracy (multi-class)" in out and "confusion matrix" in out
    assert "Accuracy (multi-class)" in page.read_text()
    # Settings a multi-class model cannot honour, and data it cannot fit, are said.
    code, _, err = cli(capsys, "tag", str(model), folders, "--top-k", "2")
    assert code == 0 and "multi-class model: it always gives its one best topic" in err
    code, _, err = cli(capsys, "evaluate", str(model), str(data_dir / "tiny.jsonl"))
    assert "documents have several topics, but this multi-class model gives each" in err


def test_no_fallback_and_silent_traps_are_said(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    from topicclf.classifier import TopicClassifier
    from topicclf.model.thresholds import Rule

    texts = ["zzz qqq", "the striker scored", "snow and frost", "xylophone"]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n")
    code, out, _ = cli(capsys, "tag", str(model_dir), str(source), "--no-fallback")
    assert code == 0
    expected = TopicClassifier.load(model_dir).tag(texts, Rule(fallback=False))
    assert [json.loads(line)["labels"] for line in out.splitlines()] == [
        [t for t, _ in row] for row in expected
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        (REPO / "tests/data/tiny.jsonl").read_text() + json.dumps({"text": "no topic here"}) + "\n"
    )
    code, _, err = cli(capsys, "train", str(mixed), "-o", str(tmp_path / "m2"), *FAST)
    assert code == 0 and "1 of 41 training documents have no topic" in err
    code, _, err = cli(capsys, "tag", str(REPO / "tests/data"), "-o", str(tmp_path / "t.jsonl"))
    assert code == 1 and "looks like a corpus, not a model" in err


def test_sigterm_during_training_leaves_nothing_behind(tmp_path: Path) -> None:
    import signal
    import time

    exe = _installed_topicclf()
    target = tmp_path / "model"
    proc = subprocess.Popen(
        [
            exe,
            "train",
            NEWS_TRAIN,
            "-o",
            str(target),
            "--set",
            "train.epochs=50",
            "--set",
            "train.patience=50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    while not proc.stderr.readline().startswith("epoch 2/"):  # training is under way
        pass
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    proc.wait(timeout=120)
    time.sleep(0.1)
    assert proc.returncode == 130 and "interrupted" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_signal_after_training_saved_its_model_exits_with_its_own_code(
    tmp_path: Path,
) -> None:
    # The interpreter's teardown took about a second after a training, its signal handlers
    # gone: a SIGTERM then killed the process (-15, no message) though the model was saved.
    import signal
    import time

    exe = _installed_topicclf()
    tiny = str(REPO / "tests/data/tiny.jsonl")
    proc = subprocess.Popen(
        [exe, "-q", "train", tiny, "-o", str(tmp_path / "m"), "--set", "train.epochs=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    while not (line := proc.stdout.readline()).startswith("model saved to") and line:
        pass
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "m" / "manifest.json").is_file()


def _limit_file_size() -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_last_write_to_stdout_taken_in_part_is_an_error_not_a_lost_end(
    model_dir: Path, tmp_path: Path, unbuffered: str
) -> None:
    # The disk filling (here the file size limit) in the last write: the kernel took part of
    # it, Python never wrote the rest, and `info` exited 0 with its output cut.
    out = tmp_path / "info.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    with out.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "topicclf", "info", str(model_dir)],
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_limit_file_size,
        )
    assert done.returncode == 1, done.stderr
    assert "error: standard output cannot be written: File too large" in done.stderr
    assert out.stat().st_size == 2048


def test_two_trainings_to_one_directory_one_wins_cleanly(tmp_path: Path) -> None:
    model = tmp_path / "model"
    command = [
        sys.executable, "-m", "topicclf", "-q", "train", str(REPO / "tests/data/tiny.jsonl"),
        "-o", str(model), *FAST,
    ]  # fmt: skip
    procs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs)
    assert [code for code, _ in results] == [0, 1]
    assert re.search(r"being written by another process|already exists", results[1][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert run(["info", str(model)]) == 0


def test_a_model_and_a_corpus_given_the_wrong_way_round_say_so(
    capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    code, out, err = cli(capsys, "tag", NEWS_TEST, str(model_dir))
    assert (code, out) == (1, "")
    assert "this is a model directory, not a corpus; the model comes first" in " ".join(err.split())


def test_tag_makes_a_text_the_token_pattern_times_out_on_a_bad_record(
    capsys: pytest.CaptureFixture[str],
    slow_pattern_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, the run stopped with the time limit's error and lost every document (with
    -o, nothing was written)."""
    from conftest import SLOW_TEXT

    from topicclf.features import text as text_module

    monkeypatch.setattr(text_module, "TOKEN_PATTERN_SECONDS", 0.5)
    path = tmp_path / "slow.jsonl"
    lines = [{"id": "ok0", "text": "oil prices"}, {"id": "slow", "text": SLOW_TEXT}]
    lines.append({"id": "ok", "text": "oil prices"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "tags.jsonl"
    code, out, err = cli(capsys, "tag", str(slow_pattern_model), str(path), "-o", str(output))
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 1 and [r["id"] for r in rows] == ["ok0", "slow", "ok"]
    assert rows[0]["labels"] == rows[2]["labels"] and "error" not in rows[0]
    message = (
        "document 'slow': text.token_pattern = .* took more than 0.5 s on one text of 40 "
        "characters: it backtracks too much; make the end of each repetition unambiguous"
    )
    assert rows[1]["labels"] == [] and re.fullmatch(message, rows[1]["error"])
    flat = " ".join(err.split())
    assert re.search(f"warning: {message}", flat)
    assert "1 record(s) could not be read (reported in the output)" in flat
    code, out, err = cli(capsys, "tag", str(slow_pattern_model), str(path), "--bad-records", "stop")
    assert code == 1 and [json.loads(x)["id"] for x in out.splitlines()] == ["ok0"]
    assert re.search(f"error: {message}", " ".join(err.split()))


def test_tag_reports_bad_records_and_tags_the_rest(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "a", "text": "rain"}\n{"id": "b", "text": \n{"id": "c", "text": "goal"}\n'
    )
    code, out, err = cli(capsys, "tag", str(model_dir), str(path))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["id"] for r in rows] == ["a", "bad:2", "c"]
    assert rows[1]["error"].endswith("bad.jsonl:2: invalid JSON (Expecting value)")
    assert "warning:" in err and "1 record(s) could not be read (reported in the output)" in err
    code, out, err = cli(capsys, "tag", str(model_dir), str(path), "--bad-records", "skip")
    assert code == 1 and [json.loads(x)["id"] for x in out.splitlines()] == ["a", "c"]
    path.write_text(path.read_text() + "{later bad record\n")
    code, out, err = cli(capsys, "tag", str(model_dir), str(path), "--bad-records", "stop")
    assert code == 1 and "error: " in err and "bad.jsonl:2: invalid JSON" in err
    # Tagging stopped at line 2: no warning of the record on line 4 it never reached.
    assert "bad.jsonl:4" not in err and "warning" not in err


def test_a_text_file_that_vanishes_while_a_directory_is_tagged_is_one_bad_record(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in "abc":
        (docs / f"{name}.txt").write_text("Heavy rain and strong winds")
    from topicclf.corpus import directory

    listed = directory.text_files

    def vanish(root: Path) -> list[Path]:
        files = listed(root)
        (root / "b.txt").unlink()  # removed after the directory was listed
        return files

    monkeypatch.setattr(directory, "text_files", vanish)
    output = tmp_path / "tags.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(docs), "-o", str(output))
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 1 and [(r["id"], "error" in r) for r in rows] == [
        ("a", False),
        ("b", True),
        ("c", False),
    ]
    assert rows[0]["labels"] and rows[2]["labels"]
    flat = " ".join(err.split())
    assert "warning:" in flat and "b.txt: no such file (it was removed after the directory" in flat
    assert "1 record(s) could not be read (reported in the output)" in flat
    assert "error:" not in err


def test_a_damaged_small_gzip_is_its_bad_record_and_the_earlier_input_is_kept(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    # Before: `error: g.jsonl.gz: not a readable gzip file (...)` before any work, the good
    # file's documents lost, when the damage fell within the first 8 KiB (a bad record when
    # it fell later).
    import gzip

    good, damaged = tmp_path / "a.jsonl", tmp_path / "g.jsonl.gz"
    good.write_text('{"id": "a1", "text": "rain"}\n{"id": "a2", "text": "wind"}\n')
    damaged.write_bytes(gzip.compress(b'{"id": "g1", "text": "oil"}\n') + b"GARBAGE")
    output = tmp_path / "tags.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(good), str(damaged), "-o", str(output))
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 1 and [(r["id"], "error" in r) for r in rows] == [
        ("a1", False),
        ("a2", False),
        ("g1", False),
        ("g", True),
    ]
    flat = " ".join(err.split())
    assert f"warning: {damaged}: not a readable gzip file (Not a gzipped file" in flat
    assert "1 record(s) could not be read (reported in the output)" in flat
    assert "error:" not in err


def test_a_source_that_fails_is_its_own_bad_record_and_the_next_is_tagged(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    first, broken, last = tmp_path / "a.jsonl", tmp_path / "b.csv", tmp_path / "c.jsonl"
    first.write_text(_jsonl({"id": "a1", "text": "rain"}, {"id": "a2", "text": "goal"}))
    broken.write_text("body,labels\nrain,weather\n")  # no text column: known when read
    last.write_text(_jsonl({"id": "c1", "text": "shares fell"}))
    args = ["tag", str(model_dir), str(first), str(broken), str(last)]
    code, out, err = cli(capsys, *args)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["id"] for r in rows] == ["a1", "a2", "b", "c1"]
    assert rows[2]["error"].endswith(
        "b.csv:1: no 'text' column in the header (found: body, "
        "labels); name the column with --text-field (text_field= "
        "in Python)"
    )
    assert "1 record(s) could not be read" in err
    code, out, err = cli(capsys, *args, "--bad-records", "stop")
    assert code == 1 and [json.loads(line)["id"] for line in out.splitlines()] == ["a1", "a2"]
    assert "error:" in err and "b.csv:1: no 'text' column" in err


def test_links_that_lead_nowhere_and_pipes_are_named(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    import threading

    from conftest import deadline

    loop = tmp_path / "loop.jsonl"
    os.symlink(loop, loop)
    code, out, err = cli(capsys, "tag", str(model_dir), str(loop), "-o", str(tmp_path / "t.jsonl"))
    assert (code, out) == (1, "") and "internal error" not in err
    assert "loop.jsonl: a symbolic link loop (ELOOP)" in " ".join(err.split())
    pipe = tmp_path / "pipe.jsonl"
    os.mkfifo(pipe)

    def write() -> None:
        with open(pipe, "w") as handle:
            handle.write(_jsonl({"id": "p1", "text": "rain"}, {"id": "p2", "text": "goal"}))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with deadline(20):
        code, out, err = cli(capsys, "tag", str(model_dir), str(pipe))
    writer.join(timeout=5)
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["p1", "p2"]
    os.mkfifo(tmp_path / "fd63")  # as <(command) gives: a pipe without a suffix
    with deadline(20):  # refused without opening it: no one writes to it
        code, out, err = cli(capsys, "tag", str(model_dir), str(tmp_path / "fd63"))
    flat = " ".join(err.split())
    assert (code, out) == (1, "") and "fd63: a named pipe, whose format cannot be told" in flat
    assert "give it with --format" in flat


def test_odd_labels_round_trip_through_train_tag_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_docs: list
) -> None:
    odd = {
        "sport": 'sport, ball & "goal"',
        "weather": "météo | pluie",
        "markets": "m a r k e t s",
        "food": "食べ物",
    }
    corpus = tmp_path / "odd.jsonl"
    with corpus.open("w", encoding="utf-8") as handle:
        for d in tiny_docs:
            labels = [odd[x] for x in d.labels]
            handle.write(json.dumps({"id": d.id, "text": d.text, "labels": labels}) + "\n")
    model = tmp_path / "m"
    assert run(["-q", "train", str(corpus), "-o", str(model), *FAST]) == 0
    capsys.readouterr()
    assert json.loads((model / "labels.json").read_text(encoding="utf-8")) == sorted(odd.values())
    code, out, _ = cli(capsys, "tag", str(model), str(corpus), "--top-k", "4")
    assert code == 0
    assert set(json.loads(out.splitlines()[0])["labels"]) == set(odd.values())
    report = tmp_path / "r.json"
    code, _, _ = cli(capsys, "evaluate", str(model), str(corpus), "-o", str(report))
    assert code == 0
    topics = {t["topic"] for t in json.loads(report.read_text(encoding="utf-8"))["per_topic"]}
    assert topics == set(odd.values())


def test_tune_retunes_thresholds_without_training(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    tuned = tmp_path / "tuned"
    corpus = str(data_dir / "tiny.jsonl")
    code, out, _ = cli(capsys, "tune", str(model_dir), corpus, "-o", str(tuned))
    assert code == 0 and out.startswith("on 40 documents of ") and "model saved to" in out
    figures = dict(re.findall(r"^(before|after): micro-F1 ([0-9.]+)", out, flags=re.M))
    assert float(figures["after"]) >= float(figures["before"])  # tuned here: never worse
    original = json.loads((model_dir / "thresholds.json").read_text())
    assert json.loads((tuned / "thresholds.json").read_text()) != original
    code, _, err = cli(capsys, "tune", str(model_dir), corpus, "-o", str(model_dir), "--force")
    assert code == 1 and "is also an input of this command" in err


def test_tune_on_a_corpus_of_one_topic_keeps_the_other_topics_thresholds(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    """A tuning corpus of one topic gave every topic the threshold tuned on it (a model of
    ten topics got one value, and lost 5 points of micro-F1 on its test set), unwarned."""
    docs = [json.loads(line) for line in (data_dir / "tiny.jsonl").read_text().splitlines()]
    sport = tmp_path / "sport.jsonl"
    sport.write_text("".join(json.dumps(d) + "\n" for d in docs if d["labels"] == ["sport"]))
    tuned = tmp_path / "tuned"
    code, _, err = cli(capsys, "tune", str(model_dir), str(sport), "-o", str(tuned))
    assert code == 0
    topics = json.loads((model_dir / "labels.json").read_text())
    n = len(topics)
    assert err.count("warning:") == 1
    assert (
        f"warning: {n - 1} of the model's {n} topics have no document in the tuning corpus: "
        "their thresholds are kept, and so is the global threshold" in " ".join(err.split())
    )
    before = json.loads((model_dir / "thresholds.json").read_text())
    after = json.loads((tuned / "thresholds.json").read_text())
    kept = [i for i, topic in enumerate(topics) if topic != "sport"]
    assert [after["thresholds"][i] for i in kept] == [before["thresholds"][i] for i in kept]
    assert after["global_threshold"] == before["global_threshold"]
    # Every topic in the corpus: no warning, and the thresholds are all tuned there.
    code, _, err = cli(
        capsys, "tune", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(tmp_path / "all")
    )
    assert code == 0 and "no document in the tuning corpus" not in err


def test_force_never_replaces_a_document_linked_from_an_input_directory(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """`tag DIR -o F --force` and `corpus convert DIR F --force` replaced F, a document of
    DIR through a link in it."""
    victim, texts = tmp_path / "victim.txt", tmp_path / "texts"
    victim.write_text("victim text oil")
    texts.mkdir()
    (texts / "l.txt").symlink_to(victim)
    (texts / "b.txt").write_text("x")
    for command in (
        ["tag", str(model_dir), str(texts), "-o", str(victim), "--force"],
        ["corpus", "convert", str(texts), str(victim), "--to", "jsonl", "--force"],
    ):
        code, out, err = cli(capsys, *command)
        assert code == 1 and out == ""
        assert f"victim.txt is also {texts}/l.txt, in {texts}, an input of this command" in err
        assert victim.read_text() == "victim text oil"


def test_outputs_inside_an_input_or_of_the_wrong_kind_are_refused_before_any_work(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    corpus = str(data_dir / "tiny.jsonl")
    before = sorted(p.name for p in model_dir.iterdir())
    code, _, err = cli(
        capsys, "tag", str(model_dir), corpus, "-o", str(model_dir / "labels.json"), "--force"
    )
    assert code == 1 and "labels.json is inside" in err and "an input of this command" in err
    assert sorted(p.name for p in model_dir.iterdir()) == before
    code, _, err = cli(
        capsys,
        "evaluate",
        str(model_dir),
        corpus,
        "-o",
        str(model_dir / "manifest.json"),
        "--force",
    )
    assert code == 1 and "manifest.json is inside" in err
    assert sorted(p.name for p in model_dir.iterdir()) == before
    # A new file inside a model would make `info --verify` fail; a FIFO is never replaced.
    code, _, err = cli(capsys, "tag", str(model_dir), corpus, "-o", str(model_dir / "v.json"))
    assert code == 1 and "inside the model directory" in err
    assert sorted(p.name for p in model_dir.iterdir()) == before
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "tag", str(model_dir), corpus, "-o", str(fifo), "--force")
    assert code == 1 and "is a FIFO (named pipe), not a regular file" in err
    assert fifo.is_fifo()
    code, out, err = cli(capsys, "tag", str(model_dir), corpus, "-o", str(tmp_path / "no" / "x"))
    assert code == 1 and "the directory" in err and "does not exist; create it first" in err
    assert ".tmp" not in err and out == ""
    taken = tmp_path / "taken.jsonl"
    taken.write_text("")
    code, out, err = cli(capsys, "train", corpus, "-o", str(taken), "--force")
    assert code == 1 and "taken.jsonl exists and is not a directory" in err
    assert "trained" not in out  # refused before training
    code, _, err = cli(capsys, "tag", str(model_dir), corpus, "-o", str(tmp_path))
    assert code == 1 and "is a directory; give a file name" in err  # not "add --force"
    # A configuration or vocabulary file is an input too.
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "run.toml").write_text("[train]\nepochs = 1\n")
    code, _, err = cli(capsys, "train", corpus, "-c", str(settings / "run.toml"), "-o",
                       str(settings), "--force")  # fmt: skip
    assert code == 1 and "holds" in err and (settings / "run.toml").exists()
    code, _, err = cli(capsys, "optimize", corpus, "-c", str(settings / "run.toml"), "-o",
                       str(settings / "run.toml"), "--force")  # fmt: skip
    assert code == 1 and "is also an input" in err


def test_force_never_replaces_a_directory_of_other_files(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # `train ... -o u --force` on an ordinary directory deleted its files.
    corpus = str(data_dir / "tiny.jsonl")
    ordinary = tmp_path / "u"
    ordinary.mkdir()
    (ordinary / "keep.txt").write_text("precious")
    refused = (
        f"error: {ordinary} is a directory that is not a topicclf model (it holds keep.txt); "
        "--force replaces only a model directory: choose another path"
    )
    for command in (["train", corpus], ["tune", str(model_dir), corpus]):
        code, out, err = cli(capsys, *command, "-o", str(ordinary), "--force")
        assert (code, out) == (1, "") and refused in err
        assert "vectorizing" not in err and "documents" not in err  # before any work
        assert (ordinary / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = cli(capsys, "tune", str(model_dir), corpus, "-o", str(empty), "--force")
    assert code == 0 and (empty / "manifest.json").exists()
    code, out, _ = cli(capsys, "tune", str(model_dir), corpus, "-o", str(empty), "--force")
    assert code == 0  # a model replaces a model


def test_write_labels_beside_each_text_file_round_trips(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    import shutil

    from topicclf.corpus import open_corpus

    folder = tmp_path / "docs"
    shutil.copytree(data_dir / "txtdir", folder)
    for labels in folder.rglob("*.labels"):
        labels.unlink()
    code, out, _ = cli(capsys, "tag", str(model_dir), str(folder))
    expected = {r["id"]: r["labels"] for r in map(json.loads, out.splitlines())}
    code, out, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels")
    assert code == 0 and out == "" and f"wrote {len(expected)} .labels files" in err
    back = {d.id: list(d.labels) for d in open_corpus(folder)}
    assert back == expected
    code, _, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels")
    assert code == 1 and "already exists" in err and "add --force" in err
    assert cli(capsys, "tag", str(model_dir), str(folder), "--write-labels", "--force")[0] == 0
    code, _, err = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "--write-labels"
    )
    assert code == 2 and "text directory" in err


def test_tag_reads_no_labels_files_so_none_costs_a_document_its_tags(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    # tag never uses topics: a .labels file of 2,000 lines (or a named pipe, a link to
    # nothing) made its document a bad record, untagged, exit 1; --write-labels --force
    # could not replace such a file.
    folder = tmp_path / "td"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.txt").write_text("oil prices rose")
    (folder / "a.labels").write_text("".join(f"t{i}\n" for i in range(2000)))
    os.mkfifo(folder / "b.labels")
    (folder / "c.labels").symlink_to("../moved/c.labels")
    code, out, err = cli(capsys, "tag", str(model_dir), str(folder))
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == ""
    assert [r["id"] for r in records] == ["a", "b", "c"] and not any("error" in r for r in records)
    code, out, err = cli(capsys, "corpus", "stats", str(folder))
    assert code == 1 and "a.labels: 2,000 topics in one document" in err
    assert "b.labels: a named pipe, not a regular file" in err
    (folder / "b.labels").unlink()
    code, _, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels", "--force")
    assert code == 0 and "wrote 3 .labels files" in err
    assert all((folder / f"{name}.labels").is_file() for name in "abc")


def test_write_labels_checks_every_labels_file_before_writing_any(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # A FIFO b.labels was replaced by a file with --force; a directory c.labels failed with
    # a raw OSError naming a temporary file, after other .labels files were written.
    import shutil

    folder = tmp_path / "docs"
    shutil.copytree(data_dir / "txtdir", folder)
    before = {p: p.read_text() for p in folder.rglob("*.labels")}
    fifo = folder / "t02.labels"
    fifo.unlink()
    os.mkfifo(fifo)
    for force in ([], ["--force"]):
        code, out, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels", *force)
        assert (code, out) == (1, "")
        assert f"error: {fifo} is a FIFO (named pipe), not a regular file" in err
        assert fifo.is_fifo()
        assert {p: p.read_text() for p in folder.rglob("*.labels") if p != fifo} == {
            p: text for p, text in before.items() if p != fifo
        }  # nothing written
    fifo.unlink()
    directory = folder / "sub" / "t06.labels"
    directory.unlink()
    directory.mkdir()
    code, out, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels", "--force")
    assert (code, out) == (1, "") and ".tmp" not in err
    assert (
        f"error: {directory} is a directory, where --write-labels would write the topics of "
        "t06.txt; move it away, or tag without --write-labels"
    ) in err
    assert (folder / "t01.labels").read_text() == before[folder / "t01.labels"]
    assert not (folder / "t02.labels").exists()  # no .labels written at all
    directory.rmdir()
    code, _, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels", "--force")
    assert code == 0 and "wrote 6 .labels files" in err


def test_write_labels_refuses_a_model_whose_topic_a_labels_file_cannot_hold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data_dir: Path
) -> None:
    # Before: the topic 'sport\nnews' was written as two lines of a.labels, and the txtdir
    # reader read it back as two topics, 'sport' and 'news'.
    import shutil

    corpus = tmp_path / "c.jsonl"
    with corpus.open("w", encoding="utf-8") as handle:
        for line in (data_dir / "tiny.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record["labels"] = [
                "sport\nnews" if label == "sport" else label for label in record["labels"]
            ]
            handle.write(json.dumps(record) + "\n")
    model = tmp_path / "m"
    assert cli(capsys, "-q", "train", str(corpus), "-o", str(model), *FAST)[0] == 0
    folder = tmp_path / "docs"
    shutil.copytree(data_dir / "txtdir", folder)
    for labels in folder.rglob("*.labels"):
        labels.unlink()
    code, out, err = cli(capsys, "tag", str(model), str(folder), "--write-labels")
    assert (code, out) == (1, "")
    assert (
        f"error: {model}: the topic 'sport\\nnews' holds a line break, and a .labels file "
        "holds one topic a line, so it would not read back as one topic; write the tags as "
        "JSON Lines instead (tag MODEL DIR -o tags.jsonl)"
    ) in " ".join(err.split())
    assert not list(folder.rglob("*.labels"))  # refused before any was written


def test_a_reader_that_goes_away_stops_output_quietly_with_the_sigpipe_status(
    model_dir: Path, tmp_path: Path
) -> None:
    # `topicclf tag ... | head -1`: the README's exit-code table says 141, and no error line.
    corpus = tmp_path / "many.txt"
    corpus.write_text("".join(f"document {i} about oil and the council\n" for i in range(20000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "topicclf", "tag", str(model_dir), str(corpus), "--scores"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b'{"id": "many:1"')
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "error" not in err and "Traceback" not in err


def test_tag_refuses_a_gz_output_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "tags.jsonl.gz"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "topicclf",
            "tag",
            "no-model",
            "corpora/newsbriefs/test.jsonl",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 1, result.stderr
    assert "outputs are written uncompressed" in result.stderr and not out.exists()


def test_a_setting_with_a_space_for_its_equals_sign_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus = "corpora/newsbriefs/train.jsonl"
    code = run(["train", corpus, "-o", "unused", "--set", "text.language", "german"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --set 'text.language': expected section.key=value with no space around '=', "
        "e.g. --set text.language=german"
    )
    assert run(["train", corpus, "-o", "unused", "--set", "text.language=deutsch"]) == 1
    assert "is not valid; give auto, or a language name or ISO 639-1 code" in (
        capsys.readouterr().err
    )


def test_a_set_number_python_would_read_otherwise_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # int("1_0") is 10: train.epochs=1_0 trained ten epochs.
    out = tmp_path / "model"
    corpus = "corpora/newsbriefs/train.jsonl"
    assert run(["train", corpus, "-o", str(out), "--set", "train.epochs=1_0"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == "error: --set: train.epochs = '1_0' is not a whole number (ASCII digits)"
    assert not out.exists()


def test_a_log_gets_a_heartbeat_line_while_a_long_step_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import time

    from rich.console import Console

    import topicclf.cli.common as common

    monkeypatch.setattr(common, "HEARTBEAT_SECONDS", 0.3)
    log = io.StringIO()
    progress = common.CliProgress(Console(file=log, force_terminal=False, width=200), True)

    def wait_for(text: str) -> None:  # the heartbeat thread's line, however slow the machine
        for _ in range(400):
            if text in log.getvalue():
                return
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r} in {log.getvalue()!r}")

    progress.start("linear model for stacking (5 folds)", 5)
    wait_for("still on the first")
    progress.advance(2)
    wait_for(", about ")
    progress.finish()
    time.sleep(0.5)  # nothing more once the step is done
    lines = log.getvalue().splitlines()
    assert re.fullmatch(
        r"linear model for stacking \(5 folds\): 0/5 after [0-9]+s, still on the first", lines[0]
    )
    beats = [line for line in lines if ", about " in line]
    assert beats and re.fullmatch(
        r"linear model for stacking \(5 folds\): 2/5 after [0-9]+s, about [0-9]+s left", beats[0]
    )
    assert lines[-1].startswith("linear model for stacking (5 folds): 2 done in ")
    assert common.heartbeat_line("vectorizing", 10, 40, 60.0) == (
        "vectorizing: 10/40 after 60s, about 180s left"
    )
    assert common.heartbeat_line("linear model", 0, None, 31.0) == "linear model: 0 after 31s"


def test_a_progress_line_naming_a_file_is_one_line_and_no_markup() -> None:
    import io

    from rich.console import Console

    import topicclf.cli.common as common

    # "reading NAME": before, a newline in NAME split the line and [red] in it was markup.
    log = io.StringIO()
    progress = common.CliProgress(Console(file=log, force_terminal=False, width=200), True)
    progress.start("reading x\ny[red]\x9b.jsonl", 1)
    progress.finish()
    progress.close()
    assert re.fullmatch(r"reading x\\x0ay\[red\]\\x9b\.jsonl: 0 done in \S+s\n", log.getvalue())


def test_control_characters_in_topic_names_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """A forged model or a corpus with ESC sequences in topic names: `info` and `corpus
    stats` show them as escapes; a 20 MB manifest string is cut, not wrapped for minutes."""
    import hashlib
    import shutil

    forged = tmp_path / "forged"
    shutil.copytree(model_dir, forged)
    labels = json.loads((forged / "labels.json").read_text())
    labels[0] = "evil\x1b]0;pwned\x07\x1b[2J"
    data = json.dumps(labels).encode()
    (forged / "labels.json").write_bytes(data)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["files"]["labels.json"] = {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    manifest["corpus"]["path"] = "x" * 20_000_000
    (forged / "manifest.json").write_text(json.dumps(manifest))
    code, out, _ = cli(capsys, "info", str(forged))
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in out.replace("\n", "").replace("│", "").replace(
        " ", ""
    )
    assert len(out) < 20_000 and "characters)" in out  # the corpus record, cut
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "a b c", "labels": ["red\x1b[31m", "x"]}) + "\n")
    code, out, _ = cli(capsys, "corpus", "stats", str(corpus))
    assert code == 0 and "\x1b" not in out and "red\\x1b[31m" in out


def test_json_outputs_escape_c1_controls_bidi_overrides_and_line_separators(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--json` went through rich's print_json, and tag's JSON Lines through json.dumps: both
    wrote C1 controls (U+009B is a CSI to some terminals), bidi overrides and U+2028 raw; a
    JSON Lines record holding U+2028 was two lines to str.splitlines."""
    raw = ("\x9b", "\u202e", "\u2028")
    corpus = tmp_path / "c.jsonl"
    lines = [
        {"id": f"d{i}\u2028", "text": f"{w} word{i}", "labels": [f"red\x9b31m{w}", f"\u202e{w}"]}
        for i, w in enumerate(["rain wind", "oil prices", "wheat corn", "gold mine"] * 3)
    ]
    corpus.write_text("".join(jsontext_line(line) for line in lines), encoding="utf-8")
    model = tmp_path / "m"
    assert cli(capsys, "train", str(corpus), "-o", str(model), "--set", "train.epochs=2")[0] == 0
    outputs = [
        cli(capsys, "info", str(model), "--json")[1],
        cli(capsys, "corpus", "stats", str(corpus), "--json")[1],
        cli(capsys, "tag", str(model), str(corpus))[1],
        cli(capsys, "explain", str(model), str(corpus), "--json")[1],
    ]
    assert cli(capsys, "evaluate", str(model), str(corpus), "-o", str(tmp_path / "r.json"))[0] == 0
    outputs.append((tmp_path / "r.json").read_text(encoding="utf-8"))
    for text in outputs:
        assert not any(c in text for c in raw), text[:300]
        assert "\\u009b" in text or "\\u202e" in text
    tagged = outputs[2].splitlines()
    assert len(tagged) == len(lines) and json.loads(tagged[0])["id"] == "d0\u2028"


def jsontext_line(record: dict[str, object]) -> str:
    return json.dumps(record) + "\n"


def _shell(script: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run topicclf from a shell script ($0 is the interpreter), for redirections Python's
    subprocess cannot express (a closed descriptor)."""
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_closed_standard_streams_and_an_ascii_terminal_get_clear_errors(
    model_dir: Path, tmp_path: Path
) -> None:
    """Started with stdin or stdout closed, or with an output encoding that cannot hold a
    topic name: a clear error and exit 1, never an internal error; tables are escaped."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"text": "a b", "labels": ["Wirtschaft-Ö", "x"]}) + "\n", encoding="utf-8"
    )
    code, _, err = _shell('"$0" -m topicclf tag "$1" <&-', str(model_dir))
    # A source that cannot be read is that source's bad record (reported, exit 1).
    assert code == 1 and "-: standard input is closed; give the documents as files" in err
    code, _, err = _shell('echo wheat | "$0" -m topicclf tag "$1" >&-', str(model_dir))
    assert code == 1 and "error: standard output is closed (started with >&-)" in err
    code, _, err = _shell('"$0" -m topicclf corpus convert "$1" - --to jsonl >&-', str(corpus))
    assert code == 1 and "standard output is closed" in err
    ascii_only = {"PYTHONIOENCODING": "ascii"}
    code, out, err = _shell('"$0" -m topicclf corpus stats "$1"', str(corpus), env=ascii_only)
    assert code == 0 and "Wirtschaft-\\xd6" in out and err == ""
    code, out, err = _shell(
        '"$0" -m topicclf corpus convert "$1" - --to tsv', str(corpus), env=ascii_only
    )
    assert code == 1 and "internal error" not in err
    assert "cannot write '\\xd6' in the output's encoding (ascii); set PYTHONIOENCODING" in err
    assert "internal error" not in err


def test_every_command_that_prints_its_result_refuses_a_closed_stdout_before_any_work(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model_dir: Path,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    # `evaluate MODEL CORPUS >&-` read and scored the whole corpus before refusing. Inputs
    # that do not exist show the order: the closed stdout is said before anything is read.
    missing = str(tmp_path / "missing")
    corpus = str(data_dir / "tiny.jsonl")
    commands = [
        ["train", missing, "-o", str(tmp_path / "m")],
        ["evaluate", missing, corpus],
        ["optimize", missing, "-o", str(tmp_path / "best.toml")],
        ["info", missing],
        ["info", missing, "--verify"],
        ["tune", missing, corpus, "-o", str(tmp_path / "t")],
        ["explain", missing, "some text"],
        ["corpus", "stats", missing],
        ["report", "compare", missing, missing + "2"],
    ]
    monkeypatch.setattr(sys, "stdout", None)  # what Python gives a process started with >&-
    for command in commands:
        code, _, err = cli(capsys, *command)
        assert (code, err) == (
            1,
            "error: standard output is closed (started with >&-); redirect it to a file or "
            "/dev/null\n",
        ), command
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written either


def test_evaluate_with_stdout_closed_reads_nothing(model_dir: Path, data_dir: Path) -> None:
    code, _, err = _shell(
        '"$0" -m topicclf evaluate "$1" "$2" >&-', str(model_dir), str(data_dir / "tiny.jsonl")
    )
    assert code == 1 and "error: standard output is closed (started with >&-)" in err
    assert "reading" not in err and "scoring" not in err  # no progress: no work


def test_a_command_ended_by_an_error_leaves_no_heartbeat_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A task an error cut short never finishes: its heartbeat must stop with the command,
    or a long-lived process (a notebook, a test run) prints 'reading: 0 after 182s' forever."""
    import threading

    import topicclf.cli.common as common

    bad = tmp_path / "c.jsonl"
    bad.write_text('{"text": "a", "labels": ["x"]}\nnot json\n')
    code, _, err = cli(capsys, "train", str(bad), "-o", str(tmp_path / "m"))
    assert code == 1 and "invalid JSON" in err
    assert not common._OPEN and not common._LIVE
    for thread in threading.enumerate():
        if thread.name == "topicclf-heartbeat":
            thread.join(timeout=5)
            assert not thread.is_alive()


DASK_TAG = ["tag", "{model}", "{corpus}", "--engine", "dask", "-o", "{out}"]


@pytest.mark.parametrize(
    ("args", "option", "limit"),
    [
        (["tag", "{model}", "{corpus}", "--batch-size", "9" * 400], "--batch-size", "1048576"),
        ([*DASK_TAG, "--partitions", "9" * 400], "--partitions", "1000000"),
        ([*DASK_TAG, "--workers", "9" * 400], "--workers", "4096"),
        (["optimize", "{corpus}", "-o", "{out}", "--folds", "9" * 400], "--folds", "100"),
        (["explain", "{model}", "oil", "--top", "9" * 400], "--top", "1000"),
    ],
)
def test_counts_beyond_any_use_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    args: list[str],
    option: str,
    limit: str,
) -> None:
    """Before: an internal error after work (--batch-size 10**400 in islice), a MemoryError
    (--workers), an OverflowError (--partitions)."""
    values = {"model": str(model_dir), "corpus": str(REPO / "tests/data/tiny.jsonl"),
              "out": str(tmp_path / "out")}  # fmt: skip
    code, _, err = cli(capsys, *[a.format(**values) for a in args])
    assert code == 2 and option in err and "characters) is not between" in err
    assert f" and {limit}\n" in err


@pytest.mark.parametrize("extra", [["--scores"], ["-o", "x.jsonl"], ["-t", "csv"]])
def test_write_labels_refuses_options_it_would_ignore(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, extra: list[str]
) -> None:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("wheat prices")
    code, _, err = cli(capsys, "tag", str(model_dir), str(texts), "--write-labels", *extra)
    assert code == 2 and "does nothing with --write-labels" in err
    assert not (texts / "a.labels").exists()


def test_info_json_stays_strict_json_for_a_forged_manifest(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """NaN and Infinity in a manifest came out as `NaN`/`Infinity`, which strict parsers
    (jq, JavaScript) refuse: they become null."""
    import shutil

    forged = tmp_path / "forged"
    shutil.copytree(model_dir, forged)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["validation"]["micro_f1"] = float("nan")
    manifest["training"]["documents"] = float("inf")
    (forged / "manifest.json").write_text(json.dumps(manifest))
    code, out, _ = cli(capsys, "info", "--json", str(forged))
    assert code == 0
    data = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert data["validation"]["micro_f1"] is None


def test_standard_output_that_is_an_input_is_refused_before_reading(
    model_dir: Path, tmp_path: Path
) -> None:
    # Before: `tag m F >> F` read its own output, for ever (a million lines in 20 s).
    loop = tmp_path / "loop.txt"
    loop.write_text("".join(f"rain over wheat {i}\n" for i in range(3000)))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("rain over wheat")
    cases = [
        ('"$0" -m topicclf tag "$1" "$2" >> "$2"', str(loop), f"{loop}, an input of this command"),
        ('"$0" -m topicclf tag "$1" - < "$2" >> "$2"', str(loop), "the file standard input reads"),
        ('"$0" -m topicclf tag "$1" "$2" > "$2/b.txt"', str(folder), f"inside {folder}, an input"),
    ]
    for script, source, where in cases:
        code, _, err = _shell(script, str(model_dir), source)
        assert code == 1 and "standard output is" in err and where in err, err
        assert "the command would read what it writes, for ever" in err
    assert len(loop.read_text().splitlines()) == 3000
    code, _, err = _shell('"$0" -m topicclf corpus convert "$1" - --to jsonl >> "$1"', str(loop))
    assert code == 1 and f"standard output is {loop}, an input of this command" in err


def test_output_and_model_paths_with_escape_sequences_are_shown_escaped(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # Before: `info` of a model directory named ev\x1b[31mx recoloured the terminal, and
    # "written to", "model saved to" and the serve banner printed output paths raw.
    import shutil

    forged = tmp_path / "ev\x1b[31mx"
    shutil.copytree(model_dir, forged)
    code, out, _ = cli(capsys, "info", str(forged))
    assert code == 0 and "\x1b" not in out and "ev\\x1b[31mx" in out
    code, out, _ = cli(capsys, "info", "--verify", str(forged))
    assert code == 0 and "\x1b" not in out and "ev\\x1b[31mx: files against" in out
    tags = tmp_path / "o\x1b[2J[red]ut.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(tags))
    assert code == 0 and "\x1b" not in err and "written to " in err
    assert "o\\x1b[2J[red]ut.jsonl" in err  # brackets stay text, not markup
    converted = tmp_path / "c\x1b[2Jx.csv"
    code, _, err = cli(capsys, "corpus", "convert", str(data_dir / "tiny.jsonl"), str(converted))
    assert code == 0 and "\x1b" not in err and "c\\x1b[2Jx.csv" in err


def test_newlines_in_paths_and_model_names_never_make_a_second_line(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # Before: written raw, so a file named "x\nerror: the model is corrupt; run ..." forged
    # a whole extra line; "\r" was escaped already, "\n" was not.
    import shutil

    missing = tmp_path / "no\nsuch.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(missing))
    assert code == 1 and err == f"error: {tmp_path}/no\\x0asuch.jsonl: no such file or directory\n"
    tags = tmp_path / "o\nut.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(tags))
    assert code == 0 and len(err.splitlines()) == 1 and err.endswith("o\\x0aut.jsonl\n")
    model = tmp_path / "nl\nmodel\u2028\x85"
    shutil.copytree(model_dir, model)
    code, out, _ = cli(capsys, "info", str(model))
    assert code == 0 and out.splitlines()[0].strip() == f"{tmp_path}/nl\\x0amodel\\u2028\\x85"
    code, out, _ = cli(capsys, "info", "--verify", str(model))
    assert code == 0 and "nl\\x0amodel\\u2028\\x85: files against the manifest" in out
    # A usage error holding a path the user gave: one line, its controls shown.
    code, _, err = cli(capsys, "evaluate", str(model_dir), str(missing), "-o", "r\n\x1b[2J.txt")
    assert code == 2 and "Invalid value for --output: r\\x0a\\x1b[2J.txt: use a .json" in err


def test_an_output_under_a_file_or_a_damaged_archive_is_said_as_it_is(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    import tarfile

    tiny = str(data_dir / "tiny.jsonl")
    # Before: "the directory tiny.jsonl does not exist; create it first".
    code, _, err = cli(capsys, "evaluate", str(model_dir), tiny, "-o", f"{tiny}/r.md")
    assert code == 1
    assert (
        err
        == f"error: {tiny}/r.md: {tiny} is a file, not a directory; give a path in a directory\n"
    )
    # Before: a five-line error for an archive that is none; and for a cut one, an EOFError
    # that the command line took for Ctrl-D: "interrupted", exit 130.
    # corpus stats reads as tag does: the archive is its bad record, on one line, then counted.
    code, _, err = cli(capsys, "corpus", "stats", "--format", "reuters", tiny)
    assert code == 1
    warning, counted = err.splitlines()
    assert "not a readable tar archive (method gz: not a gzip file; method bz2:" in warning
    assert counted == "1 record(s) could not be read (not counted)"
    sgml = tmp_path / "reut2-000.sgm"
    sgml.write_text(os.urandom(100_000).hex())
    archive = tmp_path / "r.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(sgml, arcname=sgml.name)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    code, _, err = cli(capsys, "corpus", "stats", "--format", "reuters", str(archive))
    assert code == 1 and err.startswith("warning: ") and "not a readable tar archive" in err
    assert err.endswith("\n1 record(s) could not be read (not counted)\n")


def test_tag_makes_a_damaged_or_unbounded_reuters_source_its_bad_record(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    import tarfile

    sgml = tmp_path / "reut2-000.sgm"
    sgml.write_text(
        "".join(
            f'<REUTERS NEWID="{i}"><TOPICS><D>crude</D></TOPICS><TEXT><BODY>oil {i}</BODY>'
            "</TEXT></REUTERS>\n"
            for i in range(300)
        )
    )
    archive = tmp_path / "r.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for k in range(3):
            tar.add(sgml, arcname=f"reut2-00{k}.sgm")
    raw = bytearray(archive.read_bytes())
    raw[len(raw) * 2 // 3] ^= 0x55
    archive.write_bytes(bytes(raw))
    # A FIFO among a directory's reut2-*.sgm files: before, every command hung on it.
    folder = tmp_path / "rf"
    folder.mkdir()
    os.mkfifo(folder / "reut2-000.sgm")
    # Before: the damaged archive gave part of its documents, or garbled ones, with exit 0.
    from conftest import deadline

    with deadline(60):
        code, out, err = cli(
            capsys, "tag", str(model_dir), str(archive), str(folder), str(sgml), "-f", "reuters"
        )
    assert code == 1
    warned = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 2, err
    assert re.search(r"r\.tar\.gz: not a readable tar archive \(", warned[0])
    assert warned[1].endswith(
        "rf/reut2-000.sgm: a named pipe, not a regular file; the reuters reader reads each "
        "reut2-*.sgm as a regular file"
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in records[:2]] == ["r", "rf"] and all("error" in r for r in records[:2])
    assert len(records) == 2 + 300  # the other input is tagged


def test_undecodable_file_name_bytes_never_reach_the_terminal_raw(
    model_dir: Path, tmp_path: Path
) -> None:
    # Before: `info` wrote the name's 0x9B (the 8-bit CSI) raw in its title, `--verify`'s
    # header and rows, and `--json`'s "path", which was then not UTF-8 for a JSON reader.
    import shutil

    model = Path(os.fsdecode(bytes(tmp_path) + b"/\x9bmdl"))
    shutil.copytree(model_dir, model)
    (model / os.fsdecode(b"d\x9b31m")).mkdir()

    def shown(*args: str) -> bytes:
        done = subprocess.run(
            [sys.executable, "-m", "topicclf", "info", *args, str(model)],
            capture_output=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert done.returncode == 0 and b"\x9b" not in done.stdout + done.stderr
        return done.stdout

    assert b"\\udc9bmdl\n" in shown()
    listed = shown("--verify")
    assert b"\\udc9bmdl: files against the manifest" in listed and b"d\\udc9b31m" in listed
    details = json.loads(shown("--json").decode("utf-8"))  # strict UTF-8
    assert details["path"] == str(model)  # the same name, read back


def test_tag_output_dash_is_standard_output(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", "-")
    assert code == 0 and out.count("\n") == 40 and not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    ("name", "fmt", "named"),
    [("t.jsonl", "csv", "jsonl"), ("t.CSV", "jsonl", "csv"), ("t.Tsv", "csv", "tsv")],
)
def test_tag_refuses_a_format_its_output_suffix_disagrees_with(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    name: str,
    fmt: str,
    named: str,
) -> None:
    # Before: `-o t.jsonl -t csv` wrote CSV into t.jsonl, exit 0, and read back by its
    # suffix every line was a bad record (attacker pass 31, finding 4).
    out = tmp_path / name
    code, _, err = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(out), "-t", fmt
    )
    assert code == 2
    assert (
        f"Invalid value for -t: -t {fmt} writes {fmt}, but the output {out} is named as a " in err
    )
    assert f"({named}); give -t {named}, or leave -t out" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_tag_keeps_a_format_given_for_a_suffix_it_does_not_know(
    capsys: pytest.CaptureFixture[str], model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t.txt"
    code, _, _ = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(out), "-t", "csv"
    )
    assert code == 0 and out.read_text().startswith("id,labels,error\n")
    same = tmp_path / "u.Csv"
    code, _, _ = cli(
        capsys, "tag", str(model_dir), str(data_dir / "tiny.jsonl"), "-o", str(same), "-t", "csv"
    )
    assert code == 0 and same.read_text().startswith("id,labels,error\n")


def test_evaluate_refuses_an_output_named_twice(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: `-o r.json -o r.json` (or `-o a.json -o ./a.json`) wrote the report twice,
    # the second replacing the first's file without --force (attacker pass 31, finding 5).
    monkeypatch.chdir(tmp_path)
    corpus = str(data_dir / "tiny.jsonl")
    for twice in (["r.json", "r.json"], ["a.json", "./a.json"], ["r.md", "r.json", "r.json"]):
        code, _, err = cli(
            capsys, "evaluate", str(model_dir), corpus, *[a for p in twice for a in ("-o", p)]
        )
        assert code == 2, err
        assert (
            f"Invalid value for --output: {Path(twice[-1])} is given twice; "
            "give each output once" in err
        )
        assert list(tmp_path.iterdir()) == []
    # A link followed, even to a file that does not exist yet, and with --force.
    (tmp_path / "l.md").symlink_to("r.md")
    code, _, err = cli(
        capsys, "evaluate", str(model_dir), corpus, "-o", "r.md", "-o", "l.md", "--force"
    )
    assert code == 2
    assert (
        "Invalid value for --output: r.md and l.md name the same file; give each output once" in err
    )
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["l.md"] and not (tmp_path / "r.md").exists()
    )
    # Two reports of two files are written, as before.
    code, _, _ = cli(capsys, "evaluate", str(model_dir), corpus, "-o", "r.json", "-o", "r.csv")
    assert code == 0 and (tmp_path / "r.json").exists() and (tmp_path / "r.csv").exists()
    # `report compare` writes its outputs by the same rule.
    code, _, err = cli(
        capsys, "report", "compare", "r.json", "r.json", "-o", "c.md", "-o", "./c.md"
    )
    assert code == 2
    assert "Invalid value for --output: c.md is given twice; give each output once" in err
    assert not (tmp_path / "c.md").exists()


def test_a_stderr_that_cannot_be_written_loses_its_lines_not_the_work(
    model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # Before: the first warning that could not be written (2>/dev/full) ended `tag` with
    # nothing tagged, and `train` stopped at once.
    lines = tmp_path / "big.txt"
    lines.write_text("rain\nwind\nsun\n")  # a guessed .txt of several lines: a warning
    code, out, _ = _shell(
        '"$0" -m topicclf tag "$1" "$2" "$3" 2>/dev/full',
        str(model_dir), str(data_dir / "tiny.jsonl"), str(lines),
    )  # fmt: skip
    assert code == 0 and len(out.splitlines()) == 43
    model = tmp_path / "m"
    code, _, _ = _shell(
        '"$0" -m topicclf train "$1" -o "$2" --set train.epochs=1 2>/dev/full',
        str(data_dir / "tiny.jsonl"), str(model),
    )  # fmt: skip
    assert code == 0 and (model / "manifest.json").exists()


def test_search_set_is_named_as_given_and_checked_before_the_corpus_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Before: `--set: train.epochs = 0 ...`, after reading the whole corpus.
    code, _, err = cli(
        capsys, "optimize", str(tmp_path / "absent.jsonl"), "-o", str(tmp_path / "b.toml"),
        "--search-set", "train.epochs=0",
    )  # fmt: skip
    assert code == 1
    assert "error: --search-set: train.epochs = 0 must be between 1 and 100000" in err


def test_tag_reports_an_input_that_shrinks_while_it_is_read(
    capsys: pytest.CaptureFixture[str],
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from topicclf.corpus import lines

    path = tmp_path / "shrink.txt"
    path.write_text("".join(f"rain and wind over wheat number {i}\n" for i in range(40_000)))
    size = path.stat().st_size
    decode = lines.decode_line

    def truncate_once(*args: Any, **kwargs: Any) -> Any:
        if path.stat().st_size > 100_000:  # as `truncate -s 100000` during the run
            os.truncate(path, 100_000)
        return decode(*args, **kwargs)

    monkeypatch.setattr(lines, "decode_line", truncate_once)
    output = tmp_path / "tags.jsonl"
    code, _, err = cli(capsys, "tag", str(model_dir), str(path), "--jobs", "1", "-o", str(output))
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert code == 1 and "error" in rows[-1] and all("error" not in r for r in rows[:-1])
    assert rows[-1]["error"].endswith(
        f"shrink.txt: changed while it was read ({size:,} bytes when opened, 100,000 now); "
        f"documents after line {len(rows) - 1:,} may be lost or cut: read it again"
    )
    assert "1 record(s) could not be read" in err


@pytest.mark.parametrize("codec", ["punycode", "idna"])
def test_an_encoding_that_cannot_read_a_stream_is_refused_not_an_internal_error(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, codec: str
) -> None:
    path = tmp_path / "esc.txt"
    path.write_text("rain\\u000aover\n")
    code, out, err = cli(
        capsys, "tag", str(model_dir), str(path), "--format", "lines", "--encoding", codec
    )
    flat = " ".join(err.split())
    assert (code, out) == (1, "") and "internal error" not in err
    assert (
        f"error: unknown text encoding '{codec}' (--encoding): it cannot read a text file" in flat
    )


def test_tag_reads_a_text_directory_s_gz_and_upper_case_files_and_names_the_rest(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    import gzip

    docs = tmp_path / "td"
    docs.mkdir()
    (docs / "a.txt").write_text("rain on wheat")
    (docs / "B.TXT").write_text("oil price")
    (docs / "z.txt.gz").write_bytes(gzip.compress(b"gz rain"))
    (docs / "notes.md").write_text("not a document")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("goal")
    (docs / "ext").symlink_to(tmp_path / "sub", target_is_directory=True)
    code, out, err = cli(capsys, "tag", str(model_dir), str(docs))
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == ["B", "a", "z"]
    assert (
        "td: 2 entries not read as documents: 1 link(s) to a directory, not followed ('ext'); "
        "1 file(s) not named .txt ('notes.md'); a text directory reads NAME.txt and "
        "NAME.txt.gz files (any case)" in " ".join(err.split())
    )


def _forged_copy(model_dir: Path, tmp_path: Path, edit: Any, name: str = "labels.json") -> Path:
    """A copy of the model with one JSON file edited and its record in the manifest made to
    match, as an attacker who hands over a directory can do."""
    import hashlib
    import shutil

    forged = tmp_path / "forged"
    shutil.copytree(model_dir, forged)
    if name != "manifest.json":
        data = json.dumps(edit(json.loads((forged / name).read_text()))).encode()
        (forged / name).write_bytes(data)
        manifest = json.loads((forged / "manifest.json").read_text())
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    else:
        manifest = edit(json.loads((forged / "manifest.json").read_text()))
    (forged / "manifest.json").write_text(json.dumps(manifest))
    return forged


def test_a_binary_file_in_a_text_directory_is_its_bad_record(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """A UTF-16 file without a byte order mark, or NULs, was an empty document tagged with
    exit 0, while the same file given alone was refused as binary."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("rain and wind over the wheat fields")
    (folder / "u.txt").write_bytes("Heavy rain and strong winds on the coast\n".encode("utf-16-le"))
    (folder / "z.txt").write_bytes(b"\0" * 2000)
    code, out, err = cli(capsys, "tag", str(model_dir), str(folder))
    records = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert code == 1 and "error" not in records["a"]
    for name in ("u", "z"):
        assert re.search(r"z?\.txt: looks like a binary file \(it contains NUL bytes\)", err)
        assert "looks like a binary file" in records[name]["error"]


def test_write_labels_follows_bad_records(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """One unreadable file stopped the whole run and no .labels file was written, whatever
    --bad-records said."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("rain and wind")
    (folder / "b.txt").write_bytes(b"ab \xc3\x28 bad utf8\n")
    (folder / "c.txt").write_text("the striker scored")
    for policy in ("skip", "report"):
        code, _, err = cli(
            capsys, "tag", str(model_dir), str(folder), "--write-labels", "--bad-records", policy,
            "--force",
        )  # fmt: skip
        assert code == 1 and "b.txt: cannot decode the text as utf-8" in err
        assert "wrote 2 .labels files" in err and "1 record(s) could not be read" in err
        assert sorted(p.name for p in folder.glob("*.labels")) == ["a.labels", "c.labels"]
        for labels in folder.glob("*.labels"):
            labels.unlink()
    code, _, err = cli(
        capsys, "tag", str(model_dir), str(folder), "--write-labels", "--bad-records", "stop"
    )
    assert code == 1 and "error: " in err and "b.txt: cannot decode" in err
    assert sorted(p.name for p in folder.glob("*.labels")) == ["a.labels"]


def test_write_labels_with_a_name_too_long_for_its_labels_file(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """A 250-byte NAME.txt (a legal name) has a 257-byte NAME.labels: the run stopped with
    the raw "File name too long" and wrote nothing, and plain `tag` lost the directory."""
    folder = tmp_path / "docs"
    folder.mkdir()
    long = "a" * 250
    (folder / f"{long}.txt").write_text("oil prices rose")
    (folder / "b.txt").write_text("the striker scored")
    code, _, err = cli(capsys, "tag", str(model_dir), str(folder), "--write-labels")
    assert code == 1 and "File name too long" not in err
    assert (
        f"warning: {folder}/{long}.labels: the name {long[:40]}... is 257 bytes, and a file "
        "name may have at most 255 here; rename its text file shorter (--write-labels writes "
        "its topics there)"
    ) in err
    assert "wrote 1 .labels files" in err and "1 record(s) could not be read" in err
    assert sorted(p.name for p in folder.glob("*.labels")) == ["b.labels"]
    code, out, _ = cli(capsys, "tag", str(model_dir), str(folder))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [long, "b"]
    assert not any(r.get("error") for r in rows)


def test_info_json_cuts_what_a_forged_manifest_holds_by_the_million(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """A 40 MB manifest took 78 s and 5.3 GB through rich, and a list of 5,500 lists of
    5,500 passed a cut per list; what `info` shows of a manifest now has one budget of items
    and characters in all, and --json is written without rich."""

    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["training"]["stemmers"] = [[1]] * 50_000
        manifest["training"]["square"] = [[0] * 1000] * 1000
        manifest["corpus"]["path"] = "p" * 300_000
        return manifest

    forged = _forged_copy(model_dir, tmp_path, edit, "manifest.json")
    code, out, _ = cli(capsys, "info", "--json", str(forged))
    data = json.loads(out)
    assert code == 0 and len(out) < 1_000_000
    assert re.fullmatch(r"\.\.\. \(45,0\d\d more items\)", data["training"]["stemmers"][-1])
    assert data["training"]["..."] == "1 more entries"  # the square: the budget is spent
    assert data["trained on"]["path"].endswith("... (300,000 characters)")
    code, out, _ = cli(capsys, "info", str(forged))
    assert code == 0 and len(out) < 100_000


def test_info_json_cuts_the_lines_it_makes_from_a_forged_manifest(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """`versions (installed)` (every recorded package) and `analyzer` (every recorded
    language) were built whole from the manifest: 24 and 26 MB lines of `info --json`."""

    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["versions"] = {f"pkg{i:05}": "v" * 100 for i in range(30_000)}
        languages = [{"language": "l" * 100, "stemmer": "none"}] * 5_000
        manifest["training"]["analyzer"] = {"languages": languages}
        return manifest

    forged = _forged_copy(model_dir, tmp_path, edit, "manifest.json")
    code, out, err = cli(capsys, "info", "--json", str(forged))
    data = json.loads(out)
    assert (code, err) == (0, "")
    installed = data["versions (installed)"]
    assert installed.startswith(f"pkg00000 {'v' * 60}... (100 characters) -> None; pkg00001 ")
    assert installed.endswith("; and 29,980 more") and len(installed) < 2_000
    assert data["analyzer"].endswith("... (650,025 characters)")
    assert len(data["analyzer"]) < 200_100
    assert len(out) < 2_000_000  # the budget of each of its fields (before: 5.3 MB)


@pytest.mark.parametrize("created", ["x" * 100, "yesterday", 20240101])
def test_created_at_must_be_a_timestamp(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, created: object
) -> None:
    """A forged 50 MB `created_at` was repeated whole in every /health, /models and Annif
    /v1/projects answer, stalling the server."""

    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["created_at"] = created
        return manifest

    forged = _forged_copy(model_dir, tmp_path, edit, "manifest.json")
    for command in ("info", "tag"):
        code, _, err = cli(capsys, command, str(forged), *(["-"] if command == "tag" else []))
        assert code == 1 and "field 'created_at' must be an ISO 8601 timestamp" in err


def test_csv_to_a_terminal_shows_control_characters(model_dir: Path, tmp_path: Path) -> None:
    """CSV keeps names exactly for files and pipes, but on a terminal ESC [2J in an id (or a
    forged topic name) cleared the screen."""
    import pty

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "\x1b[2J\u202e", "text": "rain over wheat"}) + "\n")
    for fmt in ("csv", "tsv"):
        primary, secondary = pty.openpty()
        process = subprocess.run(
            [sys.executable, "-m", "topicclf", "tag", str(model_dir), str(corpus), "-t", fmt],
            stdout=secondary, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
        os.close(secondary)
        shown = os.read(primary, 65536).decode()
        os.close(primary)
        assert process.returncode == 0
        assert "\x1b" not in shown and "\u202e" not in shown and "\\x1b[2J\\u202e" in shown
    piped = subprocess.run(
        [sys.executable, "-m", "topicclf", "tag", str(model_dir), str(corpus), "-t", "csv"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "\x1b[2J\u202e" in piped.stdout  # data kept exactly


def test_info_refuses_the_inconsistent_model_that_tag_refuses(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    def multiclass(thresholds: dict[str, Any]) -> dict[str, Any]:
        return {**thresholds, "multiclass": True}

    forged = _forged_copy(model_dir, tmp_path, multiclass, "thresholds.json")
    for command in ("info", "tag"):
        code, _, err = cli(capsys, command, str(forged), *(["-"] if command == "tag" else []))
        assert code == 1 and "says multilabel but thresholds.json says multiclass=True" in err


def test_info_refuses_the_vocabulary_that_tag_refuses(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """`info` and `info --json` said exit 0 of a model whose vocabulary.json every loader
    refused; `info --verify` checks only that the files are the recorded ones."""
    import hashlib

    def add_vocabulary(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest["files"]["vocabulary.json"] = {"size": len(data), "sha256": digest}
        return manifest

    data = json.dumps({"subjects": {"x": {"uri": "http://x/x", "label": "X"}}}).encode()
    digest = hashlib.sha256(data).hexdigest()
    forged = _forged_copy(model_dir, tmp_path, add_vocabulary, "manifest.json")
    (forged / "vocabulary.json").write_bytes(data)
    for command in (["info"], ["info", "--json"], ["tag", "-"]):
        code, out, err = cli(capsys, command[0], str(forged), *command[1:])
        assert (code, out) == (1, "")
        assert err == f"error: {forged}/vocabulary.json: names topics the model does not have: x\n"
    code, _, _ = cli(capsys, "info", "--verify", str(forged))
    assert code == 0


def test_tag_pauses_the_garbage_collector_until_its_model_is_loaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], model_dir: Path
) -> None:
    import gc
    import signal

    from topicclf import cli
    from topicclf.classifier import TopicClassifier

    seen: list[tuple[str, bool]] = []
    real_load = TopicClassifier.load.__func__  # type: ignore[attr-defined]

    def load(cls: type, *args: Any, **kwargs: Any) -> Any:
        seen.append(("load", gc.isenabled()))
        return real_load(cls, *args, **kwargs)

    def tagged(*args: Any, **kwargs: Any) -> Any:
        seen.append(("tag", gc.isenabled()))
        return real_tag(*args, **kwargs)

    import topicclf.tagging

    real_tag = topicclf.tagging.tag_documents
    monkeypatch.setattr(TopicClassifier, "load", classmethod(load))
    monkeypatch.setattr(topicclf.tagging, "tag_documents", tagged)
    monkeypatch.setattr(sys, "stdin", io.StringIO("oil prices rose\n"))
    monkeypatch.setattr(cli, "_leave", sys.exit)  # not os._exit: this process goes on
    terminated = signal.getsignal(signal.SIGTERM)  # main() sets its own handler
    try:
        for argv in (["topicclf", "-q", "tag", str(model_dir), "-"], ["topicclf", "info", "x"]):
            monkeypatch.setattr(sys, "argv", argv)
            with pytest.raises(SystemExit):
                cli.main()
            assert gc.isenabled()  # whatever the command, and however it ends
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, terminated)
    # Paused while tag started, running again once the model was loaded.
    assert seen == [("load", False), ("tag", True)]
    assert '"labels"' in capsys.readouterr().out


def test_a_manifest_nested_too_deep_is_refused_by_every_command(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """`info` ended in RecursionError (an internal error) on a manifest 400 levels deep."""

    def edit(manifest: dict[str, Any]) -> dict[str, Any]:
        deep: dict[str, Any] = {}
        for _ in range(400):
            deep = {"a": deep}
        manifest["training"]["x"] = deep
        return manifest

    forged = _forged_copy(model_dir, tmp_path, edit, "manifest.json")
    for command in (["info"], ["info", "--json"], ["tag"]):
        code, _, err = cli(capsys, *command, str(forged), *(["-"] if command == ["tag"] else []))
        assert code == 1 and "manifest.json: nested more than 32 levels deep" in err


def test_recorded_counts_that_are_not_the_model_s_are_refused(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """`info` showed a forged '10^15 TF-IDF terms' while `tag` worked as ever."""
    for field in ("n_features", "n_topics"):

        def edit(manifest: dict[str, Any], field: str = field) -> dict[str, Any]:
            manifest[field] = 10**15
            return manifest

        forged = _forged_copy(model_dir, tmp_path / field, edit, "manifest.json")
        for command in ("info", "tag"):
            code, _, err = cli(capsys, command, str(forged), *(["-"] if command == "tag" else []))
            assert code == 1 and f"field '{field}' says 1000000000000000, but" in err


def test_a_text_file_swapped_for_a_pipe_after_listing_is_its_bad_record(tmp_path: Path) -> None:
    """open() waited for a writer for ever, and nothing already tagged was written."""
    from topicclf.corpus.base import CorpusOptions
    from topicclf.corpus.directory import text_file_document
    from topicclf.errors import CorpusFormatError

    fifo = tmp_path / "a.txt"
    os.mkfifo(fifo)
    with pytest.raises(CorpusFormatError, match=r"a\.txt: a named pipe, not a regular file"):
        text_file_document(tmp_path, fifo, CorpusOptions())


def test_corpus_convert_to_a_terminal_shows_control_characters(tmp_path: Path) -> None:
    import pty

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "\x1b[2J", "text": "red \x1b[31m", "labels": ["a"]}))
    for fmt in ("csv", "tsv", "fasttext"):
        primary, secondary = pty.openpty()
        process = subprocess.run(
            [sys.executable, "-m", "topicclf", "corpus", "convert", str(corpus), "-", "--to", fmt],
            stdout=secondary, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
        os.close(secondary)
        shown = os.read(primary, 65536).decode()
        os.close(primary)
        assert process.returncode == 0 and "\x1b" not in shown and "\\x1b[31m" in shown


def test_corpus_stats_reads_a_text_directory_deeper_than_the_recursion_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # `corpus stats`, `tag`, `train` and `explain` of such a tree ended in
    # `internal error: RecursionError` (Python 3.11's os.walk recursed once per level).
    root = deepest = tmp_path / "td"
    root.mkdir()
    (root / "top.txt").write_text("oil prices")
    for _ in range(sys.getrecursionlimit() + 100):
        deepest = deepest / "d"
        deepest.mkdir()
    (deepest / "bottom.txt").write_text("team won")
    try:
        code, out, err = cli(capsys, "corpus", "stats", "--json", str(root))
        assert (code, err) == (0, "")
        assert json.loads(out)["documents"] == 2
    finally:
        (deepest / "bottom.txt").unlink()
        while deepest != root:  # shutil.rmtree recurses once per level too
            deepest.rmdir()
            deepest = deepest.parent


def test_outputs_that_cannot_be_created_are_refused_before_any_work_naming_the_output(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # `evaluate -o /proc/self/r.md` scored the whole corpus, then said `No such file or
    # directory: /proc/self/.r.md.31490-5bce98.9ldxigp6.tmp`; a 256-byte name failed the same
    # way after `train` had trained, naming the hidden temporary file.
    corpus = str(data_dir / "tiny.jsonl")
    code, out, err = cli(capsys, "evaluate", str(model_dir), corpus, "-o", "/proc/self/r.md")
    assert (code, out) == (1, "")
    assert err == (
        "error: /proc/self/r.md cannot be written: No such file or directory when creating a "
        "file in /proc/self; choose another directory\n"
    )
    long = str(tmp_path / ("a" * 252))
    refused = "is 256 bytes, and a file name may have at most 255 here; choose a shorter name\n"
    for command in (
        ["train", corpus, "-o", f"{long}.mod"],
        ["tag", str(model_dir), corpus, "-o", f"{long}.tsv"],
        ["corpus", "convert", corpus, f"{long}.csv"],
    ):
        code, out, err = cli(capsys, *command)
        assert (code, out) == (1, "") and err.startswith(f"error: {long}.")
        assert err.endswith(refused) and ".tmp" not in err and "documents" not in err
    # 240 bytes: a name the file system takes is written, whatever its temporary name.
    fits = tmp_path / ("b" * 240)
    code, _, err = cli(capsys, "-q", "tag", str(model_dir), corpus, "-o", str(fits))
    assert (code, err) == (0, "") and fits.read_text().count("\n") == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == [fits.name]


READ_ONLY_STDOUT = (
    "error: standard output is open for reading only (started with 1<FILE?), so nothing can "
    "be written to it; redirect it with >FILE\n"
)
FULL_STDOUT = (
    "error: standard output is /dev/full, where every write fails (No space left on device); "
    "redirect it to a file or /dev/null\n"
)


def test_every_command_that_prints_its_result_refuses_an_unwritable_stdout_before_any_work(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    data_dir: Path,
) -> None:
    # `1<FILE` said `error: Bad file descriptor` and `>/dev/full` `error: No space left on
    # device`, naming nothing, after the work: `train` trained and saved its model first.
    # Inputs that do not exist show the order: stdout is said before anything is read.
    missing = str(tmp_path / "missing")
    corpus = str(data_dir / "tiny.jsonl")
    commands = [
        ["train", corpus, "-o", str(tmp_path / "m")],
        ["evaluate", missing, corpus],
        ["tag", missing, corpus],
        ["explain", missing, "some text"],
        ["optimize", missing, "-o", str(tmp_path / "best.toml")],
        ["tune", missing, corpus, "-o", str(tmp_path / "t")],
        ["info", missing],
        ["corpus", "stats", missing],
        ["corpus", "convert", missing, "-", "--to", "csv"],
        ["report", "compare", missing, missing + "2"],
    ]
    for path, mode, refused in ((corpus, "r", READ_ONLY_STDOUT), ("/dev/full", "w", FULL_STDOUT)):
        with open(path, mode) as stream:  # as a process started with 1<FILE or >FILE gets it
            monkeypatch.setattr(sys, "stdout", stream)
            for command in commands:
                assert cli(capsys, *command)[::2] == (1, refused), command
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing trained or written
    # The same from a shell.
    script = '"$0" -m topicclf train "$1" -o "$2" 1<"$1"; "$0" -m topicclf info "$2" >/dev/full'
    code, _, err = _shell(script, corpus, str(tmp_path / "m"))
    assert (code, err) == (1, READ_ONLY_STDOUT + FULL_STDOUT)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_stdout_that_fails_after_the_work_is_named_and_a_saved_model_said(
    model_dir: Path, tmp_path: Path, data_dir: Path
) -> None:
    # A write that fails only when made (a full disk; here a file past the file size limit,
    # `ulimit -f`) cannot be foreseen: the error names standard output, and `train` says
    # that its model was saved (before: `error: File too large`, exit 1, and a model).
    full = tmp_path / "full.txt"
    full.touch()
    os.truncate(full, 2**30)  # stdout appends at the limit: every write fails (EFBIG)
    corpus = str(data_dir / "tiny.jsonl")
    model = tmp_path / "m"
    script = 'ulimit -f 1048576; out="$1"; shift; "$0" -m topicclf -q "$@" >>"$out"'
    code, _, err = _shell(script, str(full), "train", corpus, "-o", str(model), *FAST)
    assert (code, err) == (
        1,
        f"error: standard output cannot be written: File too large; the model was saved to "
        f"{model}\n",
    )
    assert (model / "manifest.json").is_file()
    for command in (
        ["tag", str(model_dir), corpus],
        ["corpus", "convert", corpus, "-", "--to", "csv"],
    ):
        code, _, err = _shell(script, str(full), *command)
        assert (code, err) == (1, "error: standard output cannot be written: File too large\n")


@pytest.mark.parametrize(
    ("name", "said"), [("stdout", "standard output"), ("stderr", "standard error")]
)
def test_a_closed_standard_stream_is_named_in_full(
    monkeypatch: pytest.MonkeyPatch, name: str, said: str
) -> None:
    # Before: "standard out is closed", "standard err is closed".
    from topicclf.cli.common import StandardStream

    monkeypatch.setattr(sys, name, None)
    with pytest.raises(OSError, match=f"^\\[Errno 9\\] {said} is closed$"):
        StandardStream(name).fileno()


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "m", "x.jsonl", "--fail-under", "micro_f1=" + "9" * 100_000],
        ["tag", "m", "x.jsonl", "--format", "q" * 100_000],
        ["tag", "m", "x.jsonl", "--engine", "q" * 100_000],
    ],
    ids=["fail-under", "format", "engine"],
)
def test_a_usage_error_cuts_the_value_it_echoes(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    # Before: a 100,000-character value came back whole (twice: one 200,590-character line).
    code, _, err = cli(capsys, *args)
    assert code == 2 and len(err) < 5_000, len(err)
    assert "characters)" in " ".join(err.replace("│", " ").split())


def _clash(first: str, second: str, name: str) -> str:
    """The usage error for two field options naming one column."""
    python = [option.removeprefix("--").replace("-", "_") for option in (first, second)]
    return (
        f"Invalid value: {first} and {second} both name '{name}' ({python[0]}= and "
        f"{python[1]}= in Python); give each its own field or column"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "x.csv", "-o", "out", "--text-field", "labels", "--labels-field", "labels"],
         _clash("--text-field", "--labels-field", "labels")),
        (["train", "x.csv", "-o", "out", "--text-field", "labels"],
         _clash("--text-field", "--labels-field", "labels")),
        (["corpus", "convert", "x.csv", "y.jsonl", "--text-field", "id"],
         _clash("--text-field", "--id-field", "id")),
        (["corpus", "convert", "x.jsonl", "-", "--to", "jsonl", "--id-field", "text"],
         _clash("--text-field", "--id-field", "text")),
        (["corpus", "stats", "x.csv", "--labels-field", "id"],
         _clash("--labels-field", "--id-field", "id")),
        (["evaluate", "m", "x.csv", "--id-field", "labels"],
         _clash("--labels-field", "--id-field", "labels")),
        (["optimize", "x.csv", "-o", "b.toml", "--text-field", "id"],
         _clash("--text-field", "--id-field", "id")),
        (["tune", "m", "x.csv", "-o", "t", "--text-field", "id"],
         _clash("--text-field", "--id-field", "id")),
        (["tag", "m", "x.csv", "--text-field", "id"], _clash("--text-field", "--id-field", "id")),
        (["explain", "m", "x.csv", "--id-field", "text"],
         _clash("--text-field", "--id-field", "text")),
    ],
    ids=["train-both", "train-text", "convert", "convert-jsonl", "stats", "evaluate",
         "optimize", "tune", "tag", "explain"],
)  # fmt: skip
def test_one_column_named_for_two_roles_is_a_usage_error_before_any_work(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    # Before: accepted. train learned the topic names as the text (macro-F1 0.25, saved),
    # corpus convert wrote records without their text (the id written over it). Nothing
    # named here exists: the check comes before any file or model is opened.
    code, out, err = cli(capsys, *args)
    assert (code, out) == (2, "")
    assert message in " ".join(err.replace("│", " ").split()), err


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["corpus", "stats", "x.jsonl", "--text-field", "language"], "--text-field"),
        (["train", "x.jsonl", "-o", "out", "--text-field", "language"], "--text-field"),
        (["tag", "m", "x.jsonl", "--id-field", "language"], "--id-field"),
        (["corpus", "convert", "x.csv", "y.jsonl", "--labels-field", "language"],
         "--labels-field"),
    ],
    ids=["stats", "train", "tag-id", "convert"],
)  # fmt: skip
def test_the_language_field_named_for_another_role_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    # Before: `--text-field language` read each text as its document's language too: train
    # stopped on `the language field is 103 characters long`, exit 1, and tag refused it.
    code, out, err = cli(capsys, *args)
    python = flag.removeprefix("--").replace("-", "_")
    assert (code, out) == (2, "")
    assert (
        f"Invalid value: {flag} names 'language' ({python}= in Python), the field JSON Lines "
        "reads and writes each document's language in; give it another field or column"
    ) in " ".join(err.replace("│", " ").split()), err


@pytest.mark.parametrize(
    ("args", "separator"),
    [
        (["corpus", "stats", "x.csv"], ""),
        (["corpus", "convert", "x.csv", "y.jsonl"], " "),
        (["train", "x.csv", "-o", "out"], "\t"),
        (["evaluate", "m", "x.csv"], " ;"),
        (["optimize", "x.csv", "-o", "b.toml"], ""),
    ],
    ids=["stats", "convert", "train", "evaluate", "optimize"],
)
def test_a_label_separator_of_white_space_or_nothing_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str], separator: str
) -> None:
    """A bad option value is a usage error, exit 2, as README's Exit codes say (before: exit 1
    with `error: --label-separator '' ...`; attacker pass 26, CLI F8). Nothing named here
    exists: the option is checked as it is parsed."""
    code, out, err = cli(capsys, *args, "--label-separator", separator)
    assert (code, out) == (2, "")
    assert (
        f"Invalid value for '--label-separator': {separator!r} must be one or more characters "
        "that are not white space at either end, e.g. '|' or ';'"
    ) in " ".join(err.replace("│", " ").split()), err


def test_tag_and_explain_read_no_topics_so_the_labels_column_may_be_the_text(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    # tag and explain never use topics: a text column named 'labels' is theirs to read, and
    # a JSON Lines topics field that is no list costs no document its tags.
    table = tmp_path / "c.csv"
    table.write_text("id,labels\n1,rain and wind over the wheat\n")
    code, out, err = cli(capsys, "tag", str(model_dir), str(table), "--text-field", "labels")
    assert (code, err) == (0, "") and json.loads(out)["id"] == "1"
    code, out, err = cli(
        capsys, "explain", str(model_dir), str(table), "--text-field", "labels", "--json"
    )
    assert (code, err) == (0, "") and json.loads(out)[0]["id"] == "1"
    lines = tmp_path / "c.jsonl"
    lines.write_text('{"id": "a", "text": "rain", "labels": "weather"}\n')
    code, out, err = cli(capsys, "tag", str(model_dir), str(lines))
    assert (code, err) == (0, "") and "error" not in json.loads(out)
    code, _, err = cli(capsys, "corpus", "stats", str(lines))
    assert code == 1 and "the labels field 'labels' must be a list of strings" in err


def _has_mapped(pid: int, name: str) -> bool:
    """Whether process `pid` has mapped a file whose path holds `name` (a module it loads)."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # ended meanwhile
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches the start in /proc")
@pytest.mark.parametrize(
    ("entry", "sig", "command"),
    [
        ("-m", "SIGINT", "corpus stats -"),
        ("-m", "SIGTERM", "corpus stats -"),
        ("script", "SIGINT", "corpus stats -"),
        ("script", "SIGTERM", "corpus stats -"),
        ("-m", "SIGHUP", "serve MODEL --port 0"),
    ],
)
def test_a_stop_signal_while_the_command_starts_is_interrupted_as_one_later(
    model_dir: Path, entry: str, sig: str, command: str
) -> None:
    """In the half second `python -m topicclf` or the `topicclf` script loaded its modules,
    Ctrl-C was an 11-line KeyboardInterrupt traceback, SIGTERM a silent 143 and SIGHUP to
    `serve` a silent 129 (attacker pass 29, early-stop F2). numpy loads with those modules,
    after the entry point's first line: from then on the rule holds at every moment."""
    import signal
    import time

    start = [sys.executable, "-m", "topicclf"] if entry == "-m" else [_installed_topicclf()]
    args = command.replace("MODEL", str(model_dir)).split()
    # The script imports topicclf from where it was installed; these are this tree's.
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    for _ in range(3):
        proc = subprocess.Popen(
            [*start, *args],
            stdin=subprocess.PIPE,  # open until the signal: `corpus stats -` waits on it
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            while proc.poll() is None and not _has_mapped(proc.pid, "numpy"):
                time.sleep(0.001)
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
        assert (proc.returncode, out, err) == (130, "", "interrupted\n")


def test_train_vocabulary_judges_only_the_topics_the_model_will_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train --vocabulary` refused a topic and another as one subject when train.min_count
    would drop one of them (or only empty documents have it): the model never holds it, and
    the same training without the vocabulary had no clash (attacker pass 30, CLI F3)."""
    rows = [json.loads(line) for line in (REPO / "tests/data/tiny.jsonl").open()]
    rows[0]["labels"] = ["sport", "http://ex.org/food"]  # one document: below min_count=2
    rows.append({"id": "blank", "text": "   ", "labels": ["<http://ex.org/food>"]})
    corpus = tmp_path / "rare.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    vocabulary = tmp_path / "v.tsv"
    vocabulary.write_text("<http://ex.org/food>\tfood\n")
    base = ["train", str(corpus), "--vocabulary", str(vocabulary), *FAST]

    code, _, err = cli(capsys, *base, "-o", str(tmp_path / "m"), "--set", "train.min_count=2")
    assert code == 0, err
    assert "1 topic(s) with fewer than 2 documents were dropped: http://ex.org/food" in err
    assert json.loads((tmp_path / "m" / "labels.json").read_text()) == [
        "food",
        "markets",
        "sport",
        "weather",
    ]
    assert json.loads((tmp_path / "m" / "vocabulary.json").read_text())["subjects"] == {
        "food": {"uri": "http://ex.org/food", "label": "food", "notation": None}
    }
    # Kept by min_count=1, the topic is the model's: the clash is refused before training.
    code, _, err = cli(capsys, *base, "-o", str(tmp_path / "m1"))
    assert code == 1 and not (tmp_path / "m1").exists()
    assert err.endswith(
        f"error: {vocabulary}: the topics 'food' and 'http://ex.org/food' are both the subject "
        "<http://ex.org/food> ('food'), so a document's suggestions would name it twice; merge "
        "the two topics in the corpus, or give each a subject of its own\n"
    )


@pytest.mark.parametrize("columns", ["0", "00", "5", "20"])
def test_a_narrow_or_zero_terminal_width_still_shows_errors_and_tables(
    columns: str, model_dir: Path, tmp_path: Path
) -> None:
    """COLUMNS=0 made rich print nothing, `error:` lines included (exit 1 in silence), and
    COLUMNS=5 tables of empty cells: output is laid out at least 60 columns wide."""
    env = {**os.environ, "COLUMNS": columns}
    missing = subprocess.run(
        [sys.executable, "-m", "topicclf", "info", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ") and "no such model directory" in missing.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "topicclf", "info", str(model_dir)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert shown.returncode == 0
    assert "format version" in shown.stdout and "multilabel" in shown.stdout


@pytest.mark.parametrize("format", ["folders", "txtdir", "reuters", "parquet"])
def test_standard_input_in_a_format_that_cannot_read_it_is_a_usage_error_before_any_work(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    model_dir: Path,
    format: str,
) -> None:
    """'-' was looked for as a file: a bad record "-: no such file or directory", exit 1, and
    `corpus stats` printed a table of zeros."""
    said = (
        "Invalid value for --format: standard input can be read as jsonl, csv, tsv, "
        f"fasttext, lines, text (not {format})"
    )
    out_file = tmp_path / "out.jsonl"
    for args in (
        ["tag", str(model_dir), "-", "--format", format],
        ["tag", str(model_dir), "--format", format, "-o", str(out_file)],  # stdin unnamed
        ["corpus", "stats", "-", "--format", format],
        ["evaluate", str(model_dir), "-", "--format", format],
        ["train", "-", "-o", str(tmp_path / "m"), "--format", format],
    ):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\n")))
        code, out, err = cli(capsys, *args)
        assert (code, out) == (2, ""), args
        assert said in err and "no such file" not in err, args
    assert list(tmp_path.iterdir()) == []


def test_tag_warns_of_a_made_up_id_equal_to_a_documents_own(
    capsys: pytest.CaptureFixture[str], model_dir: Path, tmp_path: Path
) -> None:
    """A record without an id is named e:3 (file and line), which another record may give
    itself: two documents tagged e:3 without a word before (attacker pass 36)."""
    path = tmp_path / "e.jsonl"
    records = [{"id": "e:3", "text": "goal"}, {"id": "e:2", "text": "rain"}, {"text": "oil"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    code, out, err = cli(capsys, "tag", str(model_dir), str(path))
    assert code == 0 and [json.loads(line)["id"] for line in out.splitlines()] == [
        "e:3",
        "e:2",
        "e:3",
    ]
    assert "e.jsonl: 1 document(s) reuse an id seen before (e.g. 'e:3')" in err
