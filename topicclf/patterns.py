"""Regular expressions that come from users and model files (the token pattern): the shapes
that make a backtracking matcher take exponential time are refused before use.

A pattern is refused when a repetition of more than one (`*`, `+`, `{2,}`, `{1,100}`)
repeats a body that can match one string in several ways: a body whose only required part is
itself a repetition of varying length (`(?:a+)+`, `(?:\\w+\\s?)*`, `(?:\\w*)*`,
`(?:\\w{1,100}){1,100}`), or alternatives anywhere in it that can begin with the same
character or both match the empty string (`(?:a|aa)+`, `(?:a|a)*`, `(?:-(?:\\w+|\\d))*`).
Common token patterns pass: `\\b\\w\\w+\\b`, `[A-Za-z]+`, `\\w+(?:[-']\\w+)*` (each
repetition of the group must start with a separator). The check is a heuristic, not a proof
(`\\w*\\w*\\w*x` backtracks polynomially without nesting): the tokenizer also stops a single
text after `TOKEN_PATTERN_SECONDS` (features.text), and tagging makes that text a bad record
of its own, for shapes this check does not see.

A pattern that can match the empty string (``, `(?u)\\b`, `\\w*`, `a|`) is refused too
(`empty_match_risk`): its empty matches would be tokens, and a model of empty tokens tags
every text alike. Refusing is simpler to explain than silently dropping some matches; the
tokenizer still drops an empty match of a pattern this check cannot read (regex-module
syntax), so no empty token is ever made.

A pattern the tokenizer's engine (the `regex` module) cannot compile, or one with capturing
groups, is refused as well (`syntax_problem`), when the setting is read: before, it passed,
and failed only once a corpus had been read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import regex

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
ALIKE = "a repeated group whose alternatives can start alike, e.g. (?:a|aa)+"
NESTED = "a repetition inside a repetition, e.g. (?:a+)+ or (?:\\w+\\s?)*"
MAX_REPEAT_COUNT = 10_000
# A bounded repetition's counts, as written: {n}, {n,}, {n,m}.
_COUNT = re.compile(r"\{(\d{1,30})(?:,(\d{0,30}))?\}")
_ZERO_WIDTH = (sre.AT, sre.ASSERT, sre.ASSERT_NOT)


def compile_pattern(pattern: str, flags: int = 0) -> regex.Pattern[str]:
    """`pattern` compiled by the engine the tokenizer matches with (the `regex` module, as
    NLTK's RegexpTokenizer); raises regex.error or ValueError when that engine refuses it.
    Check it with `syntax_problem` first (a setting is checked when it is read)."""
    import regex  # 12 ms: not for `topicclf --help`

    return regex.compile(pattern, flags)


def syntax_problem(pattern: str, flags: int = 0) -> str | None:
    """Why the tokenizer cannot use `pattern` (a phrase that follows it in a message), or
    None: the engine it matches with refuses it, or it captures (findall would give the
    groups, not the tokens). Run after `backtracking_risk`: a huge count asks the compiler
    for gigabytes."""
    import regex

    try:
        compiled = compile_pattern(pattern, flags)
    except (regex.error, ValueError) as exc:  # ValueError: flags such as (?L) with (?u)
        return f"is not a valid regular expression: {exc}"
    if compiled.groups:
        return "must not contain capturing groups; use (?:...)"
    return None


@functools.lru_cache(maxsize=64)
def backtracking_risk(pattern: str, flags: int = 0) -> str | None:
    """Why `pattern` is refused, as a phrase that follows it in a message (it may take
    exponential time to fail a match, or asks for a huge matcher), or None. Patterns that
    Python's parser cannot read (syntax only the `regex` module has) get None: the
    tokenizer's time limit guards those."""
    try:
        tree = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError):
        # Syntax of the regex module alone: its counts, at least, are read from the text,
        # all multiplied, as nesting cannot be read there ((?:\p{L}{9999}){9999} asked the
        # compiler for over 4 GB).
        product = 1
        for low, high in _COUNT.findall(pattern):
            product *= max(1, int(high or low))
            if product > MAX_REPEAT_COUNT:
                return (
                    f"has repetition counts that multiply to {product:,}, more than the "
                    f"{MAX_REPEAT_COUNT:,} a matcher is built for (in syntax only the regex "
                    "module reads, all of a pattern's counts are multiplied); use smaller counts"
                )
        return None
    try:
        return _risk(list(tree))
    except (IndexError, TypeError, ValueError, OverflowError, RecursionError):
        # Shapes the parser reads but cannot size (a backreference such as (\w)\1+): the
        # tokenizer's time limit guards those.
        return None


def empty_match_risk(pattern: str, flags: int = 0) -> str | None:
    """Why `pattern` is refused because it can match the empty string (a phrase that
    follows it in a message), or None. Patterns Python's parser cannot read get None: the
    tokenizer drops their empty matches."""
    try:
        shortest = sre_parse.parse(pattern, flags).getwidth()[0]
    except (re.error, RecursionError, OverflowError, ValueError, IndexError, TypeError):
        return None
    if shortest > 0:
        return None
    return (
        "matches the empty string, so it would make empty tokens; give a pattern that "
        "matches at least one character, e.g. \\w\\w+"
    )


def _risk(items: list[tuple[Any, Any]], factor: int = 1) -> str | None:
    for op, av in items:
        inner = factor
        if op in _REPEATS or op == getattr(sre, "POSSESSIVE_REPEAT", None):
            # A bounded count is compiled into the matcher (a{1000}{1000}{1000} asked the
            # regex module for 24 GB before matching anything).
            count = av[0] if av[1] == sre.MAXREPEAT else av[1]
            inner = factor * max(1, count)
            if inner > MAX_REPEAT_COUNT:
                return (
                    f"has repetition counts that multiply to {inner:,}, more than the "
                    f"{MAX_REPEAT_COUNT:,} a matcher is built for; use smaller counts, e.g. "
                    "\\w{2,50}"
                )
        for body in _bodies(op, av):
            found = _risk(body, inner)
            if found:
                return found
        # Bounded repetitions too: n ways to match each of {1,100} repetitions is n**100
        # ((?:\\w{1,100}){1,100}@ took 13 s on 40 characters).
        if op in _REPEATS and av[1] > 1:
            body = list(av[2])
            if _ambiguous_alternatives(body):
                return _exponential(
                    "a repeated group whose alternatives can start alike, e.g. (?:a|aa)+"
                )
            if _only_a_varying_repeat(body):
                return _exponential(
                    "a repetition inside a repetition, e.g. (?:a+)+ or (?:\\w+\\s?)*"
                )
    return None


def _exponential(shape: str) -> str:
    return (
        f"could take exponential time on some texts ({shape}); make the end of each "
        "repetition unambiguous, e.g. \\w+(?:[-']\\w+)*"
    )


def _bodies(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    """The sub-patterns directly inside one parsed item."""
    if op in _REPEATS or op == getattr(sre, "POSSESSIVE_REPEAT", None):
        return [list(av[2])]
    if op == sre.SUBPATTERN:
        return [list(av[3])]
    if op == sre.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    if op == getattr(sre, "ATOMIC_GROUP", None):
        return [list(av)]
    if op == sre.GROUPREF_EXISTS:
        return [list(branch) for branch in av[1:] if branch is not None]
    return []


def _flat(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Items with groups opened (a group matches what its body matches)."""
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if op == sre.SUBPATTERN:
            out += _flat(list(av[3]))
        else:
            out.append((op, av))
    return out


def _nullable(op: Any, av: Any) -> bool:
    """Whether the item can match the empty string."""
    if op in _ZERO_WIDTH:
        return True
    if op in _REPEATS:
        return bool(av[0] == 0) or all(_nullable(o, a) for o, a in _flat(list(av[2])))
    if op == sre.SUBPATTERN:
        return all(_nullable(o, a) for o, a in _flat(list(av[3])))
    if op == sre.BRANCH:
        return any(all(_nullable(o, a) for o, a in _flat(list(b))) for b in av[1])
    return False


# Characters the overlap tests try: ASCII, Latin letters with marks, other scripts, other
# digits and spaces. Two parts overlap when one of these matches both.
_SAMPLE = (
    [chr(c) for c in range(128)]
    + list("\u00a0\u00b7\u00df\u00e4\u00e9\u00f1\u00f8\u0131\u03b1\u0416\u05d0\u0627")
    + list("\u0663\u0967\u2013\u2019\u2028\u3000\u4e2d\u30a2\uac00\U0001f600")
)


def _starts(items: list[tuple[Any, Any]]) -> frozenset[str]:
    """The sample characters a sequence can begin with (all of them when unsure)."""
    chars: set[str] = set()
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        if op in _REPEATS or op == getattr(sre, "POSSESSIVE_REPEAT", None):
            chars |= _starts(list(av[2]))
        elif op == sre.SUBPATTERN:
            chars |= _starts(list(av[3]))
        elif op == sre.BRANCH:
            for branch in av[1]:
                chars |= _starts(list(branch))
        else:
            chars |= _one_char(op, av)
        if not _nullable(op, av):
            return frozenset(chars)
    return frozenset(chars)


def _anywhere(items: list[tuple[Any, Any]]) -> set[str]:
    """The sample characters that any part of a sequence can match."""
    chars: set[str] = set()
    for op, av in items:
        if op in _ZERO_WIDTH:
            continue
        bodies = _bodies(op, av)
        if bodies:
            for body in bodies:
                chars |= _anywhere(body)
        else:
            chars |= _one_char(op, av)
    return chars


def _one_char(op: Any, av: Any) -> set[str]:
    """The sample characters one single-character item matches (all when unsure)."""
    return {ch for ch in _SAMPLE if _item_matches(op, av, ch)}


_CATEGORIES = {
    sre.CATEGORY_DIGIT: re.compile(r"\d"),
    sre.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    sre.CATEGORY_SPACE: re.compile(r"\s"),
    sre.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    sre.CATEGORY_WORD: re.compile(r"\w"),
    sre.CATEGORY_NOT_WORD: re.compile(r"\W"),
}


def _item_matches(op: Any, av: Any, ch: str) -> bool:
    """Whether a single-character item matches `ch` (True when unsure)."""
    if op == sre.LITERAL:
        return bool(ord(ch) == av)
    if op == sre.NOT_LITERAL:
        return bool(ord(ch) != av)
    if op == sre.CATEGORY:
        pattern = _CATEGORIES.get(av)
        return pattern is None or pattern.fullmatch(ch) is not None
    if op == sre.IN:
        negate = bool(av) and av[0][0] == sre.NEGATE
        members = av[1:] if negate else av
        hit = any(_in_member(o, a, ch) for o, a in members)
        return hit != negate
    return True


def _in_member(op: Any, av: Any, ch: str) -> bool:
    if op == sre.RANGE:
        return bool(av[0] <= ord(ch) <= av[1])
    return _item_matches(op, av, ch)


def _only_a_varying_repeat(body: list[tuple[Any, Any]]) -> bool:
    """A body of varying length with no required part that marks where one repetition
    ends: a single character that nothing else in the body can match."""
    width = sre_parse.SubPattern(sre_parse.State(), body).getwidth()
    if width[0] == width[1]:
        return False
    items = _flat(body)
    for index, (op, av) in enumerate(items):
        if _nullable(op, av) or op not in (sre.LITERAL, sre.IN, sre.CATEGORY, sre.NOT_LITERAL):
            continue
        mark = _one_char(op, av)
        rest = items[:index] + items[index + 1 :]
        if mark and not mark & _anywhere(rest):
            return False
    return True


def _ambiguous_alternatives(body: list[tuple[Any, Any]]) -> bool:
    """A body holding alternatives, anywhere in it, that may match alike: two that can
    begin with the same character, or two that can match the empty string (what Python's
    parser leaves of (?:a|a) once it takes their common start out: a(?:|))."""
    for op, av in _walk(body):
        if op != sre.BRANCH:
            continue
        seen: set[str] = set()
        empty = 0
        for branch in av[1]:
            items = _flat(list(branch))
            empty += all(_nullable(o, a) for o, a in items)
            chars = _starts(items)
            if chars & seen or empty > 1:
                return True
            seen |= chars
    return False


def _walk(items: list[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """Every item of a sequence and, depth first, of the sub-patterns inside it."""
    for op, av in items:
        yield op, av
        for body in _bodies(op, av):
            yield from _walk(body)
