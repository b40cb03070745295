"""/openapi.json describes every route, the docs page needs no network, and a property-based
run of schemathesis against the live server finds no 5xx and no answer off the schema."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from topicclf.classifier import TopicClassifier
from topicclf.server import ServedModel, ServeOptions, serve_in_thread

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

ROUTES = {
    "/tag": {"post"},
    "/models/{name}/tag": {"post"},
    "/health": {"get"},
    "/models": {"get"},
    "/models/{name}": {"get"},
    "/v1/": {"get"},
    "/v1/projects": {"get"},
    "/v1/projects/{project_id}": {"get"},
    "/v1/projects/{project_id}/suggest": {"post"},
    "/v1/projects/{project_id}/suggest-batch": {"post"},
}


@pytest.fixture(scope="module")
def live(tiny_dense: TopicClassifier, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("openapi") / "model"
    tiny_dense.save(path)
    served = ServedModel("model", path, TopicClassifier.load(path))
    options = ServeOptions(port=0, max_body=100_000, max_documents=50)
    with serve_in_thread({"model": served}, options) as (host, port):
        yield f"http://{host}:{port}"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read())


def test_openapi_describes_every_route(live: str) -> None:
    spec = json.loads(_get(live + "/openapi.json"))
    assert {path: set(ops) for path, ops in spec["paths"].items()} == ROUTES
    tag = spec["paths"]["/tag"]["post"]
    assert tag["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TagRequest"
    }
    assert set(spec["components"]["schemas"]["TagRequest"]["properties"]) == {
        "text", "id", "texts", "documents", "top_k", "threshold", "fallback", "scores",
        "explain", "model",
    }  # fmt: skip
    result = spec["components"]["schemas"]["TagResult"]["properties"]
    assert result["explanations"]["items"] == {"$ref": "#/components/schemas/TopicExplanation"}
    suggest = spec["paths"]["/v1/projects/{project_id}/suggest"]["post"]
    assert "application/x-www-form-urlencoded" in suggest["requestBody"]["content"]
    assert "application/problem+json" in suggest["responses"]["4XX"]["content"]


def _keys(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _keys(value)


def test_openapi_writes_ranges_in_json_schema_and_lists_every_status(live: str) -> None:
    """The suggest-batch query ranges were written `ge`/`le` (pydantic's words, which JSON
    Schema tools ignore), and 501 and 503, which the server gives, were on no route."""
    spec = json.loads(_get(live + "/openapi.json"))
    assert not {"ge", "le", "gt", "lt"} & set(_keys(spec))
    batch = spec["paths"]["/v1/projects/{project_id}/suggest-batch"]["post"]
    schemas = {p["name"]: p["schema"] for p in batch["parameters"]}
    assert schemas["limit"]["minimum"] == 0
    assert (schemas["threshold"]["minimum"], schemas["threshold"]["maximum"]) == (0, 1)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"501", "503"} <= set(operation["responses"]), (path, method)
            assert "Retry-After" in operation["responses"]["503"].get("headers", {})


def test_the_docs_page_works_offline(live: str) -> None:
    page = _get(live + "/docs").decode()
    assert re.findall(r"https?://", page) == []  # no CDN: every asset is served from here
    for asset in re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', page):
        assert len(_get(live + asset)) > 1000
    assert "/openapi.json" in page


@pytest.mark.parametrize("ranges", ["bytes=99999999-", "bytes=0-9", "bytes=0-1,5-9"])
def test_the_docs_assets_are_sent_whole_whatever_range_is_asked(live: str, ranges: str) -> None:
    """A range past the file's end got an empty text/plain 416, where every refusal is JSON;
    ranges are ignored, as RFC 9110 lets a server."""
    url = live + "/docs/static/swagger-ui.css"
    whole = requests.get(url, timeout=30)
    asked = requests.get(url, headers={"Range": ranges, "If-Range": "x"}, timeout=30)
    assert whole.status_code == asked.status_code == 200 and asked.content == whole.content


@pytest.fixture(scope="module")
def api_schema(live: str) -> object:
    return schemathesis.openapi.from_url(live + "/openapi.json")


# schemathesis's pytest integration (from_fixture) does not work with pytest 9 (it sets a
# private node attribute), so each operation's hypothesis strategy is driven directly.
# Negative cases (schema-violating inputs) only exist for operations with a body: a GET
# here takes nothing but a string path parameter, which any value satisfies.
OPERATIONS = [(p, m, "positive") for p, ms in sorted(ROUTES.items()) for m in ms]
OPERATIONS += [(p, "post", "negative") for p, ms in sorted(ROUTES.items()) if "post" in ms]


@pytest.mark.parametrize(("path", "method", "mode"), OPERATIONS)
def test_every_answer_matches_the_schema_and_none_is_a_5xx(
    api_schema: object, path: str, method: str, mode: str
) -> None:
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operation = api_schema[path][method.upper()]  # type: ignore[index]
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,  # the same requests each run: a failure here is reproducible
        database=None,
    )
    def run(case: object) -> None:
        case.call_and_validate(checks=checks, timeout=30)  # type: ignore[attr-defined]

    run()
