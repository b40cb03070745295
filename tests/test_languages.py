"""Languages: detection, each language's rules, a corpus's languages, stored and reloaded."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from topicclf.classifier import TopicClassifier
from topicclf.cli import run
from topicclf.config import Config, FeatureConfig, TextConfig
from topicclf.corpus import open_corpus
from topicclf.errors import ConfigError
from topicclf.features.languages import (
    ALL_CODES,
    NEUTRAL,
    corpus_languages,
    count_languages,
    detect,
    detect_among,
    remembering_detection,
    rules_for,
    stop_words_of,
)
from topicclf.features.text import Analyzer, english_stop_words
from topicclf.features.tfidf import TfidfFeaturizer

MIXED = Path(__file__).parent / "data" / "mixed.jsonl"


def mixed_records() -> list[dict]:
    return [json.loads(line) for line in MIXED.read_text(encoding="utf-8").splitlines()]


def test_every_record_of_the_mixed_corpus_is_told_its_language() -> None:
    for record in mixed_records():
        assert detect_among(record["text"], ALL_CODES) == record["language"], record["id"]


def test_detection_is_unsure_of_short_texts_and_sure_of_sentences() -> None:
    assert detect("Die Geschichte der deutschen Sprache im Mittelalter") == "de"
    assert detect("wheat prices") == NEUTRAL  # too short to be sure
    assert detect("   ") == NEUTRAL
    # Among a model's languages, a short text goes to the likeliest of them...
    assert detect_among("wheat prices", frozenset({"en", "de"})) == "en"
    # ...but a text surely in another language gets no language's rules.
    french = "Le gouvernement a annoncé une hausse des impôts pour l'année prochaine."
    assert detect_among(french, frozenset({"en", "de"})) == NEUTRAL


def test_a_language_needs_a_share_of_the_corpus_and_enough_documents() -> None:
    assert corpus_languages(Counter({"de": 560, "en": 440})) == ["de", "en"]
    # 1.5% of the documents: analysed without language rules.
    assert corpus_languages(Counter({"en": 985, "fr": 15})) == ["en"]
    # 19 documents are 2% of 950 but too few in a large corpus...
    assert corpus_languages(Counter({"en": 931, "fi": 19})) == ["en"]
    # ...while in a small corpus a fifth of the documents is enough.
    assert corpus_languages(Counter({"en": 8, "fi": 2})) == ["en", "fi"]
    # Languages without rules here and unsure texts never get a language's rules.
    assert corpus_languages(Counter({"la": 500, NEUTRAL: 500})) == []


def test_each_language_has_its_own_stop_words() -> None:
    auto = TextConfig()
    assert stop_words_of("en", auto) == english_stop_words()  # the list English always had
    assert {"und", "der", "die"} <= stop_words_of("de", auto)
    assert {"ja", "on", "ei"} <= stop_words_of("fi", auto)
    assert stop_words_of(NEUTRAL, auto) == frozenset()
    # The rule before languages: the English list for every language.
    assert stop_words_of("de", TextConfig(stop_words="english")) == english_stop_words()
    assert stop_words_of("de", TextConfig(stop_words="none")) == frozenset()
    assert rules_for("de", TextConfig(stemmer="snowball")).stemmer == "snowball"
    assert rules_for("el", TextConfig(stemmer="snowball")).stemmer == "none"  # no stemmer
    assert rules_for("de", TextConfig(stemmer="porter")).stemmer == "none"  # English only


def test_a_named_language_is_applied_to_every_text_without_detection() -> None:
    analyzer = Analyzer(TextConfig(language="german", stemmer="snowball"))
    assert not analyzer.detects
    assert analyzer.tokens("Die Wirtschaft und die Zinsen der Banken") == [
        "wirtschaft",
        "zins",
        "bank",
    ]
    # English text under German rules keeps English function words.
    assert "the" in analyzer.tokens("the bank and the rates")


def test_unknown_language_names_are_refused_with_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"text.language = 'deutsch' is not valid; give auto, or a language name"
    ):
        TextConfig(language="deutsch")


def test_a_mixed_corpus_analyses_each_text_by_its_own_language() -> None:
    texts = [r["text"] for r in mixed_records()]
    analyzer = Analyzer(TextConfig(stemmer="snowball")).for_corpus(texts)
    assert [r.code for r in analyzer.languages] == ["de", "en", "fi"]
    assert analyzer.detects
    assert analyzer.tokens("Die Wirtschaft und die Zinsen der Banken") == [
        "wirtschaft",
        "zins",
        "bank",
    ]
    assert analyzer.tokens("The economy and the rates of the banks") == ["economi", "rate", "bank"]
    # A language the corpus does not hold: no stop words, no stemming (never English rules).
    french = "Le gouvernement annonce les impôts de l'année prochaine"
    assert analyzer.language_of(french) == NEUTRAL
    assert analyzer.tokens(french)[:2] == ["le", "gouvernement"]


def test_an_english_corpus_keeps_the_english_rules_and_skips_detection() -> None:
    texts = [r["text"] for r in mixed_records() if r["language"] == "en"]
    analyzer = Analyzer(TextConfig()).for_corpus(texts)
    assert [r.code for r in analyzer.languages] == ["en"] and not analyzer.detects
    assert analyzer.stop_words == english_stop_words()
    assert count_languages(texts) == Counter({"en": 20})


def test_the_rules_are_stored_and_read_back() -> None:
    texts = [r["text"] for r in mixed_records()]
    featurizer = TfidfFeaturizer(TextConfig(stemmer="snowball"), FeatureConfig(min_df=1))
    x = featurizer.fit_transform(texts)
    meta, arrays = featurizer.get_state()
    assert [entry["code"] for entry in meta["languages"]] == ["de", "en", "fi"]
    assert {entry["stemmer"] for entry in meta["languages"]} == {"snowball"}
    again = TfidfFeaturizer.from_state(featurizer.text, featurizer.features, meta, arrays)
    assert (again.transform(texts) != x).nnz == 0
    assert [r.code for r in again.analyzer.languages] == ["de", "en", "fi"]


def test_a_model_saved_before_languages_reads_as_it_did() -> None:
    featurizer = TfidfFeaturizer(TextConfig(language="english"), FeatureConfig(min_df=1))
    featurizer.fit([r["text"] for r in mixed_records()])
    meta, arrays = featurizer.get_state()
    del meta["languages"]  # the state such a model has
    old = TfidfFeaturizer.from_state(
        TextConfig(language="english", stop_words="english"), featurizer.features, meta, arrays
    )
    assert not old.analyzer.detects and old.analyzer.stop_words == english_stop_words()
    text = "Die Wirtschaft and the banks"
    assert np.allclose(old.transform([text]).toarray(), featurizer.transform([text]).toarray())


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"code": "xx", "stop_words": [], "stemmer": "none"}, "unknown language or stemmer"),
        ({"code": "de", "stop_words": [], "stemmer": "lancaster"}, "unknown language or stemmer"),
        ({"code": "de", "stop_words": [], "stemmer": "auto"}, "unknown language or stemmer"),
        ({"code": "de", "stop_words": "und", "stemmer": "none"}, "must be a list of strings"),
        ({"code": "el", "stop_words": [], "stemmer": "snowball"}, "has no Snowball stemmer"),
    ],
)
def test_forged_language_rules_are_refused(entry: dict, message: str) -> None:
    featurizer = TfidfFeaturizer(TextConfig(), FeatureConfig(min_df=1))
    featurizer.fit([r["text"] for r in mixed_records()])
    meta, arrays = featurizer.get_state()
    meta["languages"] = [entry]
    with pytest.raises(ValueError, match=message):
        TfidfFeaturizer.from_state(featurizer.text, featurizer.features, meta, arrays)


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("languages") / "model"
    code = run(
        ["-q", "train", str(MIXED), "-o", str(path), "--set", "text.stemmer=snowball"]
        + ["--set", "train.epochs=30"]
    )
    assert code == 0
    return path


def test_one_model_learns_a_mixed_corpus_and_says_which_rules_it_used(
    mixed_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clf = TopicClassifier.load(mixed_model)
    analyzer = clf.training_info_["analyzer"]
    assert [e["language"] for e in analyzer["languages"]] == ["finnish", "german", "english"]
    assert all(e["stemmer"] == "snowball" and e["stop_words"] > 100 for e in analyzer["languages"])
    assert analyzer["detected per document"] is True
    # The same subject in three languages meets one topic.
    tagged = clf.predict(
        [
            "Heftiger Regen und Sturm werden morgen im Norden erwartet.",
            "Heavy rain and a storm are expected in the north tomorrow.",
            "Huomenna pohjoisessa odotetaan rankkasadetta ja myrskyä.",
        ]
    )
    assert all("weather" in topics for topics in tagged), tagged
    assert run(["info", str(mixed_model)]) == 0
    out = capsys.readouterr().out
    assert "analyzer" in out and "german (" in out
    assert run(["info", "--json", str(mixed_model)]) == 0
    described = json.loads(capsys.readouterr().out)["analyzer"]
    assert described.startswith("regexp tokens, lowercased; finnish (19 documents; 8")
    assert "german (18 documents; 2" in described and "snowball stemmer" in described
    assert described.endswith("; each text's language detected")


def test_corpus_stats_counts_the_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["corpus", "stats", "--json", str(MIXED)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["languages"] == {"english": 20, "finnish": 20, "german": 20}
    assert run(["corpus", "stats", str(MIXED)]) == 0
    out = capsys.readouterr().out
    assert all(f"documents in {name}" in out for name in ("english", "finnish", "german"))
    assert out.count("20 (33.3%)") == 3


def test_evaluate_breaks_the_figures_down_by_language(
    mixed_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = TopicClassifier.load(mixed_model).evaluate(list(open_corpus(MIXED)))
    assert list(report.by_language) == ["english", "finnish", "german"]  # 20 each: by name
    assert report.languages_from == "corpus"  # the corpus's field, not the model's guess
    for figures in report.by_language.values():
        assert figures["documents"] == 20
        assert set(figures) == {"documents", "micro_f1", "macro_f1", "samples_f1"} | {
            "precision@1",
            "f1@5",
            "ndcg@10",
        }
    files = [tmp_path / f"report.{suffix}" for suffix in ("json", "md", "html")]
    command = ["evaluate", str(mixed_model), str(MIXED)]
    assert run([*command, *(a for f in files for a in ("-o", str(f)))]) == 0
    out = capsys.readouterr().out
    assert "by language (from the corpus's language field)" in out and "finnish" in out
    saved = json.loads(files[0].read_text(encoding="utf-8"))["by_language"]
    assert saved == report.by_language
    assert "## By language" in files[1].read_text(encoding="utf-8")
    assert "<h2>By language</h2>" in files[2].read_text(encoding="utf-8")


def test_figures_by_language_say_when_the_model_told_the_languages(
    mixed_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The terminal said "as the model tells them" whatever told them (attacker pass 24).
    docs = [dataclasses.replace(d, language=None) for d in open_corpus(MIXED)]
    report = TopicClassifier.load(mixed_model).evaluate(docs)
    assert report.languages_from == "model" and "finnish" in report.by_language
    unmarked = tmp_path / "unmarked.jsonl"
    unmarked.write_text(
        "".join(json.dumps({"text": d.text, "labels": list(d.labels)}) + "\n" for d in docs),
        encoding="utf-8",
    )
    assert run(["evaluate", str(mixed_model), str(unmarked)]) == 0
    assert "by language (as the model tells them)" in capsys.readouterr().out


def test_the_corpus_language_field_breaks_figures_down_even_for_one_language() -> None:
    docs = list(open_corpus(MIXED))
    assert {d.language for d in docs} == {"en", "de", "fi"}
    english = [d for d in docs if d.language == "en"]
    clf = TopicClassifier(config=Config().with_overrides(["train.epochs=2"]))
    clf.fit([d.text for d in english], [list(d.labels) for d in english])
    assert not clf.featurizer_.analyzer.detects
    # Without the field, a model of one language has nothing to break down...
    unmarked = [dataclasses.replace(d, language=None) for d in docs]
    assert clf.evaluate(unmarked).by_language == {}
    # ...with it, the corpus says (by name; a value naming no language is warned about and
    # taken as not given).
    marked = [*docs[:-1], dataclasses.replace(docs[-1], language="Klingon")]
    with pytest.warns(UserWarning, match=r"neither a language name nor .*: 'Klingon' \(1\)"):
        report = clf.evaluate(marked)
    assert {k: v["documents"] for k, v in report.by_language.items()} == {
        "english": 20,
        "german": 20,
        "finnish": 19,
        "not given": 1,
    }
    assert report.languages_from == "corpus"


def test_the_language_field_is_read_checked_and_written(tmp_path: Path) -> None:
    from topicclf.corpus import write_corpus
    from topicclf.errors import CorpusFormatError

    path = tmp_path / "out.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        write_corpus(list(open_corpus(MIXED))[:2], handle, "jsonl")
    assert [json.loads(line)["language"] for line in path.read_text().splitlines()] == ["en"] * 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "language": 5}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="the language field must be a string"):
        list(open_corpus(bad))
    # A string, but no language: it was called "not a string".
    bad.write_text(json.dumps({"text": "x", "language": "e" * 100_000}) + "\n")
    with pytest.raises(
        CorpusFormatError,
        match=r"bad\.jsonl:1: the language field is 100,000 characters long, more than the 100 "
        "a language name or code may have$",
    ):
        list(open_corpus(bad))


def test_a_model_with_stemmers_pickles_and_tags_the_same(mixed_model: Path) -> None:
    # The estimator protocol (clone, joblib, Dask) pickles models; cached stemmers do not
    # pickle as they are and are rebuilt from the stored rules.
    clf = TopicClassifier.load(mixed_model)
    text = "Der Sturm hat das Stadion überflutet und das Spiel wurde abgesagt."
    again = pickle.loads(pickle.dumps(clf))
    assert again.tag([text]) == clf.tag([text])


def test_the_annif_api_serves_every_language_of_the_model(mixed_model: Path) -> None:
    pytest.importorskip("fastapi")
    import urllib.error
    import urllib.parse
    import urllib.request

    from topicclf.server import ServeOptions, load_models, parse_model_specs, serve_in_thread

    models = load_models(parse_model_specs([f"mixed={mixed_model}"]))
    assert models["mixed"].languages == ["fi", "de", "en"]

    def call(path: str, form: dict[str, str] | None = None) -> tuple[int, dict]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", data, timeout=30) as a:
                return a.status, json.load(a)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    with serve_in_thread(models, ServeOptions(port=0)) as (host, port):
        status, project = call("/v1/projects/mixed")
        assert project["language"] == "fi" and project["vocab"]["languages"] == ["fi", "de", "en"]
        text = "Der Sturm hat das Stadion überflutet."
        suggest = "/v1/projects/mixed/suggest"
        assert call(suggest, {"text": text, "language": "de"})[0] == 200
        status, refused = call(suggest, {"text": text, "language": "sv"})
        assert status == 400
        assert 'language "sv" not supported by vocabulary' in refused["detail"]
        assert call("/models")[1]["models"][0]["languages"] == ["fi", "de", "en"]


def test_training_detects_each_text_once_with_the_same_verdicts() -> None:
    # Training tells a text's language up to four times; within remembering_detection the
    # detector runs once per distinct text, and every answer is what it was without.
    from topicclf.features import languages

    texts = [r["text"] for r in mixed_records()] + ["wheat prices", "   ", "Weizen"]
    narrow = frozenset({"en", "de"})

    def answers() -> list[object]:
        return [
            [detect(t) for t in texts],
            [detect_among(t, ALL_CODES) for t in texts],
            [detect_among(t, narrow) for t in texts],  # unsure texts rank among two
            count_languages(texts),
        ]

    plain = answers()
    assert not languages._remembered
    with remembering_detection():
        first = answers()
        assert len(languages._remembered) == len({t for t in texts if t.strip()})
        with remembering_detection():  # a training inside another (threads) shares them
            assert answers() == first
        assert languages._remembered
    assert first == plain
    assert not languages._remembered  # forgotten when the last training ends


def test_a_corpus_or_annif_language_of_nb_or_nn_is_norwegian(
    tiny_dense: TopicClassifier, tiny_docs: list
) -> None:
    # Attacker pass 35, CLI/API 5: Bokmal and Nynorsk codes (nb_NO, nn_NO locales) named no
    # language, in a corpus's language field and Annif's `language`, while `no` was Norwegian.
    from topicclf.server.annif import language_code

    assert [language_code(v) for v in ("nb", "NN", "nb-NO", "no")] == ["no"] * 4
    values = ["nb", "nn", "no", "nb_NO"]
    docs = [
        dataclasses.replace(d, language=values[i % len(values)]) for i, d in enumerate(tiny_docs)
    ]
    report = tiny_dense.evaluate(docs)
    assert list(report.by_language) == ["norwegian"]
    assert report.by_language["norwegian"]["documents"] == len(docs)
