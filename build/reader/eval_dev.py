#!/usr/bin/env python3
"""Score a model on the reader's dev split: questions and documents no training example came from,
in exactly the prompt the reader is trained and asked with. Fast enough to compare runs (a few
minutes for the tiny size), before the slower foreign-corpus and benchmark runs.

Per kind of example (retrieved, oracle, revised, answer_removed, unanswerable, ...): the share answered
right — the expected exact value for a fact (its citation counted apart), "The documents don't say."
for an example whose passages do not hold the answer — and the share of all answers that decline.

    .venv/bin/python build/reader/eval_dev.py --model edge-ft-q8_0 [--size tiny] [--n 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="an installed model's name (edge models list)")
    ap.add_argument("--size", default="tiny", help="whose dataset's dev split (build/reader/dataset/<size>/dev.jsonl)")
    ap.add_argument("--n", type=int, default=0, help="at most this many examples (0 = all)")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--decline-below", type=float, default=None, metavar="P",
                    help="overrule a decline the model gives less than this probability (default: the decline_below setting)")
    ap.add_argument("--rows", type=Path, help="also write every example's answer, verdict and decline probability here (JSON)")
    args = ap.parse_args()
    if args.decline_below is not None and not 0.0 <= args.decline_below <= 1.0:
        ap.error(f"--decline-below is a probability, 0 to 1 (not {args.decline_below})")

    from edge.config import READER_REFUSAL, load_settings
    from edge.grounding import is_abstention
    from edge.train.evaluate import holds
    from edge.llm import Engine, SamplingParams
    from edge.models import ModelStore

    s = load_settings()
    store = ModelStore(s.home)
    _, path = store.resolve_llm(args.model)
    rows = [json.loads(line) for line in (ROOT / "build" / "reader" / "dataset" / args.size / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.n:
        rows = rows[: args.n]
    engine = Engine(path, n_ctx=2048, n_threads=s.n_threads, checked=True)
    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0, decline_token=engine.first_token(READER_REFUSAL),
                            decline_below=s.decline_below if args.decline_below is None else args.decline_below)
    per: dict[str, dict] = {}
    answers = []
    try:
        for i, r in enumerate(rows, 1):
            msgs, gold = r["messages"][:-1], r["messages"][-1]["content"]
            done = engine.complete(engine.builder.tokens(msgs), params)
            out = done.text.strip()
            k = per.setdefault(r["kind"], {"n": 0, "right": 0, "cited_right": 0, "declined": 0})
            k["n"] += 1
            k["declined"] += is_abstention(out)
            if is_abstention(gold):
                ok = is_abstention(out)
            else:
                m = re.match(r"(.*?)\s*\[(\d+)\]\s*$", gold, re.S)
                value, cite = (m.group(1), m.group(2)) if m else (gold, None)
                ok = holds(out, value) and not is_abstention(out)  # the benchmark's scorer: a whole value, citations apart
                k["cited_right"] += ok and cite is not None and f"[{cite}]" in out
            k["right"] += ok
            answers.append({"id": r.get("id"), "kind": r["kind"], "gold": gold, "answer": out, "right": bool(ok),
                            "decline_p": None if done.decline_p is None else round(done.decline_p, 5)})
            if not args.json and i % 25 == 0:
                print(f"{i}/{len(rows)}", file=sys.stderr)
    finally:
        engine.close()
    total = {"n": sum(v["n"] for v in per.values()), "right": sum(v["right"] for v in per.values()),
             "declined": sum(v["declined"] for v in per.values())}
    summary = {"model": args.model, "size": args.size, "decline_below": params.decline_below,
               "examples": total["n"], "right": round(total["right"] / max(1, total["n"]), 4),
               "declined": round(total["declined"] / max(1, total["n"]), 4),
               "kinds": {k: {**v, "right_share": round(v["right"] / v["n"], 4)} for k, v in sorted(per.items())}}
    if args.rows:
        args.rows.write_text(json.dumps({"summary": summary, "answers": answers}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.model} on the {args.size} dev split: {summary['right']:.1%} right, {summary['declined']:.1%} declined ({total['n']} examples)")
        for k, v in summary["kinds"].items():
            print(f"  {k:16s} {v['right']:4d}/{v['n']:<4d} right ({v['right_share']:.0%}), {v['declined']} declined"
                  + (f", {v['cited_right']} with the right citation" if v["cited_right"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
