"""The chat's modal screens: help, sources, conversations, settings, and two small dialogs.

Everything that shows a document's or a model's text shows it literally (markup=False, or a
read-only TextArea), with control characters made visible (edge.safe): such text is untrusted.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from ...safe import line_safe, terminal_safe
from ..widgets.message import source_label



class Modal(ModalScreen):
    BINDINGS = [Binding("escape", "close", "Close")]

    def action_close(self) -> None:
        self.dismiss(None)


class HelpScreen(Modal):
    """Every key binding, read from the bindings themselves so the list cannot drift."""


    def __init__(self, rows: list[tuple[str, str, str]]):
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        width = max(len(k) for _, k, _ in self.rows) + 2
        lines, where = [], None
        for w, key, desc in self.rows:
            if w != where:
                lines.append(("" if where is None else "\n") + w)
                where = w
            lines.append(f"  {key.ljust(width)}{desc}")
        with Vertical():
            yield Static("Keys — Esc closes", classes="title")
            with VerticalScroll():
                yield Static("\n".join(lines), markup=False, id="help-text")
            yield Static("Ctrl+P opens the command palette: every action by name.", classes="hint", markup=False)


class SourcesScreen(Modal):
    """The passages given to the model for one answer; pick one to read the chunk itself."""


    def __init__(self, sources: list[dict]):
        super().__init__()
        self.sources = sources

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Sources of this answer ({len(self.sources)}) — Enter shows a chunk, Esc closes", classes="title", markup=False)
            yield OptionList(*[Option(f"[{s.get('n', i)}] {source_label(s)}") for i, s in enumerate(self.sources, 1)], markup=False, id="source-list")
            yield TextArea(terminal_safe(self.sources[0].get("text", "")) if self.sources else "", read_only=True, soft_wrap=True, id="chunk")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def show(self, i: int) -> None:
        self.query_one("#chunk", TextArea).load_text(terminal_safe(self.sources[i].get("text", "")))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.show(event.option_index)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.show(event.option_index)
        self.query_one("#chunk", TextArea).focus()


class TextPrompt(Modal):
    """Ask for one line of text (a new title)."""

    def __init__(self, title: str, value: str = ""):
        super().__init__()
        self.title_text, self.value = title, value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title", markup=False)
            yield Input(self.value, id="value")
            yield Static("Enter saves, Esc cancels", classes="hint", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)


class Confirm(Modal):
    BINDINGS = [Binding("escape", "close", "Cancel"), Binding("y", "yes", "Yes"), Binding("n", "close", "No")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="title", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="no")
                yield Button("Delete", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_yes(self) -> None:
        self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


class ConversationsScreen(Modal):
    """The stored conversations: Enter opens, R renames, D deletes, N starts a new one.
    Dismisses with ("open", id), ("new", None), or None; `deleted` lists what was deleted."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("n", "new", "New chat"),
        Binding("r", "rename", "Rename"),
        Binding("d,delete", "delete", "Delete"),
    ]

    def __init__(self, store, current: int | None = None):
        super().__init__()
        self.store, self.current = store, current
        self.deleted: list[int] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Conversations", classes="title")
            yield OptionList(markup=False, id="chats")
            yield Static("Enter open · R rename · D delete · N new chat · Esc close", classes="hint", markup=False)

    def on_mount(self) -> None:
        self.refresh_list()
        self.query_one(OptionList).focus()

    def refresh_list(self, keep: int | None = None) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        convs = self.store.list()
        if not convs:
            ol.add_option(Option("(no conversations yet)", id="none", disabled=True))
            return
        for c in convs:
            mark = "● " if c.id == self.current else "  "
            ol.add_option(Option(f"{mark}{line_safe(c.title)}  ·  {c.n_messages} messages  ·  {_when(c.updated)}", id=str(c.id)))
        ids = [str(c.id) for c in convs]
        want = str(keep if keep is not None else self.current)
        ol.highlighted = ids.index(want) if want in ids else 0

    def _selected(self) -> int | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None:
            return None
        opt = ol.get_option_at_index(ol.highlighted)
        return int(opt.id) if opt.id and opt.id.isdigit() else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id and event.option.id.isdigit():
            self.dismiss(("open", int(event.option.id)))

    def action_new(self) -> None:
        self.dismiss(("new", None))

    def action_rename(self) -> None:
        cid = self._selected()
        if cid is None:
            return

        def done(title: str | None) -> None:
            if title and title.strip():
                self.store.rename(cid, title)
                self.refresh_list(keep=cid)

        self.app.push_screen(TextPrompt("Rename the conversation", self.store.get(cid).title), done)

    def action_delete(self) -> None:
        cid = self._selected()
        if cid is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.store.delete(cid)
                self.deleted.append(cid)
                self.refresh_list()

        self.app.push_screen(Confirm(f"Delete “{line_safe(self.store.get(cid).title)}”? This cannot be undone."), done)


class SettingsScreen(Modal):
    """Model, system prompt, temperature and max tokens. Dismisses with the changed values."""

    BINDINGS = [Binding("escape", "close", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, settings, models: list[tuple[str, str]], current_model: str):
        super().__init__()
        self.settings, self.models, self.current_model = settings, models, current_model

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical():
            yield Static("Settings — remembered in config.toml; Ctrl+S saves, Esc cancels", classes="title", markup=False)
            yield Label("Model")
            names = [n for n, _ in self.models]
            yield Select([(Text(label), n) for n, label in self.models], value=self.current_model if self.current_model in names else Select.NULL,
                         allow_blank=self.current_model not in names, id="model")
            with Horizontal(classes="row"):
                with Vertical():
                    yield Label("Temperature (0 = deterministic)")
                    yield Input(str(s.temperature), id="temperature")
                with Vertical():
                    yield Label("Max tokens per answer")
                    yield Input(str(s.max_tokens), id="max_tokens", type="integer")
            yield Label("System prompt (leave empty for the default of the model and mode)")
            yield TextArea(s.system_prompt, soft_wrap=True, id="system_prompt")
            yield Static("", classes="error", id="error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def values(self) -> dict:
        """The form's values, checked; raises ValueError with a message a user can act on."""
        out: dict = {}
        model = self.query_one("#model", Select).value
        if model not in (Select.NULL, None) and model != self.current_model:
            out["model"] = model
        raw_t = self.query_one("#temperature", Input).value.strip()
        try:
            t = float(raw_t)
        except ValueError:
            raise ValueError(f"temperature: {raw_t!r} is not a number") from None
        if not 0.0 <= t <= 2.0:
            raise ValueError("temperature must be between 0 and 2")
        raw_m = self.query_one("#max_tokens", Input).value.strip()
        try:
            m = int(raw_m)
        except ValueError:
            raise ValueError(f"max tokens: {raw_m!r} is not a whole number") from None
        if not 1 <= m <= self.settings.n_ctx:
            raise ValueError(f"max tokens must be between 1 and the context size, {self.settings.n_ctx}")
        sp = self.query_one("#system_prompt", TextArea).text.strip()  # empty: the default for the model and mode
        for k, v in (("temperature", t), ("max_tokens", m), ("system_prompt", sp)):
            if v != getattr(self.settings, k):
                out[k] = v
        return out

    def action_save(self) -> None:
        try:
            self.dismiss(self.values())
        except ValueError as e:
            self.query_one("#error", Static).update(f"error: {e}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)
