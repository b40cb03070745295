"""The text analyzer: NLTK tokenizers and stemmers (no downloaded data), stop words, n-grams.

NLTK's package import costs about two seconds, so it is imported only when a configuration
needs one of its tokenizers or stemmers beyond the default regular expression; the default
`regexp` tokenizer applies NLTK's RegexpTokenizer rule directly (findall of the pattern,
compiled by the same `regex` engine with the same flags), which tests check gives the same
tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

import regex

from topicclf.config import FeatureConfig, TextConfig
from topicclf.errors import ConfigError, MissingResourceError

# The flags NLTK's RegexpTokenizer compiles its pattern with.
_NLTK_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL


def english_stop_words() -> frozenset[str]:
    """scikit-learn's English stop-word list (it ships with the package, nothing to download)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def resolve_stop_words(config: TextConfig) -> frozenset[str]:
    """The stop words a configuration asks for, lowercased when the analyzer lowercases."""
    if config.stop_words == "none":
        return frozenset()
    words = english_stop_words()
    return frozenset(w.lower() for w in words) if config.lowercase else words


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


def _stemmer(name: str, language: str) -> Callable[[str], str]:
    try:
        if name == "porter":
            from nltk.stem.porter import PorterStemmer

            return PorterStemmer().stem
        from nltk.stem.snowball import SnowballStemmer

        if language not in SnowballStemmer.languages:
            raise ConfigError(
                f"text.language = {language!r} has no Snowball stemmer; choose one of: "
                + ", ".join(SnowballStemmer.languages)
            )
        return SnowballStemmer(language).stem
    except ImportError as exc:  # pragma: no cover - nltk is a hard dependency
        raise MissingResourceError(f"stemming needs NLTK: pip install nltk ({exc})") from None


class Analyzer:
    """Turns a text into tokens (and word n-grams) according to a TextConfig."""

    def __init__(self, config: TextConfig, stop_words: Iterable[str] | None = None) -> None:
        self.config = config
        self.stop_words = (
            frozenset(stop_words) if stop_words is not None else resolve_stop_words(config)
        )
        if config.tokenizer == "regexp":
            try:
                compiled = regex.compile(config.token_pattern, _NLTK_FLAGS)
            except regex.error as exc:
                raise ConfigError(
                    f"text.token_pattern = {config.token_pattern!r} is not a valid "
                    f"regular expression: {exc}"
                ) from None
            if compiled.groups:
                raise ConfigError(
                    "text.token_pattern must not contain capturing groups; use (?:...)"
                )
            self._tokenize: Callable[[str], list[str]] = compiled.findall
        else:
            self._tokenize = _nltk_tokenizer(config.tokenizer, config.token_pattern)
        self._stem: Callable[[str], str] | None = None
        if config.stemmer != "none":
            self._stem = lru_cache(maxsize=200_000)(_stemmer(config.stemmer, config.language))

    def tokens(self, text: str) -> list[str]:
        """Tokenize, lowercase, drop stop words and stem one text."""
        if self.config.lowercase:
            text = text.lower()
        tokens = [t for t in self._tokenize(text) if t not in self.stop_words]
        if self._stem is not None:
            stem = self._stem
            tokens = [stem(t) for t in tokens]
        return tokens

    def ngram_stream(self, text: str, n_max: int) -> Iterator[str]:
        """`ngrams` of a text of any size, computed piece by piece in bounded memory."""
        for piece in pieces(text):
            yield from self.ngrams(piece, n_max)

    def char_ngram_stream(self, text: str, n_min: int, n_max: int) -> Iterator[str]:
        """`char_ngrams` of a text of any size, one token at a time in bounded memory."""
        for token in self.char_tokens(text):
            yield from char_grams(token, n_min, n_max)

    def char_tokens(self, text: str) -> Iterator[str]:
        """The tokens `char_ngrams` cuts into pieces (stop words and all, unstemmed), of a
        text of any size."""
        for piece in pieces(text):
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
        tokens = self.tokens(text)
        if n_max == 1:
            return tokens
        grams = list(tokens)
        for n in range(2, n_max + 1):
            grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
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

    def __init__(
        self, text: TextConfig, features: FeatureConfig, stop_words: Iterable[str] | None = None
    ) -> None:
        self.text = text
        self.features = features
        # A saved model brings its own stop words: the list it was trained with.
        self.analyzer = Analyzer(text, stop_words=stop_words)
