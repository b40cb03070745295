"""The Annif-compatible REST API (mounted under /v1): projects are the served models, and
suggest / suggest-batch answer with the shapes of Annif's OpenAPI spec (annif.yaml).

Annif keeps the `limit` best topics, then drops those scoring under `threshold`; here that
is the decision rule `Rule(threshold, top_k=limit)`, the same topics as
`topicclf tag --top-k LIMIT [--threshold T]` (a multi-class model gives its one best topic).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from topicclf import __version__
from topicclf.config import (
    LANGUAGES,
    PLAIN_SCORE,
    SERVE_ANNIF_BATCH,
    SERVE_ANNIF_FIELDS,
    SERVE_ANNIF_LIMIT,
    SERVE_INLINE_CHARS,
    SERVE_MAX_ANSWER,
    SERVE_MAX_PAIRS,
    language_named,
    shown,
)
from topicclf.errors import TooManyPairsError
from topicclf.model.thresholds import Rule
from topicclf.server.http import JSONBody, answer_body
from topicclf.server.models import ServedModel, Topics
from topicclf.server.schemas import (
    BUSY,
    NOT_IMPLEMENTED,
    RETRY_AFTER,
    ApiError,
    describe_errors,
    echoed,
    parse_json_body,
    refuse_unknown_query,
    utf8_body,
)
from topicclf.tagging import Tagged

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
        **({"headers": RETRY_AFTER} if status == 503 else {}),
    }
    for status, description in (
        ("4XX", "A refused request (RFC 7807)"),
        (500, "Server failure"),
        (501, NOT_IMPLEMENTED),
        (503, BUSY),
    )
}
# limit and threshold as text (a query parameter or form field) are plain numbers, as every
# number topicclf reads from a person: pydantic's lax parsing read `limit=0_2` as 2, `+5`,
# ` 5 ` and `5.0` as 5, and `threshold=1_0e-1` as 1.0 (config.PLAIN_SCORE). A minus sign
# passes, for the range check to name what is wrong with it.
_PLAIN_LIMIT = re.compile(r"-?[0-9]+")
_NOT_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)


def _plain(pattern: re.Pattern[str], expected: str, decimal: bool = False) -> BeforeValidator:
    """A check that a number given as text is written plainly (`pattern`), else "is not
    `expected`"; a decimal's nan and inf are called not finite."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            if decimal and _NOT_FINITE.fullmatch(value):
                raise ValueError("Input should be a finite number")  # pydantic's own words
            raise ValueError(f"{shown(value)} is not {expected}")
        return value

    return BeforeValidator(check)


_PLAIN_WHOLE = _plain(_PLAIN_LIMIT, "a plain whole number (ASCII digits), e.g. 10")
_PLAIN_SCORE = _plain(
    PLAIN_SCORE,
    "a plain decimal number (ASCII digits, a point, an exponent if any), e.g. 0.5 or 1e-05",
    decimal=True,
)
# The check of how a number is written comes after Query: before it, the range was written
# into the OpenAPI document as pydantic's `ge`/`le`, which JSON Schema tools ignore.
LimitQuery = Annotated[int, Query(ge=0, description="Maximum number of results."), _PLAIN_WHOLE]
# NaN passed the bounds' parsing and was refused as "less than or equal to 1"; the form's
# "a finite number" is what is wrong.
ThresholdQuery = Annotated[
    float,
    Query(ge=0.0, le=1.0, allow_inf_nan=False, description="Minimum score."),
    _PLAIN_SCORE,
]
LanguageQuery = Annotated[str | None, Query(description="Language of subject labels.")]


class ApiInfo(BaseModel):
    """GET /v1/."""

    title: str
    version: str


class ProjectBackend(BaseModel):
    """The backend of a project."""

    backend_id: str


class AnnifVocabulary(BaseModel):
    """A project's subject vocabulary."""

    vocab_id: str
    languages: list[str]
    size: int | None
    loaded: bool


class Project(BaseModel):
    """A served model as an Annif project."""

    project_id: str
    name: str
    language: str
    backend: ProjectBackend
    vocab: AnnifVocabulary | None
    vocab_language: str | None
    is_trained: bool | None
    modification_time: str | None = Field(json_schema_extra={"format": "date-time"})


class ProjectList(BaseModel):
    """GET /v1/projects."""

    projects: list[Project]


class SuggestionResult(BaseModel):
    """One suggested subject."""

    uri: str
    label: str
    notation: str | None
    score: float


class SuggestionResultList(BaseModel):
    """The suggestions for one document."""

    results: list[SuggestionResult]


class BatchSuggestionResult(SuggestionResultList):
    """The suggestions for one document of a batch."""

    document_id: str | None


class AnnifDocument(BaseModel):
    """A document of a batch."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
    text: str
    document_id: str | None = None
    metadata: dict[str, str] | None = None


class SuggestForm(BaseModel):
    """POST /v1/projects/{project_id}/suggest: form fields (others, e.g. metadata_*, ignored).

    Parsed by the route itself: FastAPI takes an empty form field for a missing one, and
    Annif suggests nothing for an empty text rather than refusing it.
    """

    model_config = ConfigDict(allow_inf_nan=False)  # lax: form values are strings
    text: str = Field(description="Input text.")
    limit: Annotated[int, _PLAIN_WHOLE] = Field(
        SERVE_ANNIF_LIMIT, ge=0, description="Maximum number of results."
    )
    threshold: Annotated[float, _PLAIN_SCORE] = Field(
        0.0, ge=0.0, le=1.0, description="Minimum score."
    )
    language: str | None = Field(None, description="Language of subject labels.")


SUGGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/SuggestForm"}
            }
        },
    }
}


class BatchRequest(BaseModel):
    """POST /v1/projects/{project_id}/suggest-batch."""

    # An unknown key is refused, never ignored: {"limit": 5} here once changed nothing.
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
    documents: list[AnnifDocument] = Field(max_length=SERVE_ANNIF_BATCH)

    @model_validator(mode="before")
    @classmethod
    def _options_are_query_parameters(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [key for key in QUERY_OPTIONS if key in data]
            if given:
                raise ValueError(
                    f"{given[0]} is a query parameter of suggest-batch, as in Annif's API, not "
                    f"a key of the body: POST .../suggest-batch?{given[0]}=..."
                )
        return data


QUERY_OPTIONS = ("limit", "threshold", "language")


# Parsed by the route with parse_json_body (any Content-Type is JSON), so described here.
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}},
    }
}
# A document of a batch counts 9 values as the body is counted (its strings, commas and
# object), and each metadata entry 3 more (key, value, comma): room for 29 entries (at 64,
# 32 documents of 19 entries were refused "send at most 32 documents"); the 413 says so.
BATCH_VALUES_PER_DOCUMENT = 96
BATCH_METADATA_ENTRIES = (BATCH_VALUES_PER_DOCUMENT - 9) // 3


def _project(served: ServedModel) -> dict[str, Any]:
    info = served.info()
    vocab = {
        "vocab_id": served.name,
        "languages": served.languages,
        "size": info["topics"],
        "loaded": True,
    }
    return {
        "project_id": served.name,
        "name": served.name,
        "language": served.language,
        "backend": {"backend_id": f"topicclf-{info['network']}"},
        "vocab": vocab,
        "vocab_language": served.language,
        "is_trained": True,
        "modification_time": info["created"],
    }


def _suggestions(served: ServedModel, topics: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """A document's topics as Annif results, scores as `topicclf tag` writes them."""
    record = Tagged("", topics).to_record(scores=True)
    out = []
    for (topic, _), label in zip(topics, record["labels"], strict=True):
        subject = served.subject(topic)
        out.append(
            {
                "uri": subject.uri,
                "label": subject.label,
                "notation": subject.notation,
                "score": record["scores"][label],
            }
        )
    return out


FEWER = "limit or a higher threshold"  # how a 413 says to ask for a smaller answer


def language_code(language: str) -> str:
    """A request's `language` as the ISO 639-1 code a model's languages list: a name or code
    in any case by the one rule (`config.language_named`: 'EN', 'English'); any other
    value as given ('und', a model's code without rules of its own)."""
    name = language_named(language)
    return LANGUAGES[name] if name else language


async def _suggest(
    served: ServedModel,
    texts: list[str],
    limit: int,
    threshold: float,
    language: str | None,
    max_pairs: int,
) -> Topics:
    # Empty is the project's own language, as Annif reads it (`parameters.get("language")
    # or project.vocab_lang`): forms and generated clients send optional fields empty.
    if language and language_code(language) not in served.languages:
        raise ApiError(400, f'language "{echoed(language)}" not supported by vocabulary')
    if limit == 0:  # Annif: no result at all (top_k=0 would mean no limit here)
        return [[] for _ in texts]
    try:
        return await served.tag(texts, Rule(threshold=threshold or None, top_k=limit), max_pairs)
    except TooManyPairsError as exc:  # a limit beyond the model's topics gives them all
        raise ApiError(
            413,
            f"{exc} (--max-pairs): ask for fewer with {FEWER}, or send fewer documents per request",
        ) from None


def _suggest_query(request: Request) -> None:
    """ApiError 400 for a query parameter on suggest, which takes its settings as form
    fields (Annif ignores one, so `suggest?limit=1` gave 10 subjects)."""
    keys = (key for key, _ in request.query_params.multi_items())
    refuse_unknown_query(keys, "suggest", (), SuggestForm.model_fields, "a form field")


def _batch_query(request: Request) -> None:
    """ApiError 400 for a query parameter suggest-batch does not take."""
    keys = (key for key, _ in request.query_params.multi_items())
    refuse_unknown_query(keys, "suggest-batch", QUERY_OPTIONS, BatchRequest.model_fields)


def annif_router(
    models: Mapping[str, ServedModel],
    max_pairs: int = SERVE_MAX_PAIRS,
    max_answer: int = SERVE_MAX_ANSWER,
) -> APIRouter:
    """Routes of the Annif-compatible API (to mount under /v1); an answer holds at most
    `max_pairs` (document, subject) pairs and `max_answer` bytes."""
    router = APIRouter(tags=["Annif-compatible"], responses=PROBLEMS)

    def project(project_id: str) -> ServedModel:
        if project_id not in models:
            raise ApiError(404, f"Project '{echoed(project_id)}' not found")
        return models[project_id]

    @router.get("/", response_model=ApiInfo)
    async def show_info() -> JSONBody:
        """Basic information about the API."""
        return JSONBody({"title": "topicclf Annif-compatible REST API", "version": __version__})

    @router.get("/projects", response_model=ProjectList)
    async def list_projects() -> JSONBody:
        """The projects (served models)."""
        return JSONBody({"projects": [_project(m) for m in models.values()]})

    @router.get("/projects/{project_id}", response_model=Project)
    async def show_project(project_id: str) -> JSONBody:
        """One project."""
        return JSONBody(_project(project(project_id)))

    @router.post(
        "/projects/{project_id}/suggest",
        response_model=SuggestionResultList,
        openapi_extra=SUGGEST_BODY,
        dependencies=[Depends(_suggest_query)],
    )
    async def suggest(project_id: str, request: Request) -> JSONBody:
        """Suggest subjects for a text (form fields, as Annif)."""
        served = project(project_id)
        form = await suggest_form(
            await _form_body(request), request.headers.get("content-type", "")
        )
        (topics,) = await _suggest(
            served, [form.text], form.limit, form.threshold, form.language, max_pairs
        )
        return await answer_body(
            lambda: {"results": _suggestions(served, topics)},
            served.answer_size([None], [topics], subjects=True),
            max_answer,
            FEWER,
        )

    @router.post(
        "/projects/{project_id}/suggest-batch",
        response_model=list[BatchSuggestionResult],
        openapi_extra=BATCH_BODY,
        dependencies=[Depends(_batch_query)],
    )
    async def suggest_batch(
        project_id: str,
        request: Request,
        limit: LimitQuery = SERVE_ANNIF_LIMIT,
        threshold: ThresholdQuery = 0.0,
        language: LanguageQuery = None,
    ) -> JSONBody:
        """Suggest subjects for up to 32 documents (JSON, as Annif)."""
        served = project(project_id)
        body = parse_json_body(
            BatchRequest,
            await request.body(),
            max_documents=SERVE_ANNIF_BATCH,
            values_per_document=BATCH_VALUES_PER_DOCUMENT,
            content_type=request.headers.get("content-type", ""),
            example='{"documents": [{"text": "..."}]}',
            # A full batch of documents with much metadata is refused too: say so, or the
            # client is told to send at most 32 documents when it sent 32.
            document_hint=f", each with at most {BATCH_METADATA_ENTRIES} metadata entries",
        )
        texts = [d.text for d in body.documents]
        chosen = await _suggest(served, texts, limit, threshold, language, max_pairs)
        return await answer_body(
            lambda: [
                {"results": _suggestions(served, topics), "document_id": doc.document_id}
                for doc, topics in zip(body.documents, chosen, strict=True)
            ],
            served.answer_size([d.document_id for d in body.documents], chosen, subjects=True),
            max_answer,
            FEWER,
        )

    return router


async def _form_body(request: Request) -> bytes:
    """The suggest form's body, URL-encoded (Annif's API takes no other): 415 for another
    Content-Type (multipart is refused: Starlette would read its invalid UTF-8 as Latin-1
    and tag mojibake); see `read_suggest_form` for the body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise ApiError(
            415,
            f"send the form as application/x-www-form-urlencoded, as Annif's API takes it "
            f"(curl --data-urlencode text@doc.txt), not {kind[:100]}",
        )
    return await request.body()


async def suggest_form(body: bytes, content_type: str = "") -> SuggestForm:
    """The suggest form read from its body (see `read_suggest_form`). A long body is read in
    the thread pool, as long texts are tagged: decoding 10 MB of `%41` escapes held the
    interpreter about a second, and checking a 9 MB `threshold` half a second; on the
    event loop either held every other client."""
    if len(body) <= SERVE_INLINE_CHARS:
        return read_suggest_form(body, content_type)
    return await asyncio.get_running_loop().run_in_executor(
        None, read_suggest_form, body, content_type
    )


def read_suggest_form(body: bytes, content_type: str = "") -> SuggestForm:
    """The suggest form's fields from a URL-encoded body (`parse_form`), checked by type
    and range; ApiError 400 names what is wrong."""
    try:
        return SuggestForm.model_validate(parse_form(body, content_type))
    except ValidationError as exc:
        raise ApiError(400, describe_errors(exc.errors(include_url=False))) from None


def parse_form(body: bytes, content_type: str = "") -> dict[str, Any]:
    """The fields of a URL-encoded form body that must be UTF-8 (percent-encoded or not), as
    the JSON routes require; ApiError when it is not. At most SERVE_ANNIF_FIELDS fields,
    counted before any is parsed: 10 MB of empty fields took two seconds. A field the form
    reads may come only once."""
    try:
        text = utf8_body(body, content_type).decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="strict", max_num_fields=SERVE_ANNIF_FIELDS
        )
    except UnicodeDecodeError:
        raise ApiError(400, "the form is not valid UTF-8") from None
    except ValueError:  # parse_qsl's "Max number of fields exceeded"
        raise ApiError(413, f"at most {SERVE_ANNIF_FIELDS} form fields per request") from None
    fields: dict[str, Any] = {}
    for key, value in pairs:
        if key in fields and key in SuggestForm.model_fields:  # else the last would win
            raise ApiError(400, f"the form repeats the field {shown(key)}; give it once")
        fields[key] = value
    return fields
