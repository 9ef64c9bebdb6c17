"""`edge models build` over sizes: each shipped adapter goes onto the base of its tier (fast: no build)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from edge.models import Artifact, ModelStore


def _entry(tmp: Path, name: str, tier: str, kind: str, source: str = "pypi") -> Artifact:
    data = f"{name} bytes".encode()
    (tmp / f"{name}.bin").write_bytes(data)
    return Artifact(name=name, kind=kind, filename=f"{name}.bin", sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                    tier=tier, source=source, package="x", version="1", member="x/y", license="test")


def test_each_shipped_adapter_goes_onto_the_base_of_its_tier(tmp_path, monkeypatch):
    from edge.train import build

    cat = tmp_path / "catalog"
    cat.mkdir()
    bases = [_entry(cat, f"base-{t}", t, "llm") for t in ("tiny", "small", "large")]
    adapters = [_entry(cat, f"lora-{t}", t, "lora", source="repo") for t in ("tiny", "small", "large")]
    monkeypatch.setattr("edge.models.load_catalog", lambda path=None: bases + adapters)
    monkeypatch.setattr("edge.models.catalog_path", lambda: cat / "catalog.toml")
    store = ModelStore(tmp_path / "home", catalog=bases + adapters)
    store.dir.mkdir(parents=True)
    for b in bases[:2]:  # tiny and small pulled; the optional large not
        (store.dir / b.filename).write_bytes(b"x")
    notes = []
    jobs = build.shipped_jobs(store, log=notes.append)
    assert [(a.name, base.name, name) for _, a, base, name in jobs] == [
        ("lora-tiny", "base-tiny", "edge-ft"), ("lora-small", "base-small", "edge-ft-small")]
    assert len(notes) == 1 and "base-large" in notes[0] and "edge models pull large" in notes[0]
    (store.dir / bases[2].filename).write_bytes(b"x")
    assert [name for *_, name in build.shipped_jobs(store)] == ["edge-ft", "edge-ft-small", "edge-ft-large"]
    assert build.up_to_date(store) is None  # nothing built yet


def test_a_knowledge_adapter_builds_its_own_model_never_the_default(tmp_path, monkeypatch):
    from edge.chooser import candidates
    from edge.train import build

    cat = tmp_path / "catalog"
    cat.mkdir()
    base = _entry(cat, "base-tiny", "tiny", "llm")
    reader = _entry(cat, "lora-tiny", "tiny", "lora", source="repo")
    know = dataclasses.replace(_entry(cat, "know-tiny", "tiny", "lora", source="repo"), role="knowledge")
    monkeypatch.setattr("edge.models.load_catalog", lambda path=None: [base, reader, know])
    monkeypatch.setattr("edge.models.catalog_path", lambda: cat / "catalog.toml")
    store = ModelStore(tmp_path / "home", catalog=[base, reader, know])
    store.dir.mkdir(parents=True)
    (store.dir / base.filename).write_bytes(b"x")
    assert [(a.name, name) for _, a, _, name in build.shipped_jobs(store)] == [("lora-tiny", "edge-ft"), ("know-tiny", "edge-know")]
    assert build.built_role(know) == "knowledge" and build.built_role(reader) == "ft"
    # registered as a knowledge build, it is never a candidate for the default
    art = Artifact(name="edge-know-q8_0", kind="llm", filename="edge-know-q8_0.gguf", sha256="k", size=1, source="build",
                   role="knowledge", tier="tiny")
    (store.dir / art.filename).write_bytes(b"k")
    store.register(art)
    store._stamp(store.path(art), "k")
    assert "edge-know-q8_0" not in [a.name for _, a in candidates(store)]
    assert store.default_llm().name != "edge-know-q8_0"
