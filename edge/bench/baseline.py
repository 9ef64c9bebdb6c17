"""Raw llama.cpp throughput through the low-level API, in the manner of `llama-bench`.

pp: a batch of `n_prompt` tokens decoded from an empty cache (skipped when 0); tg: `n_gen` tokens decoded one
at a time, no sampling, after `depth` tokens already in the cache (llama-bench's `-d`: attention
costs more the deeper the cache, so compare decode at the depth the assistant decodes at). One warm-up, then `repetitions` timed runs, each
kept. This is the ceiling the assistant's own prefill and decode are compared against.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class BaselineResult:
    model: str
    threads: int
    n_prompt: int
    n_gen: int
    depth: int = 0
    pp_tok_s: list[float] = field(default_factory=list)
    tg_tok_s: list[float] = field(default_factory=list)

    @property
    def pp_mean(self) -> float:
        return statistics.mean(self.pp_tok_s) if self.pp_tok_s else 0.0

    @property
    def tg_mean(self) -> float:
        return statistics.mean(self.tg_tok_s) if self.tg_tok_s else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
        d.update(pp_mean=self.pp_mean, pp_sd=sd(self.pp_tok_s), tg_mean=self.tg_mean, tg_sd=sd(self.tg_tok_s))
        return d


def raw_llama_bench(
    model_path: str | Path,
    *,
    threads: int,
    n_prompt: int = 512,
    n_gen: int = 128,
    depth: int = 0,
    repetitions: int = 3,
    n_batch: int = 512,
) -> BaselineResult:
    from ..llm import COMPUTE

    # on the thread edge's engines decode on, so both are measured alike (see edge.llm._ComputeThread)
    return COMPUTE.call(_raw_llama_bench, model_path, threads=threads, n_prompt=n_prompt, n_gen=n_gen, depth=depth,
                        repetitions=repetitions, n_batch=n_batch)


def _raw_llama_bench(model_path, *, threads, n_prompt, n_gen, depth, repetitions, n_batch) -> BaselineResult:
    import llama_cpp as lc

    from ..llm import _quiet_stderr, extra_buffer_types

    lc.llama_backend_init()
    mparams = lc.llama_model_default_params()
    mparams.use_extra_bufts = extra_buffer_types()  # as edge's engine loads it
    with _quiet_stderr(True):
        model = lc.llama_model_load_from_file(str(model_path).encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {model_path}")
    cparams = lc.llama_context_default_params()
    cparams.n_ctx = max(n_prompt, depth) + n_gen + 16
    cparams.n_batch = n_batch
    cparams.n_ubatch = n_batch
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    with _quiet_stderr(True):
        ctx = lc.llama_init_from_model(model, cparams)
    if not ctx:
        lc.llama_model_free(model)
        raise RuntimeError("llama.cpp could not create a context")
    vocab = lc.llama_model_get_vocab(model)
    n_vocab = lc.llama_vocab_n_tokens(vocab)
    mem = lc.llama_get_memory(ctx)
    result = BaselineResult(Path(model_path).name, threads, n_prompt, n_gen, depth)

    def decode(tokens: list[int]) -> None:
        for i in range(0, len(tokens), n_batch):
            chunk = tokens[i : i + n_batch]
            arr = (lc.llama_token * len(chunk))(*chunk)
            rc = lc.llama_decode(ctx, lc.llama_batch_get_one(arr, len(chunk)))
            if rc != 0:
                raise RuntimeError(f"llama_decode failed: {rc}")
        lc.llama_synchronize(ctx)

    # Fixed pseudo-random tokens (as llama-bench does), the same on every run.
    prompt = [(i * 7919 + 13) % n_vocab for i in range(n_prompt)]
    try:
        for rep in range(repetitions + 1):  # the first is the warm-up
            pp = 0.0
            if n_prompt:
                lc.llama_memory_clear(mem, True)
                t0 = time.perf_counter()
                decode(prompt)
                pp = n_prompt / (time.perf_counter() - t0)
            lc.llama_memory_clear(mem, True)
            if depth:
                decode([(i * 104729 + 7) % n_vocab for i in range(depth)])
            tok = 13 % n_vocab
            t0 = time.perf_counter()
            for _ in range(n_gen):
                decode([tok])
            tg = n_gen / (time.perf_counter() - t0)
            if rep > 0:
                if n_prompt:
                    result.pp_tok_s.append(pp)
                result.tg_tok_s.append(tg)
    finally:
        with _quiet_stderr(True):
            lc.llama_free(ctx)
            lc.llama_model_free(model)
    return result
