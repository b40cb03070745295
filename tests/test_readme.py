"""The README's `$ topicclf ...` examples run, verbatim, on the demo corpus in a fresh
directory (scripts/readme_examples.py), so they cannot silently break."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_every_readme_example_succeeds() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("[0] $ topicclf") >= 6


def test_examples_are_found_and_skips_are_marked() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    from readme_examples import README, parse

    blocks = parse(README.read_text(encoding="utf-8").splitlines())
    commands = [e.command for b in blocks if not b.skipped for e in b.examples]
    assert any(c.startswith("topicclf train corpora/newsbriefs/train.jsonl") for c in commands)
    assert all("dask scheduler" not in c for c in commands)  # a cluster: marked skip


@pytest.mark.slow
def test_the_python_examples_show_what_they_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ```pycon block of the README runs as a doctest on the demo corpus, in a fresh
    directory, so the outputs it shows are the real ones (`...` stands for the rest)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```pycon\n(.*?)^```$", text, flags=re.M | re.S)
    assert blocks, "no pycon block in README.md"
    (tmp_path / "corpora").symlink_to(REPO / "corpora")
    monkeypatch.chdir(tmp_path)
    parser, flags = doctest.DocTestParser(), doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    for number, block in enumerate(blocks, 1):
        test = parser.get_doctest(block, {}, f"README pycon block {number}", "README.md", 0)
        report: list[str] = []
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test, out=report.append)
        assert runner.failures == 0, "".join(report)
    assert os.path.isdir("models/api-demo")
