"""Near-duplicate documents, grouped so that they never straddle the validation split or the
stacking folds: a copy of a training document in validation (a wire story sent twice, a
record catalogued again with a word changed) is scored by a model that has seen it, so the
figures chosen on validation flatter the model (Reuters repeated with 10% of the words
dropped per copy: validation micro-F1 0.996, test 0.873).

Documents are near-duplicates when their sets of words overlap by at least
NEAR_DUPLICATE_JACCARD (Jaccard similarity: shared words over all their words). Candidates
come from MinHash: every document gets MINHASH_BANDS x MINHASH_ROWS minimum hashes of its
words, and documents that agree on all the hashes of one band share a bucket (pairs at the
threshold do so in at least one band 91% of the time, at 0.7 98.5%). A candidate joins the
first document of its bucket when their word sets, compared exactly, overlap enough. Cost:
one pass over each document's distinct words per hash, in numpy, and at most one exact
comparison per document and band; no documents x documents array exists.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from topicclf.features.text import nfc
from topicclf.types import NullProgress, Progress

NEAR_DUPLICATE_JACCARD = 0.6
MINHASH_BANDS, MINHASH_ROWS = 10, 3
# A group larger than this share of the documents (and than MIN_GROUP_CAP) is a chain of
# templated texts, regrouped by identical words (see _dissolve_large).
MAX_GROUP_SHARE, MIN_GROUP_CAP = 0.01, 8
_WORD = re.compile(r"\w+")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def near_duplicate_groups(
    texts: Sequence[str], seed: int = 0, progress: Progress | None = None
) -> np.ndarray:
    """A group number per text (0..k-1); texts of one group are near-duplicates, chained
    (a ~ b and b ~ c put a, b and c together). Deterministic for the texts and seed."""
    n = len(texts)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    progress = progress or NullProgress()
    progress.start("finding near-duplicates", 2)
    signatures, words = _signatures(texts, seed)
    progress.advance(1)
    edges_from: list[np.ndarray] = []
    edges_to: list[np.ndarray] = []
    for band in range(MINHASH_BANDS):
        rows = signatures[:, band * MINHASH_ROWS : (band + 1) * MINHASH_ROWS]
        key = _combine(rows)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        first = np.repeat(order[starts], np.diff(np.r_[starts, n]))  # each bucket's first
        docs = order
        other = docs != first
        docs, reps = docs[other], first[other]
        if not len(docs):
            continue
        close = _jaccard(words, docs, reps) >= NEAR_DUPLICATE_JACCARD
        edges_from.append(docs[close])
        edges_to.append(reps[close])
    progress.advance(1)
    progress.finish()
    if not edges_from or not sum(len(e) for e in edges_from):
        return np.arange(n, dtype=np.int64)
    # Imported here: scipy's graph module costs 85 ms, and tagging imports this package.
    from scipy.sparse.csgraph import connected_components

    a, b = np.concatenate(edges_from), np.concatenate(edges_to)
    graph = sp.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return _dissolve_large(labels.astype(np.int64), words)


def _dissolve_large(labels: np.ndarray, words: sp.csr_matrix) -> np.ndarray:
    """Groups above MAX_GROUP_SHARE of the documents (or MIN_GROUP_CAP) are chains through
    templated texts (one sentence, a word changed each time), not copies: kept whole they
    would fill the validation split with one template. Their documents are regrouped by
    identical word sets only."""
    cap = max(MIN_GROUP_CAP, int(len(labels) * MAX_GROUP_SHARE))
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes > cap)
    if not len(large):
        return labels
    labels = labels.copy()
    next_label = int(labels.max()) + 1
    for group in large:
        by_words: dict[bytes, int] = {}
        for row in np.flatnonzero(labels == group):
            key = words.indices[words.indptr[row] : words.indptr[row + 1]].tobytes()
            if key not in by_words:
                by_words[key] = next_label
                next_label += 1
            labels[row] = by_words[key]
    return np.unique(labels, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _signatures(texts: Sequence[str], seed: int) -> tuple[np.ndarray, sp.csr_matrix]:
    """MinHash signatures (texts x bands*rows, uint64) of each text's set of words, and the
    sets as a binary texts x words matrix; a text with no word is the one word of its text."""
    from sklearn.feature_extraction.text import CountVectorizer

    # A text without a word would have an empty set: it gets one of its own, its whole text.
    marked = [t if _WORD.search(t) else f"\0{t}" for t in texts]
    vectorizer = CountVectorizer(binary=True, token_pattern=None, analyzer=_words, dtype=np.int8)
    sets = sp.csr_matrix(vectorizer.fit_transform(marked))
    sets.sort_indices()
    # A stable 64-bit hash per distinct word (Python's str hash changes between processes).
    word_hash = np.fromiter(
        (int.from_bytes(hashlib.blake2b(w.encode("utf-8", "surrogatepass"), digest_size=8)
                        .digest(), "little") for w in vectorizer.get_feature_names_out()),
        dtype=np.uint64, count=sets.shape[1],
    )  # fmt: skip
    flat = word_hash[sets.indices]
    starts = sets.indptr[:-1]
    rng = np.random.default_rng(seed)
    count = MINHASH_BANDS * MINHASH_ROWS
    salts = rng.integers(1, 2**63, size=count, dtype=np.uint64)
    multipliers = rng.integers(1, 2**63, size=count, dtype=np.uint64) | np.uint64(1)
    signatures = np.empty((len(texts), count), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(count):
            mixed = _mix((flat ^ salts[i]) * multipliers[i])
            signatures[:, i] = np.minimum.reduceat(mixed, starts)
    return signatures, sets


def _words(text: str) -> list[str]:
    """A text's words, in NFC as the analyzer reads them (an NFD copy is the same text) and
    lowercased (its whole text when it has none: see _signatures)."""
    return _WORD.findall(nfc(text).lower()) or [text]


def _jaccard(sets: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard similarity of the word sets of rows a[i] and b[i], for every i."""
    shared = np.asarray(sets[a].multiply(sets[b]).sum(axis=1), dtype=np.float64).reshape(-1)
    sizes = np.diff(sets.indptr)
    return shared / np.maximum(sizes[a] + sizes[b] - shared, 1)


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finalizer (splitmix64's), so that every bit of the hash depends on every bit
    of the input."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (x ^ (x >> np.uint64(31))) & _MASK


def _combine(rows: np.ndarray) -> np.ndarray:
    """One 64-bit key per row of a band's hashes."""
    key = np.zeros(rows.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows.shape[1]):
            key = _mix(key * np.uint64(31) + rows[:, j])
    return key
