"""The page at / in a real headless Chromium (Debian's, driven by Selenium through Debian's
chromedriver: nothing is downloaded): a typed or chosen text gets the topics and scores
POST /tag gives it and the words `explain` gives, without the mouse; errors are shown on
the page; the Content-Security-Policy refuses nothing the page needs.

Skipped when Chromium is missing, except with TOPICCLF_REQUIRE_BROWSER=1 (CI), which fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from chromium import CHROMEDRIVER, CHROMIUM, FLAGS

from topicclf.classifier import TopicClassifier
from topicclf.config import BINARY_SNIFF_BYTES
from topicclf.corpus.base import CorpusFormatError, CorpusOptions, decode_text, refuse_binary
from topicclf.server import ServedModel, ServeOptions, serve_in_thread

WAIT = 30  # seconds any one thing on the page may take
MAX_BODY = 20_000


def _browser_or_skip() -> Any:
    """Selenium's webdriver module; skip (or fail when required) without the browser."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("the selenium package (the dev extra)")
        webdriver = None
    if missing:
        message = (
            f"browser test needs {', '.join(missing)} "
            "(apt-get install chromium chromium-driver; pip install -e '.[dev]')"
        )
        if os.environ.get("TOPICCLF_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return webdriver


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    webdriver = _browser_or_skip()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, "--window-size=1000,900"]:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        # The driver and browser are given, so Selenium Manager has nothing to find; offline,
        # it could not download one even if it tried.
        patch.setenv("SE_OFFLINE", "true")
        browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(WAIT)
    try:
        yield browser
    finally:
        browser.quit()


def test_a_missing_browser_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nowhere/chromium"))
    monkeypatch.delenv("TOPICCLF_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="browser test needs /nowhere/chromium"):
        _browser_or_skip()
    monkeypatch.setenv("TOPICCLF_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match=r"needs /nowhere/chromium \(apt-get install"):
        _browser_or_skip()


class _CannotExplain:
    """A model as an embedding network is served: it tags but cannot explain."""

    def __init__(self, classifier: TopicClassifier) -> None:
        self.classifier = classifier

    def __getattr__(self, name: str) -> Any:
        return getattr(self.classifier, name)

    def can_explain(self) -> bool:
        return False


@pytest.fixture(scope="module")
def models(
    tiny_dense: TopicClassifier, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ServedModel]:
    path = tmp_path_factory.mktemp("page") / "model"
    tiny_dense.save(path)
    clf = TopicClassifier.load(path)
    plain = _CannotExplain(clf)
    return {
        "model": ServedModel("model", path, clf),
        "plain": ServedModel("plain", path, plain),  # type: ignore[arg-type]
    }


def _serve(models: dict[str, ServedModel]) -> Any:
    return serve_in_thread(models, ServeOptions(port=0, max_body=MAX_BODY))


@pytest.fixture(scope="module")
def server(models: dict[str, ServedModel]) -> Iterator[str]:
    with _serve({"model": models["model"]}) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture(scope="module")
def two_models(models: dict[str, ServedModel]) -> Iterator[str]:
    with _serve(models) as (host, port):
        yield f"http://{host}:{port}"


def _tag(base: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(base + "/tag", data=data), timeout=30) as r:
        return dict(json.loads(r.read()))


def _as_shown(value: float, digits: int) -> str:
    """`value` as JavaScript's toFixed(digits) writes it (half away from zero, on the exact
    binary value), which Python's format (half to even) differs from on exact ties."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def _text_file(tmp_path: Path, name: str, text: str) -> Path:
    """A UTF-8 file of `text`, to give the page's file chooser."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _open(driver: Any, base: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # forget what earlier pages logged
    driver.get(base + "/")
    # The model list is loaded: the line describing the chosen model is filled.
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element("id", "model-info").text)


def _submitted(driver: Any, previous: str | None = None) -> str:
    """Wait until a new answer (summary) or error is shown; the text of the summary."""
    from selenium.webdriver.support.ui import WebDriverWait

    def answered(d: Any) -> bool:
        summary = d.find_element("id", "summary")
        error = d.find_element("id", "error")
        return error.is_displayed() or (summary.is_displayed() and summary.text != previous)

    WebDriverWait(driver, WAIT).until(answered)
    return str(driver.find_element("id", "summary").text)


def _error_shown(driver: Any, start: str) -> str:
    """Wait until the error box says something starting with `start`; all it says."""
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d: Any) -> bool:
        error = d.find_element("id", "error")
        return bool(error.is_displayed() and error.text.startswith(start))

    WebDriverWait(driver, WAIT).until(shown)
    return str(driver.find_element("id", "error").text)


def _shown_topics(driver: Any) -> list[dict[str, Any]]:
    """Each topic on the page: name, score as shown, words raising and lowering it."""
    shown = []
    for item in driver.find_elements("css selector", "#topics > li.topic"):
        scores = item.find_elements("css selector", ".score")

        def words(direction: str, item: Any = item) -> list[str]:
            terms = item.find_elements("css selector", f".why.{direction} .word .term")
            return [t.text for t in terms]

        shown.append(
            {
                "topic": item.find_element("css selector", ".topic-name").text,
                "data-topic": item.get_attribute("data-topic"),
                "score": scores[0].text if scores else None,
                "up": words("up"),
                "down": words("down"),
            }
        )
    return shown


def _expected(answer: dict[str, Any]) -> list[dict[str, Any]]:
    result = answer["results"][0]
    explained = {e["topic"]: e for e in result.get("explanations", [])}
    return [
        {
            "topic": topic,
            "data-topic": topic,
            "score": _as_shown(result["scores"][topic], 3),
            "up": [w["term"] for w in explained[topic]["up"]] if explained else [],
            "down": [w["term"] for w in explained[topic]["down"]] if explained else [],
        }
        for topic in result["labels"]
    ]


def _no_page_errors(driver: Any) -> None:
    """Nothing in the browser console: no refused script or style (CSP), no failed load."""
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []


def test_a_typed_text_gets_the_topics_and_words_of_the_api(driver: Any, server: str) -> None:
    from selenium.webdriver.common.keys import Keys

    _open(driver, server)
    assert driver.title == "topicclf: suggest topics"
    assert not driver.find_element("id", "model").is_displayed()  # one model: no chooser
    # Every control has a label that names it (screen readers, clicking the label).
    for control in driver.find_elements("css selector", "input, select, textarea"):
        name = control.get_attribute("id")
        labels = driver.find_elements("css selector", f"label[for='{name}']")
        assert len(labels) == 1 and labels[0].get_attribute("textContent").strip(), name
    text = "Rain and storms all week; the farmers fear for the bread harvest."
    box = driver.find_element("id", "text")
    box.send_keys(text)
    driver.find_element("id", "limit").send_keys("3")
    # Without the mouse: Tab to the button, Enter presses it.
    for _ in range(5):  # the button is a few Tabs after the limit field, never more
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if driver.switch_to.active_element.get_attribute("id") == "submit":
            break
    assert driver.switch_to.active_element.get_attribute("id") == "submit"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    summary = _submitted(driver)
    answer = _tag(server, {"text": text, "top_k": 3, "explain": 8})
    shown = _shown_topics(driver)
    assert shown == _expected(answer)
    assert shown and shown[0]["up"]  # the words that drove the first topic
    count = len(answer["results"][0]["labels"])
    assert summary.startswith(f"{count} topic{'s' if count > 1 else ''} from model model")
    assert not driver.find_element("id", "error").is_displayed()
    _no_page_errors(driver)


def test_a_chosen_or_dropped_file_is_read_and_tagged(
    driver: Any, server: str, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, server)
    text = "The striker scored a late goal in the cup final.\nThe crowd cheered.\n"
    path = _text_file(tmp_path, "match report.txt", text)
    driver.find_element("id", "file").send_keys(str(path))
    _submitted(driver)
    assert driver.find_element("id", "text").get_attribute("value") == text
    answer = _tag(server, {"text": text, "explain": 8})  # the model's own thresholds
    assert _shown_topics(driver) == _expected(answer)
    # A file dropped on the page (a drop event as the browser makes it for a file from the
    # desktop, which WebDriver cannot drag) is read and tagged the same way.
    dropped = "Rain and storms all week.\n"
    driver.execute_script(
        "const data = new DataTransfer();"
        "data.items.add(new File([arguments[0]], 'dropped.txt', {type: 'text/plain'}));"
        "for (const type of ['dragenter', 'dragover', 'drop']) {"
        "  arguments[1].dispatchEvent(new DragEvent(type,"
        "    {dataTransfer: data, bubbles: true, cancelable: true}));"
        "}",
        dropped,
        driver.find_element("id", "text"),
    )
    expected = _expected(_tag(server, {"text": dropped, "explain": 8}))
    assert expected != _expected(answer)  # so the wait below sees the new answer
    # (the list may be replaced while it is read)
    WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: _shown_topics(d) == expected
    )
    assert driver.find_element("id", "text").get_attribute("value") == dropped
    assert "dragging" not in (driver.find_element("id", "text").get_attribute("class") or "")
    _no_page_errors(driver)


def test_errors_are_shown_on_the_page(driver: Any, server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    _open(driver, server)
    box = driver.find_element("id", "text")
    box.send_keys("   ", Keys.CONTROL, Keys.ENTER)
    message = _error_shown(driver, "The text is empty")
    assert message == "The text is empty: paste a text or choose a file first."
    assert driver.find_element("id", "error").get_attribute("role") == "alert"
    driver.find_element("id", "limit").send_keys("0")
    box.send_keys("rain", Keys.CONTROL, Keys.ENTER)
    message = _error_shown(driver, "“Best N topics”")
    assert message == "“Best N topics” takes a whole number in digits, 1 or more, or nothing."
    # Number() took each of these (5.0 as 5, 1e21 sent as 1e+21: the server's 400); the
    # browser itself drops what a number box cannot hold ("+" of +3, "x" of 0x10).
    for typed in ("5.0", "1e2", "1e21", "-2"):
        driver.find_element("id", "limit").clear()
        driver.find_element("id", "limit").send_keys(typed)
        driver.execute_script("document.getElementById('error').textContent = ''")
        box.send_keys(Keys.CONTROL, Keys.ENTER)
        message = _error_shown(driver, "“Best N topics”")
        assert message.endswith("in digits, 1 or more, or nothing."), typed
    # 22 digits are a number past any model's topics: every topic, not the server's 400.
    driver.find_element("id", "limit").clear()
    driver.find_element("id", "limit").send_keys("1" + "0" * 21)
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    summary = _submitted(driver)
    assert not driver.find_element("id", "error").is_displayed()
    every = _tag(server, {"text": "   rain", "top_k": 10**21, "explain": 8})
    assert summary.startswith(f"{len(every['results'][0]['labels'])} topics from model")
    driver.find_element("id", "limit").clear()
    # A file larger than the server takes: the server's 413, in words.
    big = tmp_path / "big.txt"
    big.write_text("rain " * (MAX_BODY // 4), encoding="utf-8")
    driver.find_element("id", "file").send_keys(str(big))
    assert _error_shown(driver, "The server refused") == (
        f"The server refused the request (413): the body is larger than {MAX_BODY} bytes "
        "(--max-body)"
    )
    assert not driver.find_element("id", "results").is_displayed()
    # A file that is not text is refused before it is read.
    other = tmp_path / "scan.pdf"
    other.write_bytes(b"%PDF-1.4")
    driver.find_element("id", "file").send_keys(str(other))
    message = _error_shown(driver, "scan.pdf")
    assert message == "scan.pdf is not a text file: choose a .txt file."


def test_topic_names_and_words_are_shown_as_text_not_markup(driver: Any, server: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, server)
    hostile = "<img src=x onerror=alert(1)>"
    answer = {
        "model": "model",
        "milliseconds": 1.0,
        "results": [
            {
                "id": "0",
                "labels": [hostile],
                "scores": {hostile: 0.5},
                "explanations": [
                    {
                        "topic": hostile,
                        "score": 0.5,
                        "up": [{"term": hostile, "weight": 1}],
                        "down": [],
                    }
                ],
            }
        ],
    }
    # The page's own renderer, fed an answer holding markup: it must come out as text.
    driver.execute_script(
        "const real = window.fetch;"
        "window.fetch = async (url, init) => url === '/tag'"
        "  ? new Response(JSON.stringify(arguments[0]), {status: 200})"
        "  : real(url, init);",
        answer,
    )
    driver.find_element("id", "text").send_keys("anything")
    driver.find_element("id", "submit").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_elements("css selector", "#topics li"))
    assert driver.find_element("css selector", ".topic-name").text == hostile
    assert driver.find_element("css selector", ".word .term").text == hostile
    assert driver.find_elements("css selector", "#topics img") == []


def test_the_chooser_picks_among_several_models(driver: Any, two_models: str) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    _open(driver, two_models)
    chooser = Select(driver.find_element("id", "model"))
    assert driver.find_element("id", "model").is_displayed()
    assert [o.text for o in chooser.options] == ["model", "plain"]
    assert chooser.first_selected_option.text == "model"  # the first served: the default
    text = "Rain and storms all week."
    box = driver.find_element("id", "text")
    box.send_keys(text, Keys.CONTROL, Keys.ENTER)
    first = _submitted(driver)
    assert "from model model" in first
    assert any(t["up"] for t in _shown_topics(driver))
    # The keyboard reaches the chooser too; the second model cannot explain: no words.
    driver.find_element("id", "model").send_keys(Keys.ARROW_DOWN)
    assert chooser.first_selected_option.text == "plain"
    assert "cannot say which words drove its topics" in driver.find_element("id", "model-info").text
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    second = _submitted(driver, previous=first)
    assert "from model plain" in second
    answer = _tag(two_models, {"text": text, "model": "plain"})
    shown = _shown_topics(driver)
    assert shown == _expected(answer) and not any(t["up"] or t["down"] for t in shown)
    assert driver.find_elements("css selector", ".why") == []
    _no_page_errors(driver)


def test_the_readme_screenshot_script(
    models: dict[str, ServedModel], repo_root: Path, tmp_path: Path
) -> None:
    _browser_or_skip()
    png = tmp_path / "page.png"
    script = repo_root / "scripts" / "page_screenshot.py"
    done = subprocess.run(
        [sys.executable, str(script), "--model", str(models["model"].path), "--output", str(png)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {png} (980x")
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size < 200_000


# Topic names a model may hold (a name may have MAX_TOPIC_CHARS, 1,000): markup, a bidi
# override that would show "evil\u202eRTL" as "evilLTR", terminal controls, a name of 999
# characters and no space, tab and newline, a prototype's name.
HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>",
    "evil\u202eRTL",
    "esc\x1b]0;pwned\x07",
    "a" * 999,
    "tab\tand\nline",
    "__proto__",
]
LONG_TERM = "b" * 300  # a word of the 999-character topic: explain lists it


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    """A multi-label model whose topics are HOSTILE_NAMES, saved and loaded as served."""
    import warnings

    from conftest import tiny_config

    texts, labels = [], []
    for i, name in enumerate(HOSTILE_NAMES):
        for k in range(10):
            words = [f"w{i}x{(k + j) % 6}" for j in range(6)]
            if name == "a" * 999:
                words.append(LONG_TERM)
            texts.append(" ".join(words) + " common words")
            labels.append([name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = TopicClassifier(config=tiny_config(mode="multilabel", epochs=20)).fit(texts, labels)
    path = clf.save(tmp_path_factory.mktemp("hostile") / "hostile")
    return ServedModel("hostile", path, TopicClassifier.load(path))


@pytest.fixture(scope="module")
def hostile_server(hostile_model: ServedModel) -> Iterator[str]:
    with _serve({"hostile": hostile_model}) as (host, port):
        yield f"http://{host}:{port}"


def test_the_pages_escapes_are_those_of_every_other_output(driver: Any, server: str) -> None:
    """page.js's `visible` mirrors reports.safe.one_line: the same characters, the same forms."""
    from topicclf.reports.safe import one_line

    _open(driver, server)
    # Every code point of the BMP's first 0x3000 (controls, C1, U+2028, bidi, isolates) and
    # every surrogate (alone, as JSON can hold them), then whole strings: a pair is one
    # character to both (an emoji is kept), a lone surrogate beside text is escaped.
    points = [*range(0x3000), *range(0xD800, 0xE000), 0xFEFF, 0x1F600, 0x10FFFF]
    strings = [[p] for p in points] + [
        [ord(c) for c in text]
        for text in [
            *HOSTILE_NAMES,
            "x\ud800y\U0001f600z\udfff",
            "\u2066isolate\u2069 \u202alre\u202c \x9b31m \x85 \u2028\u2029 \x7f",
            "caf\u00e9 \u00a0 \u200b \u061c",
        ]
    ]
    shown = driver.execute_script(
        "return arguments[0].map((points) => visible(String.fromCodePoint(...points)));", strings
    )
    expected = [one_line("".join(map(chr, points))) for points in strings]
    differ = [(s, js, py) for s, js, py in zip(strings, shown, expected, strict=True) if js != py]
    assert differ == []
    assert one_line("evil\u202eRTL") == "evil\\u202eRTL"  # the rule itself, for the reader


def test_long_and_hostile_names_wrap_and_show_their_controls(
    driver: Any, hostile_server: str
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from topicclf.reports.safe import one_line

    _open(driver, hostile_server)
    text = " ".join(f"w{i}x{j}" for i in range(len(HOSTILE_NAMES)) for j in range(3))
    text += " " + LONG_TERM
    driver.find_element("id", "text").send_keys(text)
    driver.find_element("id", "limit").send_keys(str(len(HOSTILE_NAMES)))
    driver.find_element("id", "submit").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: len(d.find_elements("css selector", "#topics > li.topic")) == len(HOSTILE_NAMES)
    )
    answer = _tag(hostile_server, {"text": text, "top_k": len(HOSTILE_NAMES), "explain": 8})
    labels = answer["results"][0]["labels"]
    # As every other output shows them (one line, controls and bidi overrides as escapes);
    # the element keeps the exact name for scripts.
    items = driver.find_elements("css selector", "#topics > li.topic")
    names = [
        i.find_element("css selector", ".topic-name").get_attribute("textContent") for i in items
    ]
    assert names == [one_line(label) for label in labels]
    assert {"evil\\u202eRTL", "esc\\x1b]0;pwned\\x07", "tab\\x09and\\x0aline"} <= set(names)
    assert [i.get_attribute("data-topic") for i in items] == labels
    terms = [t.get_attribute("textContent") for t in driver.find_elements("css selector", ".term")]
    assert LONG_TERM in terms  # a long word in the explanation, wrapped as the names are
    # Nothing runs past the window: no horizontal scroll, each name beside its bar and score.
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width

    def box(element: Any) -> dict[str, float]:
        return dict(driver.execute_script("return arguments[0].getBoundingClientRect()", element))

    for item in items:
        card = box(item)
        name, meter, score = (
            box(item.find_element("css selector", selector))
            for selector in (".topic-name", "meter", ".score")
        )
        assert name["right"] <= meter["left"] and meter["width"] >= 40
        assert meter["right"] <= score["left"] and score["width"] > 0
        assert score["right"] <= card["right"]
        assert item.find_element("css selector", ".score").is_displayed()
        for term in item.find_elements("css selector", ".term"):
            assert box(term)["right"] <= card["right"]
    _no_page_errors(driver)


@pytest.fixture(scope="module")
def roomy_server(models: dict[str, ServedModel]) -> Iterator[str]:
    """The model, taking bodies of a few MB: a text that takes seconds to explain."""
    options = ServeOptions(port=0, max_body=8_000_000)
    with serve_in_thread({"model": models["model"]}, options) as (host, port):
        yield f"http://{host}:{port}"


def test_a_refused_submission_makes_older_answers_stale(driver: Any, roomy_server: str) -> None:
    """An answer to an earlier text never shows under the error of a later, refused one."""
    import time

    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, roomy_server)
    box = driver.find_element("id", "text")
    box.send_keys("Rain and storms all week.")
    driver.find_element("id", "submit").click()
    _submitted(driver)
    results = driver.find_element("id", "results")
    assert results.is_displayed()

    def answers() -> int:
        return int(
            driver.execute_script(
                "return performance.getEntriesByType('resource')"
                ".filter((e) => e.name.endsWith('/tag')).length"
            )
        )

    # A slow request (a text of 4 MB, explained: seconds), then the box emptied and the
    # form sent again, as Ctrl+Enter sends it while the button is disabled.
    driver.execute_script("arguments[0].value = 'rain and wind at the coast '.repeat(150000)", box)
    driver.find_element("id", "submit").click()
    done_before = driver.execute_script(
        "const before = performance.getEntriesByType('resource')"
        "  .filter((e) => e.name.endsWith('/tag')).length;"
        "arguments[0].value = '';"
        "document.getElementById('form').requestSubmit();"
        "return before;",
        box,
    )
    assert done_before == 1, "the slow request ended before the empty text was sent"
    message = _error_shown(driver, "The text is empty")
    assert not results.is_displayed()  # the first text's topics went with the new error
    WebDriverWait(driver, 120).until(lambda d: answers() == 2)  # the slow answer is back
    time.sleep(1)  # the page has read it (a few bytes of JSON) long before this
    assert not results.is_displayed()
    assert driver.find_element("id", "error").text == message
    assert driver.find_element("id", "submit").is_enabled()


def _tag_requests(driver: Any) -> int:
    """How many POST /tag requests the page has sent since it was opened."""
    return int(
        driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter((e) => e.name.endsWith('/tag')).length"
        )
    )


def _forget_summary(driver: Any) -> None:
    """Empty the shown summary, so that `_submitted(driver, "")` waits for the next answer
    even when it reads the same (the same text, the same milliseconds)."""
    driver.execute_script("document.getElementById('summary').textContent = ''")


def test_the_same_file_chosen_again_is_read_again(driver: Any, server: str, tmp_path: Path) -> None:
    """The browser fires no change for the file the input holds: the page empties it."""
    _open(driver, server)
    text = "The striker scored a late goal in the cup final.\n"
    path = _text_file(tmp_path, "B.txt", text)
    chooser = driver.find_element("id", "file")
    chooser.send_keys(str(path))
    first = _submitted(driver)
    box = driver.find_element("id", "text")
    assert box.get_attribute("value") == text
    box.clear()
    box.send_keys("something else entirely")
    sent = _tag_requests(driver)
    _forget_summary(driver)
    chooser.send_keys(str(path))
    second = _submitted(driver, previous="")
    assert box.get_attribute("value") == text
    assert _tag_requests(driver) == sent + 1
    assert second.split(" (")[0] == first.split(" (")[0]  # the file's topics again
    _no_page_errors(driver)


def test_a_file_not_in_utf8_is_refused_and_a_marked_utf16_one_read(
    driver: Any, server: str, tmp_path: Path
) -> None:
    """As `topicclf tag` refuses it: not tagged with U+FFFD in place of its letters."""
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, server)
    box = driver.find_element("id", "text")
    box.send_keys("typed before")
    latin1 = tmp_path / "L1.txt"
    latin1.write_bytes("café naïve résumé weather rain storm".encode("latin-1"))
    driver.find_element("id", "file").send_keys(str(latin1))
    message = _error_shown(driver, "L1.txt")
    assert message == "L1.txt is not UTF-8 text: save it as UTF-8 (or paste its text)."
    assert box.get_attribute("value") == "typed before"
    assert _tag_requests(driver) == 0  # nothing sent
    assert not driver.find_element("id", "results").is_displayed()
    # A byte order mark names the encoding: UTF-16 (Notepad's "Unicode") is read, the mark
    # dropped; bytes that encoding cannot decode (a lone surrogate) are refused by name.
    text = "café weather rain storm"
    for name, data in [
        ("le.txt", b"\xff\xfe" + text.encode("utf-16-le")),
        ("be.txt", b"\xfe\xff" + text.encode("utf-16-be")),
        ("sig.txt", text.encode("utf-8-sig")),
    ]:
        (tmp_path / name).write_bytes(data)
        _forget_summary(driver)
        driver.find_element("id", "file").send_keys(str(tmp_path / name))
        # (the summary, not `_submitted`: the error box may show until the file is taken)
        WebDriverWait(driver, WAIT).until(lambda d: d.find_element("id", "summary").text)
        assert not driver.find_element("id", "error").is_displayed(), name
        assert box.get_attribute("value") == text, name
    # UTF-16 without a mark is valid UTF-8 with a NUL between letters: it was tagged "no
    # topic" (attacker pass 43, server 1), where `topicclf tag` refuses it as binary.
    for name, data in [
        ("nobom.txt", text.encode("utf-16-le")),
        ("nobomBE.txt", text.encode("utf-16-be")),
    ]:
        (tmp_path / name).write_bytes(data)
        driver.find_element("id", "file").send_keys(str(tmp_path / name))
        assert _error_shown(driver, name) == (
            f"{name} looks like a binary file, or UTF-16 without a byte order mark (it "
            "contains NUL bytes): save it as UTF-8 (or paste its text)."
        )
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"\xff\xfe" + "rain ".encode("utf-16-le") + b"\x00\xd8")
    driver.find_element("id", "file").send_keys(str(broken))
    assert _error_shown(driver, "broken.txt") == (
        "broken.txt is not valid UTF-16LE text, which its byte order mark names: "
        "save it as UTF-8 (or paste its text)."
    )
    _no_page_errors(driver)


def test_an_older_files_read_ending_late_is_dropped(driver: Any, server: str) -> None:
    """A large file dropped, then a small one at once: the small one's text stays."""
    import time

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    _open(driver, server)
    small = "Rain and storms all week.\n"
    # Two drops in one script: the 15 MB read ends after the small one's, and without the
    # choice counter it replaced the small text (and sent a body the server refuses).
    driver.execute_script(
        "for (const file of [new File(['rain '.repeat(3000000)], 'large.txt'),"
        "                    new File([arguments[0]], 'small.txt')]) {"
        "  const data = new DataTransfer();"
        "  data.items.add(file);"
        "  window.dispatchEvent(new DragEvent('drop',"
        "    {dataTransfer: data, bubbles: true, cancelable: true}));"
        "}",
        small,
    )
    expected = _expected(_tag(server, {"text": small, "explain": 8}))
    WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: _shown_topics(d) == expected
    )
    time.sleep(1)  # the large file was read (15 MB from memory) long before this
    assert driver.find_element("id", "text").get_attribute("value") == small
    assert _tag_requests(driver) == 1
    assert not driver.find_element("id", "error").is_displayed()
    _no_page_errors(driver)


def _read_or_refused(driver: Any, path: Path) -> tuple[str, str]:
    """Give the page a file: ("read", the text box's value once the file's text is tagged)
    or ("refused", the error shown)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script(
        "const error = document.getElementById('error');"
        "error.hidden = true; error.textContent = '';"
        "document.getElementById('summary').textContent = '';"
    )
    driver.find_element("id", "file").send_keys(str(path))

    def done(d: Any) -> bool:
        error = d.find_element("id", "error")
        return bool(error.is_displayed() or d.find_element("id", "summary").text)

    WebDriverWait(driver, WAIT).until(done)
    error = driver.find_element("id", "error")
    if error.is_displayed():
        return "refused", str(error.text)
    return "read", str(driver.find_element("id", "text").get_attribute("value"))


def _as_tag_reads(path: Path) -> tuple[str, str]:
    """What `topicclf tag` makes of a text file, in `_read_or_refused`'s terms: its binary
    sniff and its decoding (the corpus helpers that own them)."""
    raw = path.read_bytes()
    try:
        refuse_binary(path, raw[:BINARY_SNIFF_BYTES], "utf-8")
    except CorpusFormatError:
        return "refused", (
            f"{path.name} looks like a binary file, or UTF-16 without a byte order mark (it "
            "contains NUL bytes): save it as UTF-8 (or paste its text)."
        )
    return "read", decode_text(raw, CorpusOptions())


def test_a_utf32_file_is_read_as_tag_reads_it(driver: Any, server: str, tmp_path: Path) -> None:
    """Its mark FF FE 00 00 begins with UTF-16LE's: the page read it as UTF-16, a NUL
    between letters, and said "no topic"; 00 00 FE FF was refused as binary (attacker pass
    46, server 1). TextDecoder has no UTF-32: the page decodes it, refusing what Python's
    codec refuses."""
    _open(driver, server)
    text = "The striker scored a late goal 😀 in the cup final.\ufeff"
    files = {
        "le.txt": text.encode("utf-32"),  # Python writes the mark and little-endian
        "be.txt": b"\x00\x00\xfe\xff" + text.encode("utf-32-be"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        assert _as_tag_reads(tmp_path / name) == ("read", text)
        assert _read_or_refused(driver, tmp_path / name) == ("read", text), name
        assert _shown_topics(driver) == _expected(_tag(server, {"text": text, "explain": 8}))
    # Units Python's codec refuses: a surrogate, past U+10FFFF, a length not a multiple of 4
    mark = b"\xff\xfe\x00\x00"
    for name, data in [
        ("surrogate.txt", mark + "rain ".encode("utf-32-le") + b"\x00\xd8\x00\x00"),
        ("past.txt", mark + "rain ".encode("utf-32-le") + b"\x00\x00\x11\x00"),
        ("cut.txt", mark + "rain ".encode("utf-32-le") + b"a\x00"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnicodeDecodeError):
            _as_tag_reads(tmp_path / name)
        assert _read_or_refused(driver, tmp_path / name) == (
            "refused",
            f"{name} is not valid UTF-32LE text, which its byte order mark names: "
            "save it as UTF-8 (or paste its text).",
        )
    _no_page_errors(driver)


def test_nul_bytes_refuse_a_file_as_tags_binary_sniff_does(
    driver: Any, server: str, tmp_path: Path
) -> None:
    """`refuse_binary`'s rule and thresholds: a NUL or two in UTF-8 text is read (the page
    refused any one NUL, attacker pass 46, server 3); many NULs and undecodable bytes in the
    first BINARY_SNIFF_BYTES, UTF-16 without a mark, a UTF-8 mark with NULs are refused."""
    script = (Path(__file__).parent.parent / "topicclf/server/static/page.js").read_text()
    assert f"const BINARY_SNIFF_BYTES = {BINARY_SNIFF_BYTES};" in script
    _open(driver, server)
    words = "The council voted to cut the museum budget. "
    long = (words * 400).encode()  # past BINARY_SNIFF_BYTES: its threshold is 81
    cases = {
        "one.txt": b"The council voted\0 to cut the museum budget.",
        "eight.txt": words.encode() + b"\0" * 8,
        "nine.txt": words.encode() + b"\0" * 9,
        "sig.txt": b"\xef\xbb\xbf" + words.encode() + b"\0" * 9,
        "undecodable.txt": words.encode() + b"\0" + b"\xff" * 8,
        "81.txt": b"\0" * 81 + long,
        "82.txt": b"\0" * 82 + long,
        "late.txt": long + b"\0" * 100,  # after the bytes looked at
        "nobom.txt": words.encode("utf-16-le"),
    }
    outcomes = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        expected = _as_tag_reads(tmp_path / name)
        assert _read_or_refused(driver, tmp_path / name) == expected, name
        outcomes[name] = expected[0]
    assert [n for n, o in outcomes.items() if o == "read"] == [
        "one.txt",
        "eight.txt",
        "81.txt",
        "late.txt",
    ]
    one = cases["one.txt"].decode()
    _read_or_refused(driver, tmp_path / "one.txt")
    assert _shown_topics(driver) == _expected(_tag(server, {"text": one, "explain": 8}))
    _no_page_errors(driver)


def test_a_files_characters_are_counted_as_python_counts_them(
    driver: Any, server: str, tmp_path: Path
) -> None:
    """Code points, not UTF-16 units: an emoji was 2 (attacker pass 46, server 4)."""
    _open(driver, server)
    text = "Rain 😀😀😀 and storms 𝔘 all week.\n"
    path = _text_file(tmp_path, "E.txt", text)
    # The line is replaced by "Suggesting topics…" as the text is sent: every text the
    # line is given is kept.
    driver.execute_script(
        "window.statusLines = [];"
        "new MutationObserver((records) => { for (const r of records) for (const n of"
        " r.addedNodes) window.statusLines.push(n.textContent); })"
        ".observe(document.getElementById('status'), {childList: true});"
    )
    assert _read_or_refused(driver, path) == ("read", text)
    lines = driver.execute_script("return window.statusLines")
    assert f"Read E.txt ({len(text)} characters)." in lines
    assert len(text) == 32
