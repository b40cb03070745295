"""The text analyzer: NLTK tokenizers and stemmers (no downloaded data), stop words, n-grams.

NLTK's package import costs about two seconds, so it is imported only when a configuration
needs one of its tokenizers or stemmers beyond the default regular expression; the default
`regexp` tokenizer applies NLTK's RegexpTokenizer rule directly (findall of the pattern,
compiled by the same `regex` engine with the same flags), which tests check gives the same
tokens.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any, ClassVar

import regex

from topicclf.cancel import checkpoint
from topicclf.config import (
    DEFAULT_TOKEN_PATTERN,
    LANGUAGES,
    PATTERN_FLAGS,
    TOKEN_PATTERN_SECONDS,
    FeatureConfig,
    TextConfig,
)
from topicclf.errors import ConfigError, MissingResourceError, SlowTextError
from topicclf.features.languages import (
    ALL_CODES,
    NAMES,
    NEUTRAL,
    SNOWBALL,
    LanguageRules,
    corpus_languages,
    count_languages,
    detect_among,
    rules_for,
)
from topicclf.patterns import compile_pattern

# The stemmers a language's rules name (`auto` is a choice made before: training.analysis).
APPLIED_STEMMERS = ("none", "snowball", "porter")

SLOW_TEXTS_KEPT = 1024  # hashes of texts a tokenizer remembers timing out on
# The flags NLTK's RegexpTokenizer compiles its pattern with.
_NLTK_FLAGS = PATTERN_FLAGS


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop-word list (it ships with the package, nothing to download)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def _nltk_tokenizer(name: str, pattern: str) -> Callable[[str], list[str]]:
    try:
        if name == "wordpunct":
            from nltk.tokenize import wordpunct_tokenize

            return wordpunct_tokenize
        if name == "treebank":
            from nltk.tokenize import TreebankWordTokenizer

            return TreebankWordTokenizer().tokenize
        from nltk.tokenize import RegexpTokenizer

        return RegexpTokenizer(pattern).tokenize
    except ImportError as exc:  # pragma: no cover - nltk is a hard dependency
        raise MissingResourceError(
            f"the {name} tokenizer needs NLTK: pip install nltk ({exc})"
        ) from None


def _stemmer(rules: LanguageRules) -> Callable[[str], str] | None:
    if rules.stemmer == "none":
        return None
    try:
        if rules.stemmer == "porter":
            from nltk.stem.porter import PorterStemmer

            stem: Callable[[str], str] = PorterStemmer().stem
        else:
            from nltk.stem.snowball import SnowballStemmer

            if rules.name not in SnowballStemmer.languages:
                raise ConfigError(
                    f"text.language = {rules.name!r} has no Snowball stemmer; choose one of: "
                    + ", ".join(sorted(SNOWBALL))
                )
            stem = SnowballStemmer(rules.name).stem
    except ImportError as exc:  # pragma: no cover - nltk is a hard dependency
        raise MissingResourceError(f"stemming needs NLTK: pip install nltk ({exc})") from None
    return lru_cache(maxsize=200_000)(stem)


def nfc(text: str) -> str:
    """`text` in Unicode normalisation form C: how every text is read before it is analysed."""
    # NFD input (macOS file names, some PDF extractors) spells accented words with other
    # code points than the NFC texts models are trained on, stop words and stemmers' rules
    # (and NLTK's tokenizers cut it at each combining mark): it got other topics. NFC, not
    # NFKC: compatibility folding changes what a text says ("x²" would read "x2", "ﬁ" "fi",
    # "½" "1⁄2") and so how existing models read such texts.
    # The check first: almost every text is NFC already, and is then not copied.
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


class _Applied:
    """One language's rules ready to apply: the stop-word set and the cached stemmer."""

    def __init__(self, rules: LanguageRules) -> None:
        self.rules = rules
        self.stop_words = rules.stop_words
        self.stem = _stemmer(rules)

    def __reduce__(self) -> tuple[type[_Applied], tuple[LanguageRules]]:
        # The cached stemmer does not pickle: rebuilt from the rules.
        return (_Applied, (self.rules,))


class _LimitedFindall:
    """`pattern.findall` that gives up on one text after TOKEN_PATTERN_SECONDS: the
    backstop for backtracking shapes `patterns.backtracking_risk` does not see. (A class,
    not a closure, so that analyzers pickle for worker processes.)"""

    def __init__(self, compiled: regex.Pattern[str]) -> None:
        self.compiled = compiled
        # Texts that ran out of time, by hash: asked again (a batch retried text by text to
        # find its slow one, another request), they fail at once instead of after the limit.
        self.slow: set[int] = set()

    def __call__(self, text: str) -> list[str]:
        # Up to the time limit per text: a server's request stopped (its client reset) ends
        # here, not after its batch (512 texts at 10 s each held a model's threads for long).
        checkpoint()
        try:
            if hash(text) in self.slow:
                raise TimeoutError
            # concurrent: the matcher lets go of the GIL, so a slow text holds up no other
            # thread (the server's event loop, other models) while it runs.
            found: list[str] = self.compiled.findall(
                text, timeout=TOKEN_PATTERN_SECONDS, concurrent=True
            )
        except TimeoutError:
            if len(self.slow) < SLOW_TEXTS_KEPT:
                self.slow.add(hash(text))
            raise SlowTextError(
                f"text.token_pattern = {self.compiled.pattern[:60]!r} took more than "
                f"{TOKEN_PATTERN_SECONDS:g} s on one text of {len(text)} characters: it "
                "backtracks too much; make the end of each repetition unambiguous"
            ) from None
        # A pattern the empty-match check cannot read (regex-module syntax) may still match
        # the empty string: an empty token is never made (patterns.empty_match_risk).
        return [token for token in found if token]


class Analyzer:
    """Turns a text into tokens (and word n-grams) according to a TextConfig.

    Stop words and stemming follow the text's language: one language's rules for every text
    (a language named in the configuration, a model of one language, a model saved before
    languages were detected), or each text's own among the languages a corpus was found to
    hold (`for_corpus`), with language-neutral rules for the rest. Before `for_corpus`, a
    configuration with `language = auto` applies the rules of whichever language it detects.
    Every text is read in Unicode normalisation form C first (`nfc`), for training and
    tagging alike.
    """

    def __init__(
        self,
        config: TextConfig,
        stop_words: Iterable[str] | None = None,
        languages: Sequence[LanguageRules] | None = None,
    ) -> None:
        self.config = config
        if config.tokenizer == "regexp":
            # TextConfig refused a pattern this engine cannot use (patterns.syntax_problem).
            compiled = compile_pattern(config.token_pattern, _NLTK_FLAGS)
            # The time limit doubles the matcher's cost: the default pattern, linear by
            # construction, goes without it.
            self._tokenize: Callable[[str], list[str]] = (
                compiled.findall
                if config.token_pattern == DEFAULT_TOKEN_PATTERN
                else _LimitedFindall(compiled)
            )
        else:
            self._tokenize = _nltk_tokenizer(config.tokenizer, config.token_pattern)
        # `open`: any language detected gets its rules (auto, before a corpus is seen).
        self.open = languages is None and stop_words is None and config.language == "auto"
        if languages is None:
            if stop_words is not None:  # a model saved before languages: its list, its stemmer
                code = LANGUAGES.get(config.language, NEUTRAL)
                stemmer = {"porter": "porter", "snowball": "snowball" if code else "none"}.get(
                    config.stemmer, "none"
                )
                languages = [LanguageRules(code, frozenset(stop_words), stemmer)]
            elif config.language != "auto":
                # TextConfig refused a stemmer the language has none of (stemmer_problem).
                languages = [rules_for(LANGUAGES[config.language], config)]
            else:
                languages = []
        self.languages: list[LanguageRules] = list(languages)
        self.corpus_counts: Counter[str] | None = None  # set by `for_corpus`
        self._applied = {rules.code: _Applied(rules) for rules in self.languages}
        self._neutral = _Applied(rules_for(NEUTRAL, config))
        self._codes = frozenset(self._applied)
        self._single = (
            self._applied[self.languages[0].code]
            if len(self.languages) == 1
            else (self._neutral if not self.languages and not self.open else None)
        )

    @property
    def time_limited(self) -> bool:
        """Whether one text may take the tokenizer up to TOKEN_PATTERN_SECONDS (a custom
        token pattern) and then fail with SlowTextError; the default pattern and NLTK's
        tokenizers are linear."""
        return isinstance(self._tokenize, _LimitedFindall)

    @property
    def stop_words(self) -> frozenset[str]:
        """The stop words of a one-language analyzer (none when texts are told apart)."""
        return self._single.stop_words if self._single is not None else frozenset()

    @property
    def detects(self) -> bool:
        """Whether each text's language is detected (a model of several languages)."""
        return self._single is None

    def for_corpus(self, texts: Sequence[str]) -> Analyzer:
        """This analyzer for a training corpus: with `language = auto`, the languages with
        enough of its documents get their own rules (`languages.corpus_languages`)."""
        if not self.open:
            return self
        counts = count_languages(nfc(text) for text in texts)
        found = corpus_languages(counts)
        chosen = Analyzer(self.config, languages=[rules_for(code, self.config) for code in found])
        chosen.corpus_counts = counts
        return chosen

    def describe(self) -> dict[str, Any]:
        """The analyzer's rules (and, after `for_corpus`, how many training documents each
        language had), as `info` and the training record show them."""
        counts = self.corpus_counts
        languages = []
        for rules in self.languages:
            entry = rules.describe()
            if counts is not None:
                entry["documents"] = counts[rules.code]
            languages.append(entry)
        described: dict[str, Any] = {
            "languages": languages,
            "detected per document": self.detects,
        }
        if self.detects or not self.languages:
            other = self._neutral.rules.describe()
            described["other texts"] = {k: v for k, v in other.items() if k != "language"}
            if counts is not None:
                described["other texts"]["documents"] = sum(counts.values()) - sum(
                    counts[r.code] for r in self.languages
                )
        return described

    def language_of(self, text: str) -> str:
        """The code of the language whose rules `text` is analysed by (NEUTRAL: none)."""
        return self._rules_of(nfc(text)).rules.code

    def _rules_of(self, text: str) -> _Applied:
        # `text` is NFC (`nfc`): the public methods normalise, once, before this.
        if self._single is not None:
            return self._single
        code = detect_among(text, ALL_CODES if self.open else self._codes)
        if self.open and code not in self._applied and code != NEUTRAL:
            self._applied[code] = _Applied(rules_for(code, self.config))
        return self._applied.get(code, self._neutral)

    def tokens(self, text: str) -> list[str]:
        """Tokenize, lowercase, drop stop words and stem one text, by its language's rules."""
        text = nfc(text)
        return self._tokens(text, self._rules_of(text))

    def _tokens(self, text: str, rules: _Applied) -> list[str]:
        if self.config.lowercase:
            text = text.lower()
        stop_words = rules.stop_words
        tokens = [t for t in self._tokenize(text) if t not in stop_words]
        if rules.stem is not None:
            stem = rules.stem
            tokens = [stem(t) for t in tokens]
        return tokens

    def ngram_stream(self, text: str, n_max: int) -> Iterator[str]:
        """`ngrams` of a text of any size, computed piece by piece in bounded memory (the
        whole text by the rules of its language, told from its beginning)."""
        for grams in self.ngram_pieces(text, n_max):
            yield from grams

    def ngram_pieces(self, text: str, n_max: int) -> Iterator[list[str]]:
        """`ngrams` of each piece of a text of any size (see `pieces`), all by the rules of
        the language the text is told to be in from its beginning."""
        text = nfc(text)
        rules = self._rules_of(text)
        for piece in pieces(text):
            yield self._ngrams(self._tokens(piece, rules), n_max)

    def char_ngram_stream(self, text: str, n_min: int, n_max: int) -> Iterator[str]:
        """`char_ngrams` of a text of any size, one token at a time in bounded memory."""
        for token in self.char_tokens(text):
            yield from char_grams(token, n_min, n_max)

    def char_tokens(self, text: str) -> Iterator[str]:
        """The tokens `char_ngrams` cuts into pieces (stop words and all, unstemmed), of a
        text of any size."""
        for piece in pieces(nfc(text)):
            if self.config.lowercase:
                piece = piece.lower()
            yield from self._tokenize(piece)

    def char_ngrams(self, text: str, n_min: int, n_max: int) -> list[str]:
        """Character n_min- to n_max-grams inside each token padded with a space on either
        side, as scikit-learn's `char_wb` analyzer forms them from words.

        Tokens are taken before stop words are dropped and before stemming: the n-grams
        carry the spelling a stemmer would cut away, and no word is too common to share
        pieces with rarer ones (idf weighs the common pieces down).
        """
        return list(self.char_ngram_stream(text, n_min, n_max))

    def ngrams(self, text: str, n_max: int) -> list[str]:
        """Word 1- to n_max-grams of one text, joined by single spaces."""
        return self._ngrams(self.tokens(text), n_max)

    @staticmethod
    def _ngrams(tokens: list[str], n_max: int) -> list[str]:
        if n_max == 1:
            return tokens
        grams = list(tokens)
        for n in range(2, n_max + 1):
            # zip of shifted views, joined by map: the same n-grams in the same order, with
            # no Python frame per n-gram.
            grams.extend(map(" ".join, zip(*(tokens[k:] for k in range(n)), strict=False)))
        return grams


def char_grams(token: str, n_min: int, n_max: int) -> Iterator[str]:
    """One token's character n-grams, the token padded with a space on either side."""
    word = f" {token} "
    size = len(word)
    if size < n_min:  # shorter than every n: the padded word once, as char_wb gives it
        yield word
        return
    for n in range(n_min, min(n_max, size) + 1):
        for i in range(size - n + 1):
            yield word[i : i + n]


# Long enough that ordinary documents are one piece (the n-grams are then exactly those of the
# whole text), short enough that a 50 MB document never holds all its n-grams in memory.
PIECE_CHARS = 1 << 20


def pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """Cut a text into consecutive pieces of about `size` characters, at white space.

    Only n-grams spanning a cut (one per cut and n-gram length) differ from the whole text's.
    """
    start, end = 0, len(text)
    while end - start > size:
        cut = max(
            text.rfind(" ", start + size // 2, start + size),
            text.rfind("\n", start + size // 2, start + size),
        )
        if cut <= start:
            cut = start + size
        yield text[start:cut]
        start = cut
    yield text[start:]


class TextFeaturizer:
    """What every featurizer has: its settings and the analyzer that cuts its texts."""

    # The analyzer's part of a featurizer's JSON state (see bundle.files.KINDS); models saved
    # before languages were detected have no `languages` (their `stop_words` apply to all).
    analyzer_fields: ClassVar[dict[str, str]] = {
        "stop_words": "a list of strings",
        "languages": "a list of objects",
    }

    def __init__(
        self,
        text: TextConfig,
        features: FeatureConfig,
        stop_words: Iterable[str] | None = None,
        languages: Sequence[LanguageRules] | None = None,
    ) -> None:
        self.text = text
        self.features = features
        # The document-frequency floor the last fit applied and the texts it was fitted on
        # (`floor_for`), for the training record; a loaded featurizer knows neither.
        self.document_floor_: int | None = None
        self.fitted_documents_: int | None = None
        # A saved model brings its own rules: those it was trained with.
        self.analyzer = Analyzer(text, stop_words=stop_words, languages=languages)

    def floor_for(self, n_docs: int) -> int:
        """The document-frequency floor of a fit on n_docs texts
        (FeatureConfig.document_floor), remembered for the training record."""
        self.document_floor_ = self.features.document_floor(n_docs)
        self.fitted_documents_ = n_docs
        return self.document_floor_

    def use_analyzer(self, analyzer: Analyzer) -> None:
        """Analyse with these rules (chosen for the training corpus) instead of finding
        the corpus's languages again when fitting."""
        self.analyzer = analyzer

    def adapt_analyzer(self, texts: Sequence[str]) -> None:
        """Before fitting: the analyzer's languages are those of the training texts."""
        self.analyzer = self.analyzer.for_corpus(texts)

    def analyzer_state(self) -> dict[str, Any]:
        """The analyzer's rules as JSON, for a featurizer's `get_state`."""
        return {
            "stop_words": sorted(self.analyzer.stop_words),
            "languages": [
                {"code": r.code, "stop_words": sorted(r.stop_words), "stemmer": r.stemmer}
                for r in self.analyzer.languages
            ],
        }

    @staticmethod
    def analyzer_rules(meta: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments that rebuild the analyzer of a featurizer's JSON state,
        checked: a language code, a list of words and a stemmer for each language."""
        if "languages" not in meta:
            return {"stop_words": meta["stop_words"]}
        languages = []
        for entry in meta["languages"]:
            code, words, stemmer = (entry.get(k) for k in ("code", "stop_words", "stemmer"))
            if code not in NAMES or stemmer not in APPLIED_STEMMERS:
                raise ValueError(f"languages: unknown language or stemmer in {entry!r:.200}")
            if type(words) is not list or not all(type(w) is str for w in words):
                raise ValueError(f"languages: stop_words of {code} must be a list of strings")
            if stemmer == "snowball" and NAMES[code] not in SNOWBALL:
                raise ValueError(f"languages: {NAMES[code]} has no Snowball stemmer")
            languages.append(LanguageRules(code, frozenset(words), stemmer))
        if len({r.code for r in languages}) != len(languages):
            raise ValueError("languages: a language is listed twice")
        return {"languages": languages}
