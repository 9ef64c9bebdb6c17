"""The chat screen: the conversation, an input, and answers streamed from a worker thread."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from ...errors import EdgeError
from ..widgets.message import MessageView


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop answer", show=True),
        Binding("ctrl+l", "clear", "New chat", show=True),
    ]

    def __init__(self, assistant, *, rag: bool = False):
        super().__init__()
        self.assistant = assistant
        self.rag = rag
        self.answering = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield VerticalScroll(id="messages")
        yield Static("", id="status", markup=False)
        yield Input(placeholder="Ask something… (Enter to send, Esc to stop)", id="prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()
        self.set_status(f"model: {self.assistant.settings.model or 'default'} · mode: {'retrieval' if self.rag else 'model only'}")

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.answering:
            self.notify("Still answering: press Esc to stop it first.", severity="warning")
            return
        event.input.value = ""
        messages = self.query_one("#messages", VerticalScroll)
        await messages.mount(MessageView("user", question))
        answer = MessageView("assistant", pending=True)
        await messages.mount(answer)
        messages.scroll_end(animate=False)
        self.answering = True
        self.answer(question, answer)

    @work(thread=True, group="answer", exclusive=True)
    def answer(self, question: str, view: MessageView) -> None:
        from ...cli import stats_line

        app = self.app
        parts: list[str] = []
        last_push = 0.0
        try:
            if self.assistant.engine is None:
                app.call_from_thread(self.set_status, "loading model…")
            for ev in self.assistant.stream(question, rag=self.rag):
                if ev.done:
                    break
                parts.append(ev.text)
                now = time.monotonic()
                if now - last_push > 0.05:  # batch tokens: at most ~20 UI updates a second
                    last_push = now
                    app.call_from_thread(self._show, view, "".join(parts))
            ans = self.assistant.last
            app.call_from_thread(self._show, view, "".join(parts))
            app.call_from_thread(view.finish, stats_line(ans), stopped=ans.stop_reason == "cancelled", sources=[p.label() for p in ans.sources])
            app.call_from_thread(self.set_status, f"model: {ans.model} · mode: {ans.mode}")
        except EdgeError as e:
            app.call_from_thread(view.finish, "", error=f"error: {e}")
        finally:
            self.answering = False

    def _show(self, view: MessageView, text: str) -> None:
        view.set_text(text)
        self.query_one("#messages", VerticalScroll).scroll_end(animate=False)

    def action_stop(self) -> None:
        if self.answering:
            self.assistant.cancel()

    async def action_clear(self) -> None:
        if self.answering:
            self.assistant.cancel()
        self.assistant.reset()
        await self.query_one("#messages", VerticalScroll).remove_children()
