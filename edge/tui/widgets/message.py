"""One message of the conversation: who said it, the text (Markdown for answers) and its cost."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import LoadingIndicator, Static

from ...safe import line_safe, terminal_safe


def _markdown():
    """Textual's Markdown widget, imported when first needed: with markdown-it and pygments it is
    ~30 ms of imports that `edge chat` need not pay before its first screen (the chat warms it up
    in the background once that screen is drawn, see `warm_up`)."""
    from textual.widgets import Markdown

    return Markdown


def warm_up() -> None:
    """Import what drawing a message needs, so the first question sent does not wait for it."""
    _markdown()


def source_label(s: dict) -> str:
    """Where a person finds a stored source (see assistant.source_dict): its `label` — the page,
    the lines or, for HTML, Word and EPUB, the chapter and paragraphs — else, for a source stored
    before labels were kept, `path › heading, [page n, ]lines a-b`."""
    if s.get("label"):
        return line_safe(s["label"])  # a file name can hold escape codes too
    a, b = (s.get("lines") or [0, 0])[:2]
    head = f" › {s['heading']}" if s.get("heading") else ""
    page = f", page {s['page']}" if s.get("page") else ""
    return line_safe(f"{s.get('path', '?')}{head}{page}, lines {a}-{b}")  # a file name can hold escape codes too


class MessageView(Vertical):
    """A chat message. Text is never parsed as Rich/Textual markup: it is untrusted. Markdown
    bodies go through the Markdown widget, which renders Markdown and nothing else."""

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView .role { text-style: bold; color: $accent; height: 1; }
    MessageView.user .role { color: $success; }
    MessageView .user-text { height: auto; }
    MessageView Markdown { margin: 0; padding: 0; height: auto; }
    MessageView .stats { color: $text-muted; height: auto; }
    MessageView .stopped { color: $warning; height: 1; }
    MessageView .sources { color: $text-muted; height: auto; }
    MessageView .sources:hover { color: $text; }
    MessageView LoadingIndicator { height: 1; }
    """

    @dataclass
    class SourcesClicked(Message):
        view: "MessageView"

    def __init__(self, role: str, text: str = "", *, pending: bool = False, stats: str = "", stopped: bool = False,
                 sources: list[dict] | None = None, error: str = ""):
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self.pending = pending
        self.stats = stats
        self.stopped = stopped
        self.sources: list[dict] = list(sources or [])
        self.error = error
        self._stream = None  # Textual's MarkdownStream while an answer streams in

    def compose(self) -> ComposeResult:
        yield Static("You" if self.role == "user" else "edge", classes="role", markup=False)
        if self.role == "user":
            yield Static(terminal_safe(self.text), classes="user-text", markup=False)
            return
        yield _markdown()(terminal_safe(self.text))  # an answer can echo a document's escape codes
        if self.pending:
            yield LoadingIndicator()
        if self.stopped:
            yield Static("(stopped)", classes="stopped", markup=False)
        if self.sources:
            yield Static(self._sources_text(), classes="sources", markup=False)
        yield Static(self.error or self.stats, classes="stats", markup=False)

    def _sources_text(self) -> str:
        return "Sources (F4 or click to read):\n" + "\n".join(f"  [{s.get('n', i)}] {source_label(s)}" for i, s in enumerate(self.sources, 1))

    def set_text(self, text: str) -> None:
        """Show `text` as the whole answer (parsed once: a stored answer, or a final correction)."""
        self.text = text
        self._first_text()
        self.query_one(_markdown()).update(terminal_safe(text))

    async def append(self, text: str) -> None:
        """Add a piece of a streamed answer. Only the Markdown from the last block on is parsed
        again (Textual's Markdown streaming), never the whole answer; pieces that arrive while
        the last one is still being drawn are drawn together."""
        if not text:
            return
        self.text += text
        self._first_text()
        if self._stream is None:
            md = _markdown()
            self._stream = md.get_stream(self.query_one(md))
        # a model can echo escape sequences too: shown, never sent to the terminal (a sequence split
        # across pieces is harmless: its ESC is what is made visible)
        await self._stream.write(terminal_safe(text))

    async def end_stream(self) -> None:
        """Wait until every appended piece is drawn."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    def _first_text(self) -> None:
        if self.pending and self.text:
            self.pending = False
            for ind in self.query(LoadingIndicator):
                ind.remove()

    def finish(self, stats: str, *, stopped: bool = False, error: str = "", sources: list[dict] = ()) -> None:
        self.pending = False
        self.stats, self.stopped, self.sources, self.error = stats, stopped, list(sources), error
        for ind in self.query(LoadingIndicator):
            ind.remove()
        anchor = self.query_one(".stats")
        if stopped:
            self.mount(Static("(stopped)", classes="stopped", markup=False), before=anchor)
        if self.sources:
            self.mount(Static(self._sources_text(), classes="sources", markup=False), before=anchor)
        anchor.update(error or stats)

    def on_click(self, event) -> None:
        if self.sources and event.widget is not None and event.widget.has_class("sources"):
            self.post_message(self.SourcesClicked(self))
