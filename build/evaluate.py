#!/usr/bin/env python3
"""Evaluate the tiny base and the knowledge adapter's build (`edge-know-*`: the sample manual trained
into the weights by build/train_shipped.py) on the sample manual's held-out set, closed-book and with
retrieval, and write build/reports/finetune-eval.json (every answer, scored by the benchmark's scorer);
build/reader/model_card.py puts it in the model card.

    .venv/bin/python build/evaluate.py [--quant q8_0] [--modes base,base+rag,ft,ft+rag] [--max-tokens 64] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("base", "base+rag", "ft", "ft+rag")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quant", default="q8_0")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated modes to evaluate (default: all four)")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N items (for a quick look)")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        print(f"--modes: choose among {', '.join(MODES)}", file=sys.stderr)
        return 2

    from edge.assistant import Assistant
    from edge.config import load_settings
    from edge.present import Progress
    from edge.rag import open_retriever
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index
    from edge.train.evaluate import load_eval, run_eval, summarize

    items = load_eval(ROOT / "build" / "dataset" / "eval.jsonl")
    if args.limit:
        items = items[: args.limit]
    models = {"base": f"smollm2-135m-instruct-base-{args.quant}", "ft": f"edge-know-{args.quant}"}
    results: dict = {"quant": args.quant, "max_tokens": args.max_tokens, "items": len(items), "modes": {},
                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory() as tmp:
        s0 = load_settings(max_tokens=args.max_tokens)
        index = Index(Path(tmp) / "index.db", load_embedder(s0))
        index.add([ROOT / "build" / "knowledge"])
        index.close()
        for role, name in models.items():
            wanted = [m for m in modes if m.split("+")[0] == role]
            if not wanted:
                continue
            s = load_settings(model=name, max_tokens=args.max_tokens, index=str(Path(tmp) / "index.db"))
            a = Assistant(s, retriever=open_retriever(s))
            for mode in wanted:
                bar = Progress(f"evaluating {mode} ({name})", len(items), unit="items")
                t0 = time.perf_counter()
                rs = run_eval(a, items, rag=mode.endswith("+rag"), progress=bar.update)
                bar.close()
                results["modes"][mode] = {"model": name, "seconds": round(time.perf_counter() - t0, 1), "summary": summarize(rs),
                                          "results": [r.to_dict() for r in rs]}
                print(mode, json.dumps(results["modes"][mode]["summary"]), file=sys.stderr)
            a.close()
    out = ROOT / "build" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune-eval.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out / 'finetune-eval.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
