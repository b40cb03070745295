"""Where a model goes wrong: the most confused topic pairs and example documents with errors."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusions(
    truth: np.ndarray, pred: np.ndarray, label_names: list[str], most: int = 20
) -> list[dict[str, Any]]:
    """The most frequent (missed true topic, wrongly predicted topic) pairs within documents."""
    missed = (truth & ~pred).astype(np.int64)
    wrong = (~truth & pred).astype(np.int64)
    pairs = missed.T @ wrong  # pairs[i, j]: documents missing i while wrongly given j
    order = np.argsort(-pairs, axis=None, kind="stable")[:most]
    out = []
    for flat in order:
        i, j = divmod(int(flat), pairs.shape[1])
        if pairs[i, j] == 0:
            break
        out.append({"true": label_names[i], "predicted": label_names[j], "count": int(pairs[i, j])})
    return out


def error_examples(
    truth: np.ndarray,
    pred: np.ndarray,
    label_names: list[str],
    ids: list[str],
    texts: list[str],
    most: int = 6,
) -> list[dict[str, Any]]:
    """A handful of documents with false positives or negatives, most errors first."""
    wrong = (truth != pred).sum(axis=1)
    names = np.asarray(label_names)
    out = []
    for i in np.argsort(-wrong, kind="stable")[:most]:
        if wrong[i] == 0:
            break
        out.append(
            {
                "id": ids[i],
                "text": texts[i][:400],
                "true": names[truth[i]].tolist(),
                "predicted": names[pred[i]].tolist(),
                "false_positives": names[~truth[i] & pred[i]].tolist(),
                "false_negatives": names[truth[i] & ~pred[i]].tolist(),
            }
        )
    return out
