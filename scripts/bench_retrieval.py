#!/usr/bin/env python3
"""Retrieval benchmark (ingest, bytes per chunk, query latency at sample size and 100k chunks,
shortlist recall). Writes --out DIR/retrieval.json and retrieval.md.

    .venv/bin/python scripts/bench_retrieval.py [--chunks 100000] [--out build/reports]
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000, help="size of the synthetic index (default 100000)")
    ap.add_argument("--out", default="build/reports", help="output folder (default build/reports)")
    args = ap.parse_args()
    from edge.bench.retrieval import markdown, run
    from edge.config import load_settings

    r = run(load_settings(), n_synthetic=args.chunks, log=lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(r, indent=2) + "\n")
    (out / "retrieval.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
