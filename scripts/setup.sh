#!/usr/bin/env bash
# Set up edge in this clone: a virtual environment in .venv/, the package, the pinned models;
# then open the chat. Idempotent: a second run installs and downloads nothing new.
#   scripts/setup.sh            set up, then open `edge chat` (when run in a terminal)
#   scripts/setup.sh --no-chat  set up only
set -euo pipefail
cd "$(dirname "$0")/.."

chat=1
for arg in "$@"; do
  case "$arg" in
    --no-chat) chat=0 ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup.sh: edge needs Python 3.10 or newer (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
echo "==> installing edge and its dependencies (the first time, llama.cpp compiles: several minutes)"
.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -e ".[test]"

echo "==> pulling the pinned models (tiny and small language models, the embedder: 613 MB the first time; the large model only with \`edge models pull large\`)"
.venv/bin/edge models pull

echo "==> building the fine-tuned models from the shipped adapters"
.venv/bin/edge models build

echo "==> measuring the model sizes on this machine, to choose the default (once; cached)"
.venv/bin/edge models choose || echo "setup.sh: could not measure the models; the smallest size is used until \`edge models choose\` succeeds" >&2

echo "==> indexing the sample manual (build/knowledge/)"
.venv/bin/edge index add --sample --quiet

echo "==> checking"
.venv/bin/edge doctor || true

echo
echo "edge is ready. Start it with:  .venv/bin/edge chat    (or: .venv/bin/edge ask \"...\")"
if [ "$chat" = 1 ] && [ -t 0 ] && [ -t 1 ]; then
  exec .venv/bin/edge chat
fi
