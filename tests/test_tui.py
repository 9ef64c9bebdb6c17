"""The chat screen, driven by Textual's Pilot on the real model."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.config import load_settings
from edge.tui.app import EdgeApp
from edge.tui.widgets.message import MessageView

pytestmark = pytest.mark.real


async def wait_until(pilot, cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def answers(app):
    return [m for m in app.screen.query(MessageView) if m.role == "assistant"]


async def ask(pilot, text):
    inp = pilot.app.screen.query_one("#prompt")
    inp.value = text
    await pilot.press("enter")


def test_send_a_question_and_see_the_streamed_answer(real_home):
    async def run():
        app = EdgeApp(load_settings())
        async with app.run_test(size=(80, 24)) as pilot:
            await ask(pilot, "What is the capital of France?")
            await wait_until(pilot, lambda: answers(app) and "decode" in str(answers(app)[0].query_one(".stats").render()), what="answer stats")
            ans = answers(app)[0]
            assert "Paris" in ans.text
            assert not app.screen.answering

    asyncio.run(run())


def test_escape_stops_an_answer_and_keeps_the_text(real_home):
    async def run():
        s = load_settings(max_tokens=2000)
        app = EdgeApp(s)
        async with app.run_test(size=(80, 24)) as pilot:
            await ask(pilot, "Write a very long story about a dragon who learns to fly. Make it at least 20 paragraphs.")
            await wait_until(pilot, lambda: answers(app) and len(answers(app)[0].text) > 40, what="some streamed text")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not app.screen.answering, what="the answer to stop")
            ans = answers(app)[0]
            assert app.assistant.last.stop_reason == "cancelled"
            assert ans.text and app.assistant.last.timings.completion_tokens < 2000
            assert ans.query(".stopped")

    asyncio.run(run())


def test_retrieval_answers_list_their_sources(sample_home):
    from edge.rag import open_retriever

    async def run():
        s = load_settings(rag=True)
        app = EdgeApp(s, retriever=open_retriever(s))
        async with app.run_test(size=(100, 40)) as pilot:
            await ask(pilot, "What torque do the battery terminal bolts need?")
            await wait_until(pilot, lambda: answers(app) and answers(app)[0].query(".sources"), what="sources")
            text = str(answers(app)[0].query_one(".sources").render())
            assert "[1]" in text and "build/knowledge/" in text and "lines" in text

    asyncio.run(run())


def test_markup_in_documents_and_answers_is_shown_literally(real_home):
    from edge.tui.widgets.message import MessageView

    async def run():
        app = EdgeApp(load_settings())
        async with app.run_test(size=(80, 24)) as pilot:
            view = MessageView("assistant", pending=True)
            await app.screen.query_one("#messages").mount(view)
            view.finish("stats [bold]x[/bold]", sources=["doc.md, lines 1-2, [@click=app.quit]Quit[/]"])
            await pilot.pause()
            src = str(view.query_one(".sources").render())
            assert "[@click=app.quit]Quit[/]" in src
            assert "[bold]x[/bold]" in str(view.query_one(".stats").render())
            user = MessageView("user", "[red]not red[/red]")
            await app.screen.query_one("#messages").mount(user)
            await pilot.pause()
            assert "[red]not red[/red]" in str(user.query_one(".user-text").render())

    asyncio.run(run())
