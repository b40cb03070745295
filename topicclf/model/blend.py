"""A linear model on TF-IDF features blended with the network's scores (Annif's nn_ensemble
idea): a one-vs-rest linear SVM ranks rare topics with a few telling words well, the network
models word combinations; their calibrated scores are averaged with a weight chosen on the
validation split.

Fitting uses scikit-learn; scoring is a sparse product and a sigmoid in numpy, so a saved
blend is four arrays and tagging needs no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from topicclf.arrayfiles import FLOATS, ArraySpec
from topicclf.errors import ModelBundleError
from topicclf.features.tfidf import without_term_scales
from topicclf.labels import group_folds
from topicclf.machine import available_cores
from topicclf.metrics import micro_f1
from topicclf.model.logodds import LogPair, share_logs, sigmoid_logs
from topicclf.model.thresholds import ThresholdPolicy, apply

# Weights tried for the linear model when the blend is automatic. The network always keeps
# a share: the blend is meant to help it, not to replace it.
WEIGHT_GRID = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8)


@dataclass
class LinearBlend:
    """Calibrated linear scores mixed into the network's: (1 - w) * net + w * linear."""

    coef: np.ndarray  # (n_topics, n_features)
    intercept: np.ndarray  # (n_topics,)
    slope: float
    offset: float
    weight: float
    multiclass: bool

    def scores(self, x: sp.csr_matrix) -> np.ndarray:
        """Calibrated linear scores in [0, 1] (rows summing to 1 in multi-class mode)."""
        margins = np.asarray(x @ self.coef.T, dtype=np.float32) + self.intercept
        return self.calibrated(margins)

    def blend(self, network: np.ndarray, x: sp.csr_matrix) -> np.ndarray:
        """The network's scores mixed with this model's on the same documents."""
        if self.weight == 0.0:
            return network
        return self.mix(network, self.scores(x))

    def mix(self, network: np.ndarray, linear: np.ndarray) -> np.ndarray:
        """The network's scores mixed with this model's scores of the same documents."""
        if self.weight == 0.0:
            return network
        return ((1.0 - self.weight) * network + self.weight * linear).astype(np.float32)

    def blend_occluded(
        self, network: np.ndarray, x: sp.csr_matrix, removed: np.ndarray
    ) -> np.ndarray:
        """`blend` for copies of a one-row document: copy k without its stored term
        `removed[k]` (-1: the whole document), in time linear in the copies: margins are
        linear in x."""
        if self.weight == 0.0:
            return network
        margins = self._margins_occluded(x, removed)
        return ((1.0 - self.weight) * network + self.weight * self.calibrated(margins)).astype(
            np.float32
        )

    def logs_occluded(
        self, x: sp.csr_matrix, removed: np.ndarray, kept: np.ndarray | None = None
    ) -> LogPair:
        """(log p, log(1 - p)) of the calibrated linear scores of `blend_occluded`'s copies,
        in log space (see topicclf.model.logodds), for `explain`: of topics `kept` (all when
        None; a multi-class share needs every topic first)."""
        margins = self._margins_occluded(x, removed)
        if kept is not None and not self.multiclass:
            margins = margins[:, kept]
        calibrated = self.slope * margins.astype(np.float64) + self.offset
        if self.multiclass:
            logs = share_logs(sigmoid_logs(calibrated)[0])
            return logs if kept is None else (logs[0][:, kept], logs[1][:, kept])
        return sigmoid_logs(calibrated)

    def _margins_occluded(self, x: sp.csr_matrix, removed: np.ndarray) -> np.ndarray:
        base = np.asarray(x @ self.coef.T, dtype=np.float32) + self.intercept
        margins = np.repeat(base, len(removed), axis=0)
        out = removed >= 0
        r = removed[out]
        margins[out] = base - x.data[r].astype(np.float32)[:, None] * self.coef[:, x.indices[r]].T
        # The row without the term is normalised again: its margins scale, not the intercept.
        scales = without_term_scales(x, removed)[:, None]
        return (margins - self.intercept) * scales + self.intercept

    def calibrated(self, margins: np.ndarray) -> np.ndarray:
        """Margins (x @ coef.T + intercept) as scores in [0, 1], as `scores` gives them."""
        out = 1.0 / (1.0 + np.exp(-(self.slope * margins + self.offset)))
        if self.multiclass:
            out /= out.sum(axis=1, keepdims=True)
        return out.astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain numeric arrays for an array file (see `array_specs`)."""
        return {
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration": np.array([self.slope, self.offset], dtype=np.float64),
            "weight": np.array([self.weight], dtype=np.float64),
            "multiclass": np.array([self.multiclass]),
        }

    @staticmethod
    def array_specs(n_topics: int, n_features: int) -> dict[str, ArraySpec]:
        """What `to_arrays` gives for a model of this size, to check a file before reading it."""
        return {
            "coef": ArraySpec(FLOATS, (n_topics, n_features)),
            "intercept": ArraySpec(FLOATS, (n_topics,)),
            "calibration": ArraySpec(FLOATS, (2,)),
            "weight": ArraySpec(FLOATS, (1,)),
            "multiclass": ArraySpec(("bool",), (1,)),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, np.ndarray], n_topics: int, n_features: int
    ) -> LinearBlend:
        """Rebuild from `to_arrays` output, checking the shapes against the model."""
        try:
            coef = np.asarray(arrays["coef"], dtype=np.float32)
            intercept = np.asarray(arrays["intercept"], dtype=np.float32)
            slope, offset = (float(v) for v in arrays["calibration"])
            weight = float(arrays["weight"][0])
            multiclass = bool(arrays["multiclass"][0])
        except (KeyError, ValueError, IndexError) as exc:
            raise ModelBundleError(f"the linear model is incomplete or malformed ({exc})") from None
        if coef.shape != (n_topics, n_features) or intercept.shape != (n_topics,):
            raise ModelBundleError(
                f"the linear model has weights of shape {coef.shape} for {n_topics} topics and "
                f"{n_features} features; the model directory is inconsistent"
            )
        if not 0.0 <= weight <= 1.0:
            raise ModelBundleError(
                f"the linear model's blend weight {weight} is not between 0 and 1"
            )
        return cls(coef, intercept, slope, offset, weight, multiclass)


def fit_threads() -> int:
    """Threads for one-vs-rest fits: the cores this process may use, at most LINEAR_THREADS."""
    return max(1, min(available_cores(), LINEAR_THREADS))


LINEAR_THREADS = 8


def fit_linear(x: sp.csr_matrix, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest linear SVMs: (coef, intercept) of shapes (n_topics, n_features), (n_topics,).

    liblinear's primal solver (trust-region Newton) draws no random numbers, so the topics
    are fitted in threads across the cores (liblinear runs without the GIL) and give the
    same weights in any order; its dual solver shuffles with one generator per process,
    which threads would share. The solutions are the same up to the solvers' tolerance.
    Measured on ModApte (90 topics, 2 cores): dual one after another 2.1 s, primal in two
    threads 1.3 s. BLAS is held to one thread meanwhile: the threads' BLAS calls fought
    for the cores and took 8 s.
    """
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    n_topics = y.shape[1]
    coef = np.zeros((n_topics, x.shape[1]), dtype=np.float32)
    intercept = np.zeros(n_topics, dtype=np.float32)
    x = sp.csr_matrix(x, dtype=np.float64)  # converted once, not by every fit

    def fit(j: int) -> None:
        column = y[:, j]
        if column.min() == column.max():  # a topic on every document or none: a constant
            intercept[j] = 1.0 if column[0] else -1.0
            return
        svm = LinearSVC(C=c, dual=False, random_state=0).fit(x, column)
        coef[j] = svm.coef_[0]
        intercept[j] = svm.intercept_[0]

    threads = min(fit_threads(), n_topics)
    with threadpool_limits(1):
        if threads == 1:
            for j in range(n_topics):
                fit(j)
        else:
            from concurrent.futures import ThreadPoolExecutor  # fitting only: not tagging's import

            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(fit, range(n_topics)))  # raises the first fit's error
    return coef, intercept


def cross_fit(
    x: sp.csr_matrix,
    y: np.ndarray,
    c: float,
    folds: int,
    seed: int,
    on_fold: Callable[[], None] | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-vs-rest SVMs fitted once per fold on the other folds' rows: (each row's margins
    from the model that did not see it, the fold models' mean coef, their mean intercept).

    The mean of the fold models is one linear model that saw none of the rows outside
    `x` (the stacking scores validation rows with it). The folds are fitted one after the
    other, each fold's topics in threads (`fit_linear`); worker processes cost about 550 MB
    and outlived a training stopped by SIGTERM. `on_fold` is called after each fold
    (for progress). `groups`: near-duplicate rows share a number and a fold.
    """
    margins = np.zeros(y.shape, dtype=np.float32)
    coef_sum = np.zeros((y.shape[1], x.shape[1]), dtype=np.float64)
    intercept_sum = np.zeros(y.shape[1], dtype=np.float64)
    groups = np.arange(x.shape[0]) if groups is None else groups
    for held in group_folds(groups, folds, seed):
        rest = np.setdiff1d(np.arange(x.shape[0]), held)
        coef, intercept = fit_linear(x[rest], y[rest], c)
        margins[held] = np.asarray(x[held] @ coef.T, dtype=np.float32) + intercept
        coef_sum += coef
        intercept_sum += intercept
        if on_fold is not None:
            on_fold()
    return (
        margins,
        (coef_sum / folds).astype(np.float32),
        (intercept_sum / folds).astype(np.float32),
    )


def calibrate(margins: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One Platt sigmoid for all topics, fitted on held-out margins: (slope, offset).

    A slope below 0 (margins that rank worse than chance, seen on 10 validation documents)
    becomes 0: the linear model then adds a constant, never inverted evidence.
    """
    from sklearn.linear_model import LogisticRegression

    flat_y = y.ravel()
    if flat_y.min() == flat_y.max():
        return 1.0, 0.0
    model = LogisticRegression(C=1e4).fit(margins.reshape(-1, 1), flat_y)
    slope, offset = float(model.coef_[0, 0]), float(model.intercept_[0])
    if slope < 0.0:  # the best constant: the log-odds of a topic on a document
        rate = float(flat_y.mean())
        return 0.0, float(np.log(rate / (1.0 - rate)))
    return slope, offset


def choose_weight(
    network: np.ndarray,
    linear: np.ndarray,
    y: np.ndarray,
    tune: Callable[[np.ndarray, np.ndarray], ThresholdPolicy],
    grid: tuple[float, ...] = WEIGHT_GRID,
) -> tuple[float, dict[float, float]]:
    """The weight whose blend has the best validation micro-F1 under thresholds tuned there
    (ties go to the larger weight); also every weight's micro-F1."""
    results: dict[float, float] = {}
    for w in grid:
        scores = (1.0 - w) * network + w * linear
        results[w] = micro_f1(y, apply(scores, tune(y, scores)))
    best = max(grid, key=lambda w: (round(results[w], 6), w))
    return best, results
