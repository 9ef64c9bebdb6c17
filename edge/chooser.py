"""The default model, chosen for this device by measuring it.

A bigger model reads better but answers later; how much later depends on the CPU, which differs by
a factor of ten between a Raspberry Pi 4 and a laptop. So instead of guessing from the board's
name, edge measures: each installed model size is loaded once and asked to read a retrieval-sized
prompt; the default is the largest size whose time to first token stays within the budget
(`ttft_budget_s`, 3 s unless configured), preferring a fine-tuned build of a size over its base,
and never a model that does not fit the machine's memory. A size with a fine-tuned reader is also
preferred over a larger size that has none: measured on both held-out sets (`edge bench`, 2026-12-02
and again 2026-12-03), the tiny reader answered more than the untrained small base (sample manual 38.0 %
against 31.7 %, foreign corpus 47.6 % against 34.2 % in the second run), cites its passages, and answers
2.6 times sooner. The figures are kept in
`$EDGE_HOME/models/.device.json`, one entry per model file (by sha256) and hardware, so a new
model or a new machine is measured again and nothing else is.

`--model`, `EDGE_MODEL` and `model = "..."` in config.toml override the choice.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .models import Artifact, ModelStore

TIERS = ("tiny", "small", "large")
CACHE_NAME = ".device.json"
CACHE_VERSION = 1
MEASURE_PROMPT_TOKENS = 300  # the retrieval prompt edge aims for at the default k (see prompt.focus)


@dataclass
class Measurement:
    model: str
    sha256: str
    tier: str
    prompt_tokens: int
    load_ms: float
    ttft_ms: float
    decode_tok_s: float
    threads: int
    measured_at: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Candidate:
    model: str
    tier: str
    role: str
    file_bytes: int
    need_bytes: int  # file + KV cache + working buffers, estimated
    fits: bool
    measurement: Measurement | None = None
    within_budget: bool | None = None
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["measurement"] = self.measurement.to_dict() if self.measurement else None
        return d


@dataclass
class Choice:
    model: str
    reason: str
    budget_ms: float
    ram_bytes: int | None
    candidates: list[Candidate] = field(default_factory=list)
    measured_now: bool = False

    def to_dict(self) -> dict:
        return {"model": self.model, "reason": self.reason, "budget_ms": self.budget_ms, "ram_bytes": self.ram_bytes,
                "measured_now": self.measured_now, "candidates": [c.to_dict() for c in self.candidates]}


def tier_of(store: ModelStore, art: Artifact) -> str:
    """A language model's size tier: the catalog's `tier`, or, for a model `edge models build` made,
    that of the base it was made from (its `origin` starts with the base's name)."""
    t = getattr(art, "tier", "") or ""
    if t:
        return t
    if art.source == "build" and art.origin:
        base = art.origin.split("+", 1)[0]
        if base != art.name:
            try:
                return tier_of(store, store.get(base))
            except Exception:
                return ""
    return ""


def hardware_key() -> str:
    """What makes a measurement stale: the CPU, the core count, the llama.cpp build."""
    from .doctor import cpu_info

    try:
        import llama_cpp

        llama = llama_cpp.__version__
    except Exception:  # pragma: no cover
        llama = "?"
    cpu = cpu_info()
    return f"{platform.machine()}|{cpu.get('model', '?')}|{os.cpu_count()}|llama-cpp-python {llama}"


def need_bytes(store: ModelStore, art: Artifact, n_ctx: int) -> int:
    """Memory to answer with `art`, estimated: its file (mapped), a KV cache of at most 64 KB per
    context token (these models' f16 caches take 12-29 KB per token), and ~200 MB for compute
    buffers, the embedder and the index."""
    size = store.path(art).stat().st_size
    return int(size + n_ctx * 64 * 1024 + 200 * 2**20)


def candidates(store: ModelStore, quant: str = "") -> list[tuple[str, Artifact]]:
    """Per tier, smallest first: the fine-tuned build if one is present and verified (in the preferred
    quantization), else the tier's base model if present and verified. An unverified file is never
    a candidate: measuring it would hand llama.cpp a file nobody checked."""
    quant = (quant or "q8_0").lower()
    present = [a for a in store.artifacts() if a.kind == "llm" and store.path(a).is_file() and store.status(a).verified]
    out = []
    for tier in TIERS:
        of_tier = [a for a in present if tier_of(store, a) == tier]
        ft = sorted((a for a in of_tier if a.role == "ft" and a.source == "build"),
                    key=lambda a: (0 if a.name.endswith(quant) else 1 if "q8_0" in a.name else 2, a.name))
        base = [a for a in of_tier if a.source == "pypi"]
        pick = ft[0] if ft else base[0] if base else None
        if pick is not None:
            out.append((tier, pick))
    return out


class DeviceCache:
    """Measurements per (hardware, model sha256), in the models directory."""

    def __init__(self, store: ModelStore):
        self.path = store.dir / CACHE_NAME

    def load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {"version": CACHE_VERSION, "entries": {}}
        if data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
            return {"version": CACHE_VERSION, "entries": {}}
        return data

    def get(self, hw: str, sha: str, threads: int) -> Measurement | None:
        e = self.load()["entries"].get(f"{hw}|{sha}|t{threads}")
        if not e:
            return None
        try:
            return Measurement(**e)
        except TypeError:
            return None

    def put(self, hw: str, m: Measurement) -> None:
        data = self.load()
        data["entries"][f"{hw}|{m.sha256}|t{m.threads}"] = m.to_dict()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def _probe_prompt(builder) -> list[int]:
    """A retrieval prompt of about MEASURE_PROMPT_TOKENS tokens, built by the one prompt builder from
    the sample manual shipped with edge (any text would do: only its length matters)."""
    from .config import READER_SYSTEM_PROMPT
    from .prompt import Passage
    from .rag import sample_knowledge_dir

    d = sample_knowledge_dir()
    texts = []
    for name in ("11-installation-batteries.md", "12-wiring-dc.md", "31-maintenance-schedule.md", "21-inverter.md"):
        p = d / name
        if p.is_file():
            texts.append(p.read_text(encoding="utf-8"))
    words = " ".join(texts).split() or ("lorem ipsum " * 400).split()
    n_words = 40
    while True:
        passages = [Passage(" ".join(words[i * n_words:(i + 1) * n_words]), path=f"doc{i}.md") for i in range(4)]
        built = builder.build("What torque do the battery terminal bolts need?", budget=10_000,
                              system=READER_SYSTEM_PROMPT, passages=passages)
        if built.n_tokens >= MEASURE_PROMPT_TOKENS or n_words > 400:
            return built.tokens
        n_words += 10


def measure(store: ModelStore, art: Artifact, *, threads: int, n_ctx: int, n_batch: int, tier: str) -> Measurement:
    """Load `art`, prefill a retrieval-sized prompt, decode a few tokens; median of 3 for TTFT."""
    import statistics

    from .llm import Engine, SamplingParams

    e = Engine(store.path(art), n_ctx=n_ctx, n_threads=threads, n_batch=n_batch, checked=True)
    try:
        tokens = _probe_prompt(e.builder)
        ttfts, decodes = [], []
        for i in range(3):
            e.llm.reset()  # a cold KV cache each time: the question's own prefill is what is timed
            c = e.complete(tokens, SamplingParams(max_tokens=16, ignore_eos=True, seed=42 + i))
            ttfts.append(c.timings.ttft_ms)
            decodes.append(c.timings.decode_tok_s)
        return Measurement(art.name, art.sha256, tier, len(tokens), round(e.load_ms, 1), round(statistics.median(ttfts), 1),
                           round(statistics.median(decodes), 2), e.n_threads, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    finally:
        e.close()


def choose(store: ModelStore, settings, *, measure_missing: bool = True, remeasure: bool = False,
           log: Callable[[str], None] | None = None) -> Choice:
    """The default language model for this device (see the module docstring)."""
    from .config import ram_bytes

    log = log or (lambda m: None)
    budget_ms = float(settings.ttft_budget_s) * 1000
    ram = ram_bytes()
    cands = candidates(store, settings.quant)
    if not cands:
        # nothing installed and verified: the base, whose loading then says what to run
        base = store.base_llm()
        return Choice(base.name, "no verified model is installed", budget_ms, ram)
    hw = hardware_key()
    cache = DeviceCache(store)
    threads = settings.n_threads
    out: list[Candidate] = []
    measured_now = False
    over_budget = False
    for tier, art in cands:
        need = need_bytes(store, art, settings.n_ctx)
        fits = ram is None or need <= 0.8 * ram
        c = Candidate(art.name, tier, art.role or "base", store.path(art).stat().st_size, need, fits)
        out.append(c)
        if not fits:
            c.note = f"needs about {need / 2**30:.2f} GB; this machine has {ram / 2**30:.2f} GB (80 % usable)"
            continue
        if over_budget and len(out) > 1:
            c.note = "not measured: a smaller size was already over the budget"
            continue
        m = None if remeasure else cache.get(hw, art.sha256, threads)
        if m is None and (measure_missing or remeasure) and len(cands) > 1:
            log(f"measuring {art.name} on this device (once) ...")
            m = measure(store, art, threads=threads, n_ctx=settings.n_ctx, n_batch=settings.n_batch, tier=tier)
            cache.put(hw, m)
            measured_now = True
            log(f"  {art.name}: time to first token {m.ttft_ms:.0f} ms for {m.prompt_tokens} prompt tokens, "
                f"decode {m.decode_tok_s:.1f} tok/s")
        c.measurement = m
        if m is not None:
            c.within_budget = m.ttft_ms <= budget_ms
            over_budget = over_budget or not c.within_budget
    fitting = [c for c in out if c.fits]
    if not fitting:
        smallest = out[0]
        return Choice(smallest.model, "no installed model fits this machine's memory; the smallest is used", budget_ms, ram, out, measured_now)
    if len(fitting) == 1:
        return Choice(fitting[0].model, "the only installed size that fits", budget_ms, ram, out, measured_now)
    within = [c for c in fitting if c.within_budget]
    if within:
        tuned = [c for c in within if c.role == "ft"]
        best = tuned[-1] if tuned else within[-1]
        m = best.measurement
        if best is not within[-1]:
            return Choice(best.model, f"the largest size with a fine-tuned reader whose time to first token ({m.ttft_ms:.0f} ms) is "
                                      f"within the {budget_ms / 1000:g} s budget (the larger {within[-1].model} is an untrained base, "
                                      "which reads the documents worse: see `edge bench`)", budget_ms, ram, out, measured_now)
        return Choice(best.model, f"the largest size whose time to first token ({m.ttft_ms:.0f} ms) is within the "
                                  f"{budget_ms / 1000:g} s budget", budget_ms, ram, out, measured_now)
    if all(c.measurement is None for c in fitting):
        return Choice(fitting[0].model, "not measured yet (run `edge models choose`); the smallest size is used", budget_ms, ram, out, measured_now)
    return Choice(fitting[0].model, f"no size answers within the {budget_ms / 1000:g} s budget; the smallest is used",
                  budget_ms, ram, out, measured_now)
