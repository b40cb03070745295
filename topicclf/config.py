"""Configuration: every default value, frozen dataclasses, TOML files and `--set` overrides.

Model settings live in the dataclasses (and are recorded in each model); run-time defaults
(batch sizes, request limits, engines) are the constants below. Nothing else defines one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import tomllib
import typing
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from topicclf.errors import ConfigError, too_many_digits
from topicclf.patterns import backtracking_risk, empty_match_risk, syntax_problem
from topicclf.smallfile import SmallFileError, not_text, read_small_file, small_file_text

# The choices of each setting, used to validate and by the CLI to build its option types.
NETWORK_TYPES = ("auto", "dense", "embedding", "shortlist")
MODES = ("auto", "multilabel", "multiclass")
TOKENIZERS = ("regexp", "wordpunct", "treebank")
STEMMERS = ("none", "snowball", "porter", "auto")
THRESHOLD_STRATEGIES = ("per_topic", "global", "fixed")
FALLBACKS = ("auto", "always", "never")
BLEND_MODES = ("auto", "fixed", "off")
CHAR_NGRAM_MODES = ("auto", "on", "off")
STOP_WORD_LISTS = ("auto", "english", "none")
# The languages the analyzer has rules for (a stop-word list, a Snowball stemmer or both), by
# the name `text.language` takes, with the ISO 639-1 code the language detector answers.
LANGUAGES = {
    "arabic": "ar",
    "bulgarian": "bg",
    "catalan": "ca",
    "czech": "cs",
    "danish": "da",
    "dutch": "nl",
    "english": "en",
    "finnish": "fi",
    "french": "fr",
    "german": "de",
    "greek": "el",
    "hebrew": "he",
    "hindi": "hi",
    "hungarian": "hu",
    "indonesian": "id",
    "italian": "it",
    "norwegian": "no",
    "persian": "fa",
    "polish": "pl",
    "portuguese": "pt",
    "romanian": "ro",
    "russian": "ru",
    "slovak": "sk",
    "spanish": "es",
    "swedish": "sv",
    "turkish": "tr",
    "ukrainian": "uk",
    "vietnamese": "vi",
}
# The languages of LANGUAGES that NLTK has a Snowball stemmer for (listed here so that a
# setting is checked without importing NLTK); `porter` is NLTK's English stemmer.
SNOWBALL_LANGUAGES = frozenset(
    {
        "arabic",
        "danish",
        "dutch",
        "english",
        "finnish",
        "french",
        "german",
        "hungarian",
        "italian",
        "norwegian",
        "portuguese",
        "romanian",
        "russian",
        "spanish",
        "swedish",
    }
)
# `text.language = auto`: a language gets its own rules when this share of the training
# documents is detected (surely) as written in it, and this many documents or, in a small
# corpus, this larger share; the others are analysed without language rules (no stop words,
# no stemmer).
LANGUAGE_MIN_SHARE = 0.02
LANGUAGE_MIN_DOCUMENTS = 20
LANGUAGE_SMALL_CORPUS_SHARE = 0.2
# The detector reads a document's first characters only (its cost grows with the text; on
# TIBKAT dev records, 600 characters agreed with the records' own language tags as often as
# 2000 did, 99.6%, at half the cost) and names a language only when it is at least this sure
# (a probability over its languages).
LANGUAGE_DETECT_CHARS = 600
LANGUAGE_MIN_CONFIDENCE = 0.5
# `text.stemmer = auto`: each language's Snowball stemmer is tried on a sample of at most this
# many training documents (training.analysis), and kept for a language with at least this
# many validation documents in the sample that rank their topics better with it, by their
# nearest neighbours (this many) and topic centroids, by this many standard errors.
STEM_CHOICE_DOCUMENTS = 20_000
STEM_CHOICE_MIN_VALIDATION = 30
STEM_CHOICE_NEIGHBOURS = 30
STEM_CHOICE_STANDARD_ERRORS = 2.0

# Run-time defaults (not part of a model).
# From this many topics on, reports lead with the figures subject indexers compare tools by
# (metrics.LIBRARY: P@1, P@3, P@5, F1@5, nDCG@10), before the set-based figures.
LIBRARY_FIGURES_FROM_TOPICS = 300
# Progress in a log (not a terminal): a line at least this often while a step runs.
HEARTBEAT_SECONDS = 30.0
# Bytes of one corpus record (a line, a CSV row, a `text` file): beyond it the record is a bad
# record and reading skips to the next line without holding it, so an endless line (/dev/zero,
# a gzip bomb) cannot fill memory. Documents of 50 MB are read.
MAX_RECORD_BYTES = 64 * 1024 * 1024
# A document's "language" field: a name or code ("en", "Portuguese") is far shorter.
MAX_LANGUAGE_CHARS = 100
# Bytes of all the reut2-*.sgm files of one Reuters source, which the reader holds (its splits
# need every document): Reuters-21578's 22 files are 27 MB, each under 1.4 MB. One file may
# take MAX_RECORD_BYTES.
MAX_REUTERS_BYTES = 256 * 1024 * 1024
BINARY_SNIFF_BYTES = 8192  # first bytes of every text source looked at for binary content
TAG_BATCH_SIZE = 512  # documents read, scored and written at a time by `tag`
# Tokens of one document an embedding network reads (features.sequence_length; a model
# file's too): each costs embedding_dim floats of every batch's activations.
MAX_SEQUENCE_LENGTH = 100_000
PREDICT_BATCH = 1024  # texts vectorized at once inside the scorer
# (text, topic) scores `tag` holds at once (float32, with their decisions): texts are scored
# and reduced to their chosen topics a block at a time, so a request's memory grows with its
# texts and topics chosen, not texts x topics.
TAG_BLOCK_CELLS = 1 << 22
# Characters vectorized at once inside the scorer (a batch holds one text at least): a batch
# is where a server's stopped request ends its work (topicclf.cancel), and 100 texts of 95 KB
# took seconds to vectorize, so a stop waited 10 s past --timeout-shutdown 1.
PREDICT_CHARS = 1_000_000
# Bytes a Keras network's activations may take for one batch while scoring: an embedding
# network's rows cost sequence length x embedding dimensions floats each, and at
# features.sequence_length = 100,000 the fixed batches (256 rows for predict, PREDICT_BATCH
# texts vectorized) asked for 26 GB and ended in an internal error.
SCORE_BATCH_BYTES = 256 * 1024 * 1024
# `evaluate` scores a corpus in one piece up to this many (document, topic) cells, and beyond
# it a batch of about this many cells at a time (a library vocabulary times 13,000 documents
# would be gigabytes of dense matrices).
EVALUATE_BATCH_CELLS = 20_000_000
# A multi-class report's confusion matrix covers at most this many topics (known and unknown):
# it is topics x topics, and 20,000 topics unknown to the model asked for 3.2 GB. Larger
# reports keep the accuracy and their most frequent confusions (pairs) only.
CONFUSION_MATRIX_TOPICS = 200
# A document whose (missed true topic, wrongly given topic) pairs outnumber this is left out of
# the confusions (counted in the report): a confusion says "this topic was taken for that one",
# which means little in a document with hundreds of each, and such documents made the count
# grow with the product of their topics (90 documents of 1,000 missed and 1,800 wrongly given
# topics asked for 163 million pairs and ended in MemoryError). 20 missed x 20 wrong still count.
CONFUSION_PAIRS_PER_DOCUMENT = 400
BAD_RECORD_POLICIES = ("report", "skip", "stop")
SERVE_HOST = "127.0.0.1"
SERVE_PORT = 8000
SERVE_MAX_BODY = 10 * 1024 * 1024  # bytes of one request body
# Bytes of request bodies one server process holds at once, over all its connections (or
# --max-body, if larger): without it, 750 connections each stalling in a 10 MB body held 7 GB.
SERVE_MAX_BODY_TOTAL = 256 * 1024 * 1024
# Bodies this small are never refused for the total: uvicorn buffers as much per connection
# anyway, and small requests (/tag with a few texts) stay answered while big ones wait.
SERVE_BODY_ALWAYS = 64 * 1024
# The memory a request is counted to need per byte of its body while it is answered (server/
# memory.py admits a body only when the process has that much left before its limit): a
# 10 MB text peaked at +74 MB, 1.2 MB of 10,000 short texts at +20 MB, 0.6 MB explained
# 50 terms deep at +15 MB (resident, one request on a small model).
SERVE_MEMORY_PER_BODY_BYTE = 32
# Memory kept free past every admitted body's need, for the rest of what the server does (small
# requests, which always pass, threads' stacks, answers).
SERVE_MEMORY_RESERVE = 32 * 1024 * 1024
# Bytes of answers one server process holds unsent at once, over all its connections (what
# the kernel has not taken yet; or --max-answer, if larger): a slow reader keeps its answer in
# the server's memory, and 40 clients reading 48 MB answers at 400 KB/s held 2.1 GB.
SERVE_MAX_UNSENT_TOTAL = 512 * 1024 * 1024
# Answers this small are never refused for the total: /health and short /tag answers stay
# answered while large ones wait for slow readers.
SERVE_ANSWER_ALWAYS = 64 * 1024
SERVE_MAX_HEADERS = 64 * 1024  # bytes of one request's head: request line and all headers
# Characters of a request target `serve -v`'s access log shows: more are cut, with the count
# (a line per request must not cost a byte of log per byte a client sends).
ACCESS_LOG_TARGET_CHARS = 2000
# Request heads in progress (begun, not yet whole) one server process holds at once, over
# all its connections, as a multiple of --max-headers (16 MiB by default): each connection's
# head is bounded, their number was not, and 12,000 connections each holding 63 KB of a head
# grew a server from 88 to 908 MB. A head that arrives in one read is never counted.
SERVE_HEADS_IN_PROGRESS = 256
# Requests read whole that wait, on one connection, behind the one being answered (HTTP/1.1
# pipelining): past this many the server stops reading that connection until answers make room.
# Bytes read are parsed a piece at a time (a body of known length at once), so at most one
# piece's requests more are queued (a queued request costs about 2.6 KB; 600,000 tiny ones in
# 19.8 MB grew a server to 1.6 GB).
SERVE_PIPELINE_DEPTH = 16
SERVE_PIPELINE_PIECE = 4 * 1024
# Bytes of one connection parsed in one turn of the event loop: the rest on a later turn, so
# that a read of costly framing (1-byte chunks) does not hold the other connections.
SERVE_FEED_PER_TURN = 16 * 1024
SERVE_MAX_DOCUMENTS = 10_000  # documents in one request
# (document, topic) pairs one answer may hold (10,000 documents x 10 topics, about 2.4 MB):
# 3,000 two-letter texts with "threshold": 0 to a 2,000-topic model asked for a 142 MB answer
# (1.35 GB of server memory) from an 18 KB body. Built in a thread, an answer still slows the
# others (the GIL): 200,000 pairs held /health up to 0.5 s, 100,000 under 0.05 s. With
# `explain`, each term a pair's explanation may list counts as one more: 100 terms each way
# for 100,000 pairs made a 345 MB answer (4.5 GB of server memory, /health held 7-9 s).
SERVE_MAX_PAIRS = 100_000
SERVE_WORKERS = 1  # server processes, each with its own copy of the models
SERVE_BACKLOG = 2048  # connections the kernel queues before they are accepted: holds bursts
SERVE_TIMEOUT_IDLE = 5.0  # seconds a kept-alive connection may wait for its next request
SERVE_TIMEOUT_HEADERS = 10.0  # seconds from connecting (or a request's first byte) to its headers
SERVE_TIMEOUT_BODY = 30.0  # seconds from a request's headers to the end of its body
SERVE_TIMEOUT_SHUTDOWN = 30.0  # on SIGTERM, seconds that requests in flight get to finish
# The ranges `serve` accepts: a backlog the kernel takes (it caps it at somaxconn anyway),
# finite timeouts, and limits that still bound what one request may cost.
SERVE_BACKLOG_RANGE = (1, 65535)
SERVE_TIMEOUT_RANGE = (0.01, 3600.0)  # seconds, for every timeout
# A number as an option or gate takes it: ASCII digits and at most one point (float() also
# reads 1_0, 1e-1, nan and digits of other scripts), see cli/numbers.py.
_DECIMAL = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_EXPONENT = r"(?:[eE][+-]?[0-9]+)?"
PLAIN_DECIMAL = re.compile(_DECIMAL)
# A score in a request's query or form (Annif's threshold): a plain decimal with an exponent
# (clients write small floats so: Python's str(0.00001) is '1e-05'); a minus sign passes, for
# the range check to name it.
PLAIN_SCORE = re.compile(rf"-?{_DECIMAL}{_EXPONENT}")
# A number as `--set` takes it: ASCII digits with a sign; a number of a decimal setting may
# also have a point and an exponent (learning_rate=1e-3), or be nan or inf, which its range
# check names. int() and float() also read 1_0 (train.epochs=1_0 trained ten epochs) and the
# digits of other scripts.
SET_INTEGER = re.compile(r"[+-]?[0-9]+")
SET_NUMBER = re.compile(rf"[+-]?(?:{_DECIMAL}{_EXPONENT}|inf|infinity|nan)", re.IGNORECASE)
SERVE_MAX_BODY_RANGE = (1, 1024 * 1024 * 1024)
SERVE_MAX_BODY_TOTAL_RANGE = (1, 1024**4)
SERVE_MAX_UNSENT_TOTAL_RANGE = (1, 1024**4)
SERVE_MAX_HEADERS_RANGE = (1024, 1024 * 1024)
SERVE_MAX_DOCUMENTS_RANGE = (1, 1_000_000)
SERVE_MAX_PAIRS_RANGE = (1, 100_000_000)
SERVE_WORKERS_RANGE = (1, 1024)
# A batch is tagged on the event loop (numpy models) only when it is this small in every
# way: the time grows with texts (10,000 texts of two letters held the loop a second) and
# with texts x topics, not only with characters. Larger ones go to a thread.
SERVE_INLINE_CHARS = 20_000
SERVE_INLINE_TEXTS = 64
SERVE_INLINE_CELLS = 32_768  # texts x topics
# An answer of more items ((document, topic) pairs, and explained terms: see SERVE_MAX_PAIRS),
# or documents, is built and encoded in a thread (about 2 microseconds an item): a 142 MB
# answer encoded on the loop held it 10 s, a 6.9 MB explained one 0.34 s.
SERVE_INLINE_PAIRS = 2_048
# ... or more bytes as encoded (see SERVE_MAX_ANSWER): a name may have MAX_TOPIC_CHARS, and
# a character may take 6 bytes escaped (\u009b) or 9 percent-encoded in a URI: 262 pairs of
# such names, counted in characters, built a 3.1 MB answer on the loop (0.25 s).
SERVE_INLINE_ANSWER_BYTES = 256 * 1024
# Bytes one answer (POST /tag, /v1 suggest) may take as encoded, counted before it is built
# from each topic's encoded size (names, URIs, labels, notations), the echoed ids and a few
# bytes a pair: --max-pairs counts pairs, and a pair's name grows 6-fold escaped, so a
# 977-byte request asked for a 600 MB answer and ran the server out of memory (500).
SERVE_MAX_ANSWER = 64 * 1024 * 1024
# From 16 KiB: every answer is counted with 4 KiB of JSON around its parts (ANSWER_BYTES), so
# at 1 KiB even an answer of no topic was refused 413.
SERVE_MAX_ANSWER_RANGE = (16 * 1024, 16 * 1024**3)
SERVE_BATCH_TEXTS = 512  # texts of waiting requests tagged in one call
SERVE_BATCH_YIELDS = 8  # event-loop turns a batch waits for requests already arriving
# Requests one model with a custom (time-limited) token pattern tags at once, in threads of
# its own; more get 503 at once: its slow texts never hold other models' threads.
SERVE_PATTERN_THREADS = 4
# Explain requests one numpy model answers at once, in threads of its own (each text is scored
# once per term); more get 503 at once, so explaining never holds the shared thread pool.
SERVE_EXPLAIN_THREADS = 2
# Threads of each numpy model's own for its requests too large for a batch on the event loop,
# and the work a model (not one with a custom token pattern) holds running or waiting for its
# threads, in characters of text, each text counted as TEXT_COST at least (a request alone is
# always taken); more get 503 at once, so a model's requests wait seconds behind others at
# most, and never behind another model's. 64 clients sending 100 short documents each fit.
SERVE_MODEL_THREADS = 2
SERVE_MODEL_WORK = 8_000_000
TEXT_COST = 100
SERVE_RETRY_SECONDS = 1  # the Retry-After of a 503 "busy, retry shortly"
# Seconds a client may take none of an answer waiting for it and keep its connection (or
# --timeout-idle, if longer): its kernel takes more only once its receive buffer has room
# again, so a steady slow reader shows progress seconds apart (4 KB/s with default buffers
# on loopback: 31 s; 512 B/s with a 4 KB buffer: 12 s) and was reset after the idle timeout
# as if it read nothing. 120 s is TCP's longest wait between probes. Its memory is in
# --max-unsent-total meanwhile.
SERVE_READER_PAUSE = 120.0
# What `info` shows of one open-ended part of a model (a manifest's lists, the files
# `info --verify` finds beside the recorded ones): a model topicclf wrote stays far below; a
# forged one is cut, saying how much, so `info` answers in about a second whatever it holds.
INFO_SHOWN_ITEMS = 10_000
INFO_SHOWN_CHARS = 200_000
# Characters of each topic name `info` shows (table and --json): a name may have MAX_TOPIC_CHARS.
INFO_TOPIC_CHARS = 100
EXPLAIN_MAX_TERMS = 10_000  # most terms per topic and direction `explain` gives (the API's `top`)
# Distinct terms (columns: word and character n-grams) of one text `explain` takes out one at
# a time: each costs a scoring of the whole text, and a shortlist model scores a long text
# slowly (a 100 KB text of 29,652 terms took 118 s on 1,500 topics). A text with more has its
# terms of largest TF-IDF weight weighed, and a warning says so.
EXPLAIN_MAX_OCCLUDED = 5_000
# (Text copies x topics) scored at a time while explaining: only the explained topics' columns
# are kept of each batch, so memory does not grow with terms x topics (a 541 KB text on a
# 7,730-topic model took 4.8 GB, or ended in MemoryError).
EXPLAIN_BATCH_CELLS = 1_000_000
SERVE_EXPLAIN_TERMS = 100  # most terms per topic and direction that POST /tag's `explain` gives
SERVE_EXPLAIN_DOCUMENTS = 100  # documents in one request with `explain` (each scored per term)
SERVE_ANNIF_LIMIT = 10  # Annif's default `limit` (topics per document)
SERVE_ANNIF_BATCH = 32  # documents in one Annif suggest-batch request, as Annif allows
SERVE_ANNIF_FIELDS = 1000  # fields of one Annif suggest form (text, limit, metadata_*, ...)
TOPIC_URI_BASE = "urn:topicclf:topic:"  # + the percent-encoded topic name, without a vocabulary
DASK_PARTITIONS_PER_WORKER = 4
# The least input a Dask partition gets: each costs ~10 ms of scheduling and a part file, and
# 256 KiB takes ~130 ms to tag, so partitions stay bounded by the work whatever is asked for
# (--partitions 1000000 made one per line: 60,000 lines took minutes instead of 5 s).
DASK_PARTITION_MIN_BYTES = 256 * 1024

# Caps on what reading a model directory may cost: a directory someone sent you is untrusted,
# so no file is read without a limit. Each is well above what a real model needs.
# features.json holds the vocabulary: 20k terms take ~0.4 MB, a million-term one ~25 MB.
MODEL_JSON_MAX_BYTES = 64 * 1024**2
# One array file (weights, features, linear model), and the arrays decoded from it: 200k
# features x 1024 hidden units or 1000 topics is 0.8 GB of float32; Reuters takes ~30 MB.
MODEL_ARRAYS_MAX_BYTES = 4 * 1024**3
# model.keras is only hashed or copied a chunk at a time, never held whole; with an Adam
# optimizer's state it is about three times the weights.
MODEL_NETWORK_MAX_BYTES = 16 * 1024**3
# A safetensors header lists a few dozen arrays in ~100 bytes each.
SAFETENSORS_HEADER_MAX_BYTES = 1024**2
# A format-1 numpy archive holds two arrays per layer and the linear model's five.
NPZ_MAX_MEMBERS = 256


# Caps on sizes a setting may ask for, far above any useful model, so that a typo or a hostile
# model file fails at once instead of after a long allocation.
MAX_UNITS = 65_536
MAX_BATCH = 1 << 20
MAX_PARTITIONS = 1_000_000  # tag --engine dask --partitions
MAX_WORKERS = 4096  # worker processes asked for (each engine also caps them at the cores)
MAX_LAYERS = 16  # network.hidden_units: deeper than any model here (Keras recursion at ~800)
MAX_TOP_K = 2**31  # thresholds.top_k, and a model's thresholds.json (bundle)
MAX_LEARNING_RATE = 10.0  # Adam diverges to NaN long before; a model of NaN cannot load
MAX_PATTERN_CHARS = 1000  # text.token_pattern
# Topics one document may carry, in every reader and in the Python API's `y`: subject
# indexing gives a few to a few dozen; a record with 100,000 (a forgery, or text read as
# labels) would add that many topics to a model, or cost minutes to score.
MAX_TOPICS_PER_DOCUMENT = 1000

# An indicator `y` may have columns the model never learned (topics with no or too few
# documents), but not without bound: `predict` allocates documents x columns (the check of
# fit, save and load is bundle.target_problem; inputs bounds `y` by it before reading it).
EXTRA_TARGET_COLUMNS = 10_000


def too_many_columns(columns: int, topics: int) -> str:
    """What is wrong with an indicator of `columns` columns for `topics` topics ("" if
    nothing): the one wording of fit's, save's, load's and `y`'s bound."""
    if columns <= topics + EXTRA_TARGET_COLUMNS:
        return ""
    return (
        f"{columns:,} columns for {topics:,} topics; a model keeps at most "
        f"{EXTRA_TARGET_COLUMNS:,} columns that are none of its topics"
    )


# Topic names one record may list before empty and repeated ones are dropped: each costs
# memory (a list slot, a string) before it is, and a 2 KB Parquet file listed 5,000,000 empty
# names per row (3.3 GB). Ten times MAX_TOPICS_PER_DOCUMENT leaves room for sloppy lists
# ("a||b|", a .labels file of blank lines).
MAX_TOPIC_NAMES_LISTED = 10 * MAX_TOPICS_PER_DOCUMENT


def too_many_topic_names(count: int) -> str:
    """The one wording for a record listing over MAX_TOPIC_NAMES_LISTED topic names."""
    return (
        f"{count:,} topic names in one document (empty and repeated ones count), more than "
        f"the {MAX_TOPIC_NAMES_LISTED:,} topicclf reads per document"
    )


def too_many_topics(count: int | None = None) -> str:
    """The one wording for a document over MAX_TOPICS_PER_DOCUMENT (`count` when known)."""
    held = f"{count:,} topics" if count is not None else "more topics"
    most = f"{MAX_TOPICS_PER_DOCUMENT:,}"
    return f"{held} in one document, more than the {most} topicclf reads per document"


# Characters of one topic name, in every reader, the Python API's `y` and a model's topics
# (labels.json, on save and load): subject vocabularies' labels and URIs are far shorter
# (a GND or LCSH heading is at most a few hundred characters, a YSO or GND URI about 40), and
# an answer repeats the name in every pair: 1,000 pairs of 1 MB names made a 2 GB `serve` answer.
MAX_TOPIC_CHARS = 1000


def normal_topic(label: str) -> str:
    """A topic name as given, read by the one rule of every reader and of the Python API's
    y: in Unicode NFC (as texts are analysed: "Gemüse" spelt decomposed was a second topic
    printed alike), without U+FEFF and stripped; "" is no topic."""
    if "\ufeff" in label:
        # Never part of a name (a stray byte order mark from a file's start, or pasted): a
        # .labels file led by one read back as another topic, its BOM taken as the file's.
        label = label.replace("\ufeff", "")
    if not unicodedata.is_normalized("NFC", label):
        label = unicodedata.normalize("NFC", label)
    return label.strip()


def topic_too_long(name: str) -> str:
    """The one check and wording of a topic name over MAX_TOPIC_CHARS ("" when within)."""
    if len(name) <= MAX_TOPIC_CHARS:
        return ""
    return (
        f"a topic name of {len(name):,} characters ({name[:30]!r}...), more than the "
        f"{MAX_TOPIC_CHARS:,} topicclf reads"
    )


CONFIG_MAX_BYTES = 1024 * 1024  # a configuration file (-c)
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's: words of two or more characters
# The flags every token pattern is compiled with (those of NLTK's RegexpTokenizer).
PATTERN_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL
# Seconds one piece of text (at most TEXT_PIECE_CHARS) may take to tokenize: ~100 times what
# a sound pattern takes; a pattern that backtracks past it is refused as a setting error.
TOKEN_PATTERN_SECONDS = 10.0
# The most characters of a bad record's message an output record carries (stderr's warning
# line is cut about as short): a header of 50,000 names made one 50 MB line.
BAD_RECORD_CHARS = 2_000


def shown(value: Any) -> str:
    """A value as an error message echoes it: its repr, cut short (a setting may be a
    10 MB string)."""
    try:
        return cut(repr(value))
    except ValueError:  # repr() refuses an integer past sys.get_int_max_str_digits()
        held = "" if isinstance(value, int) else f"a {type(value).__name__} holding "
        return f"<{held}{too_many_digits()}>"


def cut(text: str) -> str:
    """Text an error message quotes, cut short: a setting, or a key or name a client sent,
    may be 10 MB (a server's error echoed a 5 MB key whole, 30 MB escaped)."""
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text):,} characters)"


_LANGUAGE_OF_CODE = {code: name for name, code in LANGUAGES.items()}
# Codes of written standards of a language in LANGUAGES: nb_NO and nn_NO locales give them,
# and Norwegian's stemmer and stop words serve both.
_LANGUAGE_OF_CODE.update({"nb": "norwegian", "nn": "norwegian"})


# Longer than any language name or tag with its region and script ('zh-Hant-TW'), with room.
LANGUAGE_VALUE_CHARS = 100


def language_named(value: str) -> str | None:
    """The language a corpus's language field (or a request's `language`) names: its name
    in LANGUAGES ('english') for a name or an ISO 639-1 code in any case ('EN', 'English'),
    also with a region or script after '-' or '_' ('en-US', 'pt_BR'); None when it is
    neither. The one rule wherever such a value is read."""
    if len(value) > LANGUAGE_VALUE_CHARS:  # none is; a 9 MB one took 0.2 s to fold and split
        return None
    key = value.strip().casefold()
    for candidate in (key, re.split(r"[-_]", key, maxsplit=1)[0]):
        if candidate in LANGUAGES:
            return candidate
        if candidate in _LANGUAGE_OF_CODE:
            return _LANGUAGE_OF_CODE[candidate]
    return None


def setting_language(value: Any) -> str:
    """`text.language` as stored: `auto`, or the name in LANGUAGES of a language given as
    a corpus's language field gives it (`language_named`: 'fr', 'French', 'fr-CA'); else a
    ConfigError."""
    # Read by language_named's case and white-space rule, so `AUTO` is `auto` as `EN` is en.
    if (
        isinstance(value, str)
        and len(value) <= LANGUAGE_VALUE_CHARS
        and value.strip().casefold() == "auto"
    ):
        return "auto"
    name = language_named(value) if isinstance(value, str) else None
    if name is None:
        raise ConfigError(
            f"text.language = {shown(value)} is not valid; give auto, or a language name or "
            "ISO 639-1 code (in any case; a region after - or _ is ignored) of: "
            + ", ".join(
                f"{name} ({', '.join(c for c, n in _LANGUAGE_OF_CODE.items() if n == name)})"
                for name in LANGUAGES
            )
        )
    return name


def _choice(section: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{section}.{key} = {shown(value)} is not valid; choose one of: {', '.join(allowed)}"
        )


def _finite(section: str, key: str, value: float) -> None:
    # NaN passes every comparison's "not below" test, and infinity every lower bound: a
    # model trained with either cannot be loaded again.
    if not isinstance(value, int) and not math.isfinite(value):  # ints of any size are finite
        raise ConfigError(f"{section}.{key} = {shown(value)} must be a finite number")


# The largest count a setting takes: numpy, scikit-learn and Keras hold sizes in 64 bits, and
# a model's manifest must write it back (json refuses integers of over 4,300 digits).
MAX_SETTING_INT = 2**63 - 1


def _at_least(section: str, key: str, value: float, low: float) -> None:
    _finite(section, key, value)
    if value < low:
        raise ConfigError(f"{section}.{key} = {shown(value)} must be >= {low}")
    if value > MAX_SETTING_INT:
        raise ConfigError(
            f"{section}.{key} = {shown(value)} must be at most {MAX_SETTING_INT:,} (2**63 - 1)"
        )


def _between(section: str, key: str, value: float, low: float, high: float) -> None:
    _finite(section, key, value)
    if not low <= value <= high:
        raise ConfigError(f"{section}.{key} = {shown(value)} must be between {low} and {high}")


def _fraction(section: str, key: str, value: float, *, open_low: bool = True) -> None:
    _finite(section, key, value)
    ok = (0.0 < value < 1.0) if open_low else (0.0 <= value < 1.0)
    if not ok:
        # Said as the bounds are: "between 0 and 1" refused 0, which is between them.
        low = "greater than 0" if open_low else "at least 0"
        raise ConfigError(f"{section}.{key} = {shown(value)} must be {low} and less than 1")


def stemmer_problem(stemmer: str, language: str) -> str:
    """Why `text.stemmer` cannot apply to `text.language` ("" when it can): a language fixed
    for every text that the stemmer asked for has no rules for would train a model that
    never stems. With `language = auto` each detected language gets the stemmer where it has
    one (languages.stemmer_of), so nothing is refused."""
    if language == "auto":
        return ""
    if stemmer == "snowball" and language not in SNOWBALL_LANGUAGES:
        return (
            f"text.stemmer = 'snowball' with text.language = {language!r}: NLTK has no "
            f"Snowball stemmer for {language}; set text.stemmer = none, or a language of: "
            + ", ".join(sorted(SNOWBALL_LANGUAGES))
        )
    if stemmer == "porter" and language != "english":
        other = "snowball" if language in SNOWBALL_LANGUAGES else "none"
        return (
            f"text.stemmer = 'porter' stems English only, and text.language = {language!r} "
            f"analyses every text as {language}; set text.stemmer = {other}"
            + (f" ({language}'s own stemmer)" if other == "snowball" else "")
        )
    return ""


@dataclass(frozen=True)
class TextConfig:
    """How text becomes tokens (NLTK tokenizers and stemmers, no downloaded data)."""

    tokenizer: str = "regexp"
    token_pattern: str = DEFAULT_TOKEN_PATTERN
    lowercase: bool = True
    # auto: the list of each document's language; english: scikit-learn's English list for
    # every document (the rule before languages were detected); none.
    stop_words: str = "auto"
    # auto: each language's Snowball stemmer where validation shows it helps
    # (training.analysis); none; snowball (every language that has one); porter (English).
    stemmer: str = "auto"
    # auto: detected per document at training time (see LANGUAGE_MIN_DOCUMENTS), or one of
    # LANGUAGES for every document (given as its name or code: setting_language).
    language: str = "auto"

    def __post_init__(self) -> None:
        _choice("text", "tokenizer", self.tokenizer, TOKENIZERS)
        _choice("text", "stop_words", self.stop_words, STOP_WORD_LISTS)
        _choice("text", "stemmer", self.stemmer, STEMMERS)
        # Stored by its name, so that a model's configuration reads one way however the
        # setting was spelt (fr, French, fr-CA), as a corpus's language field is read.
        object.__setattr__(self, "language", setting_language(self.language))
        problem = stemmer_problem(self.stemmer, self.language)
        if problem:
            raise ConfigError(problem)
        if not isinstance(self.token_pattern, str):
            raise ConfigError(f"text.token_pattern = {shown(self.token_pattern)} is not a string")
        if len(self.token_pattern) > MAX_PATTERN_CHARS:
            raise ConfigError(
                f"text.token_pattern = {shown(self.token_pattern)} is longer than "
                f"{MAX_PATTERN_CHARS} characters"
            )
        # The risks first: compiling a huge count ((?:a{1000}){1000}) asks for gigabytes.
        risk = (
            backtracking_risk(self.token_pattern, PATTERN_FLAGS)
            or empty_match_risk(self.token_pattern, PATTERN_FLAGS)
            or syntax_problem(self.token_pattern, PATTERN_FLAGS)
        )
        if risk:
            raise ConfigError(f"text.token_pattern = {shown(self.token_pattern)} {risk}")


@dataclass(frozen=True)
class FeatureConfig:
    """TF-IDF (dense network) and token-sequence (embedding network) features."""

    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 20000
    sublinear_tf: bool = True
    sequence_length: int = 0
    sequence_vocabulary: int = 30000
    sequence_ngrams: int = 1
    char_ngrams: str = "auto"

    def __post_init__(self) -> None:
        _between("features", "ngram_max", self.ngram_max, 1, 10)
        _at_least("features", "min_df", self.min_df, 1)
        _at_least("features", "max_features", self.max_features, 0)
        _between("features", "sequence_length", self.sequence_length, 0, MAX_SEQUENCE_LENGTH)
        _between("features", "sequence_ngrams", self.sequence_ngrams, 1, 10)
        # Ids 0 and 1 are padding and unknown tokens: 2 left no room for any (a training
        # failed after its reading with "no tokens could be learned").
        _at_least("features", "sequence_vocabulary", self.sequence_vocabulary, 3)
        _choice("features", "char_ngrams", self.char_ngrams, CHAR_NGRAM_MODES)

    def document_floor(self, n_docs: int) -> int:
        """The document-frequency floor for a corpus of n_docs texts: `min_df`, relaxed on
        small corpora. A floor of 2 removes typos and ids on large corpora, but on a tiny
        corpus it would throw away most of the vocabulary."""
        return min(self.min_df, max(1, n_docs // 50))

    def lowered_floor(self, floor: int, n_docs: int) -> str | None:
        """Why `floor` (document_floor of n_docs texts) is below a `min_df` set by hand; None
        when it is not lowered, or `min_df` is the default, whose relaxing is documented.
        Callers add what they keep of it: `train` a manifest, `optimize` a configuration."""
        if floor >= self.min_df or self.min_df == FeatureConfig.min_df:
            return None
        return (
            f"features.min_df = {self.min_df} is applied as {floor}: the floor is at most one "
            f"in 50 of the {n_docs} documents the features are learned from (at least 1), so "
            "that a small corpus keeps features"
        )


@dataclass(frozen=True)
class NetworkConfig:
    """The Keras network: its type and sizes."""

    # auto: shortlist for a large vocabulary (SHORTLIST_FROM_TOPICS), else dense.
    type: str = "auto"
    hidden_units: tuple[int, ...] = (256,)
    dropout: float = 0.5
    embedding_dim: int = 128
    conv_filters: int = 0
    kernel_size: int = 3
    wide: bool = False
    # The shortlist network (large vocabularies): nearest training documents consulted,
    # candidate topics rescored per document, terms kept per topic centroid.
    neighbours: int = 30
    candidates: int = 50
    centroid_terms: int = 300

    def __post_init__(self) -> None:
        _choice("network", "type", self.type, NETWORK_TYPES)
        if len(self.hidden_units) > MAX_LAYERS:
            raise ConfigError(
                f"network.hidden_units has {len(self.hidden_units)} layers; at most {MAX_LAYERS}"
            )
        for units in self.hidden_units:
            _between("network", "hidden_units", units, 1, MAX_UNITS)
        _fraction("network", "dropout", self.dropout, open_low=False)
        _between("network", "embedding_dim", self.embedding_dim, 1, MAX_UNITS)
        _between("network", "conv_filters", self.conv_filters, 0, MAX_UNITS)
        _between("network", "kernel_size", self.kernel_size, 1, 64)
        _between("network", "neighbours", self.neighbours, 1, 1000)
        _between("network", "candidates", self.candidates, 1, 1000)
        _between("network", "centroid_terms", self.centroid_terms, 1, 100_000)


@dataclass(frozen=True)
class TrainConfig:
    """Training: mode, optimisation, validation split and seed."""

    mode: str = "auto"
    epochs: int = 50
    batch_size: int = 0
    learning_rate: float = 0.0
    patience: int = 3
    stop_on: str = "f1"
    refit: bool = True
    validation_split: float = 0.1
    min_count: int = 1
    positive_weight: str = "sqrt"  # why the default: networks.loss_function
    seed: int = 42

    def __post_init__(self) -> None:
        _choice("train", "mode", self.mode, MODES)
        _between("train", "epochs", self.epochs, 1, 100_000)
        _between("train", "batch_size", self.batch_size, 0, MAX_BATCH)
        _finite("train", "learning_rate", self.learning_rate)
        if not 0 <= self.learning_rate <= MAX_LEARNING_RATE:
            raise ConfigError(
                f"train.learning_rate = {shown(self.learning_rate)} must be between 0 and "
                f"{MAX_LEARNING_RATE:g} (0: automatic)"
            )
        _between("train", "patience", self.patience, 0, 100_000)
        _choice("train", "stop_on", self.stop_on, ("loss", "f1"))
        _fraction("train", "validation_split", self.validation_split)
        _between("train", "min_count", self.min_count, 1, 10**9)
        _choice("train", "positive_weight", self.positive_weight, ("none", "sqrt"))
        _between("train", "seed", self.seed, 0, 2**32 - 1)  # numpy and TensorFlow take 32 bits


# Adam step sizes at batches of AUTO_BATCH_MIN, used when train.learning_rate is 0
# (automatic): an embedding table is updated only for the tokens of each batch, so it needs
# larger steps than a dense layer. Larger batches take larger steps (times sqrt(batch / 64)).
AUTO_LEARNING_RATE = {"dense": 0.002, "embedding": 0.01, "shortlist": 0.003}
# When train.batch_size is 0 (automatic), a dense network's batches of 64 documents are
# doubled, up to 256, while an epoch keeps at least AUTO_BATCH_STEPS steps: a step's cost is
# mostly fixed (Adam updates the whole first layer), so larger corpora train faster in larger
# batches. Embedding networks keep 64.
AUTO_BATCH_MIN, AUTO_BATCH_MAX, AUTO_BATCH_STEPS = 64, 256, 50


@dataclass(frozen=True)
class ThresholdConfig:
    """How scores become topic sets."""

    strategy: str = "per_topic"
    value: float = 0.5
    shrinkage: float = 5.0
    fallback: str = "auto"
    top_k: int = 0

    def __post_init__(self) -> None:
        _choice("thresholds", "strategy", self.strategy, THRESHOLD_STRATEGIES)
        _choice("thresholds", "fallback", self.fallback, FALLBACKS)
        _fraction("thresholds", "value", self.value)
        _between("thresholds", "shrinkage", self.shrinkage, 0, 1e6)
        _between("thresholds", "top_k", self.top_k, 0, MAX_TOP_K)


@dataclass(frozen=True)
class BlendConfig:
    """A linear SVM on TF-IDF features whose calibrated scores are mixed into the network's."""

    linear: str = "auto"
    weight: float = 0.5
    svm_c: float = 1.0
    # A dense network learns on top of the linear model (see `stacked`).
    stack: bool = True

    def __post_init__(self) -> None:
        _choice("blend", "linear", self.linear, BLEND_MODES)
        _finite("blend", "weight", self.weight)
        _finite("blend", "svm_c", self.svm_c)
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"blend.weight = {self.weight!r} must be between 0 and 1")
        # liblinear's solver never returns far outside this range (C = 1e-170 or 1e300 ran
        # for hours on 40 documents); useful values lie within 1e-3 to 1e3.
        if not SVM_C_RANGE[0] <= self.svm_c <= SVM_C_RANGE[1]:
            raise ConfigError(
                f"blend.svm_c = {self.svm_c!r} must be between {SVM_C_RANGE[0]:g} and "
                f"{SVM_C_RANGE[1]:g}"
            )


SVM_C_RANGE = (1e-6, 1e6)


# TF-IDF features add character n-grams of these lengths (inside words) when
# features.char_ngrams is on, or "auto", the training texts average under SHORT_TEXT_CHARS
# characters and the linear model does better with them on validation. A short text has few
# words, and pieces of words are evidence shared between the spellings and forms its few words
# take; a long text has words to spare, and its character n-grams multiply the features per
# document, so training and tagging time (evidence: training.char_ngram_choice).
CHAR_NGRAM_RANGE = (3, 5)
MAX_CHAR_NGRAM = 10  # the longest character n-gram a model file may ask for
SHORT_TEXT_CHARS = 200

# Folds of the training rows whose out-of-fold linear margins a stacked network learns on.
STACK_FOLDS = 5
# The shortlist network's rescorer learns from out-of-fold shortlists: the sources are built
# on all but one fold and shortlist that fold, as new documents would be shortlisted.
SHORTLIST_FOLDS = 5
# network.type = auto: the shortlist network from this many topics (in at least
# train.min_count documents), or this many documents x topics, on; below, the dense network.
# The dense network's stacking fits a linear model per topic six times over and holds
# documents x topics arrays: on 2,838 documents with 4,300 subjects it took 549 s and 3.6 GB,
# and on TIBKAT (82k x 33k) it did not finish; the shortlist network's cost grows with the
# stored terms and each document's few candidates instead.
SHORTLIST_FROM_TOPICS = 1000
SHORTLIST_FROM_CELLS = 50_000_000


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of a model."""

    text: TextConfig = field(default_factory=TextConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    thresholds: ThresholdConfig = field(default_factory=ThresholdConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)

    def __post_init__(self) -> None:
        # Each section's own checks ran when it was made; a section of another type
        # (Config(train=5)) would fail only in fit, as an AttributeError.
        for name, section_type in _section_types().items():
            value = getattr(self, name)
            if not isinstance(value, section_type):
                hint = "; Config.from_dict reads plain data" if isinstance(value, dict) else ""
                raise ConfigError(
                    f"Config.{name} must be a {section_type.__name__}, not "
                    f"{type(value).__name__}{hint}"
                )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return the configuration as plain JSON/TOML-compatible data."""
        out: dict[str, dict[str, Any]] = {}
        for section in dataclasses.fields(self):
            values = dataclasses.asdict(getattr(self, section.name))
            out[section.name] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in values.items()
            }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a Config from nested data, rejecting unknown sections and keys."""
        return _merge(cls(), data, source="configuration")

    def with_overrides(self, assignments: list[str], option: str = "--set") -> Config:
        """Apply `section.key=value` overrides (as given to `--set`, or the `option` named
        in messages)."""
        nested: dict[str, dict[str, Any]] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            section, dot, name = key.strip().partition(".")
            if not sep or not dot or not section or not name:
                raise ConfigError(
                    f"{option} {assignment!r}: expected section.key=value, e.g. train.seed=7"
                )
            values = nested.setdefault(section, {})
            if name in values:
                # The later one wins, but this one is checked too: a typo in an earlier
                # override (a script's defaults) went unnoticed.
                _merge(self, {section: {name: values[name]}}, source=option)
            values[name] = _RawValue(raw.strip())
        return _merge(self, nested, source=option)


# TopicClassifier's keyword arguments and the setting each one sets (None: keep the config's).
ESTIMATOR_PARAMS = {
    "network": "network.type",
    "hidden_units": "network.hidden_units",
    "dropout": "network.dropout",
    "embedding_dim": "network.embedding_dim",
    "ngram_max": "features.ngram_max",
    "min_df": "features.min_df",
    "max_features": "features.max_features",
    "mode": "train.mode",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "learning_rate": "train.learning_rate",
    "patience": "train.patience",
    "validation_split": "train.validation_split",
    "min_count": "train.min_count",
    "seed": "train.seed",
    "threshold_strategy": "thresholds.strategy",
    "fallback": "thresholds.fallback",
    "blend": "blend.linear",
    "svm_c": "blend.svm_c",
}


def with_values(config: Config, values: dict[str, Any], source: str) -> Config:
    """`config` with `{"section.key": value}` settings (typed values, as from Python)."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = list(value) if isinstance(value, tuple) else value
    return _merge(config, nested, source=source)


@functools.cache
def _section_types() -> dict[str, type]:
    """Each configuration section's name and dataclass."""
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def section_names() -> list[str]:
    """Names of the configuration sections."""
    return [f.name for f in dataclasses.fields(Config)]


def valid_keys(section: str) -> list[str]:
    """Keys a configuration section accepts."""
    section_type = _section_types()[section]
    return [f.name for f in dataclasses.fields(section_type)]


@dataclass(frozen=True)
class _RawValue:
    """A string from the command line, parsed by the type of the key it is assigned to."""

    text: str


def _merge(config: Config, data: dict[str, Any], *, source: str) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of sections")
    sections: dict[str, Any] = {}
    for section, values in data.items():
        if section not in section_names():
            raise ConfigError(
                f"{source}: unknown section {section!r}; valid sections: "
                + ", ".join(section_names())
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        current = getattr(config, section)
        hints = typing.get_type_hints(type(current))
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}; valid keys in [{section}]: "
                    + ", ".join(valid_keys(section))
                )
            changes[key] = _coerce(f"{section}.{key}", hints[key], value, source)
        try:
            sections[section] = dataclasses.replace(current, **changes)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return dataclasses.replace(config, **sections)


def _plain(value: Any) -> Any:
    """A numpy (or pandas) scalar or 1-D array as the Python value or list it holds, as
    parameter grids and computed sizes often give them; anything else as it is, for the
    setting's own check to name."""
    ndim = getattr(value, "ndim", None)
    if ndim == 0 and hasattr(value, "item"):
        return value.item()
    if ndim == 1 and hasattr(value, "tolist"):
        return value.tolist()
    return value


def _coerce(name: str, hint: Any, value: Any, source: str) -> Any:
    value = _plain(value)  # every item too: hidden_units=[np.int64(64)]

    def bad(expected: str) -> ConfigError:
        given = value.text if isinstance(value, _RawValue) else value
        return ConfigError(f"{source}: {name} = {shown(given)} is not {expected}")

    if hint is bool:
        if isinstance(value, _RawValue):
            lowered = value.text.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise bad("a boolean (true/false)")
        if isinstance(value, bool):
            return value
        raise bad("a boolean (true/false)")
    if hint is int:
        if isinstance(value, _RawValue):
            if not SET_INTEGER.fullmatch(value.text):
                raise bad("a whole number (ASCII digits)")
            try:
                return int(value.text)
            except ValueError:  # past Python's digit limit
                too_long = f"{source}: {name} = {shown(value.text)} is {too_many_digits()}"
                raise ConfigError(too_long) from None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad("an integer")
    if hint is float:
        if isinstance(value, _RawValue):
            if not SET_NUMBER.fullmatch(value.text):
                raise bad("a plain number (ASCII digits, a point, an exponent: 0.001 or 1e-3)")
            return float(value.text)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer past 1.8e308 (TOML reads hex of any length)
                raise bad("a number a setting can hold (it is too large)") from None
        raise bad("a number")
    if hint is str:
        if isinstance(value, _RawValue):
            return value.text
        if isinstance(value, str):
            return value
        raise bad("a string")
    if typing.get_origin(hint) is tuple:
        items: Any
        expected = "a list of integers"
        if isinstance(value, _RawValue):
            expected += " separated by single commas, e.g. 512,256 or [512, 256] ([] for none)"
            items = _raw_list(value.text)
        elif isinstance(value, list | tuple):
            items = value
        else:
            items = None
        if items is None:
            raise bad(expected)
        try:
            return tuple(_coerce(name, int, item, source) for item in items)
        except ConfigError:
            raise bad(expected) from None
    raise AssertionError(f"unsupported config type {hint!r} for {name}")  # a bug, not user input


def _raw_list(text: str) -> list[_RawValue] | None:
    """The items of a `--set` list (`512,256`, `[512, 256]`, `(512,)`), or None when it is
    malformed. Only `[]` or `()` is empty, as `[]` in a TOML file: an empty value, `[,,,]`
    or `((64` was read as no hidden layer or as [64]."""
    text = text.strip()
    if text[:1] + text[-1:] in ("[]", "()"):  # one pair, as TOML's brackets or a tuple
        text = text[1:-1].strip()
        if not text:
            return []
        # One comma may end the items, as in TOML's [512,] and Python's (512,).
        text = text.removesuffix(",")
    elif not text:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):  # 64,,128 or a trailing comma: an item left out
        return None
    return [_RawValue(part) for part in parts]


# Defaults of their own for some network kinds, under a configuration file and `--set`: the
# shortlist network (large vocabularies) reads a TF-IDF vocabulary ten times larger than the
# dense network's first layer can afford (its memory grows with stored terms, not with the
# vocabulary), and its rescorer, a dozen features per candidate, learns best without dropout.
# Measured on TIBKAT dev (33,318 subjects): F1@5 0.2538 -> 0.2902, nDCG@10 0.4355 -> 0.5002.
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
    "shortlist": {"features.max_features": 200_000, "network.dropout": 0.0},
}


def defaults_for(network_type: str, source: str = "defaults") -> Config:
    """The defaults for a network kind: Config() with its NETWORK_DEFAULTS and that type;
    `source` names where the type came from when it is not valid."""
    values = {"network.type": network_type, **NETWORK_DEFAULTS.get(network_type, {})}
    return with_values(Config(), values, source=source)


def for_network(config: Config, kind: str) -> Config:
    """`config` with network.type `kind`, chosen for it (auto): the kind's own defaults
    (NETWORK_DEFAULTS) replace the settings left at the general defaults."""
    general = Config()
    values: dict[str, Any] = {"network.type": kind}
    for key, value in NETWORK_DEFAULTS.get(kind, {}).items():
        section, _, name = key.partition(".")
        if getattr(getattr(config, section), name) == getattr(getattr(general, section), name):
            values[key] = value
    return with_values(config, values, source="network.type = auto")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load defaults (the network kind's own where it has some: NETWORK_DEFAULTS), then a
    TOML file (if given), then `section.key=value` overrides."""
    data = _read_toml(Path(path)) if path is not None else {}
    first = _layered(Config(), data, path, overrides)
    if first.network.type not in NETWORK_DEFAULTS:
        return first
    return _layered(defaults_for(first.network.type), data, path, overrides)


def _layered(
    base: Config, data: dict[str, Any], path: str | Path | None, overrides: list[str] | None
) -> Config:
    config = _merge(base, data, source=str(path)) if path is not None else base
    if overrides:
        config = config.with_overrides(overrides)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    """A configuration file's data; every way of failing to read it is a ConfigError."""
    try:
        # A FIFO would hang the read and /dev/zero fill memory: only a regular file of a
        # configuration's size is read.
        data = read_small_file(path, CONFIG_MAX_BYTES, "a configuration is a TOML file")
        # A byte order mark (Notepad's "UTF-8" or "Unicode") is not TOML, but names the
        # encoding, as it does for a report or a corpus.
        return tomllib.loads(small_file_text(data))
    except SmallFileError as exc:
        raise ConfigError(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {shown(str(exc))[1:-1]}") from None
    except RecursionError:  # tables or arrays nested thousands deep
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(not_text(path, exc)) from None
    except ValueError:  # int() refuses a literal past sys.get_int_max_str_digits()
        raise ConfigError(
            f"{path}: invalid TOML: {too_many_digits()}; no setting takes such a number"
        ) from None


def to_toml(config: Config) -> str:
    """Render a configuration as TOML that `load_config` reads back."""
    lines: list[str] = []
    for section, values in config.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped too
    # (control characters such as a newline in a verbose token pattern were written raw).
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
