#!/usr/bin/env python3
"""Decode speed of thread policies, with the machine idle and with one core kept busy elsewhere.

Each policy is a thread count and environment (OpenMP's wait policy and spin count, which decide
what llama.cpp's threads do at the barrier after each matrix product: spin or sleep) or edge's
adaptive thread policy. Every run is the real command `edge ask --json --ignore-eos` in a fresh
process; "busy" runs it beside a plain Python busy loop (one core's worth of work, started just
before and killed just after). Policies are interleaved within each round, so slow drifts of the
machine hit them all alike; medians over the rounds are printed, with each policy's busy speed
as a share of its idle speed and its idle cost against 2 fixed threads with libgomp's defaults.

Hold the CPU to yourself while it runs (here: `flock /tmp/edge-cpu.lock python scripts/bench_threads.py`).

    python scripts/bench_threads.py [--model NAME] [--tokens 128] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write a long story about a lighthouse keeper."
BUSY_LOOP = "import time\nend = time.monotonic() + {s}\nwhile time.monotonic() < end:\n    pass\n"

# name -> (threads, environment); policy "fixed" unless the name says adaptive
POLICIES: dict[str, tuple[int, dict]] = {
    "2 threads (libgomp defaults)": (2, {}),
    "1 thread": (1, {}),
    "2 threads, OMP_WAIT_POLICY=passive": (2, {"OMP_WAIT_POLICY": "passive"}),
    "2 threads, OMP_WAIT_POLICY=active": (2, {"OMP_WAIT_POLICY": "active"}),
    "2 threads, GOMP_SPINCOUNT=10000": (2, {"GOMP_SPINCOUNT": "10000"}),
    "adaptive (at most 2)": (2, {"EDGE_THREAD_POLICY": "adaptive"}),
}
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "EDGE_THREAD_POLICY")


def decode_once(model: str, threads: int, env_extra: dict, tokens: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    env["EDGE_THREAD_POLICY"] = "fixed"
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "edge", "ask", PROMPT, "--json", "--ignore-eos", "--max-tokens", str(tokens), "--threads", str(threads)]
    if model:
        cmd += ["--model", model]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"edge ask failed: {p.stderr.strip()[-500:]}")
    out = json.loads(p.stdout)
    t = out["timings"]
    if t["completion_tokens"] != tokens:
        raise SystemExit(f"expected {tokens} tokens, got {t['completion_tokens']}")
    return {"decode_tok_s": t["decode_tok_s"], "threads_at_end": t.get("threads"), "model": out["model"]}


class BusyCore:
    """One core's worth of work in another process, for as long as the block runs (at most
    `limit` seconds, so a crash of this script cannot leave it spinning)."""

    def __init__(self, limit: float = 300):
        self.limit = limit

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(s=self.limit)])
        time.sleep(0.3)  # running before the measured process starts
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct-q4_1", help="model name (default: the tiny base model)")
    ap.add_argument("--tokens", type=int, default=128, help="tokens to decode per run (default 128)")
    ap.add_argument("--runs", type=int, default=3, help="rounds; each runs every policy idle and busy (default 3)")
    ap.add_argument("--only", action="append", help="measure only policies whose name contains this (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    policies = {k: v for k, v in POLICIES.items() if not args.only or any(o in k for o in args.only)}
    runs: dict[str, dict[str, list]] = {k: {"idle": [], "busy": [], "threads_busy": []} for k in policies}
    model = ""
    for r in range(args.runs):
        for cond in ("idle", "busy"):
            for name, (threads, env) in policies.items():
                if cond == "busy":
                    with BusyCore():
                        res = decode_once(args.model, threads, env, args.tokens)
                    runs[name]["threads_busy"].append(res["threads_at_end"])
                else:
                    res = decode_once(args.model, threads, env, args.tokens)
                model = res["model"]
                runs[name][cond].append(res["decode_tok_s"])
                if not args.json:
                    print(f"round {r + 1} {cond:4s} {name:38s} {res['decode_tok_s']:7.1f} tok/s (threads at end {res['threads_at_end']})",
                          file=sys.stderr, flush=True)
    ref_name = next(iter(policies))
    ref_idle = statistics.median(runs[ref_name]["idle"])
    table = []
    for name, r in runs.items():
        idle, busy = statistics.median(r["idle"]), statistics.median(r["busy"])
        table.append({"policy": name, "idle_tok_s": idle, "busy_tok_s": busy, "busy_share": busy / idle,
                      "idle_cost": 1 - idle / ref_idle, "threads_at_end_busy": r["threads_busy"], "runs": r})
    result = {"model": model, "tokens": args.tokens, "rounds": args.runs, "reference": ref_name, "policies": table}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{model}, {args.tokens} tokens decoded per run, median of {args.runs} runs; "
          f"idle cost against {ref_name!r}")
    print("| policy | idle tok/s | one core busy tok/s | busy / idle | idle cost |")
    print("|---|---|---|---|---|")
    for t in table:
        print(f"| {t['policy']} | {t['idle_tok_s']:.1f} | {t['busy_tok_s']:.1f} | {t['busy_share'] * 100:.0f} % | {t['idle_cost'] * 100:+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
