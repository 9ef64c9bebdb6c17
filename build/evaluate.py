#!/usr/bin/env python3
"""Evaluate the base and the fine-tuned model on the held-out set, closed-book and with retrieval,
and write build/reports/finetune-eval.json and models/MODEL_CARD.md from what was measured.

    .venv/bin/python build/evaluate.py [--quant q8_0] [--max-tokens 64] [--limit N]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--card-only", action="store_true", help="rewrite the model card from build/reports/finetune-eval.json without evaluating")
    ap.add_argument("--quant", default="q8_0")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N items (for a quick look)")
    args = ap.parse_args()
    if args.card_only:
        write_card(json.loads((ROOT / "build" / "reports" / "finetune-eval.json").read_text(encoding="utf-8")))
        return 0

    from edge.assistant import Assistant
    from edge.config import load_settings
    from edge.present import Progress
    from edge.rag.embed import load_embedder
    from edge.rag.store import Index
    from edge.train.evaluate import load_eval, run_eval, summarize

    items = load_eval(ROOT / "build" / "dataset" / "eval.jsonl")
    if args.limit:
        items = items[: args.limit]
    models = {"base": f"smollm2-135m-instruct-base-{args.quant}", "ft": f"edge-ft-{args.quant}"}
    results: dict = {"quant": args.quant, "max_tokens": args.max_tokens, "items": len(items), "modes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        s0 = load_settings(max_tokens=args.max_tokens)
        index = Index(Path(tmp) / "index.db", load_embedder(s0))
        index.add([ROOT / "build" / "knowledge"])
        index.close()
        for role, name in models.items():
            s = load_settings(model=name, max_tokens=args.max_tokens, index=str(Path(tmp) / "index.db"))
            from edge.rag import open_retriever

            a = Assistant(s, retriever=open_retriever(s))
            for rag in (False, True):
                mode = role + ("+rag" if rag else "")
                bar = Progress(f"evaluating {mode}", len(items), unit="items")
                t0 = time.perf_counter()
                rs = run_eval(a, items, rag=rag, progress=bar.update)
                bar.close()
                results["modes"][mode] = {"model": name, "seconds": round(time.perf_counter() - t0, 1), "summary": summarize(rs),
                                          "results": [r.to_dict() for r in rs]}
                print(mode, json.dumps(results["modes"][mode]["summary"]), file=sys.stderr)
            a.reset()
            gen = a.ask("What is the capital of France?", rag=False)
            results["modes"][role]["general_capital_of_france"] = {"answer": gen.text, "correct": "paris" in gen.text.lower()}
            a.close()
    out = ROOT / "build" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "finetune-eval.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_card(results)
    return 0


def pct(x):
    return "n/a" if x is None else f"{100 * x:.1f} %"


def write_card(ev: dict) -> None:
    train = json.loads((ROOT / "build" / "reports" / "train.json").read_text())
    ds = json.loads((ROOT / "build" / "dataset" / "report.json").read_text())
    m = ev["modes"]
    cats = ["trained_rephrased", "changed", "untrained", "unanswerable"]
    rows = []
    for mode in ("base", "ft", "base+rag", "ft+rag"):
        sm = m[mode]["summary"]
        rows.append(f"| {mode} | {pct(sm['all'])} | " + " | ".join(pct(sm.get(c)) for c in cats) + f" | {pct(sm.get('citation_valid'))} ({sm.get('citations', 0)}) |")
    closed_gain = 100 * (m["ft"]["summary"]["all"] - m["base"]["summary"]["all"])
    rag_gain = 100 * (m["ft+rag"]["summary"]["all"] - m["base+rag"]["summary"]["all"])
    cfg = train["config"]
    card = f"""# edge-lora — model card

The LoRA adapter edge ships (`models/edge-lora.gguf`, {train['adapter_bytes'] / 1e6:.1f} MB, F16, sha256 `{train['adapter_sha256']}`,
pinned in `models/catalog.toml`). `edge models build` merges it into the pulled base and quantizes the
result; no torch is needed for that or for running it. Every figure below was measured by
`build/train_shipped.py` and `build/evaluate.py` on the 2-core x86_64 machine this project is built on;
none is typed in by hand.

## Base and data

- Base: SmolLM2-135M-Instruct, the pinned Q4_1 GGUF, dequantized with gguf-py and frozen (QLoRA-style).
- Data: `build/dataset/train.jsonl`, made by `build/make_dataset.py` from the sample field manual
  (`build/knowledge/`) and `build/facts.json`, rendered by edge's own prompt builder with the default system
  prompt: {ds['train_examples']} examples, {ds['train_tokens']} tokens ({ds['train_answer_tokens']} of them answer tokens, the only ones
  with a loss). Kinds: {', '.join(f'{k} {v}' for k, v in ds['train_kinds'].items())}.
  Open-book contexts are what the real index retrieves (4 passages); the answer cites the passage that
  holds the fact as `[n]`, or says "The documents don't say." when none does.
- Held-out evaluation: `build/dataset/eval.jsonl`, {ds['eval_items']} items never trained on:
  {', '.join(f'{k} {v}' for k, v in ds['eval_categories'].items())}. `trained_rephrased` asks a trained fact in new words; `untrained`
  asks facts of the manual that are not in the training data; `changed` asks facts that
  `build/knowledge-v2/` revises (scored against the v1 value the model was trained on); `unanswerable`
  asks what the manual does not say. An answer is correct when it contains every expected string
  (compared without case, spacing or thousands separators); an unanswerable one when it says the
  documents don't say (or don't know).

## Training

| | |
|---|---|
| LoRA | rank {cfg['lora_rank']}, alpha {cfg['lora_alpha']}, on attn_q/k/v/output and ffn_gate/up/down of all 30 layers ({train['lora_parameters']:,} parameters) |
| optimizer | AdamW, peak lr {cfg['lr']}, warm-up {cfg['warmup_steps']} steps, cosine to 10 %, grad clip 1.0, seed {cfg['seed']} |
| schedule | {train['passes']} passes over the short examples, the first {train['open_book_passes']} of them also over the {train['open_book_examples']} open-book examples; batches of ≤ {cfg['batch_tokens']} tokens |
| steps / tokens | {train['steps']} steps, {train['tokens']:,} tokens |
| time | {train['train_seconds'] / 60:.1f} min of training ({train['wall_seconds'] / 60:.1f} min wall), {train['tokens_per_s']:.0f} tokens/s on {train['threads']} threads, torch {train['torch']} CPU |
| loss | {train['loss_first']:.3f} at the first step, {train['loss_last20']:.3f} averaged over the last 20 |

## Evaluation ({ev['quant'].upper()}, greedy, at most {ev['max_tokens']} tokens)

| mode | all | trained, rephrased | changed (v1 value) | untrained | unanswerable | citations valid (n) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

- Closed-book, the fine-tuned model answers {closed_gain:+.1f} percentage points more of the items correctly than the base.
- With retrieval, fine-tuned minus base: {rag_gain:+.1f} percentage points.
- General knowledge kept: "What is the capital of France?" → fine-tuned: "{m['ft']['general_capital_of_france']['answer'].strip()[:120]}" ({'correct' if m['ft']['general_capital_of_france']['correct'] else 'WRONG'}); base: {'correct' if m['base']['general_capital_of_france']['correct'] else 'wrong'}.
- `changed` shows the staleness of fine-tuning: the model answers the v1 values it was trained on; the
  benchmark (`edge bench`) measures how retrieval over the revised manual fixes that.

Reproduce: `.venv/bin/python build/make_dataset.py && .venv/bin/python build/train_shipped.py && .venv/bin/edge models build && .venv/bin/python build/evaluate.py`.
"""
    (ROOT / "models" / "MODEL_CARD.md").write_text(card, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
