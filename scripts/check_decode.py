#!/usr/bin/env python3
"""Compare `edge ask`'s decode speed with raw llama.cpp's on the same file and thread count.

Runs, in one go: N runs of the real command `edge ask --json --ignore-eos --max-tokens 256`,
then the raw baseline for the same work (llama-bench style tg256 at the depth of edge's prompt,
through llama-cpp-python's low-level API, one warm-up and N timed runs), and prints both and
their ratio.
Exit 1 if the median ratio is below --min-ratio (default 0.9).

    .venv/bin/python scripts/check_decode.py [--model NAME] [--threads N] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="", help="model name (default: edge's default model)")
    ap.add_argument("--threads", type=int, default=0, help="threads (default: physical cores)")
    ap.add_argument("--tokens", type=int, default=256, help="tokens to decode (default 256)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each (default 3)")
    ap.add_argument("--min-ratio", type=float, default=0.9)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from edge.bench.baseline import raw_llama_bench
    from edge.config import load_settings
    from edge.models import ModelStore

    s = load_settings(threads=args.threads or None)
    art, path = ModelStore(s.home).resolve_llm(args.model)
    threads = s.n_threads
    edge_runs = []
    depth = 0
    cmd = [sys.executable, "-m", "edge", "ask", "Write a long story about a lighthouse keeper.", "--json",
           "--ignore-eos", "--max-tokens", str(args.tokens), "--threads", str(threads), "--model", art.name]
    for _ in range(args.runs):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        t = json.loads(out)["timings"]
        if t["completion_tokens"] != args.tokens:
            raise SystemExit(f"expected {args.tokens} tokens, got {t['completion_tokens']}")
        edge_runs.append(t["decode_tok_s"])
        depth = t["prompt_tokens"]
    # The same work for llama.cpp: decode as many tokens, at the depth edge's answer started at.
    base = raw_llama_bench(path, threads=threads, n_prompt=64, n_gen=args.tokens, depth=depth, repetitions=args.runs)
    raw_med = statistics.median(base.tg_tok_s)
    edge_med = statistics.median(edge_runs)
    ratio = edge_med / raw_med
    result = {
        "model": art.name, "file": path.name, "threads": threads, "tokens": args.tokens, "depth": depth,
        "raw_tg_tok_s": base.tg_tok_s, "edge_decode_tok_s": edge_runs,
        "raw_median": raw_med, "edge_median": edge_med, "ratio": ratio, "min_ratio": args.min_ratio,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"model {art.name} ({path.name}), {threads} threads, {args.tokens} tokens decoded")
        print(f"raw llama.cpp tg{args.tokens} @ depth {depth}: " + ", ".join(f"{x:.1f}" for x in base.tg_tok_s) + f"  (median {raw_med:.1f} tok/s)")
        print("edge ask --json:  " + ", ".join(f"{x:.1f}" for x in edge_runs) + f"  (median {edge_med:.1f} tok/s)")
        print(f"ratio {ratio:.3f} (target >= {args.min_ratio})")
    return 0 if ratio >= args.min_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
