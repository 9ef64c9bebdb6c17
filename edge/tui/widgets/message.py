"""One message of the conversation: who said it, the text (Markdown for answers) and its cost."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import LoadingIndicator, Markdown, Static


class MessageView(Vertical):
    """A chat message. Text is never parsed as Rich/Textual markup: it is untrusted."""

    DEFAULT_CSS = """
    MessageView { height: auto; margin: 0 0 1 0; padding: 0 1; }
    MessageView .role { text-style: bold; color: $accent; height: 1; }
    MessageView.user .role { color: $success; }
    MessageView .user-text { height: auto; }
    MessageView Markdown { margin: 0; padding: 0; height: auto; }
    MessageView .stats { color: $text-muted; height: auto; }
    MessageView .stopped { color: $warning; height: 1; }
    MessageView .sources { color: $text-muted; height: auto; }
    MessageView LoadingIndicator { height: 1; }
    """

    def __init__(self, role: str, text: str = "", *, pending: bool = False):
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self.pending = pending

    def compose(self) -> ComposeResult:
        yield Static("You" if self.role == "user" else "edge", classes="role", markup=False)
        if self.role == "user":
            yield Static(self.text, classes="user-text", markup=False)
        else:
            yield Markdown(self.text)
            if self.pending:
                yield LoadingIndicator()
            yield Static("", classes="stats", markup=False)

    def set_text(self, text: str) -> None:
        self.text = text
        if self.pending and text:
            self.pending = False
            for ind in self.query(LoadingIndicator):
                ind.remove()
        self.query_one(Markdown).update(text)

    def finish(self, stats: str, *, stopped: bool = False, error: str = "", sources: list[str] = ()) -> None:
        self.pending = False
        for ind in self.query(LoadingIndicator):
            ind.remove()
        if stopped:
            self.mount(Static("(stopped)", classes="stopped", markup=False), before=self.query_one(".stats"))
        if sources:
            text = "Sources:\n" + "\n".join(f"  [{i}] {s}" for i, s in enumerate(sources, 1))
            self.mount(Static(text, classes="sources", markup=False), before=self.query_one(".stats"))
        self.query_one(".stats", Static).update(error or stats)
