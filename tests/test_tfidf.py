from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from topicclf.config import CHAR_NGRAM_RANGE, SHORT_TEXT_CHARS, FeatureConfig, TextConfig
from topicclf.errors import DataError, NotFittedError
from topicclf.features.tfidf import TfidfFeaturizer, char_ngrams_wanted
from topicclf.types import Document


def _texts(docs: list[Document]) -> list[str]:
    return [d.text for d in docs]


def test_tfidf_matches_scikit_learn(tiny_docs: list[Document]) -> None:
    texts = _texts(tiny_docs)
    features = FeatureConfig(min_df=1, ngram_max=2, char_ngrams="off")
    ours = TfidfFeaturizer(TextConfig(), features).fit(texts)
    reference = TfidfVectorizer(
        analyzer=lambda t: ours.analyzer.ngrams(t, 2), sublinear_tf=True, dtype=np.float32
    ).fit(texts)
    x_ref = reference.transform(texts + ["unseen words only", ""])
    order = [reference.vocabulary_[t] for t in sorted(ours.vocabulary_, key=ours.vocabulary_.get)]
    x = ours.transform(texts + ["unseen words only", ""])
    np.testing.assert_allclose(x.toarray(), x_ref.toarray()[:, order], rtol=1e-5, atol=1e-6)
    assert x.dtype == np.float32 and x.shape == (42, ours.n_features)


def test_character_ngrams_follow_the_words_in_one_tfidf_space(tiny_docs: list[Document]) -> None:
    # A token longer than the per-token cache takes (looked up each time) is among them.
    texts = [*_texts(tiny_docs), "supercalifragilistic" * 3 + " wheat rain"]
    ours = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1, char_ngrams="on")).fit(texts)
    assert ours.char_range_ == CHAR_NGRAM_RANGE and ours.char_vocabulary_

    def analyzer(text: str) -> list[str]:
        chars = ours.analyzer.char_ngrams(text, *CHAR_NGRAM_RANGE)
        return ours.analyzer.ngrams(text, 2) + ["\x01" + g for g in chars]

    reference = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, dtype=np.float32)
    reference.fit(texts)
    names = sorted(ours.vocabulary_, key=ours.vocabulary_.get) + [
        "\x01" + g for g in sorted(ours.char_vocabulary_, key=ours.char_vocabulary_.get)
    ]
    order = [reference.vocabulary_[t] for t in names]
    again = texts + ["unseen words only", "", texts[-1]]  # the long token a second time
    x = ours.transform(again)
    x_ref = reference.transform(again)
    np.testing.assert_allclose(x.toarray(), x_ref.toarray()[:, order], rtol=1e-5, atol=1e-6)
    # Words first, then character n-grams, shown as such.
    terms = ours.terms()
    assert terms[: len(ours.vocabulary_)] == sorted(ours.vocabulary_, key=ours.vocabulary_.get)
    assert "[_whea]" in terms and all(t.startswith("[") for t in terms[len(ours.vocabulary_) :])


def test_character_ngrams_are_added_for_short_texts_only() -> None:
    short = ["wheat prices up", "oil output falls", "gold rises"] * 20
    long = [" ".join(["wheat prices rose again in chicago trading"] * 8)] * 60
    auto = FeatureConfig(min_df=1)
    assert char_ngrams_wanted(auto, short) and not char_ngrams_wanted(auto, long)
    assert not char_ngrams_wanted(auto, [])
    assert char_ngrams_wanted(FeatureConfig(char_ngrams="on"), long)
    assert not char_ngrams_wanted(FeatureConfig(char_ngrams="off"), short)
    assert max(map(len, short)) < SHORT_TEXT_CHARS < len(long[0])
    on_short = TfidfFeaturizer(TextConfig(), auto).fit(short)
    assert on_short.char_range_ == CHAR_NGRAM_RANGE and on_short.char_vocabulary_
    off_long = TfidfFeaturizer(TextConfig(), auto).fit(long)
    assert off_long.char_range_ is None and off_long.char_vocabulary_ == {}
    assert "char_vocabulary" not in off_long.get_state()[0]  # word-only models as before
    # The rule looks at the rows learned from, not the rows only vectorized.
    mixed = TfidfFeaturizer(TextConfig(), auto)
    mixed.fit_transform(short + long, np.arange(len(short)))
    assert mixed.char_range_ == CHAR_NGRAM_RANGE


@pytest.mark.parametrize("keep", [True, False])
def test_a_declined_choice_of_character_ngrams_is_the_word_only_featurizer(
    tiny_docs: list[Document], keep: bool
) -> None:
    texts = _texts(tiny_docs)
    rows = np.arange(0, len(texts), 2)
    seen: list[tuple[int, int]] = []

    def choose(words: sp.csr_matrix, both: sp.csr_matrix) -> bool:
        seen.append((words.shape[1], both.shape[1]))
        return keep

    chooser = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1, char_ngrams="on"))
    x = chooser.fit_transform(texts, rows, choose)
    plain = TfidfFeaturizer(
        TextConfig(), FeatureConfig(min_df=1, char_ngrams="on" if keep else "off")
    )
    expected = plain.fit_transform(texts, rows)
    assert len(seen) == 1 and seen[0][0] == len(plain.vocabulary_) < seen[0][1]
    assert chooser.vocabulary_ == plain.vocabulary_
    assert chooser.char_vocabulary_ == plain.char_vocabulary_
    assert chooser.char_range_ == plain.char_range_
    np.testing.assert_array_equal(chooser.idf_, plain.idf_)
    for part in ("indptr", "indices", "data"):  # bit for bit, and as `transform` gives it
        np.testing.assert_array_equal(getattr(x, part), getattr(expected, part))
        np.testing.assert_array_equal(getattr(x, part), getattr(chooser.transform(texts), part))


def test_a_refitted_or_pickled_featurizer_looks_up_its_own_character_ngrams(
    tiny_docs: list[Document],
) -> None:
    import pickle

    texts = _texts(tiny_docs)
    features = FeatureConfig(min_df=1, char_ngrams="on")
    featurizer = TfidfFeaturizer(TextConfig(), features).fit(texts[:20])
    featurizer.transform(texts)  # remembers the first vocabulary's columns per token
    copy = pickle.loads(pickle.dumps(featurizer))
    assert (copy.transform(texts) != featurizer.transform(texts)).nnz == 0
    featurizer.fit(texts[20:])
    fresh = TfidfFeaturizer(TextConfig(), features).fit(texts[20:])
    assert (featurizer.transform(texts) != fresh.transform(texts)).nnz == 0


def test_tfidf_state_with_character_ngrams_round_trips(tiny_docs: list[Document]) -> None:
    texts = _texts(tiny_docs)
    fitted = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1, char_ngrams="on")).fit(texts)
    meta, arrays = fitted.get_state()
    assert meta["char_ngrams"] == list(CHAR_NGRAM_RANGE)
    # The saved state, not the configuration, decides: a config saying "off" reads it back.
    back = TfidfFeaturizer.from_state(TextConfig(), FeatureConfig(char_ngrams="off"), meta, arrays)
    assert (back.transform(texts) != fitted.transform(texts)).nnz == 0
    with pytest.raises(ValueError, match="char_ngrams must be"):
        TfidfFeaturizer.from_state(
            TextConfig(), FeatureConfig(), {**meta, "char_ngrams": [5, 3]}, arrays
        )
    with pytest.raises(ValueError, match="idf has shape"):
        short = {**meta, "char_vocabulary": meta["char_vocabulary"][1:]}
        TfidfFeaturizer.from_state(TextConfig(), FeatureConfig(), short, arrays)


def test_tfidf_state_round_trip(tiny_docs: list[Document]) -> None:
    texts = _texts(tiny_docs)
    fitted = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1)).fit(texts)
    meta, arrays = fitted.get_state()
    back = TfidfFeaturizer.from_state(TextConfig(), FeatureConfig(min_df=1), meta, arrays)
    assert (back.transform(texts) != fitted.transform(texts)).nnz == 0


def test_min_df_adapts_to_tiny_corpora(tiny_docs: list[Document]) -> None:
    # 40 documents: a floor of 2 would drop most words, so it is relaxed to 1.
    fitted = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=2)).fit(_texts(tiny_docs))
    assert "basil" in fitted.vocabulary_


def test_tfidf_errors() -> None:
    featurizer = TfidfFeaturizer(TextConfig(), FeatureConfig())
    with pytest.raises(NotFittedError, match="call fit first"):
        featurizer.transform(["x"])
    with pytest.raises(DataError, match="no features could be learned"):
        featurizer.fit(["the and of", ""])


@pytest.mark.parametrize("min_df,max_features", [(1, 0), (2, 0), (2, 60), (3, 400)])
def test_one_pass_fit_transform_equals_fit_then_transform_and_scikit_learn(
    min_df: int, max_features: int
) -> None:
    from topicclf.corpus import open_corpus

    demo = Path(__file__).parent.parent / "corpora" / "newsbriefs" / "train.jsonl"
    texts = [d.text for d in open_corpus(demo)]
    rows = np.flatnonzero(np.arange(len(texts)) % 7)  # learn from 6 in 7, vectorize all
    features = FeatureConfig(min_df=min_df, max_features=max_features, ngram_max=2)
    one_pass = TfidfFeaturizer(TextConfig(), features)
    x = one_pass.fit_transform(texts, rows)
    two_pass = TfidfFeaturizer(TextConfig(), features).fit([texts[i] for i in rows])
    assert one_pass.vocabulary_ == two_pass.vocabulary_
    np.testing.assert_array_equal(one_pass.idf_, two_pass.idf_)
    expected = two_pass.transform(texts)
    for part in ("indptr", "indices", "data"):  # bit for bit: the same model either way
        np.testing.assert_array_equal(getattr(x, part), getattr(expected, part))
    # The terms kept (frequency floor, then the most frequent, ties as scikit-learn breaks
    # them) are TfidfVectorizer's.
    reference = TfidfVectorizer(
        analyzer=lambda t: one_pass.analyzer.ngrams(t, 2),
        min_df=min(min_df, len(rows) // 50),  # the floor relaxes on small corpora
        max_features=max_features or None,
        sublinear_tf=True,
        dtype=np.float32,
    ).fit([texts[i] for i in rows])
    assert set(reference.vocabulary_) == set(one_pass.vocabulary_)
    order = [reference.vocabulary_[t] for t in one_pass.terms()]
    np.testing.assert_allclose(
        x.toarray(), reference.transform(texts).toarray()[:, order], rtol=1e-5, atol=1e-6
    )


def test_fit_transform_without_features_says_why() -> None:
    featurizer = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1))
    with pytest.raises(DataError, match=r"no features could be learned .*empty vocabulary"):
        featurizer.fit_transform(["the and of", "", "real words here"], np.array([0, 1]))


def test_a_frequency_floor_no_term_reaches_says_why() -> None:
    texts = [f"word{i}x" for i in range(100)]  # every term in one document only
    featurizer = TfidfFeaturizer(TextConfig(stemmer="none"), FeatureConfig(min_df=2))
    with pytest.raises(DataError, match=r"after pruning, no terms remain .*lower features.min_df"):
        featurizer.fit(texts)


WORDS = ["rain", "wheat", "oil", "gold", "the", "rates", "Öl", "x1", "zz"]


@given(
    docs=st.lists(
        st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join), min_size=1, max_size=12
    ),
    picks=st.lists(st.booleans(), min_size=12, max_size=12),
    min_df=st.integers(1, 3),
    max_features=st.integers(0, 6),
)
@settings(max_examples=150, deadline=None)
def test_one_pass_equals_two_passes_on_any_texts(
    docs: list[str], picks: list[bool], min_df: int, max_features: int
) -> None:
    rows = np.array([i for i in range(len(docs)) if picks[i]], dtype=np.int64)
    features = FeatureConfig(min_df=min_df, max_features=max_features, ngram_max=2)
    one_pass = TfidfFeaturizer(TextConfig(), features)
    two_pass = TfidfFeaturizer(TextConfig(), features)
    try:
        two_pass.fit([docs[i] for i in rows])
    except DataError:
        with pytest.raises(DataError, match="no features could be learned"):
            one_pass.fit_transform(docs, rows)
        return
    x = one_pass.fit_transform(docs, rows)
    assert one_pass.vocabulary_ == two_pass.vocabulary_
    expected = two_pass.transform(docs)
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(x, part), getattr(expected, part))
