"""Terminal output of the commands besides evaluation: training summary, optimize trials and
explanations. Rendering only: every figure comes computed from the core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from topicclf.features.languages import describe_rules
from topicclf.reports.safe import escape, topic_cell


def render_training(
    console: Console, clf: Any, network: str, seconds: float, output: Path | str
) -> None:
    """What `train` made: model kind and size, time, validation figures, where it is."""
    val = clf.validation_report_
    info = clf.training_info_
    article = "an" if network[:1] in "aeiou" else "a"
    console.print(
        f"trained {article} {network} {clf.mode_} model on {info['documents']} documents "
        f"({len(clf.topics_)} topics) in {seconds:.1f}s"
    )
    if info.get("network_choice"):
        console.print(escape(info["network_choice"]))
    if info.get("analyzer"):
        console.print(f"languages: {escape(describe_rules(info['analyzer']))}")
    if info.get("stemming_choice"):
        console.print(
            "stemmers chosen on validation (nDCG@10 gain, standard error): "
            + ", ".join(
                f"{escape(name)} {c['stemmer']} ({c['ndcg@10 gain stemmed']:+.4f}, "
                f"{c['standard_error']:.4f}; {c['validation_documents']} documents)"
                for name, c in info["stemming_choice"].items()
            )
        )
    near = info.get("near_duplicates") or {}
    if near.get("documents"):
        console.print(
            f"near-duplicates: {near['documents']} documents in {near['groups']} groups, each "
            "group kept on one side of the validation split and in one fold"
        )
    console.print(
        f"validation ({val.n_documents} documents): micro-F1 {val.micro.f1:.4f}, "
        f"macro-F1 {val.macro.f1:.4f}"
    )
    console.print(f"model saved to {escape(str(output), limit=None)}")


def render_trials(console: Console, result: Any, folds: int) -> None:
    """The optimize trials, best first, with their cross-validated figures."""
    from topicclf.optimize import describe

    ran = len(result.trials)
    title = f"{ran} trials, {folds}-fold cross-validation, best first"
    if result.planned > ran:
        title += f" ({result.planned - ran} more planned; the time budget ran out)"
    table = Table(title=title)
    for col in ("trial", "micro-F1", "macro-F1", "settings"):
        table.add_column(col, justify="left" if col == "settings" else "right")
    for t in result.trials:
        table.add_row(str(t.number), f"{t.micro_f1:.4f}", f"{t.macro_f1:.4f}", escape(describe(t)))
    console.print(table)


def render_explanations(console: Console, explanations: list[Any]) -> None:
    """One table per topic: the terms that raised its score and those that lowered it."""
    if not explanations:
        console.print("no topic: every score is below its threshold")
    for e in explanations:
        # Terms and topics are text, not markup: a character n-gram prints as `[_cut]`.
        table = Table(title=f"{topic_cell(e.topic)} (score {e.score:.3f})")
        table.add_column("raised by", overflow="fold")
        table.add_column("weight", justify="right")
        table.add_column("lowered by", overflow="fold")
        table.add_column("weight", justify="right")
        for i in range(max(len(e.up), len(e.down))):
            up = e.up[i] if i < len(e.up) else ("", None)
            down = e.down[i] if i < len(e.down) else ("", None)
            table.add_row(
                escape(up[0]),
                f"{up[1]:+.4f}" if up[1] is not None else "",
                escape(down[0]),
                f"{down[1]:+.4f}" if down[1] is not None else "",
            )
        console.print(table)
