#!/usr/bin/env bash
# Run the full test suite (after scripts/setup.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "test.sh: no .venv here: run scripts/setup.sh first" >&2
  exit 2
fi
exec .venv/bin/python -m pytest "$@"
