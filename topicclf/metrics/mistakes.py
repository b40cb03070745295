"""Where a model goes wrong: the most confused topic pairs and example documents with errors."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusions(
    truth: np.ndarray, pred: np.ndarray, label_names: list[str], most: int = 20
) -> list[dict[str, Any]]:
    """The most frequent (missed true topic, wrongly predicted topic) pairs within documents,
    most frequent first, ties in (true, predicted) column order."""
    return top_pairs(confusion_counts(truth, pred), label_names, most)


def confusion_counts(truth: np.ndarray, pred: np.ndarray, unknown: Any = None) -> Any:
    """A sparse topics x topics count: [i, j] documents missing i while wrongly given j.
    Sparse: dense, it would be 9 GB for a library vocabulary of 33,000 topics. `unknown`: a
    sparse 0/1 matrix of true topics the model does not know, rows and columns after the
    model's (always missed, never given)."""
    import scipy.sparse as sp

    missed = sp.csr_matrix(truth & ~pred, dtype=np.int64)
    wrong = sp.csr_matrix(~truth & pred, dtype=np.int64)
    if unknown is not None and unknown.shape[1]:
        missed = sp.hstack([missed, sp.csr_matrix(unknown, dtype=np.int64)], format="csr")
        wrong = sp.hstack([wrong, sp.csr_matrix(unknown.shape, dtype=np.int64)], format="csr")
    return (missed.T @ wrong).tocsr()


def top_pairs(pairs: Any, label_names: list[str], most: int = 20) -> list[dict[str, Any]]:
    """The most frequent pairs of a confusion count, ties in (true, predicted) column order."""
    if pairs is None:
        return []
    coo = pairs.tocoo()
    keep = coo.data > 0
    rows, cols, counts = coo.row[keep], coo.col[keep], coo.data[keep]
    order = np.lexsort((cols, rows, -counts))[:most]
    return [
        {"true": label_names[rows[k]], "predicted": label_names[cols[k]], "count": int(counts[k])}
        for k in order
    ]


# Documents an evaluation report shows as examples of errors.
ERROR_EXAMPLES = 6


def error_examples(
    truth: np.ndarray,
    pred: np.ndarray,
    label_names: list[str],
    ids: list[str],
    texts: list[str],
    most: int = ERROR_EXAMPLES,
    first_position: int | None = None,
) -> list[dict[str, Any]]:
    """A handful of documents with false positives or negatives, most errors first; with
    `first_position` (the corpus position of row 0), each also holds its "position", which
    tells documents apart where ids repeat."""
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
            | ({} if first_position is None else {"position": first_position + int(i)})
        )
    return out
