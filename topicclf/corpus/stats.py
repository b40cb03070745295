"""Corpus statistics: sizes, topic frequencies, label cardinality, document lengths."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from topicclf.labels import joined_topics_hint
from topicclf.types import Document


@dataclass(frozen=True)
class CorpusStats:
    """What `topicclf corpus stats` reports."""

    documents: int
    labelled_documents: int
    empty_documents: int
    duplicate_ids: int
    topics: int
    label_cardinality: float
    multi_topic_share: float
    topic_counts: dict[str, int]
    words_mean: float
    words_median: float
    words_min: int
    words_max: int
    # Documents per language as detected (`features.languages`), "other" for the rest.
    languages: dict[str, int]
    # Topic names that look like several joined by a separator (labels.separator_hint).
    label_separator_hint: str | None = None
    # Records that could not be read (documents carrying an error): not in the figures above.
    bad_records: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return asdict(self)


def corpus_stats(
    documents: Iterable[Document], language_of: Callable[[str], str] | None = None
) -> CorpusStats:
    """Count a corpus in one streaming pass (only per-document lengths are kept), with each
    document's language if `language_of` tells it (a name, or "other"). A bad record (read
    with on_error="report") is counted as one and left out of every other figure."""
    n = labelled = empty = multi = label_total = bad = 0
    topics: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    lengths: list[int] = []
    for doc in documents:
        if doc.error is not None:
            bad += 1
            continue
        n += 1
        ids[doc.id] += 1
        words = len(doc.text.split())
        lengths.append(words)
        empty += words == 0
        if language_of is not None and words:
            languages[language_of(doc.text)] += 1
        if doc.labels:
            labelled += 1
            label_total += len(doc.labels)
            multi += len(doc.labels) > 1
            topics.update(doc.labels)
    lengths.sort()
    median = 0.0
    if lengths:
        mid = len(lengths) // 2
        median = float(lengths[mid]) if len(lengths) % 2 else (lengths[mid - 1] + lengths[mid]) / 2
    return CorpusStats(
        documents=n,
        labelled_documents=labelled,
        empty_documents=empty,
        duplicate_ids=sum(c - 1 for c in ids.values() if c > 1),
        topics=len(topics),
        label_cardinality=label_total / labelled if labelled else 0.0,
        multi_topic_share=multi / labelled if labelled else 0.0,
        topic_counts=dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))),
        words_mean=sum(lengths) / n if n else 0.0,
        words_median=median,
        words_min=lengths[0] if lengths else 0,
        words_max=lengths[-1] if lengths else 0,
        languages=dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        label_separator_hint=joined_topics_hint(topics, single=not multi),
        bad_records=bad,
    )
