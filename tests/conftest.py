"""Shared fixtures.

Real-model tests use the pinned models that `scripts/setup.sh` pulled (see `_shared_models_home`);
each test gets its own empty EDGE_HOME, whose models/ links to them when the test asks for it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# Captured before any test isolates EDGE_HOME: where `scripts/setup.sh` pulled the models.
_USER_HOME = os.environ.get("EDGE_HOME")


def _shared_models_home() -> Path:
    """The models setup pulled (`$EDGE_TEST_MODELS`, else the user's EDGE_HOME): reused, so the
    tests need no network once setup has run; pulled there only if missing."""
    if os.environ.get("EDGE_TEST_MODELS"):
        return Path(os.environ["EDGE_TEST_MODELS"])
    if _USER_HOME:
        return Path(_USER_HOME)
    from edge.config import default_home

    return default_home()


# Settings a run of the suite may fix for every test, as cheap stand-ins for another CPU: greedy
# output changes with the order of floating-point sums, which the thread count and the batch
# size change (`EDGE_THREADS=1 scripts/test.sh -m real`, `EDGE_N_BATCH=64 ...`).
CPU_PROXIES = ("EDGE_THREADS", "EDGE_N_BATCH", "EDGE_THREAD_POLICY")


def cpu_threads() -> int:
    """Threads for tests that make an engine themselves: EDGE_THREADS, else 2."""
    return int(os.environ.get("EDGE_THREADS") or 2)


def cpu_n_batch() -> int:
    """Batch size for tests that make an engine themselves: EDGE_N_BATCH, else 512."""
    return int(os.environ.get("EDGE_N_BATCH") or 512)


# Fixtures that bring in the real pinned models: a test using any of them is a real-model test
# (marked `real` here, so `pytest -m real` selects every one, whatever its file says).
REAL_FIXTURES = {"pulled_models", "real_home", "built_models", "built_home", "real_llm_path", "engine", "embedder",
                 "sample_index_file", "sample_home"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test starts with an empty, private EDGE_HOME and no EDGE_* settings leaking in
    (but the CPU_PROXIES, which a run may set on purpose)."""
    for k in list(os.environ):
        if k.startswith("EDGE_") and k not in ("EDGE_TEST_MODELS", *CPU_PROXIES):
            monkeypatch.delenv(k, raising=False)
    home = tmp_path / "edge-home"
    monkeypatch.setenv("EDGE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def pulled_models() -> Path:
    """The real pinned models, pulled (idempotently) into the shared test home."""
    from edge.models import ModelStore

    home = _shared_models_home()
    store = ModelStore(home)
    store.pull(progress=False, log=lambda m: None)
    from edge.rag.embed import _fast_minilm_path

    _fast_minilm_path(store)  # the default embedder's file, made once here and linked into each test home
    return home / "models"


def link_models(pulled: Path, home: Path, *, built: bool = False) -> Path:
    """Link the pulled catalog models (and, with `built`, the models `edge models build` made)."""
    from edge.models import ModelStore

    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    src = ModelStore(pulled.parent)
    # Only the builds this checkout's shipped adapters make (and re-quantized bases): the shared models
    # directory may also hold a build of an adapter tried and not shipped, or of a user's own, which
    # would change the default model and the benchmark's plan under the tests.
    shipped = {a.filename for a in src.artifacts() if a.kind == "lora"}

    def ours(a) -> bool:
        adapter = (a.origin or "").partition("+")[2].split("@")[0]
        return not adapter or adapter in shipped

    wanted = {a.filename for a in src.artifacts() if a.source == "pypi" or (built and a.source == "build" and ours(a))}
    from edge.rag.embed import FAST_MINILM

    for p in pulled.iterdir():
        if p.is_file() and (p.name in wanted or (p.name.startswith(FAST_MINILM) and p.suffix == ".onnx")):
            (models / p.name).symlink_to(p)
    if (pulled / ".verified.json").exists():  # hash stamps
        shutil.copy(pulled / ".verified.json", models / ".verified.json")
    if (pulled / ".device.json").exists():  # the device chooser's measurements, made by set-up
        # The tests take the tiny size as the default model. The small size's real time to first
        # token sits near the 3 s budget on 2 cores (2.26 s in one CI run, over 3 s in others), so the
        # measured choice would differ between machines: here a larger size is kept over the budget.
        # The chooser itself is tested on faked timings (test_chooser.py).
        # The entries are keyed by thread count; set-up measured one (2 here), and a run with another
        # count (`EDGE_THREADS=1`) would measure afresh and could choose differently, so every entry
        # stands for every count from 1 to 16.
        cache = json.loads((pulled / ".device.json").read_text())
        entries = {}
        for key, m in cache.get("entries", {}).items():
            if m.get("tier") not in ("", "tiny"):
                m["ttft_ms"] = 600_000.0
            stem = key.rsplit("|t", 1)[0]
            for t in range(1, 17):
                entries[f"{stem}|t{t}"] = dict(m, threads=t)
        cache["entries"] = entries
        (models / ".device.json").write_text(json.dumps(cache))
    if built and (pulled / "local.json").exists():
        data = json.loads((pulled / "local.json").read_text())
        keep = {k: v for k, v in data.items() if v.get("source") == "build" and v.get("filename") in wanted}
        (models / "local.json").write_text(json.dumps(keep))
    return home


@pytest.fixture
def real_home(pulled_models, _isolated_home) -> Path:
    """A private EDGE_HOME whose models are the real pulled ones (symlinked)."""
    return link_models(pulled_models, _isolated_home)


@pytest.fixture(scope="session")
def built_models(pulled_models) -> Path:
    """The fine-tuned and re-quantized models, built once (idempotent) from the shipped adapter."""
    from edge.models import ModelStore
    from edge.train.build import build_models

    store = ModelStore(pulled_models.parent)
    names = ["edge-ft-q8_0", "edge-ft-q4_0", "edge-know-q8_0", "edge-know-q4_0", "smollm2-135m-instruct-base-q8_0", "smollm2-135m-instruct-base-q4_0"]
    try:
        ok = all(store.status(store.get(n)).verified for n in names)
    except Exception:
        ok = False
    if not ok:
        build_models(store, log=lambda m: None)
    return pulled_models


@pytest.fixture
def built_home(built_models, _isolated_home) -> Path:
    """A private EDGE_HOME with the pulled and the built models."""
    return link_models(built_models, _isolated_home, built=True)


@pytest.fixture(scope="session")
def real_llm_path(pulled_models) -> Path:
    from edge.models import ModelStore

    store = ModelStore(pulled_models.parent)
    return store.path(store.get("smollm2-135m-instruct-q4_1"))


@pytest.fixture(scope="session")
def real_small_path(pulled_models) -> Path:
    """The small size's base model (Qwen2.5-Coder-0.5B-Instruct, qwen2), pulled by setup."""
    from edge.models import ModelStore

    store = ModelStore(pulled_models.parent)
    return store.path(store.base_llm("small"))


@pytest.fixture(scope="session")
def engine(real_llm_path):
    """One loaded real model shared by the engine tests (loading is cheap, but not free)."""
    from edge.llm import Engine

    e = Engine(real_llm_path, n_ctx=2048, n_threads=cpu_threads(), n_batch=cpu_n_batch())
    yield e
    e.close()


def run_edge(*args, env=None, input=None, timeout=300, cwd=None):
    """Run the real `edge` command in a subprocess; returns CompletedProcess."""
    import subprocess

    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=full_env, input=input,
        timeout=timeout, cwd=cwd or ROOT,
    )


def parse_json(out: str):
    return json.loads(out)


@pytest.fixture(scope="session")
def embedder(pulled_models):
    from edge.config import load_settings
    from edge.rag.embed import load_embedder

    return load_embedder(load_settings(home=str(pulled_models.parent), embed_threads=2))


@pytest.fixture(scope="session")
def sample_index_file(embedder, tmp_path_factory) -> Path:
    """The sample manual indexed once per session (copied by the tests that use it)."""
    from edge.rag.store import Index

    path = tmp_path_factory.mktemp("sample-index") / "index.db"
    idx = Index(path, embedder)
    rep = idx.add([ROOT / "build" / "knowledge"])
    assert not rep.failed
    idx.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    idx.close()
    return path


@pytest.fixture
def sample_home(real_home, sample_index_file) -> Path:
    """A private EDGE_HOME with the real models and the sample manual indexed."""
    shutil.copy(sample_index_file, real_home / "index.db")
    return real_home
