"""The prompt builder: the one place where system prompt, history, numbered context passages
and the question meet, within a token budget counted by the model's own tokenizer.

Inference and training data both go through `PromptBuilder.messages()`, so a fine-tuned model
is trained on exactly the format it is asked in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from .errors import PromptTooLong

# Used only when a GGUF carries no chat template of its own (ChatML, SmolLM2's format).
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Turn:
    """One finished exchange of a conversation."""

    user: str
    assistant: str


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a document, as given to the model."""

    text: str
    path: str = ""
    heading: str = ""
    line_start: int = 0
    line_end: int = 0
    score: float = 0.0
    page: int = 0  # 1-based PDF page; 0 = none

    def label(self) -> str:
        """Where a person finds the passage: "manual.pdf, page 12, lines 3-9", "guide.docx,
        paragraphs 4-7, Setup > Wiring". HTML and Word locations count paragraphs, not lines."""
        where = self.path
        if self.page:
            where += f", page {self.page}"
        if self.line_start:
            unit = "paragraphs" if self.path.lower().endswith(PARAGRAPH_SUFFIXES) else "lines"
            if self.line_end == self.line_start:
                where += f", {unit[:-1]} {self.line_start}"
            else:
                where += f", {unit} {self.line_start}-{self.line_end}"
        if self.heading:
            where += f", {self.heading}"
        return where


# Formats whose locations count paragraphs (blocks), as edge/rag/loaders.py numbers them.
PARAGRAPH_SUFFIXES = (".html", ".htm", ".xhtml", ".docx")


@dataclass
class BuiltPrompt:
    text: str
    tokens: list[int]
    messages: list[dict]
    passages: list[Passage] = field(default_factory=list)  # those given, numbered [1]..[k]
    dropped_turns: int = 0
    dropped_passages: int = 0

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


def format_user_message(question: str, passages: Sequence[Passage]) -> str:
    """The user turn: the question, preceded by numbered context passages when there are any."""
    if not passages:
        return question
    parts = ["Context:"]
    for i, p in enumerate(passages, 1):
        parts.append(f"[{i}] ({p.label()})\n{p.text.strip()}")
    parts.append(f"Question: {question}")
    return "\n\n".join(parts)


class PromptBuilder:
    """Renders conversations with the model's chat template and fits them to a token budget."""

    def __init__(
        self,
        *,
        template: str | None,
        tokenize: Callable[[str], list[int]],
        bos_token: str = "",
        eos_token: str = "",
    ):
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(message):
            raise ValueError(message)

        env.globals["raise_exception"] = raise_exception
        self.template_source = template or FALLBACK_TEMPLATE
        self._template = env.from_string(self.template_source)
        self._tokenize = tokenize
        self.bos_token = bos_token
        self.eos_token = eos_token

    @staticmethod
    def messages(
        question: str,
        *,
        system: str = "",
        history: Sequence[Turn] = (),
        passages: Sequence[Passage] = (),
        answer: str | None = None,
    ) -> list[dict]:
        """The chat messages for a question (and, for training data, its answer)."""
        msgs: list[dict] = []
        if system:
            msgs.append({"role": "system", "content": system})
        for t in history:
            msgs.append({"role": "user", "content": t.user})
            msgs.append({"role": "assistant", "content": t.assistant})
        msgs.append({"role": "user", "content": format_user_message(question, passages)})
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        return self._template.render(
            messages=messages,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
        )

    def count(self, text: str) -> int:
        return len(self._tokenize(text))

    def build(
        self,
        question: str,
        *,
        budget: int,
        system: str = "",
        history: Sequence[Turn] = (),
        passages: Sequence[Passage] = (),
    ) -> BuiltPrompt:
        """Fit everything into `budget` tokens: drop the oldest turns first, then the
        lowest-ranked passages; if the question alone does not fit, raise PromptTooLong."""
        history = list(history)
        passages = list(passages)
        dropped_turns = dropped_passages = 0
        while True:
            msgs = self.messages(question, system=system, history=history, passages=passages)
            text = self.render(msgs)
            tokens = self._tokenize(text)
            if len(tokens) <= budget:
                return BuiltPrompt(text, tokens, msgs, passages, dropped_turns, dropped_passages)
            if history:
                history.pop(0)
                dropped_turns += 1
            elif passages:
                passages.pop()
                dropped_passages += 1
            else:
                raise PromptTooLong(
                    f"the question needs {len(tokens)} tokens but only {budget} fit in the context window; "
                    "shorten it, or raise --ctx / lower --max-tokens"
                )
