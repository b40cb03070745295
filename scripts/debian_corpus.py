"""Build single-label corpora from the Debian archive: each binary package's description,
labelled with the package's Debian section (`games`, `science`, `libdevel`, `python`, ...).

The corpora (CORPORA): `de` and `fr`, the German and French descriptions (synopsis and long
description); `en`, the same in English (tens of thousands of documents: the large
single-label corpus); `en-short`, the English synopsis alone (the one-line short description,
about 46 characters: the corpus of short texts).

Source: Debian 12 "bookworm", component main, from deb.debian.org: `Packages.xz` (amd64, which
also lists the `Architecture: all` packages; the sections, source packages and the MD5 of each
package's English description) and the Debian Description Translation Project's
`Translation-<lang>` files (the descriptions; English is the original text, the others are
translations of it). The descriptions are part of Debian's packages and are distributed with
the archive under the terms of each package (free software licences, per the Debian Free
Software Guidelines); the translations are contributed to Debian for that distribution.
Nothing of it is stored in this repository: the script writes the corpora to a directory
outside it (`--out`, default ../debian-corpora), with a SOURCE.md that records the
downloaded files' URLs, sizes and SHA-256 digests, and one in each corpus's directory with
its counts.

A Translation file holds every architecture's descriptions, so a package whose description
differs between architectures (`default-jdk`) is there several times: the one whose
Description-md5 is the amd64 package's counts, else the first. (A translation may carry the
MD5 of an older English text; it still describes the package, so it is kept.)

Split: a package goes to test when a hash of its *source* package falls in the test fifth,
so binary packages built from one source (near-identical descriptions: `foo`, `foo-data`,
`foo-doc`) never straddle the split. Sections with fewer than MIN_SECTION packages in a
corpus are left out.

    python scripts/debian_corpus.py [--out DIR] [--corpora de fr en en-short]

Each corpus gets DIR/<name>/train.jsonl and test.jsonl ({"id", "text", "labels"}).
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import lzma
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIRROR = "http://deb.debian.org/debian/dists/bookworm/main"
PACKAGES = f"{MIRROR}/binary-amd64/Packages.xz"
# bookworm's Release lists Translation-en as .xz (and uncompressed) only, and a request for
# Translation-en.bz2 is answered 404, while the translations come as .bz2; decompress()
# reads either.
TRANSLATIONS = {
    "de": f"{MIRROR}/i18n/Translation-de.bz2",
    "fr": f"{MIRROR}/i18n/Translation-fr.bz2",
    "en": f"{MIRROR}/i18n/Translation-en.xz",
}
MIN_SECTION = 20
TEST_FIFTH = 0  # a source package whose hash is 0 modulo 5 goes to test


def fetch(url: str, cache: Path) -> tuple[bytes, str]:
    """The file's bytes (downloaded once into `cache`) and its SHA-256."""
    path = cache / url.rsplit("/", 1)[-1]
    if not path.exists():
        print(f"downloading {url}", flush=True)
        with urllib.request.urlopen(url, timeout=300) as answer:
            data = answer.read()
        path.write_bytes(data)
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a Debian control file, continuation lines joined with newlines."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key is not None:
                fields[key] += "\n" + line[1:]
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields:
            out.append(fields)
    return out


def description_text(raw: str) -> str:
    """A Debian description as plain text: the synopsis, then the long description
    (a line of a single `.` is a blank line)."""
    lines = [("" if line.strip() == "." else line) for line in raw.splitlines()]
    return "\n".join(lines).strip()


def synopsis(raw: str) -> str:
    """The synopsis alone: the description's first line."""
    return raw.split("\n", 1)[0].strip()


@dataclass(frozen=True)
class Corpus:
    """One corpus: the language of its descriptions and what of a description is the text."""

    language: str
    text: Callable[[str], str]
    about: str


CORPORA = {
    "de": Corpus("de", description_text, "German descriptions (synopsis + long description)"),
    "fr": Corpus("fr", description_text, "French descriptions (synopsis + long description)"),
    "en": Corpus("en", description_text, "English descriptions (synopsis + long description)"),
    "en-short": Corpus("en", synopsis, "English synopses (the one-line short description)"),
}


def decompress(url: str, data: bytes) -> str:
    """A downloaded control file's text, by its suffix."""
    return (lzma.decompress(data) if url.endswith(".xz") else bz2.decompress(data)).decode()


def test_part(source: str) -> bool:
    """Whether the packages built from `source` go to test (the split rule)."""
    digest = hashlib.sha256(source.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 5 == TEST_FIFTH


def build(out: Path, names: list[str]) -> None:
    """Write DIR/<name>/train.jsonl, test.jsonl and SOURCE.md for each corpus, and
    DIR/SOURCE.md for every file in the download cache."""
    cache = out / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    packages_xz, packages_sha = fetch(PACKAGES, cache)
    section, source, described = {}, {}, set()
    for fields in stanzas(lzma.decompress(packages_xz).decode("utf-8")):
        name = fields.get("Package")
        if name:
            section[name] = fields.get("Section", "").rsplit("/", 1)[-1]
            source[name] = fields.get("Source", name).split(" ")[0]
            described.add((name, fields.get("Description-md5")))
    packages_line = f"- {PACKAGES}: {len(packages_xz)} bytes, SHA-256 {packages_sha}"
    for corpus_name in names:
        corpus = CORPORA[corpus_name]
        url = TRANSLATIONS[corpus.language]
        data, sha = fetch(url, cache)
        chosen: dict[str, tuple[str, bool]] = {}  # name -> description, amd64's
        for fields in stanzas(decompress(url, data)):
            name, raw = fields.get("Package", ""), fields.get(f"Description-{corpus.language}")
            if name in section and section[name] and raw:
                amd64 = (name, fields.get("Description-md5")) in described
                if name not in chosen or (amd64 and not chosen[name][1]):
                    chosen[name] = (raw, amd64)
        docs = [
            {"id": name, "text": corpus.text(raw), "section": section[name]}
            for name, (raw, _) in chosen.items()
        ]
        counts = Counter(d["section"] for d in docs)
        kept = [d for d in docs if counts[d["section"]] >= MIN_SECTION]
        target = out / corpus_name
        target.mkdir(parents=True, exist_ok=True)
        split: dict[str, list[dict[str, object]]] = {"train": [], "test": []}
        for d in kept:
            part = "test" if test_part(source[str(d["id"])]) else "train"
            split[part].append({"id": d["id"], "text": d["text"], "labels": [d["section"]]})
        for part, rows in split.items():
            with (target / f"{part}.jsonl").open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        sections = len({d["section"] for d in kept})
        mean = sum(len(str(d["text"])) for d in kept) / max(1, len(kept))
        summary = (
            f"{corpus_name}: {len(split['train'])} train, {len(split['test'])} test, "
            f"{sections} sections (of {len(counts)}; {len(docs) - len(kept)} documents in "
            f"sections under {MIN_SECTION} left out), {mean:.1f} characters a text on average"
        )
        print(summary, flush=True)
        (target / "SOURCE.md").write_text(
            f"Built by topicclf's scripts/debian_corpus.py: {corpus.about}, labelled with the "
            "section, split by source package.\n"
            f"{summary}\n{packages_line}\n- {url}: {len(data)} bytes, SHA-256 {sha}\n",
            encoding="utf-8",
        )
    # From the whole cache, not this run's corpora: building one corpus must not drop the
    # record of the files another was built from (the cache never downloads a file again).
    records = [packages_line]
    for url in TRANSLATIONS.values():
        path = cache / url.rsplit("/", 1)[-1]
        if path.exists():
            data = path.read_bytes()
            records.append(
                f"- {url}: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}"
            )
    (out / "SOURCE.md").write_text(
        "Built by topicclf's scripts/debian_corpus.py from the Debian archive (bookworm, main):\n"
        + "\n".join(records)
        + "\n",
        encoding="utf-8",
    )


def main() -> None:
    """Parse the options and build the corpora."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO.parent / "debian-corpora")
    # --languages: the option's name from when every corpus was one language's.
    parser.add_argument(
        "--corpora", "--languages", nargs="+", choices=list(CORPORA), default=list(CORPORA)
    )
    args = parser.parse_args()
    if REPO in args.out.resolve().parents or args.out.resolve() == REPO:
        parser.error("--out must be outside the repository (the data is not ours to commit)")
    build(args.out, args.corpora)


if __name__ == "__main__":
    main()
