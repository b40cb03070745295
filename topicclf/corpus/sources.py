"""What a user names as a corpus (a path, '-' for stdin, or reuters:SPLIT) opened as a Corpus,
and a whole corpus read into memory with progress, for training and evaluation."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

from topicclf.corpus import Corpus, CorpusOptions, open_corpus
from topicclf.corpus.ids import warn_duplicate_ids
from topicclf.errors import CorpusFormatError, DataError
from topicclf.types import Document, NullProgress, Progress

REUTERS_PREFIX = "reuters:"
REUTERS_ENV = "TOPICCLF_REUTERS"  # read by the CLI only, and passed in as `reuters_location`


def open_source(
    name: str,
    format: str | None = None,
    options: CorpusOptions | None = None,
    *,
    reuters_location: str | None = None,
) -> Corpus:
    """Open a corpus path, '-', or `reuters:SPLIT` (Reuters-21578 at `reuters_location`)."""
    options = source_options(name, options or CorpusOptions())
    if not name.startswith(REUTERS_PREFIX):
        return open_corpus(name, format, options)
    if not reuters_location:
        raise CorpusFormatError(
            f"{name}: set {REUTERS_ENV} to the path of reuters21578.tar.gz "
            "(see corpora/reuters21578/README.md)"
        )
    return open_corpus(reuters_location, "reuters", options)


def source_options(name: str, options: CorpusOptions) -> CorpusOptions:
    """The options `name` is read with: `reuters:SPLIT` names the split, unless the options
    name one (the CLI checks them with `reuters.option_problem` before any work)."""
    split = name[len(REUTERS_PREFIX) :] if name.startswith(REUTERS_PREFIX) else ""
    if split and options.split == "all":
        return dataclasses.replace(options, split=split)
    return options


def read_all(
    corpus: Corpus, progress: Progress | None = None, *, need_labels: bool = True
) -> list[Document]:
    """Every document of a corpus in a list; an empty corpus is an error, and so is one
    without any topic when `need_labels` (training, evaluation); repeated ids a warning."""
    progress = progress or NullProgress()
    progress.start(f"reading {Path(corpus.path).name}")
    docs = []
    for doc in corpus:
        docs.append(doc)
        if len(docs) % 500 == 0:
            progress.advance(500)
    progress.advance(len(docs) % 500)
    progress.finish()
    if not docs:
        why = (
            "no document files in the directory"
            if Path(corpus.path).is_dir()
            else "the file is empty or holds only blank lines"
        )
        raise DataError(f"{corpus.path}: no documents found ({why})")
    if need_labels and not any(doc.labels for doc in docs):
        raise DataError(f"{corpus.path}: no document has a topic; {_where_labels(corpus)}")
    warn_duplicate_ids(docs, corpus.path)
    return docs


def _where_labels(corpus: Corpus) -> str:
    """Where this format keeps topics, and the option that names them."""
    field = corpus.options.labels_field
    if corpus.format in ("csv", "tsv", "parquet"):
        return f"is the topics column named {field!r}? (--labels-field, labels_field= in Python)"
    if corpus.format == "jsonl":
        return f"is the topics field named {field!r}? (--labels-field, labels_field= in Python)"
    if corpus.format == "fasttext":
        return "fastText topics are the leading __label__NAME tokens of each line"
    if corpus.format == "txtdir":
        return "each NAME.txt needs a NAME.labels file beside it, one topic per line"
    return f"the {corpus.format!r} format holds no topics; use a labelled corpus"


def warn_no_documents(source: str, work: str) -> None:
    """Warn that `source` gave no document (nor a bad record), so there was nothing to `work`
    on: the one wording of `tag`, `corpus stats` and `corpus convert`, which go on."""
    warnings.warn(f"no documents in {source}; nothing to {work}", UserWarning, stacklevel=2)
