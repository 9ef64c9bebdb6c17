"""The one timings record. Every answer carries one; `--json`, the TUI's stats line and the
benchmark all read it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Timings:
    load_ms: float = 0.0  # loading the model into this process (once per process)
    embed_ms: float | None = None  # embedding the question (retrieval only)
    search_ms: float | None = None  # searching the index (retrieval only)
    prompt_tokens: int = 0  # tokens in the prompt as rendered
    cached_tokens: int = 0  # of those, reused from the KV cache of an earlier turn
    ttft_ms: float = 0.0  # question in -> first token out (includes retrieval)
    prefill_tok_s: float = 0.0  # prompt tokens evaluated per second
    decode_tok_s: float = 0.0  # generated tokens per second after the first
    completion_tokens: int = 0
    total_ms: float = 0.0  # question in -> last token out
    threads: int = 0  # llama.cpp threads decoding at the end (fewer than set while other work used cores)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in list(d.items()):
            if isinstance(v, float):
                d[k] = round(v, 3)
        return d
