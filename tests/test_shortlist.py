"""model.shortlist: sources, shortlists, the numpy rescorer and the stored state."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from topicclf.errors import ModelBundleError
from topicclf.model.shortlist import (
    FEATURES,
    LEGACY_FEATURES,
    Rescorer,
    ShortlistNetwork,
    Sources,
    array_specs,
    from_state,
    keep_largest,
    state,
)


def _corpus(seed: int = 0, docs: int = 60, topics: int = 12, terms: int = 40):
    """Documents whose terms come mostly from their topics' own term blocks."""
    rng = np.random.default_rng(seed)
    y = np.zeros((docs, topics), dtype=np.float32)
    x = np.zeros((docs, terms), dtype=np.float32)
    for d in range(docs):
        mine = rng.choice(topics, size=rng.integers(1, 3), replace=False)
        y[d, mine] = 1
        for t in mine:
            x[d, (3 * t + rng.integers(0, 3, 4)) % terms] += 1
        x[d, rng.integers(0, terms, 2)] += 0.3  # noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return sp.csr_matrix(x), sp.csr_matrix(y)


def _rescorer(layers: tuple[int, ...] = (4, 1), seed: int = 0) -> Rescorer:
    rng = np.random.default_rng(seed)
    arrays = {
        "feature_mean": np.zeros(len(FEATURES), np.float32),
        "feature_scale": np.ones(len(FEATURES), np.float32),
    }
    width = len(FEATURES)
    for i, units in enumerate(layers):
        arrays[f"layer_{i}_kernel"] = rng.normal(size=(width, units)).astype(np.float32)
        arrays[f"layer_{i}_bias"] = np.zeros(units, np.float32)
        width = units
    return Rescorer(arrays)


def test_keep_largest_keeps_each_row_s_k_largest() -> None:
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.9, 0.0, 0.0, 0.2]], np.float32))
    kept = keep_largest(m, 2).toarray()
    np.testing.assert_allclose(kept, [[0.0, 0.5, 0.3, 0.0], [0.9, 0.0, 0.0, 0.2]])
    assert keep_largest(m, 1).toarray()[0].tolist() == pytest.approx([0, 0.5, 0, 0])


def test_centroids_are_unit_rows_pruned_to_their_heaviest_terms() -> None:
    x, y = _corpus()
    sources = Sources.build(x, y, centroid_terms=5)
    norms = np.sqrt(np.asarray(sources.centroids.multiply(sources.centroids).sum(axis=1)))
    assert norms.ravel() == pytest.approx(np.ones(y.shape[1]), abs=1e-5)
    assert np.diff(sources.centroids.indptr).max() <= 5
    assert sources.frequency.tolist() == np.asarray(y.sum(axis=0)).ravel().tolist()


def test_a_document_s_own_topics_head_its_shortlist() -> None:
    x, y = _corpus()
    sources = Sources.build(x[:50], y[:50], centroid_terms=20)
    found = sources.candidates(x[50:], neighbours=5, width=6)
    assert found.topics.shape == (10, 6) and found.features.shape == (10, 6, len(FEATURES))
    for r in range(10):
        gold = set(np.flatnonzero(y[50 + r].toarray()))
        shortlist = found.topics[r][found.mask[r]]
        assert gold <= set(shortlist[:4].tolist())  # well separated topics: found early
        assert len(set(shortlist.tolist())) == len(shortlist)  # no topic twice
    assert np.isfinite(found.features).all()


def test_shortlists_are_deterministic_and_empty_for_an_empty_document() -> None:
    x, y = _corpus()
    sources = Sources.build(x, y, centroid_terms=20)
    a = sources.candidates(x[:5], 5, 8)
    b = sources.candidates(x[:5], 5, 8)
    assert (a.topics == b.topics).all() and (a.features == b.features).all()
    empty = sources.candidates(sp.csr_matrix((1, x.shape[1]), dtype=np.float32), 5, 8)
    assert not empty.mask.any()


def test_scores_are_the_rescored_shortlist_and_zero_elsewhere() -> None:
    x, y = _corpus()
    network = ShortlistNetwork(Sources.build(x, y, 20), _rescorer(), neighbours=5, candidates=4)
    scores = network.predict(x[:7])
    assert scores.shape == (7, y.shape[1]) and scores.dtype == np.float32
    assert ((scores > 0).sum(axis=1) <= 4).all()
    assert ((scores >= 0) & (scores <= 1)).all()
    shortlist = network.sources.candidates(x[:7], 5, 4)
    expected = network.rescorer.probabilities(shortlist)
    for r in range(7):
        on = shortlist.topics[r][shortlist.mask[r]]
        assert scores[r, on] == pytest.approx(expected[r][shortlist.mask[r]])


def test_multi_class_rows_are_distributions_and_a_row_with_no_candidate_is_the_prior() -> None:
    x, y = _corpus()
    sources = Sources.build(x, y, 20)
    alone = ShortlistNetwork(sources, _rescorer(), neighbours=5, candidates=4)
    network = ShortlistNetwork(sources, _rescorer(), neighbours=5, candidates=4, multiclass=True)
    empty = sp.csr_matrix((1, x.shape[1]), dtype=np.float32)  # shares no term: no candidate
    rows = sp.vstack([x[:7], empty]).tocsr()
    independent, scores = alone.predict(rows), network.predict(rows)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    # Candidates keep their order and stay the only topics with a score.
    np.testing.assert_array_equal(scores[:7] > 0, independent[:7] > 0)
    np.testing.assert_array_equal(scores[:7].argmax(axis=1), independent[:7].argmax(axis=1))
    shares = independent[:7] / independent[:7].sum(axis=1)[:, None]
    np.testing.assert_allclose(scores[:7], shares, rtol=1e-6)
    frequency = np.asarray(y.sum(axis=0)).ravel()
    np.testing.assert_allclose(scores[7], frequency / frequency.sum(), atol=1e-7)
    assert not independent[7].any()  # multi-label: each candidate's own probability, as before


def test_the_stored_state_round_trips_exactly() -> None:
    x, y = _corpus()
    network = ShortlistNetwork(Sources.build(x, y, 20), _rescorer(), neighbours=5, candidates=4)
    meta, arrays = state(network)
    specs = array_specs(meta)
    assert set(specs) == set(arrays)
    for key, spec in specs.items():
        assert arrays[key].shape == spec.shape and arrays[key].dtype.name in spec.dtypes
    back = from_state(meta, arrays, neighbours=5, candidates=4)
    assert np.array_equal(back.predict(x), network.predict(x))


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda a: a["documents_indices"].__setitem__(0, 10**6), "points outside its columns"),
        (lambda a: a["topics_indptr"].__setitem__(-1, 3), "broken row index"),
        (lambda a: a["centroids_data"].__setitem__(0, np.nan), "NaN or infinity"),
        (lambda a: a["rescorer_layer_0_bias"].__setitem__(0, np.inf), "NaN or infinity"),
    ],
)
def test_a_forged_state_is_refused(forge, message: str) -> None:
    x, y = _corpus()
    network = ShortlistNetwork(Sources.build(x, y, 20), _rescorer(), neighbours=5, candidates=4)
    meta, arrays = state(network)
    arrays = {k: v.copy() for k, v in arrays.items()}
    forge(arrays)
    with pytest.raises(ModelBundleError, match=message):
        from_state(meta, arrays, neighbours=5, candidates=4)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"documents": -1}, "sizes must be counts"),
        ("not a dict", "sizes must be counts"),
        ({"layers": [4, 2]}, "ending in 1"),
        ({"layers": []}, "list of widths"),
        ({"topics": 2**40}, "sizes must be counts"),
    ],
)
def test_forged_sizes_are_refused_before_any_array_is_read(meta, message: str) -> None:
    x, y = _corpus()
    network = ShortlistNetwork(Sources.build(x, y, 20), _rescorer(), neighbours=5, candidates=4)
    good, _ = state(network)
    forged = {**good, **meta} if isinstance(meta, dict) else meta
    with pytest.raises(ModelBundleError, match=message):
        array_specs(forged)


def test_a_rescorer_whose_layers_do_not_chain_is_refused() -> None:
    arrays = dict(_rescorer().arrays)
    arrays["layer_1_kernel"] = np.zeros((3, 1), np.float32)
    with pytest.raises(ModelBundleError, match="do not chain"):
        Rescorer(arrays)


def test_shortlists_made_a_block_of_rows_at_a_time_are_the_same(monkeypatch) -> None:
    import topicclf.model.shortlist as shortlist

    x, y = _corpus()
    sources = Sources.build(x, y, centroid_terms=20)
    whole = sources.candidates(x, 5, 6)
    monkeypatch.setattr(shortlist, "SIMILARITY_ROWS", 7)
    blocks = sources.candidates(x, 5, 6)
    assert (whole.topics == blocks.topics).all() and (whole.mask == blocks.mask).all()
    np.testing.assert_array_equal(whole.features, blocks.features)


def test_terms_far_commoner_than_any_topic_take_no_part_in_shortlisting() -> None:
    x, y = _corpus(docs=200, topics=40)
    common = sp.csr_matrix(np.ones((200, 1), np.float32))  # a function word in every document
    with_word = sp.hstack([x, common]).tocsr()
    sources = Sources.build(with_word, y, centroid_terms=20)
    assert sources.terms[-1] == 0.0 and sources.terms[:-1].all()
    assert sources.centroids[:, -1].nnz == 0 and sources.documents[:, -1].nnz == 0
    # The word changes nothing: shortlists are those of the corpus without it.
    plain = Sources.build(x, y, centroid_terms=20).candidates(x[:20], 5, 6)
    assert (sources.candidates(with_word[:20], 5, 6).topics == plain.topics).all()
    # With a topic in every document, no term is commoner than 4 times it: all are kept.
    y_big = sp.hstack([y, sp.csr_matrix(np.ones((200, 1), np.float32))]).tocsr()
    assert Sources.build(with_word, y_big, centroid_terms=20).terms.all()


def test_a_topic_s_documents_in_the_document_s_language_are_a_feature() -> None:
    x, y = _corpus()
    languages = np.arange(x.shape[0]) % 2  # two languages, alternating
    sources = Sources.build(x, y, 20, languages, n_languages=3)
    assert sources.by_language is not None and sources.by_language.shape == (y.shape[1], 3)
    assert np.array_equal(sources.by_language.sum(axis=1), sources.frequency)
    found = sources.candidates(x[:4], 5, 4, languages[:4])
    share = FEATURES.index("topic_language_share")
    for r in range(4):
        pool = found.topics[r][found.mask[r]]
        expected = sources.by_language[pool, languages[r]] / sources.frequency[pool]
        assert found.features[r][found.mask[r]][:, share] == pytest.approx(expected)
    # A language the sources never saw (the third column) shares nothing.
    unseen = sources.candidates(x[:1], 5, 4, np.array([2]))
    assert not unseen.features[0][:, share].any()


def test_a_shortlist_saved_before_the_language_feature_loads_and_scores_alike() -> None:
    """Models saved before it have 12 candidate features, no counts by language and no
    `languages` or `candidate_features` in their sizes."""
    x, y = _corpus()
    network = ShortlistNetwork(Sources.build(x, y, 20), _rescorer(), neighbours=5, candidates=4)
    meta, arrays = state(network)
    legacy_meta = {k: v for k, v in meta.items() if k not in ("languages", "candidate_features")}
    legacy = {k: v for k, v in arrays.items() if k != "by_language"}
    for key in ("rescorer_feature_mean", "rescorer_feature_scale"):
        legacy[key] = arrays[key][:LEGACY_FEATURES]
    legacy["rescorer_layer_0_kernel"] = arrays["rescorer_layer_0_kernel"][:LEGACY_FEATURES]
    assert set(array_specs(legacy_meta)) == set(legacy)
    old = from_state(legacy_meta, legacy, neighbours=5, candidates=4)
    assert old.sources.by_language is None and old.rescorer.n_features == LEGACY_FEATURES
    # The same network with the new feature weighted 0 scores exactly as the old one.
    zeroed = dict(arrays)
    zeroed["rescorer_layer_0_kernel"] = arrays["rescorer_layer_0_kernel"].copy()
    zeroed["rescorer_layer_0_kernel"][LEGACY_FEATURES:] = 0
    new = from_state(meta, zeroed, neighbours=5, candidates=4)
    assert np.allclose(old.predict(x), new.predict(x), atol=1e-6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"languages": ["en", "en"]}, "languages repeat or are too many"),
        ({"languages": ["\x1b[2J"]}, "must be a list of language codes"),
        ({"languages": "en"}, "must be a list of language codes"),
        ({"candidate_features": 99}, "rescorer reads 12 or 13 features"),
    ],
)
def test_forged_language_sizes_are_refused(edit: dict[str, object], message: str) -> None:
    x, y = _corpus()
    network = ShortlistNetwork(
        Sources.build(x, y, 20, np.arange(x.shape[0]) % 2, 3),
        _rescorer(),
        neighbours=5,
        candidates=4,
        languages=("en", "de"),
    )
    meta, arrays = state(network)
    assert array_specs(meta)["by_language"].shape == (y.shape[1], 3)
    with pytest.raises(ModelBundleError, match=message):
        array_specs({**meta, **edit})
    arrays = dict(arrays, by_language=-arrays["by_language"])
    with pytest.raises(ModelBundleError, match="topic counts by language must be counts"):
        from_state(meta, arrays, neighbours=5, candidates=4)


def _ranged_network() -> ShortlistNetwork:
    """A network whose rescorer records the ranges of the features of these documents'
    shortlists from sources without them (as training's out-of-fold rows)."""
    x, y = _corpus()
    seen = Sources.build(x[20:], y[20:], 20).candidates(x[:20], 5, 4)
    rows = seen.features[seen.mask]
    ranges = np.stack([rows.min(axis=0), rows.max(axis=0)], axis=1)
    rescorer = Rescorer(_rescorer().arrays, ranges)
    return ShortlistNetwork(Sources.build(x, y, 20), rescorer, neighbours=5, candidates=4)


def test_features_beyond_the_training_range_are_clipped_to_it() -> None:
    """A training document tagged finds itself (nearest similarity 1, its own vote): values
    the rescorer never learned from score as the edge of what it did learn from."""
    network = _ranged_network()
    assert network.rescorer.ranges is not None
    x, _ = _corpus()
    found = network.shortlist(x[:20])
    nearest = FEATURES.index("nearest_similarity")
    assert found.features[..., nearest].max() == pytest.approx(1.0)  # itself
    assert network.rescorer.ranges[nearest, 1] < 0.99  # never seen in training
    low, high = network.rescorer.ranges[:, 0], network.rescorer.ranges[:, 1]
    clipped = np.clip(found.features, low, high)
    plain = Rescorer(network.rescorer.arrays)  # a model saved before the ranges
    expected = plain.probabilities(type(found)(found.topics, clipped, found.mask))
    assert np.array_equal(network.rescorer.probabilities(found), expected)
    assert not np.array_equal(plain.probabilities(found), expected)


def test_recorded_ranges_round_trip_and_a_model_without_them_scores_unclipped() -> None:
    network = _ranged_network()
    x, _ = _corpus()
    meta, arrays = state(network)
    assert len(meta["feature_ranges"]) == len(FEATURES)
    back = from_state(meta, arrays, neighbours=5, candidates=4)
    assert back.rescorer.ranges is not None
    assert np.array_equal(back.rescorer.ranges, network.rescorer.ranges)
    assert np.array_equal(back.predict(x), network.predict(x))
    # Saved before the ranges were recorded: no `feature_ranges`, no clipping, as before.
    old_meta = {k: v for k, v in meta.items() if k != "feature_ranges"}
    assert set(array_specs(old_meta)) == set(arrays)
    old = from_state(old_meta, arrays, neighbours=5, candidates=4)
    assert old.rescorer.ranges is None
    unclipped = ShortlistNetwork(
        network.sources, Rescorer(network.rescorer.arrays), neighbours=5, candidates=4
    )
    assert np.array_equal(old.predict(x), unclipped.predict(x))


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ("0 1", r"must be 13 pairs of numbers \[low, high\]"),
        ([[0.0, 1.0]] * 12, r"must be 13 pairs of numbers"),
        ([[0.0, 1.0, 2.0]] * 13, r"must be 13 pairs of numbers"),
        ([[0.0, "1"]] * 13, r"must be 13 pairs of numbers"),
        ([[False, True]] * 13, r"must be 13 pairs of numbers"),
        ([[0.0, float("nan")]] * 13, r"must be finite numbers from 0 to 100"),
        ([[0.0, float("inf")]] * 13, r"must be finite numbers from 0 to 100"),
        ([[-1.0, 1.0]] * 13, r"must be finite numbers from 0 to 100"),
        ([[0.0, 1e30]] * 13, r"must be finite numbers from 0 to 100"),
        ([[0, 10**400]] * 13, r"must be finite numbers from 0 to 100"),
        ([[0.0, 1.0]] * 12 + [[2.0, 1.0]], r"must each be \[low, high\], low <= high"),
    ],
)
def test_forged_feature_ranges_are_refused_before_any_array_is_read(
    ranges: object, message: str
) -> None:
    meta, arrays = state(_ranged_network())
    forged = {**meta, "feature_ranges": ranges}
    with pytest.raises(ModelBundleError, match=message):
        array_specs(forged)
    with pytest.raises(ModelBundleError, match=message):
        from_state(forged, arrays, neighbours=5, candidates=4)
