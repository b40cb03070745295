from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from topicclf.errors import TopicclfError
from topicclf.metrics import error_examples, evaluate
from topicclf.metrics.comparison import compare as compare_reports
from topicclf.reports import write_report
from topicclf.reports.files import SCHEMA_VERSION

NAMES = ["alpha", "beta", "gamma|x", "delta"]
TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], dtype=bool)
PRED = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=bool)
SCORES = np.array(
    [[0.9, 0.1, 0.4, 0.6], [0.3, 0.8, 0.1, 0.2], [0.7, 0.45, 0.1, 0.05], [0.1, 0.2, 0.3, 0.9]]
)
CONTEXT = {
    "model": {
        "path": "models/x",
        "threshold_curve": {"thresholds": [0.1, 0.5, 0.9], "micro_f1": [0.5, 0.8, 0.4]},
        "global_threshold": 0.5,
    },
    "corpus": {"path": "test.jsonl", "format": "jsonl"},
}


@pytest.fixture(scope="module")
def report():
    import dataclasses

    zeta = np.array([[1], [0], [1], [0]])
    base = evaluate(TRUE, PRED, NAMES, scores=SCORES, unknown_truth=(["zeta"], zeta))
    examples = error_examples(TRUE, PRED, NAMES, ["d0", "d1", "d2", "d3"], ["a <b>", "", "", ""])
    return dataclasses.replace(base, examples=examples)


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                (self.images if tag == "img" else self.urls).append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def test_html_is_one_valid_offline_file(report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_report(report, path, CONTEXT)
    text = path.read_text()
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert checker.stack == []  # every element closed, properly nested
    assert len(checker.images) == 5  # F1/support, PR, threshold, counts, confusions
    assert all(src.startswith("data:image/png;base64,") for src in checker.images)
    assert checker.urls == []
    assert not re.search(r"https?://", text)
    assert "a &lt;b&gt;" in text  # document text is escaped
    assert "class=sortable" in text and "zeta (2)" in text


def test_json_schema(report, tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_report(report, path, CONTEXT)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) >= {
        "model",
        "corpus",
        "summary",
        "n_documents",
        "n_topics",
        "micro",
        "macro",
        "weighted",
        "samples",
        "per_topic",
        "hamming_loss",
        "subset_accuracy",
        "ranking",
        "confusions",
        "topics_without_support",
        "unknown_topics",
        "label_cardinality_true",
        "label_cardinality_predicted",
        "topics_per_document",
        "examples",
        "curves",
    }
    assert data["summary"]["micro_f1"] == pytest.approx(report.micro.f1)
    assert data["per_topic"][0] == {
        "topic": "alpha",
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
        "predicted": 2,
        "tp": 2,
        "fp": 0,
        "fn": 0,
        "known": True,
    }
    assert data["per_topic"][-1]["topic"] == "zeta" and data["per_topic"][-1]["known"] is False


def test_markdown_and_csv_escape(report, tmp_path: Path) -> None:
    md, cs = tmp_path / "r.md", tmp_path / "r.csv"
    write_report(report, md, CONTEXT)
    write_report(report, cs, CONTEXT)
    assert "| gamma\\|x |" in md.read_text()
    assert any(line.startswith("gamma|x,") for line in cs.read_text().splitlines())


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FORGED = ["red\x1b[31m", "rtl\u202eevil", "bell\x07", "c1\x9b2J", "back\\x1b"]


def test_markdown_and_html_show_control_characters_as_escapes(tmp_path: Path) -> None:
    # A forged corpus with topics like "red\x1b[31m" put raw ESC bytes into r.md: `cat r.md`
    # recoloured (or cleared, retitled) the reader's terminal.
    truth = np.array([[1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=bool)
    forged = evaluate(truth, truth, FORGED, scores=truth * 0.9)
    context = {"model": {"path": "m\x1b[2J"}, "corpus": {"path": "c\u202e.jsonl"}}
    md = tmp_path / "r.md"
    write_report(forged, md, context)
    text = md.read_text(encoding="utf-8")
    assert not CONTROL.search(text.replace("\n", ""))
    for shown in ["red\\x1b\\[31m", "rtl\\u202eevil", "bell\\x07", "c1\\x9b2J", "m\\x1b\\[2J"]:
        assert f"{shown}" in text
    assert "back\\\\x1b" in text  # a backslash typed in a name stays told apart
    page = tmp_path / "r.html"
    write_report(forged, page, context)
    html_text = page.read_text(encoding="utf-8")
    assert not CONTROL.search(html_text.replace("\n", "").replace("\t", ""))
    assert "red\\x1b[31m" in html_text and "rtl\\u202eevil" in html_text


MARKDOWN_SYNTAX = [
    "[click](javascript:alert(1))",
    "![x](http://attacker.example/pixel.png)",
    "**bold**",
    "_em_ *em*",
    "`code`",
    "~~gone~~",
    "<b>raw</b> &amp;",
    "# heading",
    "back\\slash | pipe",
    "<http://attacker.example>",
]
# Bare URLs and e-mail addresses, which GitHub's extended autolinks made live links.
AUTOLINKS = [
    "www.attacker.example/login",
    "see (WWW.attacker.example)",
    "https://attacker.example/phish",
    "HTTP://attacker.example",
    "ftp://attacker.example",
    "victim@attacker.example",
    "mailto:victim@attacker.example",
    "xmpp:victim@attacker.example",
]
# What GitHub's renderer (cmark-gfm) links: a scheme or `www.` matched in the Markdown as
# written (an escape between breaks it), an e-mail address in the text once parsed.
GFM_URL = re.compile(r"(?i)(?:https?|ftp)://|www\.")
GFM_EMAIL = re.compile(r"[A-Za-z0-9.+_-]@[A-Za-z0-9_-]+\.[A-Za-z0-9]")


def test_markdown_shows_markdown_syntax_in_names_as_text(tmp_path: Path) -> None:
    # A hostile corpus's topic "[click](javascript:alert(1))" was a live link in r.md and c.md,
    # "![x](http://...)" a remote image, once pasted into a pull request or a wiki.
    markdown_it = pytest.importorskip("markdown_it")
    from topicclf.metrics.comparison import Comparison, TopicDelta
    from topicclf.reports.compare import write_comparison

    # Attacker pass 25: bare URLs, `www.` names and e-mail addresses (AUTOLINKS) stayed text
    # that GitHub's extended autolinks made live links.
    names = [*MARKDOWN_SYNTAX, *AUTOLINKS]
    truth = np.eye(len(names), dtype=bool)
    hostile = evaluate(truth, truth, names, scores=truth * 0.9)
    model, corpus = "<img src=x onerror=alert(9)>[l](javascript:x)", "**c**.jsonl"
    context = {"model": {"path": model, "network": "[n](javascript:n)"}, "corpus": {"path": corpus}}
    write_report(hostile, tmp_path / "r.md", context)
    topics = [TopicDelta(name, 0.5, 0.9, 1, 1) for name in names]
    write_comparison(
        Comparison("https://a.example/m", "www.c.example", {}, topics, 0.005), tmp_path / "c.md"
    )
    renderer = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    for name in ("r.md", "c.md"):
        text = (tmp_path / name).read_text(encoding="utf-8").split("## Glossary")[0]
        page = renderer.render(text)
        for tag in ("<a ", "<img", "<em>", "<strong>", "<code>", "<s>", "<b>"):
            assert tag not in page, (name, tag)
        assert not GFM_URL.search(text), (name, GFM_URL.findall(text))
        assert not GFM_EMAIL.search(page), (name, GFM_EMAIL.findall(page))
        # Each value renders as its own characters, as a renderer escapes text for HTML (an
        # e-mail's '@' after an invisible word joiner).
        shown_page = page.replace("\u2060@", "@")
        paths = [model, corpus] if name == "r.md" else ["https://a.example/m", "www.c.example"]
        for shown in [*names, *paths]:
            assert html.escape(shown, quote=False) in shown_page, (name, shown)
    # The report's own words around the values stay plain Markdown.
    assert "(\\[n\\]\\(javascript\\:n\\))" in (tmp_path / "r.md").read_text(encoding="utf-8")


VISIBLE = ["esc\x1b]0;pwned\x07", "nul\x00", "ls\u2028ps\u2029", "csi\x9b2J", "cr\rx", "tab\tnl\n"]
# Every character visible_controls shows as an escape (tab and newline are left).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def test_report_csvs_and_the_comparison_page_show_control_characters_as_escapes(
    tmp_path: Path,
) -> None:
    # `report compare -o c.html/-o c.csv` and `evaluate -o r.csv` wrote a forged topic's ESC,
    # BEL and NUL raw (`cat c.csv` retitled the terminal); evaluate's HTML showed `\x1b`.
    import csv

    from topicclf.reports.compare import write_comparison
    from topicclf.reports.safe import visible_controls

    truth = np.eye(len(VISIBLE), dtype=bool)
    forged = evaluate(truth, truth, VISIBLE, scores=truth * 0.9)
    for suffix in ("csv", "html", "json"):
        write_report(forged, tmp_path / f"a.{suffix}", CONTEXT)
    b = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    for row in b["per_topic"]:
        row["f1"] = 0.0
    (tmp_path / "b.json").write_text(json.dumps(b), encoding="utf-8")
    comparison = compare_reports(tmp_path / "a.json", tmp_path / "b.json")
    for suffix in ("csv", "html", "json"):
        write_comparison(comparison, tmp_path / f"c.{suffix}")
    shown = sorted(visible_controls(name) for name in VISIBLE)
    for name in ("a.csv", "c.csv", "a.html", "c.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not RAW.search(text), name
        assert "esc\\x1b]0;pwned\\x07" in text and "ls\\u2028ps\\u2029" in text, name
    for name in ("a.csv", "c.csv"):
        with (tmp_path / name).open(newline="", encoding="utf-8") as handle:
            assert sorted(row[0] for row in list(csv.reader(handle))[1:]) == shown, name
    # JSON is the data: it escapes controls itself, and reads back the exact names.
    for name in ("a.json", "c.json"):
        data = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        rows = data["per_topic"] if name == "a.json" else data["topics"]
        assert sorted(row["topic"] for row in rows) == sorted(VISIBLE), name


def test_unknown_extension(report, tmp_path: Path) -> None:
    with pytest.raises(TopicclfError, match=r"unknown report format \.pdf; use one of"):
        write_report(report, tmp_path / "r.pdf", CONTEXT)


ODD = ["$x^$", "a\nb|c", 'p,q "r"', "x\ry", "[/red]", "back\\|slash"]


@pytest.fixture(scope="module")
def odd_report():
    rng = np.random.default_rng(0)
    truth = rng.random((12, len(ODD))) < 0.5
    truth[0] = True  # every topic has support, so each one is plotted and labelled
    pred = rng.random((12, len(ODD))) < 0.5
    scores = rng.random((12, len(ODD)))
    unknown = np.array([[1]] + [[0]] * 11)
    return evaluate(truth, pred, ODD, scores=scores, unknown_truth=(["$$|\n"], unknown))


def test_markdown_table_survives_newlines_and_pipes(odd_report, tmp_path: Path) -> None:
    path = tmp_path / "odd.md"
    write_report(odd_report, path, CONTEXT)
    lines = path.read_text().splitlines()
    start = lines.index("| topic | precision | recall | F1 | support |")
    table = lines[start : start + 2 + len(ODD) + 1]
    # Every row is one line with five cells: no unescaped | and no line break inside.
    assert all(len(re.split(r"(?<!\\)\|", row)) == 7 for row in table)
    assert "| a<br>b\\|c |" in path.read_text()
    assert "back\\\\\\|slash" in path.read_text()
    assert "x<br>y" in path.read_text()
    assert "\\$\\$\\|<br> (unknown to the model)" in path.read_text()


def test_html_plots_take_dollar_signs_literally(odd_report, tmp_path: Path) -> None:
    import matplotlib

    path = tmp_path / "odd.html"
    with matplotlib.rc_context({"text.usetex": True}):  # as a user's matplotlibrc might
        write_report(odd_report, path, CONTEXT)
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 5
    assert "$x^$" in text and "[/red]" in text


def test_csv_quotes_separators_quotes_and_line_breaks(odd_report, tmp_path: Path) -> None:
    import csv

    path = tmp_path / "odd.csv"
    write_report(odd_report, path, CONTEXT)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][-1] == "known" and all(len(row) == len(rows[0]) for row in rows)
    # A lone \r, which moves a terminal's cursor, is shown as the HTML report shows it.
    assert [row[0] for row in rows[1:]] == [*ODD[:3], "x\\x0dy", *ODD[4:], "$$|\n"]
    assert [row[-1] for row in rows[1:]] == ["yes"] * len(ODD) + ["no"]


def test_terminal_takes_brackets_literally(odd_report) -> None:
    from rich.console import Console

    from topicclf.reports.terminal import render_confusion_matrix, render_evaluation

    console = Console(record=True, width=200)
    render_evaluation(console, odd_report)
    multiclass = {"labels": ODD[:2] + ["[/red]"], "confusion_matrix": [[1, 0, 0]] * 3}
    render_confusion_matrix(console, multiclass)
    text = console.export_text()
    assert "[/red]" in text and "$$|" in text and "macro_seen" in text and "lrap" in text


def test_terminal_tables_cut_a_long_topic_name_with_its_length() -> None:
    # Pass 46: a 1,000-character name (the longest a corpus may give) folded over 34 rows
    # of `evaluate`'s and `corpus stats`' tables; cut as `report compare` cuts names.
    from rich.console import Console

    from topicclf.corpus.stats import corpus_stats
    from topicclf.reports.terminal import render_evaluation, render_stats
    from topicclf.types import Document

    long = "T" * 1000
    truth = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    report = evaluate(truth, truth, [long, "b"], unknown_truth=([long + "x"], truth[:, :1]))
    stats = corpus_stats([Document("1", "rain", (long,)), Document("2", "oil", ("b",))])
    for render, shown in ((render_evaluation, report), (render_stats, stats)):
        console = Console(record=True, width=120)
        render(console, shown)  # type: ignore[operator]
        lines = console.export_text().splitlines()
        # Four rows a name at most (the evaluation shows two, and the list of unknown topics).
        assert sum("TTT" in line for line in lines) <= 10, render
        assert "... (1,000" in "".join(lines), render  # the cell may fold before "characters"


def test_new_figures_and_glossary_are_rendered(report, tmp_path: Path) -> None:
    md, page, js = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.json"
    for path in (md, page, js):
        write_report(report, path, CONTEXT)
    data = json.loads(js.read_text())
    assert data["figures_version"] == 3 and data["conventions"]["zero_division"] == 0.0
    assert data["conventions"]["unknown_topic_score"] == -1.0
    assert data["summary"]["macro_seen_f1"] == pytest.approx(report.macro_seen.f1)
    for name in ("lrap", "coverage_error", "label_ranking_loss", "ndcg@1", "precision@1"):
        assert data["summary"][name] == pytest.approx(report.ranking[name])
    for text in (md.read_text(), page.read_text()):
        assert "macro_seen" in text and "coverage_error" in text and "label_ranking_loss" in text
        assert "zero_division=0" in text and "precision@1 equals ndcg@1" in text
        assert "zeta (unknown to the model)" in text


def test_every_summary_figure_has_a_glossary_entry_and_is_in_every_renderer(
    report, tmp_path: Path
) -> None:
    import dataclasses

    from rich.console import Console

    from topicclf.metrics import AVERAGES, SUMMARY, summary_figures
    from topicclf.reports.glossary import GLOSSARY
    from topicclf.reports.terminal import render_evaluation

    names = [*AVERAGES, *(figure.name for figure in SUMMARY)]
    assert not [name for name in names if name not in GLOSSARY], "figures with no glossary entry"
    # A multi-class report has every figure of the table.
    full = dataclasses.replace(
        report, multiclass={"accuracy": 0.625, "labels": NAMES, "confusion_matrix": [[0] * 4] * 4}
    )
    assert [f.name for f, _ in summary_figures(full)] == [f.name for f in SUMMARY]
    console = Console(record=True, width=200)
    render_evaluation(console, full)
    rendered = {"terminal": console.export_text()}
    for suffix in ("md", "html", "json"):
        write_report(full, tmp_path / f"r.{suffix}", CONTEXT)
        rendered[suffix] = (tmp_path / f"r.{suffix}").read_text()
    for where, text in rendered.items():
        for figure, value in summary_figures(full):
            shown = figure.name if where == "json" else figure.label
            assert shown.lower() in text.lower(), f"{figure.name} missing from the {where} report"
            assert f"{value:.4f}" in text or where == "json"
        for scheme in AVERAGES:
            assert scheme in text, f"{scheme} missing from the {where} report"
    assert json.loads(rendered["json"])["summary"]["accuracy"] == 0.625


def test_a_large_vocabulary_leads_with_the_subject_indexing_figures(tmp_path: Path) -> None:
    from rich.console import Console

    from topicclf.config import LIBRARY_FIGURES_FROM_TOPICS
    from topicclf.metrics import LIBRARY, library_figures
    from topicclf.reports.terminal import render_evaluation

    rng = np.random.default_rng(0)
    n = LIBRARY_FIGURES_FROM_TOPICS
    truth = rng.random((30, n)) < 0.01
    scores = rng.random((30, n))
    report = evaluate(truth, scores > 0.99, [f"s{j}" for j in range(n)], scores=scores)
    figures = library_figures(report)
    assert [name for name, _ in figures] == [*LIBRARY, "micro_f1"]
    assert dict(figures)["micro_f1"] == report.micro.f1
    console = Console(record=True, width=200)
    render_evaluation(console, report)
    rendered = {"terminal": console.export_text()}
    for suffix in ("md", "html"):
        write_report(report, tmp_path / f"r.{suffix}", CONTEXT)
        rendered[suffix] = (tmp_path / f"r.{suffix}").read_text()
    for where, text in rendered.items():
        first = text.index("f1@5")
        assert first < text.index("macro_seen"), f"{where}: library figures are not first"
        assert f"{dict(figures)['ndcg@10']:.4f}" in text
    # A small vocabulary keeps its usual order: F1@5 among the ranking figures only.
    small = evaluate(TRUE, PRED, NAMES, scores=SCORES)
    assert library_figures(small) == [] and "f1@5" in small.ranking


def test_a_batched_multi_class_report_has_accuracy_and_no_matrix_in_every_renderer(
    tmp_path: Path,
) -> None:
    from rich.console import Console

    from topicclf.metrics import Evaluation
    from topicclf.reports.terminal import render_evaluation

    names = ["a", "b", "c"]
    truth = np.eye(3, dtype=bool)[[0, 1, 2, 0, 1, 2]]
    pred = np.eye(3, dtype=bool)[[0, 1, 1, 0, 2, 2]]
    evaluation = Evaluation(names, multiclass=True)
    for part in (slice(0, 4), slice(4, 6)):
        evaluation.add(truth[part], pred[part], scores=pred[part].astype(float))
    report = evaluation.report()
    assert report.multiclass == {"accuracy": 4 / 6, "documents_with_several_true_topics": 0}
    console = Console(record=True, width=200)
    render_evaluation(console, report)
    assert "accuracy (multi-class) 0.6667" in console.export_text()
    for suffix in ("md", "html", "json"):
        write_report(report, tmp_path / f"r.{suffix}", CONTEXT)
        assert "0.6667" in (tmp_path / f"r.{suffix}").read_text() or suffix == "json"


def test_a_report_csv_shows_formula_like_names_as_text_in_a_spreadsheet(tmp_path: Path) -> None:
    # A forged model's topic "=HYPERLINK(...)" ran as a formula when r.csv was opened.
    import csv

    names = ['=HYPERLINK("http://x")', "+1 rain", "-ve", "@sum", "plain", "-0.5"]
    truth = np.eye(len(names), dtype=bool)
    path = tmp_path / "r.csv"
    write_report(evaluate(truth, truth, names, scores=truth * 0.9), path, CONTEXT)
    with path.open(newline="", encoding="utf-8") as handle:
        shown = [row[0] for row in csv.reader(handle)][1:]
    assert shown == ['\'=HYPERLINK("http://x")', "'+1 rain", "'-ve", "'@sum", "plain", "-0.5"]


def test_model_titles_and_file_rows_are_one_line_with_their_bytes_escaped() -> None:
    from rich.console import Console

    from topicclf.reports.terminal import render_info, render_verification

    # A model directory named "nl\nmodel" split the title over two lines, and one named with
    # the undecodable byte 0x9B (os.fsdecode: U+DC9B) wrote the raw 8-bit CSI.
    console = Console(record=True, width=200, soft_wrap=True)
    render_info(console, {"path": "nl\nmodel\udc9b", "mode": "multilabel"})
    report = {
        "path": "m\nx",
        "format version": 3,
        "hashes recorded": True,
        "files": {"labels.json": "OK", "d\udc9b31m": "not recorded in the manifest (never read)"},
        "mismatched": [],
        "more unrecorded files": 20_000,
    }
    render_verification(console, report)
    text = console.export_text()
    assert "nl\\x0amodel\\udc9b" in text and "m\\x0ax: files against the manifest" in text
    assert "d\\udc9b31m" in text and "\udc9b" not in text
    assert re.search(r"\.\.\. and 20,000 more\s*│\s*not recorded in the manifest", text)


def test_documents_left_out_of_confusions_are_said_only_when_there_are_some(
    report, tmp_path: Path
) -> None:
    import dataclasses

    from rich.console import Console

    from topicclf.reports.terminal import render_evaluation

    said = "left out of the confusions: 3 document(s) of more than 400 missed x wrongly given"
    for left_out in (0, 3):
        shown = dataclasses.replace(report, documents_left_out_of_confusions=left_out)
        console = Console(record=True, width=300)
        render_evaluation(console, shown)
        texts = [console.export_text()]
        for suffix in ("md", "html"):
            write_report(shown, tmp_path / f"r{left_out}.{suffix}", CONTEXT)
            texts.append((tmp_path / f"r{left_out}.{suffix}").read_text())
        assert all((said in text) == (left_out > 0) for text in texts)
        assert all(("left out of the confusions" in text) == (left_out > 0) for text in texts)
        write_report(shown, tmp_path / f"r{left_out}.json", CONTEXT)
        data = json.loads((tmp_path / f"r{left_out}.json").read_text())
        assert data["documents_left_out_of_confusions"] == left_out


@pytest.mark.parametrize(
    ("source", "words"),
    [("corpus", "from the corpus's language field"), ("model", "as the model tells them")],
)
def test_figures_by_language_say_where_the_languages_came_from(
    report, source: str, words: str, tmp_path: Path
) -> None:
    # The terminal title said "as the model tells them" for languages the corpus gave
    # (attacker pass 24); the files did not say at all.
    import dataclasses

    from rich.console import Console

    from topicclf.reports.terminal import render_evaluation

    figures = {"documents": 4, "micro_f1": 0.5}
    langs = dataclasses.replace(report, by_language={"english": figures}, languages_from=source)
    console = Console(record=True, width=200)
    render_evaluation(console, langs)
    # A title wider than its table wraps: read it as words.
    assert f"by language ({words})" in " ".join(console.export_text().split())
    md, page = tmp_path / "r.md", tmp_path / "r.html"
    for path in (md, page):
        write_report(langs, path, CONTEXT)
    assert f"## By language\n\nLanguages {words}.\n" in md.read_text(encoding="utf-8")
    assert f"<h2>By language</h2><p>Languages {html.escape(words)}.</p>" in page.read_text(
        encoding="utf-8"
    )
