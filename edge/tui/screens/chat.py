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
from textual.message import Message as UIMessage
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, LoadingIndicator, Static, Switch

from ...chats import Message, history
from ...errors import EdgeError, EmptyIndex
from ...present import stats_line
from ...safe import line_safe
from ..widgets.message import MessageView
from ..widgets.prompt import PromptArea

# How often a streamed answer is drawn: tokens arriving within this window are drawn together,
# so drawing costs the same at 20 or 200 tokens/s. Every draw relays out the screen in Python
# (tens of ms on a slow core), time taken from llama.cpp's threads and from the decode loop,
# which needs the GIL between its calls into llama.cpp: drawn every 40 ms, the chat decoded at
# 0.65 of `edge ask`'s speed in a run here; every 100 ms (10 updates a second, still fluent to
# read) with the shorter GIL switch interval of edge/tui/app.py, 0.85 (scripts/bench_tui.py).
FLUSH_S = 0.1
# Index changes arriving within this window (a `git checkout`, a folder copied in) make one notice.
NOTICE_S = 0.5


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

    class IndexChanged(UIMessage):
        """The folder watcher did something to the index (posted from its thread)."""

        def __init__(self, action, freshness) -> None:
            super().__init__()
            self.action, self.freshness = action, freshness

    class WatchEnded(UIMessage):
        """The folder watcher ended by itself: `reason` is one line."""

        def __init__(self, reason: str, freshness) -> None:
            super().__init__()
            self.reason, self.freshness = reason, freshness

    def __init__(self, assistant, store, *, rag: bool = False, conversation: int | None = None, preload: bool = True,
                 ignore_eos: bool = False, watching: bool = False):
        super().__init__()
        self.watching = watching  # a folder watcher runs (`edge chat --watch`): the status line shows the index's freshness
        self.freshness = None  # the watcher's last edge.rag.watch.Freshness
        self._notices: list = []  # index actions waiting to be shown as one notice
        self._sync_failures: list = []
        self.ignore_eos = ignore_eos  # benchmarking only: every answer is max_tokens long
        self.assistant = assistant
        self.store = store
        self.rag = rag
        self.cid = conversation
        self.preload = preload
        self.answering = False
        self.model_loading = False
        self._model_lock = threading.Lock()
        # Esc (or a new chat) for the answer in progress: the engine's own cancel does nothing while
        # the model is still loading, so the worker also checks this before and while it streams
        self._stop_requested = threading.Event()
        self._load_timer = None
        self._tick_loading = None  # redraws the loading status (while `_load_timer` runs)
        self._loading_name: str | None = None  # the model `_loading` shows, known before it is loaded
        self._retriever_lock = threading.Lock()
        # the answer being streamed: the worker appends pieces, the UI takes them every FLUSH_S
        self._pieces: list[str] = []
        self._streaming: MessageView | None = None
        self._flush_timer = None
        self._flush_lock = asyncio.Lock()

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
        if self.watching:
            with Horizontal(id="status-row"):
                yield Static("", id="status", markup=False)
                yield Static("index: opening…", id="index-status", markup=False)
        else:
            yield Static("", id="status", markup=False)
        yield PromptArea(id="prompt", placeholder="Ask something… Enter sends · Shift+Enter or Ctrl+J new line · Esc stops")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#busy").display = False
        self.query_one(PromptArea).focus()
        if self.cid is not None:
            await self.open_conversation(self.cid)
        self.show_model()
        if self.watching:
            self.set_interval(0.5, self._show_freshness)  # "updated 3 s ago" keeps counting
        if self.preload:
            # Once the screen is drawn, not before: the load starts by importing llama.cpp's bindings
            # (numpy, jinja2: ~100 ms of Python, holding the GIL), which delayed the first frame.
            self.call_after_refresh(self._preload)

    def _preload(self) -> None:
        self.load_model(warm_up=True)
        # while watching, the index is checked once the first sync has filled it
        if self.rag and self.assistant.retriever is None and not self.watching:
            self.check_retriever()

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

    # -- the index's freshness (edge chat --watch) ------------------------------------------------
    def _show_freshness(self) -> None:
        if self.freshness is not None:
            self.query_one("#index-status", Static).update(line_safe(self.freshness.line()))

    def on_chat_screen_index_changed(self, event: IndexChanged) -> None:
        syncing = bool(self.freshness is None or self.freshness.syncing)
        self.freshness = event.freshness
        self._show_freshness()
        a = event.action
        if a.action == "lost":
            self.notify(line_safe(f"watched folder {_short(a.path)} was deleted: no longer watching it"), title="index",
                        severity="warning", markup=False)
        elif a.action == "ready":
            failed = [f for f in self._sync_failures if f.path.startswith(a.path)]
            self._sync_failures = [f for f in self._sync_failures if f not in failed]
            line = f"watching {_short(a.path)} ({a.reason})"
            if failed:
                line += f"; {len(failed)} file(s) could not be indexed, e.g. {_short(failed[0].path)}: {failed[0].reason}"
            self.notify(line_safe(line), title="index", severity="warning" if failed else "information", markup=False)
            if not self.freshness.syncing and self.rag and self.assistant.retriever is None:
                self.check_retriever()
        elif syncing:
            # the first sync of a folder: one notice when it is done, not one per file
            if a.action == "failed":
                self._sync_failures.append(a)
        else:
            if not self._notices:
                self.set_timer(NOTICE_S, self._show_notices)
            self._notices.append(a)

    def _show_notices(self) -> None:
        """One line for the index changes of the last NOTICE_S: the file's, or counts."""
        acts, self._notices = self._notices, []
        if not acts:
            return
        failed = [a for a in acts if a.action == "failed"]
        if len(acts) == 1:
            a = acts[0]
            chunks = f" ({a.chunks} chunk{'' if a.chunks == 1 else 's'})" if a.action in ("added", "updated") else ""
            line = f"{a.action} {_short(a.path)}{chunks}" + (f": {a.reason}" if a.reason else "")
        else:
            counts: dict[str, int] = {}
            for a in acts:
                counts[a.action] = counts.get(a.action, 0) + 1
            # "3 files updated, 1 removed, 1 failed"
            line = ", ".join(f"{n} file{'' if n == 1 else 's'} {what}" if i == 0 else f"{n} {what}"
                             for i, (what, n) in enumerate(counts.items()))
            if failed:
                line += f"; e.g. {_short(failed[0].path)}: {failed[0].reason}"
        self.notify(line_safe(line), title="index", severity="warning" if failed else "information", markup=False)

    def on_chat_screen_watch_ended(self, event: WatchEnded) -> None:
        self.freshness = event.freshness
        self._show_freshness()
        if event.reason:  # (none when every folder was deleted: each said so already)
            self.notify(line_safe(event.reason), title="index", severity="error", markup=False, timeout=10)

    # -- model -----------------------------------------------------------------------------------
    @work(thread=True, group="model", exclusive=True)
    def load_model(self, name: str | None = None, *, warm_up: bool = False) -> None:
        app = self.app
        self.model_loading = True
        try:
            if warm_up:
                # what showing a question needs (the Markdown widget), before the model: a question
                # sent while the model loads is then drawn without importing anything
                from ..widgets.message import warm_up as warm_up_messages

                warm_up_messages()
            app.call_from_thread(self._loading, self._model_to_load(name))
            with self._model_lock:
                t0 = time.monotonic()
                self.assistant.load(name)
                took = time.monotonic() - t0
            if name:
                self.settings.model = name
            app.call_from_thread(self._loaded, f"ready: {self.assistant.model_name} (loaded in {took:.1f} s)")
        except EdgeError as e:
            app.call_from_thread(self._loaded, f"error: {e}")
            app.call_from_thread(self.notify, str(e), title="model", severity="error", markup=False)
        finally:
            self.model_loading = False
            app.call_from_thread(self.show_model)

    def _model_to_load(self, name: str | None) -> str:
        """The name of the model `assistant.load(name)` loads (the default one when no name)."""
        art, _ = self.assistant.store.resolve_llm(name or self.settings.model, quant=self.settings.quant)
        return art.name

    def _loading(self, name: str) -> None:
        """Show that `name` is loading and for how long, ticking until `_loaded`."""
        self.set_busy(True)
        self._loading_name = name
        t0 = time.monotonic()

        def tick() -> None:
            waiting = ""
            if self.answering:
                waiting = (" · stopped: the question is not answered" if self._stop_requested.is_set()
                           else " · your question is answered when it is ready")
            self.set_status(f"loading {name}… {time.monotonic() - t0:.1f} s{waiting}")

        tick()
        if self._load_timer is not None:
            self._load_timer.stop()
        self._tick_loading = tick
        self._load_timer = self.set_interval(0.1, tick)

    def _loaded(self, status: str) -> None:
        if self._load_timer is not None:
            self._load_timer.stop()
            self._load_timer = None
            self._tick_loading = None
        self.set_busy(False)
        if not self.answering or status.startswith("error"):
            self.set_status(status)

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
        self._stop_requested.clear()
        self.answering = True  # from now on: a second Enter is refused, Esc stops this answer
        # The question is drawn first, alone: storing it and mounting the answer's view (the
        # Markdown widget) wait for the next frame, so what Enter shows costs as little as it can.
        box = self.query_one("#messages", VerticalScroll)
        await box.mount(MessageView("user", question))
        box.scroll_end(animate=False)
        box.anchor()  # follows the answer as it grows, with no scrolling call per update
        if self.model_loading:
            name = self._loading_name or self.assistant.model_name or "the model"
            self.set_status(f"loading {name}… · your question is answered when it is ready")
        self.call_after_refresh(self._ask, question)

    async def _ask(self, question: str) -> None:
        """Store the question shown by `on_prompt_area_submitted` and start answering it."""
        self._store_user(question)
        box = self.query_one("#messages", VerticalScroll)
        view = MessageView("assistant", pending=True)
        await box.mount(view)
        self._pieces = []
        self._streaming = view
        self._flush_timer = self.set_interval(FLUSH_S, self._flush)
        self.answer(question, view, self.cid, self.rag, self._pieces)

    @work(thread=True, group="answer", exclusive=True)
    def answer(self, question: str, view: MessageView, cid: int, rag: bool, pieces: list[str]) -> None:
        """Answer in a thread. Tokens go into `pieces` and nothing else happens per token: the
        decode loop never waits for the UI (`_flush` draws them at a bounded rate)."""
        app = self.app
        try:
            # held for the whole answer: a model switch waits for it (and stops it first)
            with self._model_lock:
                if self.assistant.engine is None:
                    app.call_from_thread(self._loading, self._model_to_load(None))
                    try:
                        self.assistant.load()
                    finally:
                        app.call_from_thread(self._loaded, "")
                        app.call_from_thread(self.show_model)
                if self._stop_requested.is_set():  # stopped while the model loaded: nothing to answer
                    app.call_from_thread(self._end_stream, view, None)
                    app.call_from_thread(self._finish, view, "", stopped=True)
                    app.call_from_thread(self.set_status, "stopped before the answer began")
                    return
                if rag and self.assistant.retriever is None:
                    self._open_retriever()
                app.call_from_thread(self.set_status, "retrieving and reading…" if rag else "reading…")
                stop = self._stop_requested
                for ev in self.assistant.stream(question, rag=rag, ignore_eos=self.ignore_eos):
                    if ev.done:
                        break
                    pieces.append(ev.text)  # list.append is atomic: no lock, no call into the UI
                    if stop.is_set():  # a stop that came between the load and the engine's start
                        self.assistant.cancel()
                ans = self.assistant.last
            stats = stats_line(ans)
            sources = ans.to_dict()["sources"]  # what is stored is what is shown
            app.call_from_thread(self._end_stream, view, ans.text)
            app.call_from_thread(self._store_answer, cid, ans, stats, sources)
            app.call_from_thread(self._finish, view, stats, stopped=ans.stop_reason == "cancelled", sources=sources)
            app.call_from_thread(self.set_status, "stopped" if ans.stop_reason == "cancelled" else "")
        except EdgeError as e:
            app.call_from_thread(self._end_stream, view, None)
            app.call_from_thread(self._finish, view, "", error=f"error: {e}")
            app.call_from_thread(self.set_status, "")
        finally:
            self.answering = False

    async def _flush(self) -> None:
        """Draw the pieces that arrived since the last flush, as one append."""
        async with self._flush_lock:
            pieces, view = self._pieces, self._streaming
            n = len(pieces)
            if not n or view is None:
                return
            text = "".join(pieces[:n])
            del pieces[:n]  # the worker only appends at the end: the first n are ours
            if view.is_attached:
                await view.append(text)

    async def _end_stream(self, view: MessageView, text: str | None) -> None:
        """The answer is complete: draw what is left and stop the flushing."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        await self._flush()
        self._streaming = None
        if view.is_attached:
            await view.end_stream()
            if text is not None and view.text != text:  # e.g. a piece held back by the UTF-8 decoder
                view.set_text(text)

    async def stop_answer(self) -> None:
        """Stop the answer in progress and wait until its worker has finished with it."""
        if not self.answering:
            return
        self._request_stop()
        deadline = time.monotonic() + 30
        while self.answering and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def _finish(self, view: MessageView, stats: str, **kw) -> None:
        if view.is_attached:
            view.finish(stats, **kw)

    def _open_retriever(self) -> None:
        from ...rag import open_retriever

        with self._retriever_lock:  # opened once, by whichever worker needs it first
            if self.assistant.retriever is None:
                try:
                    self.assistant.retriever = open_retriever(self.settings)
                except EmptyIndex as e:
                    f = self.freshness
                    if f is not None and f.syncing:  # "run edge index add" would mislead: the watcher is adding them
                        raise EmptyIndex("nothing is indexed yet: the watched folders are still being read "
                                         "(see the index line); ask again in a moment, or turn retrieval off") from e
                    raise

    # -- actions ---------------------------------------------------------------------------------
    def _request_stop(self) -> None:
        self._stop_requested.set()
        self.assistant.cancel()

    def action_stop(self) -> None:
        if self.answering:
            self._request_stop()
            if self._tick_loading is not None:  # the model is loading: say now that the question is dropped
                self._tick_loading()

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


def _short(path: str) -> str:
    """A path as a person reads it: ~ for the home folder."""
    import os

    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and (path == home or path.startswith(home + os.sep)) else path
