"""SVG snapshots of the chat's main screens at 80×24 (pytest-textual-snapshot).

The screens are drawn from stored conversations, not live answers, so they are the same on
every run. After a deliberate change of the UI: `pytest tests/test_tui_snapshots.py --snapshot-update`,
then look at the new SVGs before committing them.
"""

from __future__ import annotations

import time

import pytest

from edge.chats import ChatStore, Message
from edge.config import load_settings
from edge.tui.app import EdgeApp
from edge.tui.widgets.prompt import PromptArea

SOURCES = [
    {"n": 1, "path": "build/knowledge/electrical-battery.md", "heading": "Battery › Terminals", "lines": [12, 24],
     "score": 0.03, "text": "Torque the M8 battery terminal bolts to 9.0 N·m."},
    {"n": 2, "path": "build/knowledge/maintenance-schedule.md", "heading": "Every 100 hours", "lines": [3, 15],
     "score": 0.02, "text": "Check the battery terminals for corrosion."},
]


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.fixture
def stored(real_home, utc):
    s = ChatStore(real_home / "chats.db")
    a = s.create("Battery terminal torque", now=1_790_000_000.0)
    s.add(a, Message("user", "What torque do the battery terminal bolts need?"), now=1_790_000_000.0)
    s.add(a, Message("assistant", "The battery terminal bolts take **9.0 N·m** [1].", model="edge-ft-q8_0", mode="ft+rag", stop_reason="eos",
                     stats="ft+rag · edge-ft-q8_0 · 412 prompt tok · retrieval 9 ms · TTFT 930 ms · prefill 471 tok/s · decode 121.5 tok/s · 14 tok",
                     sources=SOURCES), now=1_790_000_001.0)
    s.add(a, Message("user", "And how often should I check them?"), now=1_790_000_002.0)
    s.add(a, Message("assistant", "Every 100 hours, check the terminals for", model="edge-ft-q8_0", mode="ft", stop_reason="cancelled",
                     stats="ft · edge-ft-q8_0 · 96 prompt tok · TTFT 210 ms · prefill 512 tok/s · decode 125.0 tok/s · 8 tok"), now=1_790_000_003.0)
    b = s.create("Fuses", now=1_780_000_000.0)
    s.add(b, Message("user", "Which fuse protects the winch?"), now=1_780_000_000.0)
    s.close()
    return a


def app_for(conversation=None, **settings):
    settings.setdefault("model", "edge-ft-q8_0")
    return EdgeApp(load_settings(**settings), conversation=conversation, preload=False)


async def steady(pilot):
    for area in pilot.app.query(PromptArea):
        area.cursor_blink = False
    await pilot.pause()


def test_empty_chat(real_home, snap_compare):
    assert snap_compare(app_for(), terminal_size=(80, 24), run_before=steady)


def test_resumed_conversation_with_sources_and_a_stopped_answer(stored, snap_compare):
    assert snap_compare(app_for(stored, rag=True), terminal_size=(80, 24), run_before=steady)


def test_help_screen(real_home, snap_compare):
    async def before(pilot):
        await steady(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_for(), terminal_size=(80, 24), run_before=before)


def test_conversations_screen(stored, snap_compare):
    async def before(pilot):
        await steady(pilot)
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app_for(stored), terminal_size=(80, 24), run_before=before)


def test_sources_screen(stored, snap_compare):
    async def before(pilot):
        await steady(pilot)
        await pilot.press("f4")
        await pilot.pause()

    assert snap_compare(app_for(stored), terminal_size=(80, 24), run_before=before)


def test_settings_screen(real_home, snap_compare):
    async def before(pilot):
        await steady(pilot)
        await pilot.press("f3")
        await pilot.pause()

    assert snap_compare(app_for(model="smollm2-135m-instruct-q4_1"), terminal_size=(80, 24), run_before=before)

