"""Subject vocabularies: Annif's TSV format read, matched to a model's topics, and the URI
and label each topic is given when served (derived from its name when no vocabulary has it).

Annif's TSV vocabulary has one subject per line: `<URI>`, a tab, the label, and optionally a
tab and a notation; the URI's angle brackets may be left out. A topic matches a subject whose
URI (brackets or not) or label equals the topic's name; the URI wins when both could. No
two topics may be one subject (one URI): a document's suggestions would name it twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from topicclf.config import TOPIC_URI_BASE, cut, normal_topic
from topicclf.errors import CorpusFormatError, DataError
from topicclf.smallfile import MARK, SmallFileError, not_text, open_small_file, small_file_lines


@dataclass(frozen=True)
class Subject:
    """A topic as a vocabulary names it: URI, label and optional notation."""

    uri: str
    label: str
    notation: str | None = None


def derived_subject(topic: str) -> Subject:
    """The subject of a topic no vocabulary names: a stable URN and the topic as label."""
    return Subject(uri=TOPIC_URI_BASE + quote(topic, safe=""), label=topic)


# The namespace of the URNs `derived_subject` gives, in any case (RFC 8141: the scheme and
# the namespace identifier are case-insensitive).
_TOPICCLF_URN = re.compile(r"urn:topicclf:", re.IGNORECASE)


def _clean_uri(value: str) -> str:
    value = value.strip()
    return value[1:-1] if value.startswith("<") and value.endswith(">") else value


# What no URI holds once its angle brackets are removed: white space, the brackets
# themselves, C0 and C1 controls and DEL, the byte order mark (a second file's, joined with
# `cat`, kept '<...>' whole as the URI), lone surrogates, and the bidirectional formatting
# characters RFC 3987 keeps out of IRIs.
_NOT_IN_URI = re.compile(
    r"[\s<>\x00-\x1f\x7f-\x9f\ufeff\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def uri_problem(uri: str) -> str:
    """Why `uri` (its angle brackets removed) is not a subject's URI ("" when it may be)."""
    if not uri:
        return "no URI"
    bad = _NOT_IN_URI.search(uri)
    if bad is None:
        return ""
    return f"the URI holds {bad.group()!r} at character {bad.start() + 1}, which no URI holds"


def parse_vocabulary(
    lines: Iterable[str], source: str = "vocabulary", topics: Iterable[str] | None = None
) -> list[Subject]:
    """Subjects from the lines of an Annif TSV vocabulary; blank lines are skipped. With
    `topics`, every line is checked but only the subjects that could match one of them (the
    first of each URI or label, as `Vocabulary.match` takes them) are kept, in their order."""
    # Apart, as `Vocabulary.match` looks topics up: a URI only among URIs, a label only
    # among labels (one set for both let a label hide a later line's URI: the model kept
    # another subject than the whole file gives).
    wanted = None if topics is None else list(topics)
    uris = None if wanted is None else {_clean_uri(t) for t in wanted}
    labels = None if wanted is None else set(wanted)
    subjects = []
    found = False
    for number, line in enumerate(lines, start=1):
        # A byte order mark begins any line of two files joined with `cat`, not only the
        # first, and may be doubled.
        line = line.lstrip(MARK)
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t", 2)
        uri = _clean_uri(fields[0])
        problem = uri_problem(uri)
        if problem:
            raise CorpusFormatError(
                f"{source}:{number}: expected '<URI>', a tab and a label ({problem}), got "
                f"{line[:80]!r}"
            )
        # Annif reads a subject without a label as deprecated; it can still match by URI.
        label = normal_topic(fields[1]) if len(fields) > 1 else ""  # as the corpus names it
        notation = fields[2].strip() or None if len(fields) > 2 else None
        if max(len(uri), len(label), len(notation or "")) > MAX_FIELD_CHARS:
            raise CorpusFormatError(
                f"{source}:{number}: a URI, label or notation longer than {MAX_FIELD_CHARS:,} "
                "characters; is this a vocabulary file?"
            )
        found = True
        if uris is None or labels is None:
            subjects.append(Subject(uri, label, notation))
        elif uri in uris or (label and label in labels):
            # Only the first subject of a URI or label can match (`Vocabulary.match`): at
            # most two per topic are kept, however often the file repeats one.
            uris.discard(uri)
            labels.discard(label)
            subjects.append(Subject(uri, label, notation))
    if not found:
        raise CorpusFormatError(f"{source}: no subjects in the vocabulary")
    if wanted is not None:
        try:  # said now, before a training, not once the model is trained
            Vocabulary.match(subjects, wanted)
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from None
    return subjects


VOCABULARY_MAX_BYTES = 512 * 1024**2  # the whole GND, 1.4 million subjects, is about 150 MB
# A subject's URI, label or notation longer than this is no vocabulary entry (GND's longest
# labels are a few hundred characters); each is repeated in every suggestion.
MAX_FIELD_CHARS = 2000


def check_vocabulary_file(path: str | Path) -> None:
    """Raise CorpusFormatError unless `path` is a regular file of at most
    VOCABULARY_MAX_BYTES, as `read_vocabulary` takes: said before any work."""
    try:
        open_small_file(path, VOCABULARY_MAX_BYTES, _WHAT).close()
    except SmallFileError as exc:
        raise CorpusFormatError(str(exc)) from None


_WHAT = "a vocabulary is a TSV file"


def read_vocabulary(path: str | Path, topics: Iterable[str] | None = None) -> list[Subject]:
    """Read an Annif TSV vocabulary file (UTF-8, or what a byte order mark names: UTF-16 or
    UTF-32, `smallfile.small_file_lines`): a regular file
    of at most VOCABULARY_MAX_BYTES (a FIFO hung `train --vocabulary`, /dev/zero filled
    memory), a line at a time. With `topics`, only the subjects that could match one are
    kept (`parse_vocabulary`): a model keeps no others, and 20 million subjects held whole
    (418 MB of TSV) took 7.4 GB, then MemoryError."""
    path = Path(path)
    try:
        with open_small_file(path, VOCABULARY_MAX_BYTES, _WHAT) as raw:
            return parse_vocabulary(small_file_lines(raw), str(path), topics)
    except SmallFileError as exc:
        raise CorpusFormatError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise CorpusFormatError(not_text(path, exc, whole=False)) from None


@dataclass(frozen=True)
class Vocabulary:
    """The subjects of a model's topics that a vocabulary names (topic -> subject)."""

    subjects: dict[str, Subject]

    def subject(self, topic: str) -> Subject:
        """The vocabulary's subject for a topic, or one derived from its name."""
        found = self.subjects.get(topic)
        if found is None:
            return derived_subject(topic)
        return found if found.label else Subject(found.uri, topic, found.notation)

    @classmethod
    def match(
        cls, subjects: Sequence[Subject], topics: Iterable[str]
    ) -> tuple[Vocabulary, list[str]]:
        """Match topics to subjects by URI, then by label; also return the unmatched topics."""
        by_uri: dict[str, Subject] = {}
        by_label: dict[str, Subject] = {}
        for subject in subjects:  # the first of repeated URIs or labels wins, as in the file
            by_uri.setdefault(subject.uri, subject)
            if subject.label:
                by_label.setdefault(subject.label, subject)
        matched, unmatched = {}, []
        topics = list(topics)
        for topic in topics:
            found = by_uri.get(_clean_uri(topic)) or by_label.get(topic)
            if found is None:
                unmatched.append(topic)
            else:
                matched[topic] = found
        vocabulary = cls(matched)
        vocabulary.check_one_topic_per_subject(topics)
        return vocabulary, unmatched

    def check_one_topic_per_subject(self, topics: Iterable[str] | None = None) -> None:
        """DataError when two topics are served as one subject URI (the topics given, each
        as `subject` names it, or without `topics` those the vocabulary names): Annif's
        suggest would list that subject twice for a document. The one check of a vocabulary
        matched for training and of one loaded from a model directory."""
        named = self.subjects if topics is None else set(topics)
        seen: dict[str, str] = {}
        for topic in sorted(named):  # the same pair named, whatever order topics come in
            subject = self.subject(topic)
            other = seen.setdefault(subject.uri, topic)
            if other != topic:
                raise DataError(
                    f"the topics {other[:100]!r} and {topic[:100]!r} are both the subject "
                    f"<{subject.uri}> ({self.subject(other).label!r}), so a document's "
                    "suggestions would name it twice; merge the two topics in the corpus, or "
                    "give each a subject of its own"
                )
        # topicclf's own URNs, derived from topic names, are compared as strings above, so
        # `URN:topicclf:...`, `%66ood` or a decomposed `Gemu%CC%88se` gave a second topic a
        # subject RFC 8141 or normal_topic call the same. The namespace is topicclf's: one of
        # its URNs in a vocabulary must be exactly the one its topic is given without one.
        for topic in sorted(named):
            given = self.subjects.get(topic)
            if given is None or not _TOPICCLF_URN.match(given.uri):
                continue
            derived = derived_subject(topic).uri
            if given.uri != derived:
                raise DataError(
                    f"the topic {topic[:100]!r} is given the subject <{cut(given.uri)}>, a URN "
                    "of topicclf's own namespace but not the one topicclf gives this topic "
                    f"(<{cut(derived)}>), so it could be another topic's; give the topic a URI "
                    "of the vocabulary's own, or leave it out (it is then served as that URN)"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {
            "subjects": {
                topic: {"uri": s.uri, "label": s.label, "notation": s.notation}
                for topic, s in self.subjects.items()
            }
        }

    @classmethod
    def from_dict(cls, data: Any, topics: Iterable[str] | None = None) -> Vocabulary:
        """Inverse of to_dict; ValueError when the data is not shaped like it, or names a
        topic not among `topics`."""
        if not isinstance(data, dict) or not isinstance(data.get("subjects"), dict):
            raise ValueError(
                'malformed (expected {"subjects": {topic: {"uri", "label", "notation"}}})'
            )
        unknown = sorted(set(data["subjects"]) - set(topics)) if topics is not None else []
        if unknown:
            raise ValueError("names topics the model does not have: " + ", ".join(unknown[:5]))
        subjects = {}
        for topic, entry in data["subjects"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("uri"), str):
                raise ValueError(f"malformed (topic {topic!r}: expected an object with a uri)")
            label, notation = entry.get("label", ""), entry.get("notation")
            if not isinstance(label, str) or not isinstance(notation, str | None):
                raise ValueError(f"malformed (topic {topic!r}: label and notation must be strings)")
            # Each is repeated in every suggestion the server gives for the topic.
            longest = max(len(entry["uri"]), len(label), len(notation or ""))
            if longest > MAX_FIELD_CHARS:
                raise ValueError(
                    f"topic {topic[:100]!r}: a uri, label or notation of {longest:,} "
                    f"characters, more than the {MAX_FIELD_CHARS:,} a vocabulary entry holds"
                )
            subjects[topic] = Subject(entry["uri"], label, notation)
        vocabulary = cls(subjects)
        vocabulary.check_one_topic_per_subject(topics)  # a DataError is a ValueError
        return vocabulary
