#!/usr/bin/env python3
"""The benchmark as a script, for people who expect one: the same as `edge bench` (same flags).

    .venv/bin/python scripts/bench_latency.py --quick --out bench-out
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
