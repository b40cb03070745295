"""Where a model goes wrong: the most confused topic pairs and example documents with errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from topicclf.config import CONFUSION_PAIRS_PER_DOCUMENT


def confusions(
    truth: np.ndarray, pred: np.ndarray, label_names: list[str], most: int = 20
) -> list[dict[str, Any]]:
    """The most frequent (missed true topic, wrongly predicted topic) pairs within documents,
    most frequent first, ties in (true, predicted) column order."""
    return top_pairs(confusion_counts(truth, pred)[0], label_names, most)


def confusion_counts(
    truth: np.ndarray,
    pred: np.ndarray,
    unknown: Any = None,
    per_document: int = CONFUSION_PAIRS_PER_DOCUMENT,
) -> tuple[Any, int]:
    """A sparse topics x topics count, [i, j] documents missing i while wrongly given j, and
    how many documents were left out of it: those of more than `per_document` pairs (missed
    x wrongly given topics), so that its size grows with the documents, never with the
    product of one document's topics. Sparse: dense, it would be 9 GB for a library
    vocabulary of 33,000 topics. `unknown`: a sparse 0/1 matrix of true topics the model
    does not know, rows and columns after the model's (always missed, never given)."""
    import scipy.sparse as sp

    missed_dense, wrong_dense = truth & ~pred, ~truth & pred
    n_missed = missed_dense.sum(axis=1)
    if unknown is not None and unknown.shape[1]:
        n_missed = n_missed + np.diff(sp.csr_matrix(unknown).indptr)
    kept = n_missed * wrong_dense.sum(axis=1) <= per_document
    missed = sp.csr_matrix(missed_dense[kept], dtype=np.int64)
    wrong = sp.csr_matrix(wrong_dense[kept], dtype=np.int64)
    if unknown is not None and unknown.shape[1]:
        unknown_kept = sp.csr_matrix(unknown, dtype=np.int64)[kept]
        missed = sp.hstack([missed, unknown_kept], format="csr")
        wrong = sp.hstack([wrong, sp.csr_matrix(unknown_kept.shape, dtype=np.int64)], format="csr")
    return (missed.T @ wrong).tocsr(), int((~kept).sum())


class ConfusionTally:
    """confusion_counts summed over batches of documents. Batches wait to be summed until
    they hold as many pairs as the sum, so each pair is summed a logarithmic number of
    times, not once per later batch (thousands of batches for a library vocabulary)."""

    def __init__(self) -> None:
        self.left_out = 0  # documents left out of the count (see confusion_counts)
        self._parts: list[Any] = []  # the sum so far, first, then the batches waiting
        self._waiting = 0  # pairs in the batches waiting

    def add(self, truth: np.ndarray, pred: np.ndarray, unknown: Any = None) -> None:
        """Count a batch (see confusion_counts)."""
        pairs, left_out = confusion_counts(truth, pred, unknown)
        self.left_out += left_out
        self._parts.append(pairs.tocoo())
        self._waiting += pairs.nnz
        if self._waiting >= self._parts[0].nnz:
            self._sum()

    def counts(self) -> Any:
        """The sparse count of every batch added (None: none added)."""
        self._sum()
        return self._parts[0] if self._parts else None

    def _sum(self) -> None:
        import scipy.sparse as sp

        if len(self._parts) > 1:
            parts = self._parts
            rows, cols, data = (
                np.concatenate([getattr(p, a) for p in parts]) for a in ("row", "col", "data")
            )
            # Duplicate (row, column) entries are summed on conversion.
            total = sp.coo_matrix((data, (rows, cols)), shape=parts[0].shape).tocsr().tocoo()
            self._parts = [total]
        self._waiting = 0


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
