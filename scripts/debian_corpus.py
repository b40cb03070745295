"""Build single-label corpora in German, French (or another language) from the Debian archive:
each binary package's translated description, labelled with the package's Debian section
(`games`, `science`, `libdevel`, `python`, ...).

Source: Debian 12 "bookworm", component main, from deb.debian.org: `Packages.xz` (amd64; the
sections and source packages) and the Debian Description Translation Project's
`Translation-<lang>.bz2` files (the descriptions). The descriptions are part of Debian's
packages and are distributed with the archive under the terms of each package (free software
licences, per the Debian Free Software Guidelines); the translations are contributed to Debian
for that distribution. Nothing of it is stored in this repository: the script writes the
corpora to a directory outside it (`--out`, default ../debian-corpora), with a SOURCE.md that
records the files' URLs, sizes and SHA-256 digests.

Split: a package goes to test when a hash of its *source* package falls in the test fifth,
so binary packages built from one source (near-identical descriptions: `foo`, `foo-data`,
`foo-doc`) never straddle the split. Sections with fewer than MIN_SECTION packages in a
language are left out.

    python scripts/debian_corpus.py [--out DIR] [--languages de fr]

Each language gets DIR/<lang>/train.jsonl and test.jsonl ({"id", "text", "labels"}).
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import lzma
import urllib.request
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIRROR = "http://deb.debian.org/debian/dists/bookworm/main"
PACKAGES = f"{MIRROR}/binary-amd64/Packages.xz"
TRANSLATION = MIRROR + "/i18n/Translation-{lang}.bz2"
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


def build(out: Path, languages: list[str]) -> None:
    """Write DIR/<lang>/train.jsonl and test.jsonl for each language, and SOURCE.md."""
    cache = out / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    packages_xz, packages_sha = fetch(PACKAGES, cache)
    section, source = {}, {}
    for fields in stanzas(lzma.decompress(packages_xz).decode("utf-8")):
        name = fields.get("Package")
        if name:
            section[name] = fields.get("Section", "").rsplit("/", 1)[-1]
            source[name] = fields.get("Source", name).split(" ")[0]
    records = [f"- {PACKAGES}: {len(packages_xz)} bytes, SHA-256 {packages_sha}"]
    for lang in languages:
        url = TRANSLATION.format(lang=lang)
        data, sha = fetch(url, cache)
        records.append(f"- {url}: {len(data)} bytes, SHA-256 {sha}")
        docs = []
        for fields in stanzas(bz2.decompress(data).decode("utf-8")):
            name, text = fields.get("Package"), fields.get(f"Description-{lang}")
            if name in section and text and section[name]:
                docs.append({"id": name, "text": description_text(text), "section": section[name]})
        counts = Counter(d["section"] for d in docs)
        kept = [d for d in docs if counts[d["section"]] >= MIN_SECTION]
        target = out / lang
        target.mkdir(parents=True, exist_ok=True)
        split: dict[str, list[dict[str, object]]] = {"train": [], "test": []}
        for d in kept:
            digest = hashlib.sha256(source[str(d["id"])].encode()).digest()
            part = "test" if int.from_bytes(digest[:4], "big") % 5 == TEST_FIFTH else "train"
            split[part].append({"id": d["id"], "text": d["text"], "labels": [d["section"]]})
        for part, rows in split.items():
            with (target / f"{part}.jsonl").open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(
            f"{lang}: {len(split['train'])} train, {len(split['test'])} test, "
            f"{len({d['section'] for d in kept})} sections",
            flush=True,
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
    parser.add_argument("--languages", nargs="+", default=["de", "fr"])
    args = parser.parse_args()
    if REPO in args.out.resolve().parents or args.out.resolve() == REPO:
        parser.error("--out must be outside the repository (the data is not ours to commit)")
    build(args.out, args.languages)


if __name__ == "__main__":
    main()
