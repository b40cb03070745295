"""Languages: which one a text is written in, and the rules the analyzer applies to it.

The detector is py3langid (its model ships inside the package: nothing is downloaded); the
stop-word lists are scikit-learn's for English (the list topicclf always used, so English
models are as they were) and the `stop-words` package's for the other languages; stemmers
are NLTK's Snowball stemmers. A language with neither a list nor a stemmer is analysed
without language rules, as is a text whose language the detector is unsure of.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from topicclf.config import (
    LANGUAGE_DETECT_CHARS,
    LANGUAGE_MIN_CONFIDENCE,
    LANGUAGE_MIN_DOCUMENTS,
    LANGUAGE_MIN_SHARE,
    LANGUAGE_SMALL_CORPUS_SHARE,
    LANGUAGES,
    SNOWBALL_LANGUAGES,
    TextConfig,
)
from topicclf.errors import MissingResourceError

NAMES = {code: name for name, code in LANGUAGES.items()}  # ISO 639-1 code -> name
ALL_CODES = frozenset(NAMES)
SNOWBALL = SNOWBALL_LANGUAGES  # NLTK's Snowball stemmers
NEUTRAL = ""  # the code of texts analysed without language rules


@dataclass(frozen=True)
class LanguageRules:
    """How texts of one language are analysed: its stop words and its stemmer."""

    code: str  # ISO 639-1, or NEUTRAL
    stop_words: frozenset[str]
    stemmer: str  # "none", "snowball" (the language's own) or "porter" (English)

    @property
    def name(self) -> str:
        """The language's name ('german'), or 'none' for language-neutral rules."""
        return NAMES.get(self.code, "none")

    def describe(self) -> dict[str, Any]:
        """The rules as `info` shows them."""
        return {
            "language": self.name,
            "stop_words": len(self.stop_words),
            "stemmer": self.stemmer,
        }


@cache
def _detector() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise MissingResourceError(
            f"text.language = auto needs the language detector: pip install py3langid ({exc}); "
            "or name the language, e.g. --set text.language=english"
        ) from None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


# While a model trains, each sample's verdict, made once: training tells each document's
# language up to four times (counting the corpus's languages, the stemming choice,
# vectorizing, the shortlist's languages), 90 s of 580 on 80,000 TIBKAT records. A verdict
# depends on the sample alone, so a remembered one is the same answer.
_remembered: dict[str, tuple[str, float, list[str] | None]] = {}
_remembering = 0  # trainings under way in this process (threads share the verdicts)
_remembering_lock = threading.Lock()


@contextlib.contextmanager
def remembering_detection() -> Iterator[None]:
    """Within it, each distinct text's language is detected once (training); the verdicts
    are forgotten when the last training under way ends."""
    global _remembering
    with _remembering_lock:
        _remembering += 1
    try:
        yield
    finally:
        with _remembering_lock:
            _remembering -= 1
            if not _remembering:
                _remembered.clear()


def _verdict(sample: str) -> tuple[str, float, list[str] | None]:
    """The detector's (best code, confidence), and its ranking once asked for."""
    if _remembering and sample in _remembered:
        return _remembered[sample]
    code, confidence = _detector().classify(sample)
    verdict = (str(code), float(confidence), None)
    if _remembering:
        _remembered[sample] = verdict
    return verdict


def _ranking(sample: str) -> list[str]:
    """Every language code, likeliest first (remembered with the verdict)."""
    best, confidence, ranked = _verdict(sample)
    if ranked is None:
        ranked = [str(code) for code, _ in _detector().rank(sample)]
        if _remembering:
            _remembered[sample] = (best, confidence, ranked)
    return ranked


def detect(text: str) -> str:
    """The ISO 639-1 code of the language `text` is written in, or NEUTRAL when the
    detector is unsure (short or mixed texts): decided from its first characters."""
    sample = text[:LANGUAGE_DETECT_CHARS]
    if not sample.strip():
        return NEUTRAL
    code, confidence, _ = _verdict(sample)
    return code if confidence >= LANGUAGE_MIN_CONFIDENCE else NEUTRAL


def detect_among(text: str, codes: frozenset[str]) -> str:
    """The language of `text` among a model's languages `codes`: the detector's best guess
    when it is one of them; NEUTRAL when the detector is sure of another language; else (a
    short or unclear text) the most likely of `codes`, as the corpus is written in those."""
    sample = text[:LANGUAGE_DETECT_CHARS]
    if not sample.strip():
        return NEUTRAL
    best, confidence, _ = _verdict(sample)
    if best in codes:
        return best
    if confidence >= LANGUAGE_MIN_CONFIDENCE:
        return NEUTRAL
    # Unsure (a short text): the whole ranking, to find the likeliest of `codes`.
    return next((code for code in _ranking(sample) if code in codes), NEUTRAL)


def language_name(text: str) -> str:
    """The name of the language a text is told to be in (`detect_among` every language
    with rules here), or "other"."""
    return NAMES.get(detect_among(text, ALL_CODES), "other")


def count_languages(texts: Iterable[str]) -> Counter[str]:
    """How many of `texts` are told to be in each language with rules here (`detect_among`
    all of them; NEUTRAL: surely another language)."""
    return Counter(detect_among(text, ALL_CODES) for text in texts)


def corpus_languages(counts: Counter[str]) -> list[str]:
    """The languages of a corpus that get their own rules, most documents first: those
    with rules here and enough documents (see LANGUAGE_MIN_SHARE)."""
    total = sum(counts.values())
    floor = max(
        LANGUAGE_MIN_SHARE * total,
        min(LANGUAGE_MIN_DOCUMENTS, LANGUAGE_SMALL_CORPUS_SHARE * total),
    )
    return [
        code
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if code in NAMES and n >= floor
    ]


def stop_words_of(code: str, config: TextConfig) -> frozenset[str]:
    """The stop words texts of a language lose under `config.stop_words`."""
    if config.stop_words == "none" or (code == NEUTRAL and config.stop_words == "auto"):
        return frozenset()
    if config.stop_words == "english" or code == "en":
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        words: Iterable[str] = ENGLISH_STOP_WORDS
    else:
        words = _listed_stop_words(code)
    return frozenset(w.lower() for w in words) if config.lowercase else frozenset(words)


def _listed_stop_words(code: str) -> list[str]:
    try:
        import stop_words
    except ImportError as exc:
        raise MissingResourceError(
            f"stop words for {NAMES.get(code, code)} need the stop-words package: "
            f"pip install stop-words ({exc}); or set text.stop_words = none"
        ) from None
    try:
        return list(stop_words.get_stop_words(code))
    except stop_words.StopWordError:  # a language it has no list for: no stop words
        return []


def stemmer_of(code: str, config: TextConfig) -> str:
    """The stemmer texts of a language get under `config.stemmer`: Snowball where NLTK has
    one for the language, Porter for English only, else none."""
    name = NAMES.get(code, "")
    if config.stemmer == "snowball" and name in SNOWBALL:
        return "snowball"
    if config.stemmer == "porter" and name == "english":
        return "porter"
    return "none"


def rules_for(code: str, config: TextConfig) -> LanguageRules:
    """The rules of one language (NEUTRAL: none) under a configuration."""
    return LanguageRules(code, stop_words_of(code, config), stemmer_of(code, config))


def _rules_text(entry: dict[str, Any]) -> str:
    words = (
        f"{entry.get('stop_words', 0)} stop words" if entry.get("stop_words") else "no stop words"
    )
    stemmer = entry.get("stemmer", "none")
    stemming = "no stemmer" if stemmer == "none" else f"{stemmer} stemmer"
    documents = f"{entry['documents']} documents; " if "documents" in entry else ""
    return f"{documents}{words}, {stemming}"


def describe_rules(described: dict[str, Any]) -> str:
    """One line for the languages a model analyses and their rules (`Analyzer.describe`)."""
    parts = [f"{e.get('language')} ({_rules_text(e)})" for e in described.get("languages", [])]
    if "other texts" in described:
        parts.append(f"other texts ({_rules_text(described['other texts'])})")
    line = ", ".join(parts) or "no language rules"
    if described.get("detected per document"):
        line += "; each text's language detected"
    return line
