"""The Annif-compatible API under /v1: the real annif-client against `topicclf serve`, and the
same topics as `topicclf tag --top-k` for a model trained with `--vocabulary`."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.cli import run

annif_client = pytest.importorskip("annif_client")

TINY = Path(__file__).parent / "data" / "tiny.jsonl"
VOCABULARY = (
    "<http://example.org/sport>\tsport\t796\nhttp://example.org/w\tweather\n<http://x/m>\tmarkets\n"
)
TEXTS = [
    "The striker scored in the final minute",
    "Heavy rain and storms all week",
    "Shares fell as the bank raised rates",
    "",
    "bread and cheese at the market",
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("annif")
    (tmp / "vocab.tsv").write_text(VOCABULARY, encoding="utf-8")
    settings = ["network.hidden_units=32", "features.min_df=1", "train.epochs=30"]
    settings += ["train.patience=30", "train.batch_size=8", "train.learning_rate=0.01"]
    settings += ["train.validation_split=0.25", "train.refit=false"]
    args = ["train", str(TINY), "-o", str(tmp / "tiny"), "--vocabulary", str(tmp / "vocab.tsv")]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = run([*args, *[a for s in settings for a in ("--set", s)]])
    assert code == 0, stderr.getvalue()
    assert (
        "warning: 1 of 4 topics are not in " in stderr.getvalue()
        and "; they are served as urn:topicclf:topic:<topic>: food" in stderr.getvalue()
    )
    return tmp / "tiny"


@pytest.fixture(scope="module")
def api(model: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "topicclf", "serve", str(model), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        yield f"http://127.0.0.1:{port}/v1/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


SUBJECTS = {
    "sport": ("http://example.org/sport", "sport", "796"),
    "weather": ("http://example.org/w", "weather", None),
    "markets": ("http://x/m", "markets", None),
    "food": ("urn:topicclf:topic:food", "food", None),
}


def _tag(model: Path, tmp_path: Path, *options: str) -> list[list[dict[str, Any]]]:
    """`topicclf tag` on TEXTS, as Annif results (uri, label, notation, score)."""
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    assert run(["-q", "tag", str(model), str(corpus), "--scores", "-o", str(out), *options]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return [
        [
            dict(zip(("uri", "label", "notation"), SUBJECTS[t], strict=True))
            | {"score": row["scores"][t]}
            for t in row["labels"]
        ]
        for row in rows
    ]


def test_projects(api: str, model: Path) -> None:
    client = annif_client.AnnifClient(api_base=api)
    assert client.api_info["title"] == "topicclf Annif-compatible REST API"
    (project,) = client.projects
    assert project == client.get_project("tiny")
    assert {k: project[k] for k in ("project_id", "name", "language", "is_trained")} == {
        "project_id": "tiny",
        "name": "tiny",
        "language": "en",
        "is_trained": True,
    }
    assert project["backend"] == {"backend_id": "topicclf-dense"}
    with pytest.raises(ValueError, match="Project 'nope' not found"):
        client.get_project("nope")


@pytest.mark.parametrize(("limit", "threshold"), [(2, None), (1, None), (4, 0.3), (None, None)])
def test_suggest_gives_the_topics_of_tag_top_k(
    api: str, model: Path, tmp_path: Path, limit: int | None, threshold: float | None
) -> None:
    client = annif_client.AnnifClient(api_base=api)
    options = ["--top-k", str(limit if limit is not None else 10)]
    options += ["--threshold", str(threshold)] if threshold is not None else []
    expected = _tag(model, tmp_path, *options)
    got = [client.suggest("tiny", text, limit=limit, threshold=threshold) for text in TEXTS]
    assert got == expected
    assert got[3] == []  # blank text: no topic
    docs = [{"document_id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)]
    batch = client.suggest_batch("tiny", docs, limit=limit, threshold=threshold)
    assert [b["document_id"] for b in batch] == [d["document_id"] for d in docs]
    assert [b["results"] for b in batch] == expected


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "detail"),
    [
        ("projects/tiny/suggest", {"data": {"limit": "2"}}, 400, "text: Field required"),
        ("projects/tiny/suggest", {"data": {"text": "a", "limit": "-1"}}, 400, "limit: Input"),
        ("projects/tiny/suggest", {"data": {"text": "a", "threshold": "2"}}, 400, "threshold"),
        (
            "projects/tiny/suggest",
            {"data": {"text": "a", "language": "fi"}},
            400,
            'language "fi" not supported by vocabulary',
        ),
        (
            "projects/tiny/suggest-batch",
            {"json": {"documents": [{"text": "a"}] * 33}},
            400,
            "documents: List should have at most 32 items after validation, not 33",
        ),
        ("projects/tiny/suggest-batch", {"json": {"documents": [{}]}}, 400, "text: Field"),
        (
            "projects/tiny/suggest",
            {
                "data": b"text=Oil\xff\xfe&limit=3",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "the form is not valid UTF-8",
        ),
        (
            "projects/tiny/suggest",
            {
                "data": b"text=Oil%FF&limit=3",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "the form is not valid UTF-8",
        ),
        (
            "projects/tiny/suggest",
            {
                "data": b"text=oil&text=rain&limit=3",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "the form repeats the field 'text'; give it once",  # before: the last won
        ),
        (  # Starlette read its invalid UTF-8 as Latin-1 and tagged mojibake
            "projects/tiny/suggest",
            {"files": {"text": (None, b"Oil\xff\xfe")}},
            415,
            "send the form as application/x-www-form-urlencoded, as Annif's API takes it "
            "(curl --data-urlencode text@doc.txt), not multipart/form-data",
        ),
        (
            "projects/tiny/suggest-batch",
            {"json": {"documents": [{"text": "a"}], "limit": 1}},
            400,
            "limit is a query parameter of suggest-batch, as in Annif's API, not a key of the "
            "body: POST .../suggest-batch?limit=...",  # before: ignored, 10 results
        ),
        (
            "projects/tiny/suggest-batch",
            {"json": {"documents": [{"text": "a", "txt": "b"}]}},
            400,
            "documents[0].txt: not a key this request takes (a typo?)",
        ),
        (  # before: the last value, 3 results
            "projects/tiny/suggest-batch?limit=1&limit=3",
            {"json": {"documents": [{"text": "a"}]}},
            400,
            "the query repeats the parameter 'limit'; give it once",
        ),
        (  # the repeat is reported, not the invalid value
            "projects/tiny/suggest-batch?threshold=x&language=en&threshold=0.5",
            {"json": {"documents": [{"text": "a"}]}},
            400,
            "the query repeats the parameter 'threshold'; give it once",
        ),
        (  # before: "Input should be less than or equal to 1"
            "projects/tiny/suggest-batch?threshold=nan",
            {"json": {"documents": [{"text": "a"}]}},
            400,
            "threshold: Input should be a finite number",
        ),
        (
            "projects/tiny/suggest-batch?threshold=-inf",
            {"json": {"documents": [{"text": "a"}]}},
            400,
            "threshold: Input should be a finite number",
        ),
        (  # as the form says it
            "projects/tiny/suggest",
            {"data": {"text": "a", "threshold": "nan"}},
            400,
            "threshold: Input should be a finite number",
        ),
        ("projects/nope/suggest", {"data": {"text": "a"}}, 404, "Project 'nope' not found"),
        ("nowhere", {"data": {"text": "a"}}, 404, "no such endpoint: POST /v1/nowhere"),
    ],
)
def test_refusals_are_problems(
    api: str, path: str, kwargs: dict[str, Any], status: int, detail: str
) -> None:
    answer = requests.post(api + path, timeout=30, **kwargs)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["type"] == "about:blank"
    titles = {400: "Bad Request", 404: "Not Found", 415: "Unsupported Media Type"}
    assert problem["title"] == titles[status]  # before: "Error" for the 415
    assert detail in problem["detail"] and problem["error"] == problem["detail"]


def test_a_form_in_raw_or_percent_encoded_utf8_is_read_alike(api: str) -> None:
    url, form = api + "projects/tiny/suggest", "application/x-www-form-urlencoded"
    raw = requests.post(
        url, data="text=Gâteau rain&limit=3".encode(), headers={"Content-Type": form}
    )
    encoded = requests.post(url, data={"text": "Gâteau rain", "limit": "3"})
    assert raw.status_code == encoded.status_code == 200 and raw.json() == encoded.json()


def test_a_body_may_begin_with_a_utf8_bom(api: str) -> None:
    # A form's first key was "\\ufefftext" ("text: Field required"); JSON was "the body is
    # not valid JSON (expected value at line 1 column 1)".
    url, form = api + "projects/tiny/suggest", "application/x-www-form-urlencoded"
    plain = requests.post(url, data=b"text=rain&limit=3", headers={"Content-Type": form})
    marked = requests.post(
        url, data=b"\xef\xbb\xbftext=rain&limit=3", headers={"Content-Type": form}
    )
    assert plain.status_code == marked.status_code == 200 and plain.json() == marked.json()
    batch = b'{"documents": [{"text": "rain"}]}'
    plain = requests.post(api + "projects/tiny/suggest-batch", data=batch)
    marked = requests.post(api + "projects/tiny/suggest-batch", data=b"\xef\xbb\xbf" + batch)
    assert plain.status_code == marked.status_code == 200 and plain.json() == marked.json()


def test_a_utf16_body_with_its_mark_is_read_and_other_charsets_get_415(api: str) -> None:
    """Both were read as UTF-8: "the form is not valid UTF-8", "not valid JSON (expected
    value at line 1 column 1)"; a declared charset was ignored."""
    url, form = api + "projects/tiny/suggest", "application/x-www-form-urlencoded"
    plain = requests.post(url, data=b"text=rain&limit=3", headers={"Content-Type": form})
    marked = requests.post(
        url, data="text=rain&limit=3".encode("utf-16"), headers={"Content-Type": form}
    )
    assert plain.status_code == marked.status_code == 200 and plain.json() == marked.json()
    batch = '{"documents": [{"text": "rain"}]}'
    plain = requests.post(api + "projects/tiny/suggest-batch", data=batch.encode())
    marked = requests.post(api + "projects/tiny/suggest-batch", data=batch.encode("utf-32"))
    assert plain.status_code == marked.status_code == 200 and plain.json() == marked.json()
    latin1 = requests.post(
        url, data="text=café".encode("latin-1"), headers={"Content-Type": form + ";charset=latin1"}
    )
    assert latin1.status_code == 415
    assert latin1.json()["detail"].startswith("the body is declared charset='latin1'; send it")


def test_suggest_batch_shows_its_own_shape_for_a_body_that_is_no_object(api: str) -> None:
    """It said 'e.g. {"text": "..."}', which this route refuses."""
    answer = requests.post(api + "projects/tiny/suggest-batch", data=b'[{"text": "rain"}]')
    assert answer.status_code == 400
    assert answer.json()["detail"] == 'send a JSON object, e.g. {"documents": [{"text": "..."}]}'


def test_a_lone_surrogate_in_suggest_batch_is_named(api: str) -> None:
    body = b'{"documents": [{"text": "oil \\ud800 x"}]}'
    answer = requests.post(api + "projects/tiny/suggest-batch", data=body)
    assert answer.status_code == 400
    message = "the body holds a lone surrogate (\\ud800) in a string; send valid Unicode"
    assert answer.json()["detail"] == message


def test_metadata_fields_may_repeat_and_a_form_without_content_type_is_read(api: str) -> None:
    url = api + "projects/tiny/suggest"
    plain = requests.post(url, data={"text": "rain", "limit": "3"})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"text=rain&limit=3&metadata_x=1&metadata_x=2"
    repeated = requests.post(url, data=body, headers=form)
    untyped = requests.post(url, data=b"text=rain&limit=3")  # bytes: requests sends no type
    assert "Content-Type" not in untyped.request.headers
    assert plain.status_code == repeated.status_code == untyped.status_code == 200
    assert plain.json() == repeated.json() == untyped.json()


def test_a_language_is_read_by_the_corpus_rule_a_name_or_code_in_any_case(api: str) -> None:
    # `language=EN` was refused as not supported by a model whose language is `en` (the
    # rule of a corpus's language field is now the rule here: attacker pass 24).
    url = api + "projects/tiny/suggest"
    answers = [
        requests.post(url, data={"text": "rain", "language": value}, timeout=30)
        for value in ("en", "EN", "English", "en-GB")
    ]
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json() == answers[0].json() for a in answers)
    batch = requests.post(
        api + "projects/tiny/suggest-batch?language=english",
        json={"documents": [{"text": "rain"}]},
        timeout=30,
    )
    assert batch.status_code == 200
    refused = requests.post(url, data={"text": "rain", "language": "Finnish"}, timeout=30)
    assert refused.status_code == 400
    assert refused.json()["detail"] == 'language "Finnish" not supported by vocabulary'


def test_limit_zero_gives_nothing(api: str) -> None:
    answer = requests.post(api + "projects/tiny/suggest", data={"text": "rain", "limit": "0"})
    assert answer.status_code == 200 and answer.json() == {"results": []}


def test_a_parameter_a_route_does_not_take_is_named_not_called_repeated(api: str) -> None:
    # Only the route's own parameters are checked for repeats; another is refused for what
    # it is (attacker pass 34: it was ignored, repeated or not).
    url = api + "projects/tiny/suggest-batch?limit=1&_=1&_=2"
    answer = requests.post(url, json={"documents": [{"text": "rain"}]}, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["detail"] == (
        "_: not a query parameter suggest-batch takes (a typo?); it takes limit, threshold, "
        "language"
    )


def _beside_a_ticker(body: bytes) -> tuple[Any, int]:
    """What `suggest_form` gives for `body` (its answer or its ApiError), and how often the
    event loop turned meanwhile."""
    import asyncio

    from topicclf.server.annif import suggest_form
    from topicclf.server.schemas import ApiError

    async def read() -> tuple[Any, int]:
        turns = 0
        reading = asyncio.ensure_future(suggest_form(body))
        while not reading.done():
            turns += 1
            await asyncio.sleep(0)
        try:
            return reading.result(), turns
        except ApiError as exc:
            return exc, turns

    return asyncio.run(read())


def test_a_long_form_is_decoded_off_the_event_loop() -> None:
    """10 MB of `%41` escapes took the interpreter about a second to decode, on the event
    loop: four such forms at once held /health 4.3 s. Here the loop goes on turning while
    a long form is decoded (before: not once)."""
    form, turns = _beside_a_ticker(b"limit=3&text=" + b"%41" * 1_000_000)
    assert (form.text, form.limit) == ("A" * 1_000_000, 3)
    assert turns > 10


@pytest.mark.parametrize("field", ["threshold", "limit"])
def test_a_long_number_in_a_form_is_checked_off_the_event_loop(field: str) -> None:
    """A 9 MB `threshold` took half a second to be refused, checked on the event loop after
    the form was decoded in a thread: four such requests held /health 1.4 s."""
    from topicclf.server.schemas import ApiError

    refused, turns = _beside_a_ticker(f"text=rain&{field}=0.".encode() + b"0" * 9_000_000 + b"x")
    assert isinstance(refused, ApiError) and refused.status == 400
    assert refused.message.startswith(f"{field}: '0.000")
    assert " characters) is not a plain " in refused.message
    assert turns > 10


def test_a_long_language_value_is_no_language_at_once() -> None:
    """language_named folded and split a 9 MB `language` on the event loop (0.2 s)."""
    from topicclf.config import LANGUAGE_VALUE_CHARS, language_named

    assert language_named("en-" + "x" * (LANGUAGE_VALUE_CHARS - 3)) == "english"
    assert language_named("en-" + "x" * LANGUAGE_VALUE_CHARS) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["text", "limit", "threshold", "metadata_a"])
            | st.text(min_size=1, max_size=8),
            st.text(max_size=30) | st.sampled_from(["3", "0.5", "-1", "nan"]),
        ),
        max_size=6,
        unique_by=lambda pair: pair[0],
    ),
    st.integers(0, 30_000),
)
@settings(max_examples=40, deadline=None)
def test_a_form_reads_alike_short_or_long(pairs: list[tuple[str, str]], padding: int) -> None:
    """Read on the loop or in a thread, a form gives the same fields, and its refusals are
    the same."""
    from urllib.parse import urlencode

    from topicclf.server.annif import parse_form, read_suggest_form
    from topicclf.server.schemas import ApiError

    pairs = [*pairs, ("zz_pad", "x" * padding)]
    body = urlencode(pairs).encode()
    assert parse_form(body) == dict(pairs)
    try:
        expected: Any = read_suggest_form(urlencode(pairs[:-1]).encode())
    except ApiError as exc:
        expected = exc
    got, _ = _beside_a_ticker(body)
    if isinstance(expected, ApiError):
        assert (got.status, got.message) == (expected.status, expected.message)
    else:
        assert got == expected
    with pytest.raises(ApiError, match="^the form is not valid UTF-8$"):
        parse_form(body + b"&x=%ff")
    if pairs[0][0] in ("text", "limit"):
        with pytest.raises(ApiError, match=f"^the form repeats the field '{pairs[0][0]}'"):
            parse_form(body + b"&" + urlencode(pairs[:1]).encode())


def test_an_answer_over_max_pairs_is_a_413_problem(model: Path) -> None:
    # `limit` has no upper bound and a threshold of 0 keeps every topic: without a bound on
    # the pairs, 32 documents times a large vocabulary made answers of any size.
    proc = subprocess.Popen(
        [sys.executable, "-m", "topicclf", "serve", str(model), "--port", "0", "--max-pairs", "6"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = int(proc.stderr.readline().split("http://127.0.0.1:")[1].split()[0])
        base = f"http://127.0.0.1:{port}/v1/projects/tiny/"
        docs = {"documents": [{"text": "rain and wind"}] * 32}
        answer = requests.post(base + "suggest-batch?limit=1000000", json=docs, timeout=30)
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == (
            "the answer would hold 128 (document, topic) pairs, more than the 6 one answer may "
            "hold (--max-pairs): ask for fewer with limit or a higher threshold, or send fewer "
            "documents per request"
        )
        six = {"documents": docs["documents"][:6]}
        within = requests.post(base + "suggest-batch?limit=1", json=six, timeout=30)
        assert within.status_code == 200 and len(within.json()) == 6
        single = requests.post(base + "suggest", data={"text": "rain", "limit": 4}, timeout=30)
        assert single.status_code == 200 and len(single.json()["results"]) == 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # pydantic's lax parsing read these as other numbers: limit=0_2 gave 2 results
        ("limit", "0_2", "a plain whole number (ASCII digits), e.g. 10"),
        ("limit", "+5", "a plain whole number"),
        ("limit", " 5 ", "a plain whole number"),
        ("limit", "5.0", "a plain whole number"),
        ("limit", "\u0663", "a plain whole number"),  # an Arabic-Indic 3
        (
            "threshold",
            "1_0e-1",
            "a plain decimal number (ASCII digits, a point, an exponent if any), e.g. 0.5 or 1e-05",
        ),
        ("threshold", " .5", "a plain decimal number"),
        ("threshold", "0x1p-3", "a plain decimal number"),
    ],
)
def test_limit_and_threshold_are_plain_numbers(
    api: str, field: str, value: str, expected: str
) -> None:
    detail = f"{field}: {value!r} is not {expected}"
    suggest = api + "projects/tiny/suggest"
    form = requests.post(suggest, data={"text": "a", field: value}, timeout=30)
    assert form.status_code == 400 and form.json()["detail"].startswith(detail)
    batch = requests.post(
        api + "projects/tiny/suggest-batch",
        params={field: value},
        json={"documents": [{"text": "a"}]},
        timeout=30,
    )
    assert batch.status_code == 400 and batch.json()["detail"].startswith(detail)


@pytest.mark.parametrize(("field", "value"), [("limit", "007"), ("threshold", "1e-05")])
def test_numbers_as_clients_write_them_are_taken(api: str, field: str, value: str) -> None:
    # Python's str(0.00001) is '1e-05': an exponent stays.
    suggest = api + "projects/tiny/suggest"
    form = requests.post(suggest, data={"text": "a", field: value}, timeout=30)
    assert form.status_code == 200


def test_a_full_batch_of_documents_with_29_metadata_entries_each_is_taken(api: str) -> None:
    """32 documents of 19 metadata entries each were refused "send at most 32 documents": a
    document's allowance of counted values left room for 18. Past the allowance the 413 says
    what to cut: it said "send at most 32 documents" to a client that sent 32."""
    docs = [
        {"text": "rain", "document_id": str(i), "metadata": {f"k{k}": "v" for k in range(29)}}
        for i in range(32)
    ]
    answer = requests.post(api + "projects/tiny/suggest-batch", json={"documents": docs})
    assert answer.status_code == 200 and len(answer.json()) == 32
    for doc in docs:
        doc["metadata"]["k29"] = "v"
    answer = requests.post(api + "projects/tiny/suggest-batch", json={"documents": docs})
    assert answer.status_code == 413
    assert "each with at most 29 metadata entries" in answer.json()["error"]


@pytest.mark.parametrize(
    ("path", "kwargs", "detail"),
    [
        (  # before: 10 subjects, the query's limit ignored (as Annif ignores it)
            "projects/tiny/suggest?limit=1",
            {"data": {"text": "rain"}},
            "limit is a form field of suggest, not a query parameter",
        ),
        (  # before: 3 subjects, the form's limit, without a word
            "projects/tiny/suggest?limit=2",
            {"data": {"text": "rain", "limit": "3"}},
            "limit is a form field of suggest, not a query parameter",
        ),
        (
            "projects/tiny/suggest?bogus=1",
            {"data": {"text": "rain"}},
            "bogus: not a query parameter suggest takes (a typo?); it takes none",
        ),
        (  # before: 200
            "projects/tiny/suggest-batch?bogus=1",
            {"json": {"documents": [{"text": "rain"}]}},
            "bogus: not a query parameter suggest-batch takes (a typo?); it takes limit, "
            "threshold, language",
        ),
        (
            "projects/tiny/suggest-batch?limit=1&documents=x",
            {"json": {"documents": [{"text": "rain"}]}},
            "documents is a key of the JSON body of suggest-batch, not a query parameter",
        ),
    ],
)
def test_a_query_parameter_a_suggest_route_does_not_take_is_refused(
    api: str, path: str, kwargs: dict[str, Any], detail: str
) -> None:
    # attacker pass 34, server F4: the body refuses a key it does not take; the query now
    # does too, and says where a setting belongs.
    answer = requests.post(api + path, timeout=30, **kwargs)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == detail


def test_get_routes_ignore_query_parameters(api: str) -> None:
    # A GET changes nothing and takes no parameter; cache-busters (`?_=1700000000`) pass.
    for path in ("", "projects", "projects/tiny"):
        assert requests.get(api + path + "?_=1&x=2", timeout=30).status_code == 200


def test_an_empty_language_is_the_projects_own(api: str) -> None:
    # Before (attacker pass 35, server F4): 400 `language "" not supported by vocabulary`;
    # Annif reads an empty language as the project's (forms send optional fields empty).
    url = api + "projects/tiny/suggest"
    plain = requests.post(url, data={"text": "rain"}, timeout=30)
    empty = requests.post(url, data={"text": "rain", "language": ""}, timeout=30)
    assert empty.status_code == 200 and empty.json() == plain.json()
    batch = api + "projects/tiny/suggest-batch"
    documents = {"documents": [{"text": "rain"}]}
    plain = requests.post(batch, json=documents, timeout=30)
    empty = requests.post(batch + "?language=", json=documents, timeout=30)
    assert empty.status_code == 200 and empty.json() == plain.json()
