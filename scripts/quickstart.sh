#!/usr/bin/env bash
# The README's first quick-start command: set up a venv, then train, evaluate and tag on the
# demo corpus shipped in corpora/newsbriefs. The model lands in models/newsbriefs (where the
# README's examples look for it), reports and tags in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
started=$SECONDS
echo "== Installing topicclf into .venv with TensorFlow, Keras and scikit-learn."
echo "   The first time this downloads about 600 MB and takes a few minutes; then seconds."
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e . \
    | { grep -E '^(Collecting|Successfully)' || true; }
out=demo-output
mkdir -p "$out" models
bin=.venv/bin/topicclf
echo "== Training, evaluating and tagging on corpora/newsbriefs (360 news briefs, 10 topics)"
set -x
"$bin" corpus stats corpora/newsbriefs/train.jsonl --top 10
"$bin" train corpora/newsbriefs/train.jsonl -o models/newsbriefs --force
"$bin" evaluate models/newsbriefs corpora/newsbriefs/test.jsonl -o "$out/report.md" -o "$out/report.json" --force
"$bin" tag models/newsbriefs corpora/newsbriefs/test.jsonl --scores -o "$out/tags.jsonl" --force
head -n 3 "$out/tags.jsonl"
echo "A new battery factory will employ 400 people and cut the town's power bills." | "$bin" tag models/newsbriefs -
{ set +x; } 2>/dev/null
cat <<DONE

Done in $((SECONDS - started))s. Model: models/newsbriefs; reports: $out/report.md, $out/report.json;
tags: $out/tags.jsonl.
To run topicclf yourself, activate the environment first:

    source .venv/bin/activate
    topicclf --help
    topicclf explain models/newsbriefs "The council voted to cut the museum's budget."

(or call .venv/bin/topicclf directly). The README's examples use these same paths.
DONE
