"""`edge chat`: the Textual app."""

from __future__ import annotations

import os
import sys
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from ..assistant import Assistant
from ..chats import ChatStore, open_chats
from ..config import Settings
from ..safe import line_safe
from .screens.chat import ChatScreen
from .widgets.prompt import NEWLINE_KEYS


def key_name(key: str) -> str:
    """`ctrl+r` -> `Ctrl+R`, `escape` -> `Esc`: how keys are written on a keyboard."""
    names = {"escape": "Esc", "enter": "Enter", "delete": "Delete", "up": "↑", "down": "↓"}
    return "+".join(names.get(p, p.upper() if len(p) == 1 or (p[0] == "f" and p[1:].isdigit()) else p.capitalize()) for p in key.split("+"))


def own_terminal(driver_class: type[Driver]) -> type[Driver]:
    """`driver_class`, drawing through its own copy of the terminal's file descriptor.

    Textual draws on fd 2. While a model loads, llama.cpp's chatter is silenced by pointing fd 2
    at /dev/null (llama-cpp-python does it, and so does edge.llm), process-wide; with the model
    loading in a worker, whatever the UI drew meanwhile was lost until the next full repaint (a
    question sent early showed as blank lines). A duplicate of fd 2 taken when the driver is made
    still points at the terminal."""
    from textual.drivers.linux_driver import LinuxDriver

    if not issubclass(driver_class, LinuxDriver):  # Windows, or a driver chosen through TEXTUAL_DRIVER
        return driver_class

    class OwnTerminalDriver(driver_class):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            err = sys.__stderr__
            if err is not None and getattr(self, "_file", None) is err:
                # left open until the process exits: one descriptor per run of the app
                self._file = os.fdopen(os.dup(err.fileno()), "w", encoding=err.encoding or "utf-8", errors=err.errors or "strict")

    OwnTerminalDriver.__name__ = OwnTerminalDriver.__qualname__ = f"OwnTerminal{driver_class.__name__}"
    return OwnTerminalDriver


SWITCH_INTERVAL_S = 0.0001


class EdgeApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "edge"
    SUB_TITLE = "offline assistant"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("f1", "help", "Help", show=True),
    ]

    def __init__(self, settings: Settings, *, assistant: Assistant | None = None, retriever=None, store: ChatStore | None = None,
                 conversation: int | None = None, preload: bool = True, ignore_eos: bool = False,
                 watch: list[str] | None = None, notices: list[str] | None = None):
        super().__init__()
        self.notices = list(notices or [])  # one-line warnings to show once the chat is open
        self.watch_paths = list(watch or [])  # folders kept indexed in the background while the chat runs
        self.watcher = None
        self.settings = settings
        self.assistant = assistant or Assistant(settings, retriever=retriever)
        self.store = store or open_chats(settings)
        self.conversation = conversation
        self.preload = preload
        self.ignore_eos = ignore_eos  # benchmarking only (`edge chat --ignore-eos`)

    def get_driver_class(self) -> type[Driver]:
        return own_terminal(super().get_driver_class())

    def on_mount(self) -> None:
        # The decode loop (a worker thread) takes the GIL back after each of its several calls
        # into llama.cpp per token; while the UI thread draws, each such wait lasted up to the
        # switch interval (5 ms by default), on a token that takes ~8 ms. 0.1 ms bounds it.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # A 16-colour terminal (the Linux console, TERM=linux) gets a theme made of its own colours
        # rather than true colours rounded to the nearest of sixteen.
        if self.console.color_system in ("standard", "windows"):
            self.theme = "ansi-dark"
        chat = ChatScreen(self.assistant, self.store, rag=self.settings.rag, conversation=self.conversation, preload=self.preload,
                          ignore_eos=self.ignore_eos, watching=bool(self.watch_paths))
        self.push_screen(chat)
        for line in self.notices:
            chat.notify(line_safe(line), severity="warning", markup=False, timeout=10)
        if self.watch_paths:
            self.start_watcher(chat)

    def start_watcher(self, chat: ChatScreen) -> None:
        """Keep the index in step with the watched folders from a background thread: the same
        loop as `edge index watch`, on its own connection to the index (edge/rag/watch.py)."""
        from ..rag.watch import Watcher

        def post(message) -> None:
            try:
                chat.post_message(message)
            except RuntimeError:  # the app's event loop has closed: the chat is gone
                pass

        self.watcher = Watcher(self.settings, self.watch_paths,
                               on_action=lambda a, f: post(ChatScreen.IndexChanged(a, f)),
                               on_end=lambda why: post(ChatScreen.WatchEnded(why, self.watcher.freshness)))
        self.watcher.start()

    def on_unmount(self) -> None:
        self.assistant.cancel()
        if self.watcher is not None:
            # between two files, or two batches of a large file's embeddings: nothing is half-written
            self.watcher.stop()
        sys.setswitchinterval(self._switch_interval)

    async def action_quit(self) -> None:
        """Quit; an answer being written is stopped first, so it is stored (marked stopped)."""
        if self.chat is not None:
            await self.chat.stop_answer()
        self.exit()

    @property
    def chat(self) -> ChatScreen | None:
        for s in reversed(self.screen_stack):
            if isinstance(s, ChatScreen):
                return s
        return None

    def installed_models(self) -> tuple[list[tuple[str, str]], str]:
        """(name, label) of every language model on disk, and the name of the default one."""
        from ..errors import EdgeError

        st = self.assistant.store
        out = []
        for a in st.artifacts():
            if a.kind == "llm" and st.path(a).is_file():
                kind = {"ft": "fine-tuned", "knowledge": "knowledge adapter", "base": "base"}.get(a.role, a.source)
                out.append((a.name, f"{a.name} ({kind})"))
        try:
            default = st.default_llm(self.settings.quant).name
        except EdgeError:
            default = out[0][0] if out else ""
        return out, default

    # -- help and the command palette -------------------------------------------------------------
    def binding_rows(self) -> list[tuple[str, str, str]]:
        """(where, key, what) for every binding of the app and the chat, read from the bindings."""
        from .screens.dialogs import ConversationsScreen, SettingsScreen, SourcesScreen

        rows = []

        def add(where: str, bindings) -> None:
            for b in bindings:
                b = b if isinstance(b, Binding) else Binding(*b)
                for key in b.key.split(","):
                    rows.append((where, key_name(key.strip()), b.description))

        add("Everywhere", list(self.BINDINGS) + [Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette: every action by name")])
        add("Chat", ChatScreen.BINDINGS)
        rows.append(("Question box", "Enter", "Send"))
        rows.append(("Question box", " / ".join(key_name(k) for k in NEWLINE_KEYS), "New line"))
        rows.append(("Question box", "↑ / ↓", "Earlier / later questions (on the first / last line)"))
        add("Conversations (F2)", ConversationsScreen.BINDINGS)
        add("Settings (F3)", SettingsScreen.BINDINGS)
        add("Sources (F4)", SourcesScreen.BINDINGS)
        return rows

    def action_help(self) -> None:
        from .screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_rows()))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        chat = self.chat
        if chat is None:
            return
        yield SystemCommand("New chat", "Start a new conversation (Ctrl+N)", chat.action_new_chat)
        yield SystemCommand("Conversations", "Resume, rename or delete a stored conversation (F2)", chat.action_conversations)
        yield SystemCommand("Settings", "Model, system prompt, temperature, max tokens (F3)", chat.action_settings)
        yield SystemCommand("Toggle retrieval", "Answer from your documents with sources, or from the model alone (Ctrl+R)", chat.action_toggle_rag)
        yield SystemCommand("Show sources", "Read the chunks the last answer was given (F4)", chat.action_sources)
        yield SystemCommand("Copy answer", "Copy the last answer to the clipboard (Ctrl+Y)", chat.action_copy)
        yield SystemCommand("Stop answer", "Stop the answer being written (Esc)", chat.action_stop)
        yield SystemCommand("Help", "Every key binding (F1)", self.action_help)


def watch_paths(settings: Settings, given: list[str] | None) -> tuple[list[str], list[str]]:
    """The paths the chat watches and the notices to show about the others. `given` (from
    `--watch`) must all exist, as `edge index watch` asks: a folder named now and mistyped is
    said at once (UsageError), not found out later from answers that never cite it. Without it
    the `watch` setting's are used, and a missing one is a notice: a remembered folder may be on
    a drive that is not plugged in today, and the chat opens anyway."""
    from ..errors import UsageError
    from ..rag.watch import missing_paths

    if given is not None:
        missing = missing_paths(given)
        if missing:
            raise UsageError(f"cannot watch {missing[0]}: no such file or folder"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return list(given), []
    missing = missing_paths(settings.watch)
    return ([p for p in settings.watch if p not in missing],
            [f"not watching {p}: no such file or folder (from the watch setting)" for p in missing])


def run_chat(settings: Settings, *, resume: str | None = None, ignore_eos: bool = False, watch: list[str] | None = None) -> int:
    """Open the chat. `resume`: None for a new conversation, "last", or a conversation id.
    `ignore_eos` (benchmarking): every answer is exactly `max_tokens` long. `watch`: folders or
    files to keep indexed while the chat runs (`edge chat --watch`); None: the `watch` setting's."""
    from ..errors import UsageError
    from ..models import ModelStore

    watch, notices = watch_paths(settings, watch)
    # Fail before the screen opens if the model is missing: a clear line beats an empty UI.
    ModelStore(settings.home).resolve_llm(settings.model, quant=settings.quant)
    if watch:
        from ..rag.embed import EMBEDDER_MODEL, EMBEDDER_TOKENIZER

        for name in (EMBEDDER_MODEL, EMBEDDER_TOKENIZER):  # the watcher indexes with it
            ModelStore(settings.home).require(name)
    store = open_chats(settings)
    conversation = None
    if resume == "last":
        last = store.last()
        if last is None:
            raise UsageError("there is no conversation to resume yet: start one with `edge chat`")
        conversation = last.id
    elif resume is not None:
        if not str(resume).isdigit():
            raise UsageError(f"--resume takes a conversation id (see `edge chats list`), not {resume!r}")
        conversation = store.get(int(resume)).id
    if settings.rag and not watch:
        # No index, or an empty one: one clear line before the screen opens (while watching, the
        # first sync fills it, and the chat checks it then). The embedder (onnxruntime, a few
        # hundred ms) loads in the background once the chat is up.
        from ..rag import open_index

        idx = open_index(settings, create=False, embedder=False)
        try:
            if idx.n_chunks() == 0:
                raise UsageError(f"the index {idx.path} is empty: run `edge index add PATH` (or `edge index add --sample`)")
        finally:
            idx.close()
    EdgeApp(settings, store=store, conversation=conversation, ignore_eos=ignore_eos, watch=watch, notices=notices).run()
    return 0
