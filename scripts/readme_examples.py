"""Run the README's `$ ...` examples on the demo corpus, in a fresh directory, and check them
(`--check`, what tests/test_readme.py does) or write their real output back into README.md
(`--write`), so the printed outputs cannot go stale.

An example is a line starting with `$ ` inside a ```console block (a trailing `\\` joins
the next line); the lines after it, up to the next `$ `, are its output. A block right
after a `<!-- readme-examples: skip (reason) -->` comment is not run (it needs a cluster or
a corpus the demo does not have). Each block runs as one shell script, so `&` servers and
later `curl` commands see each other; servers are stopped when the block ends.

Usage: python scripts/readme_examples.py --check | --write [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SKIP = re.compile(r"<!--\s*readme-examples:\s*skip")
MARK = "@@readme-example@@"


@dataclass
class Example:
    """One `$ command` of a console block and the output the README shows for it."""

    command: str
    first_line: int  # index of the `$ ` line in README lines
    last_line: int  # index of its last command line (continuations included)
    output: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A ```console block: its examples, and whether it runs."""

    start: int
    end: int
    examples: list[Example]
    skipped: bool


def parse(lines: list[str]) -> list[Block]:
    """Every console block of the README with its examples."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        skipped = any(SKIP.search(lines[j]) for j in range(max(0, i - 2), i))
        start, i = i, i + 1
        examples: list[Example] = []
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                first, command = i, lines[i][2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                examples.append(Example(command.strip(), first, i))
            elif examples:
                examples[-1].output.append(lines[i])
            i += 1
        blocks.append(Block(start, i, examples, skipped))
        i += 1
    return blocks


def _script(block: Block) -> str:
    """The block as one bash script printing a marker and exit status around each example."""
    parts = ["set -u", "trap 'kill $(jobs -p) 2>/dev/null' EXIT"]
    for n, example in enumerate(block.examples):
        command = re.sub(r"\s+#.*$", "", example.command)  # README comments
        parts.append(f"echo '{MARK} {n} start'")
        if command.endswith("&"):
            log = f".background-{n}.log"
            parts.append(f"{command[:-1]} > {log} 2>&1 &")
            # A server started in the background: wait until it answers, show its first line.
            parts.append(
                "for _ in $(seq 120); do curl -s localhost:8000/health >/dev/null && break; "
                "sleep 0.5; done"
            )
            parts.append(f"head -n 1 {log}")
            parts.append(f"echo '{MARK} {n} status 0'")
            continue
        parts.append(f"{{ {command} ; }} 2>&1")
        # The newline ends an output that has none (curl), so the marker starts its own line.
        parts.append(f'status=$?; echo; echo "{MARK} {n} status $status"')
    return "\n".join(parts) + "\n"


def run_block(block: Block, workdir: Path) -> list[tuple[int, list[str]]]:
    """(exit status, output lines) of each example, run in `workdir`."""
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"  # tables as wide as the README shows them
    done = subprocess.run(
        ["bash", "-c", _script(block)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    results: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            _, _, what = line.split(" ", 2)
            if what.startswith("status"):
                if current and not current[-1]:
                    current.pop()  # the newline added after the command
                results.append((int(what.split()[1]), current))
            current = []
        else:
            current.append(line.rstrip())
    return results


def prepare(workdir: Path) -> None:
    """A fresh directory where the README's relative paths (corpora/..., tests/data/...,
    models/...) work."""
    (workdir / "corpora").symlink_to(REPO / "corpora")
    (workdir / "tests").mkdir()
    (workdir / "tests" / "data").symlink_to(REPO / "tests" / "data")


def main() -> int:
    """Check the examples, or write their outputs into README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="fail if an example fails")
    mode.add_argument("--write", action="store_true", help="write real outputs into README")
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks = parse(lines)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="readme-examples-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "corpora").exists():
        prepare(workdir)
    failures = []
    replacements: list[tuple[Example, list[str]]] = []
    try:
        for block in blocks:
            if block.skipped or not block.examples:
                continue
            results = run_block(block, workdir)
            for example, (status, output) in zip(block.examples, results, strict=False):
                print(f"[{status}] $ {example.command}", file=sys.stderr)
                if status != 0:
                    failures.append(f"$ {example.command}\n" + "\n".join(output[-15:]))
                replacements.append((example, output))
            if len(results) < len(block.examples):
                failures.append(f"block at README line {block.start + 1} stopped early")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.write:
        for example, output in sorted(replacements, key=lambda r: -r[0].first_line):
            start = example.last_line + 1
            lines[start : start + len(example.output)] = _shown(example, output)
        README.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _shown(example: Example, output: list[str]) -> list[str]:
    """The output as the README shows it: whole when short, else its first lines, '...' and
    its last ones: the summary after the last progress line ('N done in'), three to eight
    lines (as many lines in all as the README showed before, at least twelve)."""
    progress = [i for i, line in enumerate(output) if " done in " in line]
    tail = min(max(3, len(output) - 1 - progress[-1] if progress else 3), 8)
    room = max(len(example.output), 12, tail + 5)
    if len(output) <= room:
        return output
    return [*output[: room - tail - 1], "...", *output[-tail:]]


if __name__ == "__main__":
    sys.exit(main())
