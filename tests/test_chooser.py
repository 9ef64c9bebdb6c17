"""The device chooser on faked timings: the largest size within the budget, never one that does
not fit, measured once per model and hardware, overridden by a named model."""

from __future__ import annotations

import pytest

from edge import chooser
from edge.chooser import DeviceCache, Measurement, choose
from edge.config import load_settings
from edge.models import Artifact, ModelStore

MB = 2**20


def _store(tmp_path, sizes: dict[str, int], *, ft_tiny: bool = False, verified: bool = True) -> ModelStore:
    arts = []
    for tier, size in sizes.items():
        arts.append(Artifact(name=f"{tier}-base", kind="llm", filename=f"{tier}.gguf", sha256=f"sha-{tier}", size=size, source="pypi", tier=tier))
    store = ModelStore(tmp_path, catalog=arts)
    store.dir.mkdir(parents=True, exist_ok=True)
    for a in arts:
        with open(store.path(a), "wb") as f:
            f.truncate(a.size)  # sparse: only the size matters here
        if verified:  # as `edge models pull` records a file whose hash matched
            store._stamp(store.path(a), a.sha256)
    if ft_tiny:
        ft = Artifact(name="tiny-ft-q8_0", kind="llm", filename="tiny-ft-q8_0.gguf", sha256="sha-ft", size=MB,
                      source="build", role="ft", origin="tiny-base+edge-lora.gguf@0123")
        with open(store.path(ft), "wb") as f:
            f.truncate(ft.size)
        store.register(ft)
        store._stamp(store.path(ft), ft.sha256)
    return store


@pytest.fixture
def fake(monkeypatch):
    """Measurements from a table instead of llama.cpp; counts the calls."""
    ttft = {}
    calls = []

    def measure(store, art, *, threads, n_ctx, n_batch, tier):
        calls.append(art.name)
        return Measurement(art.name, art.sha256, tier, 300, 100.0, ttft[art.name], 50.0, threads, "now")

    monkeypatch.setattr(chooser, "measure", measure)
    monkeypatch.setattr("edge.config.ram_bytes", lambda: 8 * 2**30)
    return ttft, calls


def test_the_largest_size_within_the_budget_is_chosen(tmp_path, fake):
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB, "large": 1100 * MB})
    ttft.update({"tiny-base": 300.0, "small-base": 1800.0, "large-base": 5200.0})
    c = choose(store, load_settings(threads=2))
    assert c.model == "small-base" and "1800 ms" in c.reason and c.measured_now
    assert [x.within_budget for x in c.candidates] == [True, True, False]
    # a tighter budget picks the smaller size
    s = load_settings(threads=2)
    s.ttft_budget_s = 1.0
    assert choose(store, s).model == "tiny-base"
    # the figures were cached: nothing was measured twice
    assert sorted(calls) == ["large-base", "small-base", "tiny-base"]


def test_measured_once_then_again_when_the_hardware_or_the_model_changes(tmp_path, fake, monkeypatch):
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB})
    ttft.update({"tiny-base": 300.0, "small-base": 1800.0})
    choose(store, load_settings(threads=2))
    choose(store, load_settings(threads=2))
    assert len(calls) == 2
    monkeypatch.setattr(chooser, "hardware_key", lambda: "another cpu")
    choose(store, load_settings(threads=2))
    assert len(calls) == 4
    # another thread count is another measurement
    choose(store, load_settings(threads=1))
    assert len(calls) == 6
    # --remeasure measures again
    choose(store, load_settings(threads=1), remeasure=True)
    assert len(calls) == 8


def test_a_fine_tuned_build_is_preferred_within_its_size(tmp_path, fake):
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB}, ft_tiny=True)
    c = choose(store, load_settings(threads=2))
    assert c.model == "tiny-ft-q8_0" and calls == []  # one size only: nothing to measure


def test_a_fine_tuned_reader_is_preferred_over_a_larger_untrained_base(tmp_path, fake):
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB}, ft_tiny=True)
    ttft.update({"tiny-ft-q8_0": 300.0, "small-base": 1800.0})
    c = choose(store, load_settings(threads=2))
    assert c.model == "tiny-ft-q8_0" and "fine-tuned reader" in c.reason and "small-base is an untrained base" in c.reason
    assert [x.within_budget for x in c.candidates] == [True, True]  # both measured: doctor shows the figures
    # without a fine-tuned build, the largest size within the budget
    store2 = _store(tmp_path / "b", {"tiny": 100 * MB, "small": 500 * MB})
    ttft.update({"tiny-base": 300.0})
    assert choose(store2, load_settings(threads=2)).model == "small-base"


def test_a_model_that_does_not_fit_memory_is_never_chosen(tmp_path, fake, monkeypatch):
    ttft, calls = fake
    monkeypatch.setattr("edge.config.ram_bytes", lambda: 1 * 2**30)  # a 1 GB board
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB, "large": 1100 * MB})
    ttft.update({"tiny-base": 300.0, "small-base": 900.0, "large-base": 1000.0})
    c = choose(store, load_settings(threads=2, n_ctx=1024))
    large = c.candidates[-1]
    assert c.model == "small-base"
    assert not large.fits and "GB" in large.note and "large-base" not in calls


def test_no_size_within_the_budget_falls_back_to_the_smallest(tmp_path, fake):
    ttft, _ = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB})
    ttft.update({"tiny-base": 4000.0, "small-base": 9000.0})
    c = choose(store, load_settings(threads=2))
    assert c.model == "tiny-base" and "smallest" in c.reason


def test_without_measuring_the_smallest_is_used_and_doctor_says_so(tmp_path, fake):
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB})
    c = choose(store, load_settings(threads=2), measure_missing=False)
    assert c.model == "tiny-base" and "edge models choose" in c.reason


def test_a_corrupt_cache_is_measured_again(tmp_path, fake):
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB})
    ttft.update({"tiny-base": 300.0, "small-base": 800.0})
    DeviceCache(store).path.write_text("{not json")
    assert choose(store, load_settings(threads=2)).model == "small-base" and len(calls) == 2


def test_a_named_model_overrides_the_choice(tmp_path, fake, monkeypatch):
    """`--model` / EDGE_MODEL / config.toml win: the assistant never consults the chooser then."""
    from edge.assistant import Assistant

    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB})
    monkeypatch.setattr(chooser, "choose", lambda *a, **k: pytest.fail("the chooser was consulted"))
    a = Assistant(load_settings(model="tiny-base"), store=store)
    with pytest.raises(Exception) as e:  # the fake file is no GGUF: loading fails after resolving
        a.load()
    assert "tiny" in str(e.value) or e.type.__name__ in ("IntegrityError",)


def test_an_unverified_model_is_never_measured_or_chosen(tmp_path, fake):
    """Measuring loads the file into llama.cpp: a damaged or unverified file must not get there."""
    ttft, calls = fake
    store = _store(tmp_path, {"tiny": 100 * MB, "small": 500 * MB}, verified=False)
    ttft.update({"tiny-base": 300.0, "small-base": 800.0})
    # nothing here matches its pinned sha256 (the fixture's files are zeros): nothing is a candidate
    c = choose(store, load_settings(threads=2))
    assert calls == [] and c.candidates == [] and c.model == "tiny-base" and "no verified model" in c.reason
