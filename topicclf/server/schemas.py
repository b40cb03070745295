"""The native API's request and response shapes (pydantic models, also its OpenAPI schemas)
and the parsing of a POST /tag body into a validated request."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from topicclf.config import SERVE_EXPLAIN_TERMS, shown
from topicclf.corpus.base import BOMS
from topicclf.server.memory import is_panic

# Strict: JSON types are taken as they are ({"scores": "no"} is an error, not True), NaN or
# Infinity are refused, and so is an unknown key (a typo such as "topk" would otherwise
# change the answer without a word).
STRICT = ConfigDict(strict=True, allow_inf_nan=False, extra="forbid")
# An id may be a string or an integer (written back as a string); integers are bounded so a
# 5000-digit number is refused instead of becoming a 5000-character id.
DocId = str | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Request = TypeVar("Request", bound=BaseModel)


class ApiError(Exception):
    """A request the server refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class DocumentIn(BaseModel):
    """A document to tag: its text and an optional id."""

    model_config = STRICT
    id: DocId | None = Field(None, description="Written back in the result (default: position).")
    text: str


class TagRequest(BaseModel):
    """What POST /tag takes: one of `text`, `texts` or `documents`."""

    model_config = ConfigDict(
        strict=True,
        allow_inf_nan=False,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "Oil prices rose after the storm", "top_k": 3},
                {"documents": [{"id": "a", "text": "The council cut the budget"}]},
            ]
        },
    )
    text: str | None = Field(None, description="One document.")
    id: DocId | None = Field(None, description="The id of `text` (default: 0).")
    texts: list[str] | None = Field(None, description="Several documents, ids 0, 1, ...")
    documents: list[DocumentIn] | None = Field(None, description="Documents with ids.")
    top_k: int | None = Field(None, ge=1, description="At most the K best topics.")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="One threshold for every topic, no fallback."
    )
    fallback: bool | None = Field(
        None, description="false: never a topic below its threshold (default: the model's rule)."
    )
    scores: bool = Field(True, description="Include each topic's score.")
    explain: int | None = Field(
        None,
        ge=1,
        le=SERVE_EXPLAIN_TERMS,
        description="Also say why: for each topic, the N terms that raised its score most and "
        "the N that lowered it (models with `explain` true in GET /models).",
    )
    model: str | None = Field(None, description="Which model (needed when several are served).")

    @model_validator(mode="after")
    def _has_documents(self) -> TagRequest:
        absent = [self.text, self.texts, self.documents].count(None)
        if absent == 3:
            raise ValueError('give "text", "texts" or "documents" in the JSON body')
        if absent < 2:
            raise ValueError('give only one of "text", "texts" or "documents"')
        if self.id is not None and self.text is None:
            raise ValueError('"id" goes with "text"; give ids in "documents"')
        return self

    def ids_and_texts(self) -> tuple[list[str], list[str]]:
        """The request's document ids (as strings) and texts."""
        if self.text is not None:
            return [str(self.id if self.id is not None else 0)], [self.text]
        if self.texts is not None:
            return [str(i) for i in range(len(self.texts))], list(self.texts)
        docs = self.documents or []
        ids = [str(d.id if d.id is not None else i) for i, d in enumerate(docs)]
        return ids, [d.text for d in docs]


class TermWeight(BaseModel):
    """A term of the document and how much a topic's log-odds fall when it is taken out."""

    term: str
    weight: float


class TopicExplanation(BaseModel):
    """Why a document got a topic (`topicclf explain`)."""

    topic: str
    score: float
    up: list[TermWeight] = Field(description="The terms that raised the score most, first.")
    down: list[TermWeight] = Field(description="The terms that lowered it most, first.")


class TagResult(BaseModel):
    """One tagged document (the record `topicclf tag` writes)."""

    id: str
    labels: list[str] = Field(description="Topics, best first.")
    scores: dict[str, float] | SkipJsonSchema[None] = Field(
        None, description="Topic -> score (rounded to 6 decimals); absent with scores=false."
    )
    explanations: list[TopicExplanation] | SkipJsonSchema[None] = Field(
        None, description="One per label, in the same order; only when `explain` is given."
    )


class TagResponse(BaseModel):
    """What POST /tag answers."""

    results: list[TagResult]
    model: str
    milliseconds: float = Field(description="Time spent on the request in the server.")
    notes: list[str] = Field(
        default_factory=list,
        description="Present when a setting of the request changes nothing (e.g. top_k on a "
        "multi-class model, which always gives its one best topic) or documents share an id "
        "(one given twice, or a position's id given to another): what `topicclf tag` warns.",
    )


class ModelInfo(BaseModel):
    """A served model."""

    name: str
    topics: int
    network: str
    mode: str
    engine: str = Field(description="numpy (concurrent calls) or keras (one call at a time).")
    language: str = Field(description="The main language (ISO 639-1) of the training texts.")
    languages: list[str] = Field(
        description="Every language the model analyses with its own stop words and stemmer."
    )
    vocabulary: bool = Field(description="Whether topics have URIs and labels from a vocabulary.")
    explain: bool = Field(
        description="Whether POST /tag can explain its topics (`explain`): TF-IDF networks."
    )
    created: str | None


class ModelList(BaseModel):
    """What GET /models answers."""

    models: list[ModelInfo]


class Health(BaseModel):
    """What GET /health answers; with one model, also its name, topics, network and mode."""

    status: str
    models: list[ModelInfo]
    model: str | SkipJsonSchema[None] = None
    topics: int | SkipJsonSchema[None] = None
    network: str | SkipJsonSchema[None] = None
    mode: str | SkipJsonSchema[None] = None


class ErrorBody(BaseModel):
    """Every refused request's answer."""

    error: str


class Problem(BaseModel):
    """An error under /v1, as Annif answers (RFC 7807), with `error` as elsewhere."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    error: str


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() and c != "\\" else repr(c)[1:-1] for c in text)


def echoed(text: str) -> str:
    """Text a client sent as an error message echoes it, unquoted: each character `repr`
    escapes (controls, bidi marks, other invisible ones, the backslash) as `repr` writes it,
    the rule of `shown` (`no model named 'x'`), cut as `cut` cuts, counting what is shown."""
    whole = _escaped(text[:81])
    if len(text) <= 80 and len(whole) <= 80:
        return whole
    # Cut on what is shown, so 70,000 ESCs echo as short as 70,000 letters, never inside an
    # escape; the length said is the client's.
    head, size = [], 0
    for c in text[:60]:
        piece = _escaped(c)
        if size + len(piece) > 60:
            break
        head.append(piece)
        size += len(piece)
    return f"{''.join(head)}... ({len(text):,} characters)"


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:  # a key is the client's: cut and escaped, as every echo of what it sent
        out += (
            f"[{part}]" if isinstance(part, int) else (f".{echoed(part)}" if out else echoed(part))
        )
    return out


# The tag pydantic puts after a union's location for each of its branches (`id.str`,
# `id.constrained-int`): a type's name, perhaps with its parameters (`list[str]`) or a
# model's class name. Only ever folded when every branch failed on the same value.
_BRANCH = re.compile(r"(?:constrained-)?(str|int|float|bool|list|dict|none)(?:\[.*\])?|[A-Z]\w*")
_BRANCH_NOUNS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list",
    "dict": "an object",
    "none": "null",
}
_NOT_BRANCH_ERRORS = ("missing", "extra_forbidden")


def _branch(error: Any) -> str | None:
    """The union branch an error is about, when its location ends in one; else None."""
    loc = error.get("loc", ())
    if not loc or not isinstance(loc[-1], str) or error.get("type") in _NOT_BRANCH_ERRORS:
        return None
    return loc[-1] if _BRANCH.fullmatch(loc[-1]) else None


def _what_a_branch_takes(branch: str, error: Any) -> str:
    """What one branch of a union takes, with the bound its value broke (if that is why)."""
    match = _BRANCH.fullmatch(branch)
    noun = _BRANCH_NOUNS[match[1]] if match and match[1] else "an object"  # a model's name
    if str(error.get("type", "")).endswith(("_type", "_parsing")):
        return noun
    # The value is of this branch's type but out of its bounds: say the bound, in pydantic's
    # words without "Input should be".
    bound = str(error.get("msg", "")).removeprefix("Input should be ").removeprefix("Value error, ")
    return f"{noun} ({bound})"


def fold_unions(errors: list[Any]) -> list[Any]:
    """The errors with each union's per-branch errors (`id.str: Input should be a valid
    string; id.constrained-int: Input should be a valid integer`, pydantic's branch names)
    folded into one at the union's location: `id: should be a string or an integer`."""
    folded: list[Any] = []
    i = 0
    while i < len(errors):
        error, j = errors[i], i + 1
        if _branch(error) is not None:
            where, value = tuple(error["loc"][:-1]), error.get("input")
            while (
                j < len(errors)
                and _branch(errors[j]) is not None
                and tuple(errors[j]["loc"][:-1]) == where
                and type(errors[j].get("input")) is type(value)
                and errors[j].get("input") == value
            ):
                j += 1
        if j - i < 2:  # one error is no union's: as pydantic said it
            folded.append(error)
            i += 1
            continue
        takes = [_what_a_branch_takes(str(e["loc"][-1]), e) for e in errors[i:j]]
        either = ", ".join(takes[:-1]) + f" or {takes[-1]}"
        folded.append({"type": "union", "loc": where, "msg": f"should be {either}"})
        i = j
    return folded


def describe_errors(errors: list[Any], limit: int = 3) -> str:
    """pydantic's or FastAPI's validation errors as one line: `field: problem; ...`."""
    lines = []
    errors = fold_unions(errors)
    for error in errors[:limit]:
        loc = tuple(p for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "extra_forbidden":
            message = "not a key this request takes (a typo?)"
        lines.append(f"{_where(loc)}: {message}" if loc else message)
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    return "; ".join(lines) + more


def refuse_unknown_query(
    keys: Iterable[str],
    route: str,
    takes: Collection[str] = (),
    body_keys: Collection[str] = (),
    body: str = "a key of the JSON body",
) -> None:
    """ApiError 400 for the first query parameter `route` does not take (those it takes are
    `takes`), as the body refuses a key it does not take: `?top_k=1` on /tag, `?limit=1` on
    Annif's suggest, changed nothing without a word. One the body takes (`body_keys`) is
    told where it goes: `limit is a form field of suggest, not a query parameter`."""
    for key in keys:
        if key in takes:
            continue
        if key in body_keys:
            raise ApiError(400, f"{key} is {body} of {route}, not a query parameter")
        others = f"it takes {', '.join(takes)}" if takes else "it takes none"
        raise ApiError(
            400, f"{echoed(key)}: not a query parameter {route} takes (a typo?); {others}"
        )


def too_many_json_values(body: bytes, limit: int) -> bool:
    """Whether a JSON body holds more than `limit` strings, commas (between array items and
    object members) and arrays and objects outside strings, counted on its bytes: a few
    passes at C speed, no object made. At most the values of valid JSON; invalid JSON may
    count high. Arrays count: 25,000 items of empty arrays nested 190 deep passed as 25,000
    values, and parsing their 4.75 million arrays held the event loop 13 s."""
    if len(body) <= limit:
        return False  # no more values than bytes
    marks = body.count(b",") + body.count(b"[") + body.count(b"{")
    if marks + body.count(b'"') // 2 <= limit:
        return False  # a bound counting inside strings too
    if b"\\" in body:  # drop escapes (an escaped backslash first), so only real quotes remain
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    strings = body.count(b'"') // 2
    if strings > limit:
        return True
    outside = b"".join(body.split(b'"')[::2])  # at most 2 * limit + 1 pieces
    return strings + outside.count(b",") + outside.count(b"[") + outside.count(b"{") > limit


# Answers every route may give beside its own (OpenAPI): the server's, not a route's.
NOT_IMPLEMENTED = "A Transfer-Encoding the server does not read (e.g. gzip); send the body plain."
BUSY = (
    "Busy for now: a budget of bodies or answers held at once is full (--max-body-total, "
    "--max-unsent-total), heads in progress, no file descriptor left, not the memory for this "
    "body now, a model's explain slots or character budget full, or the server stopping; "
    "retry after Retry-After seconds."
)
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


# Names a Content-Type's charset may give for a body read as UTF-8 (ASCII is UTF-8).
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def utf8_body(body: bytes, content_type: str = "") -> bytes:
    """A request body (JSON or a form) as UTF-8 without a byte order mark, by the corpus
    readers' rule: a leading mark decides the encoding (`corpus.base.BOMS`) whatever the
    Content-Type says, and is dropped. RFC 8259 lets a JSON parser ignore a UTF-8 mark, and
    Windows tools write marks (Notepad, PowerShell's Out-File: UTF-16 in Windows PowerShell
    5.1): read, a UTF-8 one was "expected value at line 1 column 1", and a UTF-16 body the
    same. Without a mark, a charset other than UTF-8 gets 415 (it was ignored, the body
    then blamed as invalid JSON); ApiError 400 when the body is not valid in its mark's
    encoding."""
    for mark, encoding in BOMS:
        if body.startswith(mark):
            if encoding == "utf-8":
                return body[len(mark) :]
            try:
                return body[len(mark) :].decode(encoding).encode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(
                    400,
                    f"the body begins with a {encoding[:6].upper()} byte order mark but is not "
                    f"valid {encoding[:6].upper()}; send UTF-8",
                ) from None
    charset = declared_charset(content_type)
    if charset is not None and charset not in UTF8_CHARSETS:
        raise ApiError(
            415,
            f"the body is declared charset={shown(charset)}; send it as UTF-8 (declared "
            "charset=utf-8, or none)",
        )
    return body


def declared_charset(content_type: str) -> str | None:
    """The charset a Content-Type header gives (lower case, unquoted), or None."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


# Each escape of a JSON string, an escaped backslash as one: `\\ud800` is no \u escape.
# A surrogate's escape with the run of backslashes before it, whole (possessive, and not
# preceded by one more): the escape is real when the run is odd (else its backslash is
# itself escaped, and `\\ud800` is text). Only surrogates are visited: every escape was,
# in Python, and 5 million of them in an invalid 10 MB body held the event loop 0.7 s.
_SURROGATE = re.compile(rb"(?<!\\)(\\++)u([dD][89a-fA-F][0-9a-fA-F]{2})")


def lone_surrogate(body: bytes) -> str | None:
    """The first escape of a lone surrogate in a JSON body (`\\ud800` not followed by a low
    surrogate's escape, or a low one with no high one before it), as written; else None."""
    high: tuple[int, int] | None = None  # a high surrogate's escape awaiting its low half
    for match in _SURROGATE.finditer(body):
        if len(match[1]) % 2 == 0:
            continue
        start, code = match.end() - 6, int(match[2], 16)
        if high is not None:
            if code >= 0xDC00 and start == high[1]:
                high = None
                continue
            return body[high[0] : high[1]].decode("ascii")
        if code <= 0xDBFF:
            high = (start, match.end())
        else:
            return body[start : match.end()].decode("ascii")
    return body[high[0] : high[1]].decode("ascii") if high is not None else None


class _RepeatedKey(Exception):
    """Raised by _unique_keys: stops json.loads at the first key an object repeats."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def refuse_repeated_keys(body: bytes) -> None:
    """ApiError 400 when an object of a JSON body repeats a key (`{"text": "a", "text":
    "b"}`): the parser would keep the last value without a word, where the corpus readers
    refuse such a record. For a body the JSON parser has read already."""
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise ApiError(400, f"the body repeats the key {shown(exc.args[0])}") from None
    except (ValueError, RecursionError):
        pass  # what the JSON parser took and json does not (none known): left to the parser


def parse_json_body(
    model: type[Request],
    body: bytes,
    *,
    max_documents: int,
    values_per_document: int,
    content_type: str = "",
    example: str = '{"text": "..."}',
    document_hint: str = "",
) -> Request:
    """A JSON request body as `model`, for every route that takes JSON; ApiError 400 when it
    is not valid JSON or not a valid request, 413 when it holds more JSON values than
    `max_documents` documents (of `values_per_document` each) and the settings need; 415
    for a charset other than UTF-8 (`utf8_body`). `example` shows the object it takes;
    `document_hint` says what else a document may hold, for the 413 (", each with ...").

    The values are counted first: parsing holds the event loop, and the GIL (so a thread
    would not help), for about a second per million values; counting 10 MB takes
    milliseconds. A key repeated in an object is a 400 (`refuse_repeated_keys`).
    """
    body = utf8_body(body, content_type)
    limit = max_documents * values_per_document + 64
    if too_many_json_values(body, limit):
        # Counted, not parsed: the values may be documents, or a key's (an unknown key with a
        # list of millions); the answer says what was counted, and both ways out.
        raise ApiError(
            413,
            f"the body holds over {limit:,} JSON values, more than {max_documents} documents "
            f"need: send at most {max_documents} documents per request{document_hint}, and no "
            "key the request does not take",
        )
    try:
        request = model.model_validate_json(body)
    except BaseException as exc:
        if is_panic(exc):  # an object it could not allocate: answered as out of memory (503)
            raise MemoryError("the JSON parser could not allocate memory") from None
        if not isinstance(exc, ValidationError):
            raise
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            # The parser names a lone surrogate "unexpected end of hex escape" (or "lone
            # leading surrogate") though the escape is whole: JSON text must be Unicode.
            lone = lone_surrogate(body)
            if lone is not None:
                raise ApiError(
                    400,
                    f"the body holds a lone surrogate ({lone}) in a string; send valid Unicode",
                ) from None
            detail = str(errors[0]["msg"]).removeprefix("Invalid JSON: ")
            raise ApiError(400, f"the body is not valid JSON ({detail})") from None
        refuse_repeated_keys(body)  # the cause, if a repeated key made the request invalid
        if errors and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
            raise ApiError(400, f"send a JSON object, e.g. {example}") from None
        raise ApiError(400, describe_errors(errors)) from None
    refuse_repeated_keys(body)
    return request


def parse_tag_request(body: bytes, max_documents: int, content_type: str = "") -> TagRequest:
    """A POST /tag body as a TagRequest; ApiError 400 when it is not valid JSON or not valid,
    413 with more than `max_documents` documents.

    Any Content-Type is read as JSON, as the first server did (curl -d sends a form type);
    only its charset is heeded (`utf8_body`).
    """
    # {"id": "a", "text": "b"}, is 6 values: 4 strings, 2 commas
    req = parse_json_body(
        TagRequest,
        body,
        max_documents=max_documents,
        values_per_document=8,
        content_type=content_type,
    )
    documents = req.texts if req.texts is not None else req.documents
    if documents is not None and len(documents) > max_documents:
        raise ApiError(413, f"at most {max_documents} documents per request; send several")
    return req
