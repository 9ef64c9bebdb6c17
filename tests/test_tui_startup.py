"""What `edge chat` does before its first screen, and Enter while the model loads, without the models.

The real chat in a terminal, with a real model, is in test_tui.py and test_tui_tmux.py (and timed by
scripts/bench_tui.py --startup-only)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge.assistant import Answer, Assistant
from edge.chats import ChatStore
from edge.config import load_settings
from edge.llm import Event
from edge.timings import Timings
from edge.tui.app import EdgeApp
from edge.tui.screens.chat import ChatScreen
from edge.tui.widgets.message import MessageView
from edge.tui.widgets.prompt import PromptArea

ROOT = Path(__file__).resolve().parent.parent

# Imported only once the first screen is up (the model load, a message drawn, retrieval):
# importing them first delayed the question box.
HEAVY = ["llama_cpp", "numpy", "jinja2", "onnxruntime", "sqlite_vec", "markdown_it", "pygments",
         "edge.llm", "edge.grounding", "edge.rag.embed", "edge.rag.store"]

OPEN_CHAT = """
import asyncio, json, sys
from edge.cli import build_parser
from edge.config import load_settings
from edge.tui.app import EdgeApp

build_parser()  # as `edge chat` does

async def go():
    app = EdgeApp(load_settings(), preload=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.chat.query_one("#prompt").placeholder.startswith("Ask something")
        print(json.dumps([m for m in HEAVY if m in sys.modules]))
        await pilot.press("ctrl+q")

asyncio.run(go())
"""


def test_the_chat_screen_opens_without_the_model_markdown_or_retrieval_imported(tmp_path):
    script = tmp_path / "open_chat.py"
    script.write_text(f"HEAVY = {HEAVY!r}\n" + OPEN_CHAT)
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "EDGE_HOME": str(tmp_path / "home"),
                            "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == []


class FakeEngine:
    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def hold_the_load(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """The chat's model load ("fake-model") waits until `release` is set; `started` says it began."""
    started, release = threading.Event(), threading.Event()

    def held_load(self, model=None):
        started.set()
        if not release.wait(30):
            raise AssertionError("the load was never released")
        self.engine = FakeEngine()
        return self.engine

    monkeypatch.setattr(Assistant, "load", held_load)
    monkeypatch.setattr(ChatScreen, "_model_to_load", lambda self, name: "fake-model")
    return started, release


async def wait_until(pilot, cond, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def test_a_question_sent_while_the_model_loads_is_drawn_at_once_and_answered_after(monkeypatch):
    """The load is held until the question is on screen: the question and the answer's pending
    view are there while it is held, and the answer comes once it is released."""
    started, release = hold_the_load(monkeypatch)

    def fake_stream(self, question, *, rag=None, ignore_eos=False):
        assert self.engine is not None  # answered only once the model is there
        yield Event(text="Loaded ")
        yield Event(text="and answered.")
        t = Timings(prompt_tokens=5, completion_tokens=2, decode_tok_s=50.0)
        self.last = Answer(question, "Loaded and answered.", "fake-model", "base", "eos", t)
        yield Event(done=True, stop_reason="eos", timings=t)

    monkeypatch.setattr(Assistant, "stream", fake_stream)

    async def go():
        app = EdgeApp(load_settings(model="fake-model"))
        async with app.run_test(size=(80, 24)) as pilot:
            chat = app.chat
            await wait_until(pilot, started.is_set, "the load to start")
            area = chat.query_one(PromptArea)
            area.focus()
            area.load_text("Are you there?")
            await pilot.press("enter")
            await pilot.pause()
            views = list(chat.query(MessageView))
            assert [(v.role, v.text) for v in views] == [("user", "Are you there?"), ("assistant", "")]
            assert views[1].pending and chat.answering and app.assistant.engine is None
            assert area.text == ""
            assert "your question is answered when it is ready" in str(chat.query_one("#status").render())
            release.set()
            await wait_until(pilot, lambda: not chat.answering and not views[1].pending, "the answer")
            assert views[1].text == "Loaded and answered." and "decode 50.0 tok/s" in views[1].stats
            await pilot.press("ctrl+q")
        store = ChatStore(app.settings.home / "chats.db")
        assert [(m.role, m.content) for m in store.messages(store.last().id)] == [
            ("user", "Are you there?"), ("assistant", "Loaded and answered.")]

    try:
        asyncio.run(go())
    finally:
        release.set()


def test_esc_while_the_model_loads_stops_the_question_before_it_is_answered(monkeypatch):
    """Esc pressed while the model loads: the engine cannot be cancelled yet (there is none), so
    the chat remembers the stop; once the model is there the question is not answered, the answer
    view says it was stopped, and the chat takes the next question."""
    started, release = hold_the_load(monkeypatch)
    streamed = []

    def fake_stream(self, question, *, rag=None, ignore_eos=False):
        streamed.append(question)
        yield Event(text="An answer.")
        t = Timings(prompt_tokens=5, completion_tokens=2, decode_tok_s=50.0)
        self.last = Answer(question, "An answer.", "fake-model", "base", "eos", t)
        yield Event(done=True, stop_reason="eos", timings=t)

    monkeypatch.setattr(Assistant, "stream", fake_stream)

    async def go():
        app = EdgeApp(load_settings(model="fake-model"))
        async with app.run_test(size=(80, 24)) as pilot:
            chat = app.chat
            await wait_until(pilot, started.is_set, "the load to start")
            area = chat.query_one(PromptArea)
            area.focus()
            area.load_text("Never mind this one")
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("escape")
            await pilot.pause()
            assert "stopped: the question is not answered" in str(chat.query_one("#status").render())
            release.set()
            views = list(chat.query(MessageView))
            await wait_until(pilot, lambda: not chat.answering and not views[1].pending, "the stop")
            assert streamed == [] and views[1].stopped and views[1].text == ""
            # the stop does not carry over to the next question
            area.load_text("And this one?")
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(chat.query(MessageView)) == 4 and not chat.answering
                             and not chat.query(MessageView)[-1].pending, "the second answer")
            assert streamed == ["And this one?"] and chat.query(MessageView)[-1].text == "An answer."
            await pilot.press("ctrl+q")

    try:
        asyncio.run(go())
    finally:
        release.set()
