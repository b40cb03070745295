from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.metrics import micro_f1
from topicclf.model.thresholds import (
    Rule,
    ThresholdPolicy,
    apply,
    apply_thresholds,
    decide,
    topics_of,
    tune_global,
    tune_per_topic,
    tune_policy,
)

Y = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0]], dtype=np.float32)
S = np.array([[0.9, 0.2, 0.1, 0.6], [0.3, 0.7, 0.2, 0.1], [0.8, 0.4, 0.3, 0.35]], dtype=np.float32)


def test_global_threshold_maximizes_micro_f1() -> None:
    t = tune_global(Y, S)
    # Positives score 0.9, 0.8, 0.7, 0.6, 0.4 and every negative scores 0.35 or less: the
    # best cut keeps exactly the five positives (F1 = 1) and falls halfway to 0.35.
    assert t == pytest.approx(0.375)
    assert micro_f1(Y, t <= S) == pytest.approx(1.0)
    # A lower cut adds false positives and lowers micro-F1: 5 tp, 1 fp -> 10/11.
    assert micro_f1(Y, S >= 0.33) == pytest.approx(10 / 11)


def test_per_topic_thresholds_shrink_towards_global() -> None:
    own = tune_per_topic(Y, S, 0.85, shrinkage=0.0)
    # Topic 0: positives 0.9, 0.8 above the negative 0.3 -> cut at 0.55 (F1 1, while the
    # global 0.85 misses 0.8: F1 2/3).
    assert own[0] == pytest.approx(0.55)
    # Topic 2 has no positives: it keeps the global threshold.
    assert own[2] == pytest.approx(0.85)
    shrunk = tune_per_topic(Y, S, 0.85, shrinkage=2.0)
    assert shrunk[0] == pytest.approx((2 * 0.55 + 2 * 0.85) / 4)


def test_own_threshold_only_where_it_beats_the_global_one() -> None:
    # The lone positive scores below every negative: its "best" cut selects every document
    # (F1 0.4). That is noise, not a threshold: the global one stays.
    y = np.array([[0], [0], [0], [1]], dtype=np.float32)
    s = np.array([[0.9], [0.8], [0.7], [0.1]], dtype=np.float32)
    assert tune_per_topic(y, s, 0.95, shrinkage=0.0)[0] == pytest.approx(0.95)
    y2 = np.array([[1], [0], [0], [0]], dtype=np.float32)
    s2 = np.array([[0.6], [0.5], [0.4], [0.3]], dtype=np.float32)
    # At the global threshold 0.55 the topic is already perfect: keep it.
    assert tune_per_topic(y2, s2, 0.55, shrinkage=0.0)[0] == pytest.approx(0.55)


def test_apply_with_fallback_and_top_k() -> None:
    scores = np.array([[0.1, 0.3, 0.2], [0.9, 0.8, 0.7]], dtype=np.float32)
    plain = apply_thresholds(scores, 0.5)
    np.testing.assert_array_equal(plain, [[0, 0, 0], [1, 1, 1]])
    fb = apply_thresholds(scores, 0.5, fallback=True, top_k=2)
    np.testing.assert_array_equal(fb, [[0, 1, 0], [1, 1, 0]])
    mc = apply_thresholds(scores, 0.5, multiclass=True)
    np.testing.assert_array_equal(mc, [[0, 1, 0], [1, 0, 0]])


def test_tune_policy_strategies_and_round_trip() -> None:
    per_topic = tune_policy(Y, S, strategy="per_topic", shrinkage=1.0)
    glob = tune_policy(Y, S, strategy="global")
    fixed = tune_policy(Y, S, strategy="fixed", fixed_value=0.5, fallback="never")
    assert np.all(glob.thresholds == pytest.approx(glob.global_threshold))
    assert np.all(fixed.thresholds == pytest.approx(0.5)) and not fixed.fallback
    assert per_topic.strategy == "per_topic"
    back = ThresholdPolicy.from_dict(per_topic.to_dict())
    np.testing.assert_array_equal(apply(S, back), apply(S, per_topic))


def test_auto_fallback_is_chosen_on_validation() -> None:
    y = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    low = np.array([[0.4, 0.1], [0.1, 0.3], [0.45, 0.2]], dtype=np.float32)
    policy = tune_policy(y, low, strategy="fixed", fixed_value=0.5, fallback="auto")
    assert policy.fallback  # every document has a topic, so the fallback helps
    none = np.zeros((3, 2), dtype=np.float32)
    policy = tune_policy(none, low, strategy="fixed", fixed_value=0.5, fallback="auto")
    assert not policy.fallback  # documents without topics: the fallback only adds errors


POLICY = ThresholdPolicy(
    "per_topic", np.array([0.5, 0.6, 0.7, 0.2], np.float32), 0.5, fallback=True, top_k=0
)
SCORES = np.array(
    [[0.9, 0.1, 0.8, 0.1], [0.1, 0.2, 0.3, 0.1], [0.4, 0.65, 0.1, 0.3]], dtype=np.float32
)


def test_decide_is_the_one_rule_for_every_override() -> None:
    assert decide(SCORES, POLICY).tolist() == [
        [True, False, True, False],
        [False, False, True, False],  # nothing passes: the fallback gives the best topic
        [False, True, False, True],
    ]
    never = decide(SCORES, POLICY, Rule(fallback=False))
    assert never[1].tolist() == [False] * 4
    fixed = decide(SCORES, POLICY, Rule(threshold=0.35))  # one cut, no fallback
    assert fixed.tolist() == [
        [True, False, True, False],
        [False, False, False, False],
        [True, True, False, False],
    ]
    best_two = decide(SCORES, POLICY, Rule(top_k=2))  # the k best, whatever their scores
    assert best_two.sum(axis=1).tolist() == [2, 2, 2]
    capped = decide(SCORES, POLICY, Rule(threshold=0.35, top_k=1))
    assert capped.sum(axis=1).tolist() == [1, 0, 1]


def test_blank_texts_get_no_topic_even_with_fallback_or_multiclass() -> None:
    texts = ["some text", " \t\n", ""]
    chosen = decide(SCORES, POLICY, texts=texts)
    assert chosen.tolist()[1:] == [[False] * 4, [False] * 4]
    multiclass = ThresholdPolicy("argmax", np.zeros(4, np.float32), 0.0, True, 0, True)
    chosen = decide(SCORES, multiclass, texts=texts)
    assert chosen.tolist() == [[True, False, False, False], [False] * 4, [False] * 4]
    assert decide(SCORES, multiclass, Rule(threshold=0.99, top_k=3)).sum(axis=1).tolist() == [
        1,
        1,
        1,
    ]


def test_topics_of_lists_chosen_topics_best_first() -> None:
    chosen = decide(SCORES, POLICY)
    topics = topics_of(SCORES, chosen, ["a", "b", "c", "d"])
    assert [[t for t, _ in row] for row in topics] == [["a", "c"], ["c"], ["b", "d"]]
    assert topics[0][0][1] == pytest.approx(0.9)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-5, 5),
        st.booleans(),
        st.text(max_size=3),
    )
)
def test_a_rule_takes_exactly_the_thresholds_in_0_1(value: object) -> None:
    from topicclf.errors import InputError
    from topicclf.model.thresholds import Rule

    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0.0 <= float(value) <= 1.0
    )
    if ok:
        assert Rule(threshold=value).threshold == float(value)  # type: ignore[arg-type]
    else:
        with pytest.raises(InputError, match=r"^Rule: threshold must be"):
            Rule(threshold=value)  # type: ignore[arg-type]


def test_a_topic_scoring_zero_is_never_given_whatever_the_threshold() -> None:
    """0 is a shortlist model's score off the shortlist: a threshold of 0 (chosen by the
    search, or given) once gave every document every topic. Fallback, top_k and multi-class
    mode give no topic scoring 0 either."""
    scores = np.array([[0.0, 0.0, 0.0], [0.0, 0.4, 0.0], [0.2, 0.0, 0.1]], dtype=np.float32)
    positive = scores > 0
    for threshold in (0.0, np.zeros(3, np.float32)):
        for fallback in (False, True):
            for top_k in (0, 1, 2):
                chosen = apply_thresholds(scores, threshold, fallback=fallback, top_k=top_k)
                assert not (chosen & ~positive).any()
    np.testing.assert_array_equal(apply_thresholds(scores, 0.0), positive)
    np.testing.assert_array_equal(
        apply_thresholds(scores, 0.5, fallback=True), [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    )
    np.testing.assert_array_equal(
        apply_thresholds(scores, 0.0, multiclass=True), [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    )
    policy = ThresholdPolicy("global", np.zeros(3, np.float32), 0.0, True, 0)
    for rule in (Rule(), Rule(threshold=0.0), Rule(top_k=3), Rule(fallback=True)):
        assert not (decide(scores, policy, rule) & ~positive).any()


def test_the_global_search_never_chooses_a_cut_below_every_score() -> None:
    """Where giving everything scores the best F1 (scores that separate nothing), the
    search keeps a cut that leaves some cells out; with a single score, it gives nothing."""
    y = np.array([[1, 1], [1, 0]], dtype=np.float32)
    s = np.array([[0.1, 0.3], [0.2, 0.4]], dtype=np.float32)  # every positive below 0.4
    t = tune_global(y, s)
    assert t > s.min()
    assert not apply_thresholds(s, t).all()
    same = np.full((2, 2), 0.3, dtype=np.float32)
    assert not apply_thresholds(same, tune_global(y, same)).any()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9]), min_size=6, max_size=6),
    st.sampled_from([0.0, 0.3, 1.0]),
    st.booleans(),
    st.integers(0, 3),
)
def test_zero_scores_are_never_chosen_in_any_mode(
    values: list[float], threshold: float, fallback: bool, top_k: int
) -> None:
    scores = np.array(values, dtype=np.float32).reshape(2, 3)
    for multiclass in (False, True):
        chosen = apply_thresholds(
            scores, threshold, fallback=fallback, top_k=top_k, multiclass=multiclass
        )
        assert not (chosen & (scores <= 0)).any()


def test_top_k_gives_at_most_k_topics_when_scores_tie() -> None:
    # Before: every topic tied with the k-th score was kept (three topics for top_k=1).
    scores = np.array([[0.5, 0.5, 0.5, 0.1], [0.9, 0.2, 0.9, 0.9], [0.3, 0.2, 0.1, 0.0]])
    one = apply_thresholds(scores, np.full(4, -np.inf), top_k=1)
    assert one.tolist() == [
        [True, False, False, False],
        [True, False, False, False],
        [True, False, False, False],
    ]
    two = apply_thresholds(scores, np.full(4, -np.inf), top_k=2)
    assert two.sum(axis=1).tolist() == [2, 2, 2] and two[1].tolist() == [True, False, True, False]


@given(st.lists(st.integers(0, 3), min_size=1, max_size=12), st.integers(1, 5))
def test_top_k_is_never_exceeded(levels: list[int], k: int) -> None:
    scores = np.array([levels], dtype=np.float64) / 4 + 0.01
    chosen = apply_thresholds(scores, np.zeros(len(levels)), top_k=k)
    assert chosen.sum() == min(k, len(levels))
