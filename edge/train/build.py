"""`edge models build`: each shipped LoRA adapter plus the pulled base of its size -> quantized
fine-tuned GGUFs. A size's reader adapter builds `edge-ft*` (the default of that size); a knowledge
adapter (`role = "knowledge"` in the catalog) builds `edge-know*`, which only the benchmark's
closed-book column uses.

numpy + gguf + llama.cpp only (no torch). Deterministic: the same base and adapter give the same
bytes. The base is also re-quantized to the same types, so base and fine-tuned models can be
compared at equal quantization (the benchmark does).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..errors import IntegrityError, ModelNotFound
from ..models import Artifact, ModelStore, sha256_file
from .gguf_io import merge, quantize, read_gguf, read_lora, write_model

BUILD_TYPES = ("q8_0", "q4_0")


def ft_name(tier: str) -> str:
    """The fine-tuned model built from the shipped adapter for a size: `edge-ft` for tiny (as
    before sizes existed), `edge-ft-small`, `edge-ft-large`."""
    return "edge-ft" if tier in ("", "tiny") else f"edge-ft-{tier}"


def know_name(tier: str) -> str:
    """The model built from a size's knowledge adapter (the sample manual in the weights, for the
    benchmark's closed-book column): `edge-know` for tiny, `edge-know-small`, ..."""
    return "edge-know" if tier in ("", "tiny") else f"edge-know-{tier}"


def built_role(entry: Artifact) -> str:
    """The role of the models built from a shipped adapter: "knowledge" for a knowledge adapter, else "ft"."""
    return "knowledge" if entry.role == "knowledge" else "ft"


def shipped_adapters() -> list[tuple[Path, Artifact]]:
    """Every adapter committed under models/ with its catalog entry (pinned sha256); the entry's
    `tier` names the size of the base it was trained on."""
    from ..models import catalog_path, load_catalog

    out = []
    for a in load_catalog():
        if a.kind == "lora" and a.source == "repo":
            p = catalog_path().parent / a.filename
            if not p.is_file():
                raise ModelNotFound(f"the shipped adapter {p} is missing from this clone")
            out.append((p, a))
    if not out:
        raise ModelNotFound("the catalog has no shipped LoRA adapter")
    return out


def _origin(base_art: Artifact, adapter: Path, adapter_sha: str | None) -> str:
    return f"{base_art.name}+{Path(adapter).name}" + (f"@{adapter_sha[:16]}" if adapter_sha else "")


def shipped_jobs(store: ModelStore, log=None) -> list[tuple[Path, Artifact, Artifact, str]]:
    """(adapter, its entry, its base, the fine-tuned model's name) for every shipped adapter. An
    adapter whose base is an optional size that was never pulled is left out (with a note)."""
    jobs = []
    for path, entry in shipped_adapters():
        base = store.base_llm(entry.tier)
        if base.optional and not store.path(base).is_file():
            if log:
                log(f"skipping {entry.name}: its base {base.name} is not downloaded (edge models pull {base.tier})")
            continue
        jobs.append((path, entry, base, know_name(entry.tier) if built_role(entry) == "knowledge" else ft_name(entry.tier)))
    return jobs


def up_to_date(store: ModelStore, *, types=BUILD_TYPES, with_base: bool = True) -> list[Artifact] | None:
    """The models a default build would make, when each is already built from the current shipped
    adapters and bases and still verifies; else None."""
    out = []
    for adapter, entry, base_art, name in shipped_jobs(store):
        want = _origin(base_art, adapter, entry.sha256)
        stem = base_art.name.rsplit("-", 1)[0]
        names = [f"{name}-{q}" for q in types] + ([f"{stem}-base-{q}" for q in types] if with_base else [])
        for n in names:
            try:
                a = store.get(n)
            except ModelNotFound:
                return None
            if a.source != "build" or (a.role in ("ft", "knowledge") and a.origin != want) or (a.role == "base" and a.origin != base_art.name):
                return None
            if n in {x.name for x in out}:  # a size's base, shared by its reader and its knowledge adapter
                continue
            if not store.status(a).verified:
                return None
            out.append(a)
    return out


def build_models(store: ModelStore, *, types=BUILD_TYPES, adapter: Path | None = None, adapter_sha: str | None = None,
                 name: str = "edge-ft", base_name: str = "", with_base: bool = True, log=print) -> list[Artifact]:
    """Merge `adapter` into its base and quantize to `types`; without `adapter`, every shipped
    adapter into the base of its size (`tier`). Registers and returns the built models."""
    t0 = time.perf_counter()
    if adapter is None:
        jobs = [(p, e.sha256, b, n, built_role(e)) for p, e, b, n in shipped_jobs(store, log)]
    else:
        jobs = [(adapter, adapter_sha, store.get(base_name) if base_name else store.base_llm(), name, "ft")]
    built = []
    bases_done: set[str] = set()
    for job_adapter, job_sha, base_art, job_name, role in jobs:
        # a size's base is re-quantized once, however many adapters that size has
        built += _build_one(store, base_art, job_adapter, job_sha, job_name, types=types,
                            with_base=with_base and base_art.name not in bases_done, log=log, role=role)
        bases_done.add(base_art.name)
    log(f"built {len(built)} model(s) in {time.perf_counter() - t0:.1f}s")
    return built


def _build_one(store: ModelStore, base_art: Artifact, adapter: Path, adapter_sha: str | None, name: str, *,
               types, with_base: bool, log, role: str = "ft") -> list[Artifact]:
    _, base_path = store.resolve_llm(base_art.name)
    st = store.status(base_art)
    if not st.verified:
        raise IntegrityError(f"{base_art.name} failed verification ({st.problem}): run `edge models pull`")
    if adapter_sha:
        got = sha256_file(adapter)
        if got != adapter_sha:
            raise IntegrityError(f"{adapter} does not match its pinned sha256 (got {got[:12]}...): refused")
    lora, alpha, arch = read_lora(adapter)
    log(f"reading {base_art.name} ...")
    base = read_gguf(base_path)
    if arch and arch != base.arch:
        raise IntegrityError(f"the adapter is for {arch}, the base is {base.arch}")
    merged = merge(base, lora, alpha)
    built = []
    with tempfile.TemporaryDirectory(dir=store.dir) as tmp:
        what = "knowledge adapter" if role == "knowledge" else "fine-tuned"
        jobs = [(name, merged, role, f"{name} ({what}: {base_art.name} + {Path(adapter).name})")]
        if with_base:
            stem = base_art.name.rsplit("-", 1)[0]  # smollm2-135m-instruct
            jobs.append((f"{stem}-base", base.tensors, "base", f"{base_art.name} re-quantized"))
        for job_name, tensors, role, desc in jobs:
            f16 = Path(tmp) / f"{job_name}-f16.gguf"
            write_model(base, tensors, f16, name=job_name)
            for q in types:
                out_name = f"{job_name}-{q}"
                dest = store.dir / f"{out_name}.gguf"
                quantize(f16, dest, q)
                sha = sha256_file(dest)
                art = Artifact(name=out_name, kind="llm", filename=dest.name, sha256=sha, size=dest.stat().st_size,
                               description=f"{desc}, {q.upper()}", source="build", role=role, tier=base_art.tier,
                               origin=base_art.name if role == "base" else _origin(base_art, adapter, adapter_sha))
                store._stamp(dest, sha)
                store.register(art)
                built.append(art)
                log(f"built {out_name} ({dest.stat().st_size / 1e6:.1f} MB, sha256 {sha[:12]}...)")
    return built
