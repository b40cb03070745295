"""A self-contained HTML evaluation report: inline CSS, a sortable table, embedded PNG plots.

Matplotlib draws every plot (Agg backend, no display); the PNGs are embedded as data URIs,
so the file renders offline and can be mailed or attached to a review as one file.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from topicclf.metrics import AVERAGES, EvaluationReport, library_figures, summary_figures
from topicclf.reports.files import (
    evaluated,
    figure_text,
    languages_from,
    left_out_of_confusions,
)
from topicclf.reports.glossary import CONVENTIONS_TEXT, GLOSSARY
from topicclf.reports.safe import visible_controls


def html_text(value: str) -> str:
    """Text for an HTML report (evaluation or comparison): HTML-escaped, and control characters
    and bidi overrides shown as escapes (a forged topic name must not reorder the page or
    reach `cat r.html`)."""
    return html.escape(visible_controls(str(value)))


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f5f5f5;cursor:pointer;user-select:none}
td.weak{color:#b00020;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1rem}
figure{margin:0}figcaption{font-size:.85rem;color:#555}
img{max-width:100%}.meta{color:#555;font-size:.9rem}
.doc{border:1px solid #eee;border-radius:6px;padding:.6rem;margin:.5rem 0}
.fp{color:#b00020}.fn{color:#1a5fb4}code{background:#f5f5f5;padding:0 .2rem}
dt{font-weight:600;margin-top:.4rem}dd{margin:0 0 0 1rem;color:#444}
"""

_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, col) => {
  th.addEventListener('click', () => {
    const body = th.closest('table').tBodies[0];
    const rows = Array.from(body.rows);
    const asc = th.dataset.asc !== 'true';
    th.dataset.asc = asc;
    rows.sort((a, b) => {
      const x = a.cells[col].dataset.v ?? a.cells[col].textContent;
      const y = b.cells[col].dataset.v ?? b.cells[col].textContent;
      const nx = parseFloat(x), ny = parseFloat(y);
      const cmp = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
      return asc ? cmp : -cmp;
    });
    rows.forEach(r => body.appendChild(r));
  });
});
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(png: str, caption: str) -> str:
    return (
        f'<figure><img alt="{html_text(caption)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html_text(caption)}</figcaption></figure>"
    )


def _plain(text: str) -> str:
    """A topic name as matplotlib text: a `$` would otherwise start mathtext (and `$x^$` fail)."""
    # Control characters other than \n have no glyph and only draw warnings.
    text = "".join(c if c == "\n" or c.isprintable() else " " for c in text)
    return text.replace("$", r"\$")


def _plots(report: EvaluationReport, context: dict[str, Any]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    # A user's matplotlibrc may ask for LaTeX, which would choke on topic names (and need TeX).
    with matplotlib.rc_context({"text.usetex": False}):
        return _draw(report, context)


def _draw(report: EvaluationReport, context: dict[str, Any]) -> list[str]:
    import matplotlib.pyplot as plt

    figures = []
    topics = [t for t in report.per_topic if t.support > 0]
    if topics:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter([t.support for t in topics], [t.f1 for t in topics], alpha=0.7)
        ax.set_xscale("log")
        ax.set_xlabel("support (test documents, log scale)")
        ax.set_ylabel("F1")
        ax.set_ylim(-0.02, 1.02)
        for t in sorted(topics, key=lambda t: -t.support)[:8]:
            ax.annotate(_plain(t.topic), (t.support, t.f1), fontsize=7, alpha=0.8)
        ax.grid(alpha=0.3)
        figures.append(_figure(_png(fig), "F1 of each topic against its support"))
    if report.curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, curve in report.curves.items():
            style = {"linewidth": 2.5, "color": "black"} if name == "micro" else {"alpha": 0.8}
            ax.plot(curve["recall"], curve["precision"], label=_plain(name), **style)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        figures.append(
            _figure(_png(fig), "Precision-recall curves: micro average and the largest topics")
        )
    curve = context.get("model", {}).get("threshold_curve")
    if curve:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(curve["thresholds"], curve["micro_f1"], label="micro-F1 (validation)")
        chosen = context["model"].get("global_threshold")
        if chosen is not None:
            ax.axvline(chosen, color="red", linestyle="--", label=f"chosen {chosen:.3f}")
        ax.set_xlabel("global threshold")
        ax.set_ylabel("micro-F1 on the validation split")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        figures.append(
            _figure(_png(fig), "F1 against the threshold on the validation split (training data)")
        )
    return figures + _count_plots(report)


def _count_plots(report: EvaluationReport) -> list[str]:
    import matplotlib.pyplot as plt

    figures = []
    counts = report.topics_per_document
    if counts:
        keys = sorted({int(k) for part in counts.values() for k in part})
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.4
        for offset, name in ((-width / 2, "true"), (width / 2, "predicted")):
            ax.bar(
                [k + offset for k in keys],
                [counts.get(name, {}).get(str(k), 0) for k in keys],
                width=width,
                label=name,
            )
        ax.set_xlabel("topics per document")
        ax.set_ylabel("documents")
        ax.set_xticks(keys)
        ax.legend(fontsize=8)
        figures.append(_figure(_png(fig), "Topics per document: true against predicted"))
    if report.confusions:
        top = report.confusions[:12][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(top) + 1))
        pairs = [_plain(f"{c['true']} → {c['predicted']}") for c in top]
        # Positions, not the names, place the bars: two pairs may print the same.
        ax.barh(range(len(top)), [c["count"] for c in top], tick_label=pairs)
        ax.set_xlabel("documents (true topic missed → wrong topic given)")
        figures.append(_figure(_png(fig), "Most frequent confusions"))
    return figures


def _confusion_matrix(multiclass: dict[str, Any]) -> str:
    labels = [html_text(x) for x in multiclass["labels"]]
    head = "".join(f"<th>{x}</th>" for x in labels)
    body = "".join(
        f"<tr><td>{labels[i]}</td>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
        for i, row in enumerate(multiclass["confusion_matrix"])
    )
    return (
        "<table><caption>confusion matrix (rows true, columns predicted)</caption>"
        f"<thead><tr><th>true</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _topic_rows(report: EvaluationReport) -> str:
    rows = []
    for t in sorted(report.per_topic, key=lambda t: (-t.support, t.topic)):
        weak = ' class="weak"' if t.f1 < 0.5 and (t.support or t.predicted) else ""
        rows.append(
            f"<tr><td>{html_text(t.topic)}{'' if t.known else ' (unknown to the model)'}</td>"
            f"<td>{t.precision:.3f}</td>"
            f"<td>{t.recall:.3f}</td><td{weak}>{t.f1:.3f}</td><td>{t.support}</td>"
            f"<td>{t.predicted}</td><td>{t.tp}</td><td>{t.fp}</td><td>{t.fn}</td></tr>"
        )
    return "\n".join(rows)


def _examples(report: EvaluationReport) -> str:
    parts = []
    for ex in report.examples:
        fps = ", ".join(html_text(x) for x in ex["false_positives"]) or "none"
        fns = ", ".join(html_text(x) for x in ex["false_negatives"]) or "none"
        explained = ""
        for topic, terms in ex.get("explanations", {}).items():
            shown = ", ".join(f"{html_text(w)} ({v:+.3f})" for w, v in terms[:6])
            explained += f"<div class=meta>why {html_text(topic)}: {shown}</div>"
        parts.append(
            f'<div class="doc"><b>{html_text(str(ex["id"]))}</b> '
            f"<span class=meta>true: {html_text(', '.join(ex['true']) or 'none')}; "
            f"predicted: {html_text(', '.join(ex['predicted']) or 'none')}</span><br>"
            f"<span class=fp>false positives: {fps}</span> · "
            f"<span class=fn>false negatives: {fns}</span>"
            f"<p>{html_text(ex['text'])}</p>{explained}</div>"
        )
    return "\n".join(parts) or "<p>No errors among the evaluated documents.</p>"


def _glossary() -> str:
    terms = "".join(
        f"<dt>{html_text(name)}</dt><dd>{html_text(text)}.</dd>" for name, text in GLOSSARY.items()
    )
    return f"<p class=meta>{html_text(CONVENTIONS_TEXT)}</p><dl>{terms}</dl>"


def to_html(report: EvaluationReport, context: dict[str, Any]) -> str:
    """The whole report as one self-contained HTML page."""
    summary_rows = "".join(
        f"<tr><td>{scheme}</td><td>{a.precision:.4f}</td><td>{a.recall:.4f}</td>"
        f"<td>{a.f1:.4f}</td></tr>"
        for scheme in AVERAGES
        for a in (getattr(report, scheme),)
    )
    ranking = "".join(
        f"<tr><td>{html_text(k)}</td><td>{v:.4f}</td></tr>" for k, v in report.ranking.items()
    )
    multiclass = report.multiclass
    extra = _confusion_matrix(multiclass) if "confusion_matrix" in multiclass else ""
    figures = " · ".join(f"{html_text(f.label)} {v:.4f}" for f, v in summary_figures(report))
    unknown = ""
    if report.unknown_topics or report.topics_without_support:
        unknown = (
            "<p class=meta>Topics unknown to the model (counted as misses): "
            + html_text(", ".join(f"{k} ({v})" for k, v in report.unknown_topics.items()) or "none")
            + ". Model topics absent from this corpus: "
            + html_text(", ".join(report.topics_without_support) or "none")
            + ".</p>"
        )
    left_out = "".join(f" · {html_text(text)}" for text in left_out_of_confusions(report))
    plots = "\n".join(_plots(report, context))
    library = "".join(
        f"<tr><td>{html_text(name)}</td><td>{value:.4f}</td></tr>"
        for name, value in library_figures(report)
    )
    if library:
        library = (
            "<table><thead><tr><th>subject indexing figure</th><th>value</th></tr></thead>"
            f"<tbody>{library}</tbody></table>"
        )
    by_language = ""
    if report.by_language:
        names = list(next(iter(report.by_language.values())))
        head = "".join(f"<th>{html_text(n)}</th>" for n in names)
        rows = "".join(
            f"<tr><td>{html_text(language)}</td>"
            + "".join(f"<td>{figure_text(figures.get(n))}</td>" for n in names)
            + "</tr>"
            for language, figures in report.by_language.items()
        )
        source = languages_from(report)
        by_language = (
            "<h2>By language</h2>"
            + (f"<p>Languages {html_text(source)}.</p>" if source else "")
            + f"<table><thead><tr><th>language</th>{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>topicclf evaluation report</title><style>{_CSS}</style></head>
<body>
<h1>Evaluation report</h1>
<p class=meta>{" · ".join(html_text(line) for line in evaluated(context))} ·
{report.n_documents} documents · {report.n_topics} topics</p>
<h2>Summary</h2>
{library}
<div class=grid><div>
<table><thead><tr><th>average</th><th>precision</th><th>recall</th><th>F1</th></tr></thead>
<tbody>{summary_rows}</tbody></table>
{extra}
<p>{figures[:1].upper()}{figures[1:]} ·
topics per document {report.label_cardinality_true:.2f} true,
{report.label_cardinality_predicted:.2f} predicted · documents without a predicted topic
{report.documents_without_prediction}, without a true topic
{report.documents_without_true_topic}{left_out}</p>{unknown}
</div><div>
<table><thead><tr><th>ranking metric</th><th>value</th></tr></thead>
<tbody>{ranking}</tbody></table></div></div>
{by_language}
<h2>Plots</h2>
<div class=grid>{plots}</div>
<h2>Per topic</h2>
<p class=meta>Click a column to sort. F1 below 0.5 in red.</p>
<table class=sortable><thead><tr><th>topic</th><th>precision</th><th>recall</th><th>F1</th>
<th>support</th><th>predicted</th><th>tp</th><th>fp</th><th>fn</th></tr></thead>
<tbody>
{_topic_rows(report)}
</tbody></table>
<h2>Example errors</h2>
{_examples(report)}
<h2>Glossary</h2>
{_glossary()}
<script>{_SORT_JS}</script>
</body></html>
"""
