"""`topicclf serve` under load, against the standard-library server it replaced, in one run.

Both servers run as child processes on 127.0.0.1 with the same model; this process is the
load generator (asyncio, raw HTTP/1.1). Each scenario has 64 concurrent clients, either
each on one kept-alive connection or opening a new connection per request, sending one
short document or a batch of 100 per request; and a paced scenario (new connection per
request, 80 requests/s in all, below what the old server sustains) that measures the
latency of a request rather than the queue in front of it. A scenario stops after
--requests requests or --seconds seconds, whichever comes first. Reports failed requests
(connection errors, timeouts, non-200 answers), p50/p95/p99 latency and requests/s; writes
JSON and prints a Markdown table.

    python scripts/benchmark_serve.py [--model DIR] [--output results/serve.json]
        [--clients 64] [--requests 3200] [--seconds 60]

Without --model, a model is trained on corpora/newsbriefs/train.jsonl into a temporary
directory first. The old server is kept only here, as the baseline (its code below is the
minimal part of the former topicclf/server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_info

REPO = Path(__file__).resolve().parent.parent
NEWS = REPO / "corpora" / "newsbriefs"
SHORT = "Oil prices rose after the cartel agreed to cut output."


# -- the baseline: the former standard-library server (minimal) ---------------------------
def run_old_server(model: str) -> None:
    """Serve POST /tag with the former ThreadingHTTPServer until killed (child process)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from topicclf.classifier import TopicClassifier
    from topicclf.model.thresholds import Rule
    from topicclf.tagging import Tagged

    clf = TopicClassifier.load(model)
    lock = threading.Lock() if not clf.is_tensorflow_free() else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if "text" in data:
                texts, ids = [data["text"]], [str(data.get("id", "0"))]
            elif "texts" in data:
                texts, ids = data["texts"], [str(i) for i in range(len(data["texts"]))]
            else:
                texts = [d["text"] for d in data["documents"]]
                ids = [str(d.get("id", i)) for i, d in enumerate(data["documents"])]
            rule = Rule(data.get("threshold"), data.get("top_k"))
            if lock is not None:
                with lock:
                    chosen = clf.tag(texts, rule)
            else:
                chosen = clf.tag(texts, rule)
            scores = bool(data.get("scores", True))
            results = [Tagged(i, t).to_record(scores) for i, t in zip(ids, chosen, strict=True)]
            body = (json.dumps({"results": results, "model": "m"}) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


# -- the load generator --------------------------------------------------------------------
async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bool:
    """Send one request and read its answer; True for a 200."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status == 200


async def _client(
    port: int,
    request: bytes,
    keep_alive: bool,
    budget: dict[str, Any],
    out: dict[str, Any],
    interval: float = 0.0,
) -> None:
    """Send requests until the budget is spent: back to back, or one every `interval`
    seconds from a random phase (paced: the latency of a request, without a queue)."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    due = time.monotonic() + random.random() * interval
    while budget["left"] > 0 and time.monotonic() < budget["deadline"]:
        if interval:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += interval
            if budget["left"] <= 0:  # spent by the others while this client waited
                break
        budget["left"] -= 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(30):
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                ok = await _exchange(*connection, request)
            out["latencies"].append((time.perf_counter() - started) * 1000)
            if not ok:
                out["failures"]["status"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            out["failures"][type(exc).__name__] = out["failures"].get(type(exc).__name__, 0) + 1
            if connection is not None:
                connection[1].close()
            connection = None
            continue
        if not keep_alive:
            connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


def http_request(body: dict[str, Any], keep_alive: bool) -> bytes:
    """The raw bytes of POST /tag with a JSON body."""
    data = json.dumps(body).encode()
    close = b"" if keep_alive else b"Connection: close\r\n"
    head = b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head + close + b"Content-Length: %d\r\n\r\n" % len(data) + data


async def load(
    port: int,
    body: dict[str, Any],
    keep_alive: bool,
    clients: int,
    requests: int,
    seconds: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Run one scenario (closed loop, or paced at `rate` requests/s in all); latencies (ms),
    failures by kind, requests/s."""
    request = http_request(body, keep_alive)
    warm: dict[str, Any] = {"latencies": [], "failures": {"status": 0}}
    await _client(port, request, True, {"left": 20, "deadline": time.monotonic() + 30}, warm)
    out: dict[str, Any] = {"latencies": [], "failures": {"status": 0}}
    budget = {"left": requests, "deadline": time.monotonic() + seconds}
    started = time.perf_counter()
    interval = clients / rate if rate else 0.0
    await asyncio.gather(
        *(_client(port, request, keep_alive, budget, out, interval) for _ in range(clients))
    )
    out["seconds"] = time.perf_counter() - started
    return out


def summary(name: str, pattern: str, docs: int, out: dict[str, Any]) -> dict[str, Any]:
    """One row of results."""
    latencies = sorted(out["latencies"])
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    failures = {k: v for k, v in out["failures"].items() if v}
    return {
        "server": name,
        "connections": pattern,
        "documents_per_request": docs,
        "requests": len(latencies) + sum(v for k, v in failures.items() if k != "status"),
        "failed": sum(failures.values()),
        "failures": failures,
        "p50_ms": round(cuts[49], 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "requests_per_s": round(len(latencies) / out["seconds"], 1),
    }


# -- orchestration -------------------------------------------------------------------------
def start(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    """Start a server child process; its port, read from its first stderr line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "http://127.0.0.1:" not in line:
        proc.kill()
        sys.exit(f"the server did not start: {line}{proc.stderr.read()}")
    port = int(line.split("http://127.0.0.1:")[1].split()[0].rstrip("/"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # workers may still be loading the model
        try:
            out = run_async(load(port, {"text": "warm up"}, True, 1, 1, 10))
            if out["latencies"] and not sum(out["failures"].values()):
                return proc, port
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    sys.exit("the server did not answer within 120 s")


def train_model(directory: Path) -> Path:
    """A newsbriefs model, trained with the CLI."""
    model = directory / "newsbriefs"
    print("training a newsbriefs model ...", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "topicclf", "-q", "train", str(NEWS / "train.jsonl"), "-o",
         str(model)],
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return model


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| server | connections | docs/request | requests | failed | p50 ms | p95 ms | p99 ms "
        "| requests/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['connections']} | {r['documents_per_request']} | "
            f"{r['requests']} | {r['failed']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['p99_ms']} | {r['requests_per_s']} |"
        )
    return "\n".join(lines)


def run_async(coroutine: Any) -> Any:
    """Run a coroutine on uvloop when installed: the load generator shares the machine's
    cores with the servers, so it must cost as little as it can."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--output", type=Path, default=REPO / "results" / "serve.json")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3200, help="per scenario (1 doc)")
    parser.add_argument("--seconds", type=float, default=60, help="per scenario, at most")
    parser.add_argument(
        "--rate", type=float, default=80, help="requests/s of the paced scenarios (all clients)"
    )
    parser.add_argument("--old-server", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.old_server:
        run_old_server(args.old_server)
        return
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or train_model(Path(tmp))
        news = [json.loads(line)["text"] for line in (NEWS / "test.jsonl").open()]
        batch = {"texts": [news[i % len(news)] for i in range(100)]}
        topicclf = [sys.executable, "-m", "topicclf", "serve", str(model), "--port", "0"]
        servers = {
            "old (standard library)": [sys.executable, __file__, "--old-server", str(model)],
            "new (uvicorn, 1 worker)": topicclf,
            "new (uvicorn, 2 workers)": [*topicclf, "--workers", "2"],
        }
        paced = f"new per request, paced at {args.rate:g}/s"
        scenarios = [
            ("kept alive", True, 1, {"text": SHORT}, args.requests, 0.0),
            ("kept alive", True, 100, batch, args.requests // 5, 0.0),
            ("new per request", False, 1, {"text": SHORT}, args.requests, 0.0),
            ("new per request", False, 100, batch, args.requests // 5, 0.0),
            # The same offered load for every server, below what the slowest one sustains:
            # latency of a request itself, where closed loops above measure mostly queueing
            # (64 clients / requests per s, by Little's law).
            (paced, False, 1, {"text": SHORT}, args.requests // 4, args.rate),
        ]
        rows = []
        for name, command in servers.items():
            proc, port = start(command)
            try:
                for pattern, keep_alive, docs, body, count, rate in scenarios:
                    print(f"{name}: {pattern}, {docs} doc(s) ...", file=sys.stderr, flush=True)
                    out = run_async(
                        load(port, body, keep_alive, args.clients, count, args.seconds, rate)
                    )
                    rows.append(summary(name, pattern, docs, out))
                    # The 1-minute load average (this run included) shows other work too.
                    rows[-1]["load_average_after"] = round(os.getloadavg()[0], 2)
                    print("  " + json.dumps(rows[-1]), file=sys.stderr, flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {**run_info(), "clients": args.clients, "short_document": SHORT, "results": rows}
    result["load_average_before"] = load_before
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(rows))


if __name__ == "__main__":
    main()
