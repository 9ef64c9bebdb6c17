"""The chat screen: the conversation, the question box, and answers streamed from a worker thread.

Every message is stored as it completes (see edge/chats.py). The model loads in a worker when
the screen opens, so the UI never waits on it; answering runs in a thread worker too.
"""

from __future__ import annotations

import asyncio
import threading
import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, LoadingIndicator, Static, Switch

from ...chats import Message, history
from ...errors import EdgeError
from ...safe import line_safe
from ..widgets.message import MessageView
from ..widgets.prompt import PromptArea


class ChatScreen(Screen):
    BINDINGS = [
        Binding("escape", "stop", "Stop", show=True),
        Binding("ctrl+r", "toggle_rag", "Retrieval", show=True),
        Binding("f2", "conversations", "Chats", show=True),
        Binding("f3", "settings", "Settings", show=True),
        Binding("f4", "sources", "Sources", show=True),
        Binding("ctrl+n", "new_chat", "New chat", show=False),
        Binding("ctrl+y", "copy", "Copy answer", show=False, priority=True),  # over the question box's redo
    ]

    def __init__(self, assistant, store, *, rag: bool = False, conversation: int | None = None, preload: bool = True):
        super().__init__()
        self.assistant = assistant
        self.store = store
        self.rag = rag
        self.cid = conversation
        self.preload = preload
        self.answering = False
        self.model_loading = False
        self._model_lock = threading.Lock()

    @property
    def settings(self):
        return self.assistant.settings

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="bar"):
            yield Static("", id="model-label", markup=False)
            yield LoadingIndicator(id="busy")
            yield Label(self._rag_text(), id="rag-label")
            yield Switch(value=self.rag, id="rag", tooltip="Answer from your documents, with sources (Ctrl+R)")
        yield VerticalScroll(id="messages")
        yield Static("", id="status", markup=False)
        yield PromptArea(id="prompt", placeholder="Ask something… Enter sends · Shift+Enter or Ctrl+J new line · Esc stops")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#busy").display = False
        self.query_one(PromptArea).focus()
        if self.cid is not None:
            await self.open_conversation(self.cid)
        self.show_model()
        if self.preload:
            self.load_model()

    # -- status ----------------------------------------------------------------------------------
    def show_model(self) -> None:
        name = self.assistant.model_name or "default model"
        self.query_one("#model-label", Static).update(f"{name} · {self.assistant.mode(self.rag) if self.assistant.artifact else ('rag' if self.rag else 'model only')}")

    def _rag_text(self) -> str:
        return "retrieval: on " if self.rag else "retrieval: off"

    def set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    def set_busy(self, busy: bool) -> None:
        self.query_one("#busy").display = busy

    # -- model -----------------------------------------------------------------------------------
    @work(thread=True, group="model", exclusive=True)
    def load_model(self, name: str | None = None) -> None:
        app = self.app
        self.model_loading = True
        app.call_from_thread(self.set_busy, True)
        app.call_from_thread(self.set_status, f"loading {name or self.assistant.model_name or 'the model'}…")
        try:
            with self._model_lock:
                self.assistant.load(name)
            if name:
                self.settings.model = name
            app.call_from_thread(self.set_status, f"ready: {self.assistant.model_name}")
        except EdgeError as e:
            app.call_from_thread(self.set_status, f"error: {e}")
            app.call_from_thread(self.notify, str(e), title="model", severity="error", markup=False)
        finally:
            self.model_loading = False
            app.call_from_thread(self.set_busy, False)
            app.call_from_thread(self.show_model)

    # -- conversation ----------------------------------------------------------------------------
    async def open_conversation(self, cid: int | None) -> None:
        """Show a stored conversation (or an empty new one when `cid` is None) and make it the
        assistant's history."""
        await self.stop_answer()
        box = self.query_one("#messages", VerticalScroll)
        await box.remove_children()
        self.assistant.reset()
        self.cid = cid
        if cid is None:
            self.sub_title = "new chat"
            return
        conv = self.store.get(cid)
        msgs = self.store.messages(cid)
        views = [MessageView(m.role, m.content, stats=m.stats, stopped=m.stopped, sources=m.sources) for m in msgs]
        if views:
            await box.mount_all(views)
        self.assistant.history = history(msgs)
        self.sub_title = line_safe(conv.title)
        prompt = self.query_one(PromptArea)
        for m in msgs:
            if m.role == "user":
                prompt.remember(m.content)
        box.scroll_end(animate=False)

    def _saved(self, what: str, fn) -> bool:
        """Run a write to the conversation store; a failure (disk full, a locked or damaged file)
        is shown, not raised: the chat goes on, and the message stays on screen to be copied."""
        try:
            fn()
            return True
        except Exception as e:  # noqa: BLE001 - whatever the store raised, the UI must not die of it
            self.notify(f"could not save the {what}: {e}", title="conversation store", severity="error", markup=False)
            return False

    def _store_user(self, question: str) -> None:
        def write() -> None:
            if self.cid is None:
                self.cid = self.store.create(question)
                self.sub_title = line_safe(self.store.get(self.cid).title)
            self.store.add(self.cid, Message("user", question))

        self._saved("question", write)

    def _store_answer(self, cid: int | None, ans, stats: str, sources: list[dict]) -> None:
        if cid is None:  # the question itself could not be saved
            return
        self._saved("answer", lambda: self.store.add(cid, Message(
            "assistant", ans.text, model=ans.model, mode=ans.mode, stop_reason=ans.stop_reason, stats=stats,
            timings=ans.timings.to_dict(), sources=sources)))

    # -- asking ----------------------------------------------------------------------------------
    async def on_prompt_area_submitted(self, event: PromptArea.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.answering:
            self.notify("Still answering: press Esc to stop it first.", severity="warning")
            return
        event.area.remember(question)
        event.area.load_text("")
        self._store_user(question)
        box = self.query_one("#messages", VerticalScroll)
        await box.mount(MessageView("user", question))
        view = MessageView("assistant", pending=True)
        await box.mount(view)
        box.scroll_end(animate=False)
        self.answering = True
        self.answer(question, view, self.cid, self.rag)

    @work(thread=True, group="answer", exclusive=True)
    def answer(self, question: str, view: MessageView, cid: int, rag: bool) -> None:
        from ...cli import stats_line

        app = self.app
        parts: list[str] = []
        last_push = 0.0
        try:
            # held for the whole answer: a model switch waits for it (and stops it first)
            with self._model_lock:
                if self.assistant.engine is None:
                    app.call_from_thread(self.set_status, "loading model…")
                    self.assistant.load()
                    app.call_from_thread(self.show_model)
                if rag and self.assistant.retriever is None:
                    self._open_retriever()
                app.call_from_thread(self.set_status, "retrieving and reading…" if rag else "reading…")
                for ev in self.assistant.stream(question, rag=rag):
                    if ev.done:
                        break
                    parts.append(ev.text)
                    now = time.monotonic()
                    if now - last_push > 0.05:  # batch tokens: at most ~20 UI updates a second
                        last_push = now
                        app.call_from_thread(self._show, view, "".join(parts))
                ans = self.assistant.last
            stats = stats_line(ans)
            sources = ans.to_dict()["sources"]  # what is stored is what is shown
            app.call_from_thread(self._show, view, ans.text)
            app.call_from_thread(self._store_answer, cid, ans, stats, sources)
            app.call_from_thread(self._finish, view, stats, stopped=ans.stop_reason == "cancelled", sources=sources)
            app.call_from_thread(self.set_status, "stopped" if ans.stop_reason == "cancelled" else "")
        except EdgeError as e:
            app.call_from_thread(self._finish, view, "", error=f"error: {e}")
            app.call_from_thread(self.set_status, "")
        finally:
            self.answering = False

    async def stop_answer(self) -> None:
        """Stop the answer in progress and wait until its worker has finished with it."""
        if not self.answering:
            return
        self.assistant.cancel()
        deadline = time.monotonic() + 30
        while self.answering and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _finish(self, view: MessageView, stats: str, **kw) -> None:
        if view.is_attached:
            view.finish(stats, **kw)

    def _show(self, view: MessageView, text: str) -> None:
        if not view.is_attached:
            return
        view.set_text(text)
        self.query_one("#messages", VerticalScroll).scroll_end(animate=False)

    def _open_retriever(self) -> None:
        from ...rag import open_retriever

        self.assistant.retriever = open_retriever(self.settings)

    # -- actions ---------------------------------------------------------------------------------
    def action_stop(self) -> None:
        if self.answering:
            self.assistant.cancel()

    def action_toggle_rag(self) -> None:
        sw = self.query_one("#rag", Switch)
        sw.value = not sw.value

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id != "rag" or event.value == self.rag:
            return
        self.rag = event.value
        self.query_one("#rag-label", Label).update(self._rag_text())
        self.show_model()
        self.notify("Retrieval on: answers come from your documents, with sources." if self.rag else "Retrieval off: the model answers alone.")
        if self.rag and self.assistant.retriever is None:
            self.check_retriever()

    @work(thread=True, group="retriever", exclusive=True)
    def check_retriever(self) -> None:
        try:
            self._open_retriever()
        except EdgeError as e:
            self.app.call_from_thread(self._retrieval_failed, str(e))

    def _retrieval_failed(self, why: str) -> None:
        self.notify(why, title="retrieval", severity="error", markup=False)
        self.query_one("#rag", Switch).value = False

    async def action_new_chat(self) -> None:
        await self.open_conversation(None)
        self.query_one(PromptArea).focus()

    def _last_answer(self) -> MessageView | None:
        answers = [m for m in self.query(MessageView) if m.role == "assistant" and not m.pending]
        return answers[-1] if answers else None

    def action_copy(self) -> None:
        view = self._last_answer()
        if view is None or not view.text:
            self.notify("No answer to copy yet.", severity="warning")
            return
        self.app.copy_to_clipboard(view.text)
        self.notify(f"Copied the last answer ({len(view.text)} characters).")

    def action_sources(self, view: MessageView | None = None) -> None:
        from .dialogs import SourcesScreen

        view = view or next((m for m in reversed(list(self.query(MessageView))) if m.sources), None)
        if view is None:
            self.notify("No answer with sources yet: turn retrieval on (Ctrl+R) and ask.", severity="warning")
            return
        self.app.push_screen(SourcesScreen(view.sources))

    def on_message_view_sources_clicked(self, event: MessageView.SourcesClicked) -> None:
        self.action_sources(event.view)

    def action_conversations(self) -> None:
        from .dialogs import ConversationsScreen

        screen = ConversationsScreen(self.store, self.cid)

        async def done(result) -> None:
            if self.cid in screen.deleted:
                await self.open_conversation(None)
            if result is None:
                return
            what, cid = result
            await self.open_conversation(cid if what == "open" else None)
            self.query_one(PromptArea).focus()

        self.app.push_screen(screen, done)

    def action_settings(self) -> None:
        from ...config import save_settings
        from .dialogs import SettingsScreen

        models, default = self.app.installed_models()
        current = self.assistant.model_name or default

        def done(changes: dict | None) -> None:
            if not changes:
                return
            model = changes.pop("model", None)
            for k, v in changes.items():
                setattr(self.settings, k, v)
            keys = list(changes)
            if model:
                if self.answering:
                    self.assistant.cancel()
                self.settings.model = model
                keys.append("model")
                self.load_model(model)
            path = save_settings(self.settings, keys)
            self.notify(f"Saved {', '.join(keys)} to {path}.", markup=False)

        self.app.push_screen(SettingsScreen(self.settings, models, current), done)
