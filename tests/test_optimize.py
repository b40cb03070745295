from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import tiny_config

from topicclf.config import Config, load_config
from topicclf.errors import DataError
from topicclf.model.networks import NETWORKS
from topicclf.optimize import best_config_toml, sample_trials, search
from topicclf.types import Document

DENSE_SPACE = NETWORKS["dense"].search_space


def test_trials_are_seeded_distinct_and_start_with_the_base() -> None:
    first = sample_trials(DENSE_SPACE, 5, seed=1)
    assert first == sample_trials(DENSE_SPACE, 5, seed=1)
    assert first[0] == {} and len({repr(t) for t in first}) == 5
    assert first != sample_trials(DENSE_SPACE, 5, seed=2)


def test_search_scores_trials_by_cross_validation(tiny_docs: list[Document]) -> None:
    base = tiny_config(epochs=2)
    result = search(
        [d.text for d in tiny_docs], [d.labels for d in tiny_docs], base=base, trials=2, folds=2
    )
    assert len(result.trials) == 2
    assert result.best == result.trials[0]
    assert result.best.score("mean_f1") >= result.trials[1].score("mean_f1")
    assert all(0 <= t.micro_f1 <= 1 and 0 <= t.macro_f1 <= 1 for t in result.trials)
    for key, value in result.best.settings.items():
        section, name = key.split(".")
        assert getattr(getattr(result.config, section), name) == value


def test_search_errors(tiny_docs: list[Document]) -> None:
    texts, labels = [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    with pytest.raises(DataError, match="unknown objective 'accuracy'"):
        search(texts, labels, objective="accuracy")
    with pytest.raises(DataError, match="too few for 3-fold"):
        search(texts[:8], labels[:8], folds=3)


def test_cli_writes_a_config_train_accepts(tmp_path: Path, data_dir: Path) -> None:
    from topicclf.cli import run

    best = tmp_path / "best.toml"
    corpus = str(data_dir / "tiny.jsonl")
    args = [
        "-q",
        "optimize",
        corpus,
        "-o",
        str(best),
        "--trials",
        "2",
        "--folds",
        "2",
        "--set",
        "train.seed=7",
        "--search-set",
        "train.epochs=2",
        "--search-set",
        "train.refit=false",
    ]
    assert run(args) == 0
    assert best.read_text().startswith("# topicclf optimize: best of 2 trials by mean_f1")
    config = load_config(best)
    assert config.train.seed == 7  # --set is part of the result
    assert config.train.epochs == Config().train.epochs  # --search-set only sped the search
    assert config.train.refit == Config().train.refit
    quick = ["--set", "train.epochs=3", "--set", "train.refit=false"]  # accepted is enough
    assert (
        run(["-q", "train", corpus, "-o", str(tmp_path / "m"), "--config", str(best), *quick]) == 0
    )
    assert run(args) == 1  # refuses to overwrite without --force


def test_time_budget_stops_starting_trials(tiny_docs: list[Document]) -> None:
    result = search(
        [d.text for d in tiny_docs],
        [d.labels for d in tiny_docs],
        base=tiny_config(epochs=1),
        trials=3,
        folds=2,
        time_budget=0.0,
    )
    assert len(result.trials) == 1 and result.planned == 3  # the first trial always runs


def test_the_best_config_header_holds_any_corpus_path(tmp_path: Path, data_dir: Path) -> None:
    """A corpus path with a newline ended the header comment, and the rest of the name was
    read as TOML (`Cannot declare ('network',) twice`)."""
    import shutil

    from topicclf.cli import run

    corpus = tmp_path / "x\n[network]\nhidden_units = [7]\n#.jsonl"
    shutil.copy(data_dir / "tiny.jsonl", corpus)
    best = tmp_path / "best.toml"
    args = ["-q", "optimize", str(corpus), "-o", str(best), "--trials", "1", "--folds", "2"]
    assert run([*args, "--search-set", "train.epochs=1", "--set", "train.refit=false"]) == 0
    assert load_config(best).network.hidden_units == Config().network.hidden_units


def test_a_min_df_the_folds_lower_is_said_once_and_written_as_set(
    tiny_docs: list[Document], tmp_path: Path
) -> None:
    # Attacker pass 25: every trial's folds applied features.min_df = 5 as 1 with each fold's
    # warnings silenced, and best.toml said min_df = 5 with no word of it.
    base = tiny_config(epochs=1).with_overrides(["features.min_df=5"])
    texts, labels = [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    said = (
        r"^cross-validation \(trial 1\): features\.min_df = 5 is applied as 1: the floor is at "
        r"most one in 50 of the \d+ documents .*; the configuration written keeps "
        r"features\.min_df = 5 \(`train` applies the same floor to its own documents\)$"
    )
    with pytest.warns(UserWarning, match=said) as caught:
        result = search(texts, labels, base=base, trials=2, folds=2)
    assert len([w for w in caught if "min_df" in str(w.message)]) == 1  # not once per fold
    assert result.min_df_applied == 1
    best = tmp_path / "best.toml"
    best.write_text(best_config_toml(result, 2, "tiny.jsonl", base))
    assert "\n# features.min_df = 5 was applied as 1 in the cross-validation folds" in (
        best.read_text()
    )
    assert load_config(best).features.min_df == 5  # the setting, as set


def _fold_of(first: int, n: int, folds: int, seed: int) -> int:
    """The fold (from 1) whose held-out part holds document `first` (the search's seeded split)."""
    import numpy as np

    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    return next(k + 1 for k, part in enumerate(parts) if first in part)


def test_a_fold_that_holds_out_every_document_of_a_topic_is_left_out_of_the_scores(
    tiny_docs: list[Document], tmp_path: Path
) -> None:
    """`train` takes a corpus of 'sport' and one 'rare' document; `optimize` stopped with
    `training needs at least two topics, found 1 (sport)`, the fold that held out the 'rare'
    document having one topic left to train on (attacker pass 26, CLI F7)."""
    base = tiny_config(epochs=1)
    texts = [d.text for d in tiny_docs]
    labels = [["rare"]] + [["sport"]] * (len(texts) - 1)
    fold = _fold_of(0, len(texts), 3, base.train.seed)
    said = (
        rf"^cross-validation \(trial 1\): fold {fold} of 3 is left out of the scores: its "
        r"held-out part holds every document of 'rare' \(1 document\), and its training part "
        r"cannot train a model \(training needs at least two topics, found 1 \(sport\)\); the "
        r"trials are scored on the other folds$"
    )
    with pytest.warns(UserWarning, match=said) as caught:
        result = search(texts, labels, base=base, trials=2, folds=3)
    assert len([w for w in caught if "left out" in str(w.message)]) == 1  # not once per trial
    assert len(result.trials) == 2 and result.left_out == (fold,)
    best = tmp_path / "best.toml"
    best.write_text(best_config_toml(result, 3, "rare.jsonl", base))
    assert f"\n# fold {fold} of 3 was left out: no model could be trained on the rest" in (
        best.read_text()
    )
    load_config(best)


def test_no_fold_that_can_train_is_an_error_that_says_why(tiny_docs: list[Document]) -> None:
    base = tiny_config(epochs=1)
    texts = [d.text for d in tiny_docs]
    # Each topic's documents all in one of the two folds: each fold trains on one topic.
    labels = [
        ["a"] if _fold_of(i, len(texts), 2, base.train.seed) == 1 else ["b"]
        for i in range(len(texts))
    ]
    with pytest.raises(
        DataError,
        match=r"^no fold of the 2-fold cross-validation can train a model: in fold 1, its "
        r"held-out part holds every document of 'a' \(\d+ documents\), and its training part "
        r"cannot train a model \(training needs at least two topics, found 1 \(b\)\); give "
        r"those topics more documents, or use more folds$",
    ):
        search(texts, labels, base=base, trials=1, folds=2)
    # What train itself refuses is said as train says it.
    with pytest.raises(DataError, match=r"^training needs at least two topics, found 1 \(a\)$"):
        search(texts, [["a"]] * len(texts), base=base, trials=1, folds=2)


def test_near_duplicates_share_a_fold_so_copies_do_not_flatter_the_scores(
    tiny_docs: list[Document],
) -> None:
    """The folds were a permutation of documents: the tiny corpus repeated 4 times scored
    0.89/0.89 micro/macro against 0.45/0.42 once, each held-out text trained on in its copies
    (attacker pass 29, optimize groups)."""
    base = tiny_config(epochs=10)
    texts, labels = [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    once = search(texts, labels, base=base, trials=1, folds=3).best
    repeated = search(texts * 4, labels * 4, base=base, trials=1, folds=3).best
    # Copies add no new text to learn from, so the held-out figures stay near the corpus's
    # own (4 copies per epoch train a little more: not the 0.44 a leak added).
    assert abs(repeated.micro_f1 - once.micro_f1) < 0.15
    assert abs(repeated.macro_f1 - once.macro_f1) < 0.15


def test_cross_validation_folds_keep_each_group_of_near_duplicates_in_one(
    tiny_docs: list[Document],
) -> None:
    import numpy as np

    from topicclf.optimize import cross_validation_folds
    from topicclf.training.groups import near_duplicate_groups

    texts = [d.text for d in tiny_docs] * 4
    groups = near_duplicate_groups(texts, seed=0)
    assert len(np.unique(groups)) == len(tiny_docs)  # each text and its 3 copies
    parts = cross_validation_folds(groups, 3, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(texts)))
    assert [len(p) for p in parts] == [56, 52, 52]  # 14, 13 and 13 texts
    held = [set(groups[p].tolist()) for p in parts]
    assert not (held[0] & held[1] or held[0] & held[2] or held[1] & held[2])
    # Without near-duplicates, the folds are the seeded permutation they always were.
    distinct = np.arange(len(tiny_docs))
    expected = np.array_split(np.random.default_rng(7).permutation(len(tiny_docs)), 3)
    got = cross_validation_folds(distinct, 3, seed=7)
    assert [p.tolist() for p in got] == [p.tolist() for p in expected]


def test_one_large_group_still_leaves_every_fold_grouped(
    tiny_docs: list[Document],
) -> None:
    """One text copied 60 times among 11 others: 12 groups. The greedy cuts left a fold empty
    and the documents were split one by one, each copy's twins trained on; the 60 copies
    now fill one fold and the 11 others the two more (attacker pass 30, CLI F1)."""
    import numpy as np

    from topicclf.optimize import cross_validation_folds, folds_keep_groups
    from topicclf.training.groups import near_duplicate_groups

    texts = [d.text for d in tiny_docs[:11]] + [tiny_docs[11].text] * 60
    groups = near_duplicate_groups(texts, seed=0)
    assert len(np.unique(groups)) == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = cross_validation_folds(groups, 3, seed=0)
    assert [len(p) for p in parts] == [60, 6, 5]
    assert folds_keep_groups(parts, groups)


def test_fewer_groups_than_folds_are_said_and_split_by_document() -> None:
    """Only fewer groups than folds leave a fold empty: the documents are split one by one,
    as `train`'s validation split does with too few groups, a warning says so, and so does
    the header of the configuration written (attacker pass 30, CLI F1)."""
    import numpy as np

    from topicclf.optimize import SearchResult, Trial, cross_validation_folds, folds_keep_groups

    groups = np.array([0] * 5 + [1] * 4)
    with pytest.warns(
        UserWarning,
        match=r"^the 9 training documents hold only 2 groups of near-duplicates, fewer than "
        r"the 3 folds, too few to keep each group in one fold; held-out folds hold copies of "
        r"training documents, so the cross-validated figures flatter the model\. More "
        r"distinct documents fix this$",
    ):
        parts = cross_validation_folds(groups, 3, seed=0)
    assert [len(p) for p in parts] == [3, 3, 3] and not folds_keep_groups(parts, groups)
    trial = Trial(1, {}, 0.9, 0.8)
    base = tiny_config(epochs=1)
    result = SearchResult([trial], trial, base, "mean_f1", 1, grouped=False)
    text = best_config_toml(result, 3, "dup.jsonl", base)
    assert (
        "\n# the 3 folds part groups of near-duplicates (too few groups to keep each in one "
        "fold): held-out documents have copies among the training documents, so these figures "
        "flatter the model\n"
    ) in text
    grouped = best_config_toml(SearchResult([trial], trial, base, "mean_f1", 1), 3, "d", base)
    assert "near-duplicates" not in grouped


def test_pairs_of_copies_in_nine_folds_are_scored_on_grouped_folds(
    tiny_docs: list[Document],
) -> None:
    """Each text twice (40 groups) in 9 folds: the greedy cuts left the ninth fold empty, the
    search fell back to folds of single documents and scored each text after training on its
    twin, 0.94 micro-F1 against 0.39 with 8 folds on the reporter's newsbriefs corpus
    (attacker pass 30, CLI F1)."""
    base = tiny_config(epochs=3)
    texts, labels = [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*groups of near-duplicates")
        twice = search(texts * 2, labels * 2, base=base, trials=1, folds=9)
    assert twice.grouped
    assert "near-duplicates" not in best_config_toml(twice, 9, "twice.jsonl", base)
    # The corpus once scores 0.46/0.45 in 9 folds; grouped, twice 0.53/0.51; with each
    # twin trained on, 0.83/0.83. (Not searched here again: 9 folds cost half a minute.)
    assert twice.best.micro_f1 < 0.7 and twice.best.macro_f1 < 0.7


def test_too_few_counts_groups_of_near_duplicates_not_documents(
    tiny_docs: list[Document],
) -> None:
    # 120 documents, but 40 copies of 3 texts: each fold would hold out copies of texts the
    # others train on, or nothing.
    texts, labels = [d.text for d in tiny_docs[:3]], [d.labels for d in tiny_docs[:3]]
    with pytest.raises(
        DataError,
        match=r"^120 documents in 3 groups of near-duplicates are too few for 3-fold "
        r"cross-validation, which keeps each group in one fold: it needs at least 12 groups$",
    ):
        search(texts * 40, labels * 40, base=tiny_config(epochs=1), trials=1, folds=3)
    with pytest.raises(DataError, match=r"^8 documents in 8 groups of near-duplicates are too"):
        search([d.text for d in tiny_docs[:8]], [d.labels for d in tiny_docs[:8]])


def test_a_search_set_key_the_search_tries_is_held_in_every_trial_and_written(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--search-set network.dropout=0.1` applied to trial 1 only: trial 2 sampled 0.5 over
    it, and best.toml left it out, so a winning trial 1 wrote figures measured with 0.1 over
    a configuration of 0.5 (attacker pass 38, CLI 3)."""
    from topicclf.cli import run

    best = tmp_path / "best.toml"
    args = ["optimize", str(data_dir / "tiny.jsonl"), "-o", str(best), "--trials", "2"]
    args += ["--folds", "2", "--search-set", "train.epochs=1", "--set", "train.refit=false"]
    args += ["--search-set", "network.dropout=0.1", "--search-set", "features.ngram_max=1"]
    assert run(args) == 0
    out, err = capsys.readouterr()
    config = load_config(best)
    assert config.network.dropout == 0.1 and config.features.ngram_max == 1  # as measured
    assert config.train.epochs == Config().train.epochs  # not searched: the search's only
    # The settings column wraps; its continuation lines leave the other cells empty.
    text = " ".join(out.replace("│", " ").split())
    assert text.count("features.ngram_max=1, network.dropout=0.1") == 2  # both trials' rows
    assert "defaults, features.ngram_max=1, network.dropout=0.1" in text
    assert "\n# held fixed in every trial, not searched: features.ngram_max=1, " in (
        best.read_text()
    )
    assert (
        "held fixed by --search-set in every trial and written: features.ngram_max=1, "
        "network.dropout=0.1"
    ) in " ".join(err.split())


def test_holding_every_searched_key_fixed_runs_one_trial_and_says_so(
    tiny_docs: list[Document],
) -> None:
    texts, labels = [d.text for d in tiny_docs], [d.labels for d in tiny_docs]
    base = tiny_config(epochs=1).with_overrides(["network.dropout=0.1"])
    with pytest.warns(
        UserWarning,
        match=r"^every setting the search tries is held fixed \(network\.dropout=0\.1\): "
        r"nothing is left to vary, so 1 trial runs, not 3$",
    ):
        result = search(
            texts,
            labels,
            base=base,
            trials=3,
            folds=2,
            space={"network.dropout": [0.2, 0.5]},
            fixed=["network.dropout", "train.epochs"],
        )
    assert [t.settings for t in result.trials] == [{"network.dropout": 0.1}]
    assert result.fixed == {"network.dropout": 0.1} and result.config.network.dropout == 0.1
