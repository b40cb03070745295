"""Running the application with uvicorn: the listening socket, worker processes, timeouts,
backlog, logging, and a graceful stop on SIGTERM (requests in flight finish first), SIGHUP
and SIGQUIT alike, whatever the worker count (README "Signals")."""

from __future__ import annotations

import copy
import gc
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn, cast

import uvicorn
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE

from topicclf.bundle.manifest import fingerprint
from topicclf.config import (
    ACCESS_LOG_TARGET_CHARS,
    SERVE_BACKLOG,
    SERVE_BACKLOG_RANGE,
    SERVE_HOST,
    SERVE_MAX_ANSWER,
    SERVE_MAX_ANSWER_RANGE,
    SERVE_MAX_BODY,
    SERVE_MAX_BODY_RANGE,
    SERVE_MAX_BODY_TOTAL_RANGE,
    SERVE_MAX_DOCUMENTS,
    SERVE_MAX_DOCUMENTS_RANGE,
    SERVE_MAX_HEADERS,
    SERVE_MAX_HEADERS_RANGE,
    SERVE_MAX_PAIRS,
    SERVE_MAX_PAIRS_RANGE,
    SERVE_MAX_UNSENT_TOTAL_RANGE,
    SERVE_PORT,
    SERVE_TIMEOUT_BODY,
    SERVE_TIMEOUT_HEADERS,
    SERVE_TIMEOUT_IDLE,
    SERVE_TIMEOUT_RANGE,
    SERVE_TIMEOUT_SHUTDOWN,
    SERVE_WORKERS,
    SERVE_WORKERS_RANGE,
)
from topicclf.errors import ConfigError, TopicclfError
from topicclf.server.app import AppSettings, create_app
from topicclf.server.http import ASGIApp, HostGuard, HostRule, allowed_host, log
from topicclf.server.memory import fit_allocator_to_limit
from topicclf.server.models import ModelSpec, ServedModel, load_models
from topicclf.server.protocol import GuardedHttpToolsProtocol

# What a signal does to a server process of ours, whatever the worker count (README
# "Signals"): these stop it gracefully, and a second one forces the stop;
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)
# these are ignored: the log is stderr, with nothing to reopen (SIGUSR1 for logrotate), and
# the worker count is --workers (uvicorn added a worker per SIGTTIN, past the cores).
IGNORED_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU")
    if hasattr(signal, name)
)


@dataclass(frozen=True)
class ServeOptions:
    """How `topicclf serve` runs: address, processes, limits and timeouts (seconds)."""

    host: str = SERVE_HOST
    port: int = SERVE_PORT
    workers: int = SERVE_WORKERS
    backlog: int = SERVE_BACKLOG
    max_body: int = SERVE_MAX_BODY
    max_body_total: int | None = None  # None: 256 MiB, or max_body if larger
    max_documents: int = SERVE_MAX_DOCUMENTS
    max_pairs: int = SERVE_MAX_PAIRS
    max_answer: int = SERVE_MAX_ANSWER
    max_unsent_total: int | None = None  # None: 512 MiB, or max_answer if larger
    max_headers: int = SERVE_MAX_HEADERS
    timeout_idle: float = SERVE_TIMEOUT_IDLE
    timeout_headers: float = SERVE_TIMEOUT_HEADERS
    timeout_body: float = SERVE_TIMEOUT_BODY
    timeout_shutdown: float = SERVE_TIMEOUT_SHUTDOWN
    access_log: bool = False
    # Host names answered besides the loopback ones (--allowed-host; see HostRule), kept as
    # allowed_host gives them: checked here once, before any socket is bound.
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """ConfigError for a value out of range: an infinite timeout would never end a
        connection, a backlog beyond a C int fails deep inside the socket call."""
        object.__setattr__(self, "host", listen_host(self.host))
        if isinstance(self.allowed_hosts, str):  # a lone name would be taken letter by letter
            raise ConfigError("allowed_hosts must be a sequence of host names, not a string")
        try:
            names = tuple(allowed_host(name) for name in self.allowed_hosts)
        except ValueError as exc:
            raise ConfigError(f"allowed_hosts: {exc}") from None
        object.__setattr__(self, "allowed_hosts", names)
        counts = {
            "port": (0, 65535),
            "workers": SERVE_WORKERS_RANGE,
            "backlog": SERVE_BACKLOG_RANGE,
            "max_body": SERVE_MAX_BODY_RANGE,
            "max_documents": SERVE_MAX_DOCUMENTS_RANGE,
            "max_pairs": SERVE_MAX_PAIRS_RANGE,
            "max_answer": SERVE_MAX_ANSWER_RANGE,
            "max_headers": SERVE_MAX_HEADERS_RANGE,
        }
        for name, (low, high) in counts.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{name} must be between {low} and {high}, not {value!r}")
        total = self.max_body_total
        if total is not None:
            low, high = SERVE_MAX_BODY_TOTAL_RANGE
            if isinstance(total, bool) or not isinstance(total, int) or not low <= total <= high:
                raise ConfigError(f"max_body_total must be between {low} and {high}, not {total!r}")
            if total < self.max_body:  # such a body could never be read: 503 "retry" forever
                raise ConfigError(
                    f"max_body_total ({total}) must be at least max_body ({self.max_body})"
                )
        unsent = self.max_unsent_total
        if unsent is not None:
            low, high = SERVE_MAX_UNSENT_TOTAL_RANGE
            if isinstance(unsent, bool) or not isinstance(unsent, int) or not low <= unsent <= high:
                raise ConfigError(
                    f"max_unsent_total must be between {low} and {high}, not {unsent!r}"
                )
            if unsent < self.max_answer:  # such an answer would wait on others forever
                raise ConfigError(
                    f"max_unsent_total ({unsent}) must be at least max_answer ({self.max_answer})"
                )
        low_s, high_s = SERVE_TIMEOUT_RANGE
        for name in ("timeout_idle", "timeout_headers", "timeout_body", "timeout_shutdown"):
            value = getattr(self, name)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not low_s <= value <= high_s:
                shown = f"{value:g}" if ok else repr(value)
                raise ConfigError(f"{name} must be between {low_s:g} and {high_s:g} s, not {shown}")

    @property
    def app_settings(self) -> AppSettings:
        """The limits the application itself enforces."""
        return AppSettings(
            self.max_body,
            self.max_documents,
            self.timeout_body,
            self.max_body_total,
            self.max_pairs,
            self.max_answer,
            self.max_unsent_total,
            self.workers,
        )


class ServeConfig(uvicorn.Config):
    """uvicorn's configuration plus the head limit and deadlines GuardedHttpToolsProtocol
    reads (a module-level class, so worker processes can unpickle it)."""

    def __init__(
        self,
        app: Any,
        *,
        max_headers: int,
        timeout_headers: float,
        timeout_body: float,
        **kwargs: Any,
    ) -> None:
        self.max_headers = max_headers
        self.timeout_headers = timeout_headers
        self.timeout_body = timeout_body
        self.made_in = os.getpid()  # a copy unpickled in a worker process tells it so
        super().__init__(app, **kwargs)

    def configure_logging(self) -> None:
        """Set up logging; in a worker process (uvicorn calls this first thing there), also
        its signals, before its models load (README "Signals")."""
        super().configure_logging()
        if os.getpid() != self.made_in and threading.current_thread() is threading.main_thread():
            take_signals()
            # SIGTERM unwinds as in `serve` itself: its default action, once uvicorn hands it
            # back after a stop forced by SIGINT, killed the worker before the requests still
            # running got their 503 (they got a closed connection).
            signal.signal(signal.SIGTERM, _interrupted)


@dataclass(frozen=True)
class AppFactory:
    """Builds the application in a worker process, loading the models there (picklable).
    `fingerprints`: each model's manifest fingerprint as `serve` loaded it before listening;
    `hosts`: the Host headers answered (None: any)."""

    specs: tuple[ModelSpec, ...]
    settings: AppSettings
    fingerprints: tuple[str, ...] = ()
    hosts: HostRule | None = None

    def __call__(self) -> ASGIApp:
        """Load the models and return the application. A worker that cannot, or finds a
        model other than the one the others serve (its directory replaced since), says so in
        one line and exits with uvicorn's STARTUP_FAILURE, which stops the server: any other
        exit, uvicorn starts a replacement at once, which failed alike, forever (a traceback
        and most of a core each second; attacker pass 26). A worker told to stop while it
        started (its stop signals held until now: `hold_stop_signals`) ends here, exit 0."""
        if take_held_stop_signals():
            raise SystemExit(0)  # uvicorn has the signal too: nothing more to say
        fit_allocator_to_limit()  # a process of its own (spawned): the supervisor's cap is not its
        try:
            models = load_models(self.specs)
        except TopicclfError as exc:
            _worker_fails(f"worker could not load the models: {exc}")
        except Exception:
            log.exception("worker could not load the models")
            raise SystemExit(STARTUP_FAILURE) from None
        for spec, expected in zip(self.specs, self.fingerprints, strict=False):
            if fingerprint(models[spec.name].classifier.manifest_, spec.path) != expected:
                _worker_fails(
                    f"{spec.path} changed on disk since the server started; restart the "
                    "server to serve the new model"
                )
        app = HostGuard(create_app(models, self.settings), self.hosts or HostRule(any_host=True))
        settle_heap()
        return app


def _worker_fails(message: str) -> NoReturn:
    """Log `message` (its control characters escaped) and end the worker: it cannot start."""
    log.error("%s", message)
    raise SystemExit(STARTUP_FAILURE)


def take_signals() -> None:
    """In a server process of our own (from its main thread): SIGHUP and SIGQUIT do what
    SIGTERM does, and IGNORED_SIGNALS are ignored. By default each of them killed the
    process at once, a request in flight unanswered (exit 129, 131, 138, 140)."""
    for sig in STOP_SIGNALS:
        if sig not in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _as_sigterm)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def hold_stop_signals() -> Iterator[None]:
    """Block the stop signals in this thread for the block (they wait, then are handled):
    a worker process started inside it begins with them blocked, and keeps them so until
    it takes them in `AppFactory`, where uvicorn handles them. Before, a stop signal that
    reached a worker while it imported its modules (about a second; Ctrl-C and systemd
    signal every process of the server) was a KeyboardInterrupt traceback or a silent
    death by signal, and the supervisor started a replacement."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def take_held_stop_signals() -> bool:
    """Unblock the stop signals (in this thread; see `hold_stop_signals`); whether one was
    waiting, now handled by the handlers in place."""
    if not hasattr(signal, "pthread_sigmask"):
        return False
    waiting = bool(signal.sigpending() & set(STOP_SIGNALS))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return waiting


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    # Whatever SIGTERM does at this moment: KeyboardInterrupt while the models load (the
    # CLI's handler), a graceful stop once uvicorn serves (its handler, restored after).
    signal.raise_signal(signal.SIGTERM)


class OneProcessServer(uvicorn.Server):
    """uvicorn's server, its graceful stop forced by any second stop signal: uvicorn forces
    it on a second SIGINT only, so a second `kill` waited out --timeout-shutdown."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop gracefully, or force the stop already under way."""
        if self.should_exit:
            self.force_exit = True
        super().handle_exit(sig, frame)


def fill_standard_descriptors() -> None:
    """Open /dev/null onto each of descriptors 0, 1 and 2 that is closed (`serve <&- >&-`),
    leaving sys.stdin, sys.stdout and sys.stderr as they are (None: nothing is written
    there). Otherwise the listening socket and uvloop's own descriptors took them, and
    libuv asserts that it never closes one of them: the stop ended in SIGABRT (exit 134)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            os.set_inheritable(fd, True)  # the workers' too


def settle_heap() -> None:
    """Collect once, then keep everything alive now (models, vocabularies, the application)
    out of the garbage collector's scans: otherwise its first full collection under load
    walks all of it and stalls every request in flight (about 0.2 s, the benchmark's p99).
    Only for a process of our own (`serve`), never for a program that embeds the server."""
    gc.collect()
    gc.freeze()


class ServerLog(logging.StreamHandler):  # type: ignore[type-arg]
    """The server's log on stderr, looked up at each record. A record that cannot be written
    (stderr closed, a full disk) is dropped: logging's own handling printed a 95-line
    traceback per request, to the stream that was failing or beside it."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record, or drop it when stderr cannot take it."""
        self.stream = sys.stderr
        if self.stream is not None:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record: whatever it would say about the failure could not be written
        either, or would be one more line per request."""


class CutLongTargets(logging.Filter):
    """Cuts a request target longer than ACCESS_LOG_TARGET_CHARS in an access-log line, as
    error messages cut what a client sent: a 63 KB path (under --max-headers) was logged
    whole, so 500 such requests in 3 s wrote 31 MB of log, a byte of log per byte sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Cut the record's long arguments in place; every record is kept."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                f"{arg[:ACCESS_LOG_TARGET_CHARS]}... ({len(arg):,} characters)"
                if isinstance(arg, str) and len(arg) > ACCESS_LOG_TARGET_CHARS
                else arg
                for arg in record.args
            )
        return True


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging setup, every line on stderr (uvicorn writes its access log to
    stdout; `serve --help` says stderr, and stdout may be closed), plus our logger
    (failures of the application)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler.pop("stream", None)
        handler["class"] = f"{__name__}.ServerLog"
    # uvicorn would ask sys.stdout whether it is a terminal: None when stdout is closed.
    try:
        colors = sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # a closed file object
        colors = False
    for formatter in config["formatters"].values():
        formatter["use_colors"] = colors
    config["loggers"]["topicclf.server"] = {"handlers": ["default"], "level": "INFO"}
    config.setdefault("filters", {})["cut_long_targets"] = {"()": f"{__name__}.CutLongTargets"}
    config["loggers"]["uvicorn.access"]["filters"] = ["cut_long_targets"]
    if not access_log:
        config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    return config


def listen_host(host: str) -> str:
    """`host` as the socket calls take it: an IPv6 address in brackets (`[::1]`, as the
    banner prints it) without them; ConfigError for a name no lookup could take (`a..b`, a
    label over 63 characters, a bidi control), said before any model is loaded (it was an
    internal error from getaddrinfo, after the load)."""
    if host.startswith("[") and host.endswith("]") and ":" in host:
        host = host[1:-1]
    try:
        host.encode("idna")  # what getaddrinfo does first; no lookup
    except UnicodeError as exc:
        raise ConfigError(f"{host!r} is not a valid host name ({exc.__cause__ or exc})") from None
    return host


def host_port(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 address in brackets (`[::1]:8000`), else
    `::1:8000` would be no usable address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def base_url(host: str, port: int) -> str:
    """The http:// URL of a server listening on host:port."""
    return f"http://{host_port(host, port)}"


def bind(host: str, port: int, backlog: int = SERVE_BACKLOG) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port); TopicclfError when there can
    be none. It queues connections at once, before the application is ready for them."""
    where = host_port(host, port)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise TopicclfError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    except UnicodeError as exc:  # a host ServeOptions did not check (bind called alone)
        reason = exc.__cause__ or exc
        raise TopicclfError(f"cannot listen on {where}: not a valid host name ({reason})") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise TopicclfError(f"cannot listen on {where}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def make_config(
    app: Any, options: ServeOptions, *, factory: bool = False, own_logging: bool = True
) -> ServeConfig:
    """The uvicorn configuration for an application (or a factory of one). With
    `own_logging` (the `serve` command owns its process) uvicorn sets up logging; without,
    the host program's logging is left as it is."""
    return ServeConfig(
        app,
        factory=factory,
        max_headers=options.max_headers,
        timeout_headers=options.timeout_headers,
        timeout_body=options.timeout_body,
        host=options.host,
        port=options.port,
        workers=options.workers,
        http=GuardedHttpToolsProtocol,
        ws="none",  # no route is a WebSocket; the protocol refuses handshakes in JSON
        lifespan="on",
        backlog=options.backlog,
        # uvicorn annotates these as int but hands them to loop.call_later, which takes float.
        timeout_keep_alive=cast(int, options.timeout_idle),
        timeout_graceful_shutdown=cast(int, options.timeout_shutdown),
        # uvicorn applies a log config with logging.config.dictConfig, which closes every
        # handler the process has (and some handlers close their streams, e.g. absl's, which
        # TensorFlow installs): only a process of our own may do that.
        log_config=log_config(options.access_log) if own_logging else None,
        access_log=options.access_log,
        server_header=False,
        proxy_headers=False,  # behind a reverse proxy, its logs have the client addresses
    )


def serve(
    specs: Sequence[ModelSpec],
    options: ServeOptions,
    announce: Callable[[str, int], None],
) -> None:
    """Load the models, listen, `announce(host, port)`, and serve until SIGTERM, SIGHUP,
    SIGQUIT or Ctrl-C (then KeyboardInterrupt, after requests in flight are answered). For
    a process of its own, from its main thread: it sets the process's signal handlers and
    standard descriptors."""
    fill_standard_descriptors()  # before any socket or event loop takes a free descriptor
    take_signals()
    raise_open_files_limit()
    fit_allocator_to_limit()
    models = load_models(specs)  # once here, so a broken model fails before listening
    sock = bind(options.host, options.port, options.backlog)
    host, port = sock.getsockname()[:2]
    hosts = HostRule.for_address(host, options.allowed_hosts)
    try:
        if options.workers == 1:
            app = HostGuard(create_app(models, options.app_settings), hosts)
            config = make_config(app, options)
            settle_heap()
            announce(host, port)
            OneProcessServer(config).run(sockets=[sock])
            return
        # Each worker loads its own copy, and one started later (a replacement) must load
        # the very models loaded here.
        prints = tuple(
            fingerprint(models[spec.name].classifier.manifest_, spec.path) for spec in specs
        )
        for served in models.values():
            served.close()
        del models
        factory = AppFactory(tuple(specs), options.app_settings, prints, hosts)
        from topicclf.server.workers import run_workers  # uvicorn's supervisor: only here

        run_workers(make_config(factory, options, factory=True), sock, announce, host, port)
    finally:
        sock.close()


def raise_open_files_limit() -> None:
    """Raise this process's soft limit of open files to its hard limit (its workers inherit
    it): each connection holds a descriptor, and at the usual soft limit of 1,024 about a
    thousand idle clients left none for new clients (dropped unanswered) or for files the
    server opens (the docs page). Says nothing when it cannot (Windows, a refusal)."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # macOS reports an unlimited hard limit but refuses a soft one above OPEN_MAX (10,240).
    for target in (hard, 10240) if hard == resource.RLIM_INFINITY else (hard,):
        if soft != resource.RLIM_INFINITY and (target == resource.RLIM_INFINITY or soft < target):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                return
            except (ValueError, OSError):
                continue


@contextmanager
def serve_in_thread(
    models: Mapping[str, ServedModel], options: ServeOptions | None = None
) -> Iterator[tuple[str, int]]:
    """Serve loaded models from a background thread, as `serve` does with one worker (same
    application, protocol and limits); yields (host, port) and stops on exit. For tests and
    for embedding in a program that has its models loaded: the program's logging setup is
    kept (uvicorn's and topicclf's loggers propagate to it)."""
    options = options or ServeOptions(port=0)
    sock = bind(options.host, options.port, options.backlog)
    hosts = HostRule.for_address(sock.getsockname()[0], options.allowed_hosts)
    app = HostGuard(create_app(models, options.app_settings), hosts)
    server = uvicorn.Server(make_config(app, options, own_logging=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        if not server.started:
            raise TopicclfError("the server thread did not start; see the log above")
        host, port = sock.getsockname()[:2]
        yield host, port
    finally:
        server.should_exit = True
        thread.join(timeout=options.timeout_shutdown + 5)
        sock.close()
