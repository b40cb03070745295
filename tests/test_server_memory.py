"""The server under a memory limit: the headroom it reads, the gate that refuses a body it has
not the memory for, and what a client and the log see when memory runs short."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.client
import json
import logging
import random
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from topicclf.classifier import TopicClassifier
from topicclf.config import SERVE_BODY_ALWAYS, SERVE_MEMORY_PER_BODY_BYTE, SERVE_MEMORY_RESERVE
from topicclf.server import ServedModel, ServeOptions, serve_in_thread
from topicclf.server.http import quiet_memory_failures
from topicclf.server.memory import Headroom, MemoryGate, caused_by_memory, is_panic
from topicclf.server.schemas import TagRequest, parse_tag_request

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux limits")
NO_MEMORY = "the server has not the memory to answer this request now; retry shortly or send less"
MiB = 1 << 20


@pytest.fixture(scope="module")
def model_dir(tiny_dense: TopicClassifier, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memory") / "model"
    tiny_dense.save(path)
    return path


def _in_child(code: str, limit: int | None) -> str:
    """What `code` prints, run in a Python process whose address space is limited to its
    size at start plus `limit` bytes (None: no limit)."""
    prelude = (
        "import resource\n"
        "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
    )
    if limit is not None:
        prelude += f"resource.setrlimit(resource.RLIMIT_AS, (size + {limit}, -1))\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@linux_only
def test_the_headroom_is_what_the_address_space_limit_leaves() -> None:
    code = (
        "from topicclf.server.memory import Headroom\n"
        "room = Headroom().measure()\n"
        "now = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "print(room, resource.getrlimit(resource.RLIMIT_AS)[0] - now)\n"
    )
    room, left = map(int, _in_child(code, 600 * MiB).split())
    assert 0 < room <= 600 * MiB and abs(room - left) < 8 * MiB, (room, left)


@linux_only
def test_the_allocator_is_capped_under_an_address_space_limit_only() -> None:
    code = (
        "from topicclf.server.memory import fit_allocator_to_limit\nprint(fit_allocator_to_limit())"
    )
    assert _in_child(code, 1 << 30) == "True"
    if resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY:
        assert _in_child(code, None) == "False"


def test_the_gate_admits_a_body_only_while_its_need_fits() -> None:
    room = [200 * MiB]
    gate = MemoryGate(lambda: room[0])
    first, second = gate.claim(), gate.claim()
    fits = (room[0] - SERVE_MEMORY_RESERVE) // SERVE_MEMORY_PER_BODY_BYTE
    assert first.grow(fits // 2)
    # What the first was promised is not taken yet, so not in the headroom: it counts.
    assert not second.grow(fits // 2 + SERVE_BODY_ALWAYS)
    assert second.grow(SERVE_BODY_ALWAYS)  # a small body always passes
    first.release()
    assert second.grow(fits - SERVE_BODY_ALWAYS)
    room[0] = 0
    third = gate.claim()
    assert third.grow(SERVE_BODY_ALWAYS)  # even with nothing left
    second.release()
    assert gate.promised == SERVE_BODY_ALWAYS * SERVE_MEMORY_PER_BODY_BYTE
    third.release()
    assert gate.promised == 0
    assert MemoryGate(lambda: None).claim().grow(10**9)  # no limit known: no refusal


class PanicException(BaseException):
    """Stands for pyo3's PanicException, which Python code cannot import."""


def test_a_parser_panic_is_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attacker pass 39, server 4a: pydantic-core panicked ("PyObject pointer is null") when
    CPython could not allocate, a BaseException the handlers missed: uvicorn's plain-text
    "Internal Server Error"."""

    def panics(*args: Any, **kwargs: Any) -> Any:
        raise PanicException("PyObject pointer is null")

    assert is_panic(PanicException()) and not is_panic(KeyboardInterrupt())
    monkeypatch.setattr(TagRequest, "model_validate_json", panics)
    with pytest.raises(MemoryError, match="the JSON parser could not allocate memory"):
        parse_tag_request(b'{"text": "rain"}', 5)


def test_a_panic_elsewhere_is_a_json_500_and_one_log_line(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from topicclf.server import app as app_module

    def panics(*args: Any, **kwargs: Any) -> Any:
        raise PanicException("a bug in a Rust library")

    monkeypatch.setattr(app_module, "get_openapi", panics)
    served = ServedModel("model", model_dir, TopicClassifier.load(model_dir))
    with (
        serve_in_thread({"model": served}, ServeOptions(port=0)) as address,
        caplog.at_level(logging.INFO, logger="topicclf.server"),
    ):
        conn = http.client.HTTPConnection(*address, timeout=30)
        conn.request("GET", "/openapi.json")
        answer = conn.getresponse()
        assert answer.status == 500
        assert json.loads(answer.read()) == {"error": "internal error; see the server log"}
    assert "internal error answering GET /openapi.json" in caplog.text


def test_a_request_the_parser_cannot_read_for_memory_is_a_503_not_bad_http(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Attacker pass 39, server 3: a MemoryError in the HTTP parser's callback was answered
    400 "the request is not valid HTTP/1.1" with a warning per request."""
    from topicclf.server.protocol import GuardedHttpToolsProtocol

    def no_memory(self: Any, body: bytes) -> None:
        raise MemoryError

    monkeypatch.setattr(GuardedHttpToolsProtocol, "on_body", no_memory)
    served = ServedModel("model", model_dir, TopicClassifier.load(model_dir))
    with (
        serve_in_thread({"model": served}, ServeOptions(port=0)) as address,
        caplog.at_level(logging.INFO),
    ):
        conn = http.client.HTTPConnection(*address, timeout=30)
        conn.request("POST", "/tag", body=b'{"text": "rain"}')
        answer = conn.getresponse()
        assert answer.status == 503 and answer.getheader("Retry-After") == "1"
        assert json.loads(answer.read()) == {"error": NO_MEMORY}
    assert "Invalid HTTP request received" not in caplog.text
    assert "out of memory reading 1 request(s) since the last such line" in caplog.text


def test_the_event_loop_counts_a_read_that_failed_for_memory_instead_of_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Attacker pass 39, server 3: uvloop's read path logged a five-line traceback per
    connection it dropped for a MemoryError ("Fatal error on transport")."""

    async def fail() -> None:
        loop = asyncio.get_running_loop()
        quiet_memory_failures(loop)
        for _ in range(3):
            loop.call_exception_handler({"message": "Fatal error", "exception": MemoryError()})
        loop.call_exception_handler({"message": "another failure", "exception": ValueError("x")})

    with caplog.at_level(logging.INFO):
        asyncio.run(fail())
    memory = [r for r in caplog.records if "out of memory reading" in r.getMessage()]
    assert len(memory) <= 1 and all(r.exc_info is None for r in memory)
    assert "another failure" in caplog.text  # every other failure as before
    assert caused_by_memory(ValueError().with_traceback(None)) is False


def _bodies(seed: int) -> list[tuple[str, bytes]]:
    """The attacker's mix: one large text, many short texts, long texts explained, and an
    Annif batch, each a few MB or less."""
    rng = random.Random(seed)
    words = [
        "oil",
        "prices",
        "storm",
        "goal",
        "match",
        "council",
        "budget",
        "museum",
        "rain",
        "food",
        "market",
    ]
    big = {"text": " ".join(rng.choice(words) + str(i % 5000) for i in range(700_000))}
    many = {"texts": [" ".join(rng.choices(words, k=20)) for _ in range(8000)]}
    texts = [" ".join(rng.choice(words) + str(i) for i in range(3000)) for _ in range(20)]
    explain = {"documents": [{"text": text} for text in texts], "explain": 50}
    batch = {"documents": [{"text": "x " * 20000}] * 32}
    return [
        ("/tag", json.dumps(big).encode()),
        ("/tag", json.dumps(many).encode()),
        ("/tag", json.dumps(explain).encode()),
        ("/v1/projects/model/suggest-batch", json.dumps(batch).encode()),
    ]


def _load(port: int, seconds: float, threads: int) -> collections.Counter[Any]:
    """Each thread sends the mix in turn, one connection a request, for `seconds` (bounded);
    what came back, counted: statuses (503s by message) and exceptions by name."""
    bodies = _bodies(0)
    seen: collections.Counter[Any] = collections.Counter()
    lock = threading.Lock()

    def run(index: int) -> None:
        end = time.monotonic() + seconds
        turn = index
        while time.monotonic() < end:
            path, body = bodies[turn % len(bodies)]
            turn += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", path, body=body)
                answer = conn.getresponse()
                data = answer.read()
                key: Any = answer.status
                if answer.status == 503:
                    key = (503, answer.getheader("Retry-After"), json.loads(data)["error"][:40])
                conn.close()
            except Exception as exc:
                key = type(exc).__name__
            with lock:
                seen[key] += 1

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 120)
    return seen


@contextlib.contextmanager
def _limited_server(
    model_dir: Path, log: Path, workers: int, room: int, *options: str
) -> Iterator[int]:
    """A `serve` process (or `workers` of them) whose address space is limited to its size
    once serving plus `room` bytes, as `ulimit -v` limits it but the same room on any
    machine; its port. Stopped (SIGTERM) on leaving."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "topicclf", "serve", str(model_dir), "--port", "0"]
            + ["--workers", str(workers), *options],
            stderr=err,
            # A finite limit from the start, as `ulimit -v` gives: the server fits its
            # allocator to it (fit_allocator_to_limit); lowered to the test's below.
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (64 << 30, -1)),
        )
    try:
        port = _wait_for_port(log, proc)
        for pid in _server_pids(proc.pid, workers):
            size = int(Path(f"/proc/{pid}/statm").read_text().split()[0]) * resource.getpagesize()
            resource.prlimit(pid, resource.RLIMIT_AS, (size + room, -1))
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=120)


@linux_only
@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_short_of_memory_answers_503_to_retry_and_loses_nothing(
    model_dir: Path, tmp_path: Path, workers: int
) -> None:
    """Attacker pass 39, server 1-4: under `ulimit -v` (about 400 MB above the server's
    size) a load of large requests had workers aborted by pydantic-core (Rust aborts on a
    failed allocation), hundreds of connections reset with a traceback each, well-formed
    requests answered 400 "not valid HTTP/1.1", and 500s."""
    log = tmp_path / "serve.log"
    with _limited_server(model_dir, log, workers, 350 * MiB) as port:
        seen = _load(port, seconds=12, threads=6)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
    text = log.read_text()
    # 503s to retry: for memory, or the model's work being full (explain, the queue).
    retry = {key for key in seen if isinstance(key, tuple) and key[:2] == (503, "1")}
    assert set(seen) - {200, 413} - retry == set(), (seen, text[-3000:])
    assert seen[200] > 0 and seen[(503, "1", NO_MEMORY[:40])] > 0, seen
    assert "Traceback" not in text and "Invalid HTTP" not in text, text[-3000:]
    assert "killed by" not in text and "internal error" not in text, text[-3000:]
    # The gate's refusals said once a minute per process, with the figures.
    assert 1 <= text.count("WARNING:  memory is short (") <= workers, text[-3000:]
    # With how many they cover (pass 45: the line said no count).
    assert re.search(r"get 503 to retry \(\d+ since the last such line; a body", text), text[-3000:]


@linux_only
def test_declaring_a_large_body_and_sending_none_holds_no_one_elses_room(
    model_dir: Path, tmp_path: Path
) -> None:
    """Attacker pass 40, server 1: the gate counted a body's need from its Content-Length as
    the headers came, so 30 connections sending headers only (4 KB in all) had every body
    over 64 KiB refused, from anyone, for --timeout-body. Only bytes sent hold room now; a
    length that cannot fit is still refused before its bytes are read."""
    with _limited_server(model_dir, tmp_path / "serve.log", 1, 300 * MiB) as port:
        holders = []
        for _ in range(12):  # each declares 4 MB (128 MiB of need), sends 11 bytes
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(
                b"POST /tag HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4000000\r\n\r\n"
                b'{"text": "'
            )
            holders.append(sock)
        time.sleep(0.5)
        body = json.dumps({"text": "rain and storms over the harbour " * 32000}).encode()
        assert len(body) > 1_000_000
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/tag", body=body)
        assert conn.getresponse().status == 200
        too_big = b"POST /tag HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9900000\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(too_big)  # 302 MiB of need in 300: refused before any byte is sent
            assert sock.recv(65536).startswith(b"HTTP/1.1 503 ")
        for sock in holders:
            sock.close()


@linux_only
def test_workers_each_count_their_share_of_the_memory_they_share() -> None:
    """Attacker pass 40, server 2: each of --workers N counted the machine's available
    memory (or the container's) as its own, so together they promised N times it."""
    one, two = Headroom().measure(), Headroom(shared_by=2).measure()
    if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
        pytest.skip("an address-space limit is each process's own, not shared")
    assert one is not None and two is not None
    assert abs(two - one / 2) < one / 10, (one, two)


def _wait_for_port(log: Path, proc: subprocess.Popen[bytes]) -> int:
    """The port the server's banner names (it writes it once listening)."""
    for _ in range(1200):
        for line in log.read_text().splitlines():
            if line.startswith("serving ") and "http://127.0.0.1:" in line:
                port = int(line.split("http://127.0.0.1:")[1].split()[0])
                _wait_for_health(port)
                return port
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(log.read_text())


def _wait_for_health(port: int) -> None:
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)


def _server_pids(pid: int, workers: int) -> list[int]:
    """The processes that answer: the server itself, or its `workers` worker processes."""
    if workers == 1:
        return [pid]
    for _ in range(600):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        # The spawn start method adds a resource tracker beside the workers.
        serving = [int(c) for c in children if "spawn_main" in _command(int(c))]
        if len(serving) >= workers:
            return serving
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize("version", [1, 2])
def test_a_container_s_inactive_file_cache_is_not_counted_as_used(
    tmp_path: Path, version: int
) -> None:
    """The cgroup's usage counts page cache: a container whose reads filled its limit with
    cache refused large bodies it had the memory for. Its inactive file cache (memory.stat),
    which the kernel gives back first, is not counted, as container runtimes count it."""
    mib = 2**20
    if version == 2:
        (tmp_path / "memory.max").write_text(f"{1000 * mib}\n")
        (tmp_path / "memory.current").write_text(f"{900 * mib}\n")
        stat = tmp_path / "memory.stat"
        stat.write_text(f"anon {100 * mib}\nfile {800 * mib}\ninactive_file {700 * mib}\n")
    else:
        (tmp_path / "memory").mkdir()
        (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{1000 * mib}\n")
        (tmp_path / "memory" / "memory.usage_in_bytes").write_text(f"{900 * mib}\n")
        stat = tmp_path / "memory" / "memory.stat"
        stat.write_text(f"inactive_file {10 * mib}\ntotal_inactive_file {700 * mib}\n")
    room = Headroom(cgroup_root=tmp_path)
    assert room._cgroup() == 800 * mib  # not 100 MiB
    stat.unlink()  # unreadable: the usage as it is
    assert room._cgroup() == 100 * mib
