"""`edge finetune`: validate a chat JSONL, train a LoRA adapter on the base, export it, and build
the quantized fine-tuned GGUF that edge runs at once."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from ..errors import UsageError
from ..models import ModelStore
from .data import Tokenizer, validate_jsonl
from .trainer import TrainConfig


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("fine-tuning needs PyTorch: pip install 'edge-assistant[train]' (running a fine-tuned model does not)") from None


READER_MIX_MAX = 1000  # at most this many reader examples are mixed into a user's data


def reader_records(tier: str, n: int, *, seed: int) -> list[list[dict]]:
    """Up to `n` examples of the reader's training set for `tier` (shipped in the clone under
    build/reader/dataset/), so a user's knowledge adapter keeps reading passages and citing them.
    Empty when the clone carries no reader data for that size."""
    import random

    path = Path(__file__).resolve().parents[2] / "build" / "reader" / "dataset" / (tier or "tiny") / "train.jsonl"
    if n <= 0 or not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # the reading behaviour, not the sample manual's closed-book facts
    rows = [r["messages"] for r in rows if not str(r.get("kind", "")).startswith("manual_")]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def finetune(settings, data: Path, *, cfg: TrainConfig, name: str = "my-ft", base_name: str = "", out: Path | None = None,
             quant: str = "q8_0", resume: bool = True, reader_mix: bool = True, log=print) -> dict:
    records = validate_jsonl(data)  # bad data is refused before anything heavy happens
    n_user = len(records)
    require_torch()
    import torch

    from .build import build_models
    from .gguf_io import read_gguf, write_lora
    from .model import LlamaLoRA
    from .trainer import train

    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: torch finds no CUDA device here")
    store = ModelStore(settings.home)
    base_art = store.get(base_name) if base_name else store.base_llm()
    _, base_path = store.resolve_llm(base_art.name)
    out = Path(out) if out else settings.home / "finetune" / name
    out.mkdir(parents=True, exist_ok=True)
    mixed = 0
    if reader_mix:
        from ..chooser import tier_of

        extra = reader_records(tier_of(store, base_art), min(n_user, READER_MIX_MAX), seed=cfg.seed)
        records = records + extra
        mixed = len(extra)
    log(f"{n_user} records from {data}" + (f" + {mixed} reader examples (--no-reader-data to leave them out)" if mixed else "")
        + f"; base {base_art.name}; output {out}")
    tk = Tokenizer(base_path)
    examples = [tk.example(m) for m in records]
    dropped = sum(len(e) > cfg.max_len for e in examples)
    if dropped:
        log(f"note: {dropped} record(s) longer than {cfg.max_len} tokens are left out")
    base = read_gguf(base_path)  # checks the architecture before any training
    torch.manual_seed(cfg.seed)
    model = LlamaLoRA(base, rank=cfg.lora_rank, alpha=cfg.lora_alpha)
    t0 = time.perf_counter()
    summary = train(model, examples, cfg, out, resume=resume, log=log)
    adapter = write_lora(base, model.lora_state(), out / "adapter.gguf", alpha=cfg.lora_alpha, name=name)
    built = build_models(store, types=(quant,), adapter=adapter, name=name, base_name=base_art.name, with_base=False, log=log)
    result = {
        "name": built[0].name, "adapter": str(adapter), "adapter_bytes": adapter.stat().st_size, "base": base_art.name,
        "records": n_user, "reader_records": mixed, "config": asdict(cfg), "train": {k: v for k, v in summary.items() if k != "history"},
        "loss_history": summary["history"], "wall_seconds": time.perf_counter() - t0,
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result
