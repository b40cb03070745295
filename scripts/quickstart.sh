#!/usr/bin/env bash
# The README's first quick-start command: set up a venv, then train, evaluate and tag on the
# demo corpus shipped in corpora/newsbriefs. Results land in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
out=demo-output
mkdir -p "$out"
bin=.venv/bin/topicclf
set -x
"$bin" corpus stats corpora/newsbriefs/train.jsonl --top 10
"$bin" train corpora/newsbriefs/train.jsonl -o "$out/model" --force
"$bin" evaluate "$out/model" corpora/newsbriefs/test.jsonl -o "$out/report.md" -o "$out/report.json" --force
"$bin" tag "$out/model" corpora/newsbriefs/test.jsonl --scores -o "$out/tags.jsonl" --force
head -n 3 "$out/tags.jsonl"
echo "A new battery factory will employ 400 people and cut the town's power bills." | "$bin" tag "$out/model" -
{ set +x; } 2>/dev/null
echo "Done. Model: $out/model  report: $out/report.md, $out/report.json  tags: $out/tags.jsonl"
