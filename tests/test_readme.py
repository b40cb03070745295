"""The README's `$ topicclf ...` examples run, verbatim, on the demo corpus in a fresh
directory (scripts/readme_examples.py), so they cannot silently break."""

from __future__ import annotations

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
