from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topicclf.config import Config, load_config, to_toml, with_values
from topicclf.errors import ConfigError


def test_defaults_round_trip_through_dict_and_toml(tmp_path: Path) -> None:
    config = Config()
    assert Config.from_dict(config.to_dict()) == config
    path = tmp_path / "run.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config


def test_toml_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("[network]\nhidden_units = [64, 32]\n[train]\nseed = 3\n")
    config = load_config(path, ["train.seed=9", "thresholds.fallback=never", "text.lowercase=no"])
    assert config.network.hidden_units == (64, 32)
    assert config.train.seed == 9
    assert config.thresholds.fallback == "never"
    assert config.text.lowercase is False


def test_set_parses_lists_and_floats() -> None:
    config = Config().with_overrides(["network.hidden_units=128,64", "train.learning_rate=3e-3"])
    assert config.network.hidden_units == (128, 64)
    assert config.train.learning_rate == pytest.approx(0.003)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown key train\.sed; valid keys in \[train\]: .*seed"
    ):
        Config().with_overrides(["train.sed=1"])


def test_unknown_section() -> None:
    with pytest.raises(ConfigError, match="unknown section 'trian'; valid sections: text"):
        Config.from_dict({"trian": {}})


def test_bad_value_type() -> None:
    with pytest.raises(ConfigError, match=r"train\.epochs = 'many' is not a whole number"):
        Config().with_overrides(["train.epochs=many"])
    with pytest.raises(ConfigError, match=r"train\.seed = '1' is not an integer"):
        Config.from_dict({"train": {"seed": "1"}})


def test_bad_choice_and_range() -> None:
    with pytest.raises(ConfigError, match="network.type = 'rnn' is not valid; choose one of"):
        Config().with_overrides(["network.type=rnn"])
    with pytest.raises(ConfigError, match=r"train.learning_rate = -1.0 must be between 0 and 10"):
        Config().with_overrides(["train.learning_rate=-1"])
    with pytest.raises(
        ConfigError, match="train.validation_split = 1.5 must be greater than 0 and less than 1"
    ):
        Config().with_overrides(["train.validation_split=1.5"])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.validation_split=0", "train.validation_split = 0.0 must be greater than 0 and"),
        ("train.validation_split=1", "train.validation_split = 1.0 must be greater than 0 and"),
        ("thresholds.value=0", "thresholds.value = 0.0 must be greater than 0 and less than 1"),
        ("network.dropout=1", "network.dropout = 1.0 must be at least 0 and less than 1"),
        ("network.dropout=-0.5", "network.dropout = -0.5 must be at least 0 and less than 1"),
    ],
)
def test_a_range_that_leaves_out_its_bounds_says_so(setting: str, message: str) -> None:
    """`validation_split = 0.0 must be between 0 and 1` refused a value between 0 and 1
    (attacker pass 26, CLI F8)."""
    with pytest.raises(ConfigError, match=rf"^--set: {re.escape(message)}"):
        Config().with_overrides([setting])
    Config().with_overrides(["network.dropout=0", "train.validation_split=0.99"])


@pytest.mark.parametrize("section", ["text", "features", "network", "train", "thresholds", "blend"])
@pytest.mark.parametrize(("value", "given"), [(5, "int"), (None, "NoneType"), ("x", "str")])
def test_each_section_of_a_config_must_be_its_own_dataclass(
    section: str, value: object, given: str
) -> None:
    """Config(train=5) was accepted, and fit raised AttributeError: 'int' object has no
    attribute 'min_count' (attacker pass 26, CLI F4)."""
    kind = type(getattr(Config(), section)).__name__
    with pytest.raises(ConfigError, match=rf"^Config\.{section} must be a {kind}, not {given}$"):
        Config(**{section: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=rf"^Config\.{section} must be a {kind}, not dict; "):
        Config(**{section: {}})  # type: ignore[arg-type]


def test_a_section_of_another_section_s_type_is_refused() -> None:
    from topicclf.config import TrainConfig

    with pytest.raises(ConfigError, match=r"^Config\.network must be a NetworkConfig, not Tr"):
        Config(network=TrainConfig())  # type: ignore[arg-type]


def test_a_setting_given_twice_is_checked_both_times_and_the_last_wins() -> None:
    # The earlier value was dropped unread: train.epochs=abc before train.epochs=1 trained.
    with pytest.raises(ConfigError, match=r"train\.epochs = 'abc' is not a whole number"):
        Config().with_overrides(["train.epochs=abc", "train.epochs=1"])
    with pytest.raises(ConfigError, match=r"train.learning_rate = -1.0 must be between 0 and"):
        Config().with_overrides(["train.learning_rate=-1", "train.learning_rate=0.01"])
    config = Config().with_overrides(["train.epochs=3", "train.epochs=1", "train.seed=2"])
    assert (config.train.epochs, config.train.seed) == (1, 2)


def test_malformed_set() -> None:
    with pytest.raises(ConfigError, match="expected section.key=value"):
        Config().with_overrides(["seed=3"])


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r": no such file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nseed=1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes("[train]\nseed = 7 # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.toml: not UTF-8 text \(byte 0xe9 at offset"):
        load_config(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_config_file_is_read_as_its_byte_order_mark_says(tmp_path: Path, encoding: str) -> None:
    # Notepad's "Unicode" (UTF-16 with a mark), as a report or a corpus is read (pass 46:
    # "not UTF-8"); a doubled mark is dropped too (pass 46: "Invalid statement").
    path = tmp_path / "c.toml"
    mark = "\ufeff" if encoding == "utf-16-be" else ""
    path.write_bytes((mark + "\ufeff[train]\nseed = 7 # café\n").encode(encoding))
    assert load_config(path).train.seed == 7
    path.write_bytes(b"\xff\xfe" + "[train]\n".encode("utf-16-le") + b"\x00\xdc")
    with pytest.raises(ConfigError, match=r"not UTF-16-LE text, which its byte order mark names"):
        load_config(path)


def test_a_network_kind_s_own_defaults_sit_under_the_file_and_set(tmp_path) -> None:
    from topicclf.classifier import TopicClassifier
    from topicclf.config import NETWORK_DEFAULTS, NETWORK_TYPES, defaults_for

    assert set(NETWORK_DEFAULTS) <= set(NETWORK_TYPES)
    for kind, values in NETWORK_DEFAULTS.items():  # each is a setting --set takes
        Config().with_overrides([f"{key}={value}" for key, value in values.items()])
        assert defaults_for(kind).network.type == kind
    shortlist = load_config(None, ["network.type=shortlist"])
    assert (shortlist.features.max_features, shortlist.network.dropout) == (200_000, 0.0)
    given = load_config(None, ["network.type=shortlist", "features.max_features=5000"])
    assert given.features.max_features == 5000 and given.network.dropout == 0.0
    path = tmp_path / "run.toml"
    path.write_text('[network]\ntype = "shortlist"\ndropout = 0.25\n')
    from_file = load_config(path)
    assert (from_file.features.max_features, from_file.network.dropout) == (200_000, 0.25)
    assert load_config(None, []) == Config()  # the dense network's defaults are Config()'s
    # The estimator: its network keyword brings the kind's defaults; a config given is kept.
    assert TopicClassifier(network="shortlist").resolved_config().network.dropout == 0.0
    explicit = Config().with_overrides(["network.type=shortlist"])
    assert TopicClassifier(config=explicit).resolved_config() == explicit


@pytest.mark.parametrize(
    "setting",
    [
        "train.learning_rate=nan",
        "thresholds.shrinkage=inf",
        "thresholds.value=nan",
        "blend.svm_c=nan",
        "blend.weight=nan",
        "network.dropout=nan",
        "train.validation_split=nan",
    ],
)
def test_numbers_that_are_not_finite_are_refused_where_they_are_read(setting: str) -> None:
    # NaN passes every "not below" check and infinity every lower bound; a model trained
    # with either could not be loaded again.
    key = setting.split("=")[0]
    with pytest.raises(ConfigError, match=rf"{re.escape(key)} = (nan|inf) must be a finite"):
        Config().with_overrides([setting])


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.seed=18446744073709551616", "must be between 0 and 4294967295"),
        ("network.hidden_units=[1000000000000000000000000000000]", "between 1 and 65536"),
        ("features.ngram_max=1000000000000000000", "between 1 and 10"),
        ("train.batch_size=100000000000000000000", "between 0 and 1048576"),
        ("features.sequence_length=1000000000", "between 0 and 100000"),
        # liblinear never returns for these (a train ran 34 minutes, deaf to SIGTERM)
        ("blend.svm_c=1e-300", r"blend.svm_c = 1e-300 must be between 1e-06 and 1e\+06"),
        ("blend.svm_c=1e300", r"must be between 1e-06 and 1e\+06"),
    ],
)
def test_sizes_far_beyond_any_model_are_refused_before_any_work(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([setting])


def test_a_huge_value_is_not_echoed_whole(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text('[text]\nlanguage = "' + "x" * 1_000_000 + '"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.\.\. \(1,000,002 characters\) is not valid") as info:
        load_config(big)
    assert len(str(info.value)) < 1000


@settings(max_examples=20, deadline=None)
@given(
    st.sampled_from(["train.epochs", "features.max_features", "network.dropout", "blend.svm_c"]),
    st.sampled_from(["{}", "[{}]"]),
    st.sampled_from([("9", 4301), ("-9", 6000), ("0x" + "f", 5000), ("0o" + "7", 7000)]),
)
def test_an_integer_too_long_for_python_in_a_config_is_a_config_error(
    tmp_path_factory: pytest.TempPathFactory,
    key: str,
    form: str,
    digits: tuple[str, int],
) -> None:
    # int() refuses a decimal of 4,300+ digits (a plain ValueError), and repr() an integer that
    # large read from hex: both were internal errors; float() of one an OverflowError.
    section, name = key.split(".")
    start, count = digits
    literal = start + start[-1] * count
    path = tmp_path_factory.mktemp("c") / "big.toml"
    path.write_text(f"[{section}]\n{name} = {form.format(literal)}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and len(message) < 300
    assert "an integer of more than 4,300 digits" in message or "is not a number" in message


def test_a_count_setting_holds_in_64_bits() -> None:
    # Unbounded above, 10**30 was taken, and a model's manifest could not be written.
    with pytest.raises(ConfigError, match=r"features\.max_features = 10+ must be at most 9,22"):
        load_config(None, ["features.max_features=" + "1" + "0" * 30])
    assert load_config(None, [f"features.max_features={2**63 - 1}"]).features.max_features == (
        2**63 - 1
    )


def test_a_config_nested_thousands_deep_is_a_config_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML: nested too deeply"):
        load_config(deep)


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        # Each of these trained and saved a model that no later load accepted, or failed
        # after minutes of work with an internal error.
        ("train.learning_rate=1e308", r"train.learning_rate = 1e\+308 must be between 0 and 10"),
        ("thresholds.top_k=" + "9" * 401, r"thresholds.top_k = 9{50}.*\(401 characters\) must be"),
        ("network.hidden_units=" + ",".join(["1"] * 800), "has 800 layers; at most 16"),
        ("train.min_count=" + "9" * 401, r"train.min_count = 9{50}.*must be between 1 and"),
        ("thresholds.shrinkage=1e300", r"thresholds.shrinkage = 1e\+300 must be between 0 and"),
        ("train.patience=" + "9" * 30, "train.patience = 9+ must be between 0 and 100000"),
    ],
)
def test_settings_no_model_could_hold_are_refused_before_any_work(setting: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Config().with_overrides([setting])


def test_a_config_path_that_is_not_a_regular_file_is_refused_without_reading(
    tmp_path: Path,
) -> None:
    """A FIFO hung `-c`, and /dev/zero filled memory; a UTF-8 BOM (Notepad) is read."""
    import os

    from topicclf.config import load_config

    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ConfigError, match="not a regular file; a configuration is a TOML"):
            load_config(path)
    big = tmp_path / "big.toml"
    big.write_text("# x\n" * 300_000)
    with pytest.raises(ConfigError, match=r"larger than 1,048,576 bytes"):
        load_config(big)
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeff[train]\nepochs = 3\n".encode())
    assert load_config(bom).train.epochs == 3
    with pytest.raises(ConfigError, match=r"features.sequence_ngrams = 1000000000 must be betw"):
        Config().with_overrides(["features.sequence_ngrams=1000000000"])


def test_toml_written_from_a_config_reads_back_whatever_its_strings_hold() -> None:
    """A verbose token pattern's newline (or DEL, or \\x01) was written raw inside a TOML
    string, so `optimize`'s best.toml could not be read by `train --config`."""
    import tomllib

    from topicclf.config import to_toml

    pattern = "(?x) \\w\\w+ # words\n\x7f\x01\"'"
    config = Config().with_overrides([f"text.token_pattern={pattern}"])
    assert tomllib.loads(to_toml(config))["text"]["token_pattern"] == pattern


def test_numpy_values_are_read_as_the_python_values_they_hold() -> None:
    """Parameter grids and computed sizes give numpy scalars and arrays: a 1-D array was a
    raw ValueError from `.item()`, and a list of numpy integers was "not a list of integers"."""
    config = with_values(
        Config(),
        {
            "network.hidden_units": np.array([64, 32]),
            "network.dropout": np.float32(0.25),
            "train.epochs": np.int64(3),
            "train.refit": np.bool_(False),
            "text.tokenizer": np.str_("wordpunct"),
        },
        source="TopicClassifier",
    )
    assert config.network.hidden_units == (64, 32) and config.train.epochs == 3
    assert config.network.dropout == 0.25 and config.train.refit is False
    assert config.text.tokenizer == "wordpunct"
    one = with_values(Config(), {"network.hidden_units": [np.int32(8)]}, source="x")
    assert one.network.hidden_units == (8,)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("network.hidden_units", np.array([[64, 32]]), "a list of integers"),
        ("network.hidden_units", np.array([64.5]), "a list of integers"),
        ("train.epochs", np.array([3]), "an integer"),
        ("train.epochs", np.bool_(True), "an integer"),
    ],
)
def test_numpy_values_of_the_wrong_shape_or_kind_name_the_setting(
    key: str, value: object, expected: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^TopicClassifier: {key} = .* is not {expected}$"):
        with_values(Config(), {key: value}, source="TopicClassifier")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        # int() and float() read these: train.epochs=1_0 trained ten epochs
        ("train.epochs=1_0", r"train.epochs = '1_0' is not a whole number \(ASCII digits\)"),
        ("train.epochs=\u0661\u0660", "is not a whole number"),  # Arabic-Indic 10
        ("train.epochs=\uff13", "is not a whole number"),  # a full-width 3
        ("train.learning_rate=0.0_1", r"'0.0_1' is not a plain number \(ASCII digits"),
        ("blend.svm_c=\u0661", "is not a plain number"),
        ("network.hidden_units=[1_0]", "is not a list of integers"),
        ("train.epochs=" + "9" * 5000, r"\(5,002 characters\) is an integer of more than"),
    ],
)
def test_set_takes_plain_numbers_only(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([setting])


LIST_RULE = (
    r"is not a list of integers separated by single commas, e\.g\. 512,256 or \[512, 256\] "
    r"\(\[\] for none\)$"
)


@pytest.mark.parametrize(
    "value",
    ["", " ", ",", "[,,,]", "((64", "((64))", "(64", "[64)", "64,,128", "64,", "[64,,]", "(,)"],
)
def test_set_refuses_a_malformed_list(value: str) -> None:
    # An empty value or [,,,] trained a network of no hidden layer; ((64 was read as [64].
    with pytest.raises(ConfigError, match=rf"^--set: network\.hidden_units = .* {LIST_RULE}"):
        Config().with_overrides([f"network.hidden_units={value}"])


@pytest.mark.parametrize(
    ("value", "units"),
    [
        ("128,64", (128, 64)),
        ("[128, 64]", (128, 64)),
        ("(128 , 64)", (128, 64)),
        (" 8 ", (8,)),
        ("[+5]", (5,)),
        ("(128,)", (128,)),  # a one-item tuple, as Python writes it
        ("[256, 128, ]", (256, 128)),  # a trailing comma, as TOML allows
        ("[]", ()),
        ("( )", ()),
    ],
)
def test_set_reads_a_list_as_a_toml_file_does(tmp_path: Path, value: str, units: tuple) -> None:
    config = Config().with_overrides([f"network.hidden_units={value}"])
    assert config.network.hidden_units == units
    # `[]` in a TOML file is no hidden layer too: the one meaning of an empty list.
    path = tmp_path / "c.toml"
    path.write_text(f"[network]\nhidden_units = {list(units)}\n")
    assert load_config(path).network.hidden_units == units


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("train.learning_rate=1e-3", 0.001),
        ("train.learning_rate=+.5E-2", 0.005),
        ("train.learning_rate=0.01", 0.01),
        ("train.epochs=+3", 3),
        ("train.epochs=007", 7),
    ],
)
def test_set_reads_numbers_as_people_write_them(setting: str, value: float) -> None:
    key, _ = setting.split("=")
    section, name = key.split(".")
    config = Config().with_overrides([setting])
    assert getattr(getattr(config, section), name) == value


def test_the_document_floor_says_when_it_lowers_a_min_df_set_by_hand() -> None:
    from topicclf.config import FeatureConfig

    # min_df = 1000000 on 300 documents was applied as 6 without a word (attacker pass 24).
    asked = FeatureConfig(min_df=1_000_000)
    assert asked.document_floor(300) == 6
    note = asked.lowered_floor(6, 300)
    assert note is not None
    assert note.startswith("features.min_df = 1000000 is applied as 6: the floor is at most one in")
    assert "of the 300 documents" in note
    # The default's relaxing (to 1 below 100 documents) is the documented rule: no note.
    assert FeatureConfig().document_floor(99) == 1 and FeatureConfig().document_floor(100) == 2
    assert FeatureConfig().lowered_floor(1, 99) is None
    assert FeatureConfig(min_df=5).lowered_floor(5, 300) is None  # applied as set


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("en", "english"),
        ("EN", "english"),
        ("English", "english"),
        (" english ", "english"),
        ("en-US", "english"),
        ("pt_BR", "portuguese"),
        ("De", "german"),
        ("GERMAN", "german"),
        ("klingon", None),
        ("x" * 100, None),
        ("und", None),
        ("", None),
    ],
)
def test_a_language_value_is_a_name_or_an_iso_code_in_any_case(
    value: str, name: str | None
) -> None:
    # `EN` and `English` were rows of their own beside `english`, and any string a language
    # (attacker pass 24).
    from topicclf.config import language_named

    assert language_named(value) == name


@pytest.mark.parametrize(
    ("stemmer", "language", "message"),
    [
        (
            "snowball",
            "hebrew",
            r"--set: text\.stemmer = 'snowball' with text\.language = 'hebrew': NLTK has no "
            r"Snowball stemmer for hebrew; set text\.stemmer = none, or a language of: arabic, ",
        ),
        ("snowball", "persian", r"NLTK has no Snowball stemmer for persian"),
        (
            "porter",
            "german",
            r"--set: text\.stemmer = 'porter' stems English only, and text\.language = 'german' "
            r"analyses every text as german; set text\.stemmer = snowball \(german's own stemmer\)",
        ),
        ("porter", "greek", r"every text as greek; set text\.stemmer = none$"),
    ],
)
def test_a_stemmer_the_fixed_language_has_none_of_is_refused_with_the_settings(
    stemmer: str, language: str, message: str
) -> None:
    # Attacker pass 27, CLI F3: snowball + hebrew was refused only once the corpus had been
    # read and near-duplicates searched; porter + german trained a model that never stemmed.
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[f"text.stemmer={stemmer}", f"text.language={language}"])


@pytest.mark.parametrize(
    ("stemmer", "language"),
    [("porter", "english"), ("porter", "auto"), ("snowball", "auto"), ("snowball", "german")]
    + [("none", "hebrew"), ("auto", "hebrew")],
)
def test_a_stemmer_that_applies_to_some_text_is_taken(stemmer: str, language: str) -> None:
    # With language = auto each detected language gets the stemmer where it has one.
    config = load_config(overrides=[f"text.stemmer={stemmer}", f"text.language={language}"])
    assert (config.text.stemmer, config.text.language) == (stemmer, language)


def test_train_refuses_a_stemmer_the_language_has_none_of_before_reading_the_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from topicclf.cli import run

    corpus = Path(__file__).parent / "data" / "tiny.jsonl"
    settings = ["--set", "text.stemmer=snowball", "--set", "text.language=hebrew"]
    assert run(["train", str(corpus), "-o", str(tmp_path / "m"), *settings]) == 1
    err = capsys.readouterr().err
    # One line: no "reading tiny.jsonl" nor "finding near-duplicates" before it.
    assert err.startswith("error: --set: text.stemmer = 'snowball' with text.language = 'hebrew'")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_a_saved_model_of_porter_and_another_language_loads_as_unstemmed(
    data_dir: Path, tmp_path: Path
) -> None:
    # Before CLI F3 was fixed, porter + german trained and saved a model whose German rules
    # had no stemmer: it must still load, and say what it applied.
    from topicclf.classifier import TopicClassifier
    from topicclf.cli import run

    model = tmp_path / "m"
    settings = ["--set", "text.language=german", "--set", "train.epochs=1"]
    assert run(["-q", "train", str(data_dir / "tiny.jsonl"), "-o", str(model), *settings]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["config"]["text"]["stemmer"] = "porter"
    (model / "manifest.json").write_text(json.dumps(manifest))
    loaded = TopicClassifier.load(model)
    assert loaded.config.text.stemmer == "none"
    assert loaded.predict(["wheat and corn prices"]) is not None


def test_an_embedding_vocabulary_needs_room_for_one_token_beside_its_two_reserved_ids() -> None:
    """Ids 0 and 1 are padding and unknown tokens: sequence_vocabulary = 2 was taken, and a
    training then failed after its reading, blaming the texts ("are they empty?")."""
    key = "features.sequence_vocabulary"
    with pytest.raises(ConfigError, match=r"^x: features.sequence_vocabulary = 2 must be >= 3$"):
        with_values(Config(), {key: 2}, source="x")
    assert with_values(Config(), {key: 3}, source="x").features.sequence_vocabulary == 3


@pytest.mark.parametrize(
    ("value", "name"),
    [("fr", "french"), ("French", "french"), ("FRENCH", "french"), ("fr-CA", "french")]
    + [(" pt_BR ", "portuguese"), ("De", "german"), ("english", "english"), ("auto", "auto")],
)
def test_text_language_is_read_as_a_corpus_language_field_is(
    value: str, name: str, tmp_path: Path
) -> None:
    # Attacker pass 34, CLI/API 9: `--set text.language=fr` was refused while a corpus
    # record's language field took `fr`, `French` and `fr-CA`. Stored by its name, so that
    # a model's configuration reads the same however it was spelt.
    from topicclf.classifier import TopicClassifier
    from topicclf.config import TextConfig

    toml = tmp_path / "c.toml"
    toml.write_text(f'[text]\nlanguage = "{value}"\n', encoding="utf-8")
    configs = [
        load_config(overrides=[f"text.language={value}"]),
        load_config(toml),
        Config.from_dict({"text": {"language": value}}),
        Config(text=TextConfig(language=value)),
        TopicClassifier(config=Config(text=TextConfig(language=value))).resolved_config(),
    ]
    assert [c.text.language for c in configs] == [name] * len(configs)
    assert all(Config.from_dict(c.to_dict()) == configs[0] for c in configs)


@pytest.mark.parametrize("value", ["klingon", "automatic", "", "und", "x" * 200, 5])
def test_a_text_language_that_names_no_language_is_refused(value: object) -> None:
    from topicclf.config import TextConfig

    message = (
        r"text\.language = .* is not valid; give auto, or a language name or ISO 639-1 code "
        r"\(in any case; a region after - or _ is ignored\) of: arabic \(ar\), bulgarian \(bg\), "
    )
    with pytest.raises(ConfigError, match="^" + message):
        TextConfig(language=value)  # type: ignore[arg-type]
    if isinstance(value, str):
        with pytest.raises(ConfigError, match=r"^--set: " + message):
            load_config(overrides=[f"text.language={value}"])


def test_a_model_trained_with_a_language_code_records_its_name(
    data_dir: Path, tmp_path: Path
) -> None:
    from topicclf.cli import run

    model = tmp_path / "m"
    settings = ["--set", "text.language=FR-ca", "--set", "train.epochs=1"]
    assert run(["-q", "train", str(data_dir / "tiny.jsonl"), "-o", str(model), *settings]) == 0
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["config"]["text"]["language"] == "french"


@pytest.mark.parametrize("value", ["AUTO", "Auto", " auto", "auto ", "auto\n"])
def test_text_language_auto_is_read_by_the_case_and_space_rule_of_language_names(
    value: str, tmp_path: Path
) -> None:
    # Attacker pass 35, CLI/API 5: `ENGLISH` and `english\n` were taken but `AUTO` and
    # ` auto` refused ("is not valid; give auto, ..."); stored as `auto`.
    from topicclf.config import TextConfig

    toml = tmp_path / "c.toml"
    toml.write_text(f"[text]\nlanguage = {json.dumps(value)}\n", encoding="utf-8")
    configs = [
        load_config(overrides=[f"text.language={value}"]),
        load_config(toml),
        Config.from_dict({"text": {"language": value}}),
        Config(text=TextConfig(language=value)),
    ]
    assert [c.text.language for c in configs] == ["auto"] * len(configs)


@pytest.mark.parametrize("value", ["nb", "NN", "nb_NO", "nn-NO", "no", "Norwegian"])
def test_norwegian_bokmal_and_nynorsk_codes_are_norwegian(value: str) -> None:
    # Attacker pass 35, CLI/API 5: `nb` (what nb_NO locales give) was refused while `no`
    # was Norwegian.
    from topicclf.config import TextConfig, language_named

    assert language_named(value) == "norwegian"
    assert TextConfig(language=value).language == "norwegian"
    assert load_config(overrides=[f"text.language={value}"]).text.language == "norwegian"


def test_the_language_refusal_lists_every_code_a_language_is_read_by() -> None:
    from topicclf.config import TextConfig

    with pytest.raises(ConfigError, match=r"norwegian \(no, nb, nn\), persian \(fa\)"):
        TextConfig(language="klingon")


def test_normal_topic_drops_u_feff_wherever_it_stands() -> None:
    from topicclf.config import normal_topic

    # A .labels file led by "\ufeffBOMfood" read back as "BOMfood", another topic.
    assert normal_topic("\ufeffBOMfood") == "BOMfood"
    assert normal_topic("BOM\ufefffood") == "BOMfood"
    assert normal_topic(" \ufeffGemu\u0308se\ufeff ") == "Gem\u00fcse"  # then NFC, stripped
    assert normal_topic("\ufeff") == normal_topic("\ufeff\ufeff ") == ""  # no topic
    # Other invisible characters stay: a joiner can be part of a name in some scripts.
    assert normal_topic("\u200bweather") == "\u200bweather"
