#!/usr/bin/env python3
"""Train the knowledge adapter of the tiny size (models/edge-knowledge-tiny.gguf) from build/dataset/train.jsonl:
the sample manual trained into the weights, which the benchmark's closed-book `ft` column measures
(`edge models build` makes `edge-know-*` from it; it is never the default model: the reader is).

The recipe: LoRA on every attention and MLP projection of the dequantized Q4_1 base. Short
closed-book examples (facts, refusals, general answers) are seen every pass; the long open-book
examples (4 retrieved passages each) in fewer passes, which keeps the run within the hour on a
2-core CPU. Writes the adapter (F16), pins its sha256 in models/catalog.toml, and records what
the run measured in build/reports/train.json.

    .venv/bin/python build/train_shipped.py [--passes 6] [--open-passes 2] [--lr 4e-3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=6, help="passes over the closed-book examples")
    ap.add_argument("--open-passes", type=int, default=2, help="passes over the open-book examples (the first N passes)")
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--out", default=str(ROOT / "build" / "out" / "train"), help="checkpoints (not committed)")
    args = ap.parse_args()

    import torch

    from edge.config import load_settings
    from edge.models import ModelStore
    from edge.train.data import Tokenizer, validate_jsonl
    from edge.train.gguf_io import read_gguf, write_lora
    from edge.train.model import LlamaLoRA
    from edge.train.trainer import TrainConfig, train

    s = load_settings()
    store = ModelStore(s.home)
    _, base_path = store.resolve_llm("smollm2-135m-instruct-q4_1")
    data = ROOT / "build" / "dataset" / "train.jsonl"
    records = validate_jsonl(data)
    kinds = [json.loads(line)["kind"] for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    tk = Tokenizer(base_path)
    examples = [tk.example(m) for m in records]
    short = [i for i, k in enumerate(kinds) if k != "open_book"]
    long_ = [i for i, k in enumerate(kinds) if k == "open_book"]
    subsets = [short + (long_ if p < args.open_passes else []) for p in range(args.passes)]
    cfg = TrainConfig(lora_rank=args.rank, lora_alpha=args.alpha, lr=args.lr, epochs=float(args.passes),
                      batch_tokens=args.batch_tokens, threads=s.n_threads, warmup_steps=10)
    planned_tokens = sum(len(examples[i]) for sub in subsets for i in sub)
    print(f"{len(examples)} examples ({len(short)} short, {len(long_)} open-book); {planned_tokens} tokens planned", file=sys.stderr)
    base = read_gguf(base_path)
    torch.manual_seed(cfg.seed)
    model = LlamaLoRA(base, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    t0 = time.perf_counter()
    summary = train(model, examples, cfg, Path(args.out), epoch_subsets=subsets, log=lambda m: print(m, file=sys.stderr))
    wall = time.perf_counter() - t0
    adapter = write_lora(base, model.lora_state(), ROOT / "models" / "edge-knowledge-tiny.gguf", alpha=cfg.lora_alpha, name="edge-knowledge-tiny")
    blob = adapter.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    cat = ROOT / "models" / "catalog.toml"
    text = cat.read_text(encoding="utf-8")
    entry = (
        '[[artifact]]\nname = "edge-knowledge-tiny"\nkind = "lora"\nrole = "knowledge"\ndescription = "The knowledge adapter of the tiny '
        'size: the sample manual trained into the weights (build/train_shipped.py), for the benchmark\'s closed-book `ft` column; '
        'never the default model (see models/MODEL_CARD.md)"\nsource = "repo"\nfilename = "edge-knowledge-tiny.gguf"\ntier = "tiny"\n'
        f'sha256 = "{sha}"\nsize = {len(blob)}\nlicense = "Apache-2.0"\n'
    )
    text = re.sub(r'\n\[\[artifact\]\]\nname = "edge-knowledge-tiny".*?(?=\n\[\[artifact\]\]|\Z)', "", text, flags=re.S).rstrip() + "\n\n" + entry
    cat.write_text(text, encoding="utf-8")
    n_params = sum(a.size + b.size for a, b in model.lora_state().values())
    report = {
        "config": asdict(cfg), "passes": args.passes, "open_book_passes": args.open_passes,
        "examples": len(examples), "short_examples": len(short), "open_book_examples": len(long_),
        "dataset_tokens_per_pass": sum(len(e) for e in examples), "planned_tokens": planned_tokens,
        "steps": summary["steps"], "tokens": summary["tokens"], "train_seconds": round(summary["seconds"], 1),
        "wall_seconds": round(wall, 1), "tokens_per_s": round(summary["tokens_per_s"], 1),
        "loss_first": summary["loss_first"], "loss_last20": round(summary["loss_last20"], 4), "loss_history": summary["history"],
        "lora_parameters": n_params, "adapter_bytes": len(blob), "adapter_sha256": sha,
        "torch": torch.__version__, "threads": s.n_threads,
    }
    out = ROOT / "build" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "loss_history"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
