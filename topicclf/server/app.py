"""The ASGI application: the native API (POST /tag, per-model routes, GET /health and
/models), the web page at /, the Annif-compatible API under /v1, /openapi.json, the offline
docs page, and the one place that turns every refusal or failure into a JSON answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.staticfiles import StaticFiles

from topicclf import __version__
from topicclf.cancel import Cancelled
from topicclf.config import (
    SERVE_EXPLAIN_DOCUMENTS,
    SERVE_MAX_ANSWER,
    SERVE_MAX_BODY,
    SERVE_MAX_DOCUMENTS,
    SERVE_MAX_PAIRS,
    SERVE_RETRY_SECONDS,
    SERVE_TIMEOUT_BODY,
    cut,
    shown,
)
from topicclf.corpus.ids import DuplicateIds
from topicclf.errors import TooManyPairsError
from topicclf.model.thresholds import Rule, ignored_by
from topicclf.server.annif import BatchRequest, SuggestForm, annif_router
from topicclf.server.http import (
    ASGIApp,
    HttpGuard,
    JSONBody,
    Receive,
    Scope,
    Send,
    answer_body,
    descriptors_response,
    error_response,
    memory_response,
    out_of_descriptors,
    out_of_memory,
    quiet_memory_failures,
    unsent_budget,
)
from topicclf.server.memory import Headroom, MemoryGate
from topicclf.server.models import ServedModel
from topicclf.server.page import Page, page_router
from topicclf.server.schemas import (
    BUSY,
    NOT_IMPLEMENTED,
    RETRY_AFTER,
    ApiError,
    DocumentIn,
    ErrorBody,
    Health,
    ModelInfo,
    ModelList,
    Problem,
    TagRequest,
    TagResponse,
    describe_errors,
    echoed,
    parse_tag_request,
    refuse_unknown_query,
)
from topicclf.tagging import SCORE_DIGITS, Tagged

DOCS_STATIC = "/docs/static"
# Every native route may refuse a request with one of these, always as {"error": "..."}.
ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": 'A refused request: {"error": "..."}.'},
    500: {"model": ErrorBody, "description": "A failure of the server (logged)."},
    501: {"model": ErrorBody, "description": NOT_IMPLEMENTED},
    503: {"model": ErrorBody, "description": BUSY, "headers": RETRY_AFTER},
}
# Parsed by parse_tag_request (any Content-Type is JSON), so described here for OpenAPI.
TAG_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TagRequest"}}},
    }
}


@dataclass(frozen=True)
class AppSettings:
    """Limits the application enforces."""

    max_body: int = SERVE_MAX_BODY
    max_documents: int = SERVE_MAX_DOCUMENTS
    timeout_body: float = SERVE_TIMEOUT_BODY
    max_body_total: int | None = None  # None: see http.body_budget
    max_pairs: int = SERVE_MAX_PAIRS  # (document, topic) pairs of one answer
    max_answer: int = SERVE_MAX_ANSWER  # bytes of one answer, as encoded
    max_unsent_total: int | None = None  # None: see http.unsent_budget
    workers: int = 1  # server processes sharing the machine's (or container's) memory


def pick_model(models: Mapping[str, ServedModel], name: str | None) -> ServedModel:
    """The model a request names, or the only one; ApiError when that is not possible."""
    if name is None:
        if len(models) == 1:
            return next(iter(models.values()))
        raise ApiError(
            400,
            f'{len(models)} models are served ({", ".join(models)}): name one with "model" '
            "or POST /models/{name}/tag",
        )
    found = models.get(name)
    if found is None:
        raise ApiError(404, f"no model named {shown(name)}; served: {', '.join(models)}")
    return found


def _check_explain(served: ServedModel, documents: int) -> None:
    """ApiError unless `explain` can be answered for this model and this many documents."""
    if not served.classifier.can_explain():
        raise ApiError(
            400,
            f"model {served.name!r} cannot explain its topics: explain works with TF-IDF "
            f"networks, not {served.classifier.config_.network.type} networks; tag without "
            '"explain"',
        )
    if documents > SERVE_EXPLAIN_DOCUMENTS:
        raise ApiError(
            413,
            f"at most {SERVE_EXPLAIN_DOCUMENTS} documents per request with explain; send several",
        )


def reused_ids(ids: Sequence[str]) -> str | None:
    """The warning `topicclf tag` gives when documents share an id (an id filled in from a
    position too may equal one given), with each example id cut short; None if none do."""
    found = DuplicateIds()
    found.add(ids)
    # Cut: the examples are ids a client sent, perhaps megabytes each, and the answer's
    # size is bounded before it is built (answer_size counts each id where it is echoed).
    return DuplicateIds.found(found.count, [cut(i) for i in found.examples]).message("documents")


async def tag_answer(
    models: Mapping[str, ServedModel],
    settings: AppSettings,
    body: bytes,
    path_model: str | None,
    content_type: str,
    query: bytes = b"",
) -> JSONBody:
    """The answer to POST /tag (path_model None) or /models/{path_model}/tag, for a body of
    that Content-Type and a query string (`query`: the routes take none); ApiError when the
    request is refused."""
    started = time.perf_counter()
    if query:
        route = "/tag" if path_model is None else "/models/{name}/tag"
        keys = (key for key, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        refuse_unknown_query(keys, route, (), TagRequest.model_fields)
    req = parse_tag_request(body, settings.max_documents, content_type)
    if path_model is not None and req.model not in (None, path_model):
        raise ApiError(
            400, f"the body names model {shown(req.model)}, the path {shown(path_model)}"
        )
    served = pick_model(models, path_model or req.model)
    ids, texts = req.ids_and_texts()
    if req.explain is not None:
        _check_explain(served, len(texts))
    rule = Rule(req.threshold, req.top_k, req.fallback)
    fewer = "top_k (each document's k best topics) or a higher threshold"
    if req.explain is not None:
        fewer = "top_k, a higher threshold or a smaller explain"
    try:
        chosen = await served.tag(texts, rule, settings.max_pairs)
        items = sum(len(topics) for topics in chosen)
        explained = None
        if req.explain is not None:
            # Explained after tagging, for the topics tagging chose: the two always agree.
            # Each pair's terms count as pairs too, before any is computed.
            explained, items = await served.explain(texts, chosen, req.explain, settings.max_pairs)
    except TooManyPairsError as exc:
        raise ApiError(
            413,
            f"{exc} (--max-pairs): ask for fewer with {fewer}, or send fewer documents per request",
        ) from None

    reused = reused_ids(ids)

    def build() -> dict[str, Any]:
        results = [
            Tagged(doc_id, topics).to_record(req.scores)
            for doc_id, topics in zip(ids, chosen, strict=True)
        ]
        if explained is not None:
            for record, explanations in zip(results, explained, strict=True):
                record["explanations"] = [e.to_record(SCORE_DIGITS) for e in explanations]
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        answer: dict[str, Any] = {"results": results, "model": served.name, "milliseconds": elapsed}
        # What the CLI warns about, an answer says: settings the model does not apply, ids
        # given twice.
        notes = [note for note in (ignored_by(served.classifier.policy_, rule), reused) if note]
        if notes:
            answer["notes"] = notes
        return answer

    size = served.answer_size(ids, chosen, scores=req.scores, explained=explained, items=items)
    return await answer_body(build, size, settings.max_answer, fewer)


def native_router(
    models: Mapping[str, ServedModel], settings: AppSettings, page: Page
) -> APIRouter:
    """Routes of the native API, and the web page over it at /."""
    router = APIRouter(responses=ERRORS)

    async def tag(request: Request, path_model: str | None) -> JSONBody:
        return await tag_answer(
            models,
            settings,
            await request.body(),
            path_model,
            request.headers.get("content-type", ""),
            request.scope.get("query_string", b""),
        )

    @router.post("/tag", response_model=TagResponse, openapi_extra=TAG_BODY, tags=["tag"])
    async def tag_default(request: Request) -> JSONBody:
        """Tag documents with the model (or the one named by `model`)."""
        return await tag(request, None)

    @router.post(
        "/models/{name}/tag", response_model=TagResponse, openapi_extra=TAG_BODY, tags=["tag"]
    )
    async def tag_with(name: str, request: Request) -> JSONBody:
        """Tag documents with the model named in the path."""
        return await tag(request, name)

    def health_answer() -> JSONBody:
        infos = [m.info() for m in models.values()]
        answer: dict[str, Any] = {"status": "ok", "models": infos}
        if len(infos) == 1:  # the first server's fields, for one model
            answer.update({k: infos[0][k] for k in ("topics", "network", "mode")})
            answer["model"] = infos[0]["name"]
        return JSONBody(answer)

    # The GET routes that only read what is loaded are async: FastAPI runs a plain `def`
    # route in a new thread, and with the address space full (ulimit -v) no thread could
    # start, so /health answered 500 for good while POST /tag still worked.
    async def health() -> JSONBody:
        return health_answer()

    router.add_api_route("/health", health, methods=["GET"], response_model=Health, tags=["models"])
    # GET / gave the health JSON before the page: clients that do not ask for HTML still get it.
    router.include_router(page_router(page, health_answer))

    @router.get("/models", response_model=ModelList, tags=["models"])
    async def list_models() -> JSONBody:
        """The served models."""
        return JSONBody({"models": [m.info() for m in models.values()]})

    @router.get("/models/{name}", response_model=ModelInfo, tags=["models"])
    async def show_model(name: str) -> JSONBody:
        """One served model."""
        return JSONBody(pick_model(models, name).info())

    return router


async def refuse_repeated_query(request: Request) -> None:
    """ApiError 400 when the query repeats a parameter the route takes (`?limit=1&limit=3`):
    FastAPI would keep the last value without a word, where a repeated form field or JSON key
    is refused. Every query parameter of the API is a single value. Runs as a dependency of
    every route, before the parameters are validated, so the repeat is what is reported.
    Async, as a plain `def` dependency would need a new thread on every request."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not request.url.query:
        return
    taken = {param.alias for param in dependant.query_params}
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in taken:
            if key in seen:
                raise ApiError(400, f"the query repeats the parameter {shown(key)}; give it once")
            seen.add(key)


def _without_final_slash(request: Request) -> str | None:
    """The request's path without its final `/`, when that path is a route's for the
    request's method (POST /health/ must not be told to try POST /health, a 405)."""
    path = request.url.path
    if len(path) < 2 or not path.endswith("/"):
        return None
    scope = {**request.scope, "path": path.rstrip("/")}
    for route in request.app.router.routes:
        if route.matches(scope)[0] == Match.FULL:
            return str(scope["path"])
    return None


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, ApiError)
        return error_response(request.url.path, exc.status, exc.message, exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, RequestValidationError)
        return error_response(request.url.path, 400, describe_errors(list(exc.errors())))

    async def http_error(request: Request, exc: Exception) -> JSONBody:
        assert isinstance(exc, StarletteHTTPException)
        where = f"{request.method} {request.url.path}"
        message = str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no such endpoint: {echoed(where)}"  # a path may have 64 KB
            meant = _without_final_slash(request)
            if meant:  # said instead of a redirect, which could only name the Host header's host
                message += f" (without the final /: {echoed(f'{request.method} {meant}')})"
        elif exc.status_code == 405:
            if headers.get("Allow") == "GET":  # HttpGuard answers HEAD as GET
                headers["Allow"] = "GET, HEAD"
            allowed = headers.get("Allow", "")
            method, path = echoed(request.method), echoed(request.url.path)
            message = f"{method} is not allowed on {path}; use {allowed}"
        return error_response(request.url.path, exc.status_code, message, headers)

    async def failure(request: Request, exc: Exception) -> JSONBody:
        # HttpGuard logs the exception once; this only shapes the answer.
        if out_of_descriptors(exc):
            return descriptors_response(request.url.path)
        if out_of_memory(exc):
            return memory_response(request.url.path)
        return error_response(request.url.path, 500, "internal error; see the server log")

    async def cancelled(request: Request, exc: Exception) -> JSONBody:
        # Its client has gone (no one reads this) or --timeout-shutdown has passed.
        message = "the request was stopped: its client has gone or the server is stopping"
        retry = {"Retry-After": str(SERVE_RETRY_SECONDS)}
        return error_response(request.url.path, 503, message, retry)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Cancelled, cancelled)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, failure)


def _install_openapi(app: FastAPI, extra: list[type[BaseModel]]) -> None:
    """OpenAPI from the routes, plus the schemas of bodies that routes parse themselves."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, defs = models_json_schema(
                [(m, "validation") for m in extra], ref_template="#/components/schemas/{model}"
            )
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defs.get("$defs", {}).items():
                schemas.setdefault(name, definition)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class WholeFiles(StaticFiles):
    """Static files sent whole, their Range headers ignored (RFC 9110 lets a server): the
    docs page's assets are small, and Starlette answered a range past a file's end with an
    empty text/plain 416, where every other refusal is JSON."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the file the path names, whole."""
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _RANGE_HEADERS]
            scope = {**scope, "headers": headers}
        await super().__call__(scope, receive, send)


_RANGE_HEADERS = (b"range", b"if-range")


def _install_docs(app: FastAPI) -> bool:
    """The interactive docs page, its assets served from the installed fastapi-offline
    package (no CDN); left out when that package is missing."""
    try:
        static = resources.files("fastapi_offline") / "static"
    except ModuleNotFoundError:
        return False
    app.mount(DOCS_STATIC, WholeFiles(directory=str(static)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )

    return True


def create_app(models: Mapping[str, ServedModel], settings: AppSettings | None = None) -> ASGIApp:
    """The whole ASGI application over loaded models, wrapped in HttpGuard."""
    settings = settings or AppSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        quiet_memory_failures(asyncio.get_running_loop())
        yield
        for served in models.values():
            served.close()

    app = FastAPI(
        title="topicclf",
        version=__version__,
        description="Tag documents with topics. Native API at /tag and /models; an "
        "Annif-compatible API under /v1.",
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONBody,
        lifespan=lifespan,
        # Starlette redirects /tag/ to /tag with an absolute URL built from the Host header:
        # an open redirect (Host: evil.example). A 404 says what the path should be instead.
        redirect_slashes=False,
        dependencies=[Depends(refuse_repeated_query)],
    )
    app.include_router(native_router(models, settings, Page.load()))
    app.include_router(annif_router(models, settings.max_pairs, settings.max_answer), prefix="/v1")
    _install_error_handlers(app)
    _install_openapi(app, [TagRequest, DocumentIn, ErrorBody, Problem, SuggestForm, BatchRequest])
    _install_docs(app)
    fast = TagFastPath(app, models, settings)
    return HttpGuard(
        fast,
        max_body=settings.max_body,
        timeout_body=settings.timeout_body,
        max_body_total=settings.max_body_total,
        max_unsent=unsent_budget(settings.max_answer, settings.max_unsent_total),
        memory=MemoryGate(Headroom(shared_by=settings.workers)),
    )


class TagFastPath:
    """POST /tag and /models/{name}/tag answered by `tag_answer` directly, around FastAPI:
    its routing, middleware and dependency machinery cost more than tagging a short text
    (the routes stay in FastAPI for /openapi.json, and answer the same)."""

    def __init__(
        self, app: ASGIApp, models: Mapping[str, ServedModel], settings: AppSettings
    ) -> None:
        self.app = app
        self.models = models
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the tag routes; hand everything else to FastAPI."""
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.endswith("/tag"):
            await self.app(scope, receive, send)
            return
        parts = path.split("/")
        if path == "/tag":
            name = None
        elif len(parts) == 4 and parts[1] == "models" and parts[2]:
            name = parts[2]
        else:
            await self.app(scope, receive, send)
            return
        message = await receive()  # HttpGuard read the whole body: one message
        try:
            response = await tag_answer(
                self.models,
                self.settings,
                message["body"],
                name,
                _content_type(scope),
                scope.get("query_string", b""),
            )
        except ApiError as exc:
            response = error_response(path, exc.status, exc.message, exc.headers)
        await response(scope, receive, send)


def _content_type(scope: Scope) -> str:
    """A request's Content-Type header (the first, as Starlette reads it), or ""."""
    for key, value in scope.get("headers", ()):
        if key.lower() == b"content-type":
            return str(value.decode("latin-1"))
    return ""
