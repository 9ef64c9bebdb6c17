"""The engine on the real pinned model: streaming, timings, cancel, KV reuse, determinism."""

from __future__ import annotations

import threading

import pytest

from edge.llm import SamplingParams
from edge.prompt import Turn
from tests.conftest import cpu_n_batch, cpu_threads

pytestmark = pytest.mark.real


def prompt(engine, q, **kw):
    return engine.builder.build(q, budget=1500, system="You are a helpful assistant.", **kw).tokens


def test_stream_yields_text_then_timings(engine):
    events = list(engine.stream(prompt(engine, "Describe the sea in two sentences."), SamplingParams(max_tokens=48, ignore_eos=True)))
    assert all(not e.done for e in events[:-1]) and events[-1].done
    # streamed: many pieces, not one block at the end (what they say depends on the CPU's kernels)
    assert len(events) > 10 and "".join(e.text for e in events[:-1]).strip()
    assert events[-1].stop_reason == "length"
    t = events[-1].timings
    assert t.completion_tokens == 48 and 1 <= t.threads <= engine.n_threads
    assert t.prompt_tokens > 10 and t.completion_tokens > 0
    for f in ("load_ms", "ttft_ms", "prefill_tok_s", "decode_tok_s", "total_ms"):
        assert getattr(t, f) > 0, f
    assert t.total_ms >= t.ttft_ms


def test_max_tokens_stops_with_length(engine):
    c = engine.complete(prompt(engine, "Write a long poem about the sea."), SamplingParams(max_tokens=5, ignore_eos=True))
    assert c.stop_reason == "length" and c.timings.completion_tokens == 5


def test_cancel_mid_answer_keeps_what_was_streamed(engine):
    got = []
    stream = engine.stream(prompt(engine, "Write a very long story about a dragon."), SamplingParams(max_tokens=400, ignore_eos=True))
    for ev in stream:
        if ev.done:
            final = ev
            break
        got.append(ev.text)
        if len(got) == 10:
            threading.Thread(target=engine.cancel).start()
    assert final.stop_reason == "cancelled"
    assert 10 <= final.timings.completion_tokens < 400
    assert "".join(got)
    # the engine is usable again afterwards
    assert engine.complete(prompt(engine, "Say hi."), SamplingParams(max_tokens=8)).text


def test_greedy_is_deterministic_and_seeded_sampling_repeats(engine):
    p = prompt(engine, "Name three colours.")
    a = engine.complete(p, SamplingParams(max_tokens=24)).text
    engine.complete(prompt(engine, "Something else entirely."), SamplingParams(max_tokens=8))
    b = engine.complete(p, SamplingParams(max_tokens=24)).text
    assert a == b
    hot = SamplingParams(max_tokens=24, temperature=1.0, seed=7)
    assert engine.complete(p, hot).text == engine.complete(p, hot).text


def test_second_turn_reuses_the_kv_cache(engine):
    first_q = "Name a colour."
    c1 = engine.complete(prompt(engine, first_q), SamplingParams(max_tokens=24))
    p2 = prompt(engine, "And another one?", history=[Turn(first_q, c1.text.strip())])
    c2 = engine.complete(p2, SamplingParams(max_tokens=24))
    assert c2.timings.cached_tokens > 20
    assert c2.timings.prompt_tokens > c2.timings.cached_tokens


def test_long_conversation_is_trimmed_not_crashed(real_llm_path):
    from edge.llm import Engine

    small = Engine(real_llm_path, n_ctx=384, n_threads=cpu_threads(), n_batch=cpu_n_batch(), checked=True)
    try:
        history = []
        for i in range(8):
            built = small.builder.build(f"Tell me fact number {i} about the ocean.", budget=384 - 64, history=history)
            assert built.n_tokens <= 320
            c = small.complete(built.tokens, SamplingParams(max_tokens=64))
            history = history[built.dropped_turns:] + [Turn(f"Tell me fact number {i} about the ocean.", c.text)]
        assert built.dropped_turns >= 1, "the window filled up and old turns were dropped"
    finally:
        small.close()


def test_every_decode_runs_on_the_one_compute_thread_whichever_thread_asks(engine, monkeypatch):
    """llama.cpp's OpenMP keeps a team of threads for every thread that decoded; two teams alive
    made decode three times slower. Every answer is decoded on edge's one compute thread, even
    while another thread that asked before is still alive; a reader that stops early frees it."""
    seen = []
    inner = engine._stream

    def spy(*a, **kw):
        seen.append(threading.current_thread().name)
        yield from inner(*a, **kw)

    monkeypatch.setattr(engine, "_stream", spy)
    p = prompt(engine, "Say hello.")
    first = SamplingParams(max_tokens=4, ignore_eos=True)
    engine.complete(p, first)
    hold, asked = threading.Event(), threading.Event()

    def other() -> None:
        engine.complete(p, first)
        asked.set()
        hold.wait(30)  # this thread stays alive while the next answer is decoded

    t = threading.Thread(target=other)
    t.start()
    try:
        assert asked.wait(60)
        c = engine.complete(p, first)
        assert c.timings.completion_tokens == 4
    finally:
        hold.set()
        t.join()
    assert seen == ["edge-llama"] * 3
    gen = engine.stream(prompt(engine, "Write a long poem about the sea."), SamplingParams(max_tokens=400, ignore_eos=True))
    assert not next(gen).done
    gen.close()  # stops the decode and gives the engine back
    assert engine.complete(p, SamplingParams(max_tokens=3, ignore_eos=True)).timings.completion_tokens == 3


def test_a_doubtful_first_token_is_noted_and_can_be_overruled(engine):
    """The reader's decline guard: the probability of one token at the first step is reported, and
    below the floor that token is taken out of the running (the rest of the answer is free)."""
    toks = prompt(engine, "Name one colour of the rainbow.")
    plain = engine.complete(toks, SamplingParams(max_tokens=6))
    first = int(engine.llm._input_ids[len(toks)])  # the token greedy decoding chose first
    # noted, never overruled at floor 0: the same answer, and the chosen token's probability is the largest
    seen = engine.complete(toks, SamplingParams(max_tokens=6, decline_token=first))
    assert seen.text == plain.text and 0.0 < seen.decline_p <= 1.0 and plain.decline_p is None
    # a floor above it: another first token, so another answer, and the probability still reported
    over = engine.complete(toks, SamplingParams(max_tokens=6, decline_token=first, decline_below=1.0))
    assert int(engine.llm._input_ids[len(toks)]) != first and over.decline_p == pytest.approx(seen.decline_p)
    # a token greedy did not choose is less likely than the one it did, and is left alone
    other = int(engine.llm._input_ids[len(toks)])
    assert engine.complete(toks, SamplingParams(max_tokens=6, decline_token=other)).decline_p < seen.decline_p
