from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.config import PATTERN_FLAGS, Config
from topicclf.errors import ConfigError
from topicclf.patterns import backtracking_risk, empty_match_risk

SOUND = [
    r"(?u)\b\w\w+\b",  # the default
    r"[A-Za-z]+",
    r"\w+(?:[-']\w+)*",  # each repetition of the group starts with a separator
    r"(?:\w+\s)+",
    r"(?:[^,]+,)*",
    r"(?:\w|')+",
    r"\b[^\W\d_]{2,}\b",
    r"(?:ab|cd)*",
    r"\S+",
    r"(?u)\b\w+\b|[^\w\s]",
]
EXPONENTIAL = [
    r"(?:a+)+b",
    r"(?:\w+\s?)+$",
    r"(?:a|aa)+b",
    r"(?:\w*)*x",
    r"((?:a{1,5})+)",
    r"(?:\w+|x)+",
    r"(?:a\w*b)+",
    r"x(?:(?:\d+)*)y",  # nested inside a group inside the repetition
    r"[a-z]{2,}|(?:\w{1,100}){1,100}@",  # a bounded repetition: 13 s on 40 characters
    r"(?:\w+\s?){2,9}x",
    r"(?:a|a)*b",  # Python's parser leaves a(?:|): two empty alternatives
    r"(?:xa|xa)+b",
    r"(?:a|a){1,30}b",
    r"(?:-(?:\w+|\d))*x",  # alternatives alike after the separator, not at the start
    r"(?:\b(?:a|aa))+b",
]
# Token patterns the check must keep accepting (the default, README's and common ones).
SOUND += [
    r"\w{2,50}",
    r"\d{1,3}(?:,\d{3})*",
    r"(?:\w+\.){2,3}\w+",
    r"[A-Z]{2,}(?:\s[A-Z]{2,}){0,3}",
    r"\b\w[\w'-]*\w\b",
    r"[#@]?\w+",
    r"(?:[A-Z]\.)+",
    r"\w+(?:-\w+)*|\$?\d+(?:\.\d+)?%?",
    r"(?:https?://)?\w+(?:\.\w+)+",
]


@pytest.mark.parametrize("pattern", SOUND)
def test_sound_token_patterns_pass(pattern: str) -> None:
    assert backtracking_risk(pattern, PATTERN_FLAGS) is None


@pytest.mark.parametrize("pattern", EXPONENTIAL)
def test_patterns_that_backtrack_exponentially_are_named(pattern: str) -> None:
    assert backtracking_risk(pattern, PATTERN_FLAGS)


def test_a_backtracking_token_pattern_is_refused_as_a_setting() -> None:
    with pytest.raises(ConfigError, match=r"token_pattern = '\(\?:a\+\)\+b' could take expon"):
        Config().with_overrides(["text.token_pattern=(?:a+)+b"])
    with pytest.raises(ConfigError, match=r"longer than 1000 characters"):
        Config().with_overrides(["text.token_pattern=" + "a" * 1001])
    Config().with_overrides([r"text.token_pattern=\w+(?:[-']\w+)*"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_judged_without_error(pattern: str) -> None:
    """Whatever a user or a model file holds, the check answers (None when Python's parser
    cannot read it) and never raises."""
    risk = backtracking_risk(pattern, PATTERN_FLAGS)
    assert risk is None or isinstance(risk, str)
    if risk is not None:
        re.compile(pattern, PATTERN_FLAGS)  # only readable patterns are judged


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", r"\w", r"\s", "+", "*", "?", "(?:", ")", "|"]),
                max_size=12).map("".join))  # fmt: skip
def test_patterns_made_of_repetitions_are_judged_without_error(pattern: str) -> None:
    backtracking_risk(pattern, PATTERN_FLAGS)


@pytest.mark.parametrize(
    "pattern",
    [
        "(?:a{4294967294}){4294967294}",  # asked the regex module for 24 GB when compiled
        "(?:(?:(?:a{1000}){1000}){1000})",
        "a{10001}",
        r"\p{L}{99999}",  # regex-module syntax: the counts are read from the text
        r"(?:\p{L}{9999}){9999}",  # and multiplied: the compiler took over 4 GB
        r"\p{L}{2,200}-\p{L}{2,200}",  # all of them, nested or not
    ],
)
def test_huge_repetition_counts_are_refused_before_compiling(pattern: str) -> None:
    assert "a matcher is built for" in (backtracking_risk(pattern, PATTERN_FLAGS) or "")
    with pytest.raises(ConfigError, match="more than the 10,000 a matcher is built for"):
        Config().with_overrides([f"text.token_pattern={pattern}"])
    assert backtracking_risk(r"\w{2,50}", PATTERN_FLAGS) is None
    assert backtracking_risk(r"\p{L}{2,50}(?:-\p{L}{2,50})*", PATTERN_FLAGS) is None


def test_patterns_the_check_cannot_size_are_left_to_the_time_limit_or_refused_clearly() -> None:
    from topicclf.config import TextConfig
    from topicclf.features.text import Analyzer

    assert backtracking_risk(r"(\w)\1+", PATTERN_FLAGS) is None  # a backreference
    with pytest.raises(ConfigError, match="must not contain capturing groups"):
        Analyzer(TextConfig(token_pattern=r"(\w)\1+"))
    with pytest.raises(ConfigError, match=r"is not a valid regular expression: ASCII, LOCALE"):
        Analyzer(TextConfig(token_pattern=r"(?L)\w+"))


@pytest.mark.parametrize("pattern", ["", r"(?u)\b", r"\w*", "a|", r"(?=\w)", r"\w+|\b"])
def test_a_token_pattern_that_matches_the_empty_string_is_refused(pattern: str) -> None:
    """Empty matches would be tokens ('' and ' ' were a model's only features, and it tagged
    every text alike)."""
    shown = re.escape(repr(pattern))
    with pytest.raises(
        ConfigError,
        match=rf"token_pattern = {shown} matches the empty string, so it would make empty "
        r"tokens; give a pattern that matches at least one character, e.g. \\w\\w\+",
    ):
        Config().with_overrides([f"text.token_pattern={pattern}"])
    assert empty_match_risk(r"\w\w+", PATTERN_FLAGS) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", r"\w", r"\s", r"\b", "+", "*", "?", "(?:", ")", "|"]),
             max_size=10).map("".join),
    st.text(alphabet="ab -", max_size=8),
)  # fmt: skip
def test_a_pattern_the_check_lets_through_never_matches_empty(pattern: str, text: str) -> None:
    """Wherever a pattern finds an empty match in some text, the check refuses it."""
    try:
        compiled = re.compile(pattern, PATTERN_FLAGS)
    except re.error:
        return
    if any(m.group() == "" for m in compiled.finditer(text)):
        assert empty_match_risk(pattern, PATTERN_FLAGS)


def test_the_tokenizer_drops_empty_matches_of_a_pattern_the_check_cannot_read() -> None:
    """regex-module syntax (here \\p{L}) is not sized by the check; its empty matches are
    dropped, so no token is ever empty."""
    from topicclf.config import TextConfig
    from topicclf.features.text import Analyzer

    config = TextConfig(token_pattern=r"\p{L}*", stop_words="none", language="english")
    assert Analyzer(config).tokens("rain and wind") == ["rain", "and", "wind"]


_ATOMS = ["a", "b", r"\w", r"\d", "[ab]", "[^,]", r"\S"]


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(_ATOMS),
    st.sampled_from(["*", "+", "{2,}", "{1,30}", "{2,5}"]),
    st.sampled_from(["", "x", "@", r"\b"]),
)
def test_a_repeated_group_of_alike_alternatives_is_refused(atom: str, times: str, end: str) -> None:
    """Two alternatives that match the same text make 2**n ways to match n repetitions,
    whatever the atom, the count (bounded or not) or what follows."""
    assert backtracking_risk(f"(?:{atom}|{atom}){times}{end}", PATTERN_FLAGS)
    assert backtracking_risk(f"(?:{atom}|{atom}{atom}){times}{end}", PATTERN_FLAGS)
    assert backtracking_risk(f"(?:-(?:{atom}+|{atom})){times}{end}", PATTERN_FLAGS)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(_ATOMS),
    st.sampled_from(["+", "*", "{1,9}", "{1,100}", "{2,}"]),
    st.sampled_from(["+", "*", "{1,9}", "{1,100}", "{2,}"]),
)
def test_a_varying_repetition_repeated_is_refused(atom: str, inner: str, outer: str) -> None:
    """(?:\\w{1,100}){1,100} splits one run of characters in ~n**100 ways."""
    assert backtracking_risk(f"(?:{atom}{inner}){outer}@", PATTERN_FLAGS)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_ATOMS), st.sampled_from(["-", "'", r"\.", ",", r"\s"]))
def test_repetitions_that_start_with_a_separator_are_accepted(atom: str, sep: str) -> None:
    """The shape of every common token pattern: a word, then separator-and-word repeated,
    bounded or not; the separator marks where each repetition starts."""
    word = r"\w+" if atom in ("a", "b", r"\d", "[ab]") else "[A-Za-z]+"
    for times in ("*", "{0,3}", "{2,}"):
        pattern = f"{word}(?:{sep}{word}){times}"
        assert backtracking_risk(pattern, PATTERN_FLAGS) is None, pattern


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(EXPONENTIAL),
    st.sampled_from(["{}", "(?:{})", "x{}", "{}|zz", r"\b(?:{})\b"]),
)
def test_a_refused_pattern_stays_refused_inside_a_larger_one(pattern: str, frame: str) -> None:
    assert backtracking_risk(frame.format(pattern), PATTERN_FLAGS)


# What the regex engine the tokenizer uses refuses, with the words of its refusal.
UNUSABLE = [
    ("((", r"is not a valid regular expression: missing \) at position 2"),
    ("[a-z", "is not a valid regular expression: unterminated character set at position 4"),
    (r"(?L)\w+", "is not a valid regular expression: ASCII, LOCALE and UNICODE flags are"),
    (r"\p{Nonsense}+", "is not a valid regular expression: unknown property"),
    (r"(\w+)", r"must not contain capturing groups; use \(\?:\.\.\.\)"),
]


@pytest.mark.parametrize(("pattern", "message"), UNUSABLE)
def test_a_pattern_the_tokenizer_cannot_use_is_refused_where_it_is_read(
    tmp_path, pattern: str, message: str
) -> None:
    """It passed the checks (they read Python's syntax, and took what they could not read
    for regex-module syntax), and failed only once the corpus was read, naming neither
    --set nor the file (attacker pass 26, CLI F2)."""
    from topicclf.config import load_config, to_toml

    shown = re.escape(repr(pattern))
    with pytest.raises(ConfigError, match=rf"^--set: text\.token_pattern = {shown} {message}"):
        Config().with_overrides([f"text.token_pattern={pattern}"])
    path = tmp_path / "cfg.toml"
    path.write_text(to_toml(Config()).replace(r"(?u)\\b\\w\\w+\\b", pattern.replace("\\", "\\\\")))
    with pytest.raises(ConfigError, match=rf"cfg\.toml: text\.token_pattern = {shown} {message}"):
        load_config(path)


def test_a_pattern_the_tokenizer_cannot_use_is_refused_before_the_corpus_is_read(
    capsys: pytest.CaptureFixture[str], data_dir
) -> None:
    from topicclf.cli import run

    for command in (["train", "-o", "never"], ["optimize", "-o", "never.toml"]):
        code = run(
            [
                command[0],
                str(data_dir / "tiny.jsonl"),
                *command[1:],
                "--set",
                "text.token_pattern=((",
            ]
        )
        err = capsys.readouterr().err
        assert code == 1
        assert err == (
            "error: --set: text.token_pattern = '((' is not a valid regular expression: "
            "missing ) at position 2\n"
        )


@pytest.mark.parametrize(("pattern", "message"), [UNUSABLE[0], UNUSABLE[-1]])
def test_info_and_load_refuse_a_model_whose_pattern_the_tokenizer_cannot_use(
    tiny_dense, tmp_path, capsys: pytest.CaptureFixture[str], pattern: str, message: str
) -> None:
    """`info` showed nothing wrong, and `tag` blamed features.json (attacker pass 26, CLI F2)."""
    import json

    from topicclf.classifier import TopicClassifier
    from topicclf.cli import run
    from topicclf.errors import ModelBundleError

    model = tiny_dense.save(tmp_path / "m")
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["config"]["text"]["token_pattern"] = pattern
    (model / "manifest.json").write_text(json.dumps(manifest))
    said = (
        rf"m: invalid configuration in the manifest: configuration: text\.token_pattern = "
        rf"{re.escape(repr(pattern))} {message}"
    )
    with pytest.raises(ModelBundleError, match=said):
        TopicClassifier.load(model)
    for command in (["info", str(model)], ["explain", str(model), "rain"]):
        assert run(command) == 1
        assert re.fullmatch(f"error: .*{said}.*\n", capsys.readouterr().err)
