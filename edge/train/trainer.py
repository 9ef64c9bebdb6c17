"""LoRA training on the CPU (or CUDA): seeded, resumable from checkpoints, with progress."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import TrainingInterrupted
from ..present import Progress


@dataclass
class TrainConfig:
    """Hyper-parameters; every field is recorded in the model card and the checkpoint."""

    lora_rank: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: float = field(default=32.0, metadata={"help": "LoRA alpha (scale = alpha / rank)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = 0.0
    epochs: float = field(default=3.0, metadata={"help": "passes over the data"})
    max_steps: int = field(default=0, metadata={"help": "stop after this many steps (0 = no limit)"})
    batch_tokens: int = field(default=4096, metadata={"help": "tokens per batch, padding included"})
    max_len: int = field(default=1024, metadata={"help": "longer examples are dropped"})
    warmup_steps: int = 10
    seed: int = 1234
    device: str = "cpu"
    grad_checkpoint: bool = field(default=False, metadata={"help": "recompute each layer in backward: a fraction of the memory, ~1/3 more compute"})
    grad_checkpoint_every: int = field(default=1, metadata={"help": "with grad_checkpoint, recompute every n-th layer only (2: half the saving for half the cost)"})
    precision: str = field(default="fp32", metadata={"help": "fp32, or bf16 for the frozen weights' products (see cpu_has_bf16)"})
    threads: int = 0
    checkpoint_every: int = 25


# Settings that change how much memory and time a run takes, not what it computes: a run may resume
# with other values (after running out of memory, with more recomputation).
RESUMABLE_WITH_OTHER = frozenset({"grad_checkpoint", "grad_checkpoint_every"})


def same_run(saved: dict, cfg: "TrainConfig") -> bool:
    """Was a checkpoint made with these settings (those in RESUMABLE_WITH_OTHER aside)?"""
    now = asdict(cfg)
    return {k: v for k, v in saved.items() if k not in RESUMABLE_WITH_OTHER} == {k: v for k, v in now.items() if k not in RESUMABLE_WITH_OTHER}


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 products natively (x86 AVX512_BF16 or AMX-BF16, arm64 BF16).
    Elsewhere torch emulates bf16 and it is slower than fp32."""
    from ..cpuload import cpu_flags

    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_precision(choice: str) -> str:
    """'auto' -> 'bf16' where the CPU has it, else 'fp32'; 'bf16' and 'fp32' as given."""
    if choice not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {choice!r}")
    if choice == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return choice


def make_batches(lengths: list[int], batch_tokens: int, rng: random.Random) -> list[list[int]]:
    """Bucket examples of similar length; each batch's padded size stays under batch_tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches, cur, longest = [], [], 0
    for i in order:
        l = lengths[i]
        if cur and max(longest, l) * (len(cur) + 1) > batch_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, l)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


@contextlib.contextmanager
def _stop_requests():
    """While training, Ctrl-C and SIGTERM ask for a stop at the end of the current step (so the
    checkpoint holds a whole step); a second Ctrl-C stops at once. Yields a function that says whether
    a stop was asked for. Off the main thread signals cannot be caught and nothing changes."""
    asked: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def on_signal(signum, frame):
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signum)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(asked)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def train(model, examples, cfg: TrainConfig, out_dir: Path, *, resume: bool = True, log=print,
          epoch_subsets: list[list[int]] | None = None) -> dict:
    """Train the LoRA parameters of `model` on `examples`; returns a summary (losses, tokens/s).

    `epoch_subsets`, when given, names the examples of each pass (so short examples can be seen
    more often than long ones); `cfg.epochs` is then ignored."""
    import torch
    import torch.nn.functional as F

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    model.to(device)
    model.grad_checkpoint = cfg.grad_checkpoint
    model.checkpoint_stride = max(1, cfg.grad_checkpoint_every)
    if cfg.precision == "bf16":
        model.set_base_dtype(torch.bfloat16)
    elif cfg.precision != "fp32":
        raise ValueError(f"precision must be bf16 or fp32, not {cfg.precision!r}")
    params = model.lora_parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    keep = [i for i, e in enumerate(examples) if len(e) <= cfg.max_len]
    rng = random.Random(cfg.seed)
    if epoch_subsets is None:
        epoch_subsets = [keep] * max(1, math.ceil(cfg.epochs))
        partial = cfg.epochs
    else:
        partial = 0.0
    kept = set(keep)
    plan = []
    for subset in epoch_subsets:
        idx = [i for i in subset if i in kept]
        batches = make_batches([len(examples[i]) for i in idx], cfg.batch_tokens, rng)
        plan.append([[idx[j] for j in b] for b in batches])
    flat = [b for ep in plan for b in ep]
    total_steps = int(len(plan[0]) * partial) if partial else len(flat)
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    step, history, tokens_seen, seconds = 0, [], 0, 0.0
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if not same_run(ck["config"], cfg) or ck["n_examples"] != len(examples) or ck.get("plan_steps", len(flat)) != len(flat):
            raise RuntimeError(f"{ckpt_path} was made with other settings or data; delete it or use another --out")
        model.load_lora_state(ck["lora"])
        opt.load_state_dict(ck["optimizer"])
        step, history, tokens_seen, seconds = ck["step"], ck["history"], ck["tokens"], ck["seconds"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resuming from step {step}/{total_steps}")

    def lr_at(s: int) -> float:
        if s < cfg.warmup_steps:
            return cfg.lr * (s + 1) / cfg.warmup_steps
        p = (s - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    def save():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({
            "config": asdict(cfg), "n_examples": len(examples), "plan_steps": len(flat), "lora": model.lora_state(), "optimizer": opt.state_dict(),
            "step": step, "history": history, "tokens": tokens_seen, "seconds": seconds, "torch_rng": torch.get_rng_state(),
        }, tmp)
        os.replace(tmp, ckpt_path)

    bar = Progress("training", total_steps, unit="steps")
    bar.update(step)
    model.train()
    with _stop_requests() as stop_asked:
        while step < total_steps:
            if stop_asked():
                save()
                bar.close(f"stopped at step {step}/{total_steps}")
                raise TrainingInterrupted(f"training stopped at step {step} of {total_steps}; its checkpoint is saved in {out_dir}: "
                                          "run the same command again to resume")
            batch = [examples[i] for i in flat[step]]
            t0 = time.perf_counter()
            n = max(len(e) for e in batch)
            ids = torch.zeros(len(batch), n, dtype=torch.long)
            pad = torch.zeros(len(batch), n, dtype=torch.bool)
            for r, e in enumerate(batch):
                ids[r, : len(e)] = torch.tensor(e.tokens)
                pad[r, : len(e)] = True
            ids, pad = ids.to(device), pad.to(device)
            # positions whose next token is an answer token: only there are logits computed
            rows, cols, targets = [], [], []
            for r, e in enumerate(batch):
                for p in range(e.n_prompt - 1, len(e) - 1):
                    rows.append(r)
                    cols.append(p)
                    targets.append(e.tokens[p + 1])
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            h = model(ids, pad)
            logits = model.logits(h[torch.tensor(rows), torch.tensor(cols)])
            loss = F.cross_entropy(logits.float(), torch.tensor(targets, device=device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            dt = time.perf_counter() - t0
            n_tok = int(pad.sum())
            tokens_seen += n_tok
            seconds += dt
            step += 1
            history.append(round(float(loss.detach()), 5))
            avg = sum(history[-20:]) / len(history[-20:])
            bar.update(1, postfix=f"loss {avg:.3f} · {tokens_seen / seconds:.0f} tok/s")
            if step % cfg.checkpoint_every == 0 or step == total_steps:
                save()
    bar.close(f"trained {step} steps: loss {history[0] if history else 0:.3f} -> {sum(history[-20:]) / max(1, len(history[-20:])):.3f}, "
              f"{tokens_seen} tokens in {seconds:.0f}s ({tokens_seen / max(seconds, 1e-9):.0f} tok/s)")
    return {"steps": step, "loss_first": history[0] if history else None, "loss_last20": sum(history[-20:]) / max(1, len(history[-20:])),
            "history": history, "tokens": tokens_seen, "seconds": seconds, "tokens_per_s": tokens_seen / max(seconds, 1e-9)}
