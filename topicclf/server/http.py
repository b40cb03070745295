"""HTTP hardening under the API: the JSON body every answer uses (large ones encoded off the
event loop), the error shapes, and an ASGI guard (body cap, a budget for the bodies of all
connections and one for their unsent answers, a memory gate, body deadline, no dropped
connection on a bug).
The connection's own limits (heads, pipelining, half-close) are in server/protocol.py."""

from __future__ import annotations

import asyncio
import errno
import http
import ipaddress
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from topicclf import jsontext
from topicclf.cancel import Cancelled, stopped_by
from topicclf.config import (
    SERVE_ANSWER_ALWAYS,
    SERVE_BODY_ALWAYS,
    SERVE_INLINE_ANSWER_BYTES,
    SERVE_INLINE_PAIRS,
    SERVE_INLINE_TEXTS,
    SERVE_MAX_BODY_TOTAL,
    SERVE_MAX_UNSENT_TOTAL,
    SERVE_MEMORY_PER_BODY_BYTE,
    SERVE_RETRY_SECONDS,
    cut,
)
from topicclf.corpus.base import scrub_surrogates
from topicclf.reports.safe import visible_controls
from topicclf.server.memory import MemoryClaim, MemoryGate, caused_by_memory, is_panic
from topicclf.server.schemas import ApiError, echoed
from topicclf.server.throttle import EveryMinute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# The scope key under which GuardedHttpToolsProtocol tells HttpGuard the bytes of answers its
# server's connections hold unsent (a callable); absent under other servers (no budget).
UNSENT_KEY = "topicclf.unsent_answers"
# The scope's threading.Event set when the request's client has gone (GuardedHttpToolsProtocol)
# or the request ended: its work in threads stops at the next checkpoint (topicclf.cancel).
GONE_KEY = "topicclf.gone"
# The authority of an absolute-form request target (`POST http://h:p/tag`) as a Host value,
# set by GuardedHttpToolsProtocol: RFC 9112 3.2.2 has it judged in place of the Host header,
# whose count and syntax are still checked (3.2), so the headers are left as sent.
TARGET_KEY = "topicclf.target_authority"
# Asks whether an answer of so many bytes fits the server's budget of unsent answers, for
# the request the current task answers (set by HttpGuard): answer_body asks before building
# a large answer, so one sure to be refused is not built first; the guard checks again at its
# first byte, with the size as encoded.
ANSWER_ROOM: ContextVar[Callable[[int], None] | None] = ContextVar("answer_room", default=None)


class VisibleControls(logging.Filter):
    """Shows the control characters of a record's message and traceback as `\\x1b`-style
    escapes (newlines too, in the one-line message): a failure's text can come from a model
    file or a request, and a forged layer name holding ESC [2J cleared the terminal of
    whoever read the log. A filter of the logger, so it holds under any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Escape the record in place; every record is kept."""
        record.msg = visible_controls(record.getMessage()).replace("\n", "\\x0a")
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = visible_controls(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = visible_controls(record.stack_info)
        return True


log = logging.getLogger("topicclf.server")
log.addFilter(VisibleControls())
ANNIF_PREFIX = "/v1"
TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


NO_DESCRIPTORS = "the server has no file descriptors left; retry shortly"
_descriptors_short = EveryMinute()


def out_of_descriptors(exc: BaseException) -> bool:
    """Whether `exc` says the process (EMFILE) or the system (ENFILE) has no file descriptor
    left: a load the server is under, not a bug, so a 503 to retry, not a 500."""
    return isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE)


def descriptors_response(path: str) -> JSONBody:
    """The 503 for a request that failed for want of file descriptors; the log says so at
    most once a minute (a line, or a traceback, per request would flood it while it lasts)."""
    refused = _descriptors_short.due()
    if refused:
        log.warning(
            "out of file descriptors (open files limit: %s); requests that need one get 503 "
            "(%d since the last such line): raise the limit (ulimit -n) or hold fewer "
            "connections",
            _open_files_limit(),
            refused,
        )
    retry = {"Retry-After": str(SERVE_RETRY_SECONDS)}
    return error_response(path, 503, NO_DESCRIPTORS, retry)


def _open_files_limit() -> str:
    if sys.platform == "win32":
        return "unknown"
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)


NO_MEMORY = "the server has not the memory to answer this request now; retry shortly or send less"


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says the process could not get memory, or a thread (whose stack is
    memory too): a load the server is under, not a bug, so a 503 to retry, not a 500."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "can't start new thread" in str(exc)


def memory_response(path: str) -> JSONBody:
    """The 503 for a request that failed for want of memory (HttpGuard logs it)."""
    return error_response(path, 503, NO_MEMORY, {"Retry-After": str(SERVE_RETRY_SECONDS)})


def log_out_of_memory(method: str, path: str, exc: BaseException) -> None:
    """One warning line for a request refused for want of memory: a traceback per request
    would only grow the log while memory is short, and says nothing a line does not."""
    what = "memory" if isinstance(exc, MemoryError) else "a thread (can't start new thread)"
    log.warning(
        "out of memory answering %s %s: could not get %s; answered 503 to retry: send "
        "smaller requests or fewer at once, or give the server more memory (ulimit -v, "
        "the container's limit)",
        method,
        echoed(path),
        what,
    )


_reads_dropped = EveryMinute()


def note_read_dropped() -> None:
    """Count a request whose reading could not get memory (answered 503, or its connection
    dropped by the event loop); the log says so at most once a minute, with the count: it
    was a traceback, or a warning of invalid HTTP, per connection."""
    dropped = _reads_dropped.due()
    if dropped:
        log.warning(
            "out of memory reading %d request(s) since the last such line (each answered "
            "503 where it could be, else its connection dropped): send smaller requests or "
            "fewer at once, or give the server more memory (ulimit -v, the container's limit)",
            dropped,
        )


def quiet_memory_failures(loop: asyncio.AbstractEventLoop) -> None:
    """Have `loop` count a connection it drops for want of memory (note_read_dropped)
    instead of logging a traceback for each; every other failure goes where it went."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if caused_by_memory(context.get("exception")):
            note_read_dropped()
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def title(status: int) -> str:
    """The reason phrase of a status: a Problem's `title`, an answer's status line."""
    if status in TITLES:
        return TITLES[status]
    try:  # a status the table lacks still gets its name, never a bare "Error"
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render_json(content: Any) -> bytes:
    """Compact UTF-8 JSON; lone surrogates (from \\ud800 escapes) become U+FFFD, so an
    answer can always be encoded."""
    text = jsontext.dumps(content, allow_nan=False, separators=(",", ":"))
    return scrub_surrogates(text).encode("utf-8")


class JSONBody(JSONResponse):
    """The JSON response of every route."""

    def render(self, content: Any) -> bytes:
        """See render_json."""
        return render_json(content)


@dataclass(frozen=True)
class AnswerSize:
    """What an answer holds, counted before it is built (see ServedModel.answer_size)."""

    documents: int
    items: int  # (document, topic) pairs and explained terms, as --max-pairs counts them
    echoed: list[str]  # the client's strings it repeats: ids, explained terms
    fixed: Callable[[], int]  # bytes of all the rest, as encoded (sums a count per pair)

    def few(self) -> bool:
        """Whether counting the bytes is cheap: few documents and items, short echoes."""
        return (
            self.documents <= SERVE_INLINE_TEXTS
            and self.items <= SERVE_INLINE_PAIRS
            and sum(len(s) for s in self.echoed) <= SERVE_INLINE_ANSWER_BYTES
        )

    def bytes(self) -> int:
        """The answer's bytes as encoded, at most."""
        return self.fixed() + sum(jsontext.encoded_size(s) for s in self.echoed)


async def answer_body(
    build: Callable[[], Any], size: AnswerSize, max_bytes: int, fewer: str
) -> JSONBody:
    """`build()`'s answer as a JSONBody, or ApiError 413, before building it, when it would
    take more than `max_bytes` (ask for `fewer` ...). Built on the event loop when it is
    small in documents, items and bytes, else built and encoded in the thread pool, so a
    large answer never holds the other clients (a 142 MB one took 10 s)."""

    def checked(counted: int) -> None:
        if counted > max_bytes:
            raise ApiError(
                413,
                f"the answer would take {counted:,} bytes, more than the {max_bytes:,} one "
                f"answer may take (--max-answer): ask for fewer with {fewer}, or send fewer "
                "documents per request",
            )

    room = ANSWER_ROOM.get()
    if size.few():
        counted = size.bytes()
        if counted <= SERVE_INLINE_ANSWER_BYTES:
            checked(counted)
            if room is not None:
                room(counted)
            return JSONBody(build())
    loop = asyncio.get_running_loop()
    counted = await loop.run_in_executor(None, size.bytes)
    checked(counted)
    if room is not None:  # on the loop: it looks at every connection
        room(counted)
    return await loop.run_in_executor(None, lambda: JSONBody(build()))


def error_content(path: str, status: int, message: str) -> tuple[dict[str, Any], str]:
    """(body, media type) of an error: {"error"} natively, a Problem under /v1 (Annif's)."""
    if path == ANNIF_PREFIX or path.startswith(ANNIF_PREFIX + "/"):
        problem = {
            "type": "about:blank",
            "title": title(status),
            "status": status,
            "detail": message,
        }
        return {**problem, "error": message}, "application/problem+json"
    return {"error": message}, "application/json"


def error_response(
    path: str, status: int, message: str, headers: dict[str, str] | None = None
) -> JSONBody:
    """An error answer for a request to `path`."""
    content, media_type = error_content(path, status, message)
    return JSONBody(content, status_code=status, headers=headers, media_type=media_type)


async def _send_error(
    send: Send,
    path: str,
    status: int,
    message: str,
    close: bool,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    content, media_type = error_content(path, status, message)
    body = render_json(content)
    headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += extra or []
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def body_budget(max_body: int, max_body_total: int | None) -> int:
    """The bytes of request bodies a process may hold at once: `max_body_total`, or by
    default SERVE_MAX_BODY_TOTAL (--max-body if larger, so a body of any allowed size fits)."""
    return max_body_total if max_body_total is not None else max(SERVE_MAX_BODY_TOTAL, max_body)


def unsent_budget(max_answer: int, max_unsent_total: int | None) -> int:
    """The bytes of unsent answers a process may hold at once: `max_unsent_total`, or by
    default SERVE_MAX_UNSENT_TOTAL (--max-answer if larger, so an answer of any allowed size
    fits)."""
    if max_unsent_total is not None:
        return max_unsent_total
    return max(SERVE_MAX_UNSENT_TOTAL, max_answer)


class BodyBudget:
    """The bytes of request bodies one process holds in memory now, over all its connections,
    and the most it may (`limit`). One per HttpGuard, so per process: each worker has its
    own memory. Touched from the event loop only, so it needs no lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0


class BodyClaim:
    """The bytes of one request's body counted in a BodyBudget, until `release`."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.size = 0

    def take(self, size: int) -> bool:
        """Count `size` more bytes; False (nothing counted) when they would take the budget
        past its limit, unless the body is still at most SERVE_BODY_ALWAYS bytes: a small
        request is answered even while large bodies have used up the budget."""
        budget = self.budget
        if budget.held + size > budget.limit and self.size + size > SERVE_BODY_ALWAYS:
            return False
        budget.held += size
        self.size += size
        return True

    def release(self) -> None:
        """Give the bytes back (the body was used, refused, or its request ended)."""
        self.budget.held -= self.size
        self.size = 0


class HttpGuard:
    """Reads each request's body whole before the app runs, refusing one larger than
    `max_body` (413), one that would take the bodies held by all connections past
    `max_body_total` (503, see BodyBudget), one the process has not the memory for (503,
    see server/memory.py's MemoryGate) or slower than `timeout_body` seconds (408); an
    answer that would take the answers its server holds unsent past `max_unsent` is
    replaced by a 503 (see _answer_fits); a failure in the app is logged once and, if
    nothing was sent yet, answered with a JSON 500. HEAD is answered as GET: the app sees
    GET, and uvicorn sends the head of its answer only."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        timeout_body: float,
        max_body_total: int | None = None,
        max_unsent: int = SERVE_MAX_UNSENT_TOTAL,
        memory: MemoryGate | None = None,
    ) -> None:
        self.app = app
        self.memory = memory or MemoryGate()
        self.max_body = max_body
        self.timeout_body = timeout_body
        self.budget = BodyBudget(body_budget(max_body, max_body_total))
        self.max_unsent = max_unsent
        # Bytes of answers let through by room() and not yet written: being built (in the
        # thread pool, several at once) they are in no transport's buffer yet, and were not
        # counted, so answers checked at the same moment could pass the budget together.
        self.reserved = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, _stop_when_cancelled(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # HTTP wants HEAD wherever GET is answered
            scope = {**scope, "method": "GET"}  # a copy: uvicorn's own still says HEAD
        started = refused = False
        mine = 0  # this answer's bytes in self.reserved

        def release() -> None:
            nonlocal mine
            self.reserved -= mine
            mine = 0

        async def tracking_send(message: Message) -> None:
            nonlocal started, refused
            if refused:  # the app's answer was replaced by the 503: its body is dropped
                return
            if message["type"] == "http.response.start" and not started:
                started = True
                size = _content_length(message)
                if size is not None and not self._answer_fits(scope, size, mine):
                    refused = True
                    release()
                    retry = [(b"retry-after", str(SERVE_RETRY_SECONDS).encode())]
                    full = self._unsent_full()
                    await _send_error(send, scope["path"], 503, full, close=False, extra=retry)
                    return
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                release()  # written: the transport's buffer counts what the kernel has not taken

        def room(size: int) -> None:
            nonlocal mine
            if not self._answer_fits(scope, size, mine):
                retry = {"Retry-After": str(SERVE_RETRY_SECONDS)}
                raise ApiError(503, self._unsent_full(), retry)
            if scope.get(UNSENT_KEY) is not None and size > SERVE_ANSWER_ALWAYS:
                release()
                self.reserved += size
                mine = size

        claim = BodyClaim(self.budget)
        memory = self.memory.claim()
        token = ANSWER_ROOM.set(room)
        # Set when the client goes (by the protocol), the request is cancelled or it ends:
        # the work it started in threads stops at its next checkpoint (topicclf.cancel).
        gone = scope.get(GONE_KEY) or threading.Event()
        with stopped_by(gone):
            try:
                body = await self._read_body(scope, receive, send, claim, memory)
                if body is not None:
                    await self.app(scope, _replay(body, receive), tracking_send)
            except asyncio.CancelledError:
                gone.set()
                # uvicorn cancels the requests still running when --timeout-shutdown ends:
                # each got its plain-text 500, and the log a traceback per request. Not
                # re-raised: the task ends here, answered (uvicorn awaits it no more).
                if not started:
                    # uvicorn cancels alike at --timeout-shutdown and at a second signal,
                    # which the message blamed on the timeout (pass 47): it names both.
                    late = (
                        "the server is stopping and this request was cut short (it did not "
                        "finish within --timeout-shutdown, or a second stop signal forced the "
                        "stop); retry"
                    )
                    retry = [(b"retry-after", str(SERVE_RETRY_SECONDS).encode())]
                    await _send_error(send, scope["path"], 503, late, close=True, extra=retry)
            except Cancelled:
                # Its work stopped at a checkpoint as its client had gone: no failure of the
                # server (it was logged as one, with a traceback), and no one to answer.
                pass
            except BaseException as exc:
                if not isinstance(exc, Exception) and not is_panic(exc):
                    raise  # SystemExit, KeyboardInterrupt: the server's own stop
                if out_of_descriptors(exc):
                    if not started:  # else FastAPI's handler answered it so already
                        await descriptors_response(scope["path"])(scope, receive, send)
                    return
                if out_of_memory(exc):
                    log_out_of_memory(scope["method"], scope["path"], exc)
                    if not started:  # else FastAPI's handler answered it so already
                        await memory_response(scope["path"])(scope, receive, send)
                    return
                log.exception("internal error answering %s %s", scope["method"], scope["path"])
                if not started:
                    message = "internal error; see the server log"
                    await _send_error(send, scope["path"], 500, message, close=True)
            finally:
                # Held until the app is done with the body; given back however the request
                # ended (answered, refused, timed out, the client gone, a failure, cancelled).
                claim.release()
                memory.release()
                release()
                gone.set()
                ANSWER_ROOM.reset(token)

    async def _refuse_for_memory(self, send: Send, scope: Scope) -> None:
        """The 503 of a body the memory gate did not admit; the log says so at most once a
        minute, with the figures (a line per request would flood it while memory is short)."""
        gate = self.memory
        refused = gate.refusals.due()
        if refused:
            left = gate.last_room or 0
            log.warning(
                "memory is short (%d MiB left for this process, %d MiB counted for the "
                "bodies of requests in progress): requests whose bodies need more get 503 to "
                "retry (%d since the last such line; a body is counted at %d times its "
                "size): send smaller requests or give the server more memory (ulimit -v, "
                "the container's limit)",
                left // 2**20,
                gate.promised // 2**20,
                refused,
                SERVE_MEMORY_PER_BODY_BYTE,
            )
        retry = [(b"retry-after", str(SERVE_RETRY_SECONDS).encode())]
        await _send_error(send, scope["path"], 503, NO_MEMORY, close=False, extra=retry)

    def _answer_fits(self, scope: Scope, size: int, mine: int = 0) -> bool:
        """Whether an answer of `size` bytes may be sent: the bytes of answers the server's
        connections hold unsent (written, not yet taken by the kernel), those of other
        answers let through and not yet written (all but `mine`, this answer's own), plus
        `size` stay within `max_unsent`. Checked before an answer is built and before its
        first byte, so none is ever cut once begun; an answer of at most SERVE_ANSWER_ALWAYS
        bytes, or one sent when nothing else waits, always passes."""
        unsent = scope.get(UNSENT_KEY)
        if unsent is None or size <= SERVE_ANSWER_ALWAYS:
            return True
        held = unsent() + self.reserved - mine
        return held == 0 or held + size <= self.max_unsent

    def _unsent_full(self) -> str:
        """The 503 message of an answer refused for the budget."""
        return (
            f"the server holds its limit of {self.max_unsent} bytes of answers waiting for "
            "their clients to read them (--max-unsent-total); retry shortly"
        )

    async def _read_body(
        self, scope: Scope, receive: Receive, send: Send, claim: BodyClaim, memory: MemoryClaim
    ) -> bytes | None:
        """The whole body, or None after answering 408/413/503 (or when the client left)."""
        path = scope["path"]
        coding = _body_coding(scope["headers"])
        if coding is not None:
            # Bodies are read as sent: a gzipped one was refused as "not valid JSON", and a
            # plain one labelled gzip was read as if unlabelled. The rest is dropped as after
            # a 413, unparsed.
            unsupported = f"Content-Encoding {coding} is not supported; send the body uncompressed"
            await _send_error(send, path, 415, unsupported, close=False)
            return None
        transfer = _transfer_coding(scope["headers"])
        if transfer is not None:
            # HTTP's answer to a transfer coding a server does not know (RFC 9112, 6.1): the
            # parser undoes only chunked, and a gzipped body was read as if plain.
            unknown = (
                f"Transfer-Encoding {transfer} is not supported; send the body uncompressed "
                "(chunked is fine)"
            )
            await _send_error(send, path, 501, unknown, close=False)
            return None
        too_large = f"the body is larger than {self.max_body} bytes (--max-body)"
        # Not closed at once after a 413: a client still sending would get a reset instead of
        # the answer. The protocol discards the rest, within the body deadline.
        for name, value in scope["headers"]:
            # Compared as digits: int() refuses more than 4,300 (leading zeros too): a 500.
            digits = value.lstrip(b"0")
            if (
                name == b"content-length"
                and value.isdigit()
                and (len(digits) > 20 or int(digits or b"0") > self.max_body)
            ):
                await _send_error(send, path, 413, too_large, close=False)
                return None
            if (
                name == b"content-length"
                and value.isdigit()
                and not memory.fits(int(digits or b"0"))
            ):
                # Refused before its bytes are read: the rest is dropped as after a 413.
                await self._refuse_for_memory(send, scope)
                return None
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.timeout_body):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:  # chunked bodies have no Content-Length
                        await _send_error(send, path, 413, too_large, close=False)
                        return None
                    if not claim.take(len(chunk)):
                        # Refused as its bytes arrive, not by Content-Length: what is held is
                        # what costs memory. The rest is dropped as after a 413.
                        full = (
                            f"the server holds its limit of {self.budget.limit} bytes of "
                            "request bodies (--max-body-total); retry shortly"
                        )
                        retry = [(b"retry-after", b"1")]
                        await _send_error(send, path, 503, full, close=False, extra=retry)
                        return None
                    if not memory.grow(size):  # counted as its bytes come
                        await self._refuse_for_memory(send, scope)
                        return None
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            late = f"the body did not arrive within {self.timeout_body:g} s"
            await _send_error(send, path, 408, late, close=True)
            return None


# A host name as a Host header or --allowed-host gives it (letters, digits, '.', '-', '_'),
# or an IPv6 address in brackets; with an optional :port.
_HOST = re.compile(r"(?P<name>[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]*))?")
# Names that reach this machine whatever DNS says: no page can rebind them to its own.
LOOPBACK_NAMES = frozenset({"localhost"})
DEFAULT_PORTS = {"http": "80", "https": "443"}


def split_host(value: str) -> tuple[str, str | None] | None:
    """(name, port) of a Host header's value: the name lower-cased, an IPv6 address without
    its brackets, a final dot dropped; the port None when not given. None when `value` is
    no host (a space, a path, a bare IPv6 address, a name with other characters)."""
    match = _HOST.fullmatch(value.strip().lower())
    if match is None:
        return None
    name, port = match["name"], match["port"] or None
    if port is not None:
        # A port is a number (RFC 3986): `:019800` is `:19800`; compared as digits, since
        # int() refuses more than 4,300 of them.
        port = port.lstrip("0") or "0"
    if name.startswith("["):
        try:
            # Compressed, as a browser writes it: `[0:0::1]` and --allowed-host ::1 match.
            name = str(ipaddress.IPv6Address(name[1:-1]))
        except ValueError:
            return None
    elif name.endswith(".") and name != ".":
        name = name[:-1]
    if not name or name.startswith(".") or ".." in name:
        return None
    return name, port


def is_loopback(name: str) -> bool:
    """Whether a host name (as split_host gives it) is this machine's loopback: localhost,
    127.x.x.x, ::1, and 127.x.x.x mapped into IPv6 (::ffff:127.0.0.1)."""
    if name in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # A socket on ::ffff:127.0.0.1 takes loopback connections only, yet ipaddress (3.11)
    # calls the mapped address no loopback: such a server answered any Host.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


@dataclass(frozen=True)
class HostRule:
    """The Host headers a server answers to. Listening on a loopback address: the loopback
    names (localhost, 127.x.x.x, [::1]) and `names`, so a web page whose name a DNS
    rebinding points at 127.0.0.1 cannot read the server; on another address (0.0.0.0, a
    LAN address): any Host, unless `names` narrows it to them (and the loopback names)."""

    names: frozenset[str] = frozenset()
    any_host: bool = False

    @classmethod
    def for_address(cls, listen: str, allowed: Iterable[str] = ()) -> HostRule:
        """The rule of a server listening on the address `listen` with --allowed-host
        `allowed` (values allowed_host takes; as it gives them, too: it is idempotent)."""
        names = frozenset(allowed_host(name) for name in allowed)
        return cls(names, any_host=not names and not is_loopback(listen.lower()))

    def open_warning(self, listen: str) -> str | None:
        """The start-up warning of a server on `listen` that answers to any Host, else None."""
        if not self.any_host:
            return None
        return (
            f"listening on {listen} without --allowed-host: any Host is answered, so a web "
            "page can drive and read the server by DNS rebinding wherever a browser reaches "
            "it (docker -p 127.0.0.1:8000:8000 included); give --allowed-host NAME for the "
            "names clients use"
        )

    def described(self) -> str:
        """The names this rule answers to, as a refusal says them."""
        shown = sorted(f"[{n}]" if ":" in n else n for n in self.names)
        names = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        return "localhost, 127.0.0.1, [::1]" + (f" and {cut(names)}" if names else "")

    def allows(self, host: str) -> bool:
        """Whether a request with this Host header is answered."""
        if self.any_host:
            return True
        split = split_host(host)
        return split is not None and (is_loopback(split[0]) or split[0] in self.names)


def allowed_host(value: str) -> str:
    """An --allowed-host value as HostRule compares it (an IPv6 address without brackets,
    compressed); ValueError when it is no host name or has a port. Idempotent: ServeOptions
    keeps what it gives, and dataclasses.replace checks that again."""
    stripped = value.strip()
    # A bare IPv6 address (what this returns for `[::1]`) cannot be read as name:port: a
    # name has no colon, so two colons or more are an address or nothing.
    if stripped.count(":") > 1 and not stripped.startswith("["):
        stripped = f"[{stripped}]"
    split = split_host(stripped)
    if split is None:
        raise ValueError(
            f"{cut(repr(value))} is not a host name (letters, digits, '.', '-') or an IPv6 address"
        )
    if split[1] is not None:
        raise ValueError(f"{cut(repr(value))}: give the name without a port (any port is taken)")
    return split[0]


def same_origin(origin: str, host: str | None) -> bool:
    """Whether a request's Origin header names the server the request was sent to (its
    Host): what a browser sends on the server's own page, not from another site."""
    scheme, sep, authority = origin.strip().lower().partition("://")
    split = split_host(authority) if sep and host is not None else None
    own = split_host(host) if host is not None else None
    if split is None or own is None:
        return False  # "null" (a sandboxed frame, a file:// page), or no Host to compare
    # The scheme's own port is the same origin spelled out or not, on either side: a
    # browser leaves it out, a proxy may not (nginx `$host:$server_port` sends `:80`).
    default = DEFAULT_PORTS.get(scheme)
    theirs, ours = ((name, None if port == default else port) for name, port in (split, own))
    return theirs == ours


class HostGuard:
    """Refuses a request whose Host the server does not answer to (421, see HostRule) and
    one sent by another site's page (an Origin other than its Host: 403), before its body
    is read. Any page a user visits could otherwise drive a server on 127.0.0.1: POST a
    text/plain body to /tag (a request browsers send without asking), or read /models and
    the answers once DNS rebinding made its own name point at 127.0.0.1. A request
    without Host (HTTP/1.0) or without Origin (curl, scripts, Annif clients) is no
    browser's: it passes. An absolute-form target's authority (TARGET_KEY) is judged in
    place of the Host, once the Host lines are checked (one at most, a host name)."""

    def __init__(self, app: ASGIApp, rule: HostRule) -> None:
        self.app = app
        self.rule = rule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
        origins = [v.decode("latin-1") for k, v in scope["headers"] if k == b"origin"]
        path = scope["path"]
        if len(hosts) > 1:  # RFC 9112 3.2: which one was meant cannot be known
            await _send_error(send, path, 400, "the request has more than one Host header", False)
            return
        host = hosts[0] if hosts else None
        if host is not None and host.strip() and split_host(host) is None:
            # RFC 9112 3.2: 400 whatever the target's form (an empty Host is allowed).
            invalid = (
                f"the Host header '{echoed(host)}' is not a host name (letters, digits, "
                "'.', '-', or an IPv6 address in brackets, with an optional :port)"
            )
            await _send_error(send, path, 400, invalid, close=False)
            return
        target = scope.get(TARGET_KEY)
        if target is not None:
            host, named_by = target, "the request target's authority"
        else:
            named_by = "the Host header"
        if host is not None and not self.rule.allows(host):
            refused = (
                f"this server does not answer to the host '{echoed(host)}' ({named_by}): "
                f"it answers to {self.rule.described()}; start it with "
                "--allowed-host NAME to answer to another name"
            )
            await _send_error(send, path, 421, refused, close=False)
            return
        other = next((o for o in origins if not same_origin(o, host)), None)
        if other is not None:
            # Echoed by the rule of every echo: a 60,000-character Origin is said to be so
            # long (repr's quotes and escapes made it 60,002 and more). The one that is
            # foreign: of two Origin headers, the first was named even when it was ours.
            address = "no Host header" if host is None else f"'{echoed(host)}'"
            foreign = (
                f"a request from another site (Origin '{echoed(other)}', not this "
                f"server's address {address}) is refused: this server's own page and "
                "clients that send no Origin are answered"
            )
            await _send_error(send, path, 403, foreign, close=False)
            return
        await self.app(scope, receive, send)


def _content_length(start: Message) -> int | None:
    """The Content-Length of an answer (its `http.response.start`), if it has one."""
    for name, value in start.get("headers", []):
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


def _body_coding(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The Content-Encoding of a request that has a body, when it is not `identity` (as
    given, at most 100 characters); None when the body is as sent, or there is none."""
    codings: list[str] = []
    has_body = False
    for name, value in headers:
        if name == b"content-encoding":
            codings += [c.strip() for c in value.decode("latin-1").split(",")]
        elif name == b"transfer-encoding":
            has_body = True  # chunked: the parser takes no other
        elif name == b"content-length":
            has_body = has_body or value.strip(b"0") != b""
    coded = [c for c in codings if c and c.lower() != "identity"]
    return ", ".join(coded)[:100] if coded and has_body else None


def _transfer_coding(headers: list[tuple[bytes, bytes]]) -> str | None:
    """A request's transfer codings other than chunked (as given, at most 100 characters),
    or None when there are none."""
    codings: list[str] = []
    for name, value in headers:
        if name == b"transfer-encoding":
            codings += [c.strip() for c in value.decode("latin-1").split(",")]
    other = [c for c in codings if c and c.lower() != "chunked"]
    return ", ".join(other)[:100] if other else None


def _stop_when_cancelled(receive: Receive) -> Receive:
    """The lifespan's receive, where a cancellation while waiting for the stop reads as the
    stop itself. A second Ctrl-C during a graceful stop makes uvicorn skip the lifespan
    shutdown and cancel its task as the loop closes: Starlette then logged the cancellation
    as a failed shutdown, a 41-line traceback. Not re-raised: the task ends at once (the
    models are closed, which does not wait on requests still running)."""

    started = False

    async def stop_when_cancelled() -> Message:
        nonlocal started
        if not started:  # the startup message: a cancellation before it is no stop to read
            started = True
            return await receive()
        try:
            return await receive()
        except asyncio.CancelledError:
            return {"type": "lifespan.shutdown"}

    return stop_when_cancelled


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then waits on the connection."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
