"""training.shortlist: the shortlist network fitted, tuned, saved and loaded on a small
corpus of many topics (the shape of a library catalogue, in miniature)."""

from __future__ import annotations

import numpy as np
import pytest

from topicclf.classifier import TopicClassifier
from topicclf.config import Config
from topicclf.errors import DataError
from topicclf.model.shortlist import ShortlistNetwork
from topicclf.model.thresholds import Rule
from topicclf.training import fit_model
from topicclf.training.shortlist import prepare_sparse, tune_limit_and_threshold

TOPICS = 40
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def library(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Records of one to three subjects, each subject with its own three words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        mine = sorted(rng.choice(TOPICS, size=rng.integers(1, 4), replace=False).tolist())
        words = [f"{WORDS[t % 8]}{t}x{k}" for t in mine for k in rng.integers(0, 3, 3)]
        words += rng.choice(WORDS, 3).tolist()  # words every subject shares
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append([f"gnd:{t:05d}" for t in mine])
    return texts, labels


@pytest.fixture(scope="module")
def fitted() -> TopicClassifier:
    texts, labels = library(400, seed=1)
    clf = TopicClassifier(network="shortlist", epochs=30, seed=3)
    return clf.fit(texts, labels)


def test_a_shortlist_model_learns_a_catalogue_of_many_topics(fitted: TopicClassifier) -> None:
    assert isinstance(fitted.scorer_.network, ShortlistNetwork)
    texts, labels = library(120, seed=2)
    report = fitted.evaluate(texts, labels)
    assert report.micro.f1 > 0.8 and report.ranking["precision@1"] > 0.9
    info = fitted.training_info_
    assert info["shortlist"]["validation_candidate_recall"] > 0.9
    assert info["refit_on_all_documents"] is True and info["stacked"] is False
    # One threshold and a limit, chosen on validation (Annif's limit and threshold).
    policy = fitted.policy_
    assert policy.strategy == "global" and 1 <= policy.top_k <= 10
    assert np.all(policy.thresholds == policy.global_threshold)


def test_scores_are_zero_off_the_shortlist(fitted: TopicClassifier) -> None:
    texts, _ = library(20, seed=4)
    scores = fitted.predict_proba(texts)
    assert scores.shape == (20, TOPICS)
    assert ((scores > 0).sum(axis=1) <= fitted.config_.network.candidates).all()


def test_saved_and_loaded_it_tags_the_same(fitted: TopicClassifier, tmp_path) -> None:
    texts, _ = library(30, seed=5)
    fitted.save(tmp_path / "m")
    loaded = TopicClassifier.load(tmp_path / "m")
    assert isinstance(loaded.scorer_.network, ShortlistNetwork)
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
    assert loaded.predict(texts) == fitted.predict(texts)


def test_the_same_seed_gives_the_same_model() -> None:
    texts, labels = library(120, seed=6)
    config = Config().with_overrides(["network.type=shortlist", "train.epochs=5"])
    a = fit_model(config, texts, labels)
    b = fit_model(config, texts, labels)
    test, _ = library(10, seed=7)
    np.testing.assert_array_equal(a.scorer.scores(test), b.scorer.scores(test))
    assert a.policy.to_dict() == b.policy.to_dict()


def test_too_few_documents_are_refused_with_the_count() -> None:
    texts, labels = library(8, seed=8)
    config = Config().with_overrides(["network.type=shortlist"])
    with pytest.raises(DataError, match="needs at least 10 documents with topics, found 8"):
        prepare_sparse(config, texts, labels)


def test_one_text_throughout_warns_and_its_rows_are_split_and_folded_as_their_own() -> None:
    # The one group was parted silently, `train` said "near-duplicates: 200 documents in 1
    # groups, each group kept on one side ...", and the folds held every row in one.
    text = "quarterly profits rose sharply as the chip maker beat analyst forecasts"
    labels = [["a"] if i % 2 else ["b"] for i in range(40)]
    config = Config().with_overrides(["network.type=shortlist"])
    with pytest.warns(UserWarning, match=r"the 40 training documents hold only 1 group of near"):
        data = prepare_sparse(config, [text] * 40, labels)
    assert len(data.val_idx) == 4 and list(data.groups) == list(range(40))
    assert data.near_duplicates() == {"documents": 0, "groups": 0}


def test_the_limit_and_threshold_are_those_with_the_best_micro_f1() -> None:
    config = Config().with_overrides(["network.type=shortlist"])
    texts, labels = library(20, seed=9)
    data = prepare_sparse(config, texts, labels)
    # Two documents, three candidates each; document 0 has two gold topics, one shortlisted
    # at rank 2; document 1 has one, at rank 1, and one gold topic never shortlisted.
    probabilities = np.array([[0.9, 0.6, 0.1], [0.8, 0.3, 0.2]], np.float32)
    targets = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    mask = np.ones((2, 3), bool)
    gold = np.array([2, 2])
    n = data.y.shape[1]
    policy = tune_limit_and_threshold(config, probabilities, targets, mask, gold, n, False)
    # Best: the two best of document 0 (0.9, 0.6) and the best of document 1 -> tp 2,
    # chosen 3, gold 4: F1 = 4 / 7.
    assert policy.top_k == 2 and policy.fallback in (True, False)
    assert 0.35 <= policy.global_threshold <= 0.6
    fixed = Config().with_overrides(["network.type=shortlist", "thresholds.top_k=1"])
    assert tune_limit_and_threshold(fixed, probabilities, targets, mask, gold, n, False).top_k == 1


def test_tagging_with_a_shortlist_model_never_imports_tensorflow(
    fitted: TopicClassifier, tmp_path
) -> None:
    import subprocess
    import sys

    fitted.save(tmp_path / "m")
    code = (
        "import sys\n"
        "from topicclf import TopicClassifier\n"
        f"clf = TopicClassifier.load({str(tmp_path / 'm')!r})\n"
        "print(clf.predict(['alpha3x1 bravo9x2'])[0])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_multi_class_mode_refuses_a_record_with_several_topics() -> None:
    texts, labels = library(20, seed=10)
    labels = [topics[:1] for topics in labels]
    labels[3] = ["gnd:00001", "gnd:00002"]
    config = Config().with_overrides(["network.type=shortlist", "train.mode=multiclass"])
    with pytest.raises(DataError, match=r"exactly one topic per document; document #4 has 2"):
        prepare_sparse(config, texts, labels)


@pytest.fixture(scope="module")
def one_topic_each() -> tuple[TopicClassifier, list[str]]:
    """A multi-class shortlist model (each record's first subject), and its topics."""
    texts, labels = library(400, seed=1)
    first = [topics[0] for topics in labels]
    clf = TopicClassifier(network="shortlist", mode="multiclass", epochs=30, seed=3)
    return clf.fit(texts, first), first


# A text of words no training document has: no candidate, no evidence for any topic.
UNKNOWN = "zzqx quuxword plughly"


def test_multi_class_scores_are_distributions_that_give_the_predicted_topic(
    one_topic_each: tuple[TopicClassifier, list[str]],
) -> None:
    from sklearn.metrics import roc_auc_score

    clf, first = one_topic_each
    assert clf.policy_.multiclass and isinstance(clf.scorer_.network, ShortlistNetwork)
    texts, labels = library(400, seed=2)
    truth = [topics[0] for topics in labels]
    texts.append(UNKNOWN)
    proba = clf.predict_proba(texts)
    # Before: rows summed to 0 .. 2.37, the unknown text's to 0, and it got no topic ("").
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    predicted = clf.predict(texts)
    np.testing.assert_array_equal(predicted, np.asarray(clf.classes_)[proba.argmax(axis=1)])
    # No candidate: the topics' shares of the training records, so the commonest topic.
    names, counts = np.unique(first, return_counts=True)
    shares = dict(zip(names.tolist(), (counts / counts.sum()).tolist(), strict=True))
    np.testing.assert_allclose(proba[-1], [shares[t] for t in clf.classes_], atol=1e-7)
    assert predicted[-1] == names[counts.argmax()]
    assert set(truth) == set(clf.classes_)  # every class present, so AUC is defined
    auc = roc_auc_score(truth, proba[:-1], multi_class="ovr", labels=clf.classes_)
    assert auc > 0.9
    # top_k and thresholds change nothing in multi-class mode: one topic per text.
    with pytest.warns(UserWarning, match="multi-class model: it always gives its one best"):
        tagged = clf.tag(texts, Rule(top_k=3, threshold=0.0))
    assert [len(row) for row in tagged] == [1] * len(texts)


def test_a_saved_multi_class_shortlist_model_loads_with_its_distributions(
    one_topic_each: tuple[TopicClassifier, list[str]], tmp_path
) -> None:
    clf, _ = one_topic_each
    texts = [*library(30, seed=5)[0], UNKNOWN]
    clf.save(tmp_path / "m")
    loaded = TopicClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))
    np.testing.assert_allclose(loaded.predict_proba(texts).sum(axis=1), 1.0, atol=1e-6)


def test_multi_label_scores_stay_each_candidate_s_own_probability(
    fitted: TopicClassifier,
) -> None:
    scores = fitted.predict_proba([UNKNOWN, *library(20, seed=4)[0]])
    assert not scores[0].any()  # no candidate, no topic: independent sigmoids, not a prior
    assert (scores.sum(axis=1)[1:] > 1.0).any()


def test_tuning_again_keeps_the_shortlist_rule_one_threshold_and_a_limit(
    fitted: TopicClassifier,
) -> None:
    import copy

    clf = copy.deepcopy(fitted)
    texts, labels = library(80, seed=11)
    before, after = clf.tune_thresholds(texts, labels)
    assert clf.policy_.strategy == "global" and 1 <= clf.policy_.top_k <= 10
    assert np.all(clf.policy_.thresholds == clf.policy_.global_threshold)
    assert after.micro.f1 >= before.micro.f1 - 1e-9  # chosen on these very documents
    with pytest.raises(DataError, match="none of the model's topics"):
        clf.tune_thresholds(["alpha beta"], [["not-a-subject"]])  # before any evaluation


def unique_topics(n: int, per_document: int) -> tuple[list[str], list[list[str]]]:
    """Documents that each have topics of their own: no held-out document's topic can be
    among the candidates sources built without it propose (candidate recall 0)."""
    rng = np.random.default_rng(1)
    words = ["rain", "wind", "goal", "match", "oil", "price", "vote", "law", "sun", "snow"]
    texts = [" ".join(rng.choice(words, 8)) for _ in range(n)]
    return texts, [[f"t{i}_{j}" for j in range(per_document)] for i in range(n)]


@pytest.fixture(scope="module")
def unique() -> TopicClassifier:
    """20,000 topics, each of one document; training warns what that means."""
    texts, labels = unique_topics(200, 100)
    clf = TopicClassifier(network="shortlist", epochs=2, seed=3)
    with pytest.warns(UserWarning, match=r"validation found 0 of \d+ held-out topics \(0\.0%\) "
                      r"among the shortlist's candidates: the topics are seen too rarely .* "
                      r"the model will tag little"):  # fmt: skip
        clf.fit(texts, labels)
    return clf


def test_topics_seen_once_warn_and_no_document_gets_a_topic_scoring_zero(
    unique: TopicClassifier,
) -> None:
    """The attack: validation found none of the held-out topics among the candidates, the
    search chose threshold 0 and every document got all of the model's topics, each scoring
    0.0."""
    assert unique.training_info_["shortlist"]["validation_candidate_recall"] == 0.0
    probe = ["rain wind", "oil price vote", "", "nothing known here"]
    for given in unique.tag(probe):
        assert len(given) <= unique.policy_.top_k
        assert all(score > 0 for _, score in given)
    # The rule itself, at the laxest threshold: only topics with a positive score.
    for given in unique.tag(probe, Rule(threshold=0.0)):
        assert len(given) <= unique.config_.network.candidates
        assert all(score > 0 for _, score in given)
    assert unique.tag(["nothing known here"], Rule(threshold=0.0)) == [[]]


def test_evaluate_holds_one_batch_of_scores_not_the_corpus(
    unique: TopicClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate on 400 documents x 20,000 topics in batches of 10 documents: its peak stays
    well below one dense float64 matrix of the corpus (64 MB). Before, every document got
    every topic, and the per-document lists and confusion counts grew to gigabytes."""
    import tracemalloc

    import topicclf.classifier as classifier

    texts, labels = unique_topics(200, 100)
    texts, labels = texts * 2, labels * 2
    n_topics = len(unique.classes_)
    assert n_topics == 20_000
    assert all(len(given) <= unique.policy_.top_k for given in unique.tag(texts[:20]))
    monkeypatch.setattr(classifier, "TAG_BLOCK_CELLS", 10 * n_topics)  # blocks of 10
    monkeypatch.setattr(classifier, "EVALUATE_BATCH_CELLS", 10 * n_topics)  # none kept whole
    scored: list[int] = []
    scores = unique.scorer_.scores
    monkeypatch.setattr(unique.scorer_, "scores", lambda t: scored.append(len(t)) or scores(t))
    tracemalloc.start()
    try:
        report = unique.evaluate(texts, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scored == [10] * 40  # the batching path
    assert report.n_documents == 400 and report.label_cardinality_predicted <= 10
    dense = len(texts) * n_topics * 8
    assert peak < dense / 2, f"peak {peak / 1e6:.1f} MB"


def test_a_catalogue_of_several_languages_tells_candidates_its_documents_language(
    tmp_path,
) -> None:
    """Each language's records get their own column of topic counts, and every entry point
    tells a text's language as training did (the analyzer's detection)."""
    import json
    from pathlib import Path

    from topicclf.corpus import open_corpus

    docs = list(open_corpus(Path(__file__).parent / "data" / "mixed.jsonl"))
    clf = TopicClassifier(network="shortlist", epochs=5, seed=3)
    clf.fit([d.text for d in docs], [list(d.labels) for d in docs])
    network = clf.scorer_.network
    assert isinstance(network, ShortlistNetwork)
    assert set(network.languages) == {"en", "de", "fi"}
    assert network.sources.by_language is not None
    assert network.sources.by_language.shape[1] == len(network.languages) + 1
    texts = [d.text for d in docs[:12]]
    languages = clf.scorer_.shortlist_languages(texts)
    assert languages is not None
    codes = [network.languages[i] for i in languages]
    assert codes == [clf.featurizer_.analyzer.language_of(t) for t in texts]
    back = TopicClassifier.load(clf.save(tmp_path / "m"))
    assert back.scorer_.network.languages == network.languages
    assert np.array_equal(back.predict_proba(texts), clf.predict_proba(texts))
    meta = json.loads((tmp_path / "m" / "shortlist.json").read_text())
    assert meta["languages"] == list(network.languages) and meta["candidate_features"] == 13


def far_apart(topics: int, n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Records of two subjects each, five of their subjects' words and twenty of 5,000
    others: no two records are much alike (attacker pass 27's corpus, in miniature)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        mine = rng.choice(topics, size=2, replace=False).tolist()
        words = [f"t{t}k{k}" for t in mine for k in rng.integers(0, 3, 5)]
        words += [f"w{i}" for i in rng.choice(5000, 20, replace=False)]
        texts.append(" ".join(words))
        labels.append([f"topic {t}" for t in mine])
    return texts, labels


def test_training_documents_keep_their_topics(tmp_path) -> None:
    """The rescorer learns from out-of-fold shortlists, where a record never finds itself;
    the saved sources hold every record, so a training record (or a copy catalogued again)
    found itself at similarity 1 with its own vote, values training never showed, and its
    topics scored next to nothing (micro-F1 0.13 on these training records, 0.96 on new
    ones). Features are now clipped to the ranges the rescorer learned from."""
    texts, labels = far_apart(200, 400, seed=1)
    clf = TopicClassifier(network="shortlist", epochs=30, seed=0).fit(texts, labels)
    network = clf.scorer_.network
    assert isinstance(network, ShortlistNetwork) and network.rescorer.ranges is not None
    known_topics = set(clf.classes_)
    new_records = [(t, ls) for t, ls in zip(*far_apart(200, 120, seed=7), strict=True)]
    new_texts = [t for t, ls in new_records if set(ls) <= known_topics]
    new_labels = [ls for _, ls in new_records if set(ls) <= known_topics]
    new = clf.evaluate(new_texts, new_labels).micro.f1
    known = clf.evaluate(texts, labels).micro.f1
    assert new > 0.9 and known >= new
    best = clf.predict_proba(texts[:100]).max(axis=1)
    assert np.median(best) > 0.5
    # Saved and loaded, the model clips to the same ranges.
    back = TopicClassifier.load(clf.save(tmp_path / "m"))
    np.testing.assert_array_equal(back.predict_proba(texts[:50]), clf.predict_proba(texts[:50]))


def test_hand_edited_feature_ranges_are_refused_when_the_model_is_read(
    fitted: TopicClassifier, tmp_path
) -> None:
    import hashlib
    import json

    from topicclf.errors import ModelBundleError

    path = fitted.save(tmp_path / "m")
    meta_file = tmp_path / "m" / "shortlist.json"
    meta = json.loads(meta_file.read_text())
    assert len(meta["feature_ranges"]) == meta["candidate_features"]
    meta["feature_ranges"][0] = [1.0, 0.5]
    meta_file.write_text(json.dumps(meta))
    # Its new size and hash recorded, as a careful hand edit would: the check behind the
    # hash is what is tested.
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    data = meta_file.read_bytes()
    manifest["files"]["shortlist.json"] = {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(
        ModelBundleError,
        match=r"m/shortlist\.json: the shortlist's feature_ranges must each be \[low, high\], "
        r"low <= high",
    ):
        TopicClassifier.load(path)


def test_documents_left_out_for_want_of_topics_are_said_with_the_count() -> None:
    """Attacker pass 44, CLI/API 3: the shortlist network (chosen from 1,000 topics) left
    records without subjects out silently (1,000 of 3,000), where the dense network warns
    and learns from them; records whose topics all fall under min_count too. The count is
    kept in the training record (`info` shows it)."""
    texts, labels = library(60, seed=4)
    labels = [[] if i % 3 == 0 else topics for i, topics in enumerate(labels)]
    labels[1] = ["gnd:99999"]  # its only topic, once: under train.min_count=2
    config = Config().with_overrides(["network.type=shortlist", "train.min_count=2"])
    with pytest.warns(
        UserWarning,
        match=r"^(\d+) of 60 training documents are left out \(20 have no topic and \d+ only "
        r"topics under train.min_count\): the shortlist network learns only from documents "
        r"with topics$",
    ) as caught:
        data = prepare_sparse(config, texts, labels)
    said = next(str(w.message) for w in caught if "left out" in str(w.message))
    assert data.left_out == int(said.split()[0]) > 20
    assert len(data.texts) == 60 - data.left_out < 40
