"""uvicorn's httptools protocol with limits of its own: a deadline for a new connection's
first request and for every request head, a size cap on heads (431), chunk-size lines and
trailers, a bound on pipelined requests read ahead, and answers to every request read whole
even when the client half-closes or sends what is not HTTP after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

if sys.platform != "win32":
    import fcntl
    import termios

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from topicclf.config import (
    SERVE_BODY_ALWAYS,
    SERVE_FEED_PER_TURN,
    SERVE_HEADS_IN_PROGRESS,
    SERVE_MAX_HEADERS,
    SERVE_PIPELINE_DEPTH,
    SERVE_PIPELINE_PIECE,
    SERVE_READER_PAUSE,
    SERVE_RETRY_SECONDS,
    SERVE_TIMEOUT_BODY,
    SERVE_TIMEOUT_HEADERS,
    shown,
)
from topicclf.server.http import (
    GONE_KEY,
    NO_MEMORY,
    TARGET_KEY,
    UNSENT_KEY,
    error_content,
    log,
    note_read_dropped,
    render_json,
    title,
)
from topicclf.server.memory import caused_by_memory


class ParserMemoryFailures(logging.Filter):
    """Drops uvicorn's "Invalid HTTP request received." when the parser failed for want of
    memory: the request is answered 503, not refused as bad HTTP, and counted in one line
    a minute (note_read_dropped); under memory pressure it was hundreds of lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that warning while a memory failure is being handled."""
        # uvicorn logs it inside its `except HttpParserError`, so the failure is at hand.
        return not (
            record.msg == "Invalid HTTP request received." and caused_by_memory(sys.exc_info()[1])
        )


# A filter of the logger itself, so it holds under `serve` and a program embedding the server.
logging.getLogger("uvicorn.error").addFilter(ParserMemoryFailures())

# Linux: the ioctl giving the bytes of a socket's send queue the peer has not acknowledged
# (SIOCOUTQ); elsewhere only the transport's own buffer is watched.
OUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None


def _declares_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request's head says a body follows (a Content-Length above 0, or chunked)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip(b"0 ")):
            return True
    return False


class _CycleTransport:
    """The connection as a request's RequestResponseCycle sees it: the same, except that
    closing it after a whole answer to a request whose body is still arriving is left to
    the protocol (GuardedHttpToolsProtocol.close_when_read)."""

    def __init__(self, protocol: GuardedHttpToolsProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport

    def close(self) -> None:
        """Close now, or once the rest of the request's body is read (see above); while the
        server stops, gracefully (GuardedHttpToolsProtocol.shutdown)."""
        if self._protocol.shutting_down:
            self._protocol.close_gracefully()
            return
        if self._protocol.cycle is None or self._protocol.cycle.transport is not self:
            self._transport.close()  # an older, pipelined request's cycle
        else:
            self._protocol.close_when_read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _ReadFlow(FlowControl):
    """uvicorn's flow control of a connection, except that reading stays paused while bytes
    already read wait to be parsed (GuardedHttpToolsProtocol._feed_held): uvicorn resumes
    reading after every answer and whenever a request reads its body, and each read could
    queue thousands more pipelined requests."""

    def __init__(self, transport: asyncio.Transport, waiting: Callable[[], bool]) -> None:
        super().__init__(transport)
        self._waiting = waiting

    def resume_reading(self) -> None:
        """Resume, unless bytes read before wait for room in the queue."""
        if not self._waiting():
            super().resume_reading()


class _HeadsInProgress:
    """The bytes of request heads begun and not yet whole that a server's connections hold,
    together (one per uvicorn ServerState, shared by its connections)."""

    def __init__(self) -> None:
        self.total = 0


def _heads_in_progress(server_state: Any) -> _HeadsInProgress:
    """The count of heads in progress of the server whose state is `server_state`."""
    heads = getattr(server_state, "topicclf_heads", None)
    if heads is None:
        heads = _HeadsInProgress()
        server_state.topicclf_heads = heads
    return heads


HEADS_FULL = (
    "the server holds its limit of {} bytes of request heads in progress ({} times "
    "--max-headers, over all connections); retry shortly, and send each request's head at once"
)


class _HeadTooLarge(Exception):
    """Raised in a parser callback: stops httptools at a head over the limit."""


class _Refused(Exception):
    """Raised in a parser callback: stops httptools at a request refused for its head alone
    (GuardedHttpToolsProtocol.refusal says how)."""


UPGRADE_WITH_BODY = (
    "this server does not switch protocols (Upgrade: {}) and cannot read the body of a "
    'request that asks it to: send it without "Upgrade" and "Connection: Upgrade" (curl: '
    "without --http2)"
)
CONNECT_WITH_BODY = (
    "this server opens no tunnels (CONNECT) and cannot read the body of a request that "
    "asks for one: send it with its route's method (POST /tag)"
)
NO_WEBSOCKET = (
    'this server does not speak WebSocket; send plain HTTP requests (without "Upgrade: websocket")'
)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with more limits: a new connection must start a request
    within the idle timeout, a request's head (request line and headers) must be at most
    `max_headers` bytes (431) and complete within `timeout_headers` (408), and the unread
    rest of a refused body (413) is discarded for at most `timeout_body`. uvicorn times out
    kept-alive connections only, and neither it nor httptools bounds a head, so a silent
    connection, half-sent headers or endless headers would otherwise hold a connection (and
    its memory) forever. Requests read whole are answered, in order, whatever follows them
    on the connection: the start of a request the client never finishes (then a half-close
    or a stalled head), bytes that are not HTTP, a WebSocket handshake, a head over the
    limit. Pipelined requests are read ahead only so far: at most SERVE_PIPELINE_DEPTH wait
    behind the one being answered (plus those of one piece of SERVE_PIPELINE_PIECE bytes),
    then reading stops until answers make room."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.max_headers = int(getattr(config, "max_headers", SERVE_MAX_HEADERS))
        self.timeout_headers = float(getattr(config, "timeout_headers", SERVE_TIMEOUT_HEADERS))
        self.timeout_body = float(getattr(config, "timeout_body", SERVE_TIMEOUT_BODY))
        self.headers_timer: asyncio.TimerHandle | None = None
        self.discard_timer: asyncio.TimerHandle | None = None
        self.linger_timer: asyncio.TimerHandle | None = None
        self.write_timer: asyncio.TimerHandle | None = None
        self.read_seen_at = 0.0  # when the client last took bytes of an answer waiting
        self.in_message = False  # a request has begun and not all of it has arrived
        # Bytes of the current request's head fed to the parser (None once the head is
        # complete): counted before httptools sees them, as it buffers a header line whole
        # however long it grows. The parser's callbacks count too (head_parsed), for a head
        # that starts in the same read as the end of the request before it.
        self.head_bytes: int | None = 0
        # What this connection adds to the server's heads in progress (_count_in_progress).
        self.head_held = 0
        self.heads = _heads_in_progress(self.server_state)
        self.head_parsed = 0
        self.heads_complete = 0
        self.head_refused = False
        self.refusal: tuple[int, str] | None = None  # (status, message) once _Refused
        # Trailers (the header lines after a chunked body's last chunk) are bounded as a
        # head is, and so is each chunk-size line (chunk extensions can make one endless):
        # httptools buffers a line whole, so bytes are counted as they are fed. Bytes fed
        # with no chunk begun or ended and no data (chunk_events unchanged) are one size
        # line, or, past the last chunk's header (chunk_without_data), its trailers.
        self.chunk_without_data = False
        self.chunked = False
        self.chunk_events = 0
        self.chunk_run = 0
        # When the body of the newest request must be in (or its unread rest discarded).
        self.body_deadline = 0.0
        # The newest request asked for the connection to close, and was answered before its
        # body was all in: closed once the rest is read (or at body_deadline).
        self.close_after_body = False
        # The newest request that arrived whole (answered or not): what `_end_input` answers
        # up to when the client sends nothing more that can be read.
        self.whole_cycle: RequestResponseCycle | None = None
        # Set by _end_input: bytes after the requests read whole are dropped, and the
        # connection closes once they are answered (after `final_answer`, if any; after a
        # while of reading and dropping bytes when `final_linger`, as a 431 does).
        self.input_over = False
        self.final_answer = b""
        self.final_linger = False
        self.shutting_down = False  # see shutdown
        self.stop_timer: asyncio.TimerHandle | None = None
        # Bytes read and not yet given to the parser (from held_at on): they wait while the
        # queue of pipelined requests is full, reading paused. The client's end of input
        # (eof_held) waits behind them: the requests in them are answered first.
        self.held = b""
        self.held_at = 0
        self.held_paused = False
        self.eof_held = False
        self.feeding = False
        self.feed_later: asyncio.Handle | None = None
        # Requests whose heads were read and which are not answered yet, oldest first: when
        # the connection is lost each is told so (uvicorn tells only the newest, and the one
        # being answered, older, then wrote to the closed transport: an "internal error").
        self.unanswered: deque[RequestResponseCycle] = deque()
        # Bytes of the newest request's body still to come, by its Content-Length (0 when
        # none is coming or its length is not known: chunked).
        self.body_left = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the idle timer: the first byte must come as on a kept-alive connection."""
        super().connection_made(transport)
        self.flow = _ReadFlow(transport, self._holding)
        # uvicorn's own keep-alive timer: data_received cancels it on the first byte.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        """Parse what was read, in turn after the bytes already waiting (see _feed_held)."""
        if self._holding():
            self.held = self.held[self.held_at :] + data
            self.held_at = 0
        else:
            self.held, self.held_at = data, 0
        self._feed_held()

    def _holding(self) -> bool:
        return self.held_at < len(self.held)

    def _feed_held(self) -> None:
        """Give the held bytes to the parser a piece (SERVE_PIPELINE_PIECE, or up to
        SERVE_BODY_ALWAYS of a body) at a time while fewer than SERVE_PIPELINE_DEPTH requests
        wait behind the one being answered and their bodies are under SERVE_BODY_ALWAYS
        bytes; past either, pause reading until answers make room (on_response_complete).
        At most SERVE_FEED_PER_TURN bytes a call: the rest on a later turn of the loop. One
        read (up to 256 KiB) was parsed at once, queueing thousands of tiny requests of about
        2.6 KB each, and uvicorn resumed reading after every answer: 600,000 requests in
        19.8 MB grew a server to 1.6 GB, and held up other connections' answers for 2 s."""
        if self.feeding:  # called again from a parser callback: the loop below goes on
            return
        self.feeding = True
        self.feed_later = None
        fed = 0
        try:
            while self._holding():
                if self.head_refused or self.input_over or self.transport.is_closing():
                    break  # the rest is dropped, as data_received would drop it
                if len(self.pipeline) >= SERVE_PIPELINE_DEPTH or self._queued_body() >= (
                    SERVE_BODY_ALWAYS
                ):
                    self.held_paused = True
                    self.flow.pause_reading()
                    return
                if fed >= SERVE_FEED_PER_TURN:
                    # The rest on a later turn of the event loop, other connections first:
                    # a read of 1-byte chunks (three parser callbacks a byte) held every
                    # other client for up to a second.
                    self.held_paused = True
                    self.flow.pause_reading()
                    self.feed_later = self.loop.call_soon(self._feed_held)
                    return
                # The rest of a body of known length at once (a large body in small pieces
                # is copied over and over); else a small piece, as pipelined heads are small.
                size = min(self.body_left, SERVE_BODY_ALWAYS) or SERVE_PIPELINE_PIECE
                piece = self.held[self.held_at : self.held_at + size]
                self.held_at += len(piece)
                fed += len(piece)
                self._feed(piece)
        finally:
            self.feeding = False
        self.held, self.held_at = b"", 0
        # Only once all that was read is parsed: a head that came in one read is whole by
        # now, however many pieces it took (one of 6 KB was refused while the heads in
        # progress were full).
        self._count_in_progress()
        if self.held_paused:
            self.held_paused = False
            self.flow.resume_reading()
        if self.eof_held:  # every request the client sent whole is queued: its EOF now
            self.eof_held = False
            if not self.transport.is_closing() and not self._input_ended():
                self.transport.close()

    def _count_in_progress(self) -> None:
        """Count the head this connection has begun and not finished into the server's heads
        in progress; refuse it (503, Retry-After) when it grew them past their bound. A
        refused head stays counted until its connection closes: the parser holds its bytes
        until then."""
        if self.head_refused or self.input_over or self.transport.is_closing():
            return
        held = self.head_bytes if self.in_message and self.head_bytes is not None else 0
        grew = held > self.head_held
        self.heads.total += held - self.head_held
        self.head_held = held
        limit = SERVE_HEADS_IN_PROGRESS * self.max_headers
        if grew and self.heads.total > limit:
            self.head_refused = True
            self._cancel_headers_timer()
            message = HEADS_FULL.format(limit, SERVE_HEADS_IN_PROGRESS)
            error = self._error_bytes(503, message, retry=True)
            if not self._end_input(error, linger=True):
                self._close_after(error, linger=True)

    def _queued_body(self) -> int:
        """Bytes of the bodies of requests waiting behind the one being answered: held by
        uvicorn until each runs, they are in no body budget (HttpGuard counts a body as its
        request reads it), so reading stops at SERVE_BODY_ALWAYS of them. 200 connections
        each pipelining 16 bodies of 60 KB held 200 MB past a 10 MiB --max-body-total."""
        return sum(len(cycle.body) for cycle, _ in self.pipeline)

    def _feed(self, data: bytes) -> None:
        """Feed the parser, never more of a head than `max_headers` bytes."""
        if self.head_refused or self.input_over:  # the rest is dropped until the connection ends
            return
        if self.head_bytes is None:
            events = self.chunk_events
            super().data_received(data)
            if self.head_refused or self.transport.is_closing():
                return
            if self.chunked and self.in_message and self.chunk_events == events:
                # No chunk began or ended and no data came: all of it was one chunk-size line
                # (chunk extensions make it as long as a client likes: 1 GB was read to the
                # end) or the last chunk's trailers. Counted only so: bytes between two size
                # lines were once taken for trailers, and a valid 86 KB body got a 431.
                self.chunk_run += len(data)
                if self.chunk_run > self.max_headers:
                    size_line = "chunk-size line (with its chunk extensions) is"
                    self._refuse_head(None if self.chunk_without_data else size_line)
            else:
                self.chunk_run = 0
            return
        room = self.max_headers - self.head_bytes
        if len(data) <= room:
            self.head_bytes += len(data)
            super().data_received(data)
            return
        # Only what fits: if the head ends within it, the rest is the body (or next request).
        heads_before = self.heads_complete
        self.head_bytes = self.max_headers
        super().data_received(data[:room])
        if self.transport.is_closing() or self.head_refused:
            return
        if self.heads_complete == heads_before:
            self._refuse_head()
            return
        self._feed(data[room:])

    def on_message_begin(self) -> None:
        """A request's first bytes: its headers must follow in time."""
        super().on_message_begin()
        self.in_message = True
        self.head_parsed = 0
        self.chunk_without_data = False
        self.chunked = False
        self.chunk_run = 0
        self._cancel_headers_timer()
        self.headers_timer = self.loop.call_later(self.timeout_headers, self._headers_too_slow)

    def on_url(self, url: bytes) -> None:
        """Part of the request target: counted into the head."""
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A whole header line: counted into the head."""
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_chunk_header(self) -> None:
        """A chunk's size line: its data, or for the last chunk trailers, follow."""
        self.chunk_without_data = True
        self.chunk_events += 1

    def on_chunk_complete(self) -> None:
        """A chunk, or the last chunk and its trailers, read."""
        self.chunk_without_data = False
        self.chunk_events += 1

    def on_body(self, body: bytes) -> None:
        """Part of the body (dropped by uvicorn once the request is answered)."""
        self.chunk_without_data = False
        self.chunk_events += 1
        self.body_left = max(0, self.body_left - len(body))
        if self.cycle is not None and type(self.cycle.body) is bytes:
            # uvicorn adds each part with +=, a copy of all so far each time: a bytearray
            # grows in place (1-byte chunks were quadratic). The request reads it and
            # uvicorn starts a new one.
            self.cycle.body = bytearray(self.cycle.body)  # type: ignore[assignment]
        super().on_body(body)

    def on_headers_complete(self) -> None:
        """Headers in: the body has its own deadline (HttpGuard). A WebSocket handshake is
        refused with a JSON 400: the application serves no WebSocket (uvicorn runs with
        ws="none"), and uvicorn's own answer, or a WebSocket library's, was a bare 400."""
        self._cancel_headers_timer()
        if self._get_upgrade() == b"websocket":
            self.refusal = (400, NO_WEBSOCKET)
            raise _Refused
        if self.parser.should_upgrade() and _declares_body(self.headers):
            # The parser takes what follows an upgrade's head for the new protocol: the body
            # was lost (curl --http2 sends Upgrade: h2c with every request; /tag got 400
            # "the body is not valid JSON"), and the request after it too.
            upgrade = (self._get_upgrade() or b"").decode("latin-1")
            if self.parser.get_method() == b"CONNECT" and not upgrade:
                # httptools takes CONNECT for an upgrade: the message named an Upgrade
                # header the request never sent (pass 45).
                self.refusal = (400, CONNECT_WITH_BODY)
            else:
                self.refusal = (400, UPGRADE_WITH_BODY.format(shown(upgrade)))
            raise _Refused
        self._target_authority_as_host()
        self.chunked = any(name == b"transfer-encoding" for name, _ in self.headers)
        self.head_bytes = None
        self.heads_complete += 1
        self.body_deadline = self.loop.time() + self.timeout_body
        self.scope[UNSENT_KEY] = self._unsent_answers  # type: ignore[literal-required]
        self.scope[GONE_KEY] = threading.Event()  # type: ignore[literal-required]
        if self.parser.get_http_version() == "1.0":
            # RFC 9110: a server MUST ignore 100-continue from HTTP/1.0 and never send it a
            # 1xx answer (uvicorn sent "HTTP/1.1 100 Continue", which a 1.0 client may take
            # for the whole answer).
            self.expect_100_continue = False
        super().on_headers_complete()
        length = next((value for name, value in self.headers if name == b"content-length"), b"")
        self.body_left = int(length) if length.isdigit() and len(length) < 19 else 0
        if self.cycle is not None:
            self.unanswered.append(self.cycle)
            self.cycle.transport = _CycleTransport(self)  # type: ignore[assignment]
            if self.parser.should_upgrade():
                # Another upgrade (h2c): ignored, as HTTP allows, and the request answered;
                # but the parser stops after it, so a request behind it on the connection
                # would never be answered: closed once this one is.
                self.cycle.keep_alive = False

    def _target_authority_as_host(self) -> None:
        """RFC 9112 3.2.2: a request target in absolute form (`POST http://h:p/tag`) names
        its host in place of the Host header: its authority is put in the scope for
        HostGuard to judge (the Host headers stay, to be checked as sent), and the target
        is made origin-form, `/tag?query`, before uvicorn reads it."""
        scheme, sep, rest = self.url.partition(b"://")
        if not sep or not scheme[:1].isalpha() or b"/" in scheme:
            return
        end = min((i for i in map(rest.find, (b"/", b"?", b"#")) if i >= 0), default=len(rest))
        if rest[:end].endswith(b":"):
            # An empty port is the scheme's own (RFC 3986 3.2.3); httptools refuses it.
            self.url = scheme + b"://" + rest[: end - 1] + rest[end:]
        try:
            target = httptools.parse_url(self.url)
        except httptools.HttpParserInvalidURLError:
            return  # uvicorn answers it 400
        if not target.host:
            return
        host = target.host if b":" not in target.host else b"[" + target.host + b"]"
        port = b":%d" % target.port if target.port is not None else b""
        self.scope[TARGET_KEY] = (host + port).decode("latin-1")  # type: ignore[literal-required]
        # httptools gives no path for `http://h` or `http://h?q` (uvicorn then failed on
        # None: 400 "not valid HTTP/1.1"): empty means `/`, for OPTIONS `*` (RFC 9112 3.2.2).
        path = target.path or (b"*" if self.parser.get_method() == b"OPTIONS" else b"/")
        self.url = path + (b"?" + target.query if target.query is not None else b"")

    def _unsupported_upgrade_warning(self) -> None:
        """An ignored upgrade is not worth a warning (uvicorn's also asked for a WebSocket
        library, which the server does not use)."""

    def on_response_complete(self) -> None:
        """Answered before the body was all in (a 413): discard the rest, until the body's
        deadline. A connection closing with its answer not all sent waits for the client to
        read it."""
        if self.shutting_down:
            self.pipeline.clear()  # the answer just sent said `connection: close`
        newest_waits = self.cycle is not None and any(c is self.cycle for c, _ in self.pipeline)
        super().on_response_complete()
        if newest_waits and not any(c is self.cycle for c, _ in self.pipeline):
            # The newest request runs only now: its body, held back unread while it waited
            # its turn, has its whole --timeout-body from here (a 413 for it was followed by
            # a close at once, its head's deadline long past, and the next request lost).
            self.body_deadline = self.loop.time() + self.timeout_body
        while self.unanswered and self.unanswered[0].response_complete:
            self.unanswered.popleft()
        if self.in_message and self.head_bytes is not None:
            # A head begun behind the answered request has its own deadline (the headers
            # timer): uvicorn armed the idle timeout, which closed the connection after
            # --timeout-idle with no answer, though the head came within --timeout-headers.
            self._unset_keepalive_if_required()
        if self.input_over and self.cycle.response_complete and not self.transport.is_closing():
            # The last request read whole is answered: only now, after it in order, the
            # error of what followed it, if any, and the close.
            self._unset_keepalive_if_required()
            self._close_after(self.final_answer, self.final_linger)
        if self.transport.is_closing():
            if self.transport.get_write_buffer_size():
                self._watch_writes()
            return
        if self.cycle.response_complete and self.cycle.more_body:
            # The newest request was answered (a 413) before its body was all in: its rest is
            # dropped until its deadline. Only the newest: an older request answered while
            # the newest one's body still arrives armed a timer that, never cancelled, closed
            # the connection later in the middle of another request.
            self._unset_keepalive_if_required()
            if self.discard_timer is not None:
                self.discard_timer.cancel()
            left = max(0.0, self.body_deadline - self.loop.time())
            self.discard_timer = self.loop.call_later(left, self.transport.close)
        if self.shutting_down:
            self._unset_keepalive_if_required()  # the graceful close's own timer ends it
        self._feed_held()  # the queue has room for more of the bytes read ahead

    def shutdown(self) -> None:
        """The server stops (SIGTERM, Ctrl-C): the request running is answered (its body
        still read, if it is arriving), with `connection: close`; the requests pipelined
        behind it are not started, and the connection is then closed gracefully, as after
        a 431 (see _close_after): uvicorn closed it at once, with the client's pipelined
        requests unread in it, and the kernel's reset threw away the answers already
        written (a client received 279 of 1,737)."""
        self.shutting_down = True
        if self.transport.is_closing():
            return
        # uvicorn waits this long (from 0.1 s after calling this) before it stops anyway.
        stop = getattr(self.config, "timeout_graceful_shutdown", None)
        if stop:
            self.stop_timer = self.loop.call_later(stop, self._cut_at_stop)
        running = next((c for c in self.unanswered if not c.response_complete), None)
        if running is None and not (self.in_message or self._holding()):
            # An idle kept-alive connection (a requests.Session's, a pool's): nothing to
            # answer or drain, so it is closed at once; lingering held every stop for
            # --timeout-headers, 10 s (pass 47).
            self.transport.close()
            return
        if running is None:
            self.close_gracefully()  # between requests: a head begun is never answered
            return
        running.keep_alive = False
        self.pipeline.clear()
        self.final_answer, self.final_linger = b"", True
        if running is not self.cycle or not running.more_body:
            self.input_over = True  # its body is in: nothing more is parsed

    def _cut_at_stop(self) -> None:
        """The server stops now: an answer not all sent is cut with a reset, and said so
        (a plain close ended it cleanly, and a client that does not check Content-Length
        took 3.9 of 6.4 MB for the whole answer)."""
        self.stop_timer = None
        if self.transport.is_closing() and not self.transport.get_write_buffer_size():
            return
        unsent = self._unsent()
        if unsent:
            log.warning(
                "%s bytes of an answer to %s were not sent within --timeout-shutdown; "
                "the connection is reset",
                f"{unsent:,}",
                f"{self.client[0]}:{self.client[1]}" if self.client else "a client",
            )
            self._reset()

    def close_gracefully(self) -> None:
        """Close our side once what was written is sent, reading and dropping what the
        client still sends for a while (see _close_after), instead of a reset."""
        self.input_over = True
        self.final_answer, self.final_linger = b"", True  # as on_response_complete ends it
        self._unset_keepalive_if_required()
        if self.linger_timer is None and not self.transport.is_closing():
            self._close_after(b"", linger=True)

    def close_when_read(self) -> None:
        """The answer is sent and the connection is to close (the request said `Connection:
        close`, or the answer did) while the request's body is still arriving (a 413 sent
        before reading it): our side is closed for writing at once, so the client sees the
        answer end, but the rest of the body is read and dropped before the connection
        closes, until the body's deadline. Closing at once, with the client still sending,
        would reset the connection, and the client would never read the answer."""
        cycle = self.cycle
        if not (cycle.response_complete and cycle.more_body) or self.transport.is_closing():
            self.transport.close()
            return
        if self.body_deadline <= self.loop.time():  # e.g. a 408: the deadline has passed
            self.transport.close()
            return
        self.close_after_body = True
        if self.transport.can_write_eof():
            self.transport.write_eof()

    def on_message_complete(self) -> None:
        """The body is in (or discarded): back to the idle timeout, and to a new head."""
        super().on_message_complete()
        self.whole_cycle = self.cycle
        self.in_message = False
        self.head_bytes = 0
        self.body_left = 0
        self.url = b""  # an error before the next request's target must not take this path
        if self.discard_timer is not None:
            self.discard_timer.cancel()
            self.discard_timer = None
            if self.close_after_body:
                self.transport.close()
            elif not self.transport.is_closing():
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def eof_received(self) -> bool:  # type: ignore[override]  # uvicorn says None; asyncio bool
        """The client closed its sending side (shutdown(SHUT_WR), as `nc -N` does): the
        requests it sent whole are still answered, then the connection is closed (True keeps
        the transport open for writing); a request it sent only part of can never be whole
        and is dropped. uvicorn took the end of input for a lost connection and dropped the
        answers, and so did this protocol when part of a request followed the whole ones.
        Bytes read and not yet parsed (behind a full queue of pipelined requests) are parsed
        first."""
        if self._holding():
            self.eof_held = True
            return True
        return self._input_ended()

    def _input_ended(self) -> bool:
        """The client's end of input, once every byte it sent before is parsed: see
        eof_received."""
        if self.linger_timer is not None:  # after a 431: the client sends no more to drop
            return False
        self.final_linger = False  # nor after the answers a 431 waits for: closed after them
        return self._end_input()

    def _end_input(self, final_answer: bytes = b"", linger: bool = False) -> bool:
        """Nothing more the client sends will be read: the requests it sent whole are
        answered in order, then `final_answer` (an error for what followed them, if any) is
        sent and the connection closed; the request begun after them, whole never, is
        dropped. False (nothing done) when no request read whole waits for its answer: the
        caller closes the connection its own way. Whatever follows, a request read whole
        never loses its answer to the bytes after it, nor gets another request's error as
        its answer (HTTP pairs answers with requests by their order). `linger`: see
        _close_after."""
        if self.input_over:  # ended already (say a 400 waits its turn): the client's EOF, or
            return True  # a repeated one once reading resumes, changes nothing
        self._cancel_headers_timer()  # the begun request will never be whole: no 408 for it
        last = self.whole_cycle
        if last is None or last.response_complete:
            return False
        if self.cycle is not last:
            # The begun request's head was in: its cycle waits behind `last`, never to run.
            dropped = self.cycle
            self.pipeline = deque(queued for queued in self.pipeline if queued[0] is not dropped)
            self.cycle = last  # as uvicorn's shutdown and connection_lost expect: the newest
        self.input_over = True
        self.final_answer = final_answer
        self.final_linger = linger
        if not final_answer:
            last.keep_alive = False  # its answer says `connection: close`, and closes
        return True

    def pause_writing(self) -> None:
        """The client reads slower than we write: it must keep reading."""
        super().pause_writing()
        self._watch_writes()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timers with the connection."""
        self._cancel_headers_timer()
        for timer in (self.discard_timer, self.linger_timer, self.write_timer, self.stop_timer):
            if timer is not None:
                timer.cancel()
        self.held, self.held_at = b"", 0
        self.heads.total -= self.head_held
        self.head_held = 0
        if self.feed_later is not None:
            self.feed_later.cancel()
        for cycle in self.unanswered:
            if not cycle.response_complete:
                cycle.disconnected = True
                cycle.message_event.set()
                # Its work in a thread stops at the next checkpoint (topicclf.cancel): no
                # one will read the answer.
                gone = cycle.scope.get(GONE_KEY)
                if isinstance(gone, threading.Event):
                    gone.set()
        self.unanswered.clear()
        super().connection_lost(exc)

    def _unsent_answers(self) -> int:
        """Bytes of answers written to this server's connections that their transports still
        hold (the kernel has not taken them): the memory slow readers cost the process."""
        total = 0
        for protocol in self.server_state.connections:
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                total += transport.get_write_buffer_size()
        return total

    def _cancel_headers_timer(self) -> None:
        if self.headers_timer is not None:
            self.headers_timer.cancel()
            self.headers_timer = None

    def _watch_writes(self, before: int | None = None) -> None:
        """While an answer waits to be sent, abort the connection when the client took none
        of it for SERVE_READER_PAUSE seconds (or the idle timeout, if longer): a client that
        never reads would otherwise hold the connection (and its unsent answer, within
        --max-unsent-total) forever, and delay a graceful shutdown. Progress is what the
        client received (see _unsent), not whether our buffer emptied: the kernel takes more
        of it only once a good part of its own queue (megabytes) is read, so a client reading
        200 KB/s was cut as if it read nothing. And a client's kernel takes more only once
        its receive buffer has room again, so a steady slow reader shows progress seconds
        apart (4 KB/s with default buffers on loopback: 31 s; 512 B/s with a 4 KB buffer:
        12 s), looking just like one that reads nothing: it was reset after the idle
        timeout. Checked every idle timeout."""
        if before is None and self.write_timer is not None:
            return
        self.write_timer = None
        if not self.transport.get_write_buffer_size():
            return  # all of it is with the kernel: the idle timeout takes over
        unsent, now = self._unsent(), self.loop.time()
        if before is None or unsent < before:
            self.read_seen_at = now
        elif now - self.read_seen_at >= max(self.timeout_keep_alive, SERVE_READER_PAUSE):
            self._reset()
            return
        self.write_timer = self.loop.call_later(self.timeout_keep_alive, self._watch_writes, unsent)

    def _unsent(self) -> int:
        """Bytes written to this connection that the client has not received: the
        transport's buffer, plus the kernel's send queue where the system says (Linux)."""
        unsent = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if OUTQ is not None and sock is not None:
            # A socket that does not say (not TCP): the buffer alone.
            with contextlib.suppress(OSError):
                unsent += struct.unpack("i", fcntl.ioctl(sock.fileno(), OUTQ, b"\0" * 4))[0]
        return unsent

    def _reset(self) -> None:
        """Abort with a reset (SO_LINGER 0): a plain close sent the kernel's queue and then
        a clean end, and the client took the cut answer for a whole, short one."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _count_head(self, size: int) -> None:
        self.head_parsed += size
        if self.head_parsed > self.max_headers:
            self.head_refused = True  # send_400_response answers 431 instead
            raise _HeadTooLarge

    def send_400_response(self, msg: str) -> None:
        """Bytes the HTTP parser cannot read: a JSON 400, as every other error (uvicorn's own
        answer is plain text), then the connection is closed."""
        if self.head_refused:  # the parser stopped at a callback's _HeadTooLarge
            self._refuse_head()
            return
        if self.refusal is not None:  # or at a callback's _Refused
            error = self._error_bytes(*self.refusal)
        elif caused_by_memory(sys.exc_info()[1]):
            # The parser's callback could not get memory: the request may be well formed, and
            # the client is told to retry, not that it sent bad HTTP (uvicorn's warning for it
            # is dropped by ParserMemoryFailures; the line is note_read_dropped's).
            note_read_dropped()
            error = self._error_bytes(503, NO_MEMORY, retry=True)
        else:
            message = "the request is not valid HTTP/1.1; the server cannot read it"
            error = self._error_bytes(400, message)
        self._refuse_begun(error)

    def _refuse_head(self, what: str | None = None) -> None:
        """431, then the client's further bytes are read and dropped for a while (see
        _close_after). Behind requests read whole and not yet answered, the 431 waits for
        their answers (_end_input), the bytes being dropped meanwhile. Trailers over the
        limit are refused alike, as the answer to their request: the application, still
        waiting for that body, is told the client left."""
        self.head_refused = True
        self._cancel_headers_timer()
        trailers = self.head_bytes is None  # past the newest request's head
        what = what or ("head and trailers are" if trailers else "head is")
        message = f"the request {what} larger than {self.max_headers} bytes (--max-headers)"
        error = self._error_bytes(431, message)
        if self._end_input(error, linger=True):
            return  # the request refused is dropped (out of the pipeline if queued there)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Its trailers, while it runs (HttpGuard awaits the body): nothing before it waits.
            if cycle.response_started:
                self.transport.close()  # its answer is half-sent: no place for the 431
                return
            cycle.disconnected = True  # HttpGuard stops waiting for the body, answers nothing
            cycle.message_event.set()
        elif trailers:
            error = b""  # the request was answered (a 413): its rest is being dropped
        self._close_after(error, linger=True)

    def _close_after(self, answer: bytes, linger: bool) -> None:
        """Send `answer` (if any) and close; with `linger`, close our sending side only, and
        read and drop the client's further bytes for `timeout_headers` (or until it closes
        its side) before closing: closing at once, with a refused head still arriving, would
        reset the connection, and the client would lose the answers before reading them."""
        if answer:
            self.transport.write(answer)
        if not linger:
            self.transport.close()
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.linger_timer = self.loop.call_later(self.timeout_headers, self.transport.close)

    def _headers_too_slow(self) -> None:
        self.headers_timer = None
        if self.transport.is_closing():
            return
        if self._holding() or self.flow.read_paused:
            # The rest of the head may be among the bytes read and waiting for room in the
            # queue of pipelined requests, or unread in the socket while reading is paused
            # (uvicorn pauses it while a request waits its turn): the client may have sent
            # them in time. Once the server reads again, a head still short is late.
            self.headers_timer = self.loop.call_later(self.timeout_headers, self._headers_too_slow)
            return
        late = f"the request headers did not arrive within {self.timeout_headers:g} s"
        error = self._error_bytes(408, late)
        self._refuse_begun(error)

    def _refuse_begun(self, error: bytes) -> None:
        """Answer the request begun last with `error` and close: at once, or behind requests
        read whole after their answers (written now, it would be taken as theirs)."""
        if not self._end_input(error):
            self._close_after(error, linger=False)

    def _error_bytes(self, status: int, message: str, retry: bool = False) -> bytes:
        """A whole error answer, below the application: shaped by the path of the request
        target as far as it was read (a Problem under /v1); `retry` adds Retry-After."""
        path = getattr(self, "url", b"").split(b"?", 1)[0].decode("latin-1")
        content, media_type = error_content(path, status, message)
        body = render_json(content)
        head = (
            f"HTTP/1.1 {status} {title(status)}\r\ncontent-type: {media_type}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n"
            + (f"retry-after: {SERVE_RETRY_SECONDS}\r\n" if retry else "")
            + "\r\n"
        )
        return head.encode("ascii") + body
