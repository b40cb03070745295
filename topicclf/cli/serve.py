"""The `serve` command: models behind an HTTP API (uvicorn), native and Annif-compatible."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from topicclf.cli.common import app, check_writable, examples, note, state, warn
from topicclf.cli.numbers import decimal, integer_option
from topicclf.config import (
    SERVE_BACKLOG,
    SERVE_BACKLOG_RANGE,
    SERVE_HEADS_IN_PROGRESS,
    SERVE_HOST,
    SERVE_MAX_ANSWER,
    SERVE_MAX_ANSWER_RANGE,
    SERVE_MAX_BODY,
    SERVE_MAX_BODY_RANGE,
    SERVE_MAX_BODY_TOTAL_RANGE,
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

SERVE_PANEL = "Limits and timeouts"


def _limit(help: str) -> Any:
    low, high = SERVE_TIMEOUT_RANGE
    return typer.Option(
        parser=decimal(low, high),
        metavar="SECONDS",
        help=f"{help.removesuffix('.')} ({low:g} to {high:g}).",
        rich_help_panel=SERVE_PANEL,
    )


@app.command(
    epilog=examples(
        "topicclf serve models/newsbriefs --port 8000",
        'curl -s localhost:8000/tag -d \'{"text": "Oil prices rose"}\'',
        "topicclf serve news=models/a sport=models/b --workers 2",
    ),
)
def serve(
    models: Annotated[
        list[str],
        typer.Argument(
            metavar="MODEL_DIR...",
            help="Model directories, each served under its directory's name, or NAME=DIR.",
            show_default=False,
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: all).")] = SERVE_HOST,
    port: Annotated[
        int, integer_option(0, 65535, help="Port (0: any free port).", metavar="PORT")
    ] = SERVE_PORT,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="A host name or IPv6 address the server answers to (the Host header; "
            "repeatable; no port). On a "
            "loopback --host it answers to localhost, 127.0.0.1 and [::1], plus these (e.g. a "
            "reverse proxy's name); on another address to any name, unless these narrow it. "
            "A request for another name gets 421, and one from another site's page (its "
            "Origin not its Host) 403.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        integer_option(
            *SERVE_WORKERS_RANGE,
            metavar="N",
            help="Server processes, each loading every model (at most one per core).",
        ),
    ] = SERVE_WORKERS,
    max_body: Annotated[
        int,
        integer_option(
            *SERVE_MAX_BODY_RANGE,
            metavar="BYTES",
            help="Largest request body accepted, in bytes.",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = SERVE_MAX_BODY,
    max_body_total: Annotated[
        int | None,
        integer_option(
            *SERVE_MAX_BODY_TOTAL_RANGE,
            metavar="BYTES",
            help="Request bodies one server process holds in memory at once, summed over its "
            "connections, in bytes (default: 256 MiB, or --max-body if larger; at least "
            "--max-body). A body that would take it past this gets 503 with Retry-After and "
            "is dropped; bodies up to 64 KiB always pass, and pipelined requests waiting "
            "their turn hold at most about 128 KiB of bodies, so bodies take at most this "
            "plus about 192 KiB per open connection, per worker.",
            show_default=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = None,
    max_pairs: Annotated[
        int,
        integer_option(
            *SERVE_MAX_PAIRS_RANGE,
            metavar="N",
            help="Most (document, topic) pairs one answer may hold (POST /tag, /v1 suggest); "
            "with explain, each pair also counts the terms it may list (up to 2 x explain, "
            "at most its document's distinct terms). A request whose answer would hold more "
            "gets 413 (use top_k, a smaller explain or send fewer documents).",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = SERVE_MAX_PAIRS,
    max_answer: Annotated[
        int,
        integer_option(
            *SERVE_MAX_ANSWER_RANGE,
            metavar="BYTES",
            help="Most bytes one answer may take (POST /tag, /v1 suggest), counted before it "
            "is built: topic names, URIs and labels as encoded (a character may take 6 "
            "bytes escaped), the echoed ids and explained terms. A request whose answer "
            "would take more gets 413 (default: 64 MiB).",
            show_default=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = SERVE_MAX_ANSWER,
    max_unsent_total: Annotated[
        int | None,
        integer_option(
            *SERVE_MAX_UNSENT_TOTAL_RANGE,
            metavar="BYTES",
            help="Answers one server process holds unsent at once (being built, or written "
            "but not yet taken by the kernel: slow readers), summed over its connections, in "
            "bytes (default: "
            "512 MiB, or --max-answer if larger; at least --max-answer). An answer that would "
            "take it past this gets 503 with Retry-After instead, before it is built; "
            "answers up to 64 KiB always pass. A client that takes nothing of its answer for "
            "120 s (or --timeout-idle, if longer) is cut (reset); one that reads slowly keeps "
            "its connection.",
            show_default=False,
            rich_help_panel=SERVE_PANEL,
        ),
    ] = None,
    max_headers: Annotated[
        int,
        integer_option(
            *SERVE_MAX_HEADERS_RANGE,
            metavar="BYTES",
            help=(
                "Largest request head (request line and headers) accepted, in bytes; heads "
                f"not yet whole are held up to {SERVE_HEADS_IN_PROGRESS} times this over all "
                "connections (503 past it)."
            ),
            rich_help_panel=SERVE_PANEL,
        ),
    ] = SERVE_MAX_HEADERS,
    backlog: Annotated[
        int,
        integer_option(
            *SERVE_BACKLOG_RANGE,
            metavar="N",
            help="Connections queued before they are accepted.",
            rich_help_panel=SERVE_PANEL,
        ),
    ] = SERVE_BACKLOG,
    timeout_idle: Annotated[
        float, _limit("Seconds a connection may wait for its next request.")
    ] = SERVE_TIMEOUT_IDLE,
    timeout_headers: Annotated[
        float, _limit("Seconds from a request's first byte to the end of its headers.")
    ] = SERVE_TIMEOUT_HEADERS,
    timeout_body: Annotated[
        float, _limit("Seconds from a request's headers to the end of its body.")
    ] = SERVE_TIMEOUT_BODY,
    timeout_shutdown: Annotated[
        float, _limit("On SIGTERM or Ctrl-C, seconds requests in flight get to finish.")
    ] = SERVE_TIMEOUT_SHUTDOWN,
) -> None:
    """Serve models over HTTP (uvicorn): a page for browsers at /, POST /tag, GET /health
    and /models, an Annif-compatible API under /v1, /openapi.json and a docs page at /docs.

    POST /tag takes {"text": "..."}, {"texts": [...]} or {"documents": [{"id": ..., "text":
    ...}]}, with optional "top_k", "threshold", "fallback", "scores", "explain" and "model",
    and answers {"results": [{"id", "labels", "scores"}]}, the records `topicclf tag` writes
    ("explain": N adds the N words that raised and lowered each topic most). Add -v to log
    every request on stderr (all of the server's log goes there; nothing to stdout). SIGTERM,
    SIGHUP, SIGQUIT or Ctrl-C stops it once requests in flight are done (a second one: at
    once); SIGUSR1, SIGUSR2, SIGTTIN and SIGTTOU are ignored.
    """
    if state.verbose:  # the request log asked for would be lost: said before any work
        check_writable("stderr", "-v logs every request there; redirect it to a file")
    from topicclf.errors import ConfigError
    from topicclf.server import ServeOptions, base_url, parse_model_specs
    from topicclf.server import serve as run_server
    from topicclf.server.run import listen_host

    try:  # before any model is loaded: a bad name was an internal error after the load
        host = listen_host(host)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--host'") from None
    from topicclf.server.http import allowed_host as checked_host

    for name in allowed_host or ():
        try:
            checked_host(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--allowed-host'") from None
    try:
        specs = parse_model_specs(models)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="MODEL_DIR") from None
    from topicclf.tagging import default_jobs

    cores = default_jobs()
    if workers > cores:
        # Each worker holds its own copy of every model and tagging is CPU work: more
        # processes than cores only multiply the memory (--workers 1000 filled 24 GB).
        warn(
            f"--workers {workers}: this machine gives topicclf {cores} core(s); starting "
            f"{cores} worker(s), each with its own copy of the models"
        )
        workers = cores
    if max_body_total is not None and max_body_total < max_body:
        # such a body could never be read: a 503 "retry shortly" forever
        raise typer.BadParameter(
            f"{max_body_total} is less than --max-body ({max_body})",
            param_hint="'--max-body-total'",
        )
    if max_unsent_total is not None and max_unsent_total < max_answer:
        # such an answer would wait for the others forever: a 503 "retry shortly" for ever
        raise typer.BadParameter(
            f"{max_unsent_total} is less than --max-answer ({max_answer})",
            param_hint="'--max-unsent-total'",
        )
    try:
        options = ServeOptions(
            host=host,
            port=port,
            workers=workers,
            backlog=backlog,
            max_body=max_body,
            max_body_total=max_body_total,
            max_pairs=max_pairs,
            max_answer=max_answer,
            max_unsent_total=max_unsent_total,
            max_headers=max_headers,
            timeout_idle=timeout_idle,
            timeout_headers=timeout_headers,
            timeout_body=timeout_body,
            timeout_shutdown=timeout_shutdown,
            access_log=state.verbose,
            allowed_hosts=tuple(allowed_host or ()),
        )
    except ConfigError as exc:  # the options above check their ranges already
        raise typer.BadParameter(str(exc)) from None
    # The name is what URLs take (/models/NAME, /v1/projects/NAME): said whenever it is not
    # the directory's own, or several are served.
    served = ", ".join(
        str(s.path) if len(specs) == 1 and s.name == s.path.name else f"{s.path} as {s.name}"
        for s in specs
    )

    from topicclf.server.http import HostRule

    def announce(bound_host: str, bound_port: int) -> None:
        # Decided on the bound address: a --host name may resolve to any of them.
        opened = HostRule.for_address(bound_host, options.allowed_hosts).open_warning(bound_host)
        if opened is not None:
            warn(opened)
        note(
            f"serving {served} on {base_url(bound_host, bound_port)} (a page for browsers at /, "
            f"POST /tag, GET /health, /v1 for Annif clients, /docs); {workers} process(es); "
            "Ctrl-C to stop"
        )

    run_server(specs, options, announce)
