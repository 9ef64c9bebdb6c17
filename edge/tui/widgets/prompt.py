"""The question box: multi-line, Enter sends, and Up/Down walk through what was sent before."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("shift+enter", "ctrl+j", "alt+enter")


class PromptArea(TextArea):
    """Enter sends; Shift+Enter or Ctrl+J starts a new line (terminals differ in which they pass on).
    Up on the first line and Down on the last walk the history of sent questions."""

    DEFAULT_CSS = """
    PromptArea { height: auto; max-height: 6; min-height: 3; }
    """

    @dataclass
    class Submitted(Message):
        area: "PromptArea"
        value: str

    def __init__(self, *, sent: list[str] | None = None, **kw):
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", compact=False, **kw)
        self.sent: list[str] = list(sent or [])
        self._pos: int | None = None  # index into history while browsing it
        self._draft = ""

    def remember(self, text: str) -> None:
        if text and (not self.sent or self.sent[-1] != text):
            self.sent.append(text)
        self._pos = None

    def _browse(self, step: int) -> None:
        if not self.sent:
            return
        if self._pos is None:
            if step > 0:
                return
            self._draft = self.text
            pos = len(self.sent) - 1
        else:
            pos = self._pos + step
        if pos >= len(self.sent):
            self._pos = None
            self.load_text(self._draft)
        else:
            self._pos = max(0, pos)
            self.load_text(self.sent[self._pos])
        self.move_cursor(self.document.end)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        row, _ = self.cursor_location
        if event.key == "up" and row == 0:
            event.stop()
            event.prevent_default()
            self._browse(-1)
            return
        if event.key == "down" and row == self.document.line_count - 1 and self._pos is not None:
            event.stop()
            event.prevent_default()
            self._browse(+1)
            return
        await super()._on_key(event)
