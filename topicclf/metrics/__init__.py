"""Evaluation figures from 0/1 matrices and scores, equal to scikit-learn's; gates on them.

Conventions, the same in every figure:
- zero_division=0: a precision, recall or F1 whose denominator is empty is 0.0.
- Topics of the evaluation corpus that the model does not know ("unknown topics") are extra
  truth columns that are never predicted and are scored UNKNOWN_SCORE (-1.0, below every score
  a model gives), so they count as misses everywhere, exactly as scikit-learn counts them when
  fed the extended matrices (a ranking of k places or more than the model has topics takes
  them in, as it takes every topic).
- Tied scores are averaged in P@k, R@k and nDCG@k (see ranking.hits_at_k).
The summary figures every report shows, in order, are the tables AVERAGES and SUMMARY.
Neighbours: `ranking` (P@k, nDCG, LRAP), `mistakes` (confusions, error examples) and
`comparison` (two reports side by side). Never prints; never touches a model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from topicclf.config import (
    CONFUSION_MATRIX_TOPICS,
    LIBRARY_FIGURES_FROM_TOPICS,
    PLAIN_DECIMAL,
    shown,
)
from topicclf.errors import ConfigError
from topicclf.metrics.mistakes import ConfusionTally, confusions, error_examples, top_pairs
from topicclf.metrics.ranking import (
    RANKING_NAMES,
    UNKNOWN_SCORE,
    WHOLE_CORPUS_RANKING,
    precision_recall_curves,
    ranking_metrics,
    whole_corpus_ranking,
)

__all__ = [
    "AVERAGES",
    "LIBRARY",
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "SUMMARY",
    "WHOLE_CORPUS_RANKING",
    "Averages",
    "Evaluation",
    "EvaluationReport",
    "TopicScore",
    "check_gates",
    "check_gates_reachable",
    "confusions",
    "error_examples",
    "evaluate",
    "group_figures",
    "library_figures",
    "micro_f1",
    "micro_f1_of_sets",
    "parse_gate",
    "parse_gates",
    "precision_recall_curves",
    "ranking_metrics",
    "summary_figures",
    "summary_metrics",
]

# Bumped when a figure's definition changes, so that metrics.comparison can tell old reports from
# new ones (1: macro over seen topics only, unknown topics left out of the figures; 2: unknown
# topics scored 0.0 in the ranking figures, tied with the model's unscored topics).
FIGURES_VERSION = 3
CONVENTIONS: dict[str, Any] = {
    "zero_division": 0.0,
    "ties": "averaged",
    "unknown_topic_score": UNKNOWN_SCORE,
}


@dataclass(frozen=True)
class TopicScore:
    """Precision, recall, F1 and counts of one topic (`known`: the model has this topic)."""

    topic: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    tp: int
    fp: int
    fn: int
    known: bool = True


@dataclass(frozen=True)
class Averages:
    """Precision, recall and F1 under one averaging scheme."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class EvaluationReport:
    """Everything an evaluation measured; renderers only format this.

    `macro` is scikit-learn's (every model and unknown topic); `macro_seen` is our own, over
    the topics that occur in the truth or in the predictions, so that model topics absent
    from the test data do not pull it down.
    """

    n_documents: int
    n_topics: int
    micro: Averages
    macro: Averages
    weighted: Averages
    samples: Averages
    hamming_loss: float
    subset_accuracy: float
    per_topic: list[TopicScore]
    macro_seen: Averages = Averages(0.0, 0.0, 0.0)
    topics_without_support: list[str] = field(default_factory=list)
    unknown_topics: dict[str, int] = field(default_factory=dict)
    documents_without_prediction: int = 0
    documents_without_true_topic: int = 0
    label_cardinality_true: float = 0.0
    label_cardinality_predicted: float = 0.0
    topics_per_document: dict[str, dict[str, int]] = field(default_factory=dict)
    confusions: list[dict[str, Any]] = field(default_factory=list)
    # Documents of more missed x wrongly given topics than config.CONFUSION_PAIRS_PER_DOCUMENT.
    documents_left_out_of_confusions: int = 0
    ranking: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    multiclass: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    # (document id, [(topic, score), ...]) per document, as tagging would output them.
    predictions: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)
    # A model of several languages: the GROUP_FIGURES of each language's documents.
    by_language: dict[str, dict[str, float]] = field(default_factory=dict)
    # Where those languages came from: "corpus" (its language field) or "model" (told by
    # the model's language detection); "" without figures by language.
    languages_from: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return asdict(self)


def micro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Micro-averaged F1 of two 0/1 matrices, scikit-learn's with zero_division=0."""
    truth = np.asarray(y_true) > 0
    pred = np.asarray(y_pred) > 0
    denominator = int(np.count_nonzero(truth)) + int(np.count_nonzero(pred))
    return 2.0 * int(np.count_nonzero(truth & pred)) / denominator if denominator else 0.0


def micro_f1_of_sets(
    true_sets: Sequence[Collection[str]], predicted_sets: Sequence[Collection[str]]
) -> float:
    """micro_f1 of topic sets, one per document (topics of any vocabulary, no matrix)."""
    truth = [set(topics) for topics in true_sets]
    pred = [set(topics) for topics in predicted_sets]
    hits = sum(len(t & p) for t, p in zip(truth, pred, strict=True))
    denominator = sum(map(len, truth)) + sum(map(len, pred))
    return 2.0 * hits / denominator if denominator else 0.0


def _prf(
    tp: np.ndarray | float, fp: np.ndarray | float, fn: np.ndarray | float
) -> tuple[Any, Any, Any]:
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def _mean(prf: tuple[Any, Any, Any], weights: np.ndarray) -> Averages:
    if weights.sum() <= 0:
        return Averages(0.0, 0.0, 0.0)
    return Averages(*(float(np.average(x, weights=weights)) for x in prf))


def _checked(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: Sequence[str],
    scores: np.ndarray | None,
    unknown_names: Sequence[str],
    unknown: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]:
    """Truth and predictions as booleans, scores, and the unknown topics' truth as a sparse
    boolean matrix (CSR), their shapes checked. The unknown topics stay sparse: they are
    never predicted, so every figure counts them from their positions alone, and a dense
    documents x unknown topics matrix is quadratic in a corpus labelled from a large
    vocabulary the model partly knows."""
    import scipy.sparse as sp

    truth = np.asarray(y_true) > 0
    pred = np.asarray(y_pred) > 0
    if truth.ndim != 2 or truth.shape != pred.shape or truth.shape[1] != len(label_names):
        raise ValueError(
            f"shape mismatch: y_true {truth.shape}, y_pred {pred.shape}, {len(label_names)} names"
        )
    if scores is not None and np.shape(scores) != truth.shape:
        raise ValueError(f"shape mismatch: scores {np.shape(scores)}, y_true {truth.shape}")
    if unknown is None:
        unknown = sp.csr_matrix((truth.shape[0], len(unknown_names)), dtype=bool)
    unknown = sp.csr_matrix(unknown > 0 if sp.issparse(unknown) else np.asarray(unknown) > 0)
    if unknown.shape != (truth.shape[0], len(unknown_names)):
        raise ValueError(
            f"shape mismatch: unknown_truth matrix {unknown.shape}, expected "
            f"({truth.shape[0]}, {len(unknown_names)}) for {len(unknown_names)} unknown topic names"
        )
    unknown.eliminate_zeros()
    unknown.sort_indices()
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
    return truth, pred, scores, unknown


def _topic_scores(
    names: list[str], n_known: int, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
) -> list[TopicScore]:
    precision, recall, f1 = _prf(tp, fp, fn)
    return [
        TopicScore(
            topic=names[j],
            precision=float(precision[j]),
            recall=float(recall[j]),
            f1=float(f1[j]),
            support=int(tp[j] + fn[j]),
            predicted=int(tp[j] + fp[j]),
            tp=int(tp[j]),
            fp=int(fp[j]),
            fn=int(fn[j]),
            known=j < n_known,
        )
        for j in range(len(names))
    ]


def evaluate(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: Sequence[str],
    *,
    scores: np.ndarray | None = None,
    unknown_truth: tuple[Sequence[str], Any] | None = None,
    multiclass: bool = False,
) -> EvaluationReport:
    """Compare true and predicted 0/1 matrices (documents x model topics), with scores.

    `unknown_truth` is (names, 0/1 matrix documents x names, dense or scipy sparse) of the
    corpus topics the model does not know; they count as columns that are never predicted
    and scored UNKNOWN_SCORE (below every score), so every figure counts them as misses (and
    per_topic lists them with
    known=False). A scipy sparse matrix is kept sparse, however many topics it holds.
    """
    names = list(unknown_truth[0]) if unknown_truth is not None else []
    evaluation = Evaluation(label_names, names, multiclass=multiclass)
    evaluation.add(
        y_true, y_pred, scores=scores, unknown=None if unknown_truth is None else unknown_truth[1]
    )
    return evaluation.report()


class Evaluation:
    """An evaluation taken a batch of documents at a time, so that a large vocabulary never
    needs a documents x topics matrix of the whole corpus.

    Every figure that is a count, or a mean over documents (the averages, per-topic figures,
    P@k, F1@5, nDCG@k, LRAP, coverage, ranking loss, multi-class accuracy), is exact however
    the documents are batched, and measured as each batch comes. Those that need every score
    at once (average precision, precision-recall curves, the multi-class confusion matrix)
    are in the report when every document came in one batch, or when the batches hold at
    most `whole_cells` (document, topic) cells together: those batches are kept for them
    (`whole_cells=None`: none kept, none of those figures).
    """

    def __init__(
        self,
        label_names: Sequence[str],
        unknown_names: Sequence[str] = (),
        *,
        multiclass: bool,
        whole_cells: int | None = 0,
    ) -> None:
        clash = sorted(set(unknown_names) & set(label_names))
        if clash:
            raise ValueError(f"unknown topics that the model has: {', '.join(clash)}")
        self.label_names = list(label_names)
        self.names = [*label_names, *unknown_names]
        self.multiclass = multiclass
        width = len(self.names)
        self.tp, self.fp, self.fn = (np.zeros(width, np.int64) for _ in range(3))
        self.n_docs = self.wrong_cells = self.exact = self.correct = self.several = 0
        self.no_prediction = self.no_truth = self.true_total = self.pred_total = 0
        self.doc_sums = np.zeros(3)
        self.true_counts: Counter[int] = Counter()
        self.pred_counts: Counter[int] = Counter()
        self.pairs = ConfusionTally()
        self.ranking_sums: dict[str, float] = {}
        self.batches = 0
        self.whole_cells = whole_cells
        # The batches kept for the whole-corpus figures, until they would hold more cells.
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, Any]] | None = (
            None if whole_cells is None else []
        )

    def add(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        *,
        scores: np.ndarray | None = None,
        unknown: Any = None,
    ) -> Evaluation:
        """Count a batch: its true and predicted 0/1 matrices (documents x model topics),
        scores, and its documents' unknown topics (documents x unknown names; best scipy
        sparse, as it is kept: they only ever count as misses)."""
        n_known = len(self.label_names)
        truth, pred, scores, unknown = _checked(
            y_true, y_pred, self.label_names, scores, self.names[n_known:], unknown
        )
        self.batches += 1
        self._keep(truth, pred, scores, unknown)
        n = truth.shape[0]
        self.n_docs += n
        # Per document, its true unknown topics: each a false negative, never a hit.
        missed = np.asarray(unknown.sum(axis=1), dtype=np.int64).ravel()
        self.tp[:n_known] += (truth & pred).sum(axis=0)
        self.fp[:n_known] += (~truth & pred).sum(axis=0)
        self.fn[:n_known] += (truth & ~pred).sum(axis=0)
        self.fn[n_known:] += np.asarray(unknown.sum(axis=0), dtype=np.int64).ravel()
        per_doc = [(truth & pred).sum(axis=1), (~truth & pred).sum(axis=1)]
        per_doc.append((truth & ~pred).sum(axis=1) + missed)
        self.doc_sums += [float(x.sum()) for x in _prf(*per_doc)]
        self.wrong_cells += int((truth != pred).sum()) + int(missed.sum())
        self.exact += int(((truth == pred).all(axis=1) & (missed == 0)).sum())
        self.no_prediction += int((~pred.any(axis=1)).sum())
        self.no_truth += int((~truth.any(axis=1) & (missed == 0)).sum())
        true_n, pred_n = truth.sum(axis=1) + missed, pred.sum(axis=1)
        self.true_total += int(true_n.sum())
        self.pred_total += int(pred_n.sum())
        self.true_counts.update(true_n.tolist())
        self.pred_counts.update(pred_n.tolist())
        self.pairs.add(truth, pred, unknown)
        if self.multiclass:
            # The rule of the whole-corpus figures (_multiclass_pairs): batched, a document
            # of several true topics was right only when its prediction was the first of them
            # (accuracy 1.0 on 3,000 documents fell to 0.0002 on 4,200; pass 45).
            true_idx, pred_idx, _ = _multiclass_pairs(truth, pred, unknown)
            self.correct += int((true_idx == pred_idx).sum())
            self.several += int((true_n > 1).sum())
        if scores is not None and n:
            found = ranking_metrics(truth, scores, whole=False, unknown=unknown)
            for name, value in found.items():
                self.ranking_sums[name] = self.ranking_sums.get(name, 0.0) + value * n
        return self

    def _keep(
        self, truth: np.ndarray, pred: np.ndarray, scores: np.ndarray | None, unknown: Any
    ) -> None:
        """Keep a batch for the whole-corpus figures while the kept ones stay within
        whole_cells (the first batch always: one batch is the whole corpus)."""
        if self.kept is None:
            return
        # Sized by the columns made dense, the model's topics (the unknown ones stay sparse).
        held = sum(part[0].shape[0] for part in self.kept) + truth.shape[0]
        if self.kept and held * len(self.label_names) > (self.whole_cells or 0):
            self.kept = None  # past the bound: what was kept is let go
            return
        self.kept.append((truth, pred, scores, unknown))

    def _whole(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Any] | None:
        """Every document's truth, predictions, scores and unknown topics, when kept."""
        if not self.kept:
            return None
        if len(self.kept) == 1:
            return self.kept[0]
        import scipy.sparse as sp

        parts = list(zip(*self.kept, strict=True))
        scores = None if any(s is None for s in parts[2]) else np.concatenate(parts[2])
        return (
            np.concatenate(parts[0]),
            np.concatenate(parts[1]),
            scores,
            sp.vstack(parts[3], format="csr"),
        )

    def report(self) -> EvaluationReport:
        """The figures of every document added so far."""
        names, n_known, n = self.names, len(self.label_names), self.n_docs
        tp, fp, fn = self.tp, self.fp, self.fn
        support = tp + fn
        prf = _prf(tp, fp, fn)
        ranking = {name: total / n for name, total in self.ranking_sums.items()} if n else {}
        curves: dict[str, dict[str, list[float]]] = {}
        matrix: dict[str, Any] = {}
        whole = self._whole()
        if whole is not None:
            truth, pred, scores, unknown = whole
            if scores is not None and n:
                # The means over documents are the batches' (ranking_sums); these need all.
                ranking.update(whole_corpus_ranking(truth, scores, unknown))
                curves = precision_recall_curves(truth, scores, self.label_names, unknown=unknown)
            if self.multiclass:
                matrix = _multiclass(truth, pred, unknown, names)
        elif self.multiclass:  # the topics x topics matrix is whole-corpus only
            matrix = {
                "accuracy": self.correct / n if n else 0.0,
                "documents_with_several_true_topics": self.several,
            }
        cells = n * len(names)
        return EvaluationReport(
            n_documents=n,
            n_topics=n_known,
            micro=Averages(*(float(x) for x in _prf(tp.sum(), fp.sum(), fn.sum()))),
            macro=_mean(prf, np.ones(len(names))),
            macro_seen=_mean(prf, ((support > 0) | (tp + fp > 0)).astype(np.float64)),
            weighted=_mean(prf, support.astype(np.float64)),
            samples=Averages(*(float(x / n) for x in self.doc_sums))
            if n
            else Averages(0.0, 0.0, 0.0),
            hamming_loss=self.wrong_cells / cells if cells else 0.0,
            subset_accuracy=self.exact / n if n else 0.0,
            per_topic=_topic_scores(names, n_known, tp, fp, fn),
            topics_without_support=[names[j] for j in range(n_known) if support[j] == 0],
            unknown_topics={
                names[j]: int(support[j])
                for j in sorted(range(n_known, len(names)), key=names.__getitem__)
            },
            documents_without_prediction=self.no_prediction,
            documents_without_true_topic=self.no_truth,
            label_cardinality_true=self.true_total / n if n else 0.0,
            label_cardinality_predicted=self.pred_total / n if n else 0.0,
            topics_per_document={
                "true": {str(k): v for k, v in sorted(self.true_counts.items())},
                "predicted": {str(k): v for k, v in sorted(self.pred_counts.items())},
            },
            confusions=top_pairs(self.pairs.counts(), names),
            documents_left_out_of_confusions=self.pairs.left_out,
            ranking=ranking,
            curves=curves,
            multiclass=matrix,
        )


def _multiclass_pairs(
    truth: np.ndarray, pred: np.ndarray, unknown: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document, its true topic and its predicted one (column numbers; unknown topics
    after the model's; -1 no true topic, -2 no prediction: never equal), and whether it has
    a true topic. Of several true topics, the predicted one when it is among them, else
    the first in column order: the one rule of multi-class accuracy, batched or whole."""
    missed = np.diff(unknown.indptr)
    has_true, has_pred = truth.any(axis=1) | (missed > 0), pred.any(axis=1)
    # The first unknown topic of each row (its indices are sorted), after the known ones.
    columns = unknown.indices if unknown.nnz else np.zeros(1, np.int64)
    first_unknown = truth.shape[1] + columns[np.minimum(unknown.indptr[:-1], len(columns) - 1)]
    true_idx = np.where(
        truth.any(axis=1), truth.argmax(axis=1), np.where(missed > 0, first_unknown, -1)
    )
    pred_idx = np.where(has_pred, pred.argmax(axis=1), -2)
    among = has_pred & truth[np.arange(len(pred_idx)), np.maximum(pred_idx, 0)].astype(bool)
    return np.where(among, pred_idx, true_idx), pred_idx, has_true


def _multiclass(
    truth: np.ndarray, pred: np.ndarray, unknown: Any, names: list[str]
) -> dict[str, Any]:
    """scikit-learn's accuracy and confusion matrix, one true and one predicted topic each.

    A document of several true topics is right when the predicted topic is one of them (its
    true topic is then that one; else its first in column order, unknown topics last): before,
    always the first, so renaming topics changed the accuracy of the same predictions. One
    without a true topic, or without a predicted one, counts as wrong and is left out of the
    matrix. No matrix beyond `config.CONFUSION_MATRIX_TOPICS` topics (it is topics x topics).
    """
    missed = np.diff(unknown.indptr)
    true_idx, pred_idx, has_true = _multiclass_pairs(truth, pred, unknown)
    has_pred = pred_idx >= 0
    found: dict[str, Any] = {
        "accuracy": float((true_idx == pred_idx).mean()) if len(true_idx) else 0.0,
        "documents_with_several_true_topics": int((truth.sum(axis=1) + missed > 1).sum()),
    }
    if len(names) > CONFUSION_MATRIX_TOPICS:
        return found
    both = has_true & has_pred
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(matrix, (true_idx[both], pred_idx[both]), 1)
    return {**found, "labels": list(names), "confusion_matrix": matrix.tolist()}


@dataclass(frozen=True)
class Figure:
    """One summary figure of a report: its name (in JSON, gates and the glossary), how tables
    and sentences call it, how it is read off a report (None: this report has none), and
    whether lower is better."""

    name: str
    label: str
    value: Callable[[EvaluationReport], float | None]
    lower_is_better: bool = False


# The averaging schemes, each a row of precision, recall and F1, in the order every report
# shows them; then the single summary figures, in order. Every renderer (terminal, Markdown,
# JSON, HTML) loops over these two tables, and every name has a glossary entry (a test).
AVERAGES = ("micro", "macro", "macro_seen", "weighted", "samples")
SUMMARY: tuple[Figure, ...] = (
    Figure(  # first: a multi-class model's headline
        "accuracy",
        "accuracy (multi-class)",
        lambda r: float(r.multiclass["accuracy"]) if r.multiclass else None,
    ),
    Figure("subset_accuracy", "subset accuracy", lambda r: r.subset_accuracy),
    Figure("hamming_loss", "Hamming loss", lambda r: r.hamming_loss, lower_is_better=True),
)
# The figures subject indexers compare tools by, in order; reports show them first (with the
# micro-F1 of the model's own decisions) for vocabularies of LIBRARY_FIGURES_FROM_TOPICS or more.
LIBRARY = ("precision@1", "precision@3", "precision@5", "f1@5", "ndcg@10")


def library_figures(report: EvaluationReport) -> list[tuple[str, float]]:
    """LIBRARY's figures and the decisions' micro-F1 when the report is of a large vocabulary
    and has scores; otherwise none (reports then show them among the ranking figures)."""
    if report.n_topics < LIBRARY_FIGURES_FROM_TOPICS or not report.ranking:
        return []
    shown = [(name, report.ranking[name]) for name in LIBRARY if name in report.ranking]
    return [*shown, ("micro_f1", report.micro.f1)]


METRIC_NAMES = (
    *(f"{s}_{m}" for s in AVERAGES for m in ("precision", "recall", "f1")),
    *(f.name for f in SUMMARY),
    *RANKING_NAMES,
)
LOWER_IS_BETTER = frozenset(
    {f.name for f in SUMMARY if f.lower_is_better} | {"coverage_error", "label_ranking_loss"}
)


def summary_figures(report: EvaluationReport) -> list[tuple[Figure, float]]:
    """The single summary figures this report has, in SUMMARY's order."""
    found = [(figure, figure.value(report)) for figure in SUMMARY]
    return [(figure, value) for figure, value in found if value is not None]


# The figures a report gives for each group of documents (a language): documents, the
# decisions' micro-, macro- and samples-F1, and the ranking figures indexers lead with.
GROUP_FIGURES = ("micro_f1", "macro_f1", "samples_f1", "precision@1", "f1@5", "ndcg@10")


def group_figures(report: EvaluationReport) -> dict[str, float]:
    """A group's report as its document count and the GROUP_FIGURES it has."""
    found = summary_metrics(report)
    return {"documents": report.n_documents} | {
        name: round(found[name], 4) for name in GROUP_FIGURES if name in found
    }


def summary_metrics(report: EvaluationReport) -> dict[str, float]:
    """The report's figures by name (those of METRIC_NAMES it has), for gates and summaries."""
    out: dict[str, float] = {}
    for scheme in AVERAGES:
        averages: Averages = getattr(report, scheme)
        out[f"{scheme}_precision"] = averages.precision
        out[f"{scheme}_recall"] = averages.recall
        out[f"{scheme}_f1"] = averages.f1
    out.update((figure.name, value) for figure, value in summary_figures(report))
    out.update((k, v) for k, v in report.ranking.items() if k in RANKING_NAMES)
    return out


def parse_gate(text: str) -> tuple[str, float]:
    """'METRIC=VALUE' (e.g. 'micro_f1=0.8') as (metric, value); ConfigError if it is not one."""
    name, sep, value = (part.strip() for part in text.partition("="))
    # Each message quotes what it echoes cut short (`config.shown`): a name of 100,000
    # characters, echoed whole twice, was cut with the list of metrics (pass 46).
    gate = shown(text)
    if not sep or not name or not value:
        raise ConfigError(f"{gate}: expected METRIC=VALUE, e.g. micro_f1=0.8")
    if name not in METRIC_NAMES:
        raise ConfigError(
            f"{gate}: unknown metric {shown(name)}; choose one of: {', '.join(METRIC_NAMES)}"
        )
    try:
        bound = float(value)
    except ValueError:
        raise ConfigError(
            f"{gate}: {shown(value)} is not a number; expected METRIC=VALUE, e.g. micro_f1=0.8"
        ) from None
    if not math.isfinite(bound):
        # Every comparison with nan is false, so such a gate could never fail.
        raise ConfigError(f"{gate}: the value must be a finite number, not {shown(value)}")
    # A gate outside the figure's range can never be met (micro_f1=5) or never fail (-5).
    if name in _COUNTS:
        if bound < 0:
            raise ConfigError(f"{gate}: the value must be 0 or more, as {name} is")
    elif not 0 <= bound <= 1:
        raise ConfigError(f"{gate}: the value must be between 0 and 1, as {name} is")
    # float() also reads 1_0, 1e-1 and digits of any script (٠.٥): not what a gate says.
    if not PLAIN_DECIMAL.fullmatch(value):
        raise ConfigError(
            f"{gate}: write the value as a plain decimal number (ASCII digits and a point), "
            "e.g. micro_f1=0.8"
        )
    return name, bound


def parse_gates(texts: Sequence[str]) -> list[tuple[str, float]]:
    """Each 'METRIC=VALUE' parsed (`parse_gate`); ConfigError for a metric gated twice, as
    an output given twice is refused (two bounds on one figure are a slip, not a rule)."""
    gates = [parse_gate(text) for text in texts]
    seen: dict[str, float] = {}
    for name, bound in gates:
        if name in seen:
            raise ConfigError(
                f"{name} is gated twice ({seen[name]:g} and {bound:g}); give each metric once"
            )
        seen[name] = bound
    return gates


def check_gates_reachable(gates: Sequence[tuple[str, float]], multiclass: bool) -> None:
    """ConfigError for a gate no report of this model has, said before any scoring:
    `accuracy` is a multi-class model's figure (a multi-label model scored the whole corpus,
    then failed the gate; pass 46)."""
    if not multiclass and any(name == "accuracy" for name, _ in gates):
        raise ConfigError(
            "accuracy is measured only for a multi-class model (one topic per text), and this "
            "model is multi-label: gate on subset_accuracy or micro_f1 instead"
        )


# Figures that count topics (how far down the ranking), not fractions in [0, 1].
_COUNTS = frozenset({"coverage_error"})


def check_gates(report: EvaluationReport, gates: Sequence[tuple[str, float]]) -> list[str]:
    """The gates the report fails, as messages like 'micro_f1 0.7712 < 0.8' (empty: all met).

    A gate on a figure the report lacks fails: ranking figures need scores, `accuracy` a
    multi-class model.
    """
    figures = summary_metrics(report)
    failures = []
    for name, bound in gates:
        value = figures.get(name)
        if value is None:
            failures.append(f"{name} is not in this report, so it cannot reach {bound:g}")
        elif name in LOWER_IS_BETTER:
            if not value <= bound:
                failures.append(f"{name} {_beside(value, bound)} > {bound:g}")
        elif not value >= bound:
            failures.append(f"{name} {_beside(value, bound)} < {bound:g}")
    return failures


def _beside(value: float, bound: float) -> str:
    """`value` with 4 decimals, or as many more as show it is not `bound` (a micro-F1 of
    0.894198 against a gate of 0.8942 read 'gate not met: micro_f1 0.8942 < 0.8942')."""
    for digits in (4, 6, 8, 10, 12):
        text = f"{value:.{digits}f}"
        if float(text) != bound:
            return text
    return repr(value)
