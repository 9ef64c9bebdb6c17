#!/usr/bin/env python3
"""Is one recipe better than another? Several runs per arm on the same items, compared with their noise.

A reader recipe is judged by asking the readers it trains the same items (eval_dev.py --rows on the
dev split, or eval_check.py on a held-out corpus). Two kinds of noise hide a recipe's effect:

- which items happen to be asked: a paired bootstrap over the items (the same resampled items for
  every arm) gives a 95 % interval for the difference of the arms' mean scores;
- which run a recipe happened to make (the seed draws the adapter's initial weights and the batch
  order): the spread between runs of one arm. The seed alone moved the tiny reader's dev score by
  3.5 points (build/reports/reader-tiny-seed/), so an arm with one run has an unmeasured spread.

An arm is NAME=FILE[,FILE...], one file per run; the first arm is the reference. Every file must hold
the same items (either kind of file, as scripts/decline_curve.py reads them). The verdict says an arm
differs only when the interval excludes 0 and the difference exceeds the larger within-arm spread;
with one run in an arm the verdict says so instead of guessing.

    .venv/bin/python scripts/compare_runs.py --arm shipped=a.json,b.json --arm two-epochs=c.json [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from decline_curve import answers  # scripts/ is this script's own folder, first on sys.path


def parse_arm(spec: str) -> tuple[str, list[Path]]:
    name, sep, files = spec.partition("=")
    paths = [Path(f) for f in files.split(",") if f]
    if not sep or not name or not paths:
        raise SystemExit(f"compare_runs: --arm {spec!r}: write NAME=FILE[,FILE...]")
    return name, paths


def load_arms(specs: list[str], model: str | None) -> dict[str, list[dict[str, bool]]]:
    """Arm name → one {item: right} per run; every run over the same items."""
    arms: dict[str, list[dict[str, bool]]] = {}
    keys = None
    for spec in specs:
        name, paths = parse_arm(spec)
        if name in arms:
            raise SystemExit(f"compare_runs: arm {name!r} given twice")
        arms[name] = []
        for p in paths:
            try:
                rows, _ = answers(p, model)
            except SystemExit as e:  # the shared loader's one-line refusal, named as this script's
                raise SystemExit(str(e).replace("decline_curve:", "compare_runs:", 1)) from None
            if keys is None:
                keys = set(rows)
            elif set(rows) != keys:
                raise SystemExit(f"compare_runs: {p} does not hold the same items as the first run")
            arms[name].append({k: r["right"] for k, r in rows.items()})
    if len(arms) < 2:
        raise SystemExit("compare_runs: give at least two arms (--arm NAME=FILE[,FILE...] twice)")
    return arms


def mean_score(runs: list[dict[str, bool]], items: list[str]) -> float:
    return sum(sum(r[k] for k in items) for r in runs) / (len(runs) * len(items))


def compare(arms: dict[str, list[dict[str, bool]]], *, boot: int = 2000, seed: int = 0) -> dict:
    names = list(arms)
    items = sorted(next(iter(arms.values()))[0])
    summary = {}
    for n, runs in arms.items():
        scores = [mean_score([r], items) for r in runs]
        summary[n] = {"runs": len(runs), "scores": [round(s, 4) for s in scores], "mean": round(sum(scores) / len(scores), 4),
                      "spread": round(max(scores) - min(scores), 4) if len(runs) > 1 else None}
    rng = random.Random(seed)
    ref = names[0]
    out = []
    samples = [[items[rng.randrange(len(items))] for _ in items] for _ in range(boot)]
    for other in names[1:]:
        diff = summary[other]["mean"] - summary[ref]["mean"]
        ds = sorted(mean_score(arms[other], s) - mean_score(arms[ref], s) for s in samples)
        lo, hi = ds[int(0.025 * (boot - 1))], ds[int(0.975 * (boot - 1))]
        # items right in most runs of one arm and wrong in most of the other's (a tie, right in half
        # the runs, counts for neither)
        def share(runs, k):
            return sum(r[k] for r in runs) / len(runs)
        gained = sum(share(arms[other], k) > 0.5 > share(arms[ref], k) for k in items)
        lost = sum(share(arms[ref], k) > 0.5 > share(arms[other], k) for k in items)
        spreads = [summary[n]["spread"] for n in (ref, other)]
        if None in spreads:
            verdict = "one run in an arm: the run-to-run spread is not measured, so no verdict"
        elif lo <= 0 <= hi:
            verdict = "no difference shown: the interval holds 0"
        elif abs(diff) <= max(spreads):
            verdict = "no difference shown: within the spread between runs of one arm"
        else:
            verdict = f"{other} is {'better' if diff > 0 else 'worse'}"
        out.append({"arm": other, "against": ref, "difference": round(diff, 4), "interval95": [round(lo, 4), round(hi, 4)],
                    "items_gained": gained, "items_lost": lost, "verdict": verdict})
    return {"items": len(items), "bootstrap": boot, "arms": summary, "comparisons": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=FILE[,FILE...]",
                    help="one arm and its runs' answer files (give two or more arms; the first is the reference)")
    ap.add_argument("--model", help="the model, when an eval_check report holds several")
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples of the items (default 2000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.boot < 100:
        ap.error("--boot: at least 100 resamples")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    r = compare(load_arms(args.arm, args.model), boot=args.boot)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    print(f"{r['items']} items, {r['bootstrap']} bootstrap resamples")
    print("| arm | runs | scores (%) | mean | spread (points) |")
    print("|---|---|---|---|---|")
    for n, s in r["arms"].items():
        spread = "–" if s["spread"] is None else pct(s["spread"])
        print(f"| {n} | {s['runs']} | {', '.join(pct(x) for x in s['scores'])} | {pct(s['mean'])} % | {spread} |")
    for c in r["comparisons"]:
        lo, hi = c["interval95"]
        print(f"{c['arm']} − {c['against']}: {c['difference'] * 100:+.1f} points (95 % interval {lo * 100:+.1f} to {hi * 100:+.1f}); "
              f"{c['items_gained']} items gained, {c['items_lost']} lost: {c['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
