"""Run a command as a child process and measure it: wall time, peak memory, output lines.

Shared by the benchmark and soak scripts. Peak memory is reported two ways: the child's own
peak RSS from the kernel (wait4), and the peak of the summed RSS of the child and all its
descendants, sampled from /proc every few milliseconds (worker processes count too).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Measured:
    """What one run of a command cost."""

    seconds: float
    peak_rss_mb: int
    peak_tree_rss_mb: int
    output_lines: int
    last_line: str
    stderr: str
    returncode: int


def _children(pid: int) -> list[int]:
    # Each thread lists the children it started: a process pool or a Dask cluster starts
    # its workers from helper threads, not from the main one.
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (Linux /proc)."""
    total, todo = 0, [pid]
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/statm").read_text().split()
            total += int(fields[1]) * page_kb
        except OSError:
            continue
        todo.extend(_children(current))
    return total


def run_measured(
    command: list[str],
    stdin_lines: Iterable[bytes] | None = None,
    *,
    on_line: Callable[[bytes], None] | None = None,
    env: dict[str, str] | None = None,
    interval: float = 0.02,
) -> Measured:
    """Run `command`, feeding it `stdin_lines` from a thread and counting its output lines."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if stdin_lines is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    peak_tree = 0
    done = threading.Event()
    counted = {"lines": 0, "last": b""}
    errors: list[bytes] = []

    def feed() -> None:
        assert proc.stdin is not None and stdin_lines is not None
        try:
            for line in stdin_lines:
                proc.stdin.write(line)
        except BrokenPipeError:
            pass
        finally:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            counted["lines"] += 1
            counted["last"] = line
            if on_line is not None:
                on_line(line)

    def drain_errors() -> None:
        assert proc.stderr is not None
        errors.append(proc.stderr.read())

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, tree_rss_kb(proc.pid))
            done.wait(interval)

    threads = [threading.Thread(target=t, daemon=True) for t in (drain, drain_errors, sample)]
    if stdin_lines is not None:
        threads.append(threading.Thread(target=feed, daemon=True))
    for thread in threads:
        thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join()
    return Measured(
        seconds=seconds,
        peak_rss_mb=round(usage.ru_maxrss / 1024),
        peak_tree_rss_mb=round(max(peak_tree, usage.ru_maxrss) / 1024),
        output_lines=counted["lines"],
        last_line=counted["last"].decode("utf-8", "replace").strip(),
        stderr=b"".join(errors).decode("utf-8", "replace"),
        returncode=os.waitstatus_to_exitcode(status),
    )


def run_info() -> dict[str, str]:
    """When and where a benchmark ran, for its JSON results."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
    }


def write_results(path: Path, payload: dict[str, Any]) -> None:
    """A benchmark's JSON (its directory made if need be), and where it went on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {path}", file=sys.stderr)
