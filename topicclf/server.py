"""`topicclf serve`: a small JSON-over-HTTP API that keeps a model loaded between requests.

Built on the standard library's threading HTTP server: two endpoints need no web framework,
and the model, already in memory, answers in about a millisecond, so the server adds no
import time and no dependency.

    POST /tag      {"text": "..."} or {"texts": [...]} or {"documents": [{"id", "text"}, ...]}
                   optional: "top_k", "threshold", "scores" (default true)
                   -> {"results": [{"id", "labels", "scores"}, ...], "model": NAME}
    GET  /health   -> {"status": "ok", "model": NAME, "topics": N, "network": ..., "mode": ...}
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from topicclf.classifier import TopicClassifier
from topicclf.config import SERVE_HOST, SERVE_MAX_BODY, SERVE_MAX_DOCUMENTS, SERVE_PORT
from topicclf.scoring import Tagged
from topicclf.thresholds import Rule

MAX_BODY = SERVE_MAX_BODY
MAX_DOCUMENTS = SERVE_MAX_DOCUMENTS


class RequestError(Exception):
    """A client mistake, answered with a 4xx status and a JSON error message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_request(body: bytes) -> tuple[list[str], list[str], dict[str, Any]]:
    """(ids, texts, options) from a POST /tag body; RequestError when it is malformed."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"the body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, 'send a JSON object, e.g. {"text": "..."}')
    if "text" in data:
        texts, ids = [data["text"]], [data.get("id", "0")]
    elif "texts" in data:
        texts = data["texts"]
        if not isinstance(texts, list):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"texts" must be a list of strings')
        ids = [str(i) for i in range(len(texts))]
    elif "documents" in data:
        documents = data["documents"]
        if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
            raise RequestError(HTTPStatus.BAD_REQUEST, '"documents" must be a list of objects')
        texts = [d.get("text") for d in documents]
        ids = [d.get("id", str(i)) for i, d in enumerate(documents)]
    else:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, 'give "text", "texts" or "documents" in the JSON body'
        )
    if not all(isinstance(t, str) for t in texts):
        raise RequestError(HTTPStatus.BAD_REQUEST, "every text must be a string")
    if len(texts) > MAX_DOCUMENTS:
        raise RequestError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"at most {MAX_DOCUMENTS} documents per request; send several requests",
        )
    options: dict[str, Any] = {"scores": bool(data.get("scores", True))}
    top_k = data.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise RequestError(HTTPStatus.BAD_REQUEST, '"top_k" must be a positive integer')
    threshold = data.get("threshold")
    if threshold is not None and (
        not isinstance(threshold, int | float)
        or isinstance(threshold, bool)
        or not 0 <= threshold <= 1
    ):
        raise RequestError(HTTPStatus.BAD_REQUEST, '"threshold" must be a number from 0 to 1')
    options.update(top_k=top_k, threshold=threshold)
    return [str(i) for i in ids], texts, options


class TopicServer(ThreadingHTTPServer):
    """An HTTP server holding one loaded model."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        classifier: TopicClassifier,
        *,
        name: str,
        max_body: int = MAX_BODY,
        log: bool = False,
    ) -> None:
        super().__init__(address, _Handler)
        self.classifier = classifier
        self.name = name
        self.max_body = max_body
        self.log = log
        # Keras models are not documented as thread-safe; numpy scoring is.
        self.lock = threading.Lock() if not classifier.is_tensorflow_free() else None

    def tag(self, ids: list[str], texts: list[str], options: dict[str, Any]) -> dict[str, Any]:
        """Score and choose topics for a request's texts."""
        rule = Rule(options["threshold"], options["top_k"])
        with self.lock if self.lock is not None else contextlib.nullcontext():
            chosen = self.classifier.tag(texts, rule)
        results = [
            Tagged(doc_id, topics).to_record(options["scores"])
            for doc_id, topics in zip(ids, chosen, strict=True)
        ]
        return {"results": results, "model": self.name}

    def health(self) -> dict[str, Any]:
        """What /health reports."""
        clf = self.classifier
        return {
            "status": "ok",
            "model": self.name,
            "topics": len(clf.classes_),
            "network": clf.config_.network.type,
            "mode": clf.mode_,
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    # Small replies on a kept-alive connection would otherwise wait ~40 ms for the client's
    # delayed ACK before the body follows the headers (Nagle's algorithm): TCP_NODELAY.
    disable_nagle_algorithm = True
    server: TopicServer

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/health", "/"):
            self._send(HTTPStatus.OK, self.server.health())
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:
        started = time.perf_counter()
        try:
            if self.path.split("?")[0] != "/tag":
                raise RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: POST {self.path}")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header")
            if int(length) > self.server.max_body:
                self.close_connection = True  # the unread body must not be parsed as a request
                raise RequestError(
                    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                    f"the body is larger than {self.server.max_body} bytes (--max-body)",
                )
            ids, texts, options = parse_request(self.rfile.read(int(length)))
            answer = self.server.tag(ids, texts, options)
            answer["milliseconds"] = round((time.perf_counter() - started) * 1000, 3)
            self._send(HTTPStatus.OK, answer)
        except RequestError as exc:
            self._send(exc.status, {"error": str(exc)})

    def do_PUT(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use POST /tag or GET /health"})

    do_DELETE = do_PUT

    def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        body = (json.dumps(payload, ensure_ascii=False) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")


def make_server(
    model: str | Path,
    host: str = SERVE_HOST,
    port: int = SERVE_PORT,
    *,
    max_body: int = MAX_BODY,
    log: bool = False,
) -> TopicServer:
    """Load a model and bind a server to host:port (0: any free port); call serve_forever()."""
    classifier = TopicClassifier.load(model)
    return TopicServer((host, port), classifier, name=Path(model).name, max_body=max_body, log=log)
