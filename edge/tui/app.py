"""`edge chat`: the Textual app."""

from __future__ import annotations

from textual.app import App

from ..assistant import Assistant
from ..config import Settings
from .screens.chat import ChatScreen


class EdgeApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "edge"
    SUB_TITLE = "offline assistant"
    BINDINGS = [("ctrl+q", "quit", "Quit")]

    def __init__(self, settings: Settings, *, assistant: Assistant | None = None, retriever=None):
        super().__init__()
        self.settings = settings
        self.assistant = assistant or Assistant(settings, retriever=retriever)

    def on_mount(self) -> None:
        self.push_screen(ChatScreen(self.assistant, rag=self.settings.rag))

    def on_unmount(self) -> None:
        self.assistant.cancel()


def run_chat(settings: Settings) -> int:
    # Fail before the screen opens if the model is missing: a clear line beats an empty UI.
    from ..models import ModelStore

    ModelStore(settings.home).resolve_llm(settings.model)
    retriever = None
    if settings.rag:
        from ..rag import open_retriever

        retriever = open_retriever(settings)
    EdgeApp(settings, retriever=retriever).run()
    return 0
