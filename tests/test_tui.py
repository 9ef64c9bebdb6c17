"""`edge chat`, driven by Textual's Pilot on the real model, in a private EDGE_HOME per test."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.chats import ChatStore
from edge.config import load_settings
from edge.tui.app import EdgeApp
from edge.tui.screens.dialogs import ConversationsScreen, HelpScreen, SettingsScreen, SourcesScreen
from edge.tui.widgets.message import MessageView
from edge.tui.widgets.prompt import PromptArea

pytestmark = pytest.mark.real


async def wait_until(pilot, cond, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def answers(app):
    return [m for m in app.chat.query(MessageView) if m.role == "assistant"]


def finished(app, n=1):
    a = answers(app)
    return len(a) >= n and not a[n - 1].pending and bool(a[n - 1].stats or a[n - 1].error) and not app.chat.answering


async def ask(pilot, text):
    area = pilot.app.chat.query_one(PromptArea)
    area.focus()
    area.load_text(text)
    await pilot.press("enter")


def run(coro):
    asyncio.run(coro)


def test_send_a_question_and_see_the_streamed_answer_which_is_stored(real_home):
    async def go():
        # 64 tokens whatever the model says: enough to be drawn in several pieces
        app = EdgeApp(load_settings(max_tokens=64), ignore_eos=True)
        async with app.run_test(size=(80, 24)) as pilot:
            seen = []  # what the answer's view showed, piece by piece
            real_append, real_set_text = MessageView.append, MessageView.set_text

            async def spy(view, text):
                seen.append((view.text + text, app.chat.answering))
                await real_append(view, text)

            def whole(view, text):
                seen.append(("set_text", text))
                real_set_text(view, text)

            MessageView.append, MessageView.set_text = spy, whole
            try:
                await ask(pilot, "Describe the sea in a few sentences.")
                await wait_until(pilot, lambda: finished(app), what="the answer")
            finally:
                MessageView.append, MessageView.set_text = real_append, real_set_text
            ans = answers(app)[0]
            assert ans.text.strip() and ans.text == app.assistant.last.text
            assert app.assistant.last.timings.completion_tokens == 64
            assert "decode" in ans.stats and "TTFT" in ans.stats and "prompt tok" in ans.stats
            # streamed: drawn in several pieces while answering, each adding to what was shown,
            # never the whole answer parsed again; the first held only the start of the answer
            assert len(seen) >= 2 and all(s[1] is True for s in seen[:-1]), seen
            assert "set_text" not in [s[0] for s in seen], seen
            assert all(ans.text.startswith(s[0]) for s in seen) and len(seen[0][0]) < len(ans.text), seen
            # the Markdown shown is the answer
            from textual.widgets import Markdown

            assert ans.query_one(Markdown).source == ans.text
            # stored as it completed, readable by another connection
            other = ChatStore(real_home / "chats.db")
            msgs = other.messages(other.last().id)
            assert [m.role for m in msgs] == ["user", "assistant"] and msgs[1].content == ans.text and msgs[1].stats == ans.stats
            # the question box: Enter sent it and emptied it; Up brings it back
            area = app.chat.query_one(PromptArea)
            assert area.text == ""
            await pilot.press("up")
            assert area.text == "Describe the sea in a few sentences."
            await pilot.press("down")
            assert area.text == ""
            # multi-line: Ctrl+J makes a new line instead of sending
            await pilot.press("a", "ctrl+j", "b")
            assert area.text == "a\nb" and len(answers(app)) == 1
            # copy the answer
            await pilot.press("ctrl+y")
            assert app.clipboard == ans.text

    run(go())


def test_a_question_sent_while_the_model_loads_is_shown_at_once_and_answered(real_home, monkeypatch):
    """The load is slowed down (as on a busy machine or a slow SD card) so the question surely
    arrives during it: it is shown at once, the status says what is loading and for how long,
    and the answer comes when the model is ready."""
    from edge.assistant import Assistant

    real_load = Assistant.load

    def slow_load(self, model=None):
        if self.engine is None:
            time.sleep(1.5)
        return real_load(self, model)

    monkeypatch.setattr(Assistant, "load", slow_load)

    async def go():
        app = EdgeApp(load_settings(max_tokens=16))
        async with app.run_test(size=(80, 24)) as pilot:
            status = app.chat.query_one("#status")
            await wait_until(pilot, lambda: "loading" in str(status.render()), what="the loading status")
            await ask(pilot, "Are you there?")
            # shown as soon as Enter was handled, with the model still loading
            assert app.chat.model_loading and app.assistant.engine is None
            users = [m for m in app.chat.query(MessageView) if m.role == "user"]
            assert [u.text for u in users] == ["Are you there?"] and answers(app)[0].pending
            first = str(status.render())
            assert "smollm2" in first and "when it is ready" in first
            await pilot.pause(0.3)
            assert str(status.render()) != first  # the seconds count up
            await wait_until(pilot, lambda: finished(app), what="the answer after the load")
            assert answers(app)[0].text.strip() and "decode" in answers(app)[0].stats
            stored = ChatStore(real_home / "chats.db")
            assert [m.role for m in stored.messages(stored.last().id)] == ["user", "assistant"]

    run(go())


def test_escape_stops_an_answer_and_keeps_the_text(real_home):
    async def go():
        app = EdgeApp(load_settings(max_tokens=2000))
        async with app.run_test(size=(80, 24)) as pilot:
            await ask(pilot, "Write a very long story about a dragon who learns to fly. Make it at least 20 paragraphs.")
            await wait_until(pilot, lambda: answers(app) and len(answers(app)[0].text) > 40, what="some streamed text")
            await pilot.press("escape")
            await wait_until(pilot, lambda: finished(app), what="the answer to stop")
            ans = answers(app)[0]
            assert app.assistant.last.stop_reason == "cancelled"
            assert ans.text and app.assistant.last.timings.completion_tokens < 2000
            assert ans.query(".stopped")
            stored = ChatStore(real_home / "chats.db")
            m = stored.messages(stored.last().id)[-1]
            assert m.stopped and m.content == ans.text

    run(go())


def test_toggle_retrieval_and_read_the_sources(sample_home):
    async def go():
        app = EdgeApp(load_settings())  # starts without retrieval
        async with app.run_test(size=(100, 40)) as pilot:
            sw = app.chat.query_one("#rag")
            assert sw.value is False
            await pilot.press("ctrl+r")
            assert sw.value is True and app.chat.rag
            await ask(pilot, "What torque do the battery terminal bolts need?")
            await wait_until(pilot, lambda: finished(app), what="the answer")
            ans = answers(app)[0]
            text = str(ans.query_one(".sources").render())
            assert "[1]" in text and "build/knowledge/" in text and "lines" in text
            assert "+rag" in ans.stats and "retrieval" in ans.stats
            # open the sources and read the chunk the model was given
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, SourcesScreen), what="the sources screen")
            chunk = app.screen.query_one("#chunk").text
            assert chunk and chunk == app.assistant.last.sources[0].text
            await pilot.press("down")
            await pilot.pause()
            if len(app.assistant.last.sources) > 1:
                assert app.screen.query_one("#chunk").text == app.assistant.last.sources[1].text
            await pilot.press("escape")
            # and off again: the next answer has no sources
            await pilot.press("ctrl+r")
            assert sw.value is False
            await ask(pilot, "Thanks!")
            await wait_until(pilot, lambda: finished(app, 2), what="the second answer")
            assert not answers(app)[1].query(".sources") and "+rag" not in answers(app)[1].stats

    run(go())


def test_switch_model_in_settings_and_it_is_remembered(built_home):
    async def go():
        app = EdgeApp(load_settings())
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.assistant.engine is not None and not app.chat.model_loading, what="the model to load")
            # the default is the size the device chooser picked (from the figures it cached while loading)
            from edge.chooser import choose

            assert app.assistant.model_name == choose(app.assistant.store, app.assistant.settings, measure_missing=False).model
            await pilot.press("f3")
            await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="settings")
            from textual.widgets import Input, Select

            app.screen.query_one("#model", Select).value = "smollm2-135m-instruct-base-q4_0"
            app.screen.query_one("#temperature", Input).value = "hot"
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, SettingsScreen)  # refused, with a message
            assert "temperature" in str(app.screen.query_one("#error").render())
            app.screen.query_one("#temperature", Input).value = "0"
            app.screen.query_one("#max_tokens", Input).value = "48"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="settings to close")
            await wait_until(pilot, lambda: app.assistant.model_name == "smollm2-135m-instruct-base-q4_0" and not app.chat.model_loading, what="the switch")
            await ask(pilot, "Say hello.")
            await wait_until(pilot, lambda: finished(app), what="the answer")
            ans = answers(app)[0]
            assert "smollm2-135m-instruct-base-q4_0" in ans.stats and ans.stats.startswith("base ")
            assert app.assistant.last.timings.completion_tokens <= 48
        # remembered for the next run
        s = load_settings()
        assert s.model == "smollm2-135m-instruct-base-q4_0" and s.max_tokens == 48

    run(go())


def test_kill_and_resume_keeps_the_conversation(real_home):
    async def first():
        app = EdgeApp(load_settings(max_tokens=2000))
        async with app.run_test(size=(80, 24)) as pilot:
            await ask(pilot, "My name is Ada. What is the capital of France?")
            await wait_until(pilot, lambda: finished(app), what="the answer")
            # a second question, left unanswered: the app goes away while it is being answered
            app.chat.query_one(PromptArea).load_text("Now write a very long story about a dragon, at least 20 paragraphs.")
            await pilot.press("enter")
            await wait_until(pilot, lambda: len(answers(app)) == 2 and answers(app)[1].text, what="the second answer to start")
            return answers(app)[0].text

    async def second(cid, first_answer):
        app = EdgeApp(load_settings(), conversation=cid)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            views = list(app.chat.query(MessageView))
            assert [v.role for v in views][:3] == ["user", "assistant", "user"]
            assert views[1].text == first_answer and views[1].stats
            n = len(answers(app))
            # the finished exchange is the model's history again; the interrupted one only if its
            # stopped answer was written before the app went away
            assert app.assistant.history[0].user == "My name is Ada. What is the capital of France?"
            assert len(app.assistant.history) == n and (n == 1 or views[3].stopped)
            await ask(pilot, "What is my name?")
            await wait_until(pilot, lambda: finished(app, n + 1), what="the answer")
            assert app.assistant.last.timings.prompt_tokens > 40  # the history went into the prompt
            assert app.chat.sub_title.startswith("My name is Ada")

    first_answer = None

    async def both():
        nonlocal first_answer
        first_answer = await first()
        store = ChatStore(real_home / "chats.db")
        cid = store.last().id
        assert [m.role for m in store.messages(cid)][:3] == ["user", "assistant", "user"]
        await second(cid, first_answer)

    run(both())


def test_conversations_can_be_listed_renamed_deleted_and_opened(real_home):
    from edge.chats import Message

    store = ChatStore(real_home / "chats.db")
    a = store.create("about batteries", now=1.0)
    store.add(a, Message("user", "about batteries"), now=1.0)
    store.add(a, Message("assistant", "They are 12 V."), now=1.0)
    b = store.create("about fuses", now=2.0)
    store.add(b, Message("user", "about fuses"), now=2.0)

    async def go():
        app = EdgeApp(load_settings(), preload=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f2")
            await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="the list")
            from textual.widgets import Input, OptionList

            ol = app.screen.query_one(OptionList)
            assert ol.option_count == 2
            assert "about fuses" in str(ol.get_option_at_index(0).prompt)  # newest first
            await pilot.press("r")
            await wait_until(pilot, lambda: app.screen.query(Input), what="the rename box")
            app.screen.query_one(Input).value = "Fuses, renamed"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen), what="the list again")
            assert store.get(b).title == "Fuses, renamed"
            await pilot.press("d", "y")
            await wait_until(pilot, lambda: isinstance(app.screen, ConversationsScreen) and app.screen.query_one(OptionList).option_count == 1, what="delete")
            assert [c.id for c in store.list()] == [a]
            await pilot.press("enter")  # open the one left
            await wait_until(pilot, lambda: app.chat.cid == a and len(list(app.chat.query(MessageView))) == 2, what="the conversation")
            assert answers(app)[0].text == "They are 12 V." and app.assistant.history[0].assistant == "They are 12 V."

    run(go())


def test_markup_in_documents_and_answers_is_shown_literally(real_home, embedder, tmp_path):
    from edge.rag import open_retriever
    from edge.rag.store import Index

    docs = tmp_path / "docs"
    docs.mkdir()
    evil = "[bold]Fuse F7[/bold] protects the [@click=app.quit]winch[/] motor; see [link=https://example.com]here[/link]."
    (docs / "[bold]fuses.md").write_text(f"# Fuses [i]and[/i] relays\n\n{evil}\n\nFuse F7 is rated 30 A.\n")
    idx = Index(tmp_path / "evil.db", embedder)
    idx.add([docs])
    idx.close()

    async def go():
        s = load_settings(rag=True, index=str(tmp_path / "evil.db"))
        app = EdgeApp(s, retriever=open_retriever(s))
        async with app.run_test(size=(100, 40)) as pilot:
            await ask(pilot, "Which fuse protects the winch motor? Reply with [bold]x[/bold] first.")
            await wait_until(pilot, lambda: finished(app), what="the answer")
            ans = answers(app)[0]
            src = str(ans.query_one(".sources").render())
            assert "[bold]fuses.md" in src and "Fuses [i]and[/i] relays" in src
            await pilot.press("f4")
            await wait_until(pilot, lambda: isinstance(app.screen, SourcesScreen), what="sources")
            assert evil in app.screen.query_one("#chunk").text
            from textual.widgets import OptionList

            assert "[bold]fuses.md" in str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
            await pilot.press("escape")
            # the user's own text, and a model answer holding markup, are literal too
            user = [m for m in app.chat.query(MessageView) if m.role == "user"][0]
            assert "[bold]x[/bold]" in str(user.query_one(".user-text").render())
            view = MessageView("assistant", pending=True)
            await app.chat.query_one("#messages").mount(view)
            view.finish("stats [bold]x[/bold]", sources=[{"n": 1, "path": "[@click=app.quit]q[/]", "heading": "", "lines": [1, 2], "text": ""}])
            await pilot.pause()
            assert "[@click=app.quit]q[/]" in str(view.query_one(".sources").render())
            assert "[bold]x[/bold]" in str(view.query_one(".stats").render())
            assert app.is_running

    run(go())


def test_help_lists_every_binding_and_the_palette_has_the_actions(real_home):
    from edge.tui.screens.chat import ChatScreen

    async def go():
        app = EdgeApp(load_settings(), preload=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f1")
            await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            text = str(app.screen.query_one("#help-text").render())
            for b in ChatScreen.BINDINGS + list(EdgeApp.BINDINGS):
                assert b.description in text, b.description
            for key in ("F2", "F3", "F4", "Esc", "ctrl+r", "ctrl+y"):
                assert key.lower() in text.lower(), key
            await pilot.press("escape")
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for t in ("New chat", "Conversations", "Settings", "Toggle retrieval", "Show sources", "Copy answer", "Help"):
                assert t in titles

    run(go())


def test_a_store_that_fails_to_write_does_not_take_the_chat_down(real_home):
    import sqlite3

    async def go():
        app = EdgeApp(load_settings())
        async with app.run_test(size=(80, 24)) as pilot:
            def broken(*a, **k):
                raise sqlite3.OperationalError("database or disk is full")

            app.store.add = broken
            await ask(pilot, "Say hello.")
            await wait_until(pilot, lambda: finished(app), what="the answer")
            assert answers(app)[0].text.strip() and app.is_running
            notes = [n.message for n in app._notifications]
            # the user is told (the question's or the answer's failed save, whichever the chat reports)
            assert any("could not save the" in m and "disk is full" in m for m in notes), notes

    run(go())
