from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from topicclf.classifier import TopicClassifier
from topicclf.server import TopicServer, make_server, parse_request


@pytest.fixture(scope="module")
def server(
    tiny_dense: TopicClassifier, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TopicServer]:
    path = tmp_path_factory.mktemp("serve") / "model"
    tiny_dense.save(path)
    srv = make_server(path, port=0, max_body=4096)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(
    server: TopicServer,
    method: str,
    path: str,
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, object]]:
    conn = conn or http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def test_health(server: TopicServer) -> None:
    status, body = request(server, "GET", "/health")
    assert status == 200
    assert body == {
        "status": "ok",
        "model": "model",
        "topics": 4,
        "network": "dense",
        "mode": "multilabel",
    }


def test_tag_matches_the_classifier(server: TopicServer, tiny_dense: TopicClassifier) -> None:
    texts = ["rain and storms all week", "the match ended with a late goal", "   "]
    status, body = request(server, "POST", "/tag", json.dumps({"texts": texts}).encode())
    assert status == 200
    results = body["results"]
    assert isinstance(results, list)
    assert [r["labels"] for r in results] == tiny_dense.predict(texts)[:2] + [[]]
    assert set(results[0]["scores"]) == set(results[0]["labels"])
    assert [r["id"] for r in results] == ["0", "1", "2"]


def test_request_shapes_and_options(server: TopicServer) -> None:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)  # kept alive
    status, body = request(server, "POST", "/tag", b'{"text": "goal", "id": "x"}', conn)
    assert status == 200 and body["results"][0]["id"] == "x"  # type: ignore[index]
    docs = {
        "documents": [{"id": "a", "text": "rain"}, {"text": "bread"}],
        "top_k": 1,
        "scores": False,
    }
    status, body = request(server, "POST", "/tag", json.dumps(docs).encode(), conn)
    assert status == 200
    assert [(r["id"], len(r["labels"]), "scores" in r) for r in body["results"]] == [
        ("a", 1, False),
        ("1", 1, False),
    ]  # type: ignore[union-attr]
    status, body = request(server, "POST", "/tag", b'{"text": "rain", "threshold": 0.99}', conn)
    assert status == 200 and body["results"][0]["labels"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/tag", b"not json", 400, "the body is not valid JSON"),
        ("POST", "/tag", b"[1, 2]", 400, "send a JSON object"),
        ("POST", "/tag", b'{"txt": "a"}', 400, 'give "text", "texts" or "documents"'),
        ("POST", "/tag", b'{"texts": "a"}', 400, '"texts" must be a list of strings'),
        ("POST", "/tag", b'{"texts": ["a", 3]}', 400, "every text must be a string"),
        ("POST", "/tag", b'{"text": "a", "top_k": 0}', 400, '"top_k" must be a positive integer'),
        (
            "POST",
            "/tag",
            b'{"text": "a", "threshold": 2}',
            400,
            '"threshold" must be a number from 0 to 1',
        ),
        ("POST", "/tag", b'{"text": "' + b"a" * 5000 + b'"}', 413, "larger than 4096 bytes"),
        ("POST", "/other", b"{}", 404, "no such endpoint: POST /other"),
        ("GET", "/other", None, 404, "no such endpoint: GET /other"),
        ("PUT", "/tag", b"{}", 405, "use POST /tag or GET /health"),
    ],
)
def test_client_errors_get_a_status_and_a_message(
    server: TopicServer, method: str, path: str, body: bytes | None, status: int, message: str
) -> None:
    got, payload = request(server, method, path, body)
    assert got == status and message in str(payload["error"])
    assert request(server, "GET", "/health")[0] == 200  # still serving


def test_a_port_in_use_is_a_clear_error(
    server: TopicServer,
    tmp_path: Path,
    tiny_dense: TopicClassifier,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from topicclf.cli import run

    tiny_dense.save(tmp_path / "m")
    port = str(server.server_address[1])
    assert run(["serve", str(tmp_path / "m"), "--port", port]) == 1
    assert (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
        in capsys.readouterr().err
    )


def test_parse_request_limits() -> None:
    from topicclf.server import MAX_DOCUMENTS, RequestError

    with pytest.raises(RequestError, match=f"at most {MAX_DOCUMENTS} documents per request"):
        parse_request(json.dumps({"texts": ["a"] * (MAX_DOCUMENTS + 1)}).encode())


def test_serve_command(tiny_dense: TopicClassifier, tmp_path: Path) -> None:
    tiny_dense.save(tmp_path / "m")
    proc = subprocess.Popen(
        [sys.executable, "-m", "topicclf", "serve", str(tmp_path / "m"), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith(f"serving {tmp_path / 'm'} on http://127.0.0.1:")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/tag", body=b'{"text": "rain"}')
        assert conn.getresponse().status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 130
