"""Fitting the shortlist network (`model.shortlist`), for vocabularies of thousands of topics:
sparse topics throughout, out-of-fold shortlists for the rescorer to learn from, the rescorer
trained with early stopping on held-out documents, one threshold and a topic limit chosen
there (Annif's limit and threshold), and the sources rebuilt on every document.

Nothing here is documents x topics: topics are a sparse matrix, shortlists are documents x
candidates, and the validation report is measured on as many held-out documents as
VALIDATION_CELLS allows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from topicclf.config import (
    AUTO_LEARNING_RATE,
    SHORTLIST_FOLDS,
    Config,
)
from topicclf.errors import DataError
from topicclf.features.tfidf import TfidfFeaturizer
from topicclf.labels import (
    LabelEncoder,
    group_folds,
    grouped_order,
    split_point,
    warn_too_few_groups,
)
from topicclf.metrics import evaluate
from topicclf.model.inference import Scorer
from topicclf.model.networks import build_network, keras_module, set_seed
from topicclf.model.shortlist import (
    FEATURES,
    Candidates,
    Rescorer,
    ShortlistNetwork,
    Sources,
    language_indices,
)
from topicclf.model.thresholds import ThresholdPolicy, apply
from topicclf.training.analysis import choose_analysis
from topicclf.training.data import Prepared, TrainingInfo
from topicclf.training.groups import near_duplicate_groups
from topicclf.training.network import epoch_progress, out_of_memory_explained
from topicclf.training.pipeline import (
    Fitted,
    check_finite,
    keep_documents_with_topics,
    threshold_curve,
    training_mode,
    validate_training_data,
)
from topicclf.types import Progress

# The validation report is measured on at most this many (document, topic) cells: it is
# computed on dense matrices, and a library vocabulary times every held-out document is not.
VALIDATION_CELLS = 20_000_000
# Below this share of the held-out documents' topics among their candidates, training warns
# (a shortlist that works finds most of them; the test corpus's, over 90%).
LOW_CANDIDATE_RECALL = 0.05
# Topic limits and thresholds tried for tagging (Annif's `optimize` tries the same kind).
LIMITS = tuple(range(1, 11))
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.0, 0.96, 0.05))


@dataclass
class RescorerFit:
    """The trained rescorer and how its training went."""

    rescorer: Rescorer
    epochs_run: int
    best_epoch: int  # 0 when no epoch was measured on validation
    batch_size: int
    learning_rate: float


def fit_shortlist(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress,
) -> Fitted:
    """Learn features, sources, rescorer and thresholds from texts and their topic sets."""
    started = time.perf_counter()
    data = prepare_sparse(config, texts, label_sets, progress)
    analyzer, stemming = choose_analysis(config, data, progress)
    progress.start("vectorizing", len(data.texts))
    featurizer = TfidfFeaturizer(config.text, config.features)
    featurizer.use_analyzer(analyzer)
    x = featurizer.fit_transform(data.texts)
    progress.advance(len(data.texts))
    progress.finish()
    codes = tuple(r.code for r in analyzer.languages) if analyzer.detects else ()
    languages = None
    if codes:
        # Told apart as tagging will tell them: the analyzer's own detection.
        progress.start("each document's language, for the shortlist", len(data.texts))
        languages = language_indices(analyzer.language_of, data.texts, codes)
        progress.advance(len(data.texts))
        progress.finish()
    shortlists = out_of_fold_shortlists(
        config, x, data.y, progress, data.groups, languages, len(codes) + 1
    )
    targets = candidate_targets(shortlists, data.y)
    fit = train_rescorer(config, featurizer, shortlists, targets, data, progress)
    rescorer = fit.rescorer
    val = data.val_idx
    val_shortlists = shortlists.rows(val)
    probabilities = rescorer.probabilities(val_shortlists)
    check_finite(probabilities, config)
    gold = np.diff(data.y[val].indptr)
    policy = tune_limit_and_threshold(
        config,
        probabilities,
        targets[val],
        val_shortlists.mask,
        gold,
        data.y.shape[1],
        data.multiclass,
    )
    progress.start("shortlist sources of every document", 1)
    network = ShortlistNetwork(
        Sources.build(x, data.y, config.network.centroid_terms, languages, len(codes) + 1),
        rescorer,
        neighbours=config.network.neighbours,
        candidates=config.network.candidates,
        languages=codes,
        multiclass=data.multiclass,
    )
    progress.advance(1)
    progress.finish()
    shown = max(1, VALIDATION_CELLS // max(1, data.y.shape[1]))
    report_rows = val[:shown]
    scores = val_shortlists.rows(slice(0, shown)).scores(probabilities[:shown], data.y.shape[1])
    if data.multiclass:  # the report measures the scores tagging gives
        scores = network.distributions(scores)
    y_report = data.y[report_rows].toarray()
    validation = evaluate(y_report, apply(scores, policy), data.classes, scores=scores)
    recall = float(targets[val].sum() / max(1, gold.sum()))
    warn_low_candidate_recall(recall, int(targets[val].sum()), int(gold.sum()))
    info = TrainingInfo(
        near_duplicates=data.near_duplicates(),
        char_ngrams=None,
        char_ngram_choice=None,
        blend={},
        documents=len(data.texts),
        train_documents=len(data.train_idx),
        validation_documents=len(val),
        skipped_empty_documents=data.skipped,
        left_out_documents=data.left_out,
        dropped_topics=data.dropped,
        epochs_run=fit.epochs_run,
        best_epoch=fit.best_epoch,
        refit_on_all_documents=True,
        refit_epochs=0,
        stacked=False,
        stack_calibration=None,
        stack_documents=None,
        batch_size=fit.batch_size,
        learning_rate=round(fit.learning_rate, 6),
        seconds=round(time.perf_counter() - started, 2),
        threshold_curve=threshold_curve(y_report, scores, policy),
        shortlist={
            "folds": SHORTLIST_FOLDS,
            "validation_candidate_recall": round(recall, 4),
            "validation_report_documents": len(report_rows),
        },
        analyzer=featurizer.analyzer.describe(),
        stemming_choice=stemming or None,
    )
    scorer = Scorer(featurizer, network)
    return Fitted(data.classes, data.mode, scorer, policy, validation, info)


def warn_low_candidate_recall(recall: float, found: int, total: int) -> None:
    """Warn when validation found (almost) none of the held-out documents' topics among
    their candidates: the rescorer then learned from no positive examples, and the model,
    saved all the same, tags little and what it tags is a guess."""
    if total == 0 or recall >= LOW_CANDIDATE_RECALL:
        return
    warnings.warn(
        f"validation found {found} of {total} held-out topics ({recall:.1%}) among the "
        "shortlist's candidates: the topics are seen too rarely (most in one or two "
        "training documents) for a shortlist to propose them, so the model will tag little "
        "and its topics are guesses; give more documents per topic, or merge rare topics",
        UserWarning,
        stacklevel=2,
    )


def prepare_sparse(
    config: Config,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    progress: Progress | None = None,
) -> Prepared:
    """Check the data, pick the mode, encode topics sparsely and hold out validation rows."""
    kept, labels, skipped = validate_training_data(texts, label_sets)
    mode = training_mode(config, labels)
    encoder = LabelEncoder(min_count=config.train.min_count).fit(labels)
    y = encoder.transform_sparse(labels)
    keep = keep_documents_with_topics(labels, np.diff(y.indptr) > 0, "the shortlist network")
    left_out = len(kept) - len(keep)
    y, kept = y[keep], [kept[i] for i in keep]
    n = len(kept)
    if n < 2 * SHORTLIST_FOLDS:
        raise DataError(
            f"the shortlist network needs at least {2 * SHORTLIST_FOLDS} documents with "
            f"topics, found {n}"
        )
    # Near-duplicate records (a title catalogued twice) stay on one side of the split and
    # in one fold: a neighbour that is a copy would teach the rescorer to trust copies.
    groups = near_duplicate_groups(kept, config.train.seed, progress)
    order = grouped_order(groups, np.random.default_rng(config.train.seed))
    n_val = split_point(order, groups, min(max(1, round(n * config.train.validation_split)), n - 1))
    if np.intersect1d(groups[order[:n_val]], groups[order[n_val:]]).size:
        # One text throughout: split_point parts its one group. Say so, as split_indices
        # does, and let the folds and the record treat every row as its own.
        warn_too_few_groups(n, len(np.unique(groups)))
        groups = np.arange(n)
    assert encoder.classes_ is not None
    return Prepared(
        kept,
        y,
        encoder.classes_,
        mode,
        np.sort(order[n_val:]),
        np.sort(order[:n_val]),
        skipped,
        dict(encoder.dropped_),
        groups,
        left_out,
    )


def out_of_fold_shortlists(
    config: Config,
    x: sp.csr_matrix,
    y: sp.csr_matrix,
    progress: Progress,
    groups: np.ndarray | None = None,
    languages: np.ndarray | None = None,
    n_languages: int = 1,
) -> Candidates:
    """Every document's shortlist from sources built without its fold, as a new document's
    would be (a document shortlisted by sources that hold it finds itself); `languages`:
    each document's `language_indices` (None: one language)."""
    n = x.shape[0]
    net = config.network
    width = net.candidates
    topics = np.zeros((n, width), dtype=np.int64)
    features = np.zeros((n, width, len(FEATURES)), dtype=np.float32)
    mask = np.zeros((n, width), dtype=bool)
    progress.start(f"shortlists of held-out folds ({SHORTLIST_FOLDS} folds)", SHORTLIST_FOLDS)
    groups = np.arange(n) if groups is None else groups  # near-duplicates share a fold
    for fold in group_folds(groups, SHORTLIST_FOLDS, config.train.seed + 1):
        rows = np.sort(fold)
        rest = np.setdiff1d(np.arange(n), rows)
        held = None if languages is None else languages[rest]
        sources = Sources.build(x[rest], y[rest], net.centroid_terms, held, n_languages)
        found = sources.candidates(
            x[rows], net.neighbours, width, None if languages is None else languages[rows]
        )
        topics[rows], features[rows], mask[rows] = found.topics, found.features, found.mask
        progress.advance(1)
    progress.finish()
    return Candidates(topics, features, mask)


def candidate_targets(shortlists: Candidates, y: sp.csr_matrix) -> np.ndarray:
    """1 where a shortlisted topic is one of the document's, shape (documents, width)."""
    targets = np.zeros(shortlists.topics.shape, dtype=np.float32)
    for r in range(y.shape[0]):
        gold = y.indices[y.indptr[r] : y.indptr[r + 1]]
        if len(gold):
            targets[r] = np.isin(shortlists.topics[r], gold) & shortlists.mask[r]
    return targets


def train_rescorer(
    config: Config,
    featurizer: TfidfFeaturizer,
    shortlists: Candidates,
    targets: np.ndarray,
    data: Prepared,
    progress: Progress,
) -> RescorerFit:
    """The rescorer trained on the training rows' candidates with early stopping on the
    validation rows'."""
    keras = keras_module()
    train_rows = shortlists.rows(data.train_idx)
    val_rows = shortlists.rows(data.val_idx)
    x_train = train_rows.features[train_rows.mask]
    y_train = targets[data.train_idx][train_rows.mask]
    mean = x_train.mean(axis=0) if len(x_train) else np.zeros(len(FEATURES), np.float32)
    scale = x_train.std(axis=0) + 1e-6 if len(x_train) else np.ones(len(FEATURES), np.float32)
    x_val = (val_rows.features[val_rows.mask] - mean) / scale
    y_val = targets[data.val_idx][val_rows.mask]
    batch = config.train.batch_size or 2048
    rate = config.train.learning_rate or AUTO_LEARNING_RATE[config.network.type]
    set_seed(config.train.seed)
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.train.patience, restore_best_weights=True
    )
    with out_of_memory_explained(batch):
        model = build_network(config, featurizer, 0, False)
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy")
        history = model.fit(
            (x_train - mean) / scale,
            y_train,
            validation_data=(x_val, y_val) if len(x_val) else None,
            batch_size=batch,
            epochs=config.train.epochs,
            shuffle=True,
            callbacks=[stopping, epoch_progress(keras, progress, config.train.epochs)],
            verbose=0,
        )
    losses = history.history.get("val_loss", [])
    best = int(np.argmin(losses)) + 1 if losses else 0
    return RescorerFit(
        Rescorer(export_rescorer(model, mean, scale), training_ranges(x_train)),
        len(history.history.get("loss", [])),
        best,
        batch,
        rate,
    )


def training_ranges(x_train: np.ndarray) -> np.ndarray | None:
    """Each candidate feature's (min, max) over the rows the rescorer learns from, shape
    (features, 2), for `Rescorer` to clip to at tagging; None when there are no rows.

    Why clip rather than make the rescorer monotone in the similarity features: the ranges
    adapt to every corpus and cover every feature at once, while `nearest_similarity` is
    the same for all of a document's candidates and should raise neighbour-voted ones and
    lower the others, which a monotone network cannot learn."""
    if not len(x_train):
        return None
    return np.stack([x_train.min(axis=0), x_train.max(axis=0)], axis=1).astype(np.float32)


def export_rescorer(model: Any, mean: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """The trained rescorer's dense layers and feature scaling as named float32 arrays."""
    arrays = {
        "feature_mean": np.asarray(mean, dtype=np.float32),
        "feature_scale": np.asarray(scale, dtype=np.float32),
    }
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    for i, layer in enumerate(dense):
        kernel, bias = layer.get_weights()
        arrays[f"layer_{i}_kernel"] = kernel.astype(np.float32)
        arrays[f"layer_{i}_bias"] = bias.astype(np.float32)
    return arrays


def retune_shortlist(
    config: Config,
    policy: ThresholdPolicy,
    network: ShortlistNetwork,
    x: Any,
    y: Any,
    languages: np.ndarray | None = None,
) -> ThresholdPolicy:
    """The limit and threshold chosen anew on labelled documents (features `x`, sparse topics
    `y`, `language_indices`), by the rule training used; a multi-class model's argmax has
    nothing to tune."""
    if policy.multiclass:
        return policy
    shortlists = network.shortlist(x, languages)
    probabilities = network.rescorer.probabilities(shortlists)
    targets = candidate_targets(shortlists, y)
    gold = np.diff(y.indptr)
    return tune_limit_and_threshold(
        config, probabilities, targets, shortlists.mask, gold, network.n_outputs, False
    )


def tune_limit_and_threshold(
    config: Config,
    probabilities: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    gold: np.ndarray,
    n_topics: int,
    multiclass: bool,
) -> ThresholdPolicy:
    """One threshold for every topic and a limit of topics per document, chosen together for
    the best micro-F1 on the validation rows' shortlists (gold topics off a shortlist count as
    misses). A multi-class model gives its best topic; `thresholds.top_k` or a fixed
    threshold in the configuration are kept as given."""
    th = config.thresholds
    if multiclass:
        return ThresholdPolicy("argmax", np.zeros(n_topics, np.float32), 0.0, True, 0, True)
    scores = np.where(mask, probabilities, -1.0)
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    hits = np.take_along_axis(targets, order, axis=1)
    limits = (th.top_k,) if th.top_k else LIMITS
    thresholds = (th.value,) if th.strategy == "fixed" else THRESHOLD_GRID
    fallbacks = {"always": (True,), "never": (False,)}.get(th.fallback, (True, False))
    total = max(1, int(gold.sum()))
    best = (-1.0, 0.5, 1, True)
    for limit in limits:
        for threshold in thresholds:
            for fallback in fallbacks:
                # As `apply_thresholds` decides: a candidate scoring 0 is never given (nor
                # an empty slot, -1), so a threshold of 0 is every positive candidate.
                top = ranked[:, :limit]
                chosen = (top >= threshold) & (top > 0.0)
                if fallback:
                    chosen[:, 0] |= ranked[:, 0] > 0.0
                tp = float((hits[:, :limit] * chosen).sum())
                f1 = 2 * tp / max(1.0, total + float(chosen.sum()))
                if f1 > best[0] + 1e-12:
                    best = (f1, float(threshold), limit, fallback)
    _, threshold, limit, fallback = best
    return ThresholdPolicy(
        "global", np.full(n_topics, threshold, np.float32), threshold, fallback, limit, False
    )
