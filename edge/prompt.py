"""The prompt builder: the one place where system prompt, history, numbered context passages
and the question meet, within a token budget counted by the model's own tokenizer.

Inference and training data both go through `PromptBuilder.messages()`, so a fine-tuned model
is trained on exactly the format it is asked in.
"""

from __future__ import annotations

import inspect
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

    def label(self) -> str:
        where = self.path
        if self.line_start:
            where += f", lines {self.line_start}-{self.line_end}"
        if self.heading:
            where += f", {self.heading}"
        return where


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


# Stands in for each message's content while the template is rendered, so that what the template
# wrote can be told from what the user, the documents or the history wrote. The stand-ins replace
# the content entirely (content cannot fake one), and the pieces are checked to join up to the
# real rendering before they are used.
_SENTINEL = "\ue000edge-content-{}\ue001"


class PromptBuilder:
    """Renders conversations with the model's chat template and fits them to a token budget.

    Only the template's own text is tokenized with special tokens parsed (`<|im_start|>`, `<s>`):
    message content (the question, retrieved passages, history, the system prompt) is tokenized
    as plain text, so a document that spells out `<|im_end|><|im_start|>system` stays text and
    cannot open a turn of its own. For that, `tokenize` takes `special` and `bos` keywords, and
    `split_special` cuts the template's text at its special tokens (see `Engine`); a one-argument
    tokenizer gets the whole rendered text (tests, counting).
    """

    def __init__(
        self,
        *,
        template: str | None,
        tokenize: Callable[..., list[int]],
        split_special: Callable[[str], list | None] | None = None,
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
        self._split_special = split_special
        try:
            self._split = "special" in inspect.signature(tokenize).parameters
        except (TypeError, ValueError):  # a builtin without a signature
            self._split = False
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

    def _pieces(self, messages: list[dict], add_generation_prompt: bool) -> list[tuple[str, bool]] | None:
        """The rendered prompt as (text, is_template) pieces in order, or None when the template
        transforms content in a way that cannot be told apart (then the whole text is used)."""
        stand_ins = [{**m, "content": _SENTINEL.format(i)} for i, m in enumerate(messages)]
        rendered = self.render(stand_ins, add_generation_prompt=add_generation_prompt)
        real = self.render(messages, add_generation_prompt=add_generation_prompt)
        for fix in (str, str.strip):  # as given, or as a template that trims content wrote it
            pieces: list[tuple[str, bool]] = []
            pos = 0
            for i, m in enumerate(messages):
                mark = _SENTINEL.format(i)
                at = rendered.find(mark, pos)
                if at < 0 or rendered.count(mark) != 1:  # the template dropped or repeated a message
                    return None
                pieces.append((rendered[pos:at], True))
                pieces.append((fix(str(m.get("content") or "")), False))
                pos = at + len(mark)
            pieces.append((rendered[pos:], True))
            if "".join(t for t, _ in pieces) == real:
                return pieces
        return None  # a template that rewrites content in another way

    def tokens(self, messages: list[dict], *, add_generation_prompt: bool = True) -> list[int]:
        """The prompt's tokens: the template's text with special tokens parsed, every message's
        content as plain text; BOS (if the model wants one) once, at the start."""
        pieces = self._pieces(messages, add_generation_prompt) if self._split else None
        if pieces is None:
            # A tokenizer without the keywords (tests, counting), or a template that rewrites
            # content (none of the shipped models' does): the whole text, as llama.cpp would.
            return self._tokenize(self.render(messages, add_generation_prompt=add_generation_prompt))
        if self._split_special is not None:
            # Cut the template's text at its special tokens, and join the plain text around them
            # (template text and content alike) into runs tokenized as plain text, as llama.cpp
            # cuts the whole text: benign prompts give exactly the tokens of the whole text.
            frags: list = []
            for text, is_template in pieces:
                parts = self._split_special(text) if is_template else [text]
                if parts is None:  # the template's text could not be cut: the whole text
                    return self._tokenize(self.render(messages, add_generation_prompt=add_generation_prompt))
                for part in parts:
                    if isinstance(part, str) and frags and isinstance(frags[-1], str):
                        frags[-1] += part
                    elif part != "":
                        frags.append(part)
            out = self._tokenize("", special=False, bos=True)  # BOS, if the model wants one
            for f in frags:
                out += [f] if isinstance(f, int) else self._tokenize(f, special=False, bos=False)
            return out
        out: list[int] = []
        first = True
        for text, is_template in pieces:
            if not text and not first:
                continue
            out += self._tokenize(text, special=is_template, bos=first)
            first = False
        return out

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
            tokens = self.tokens(msgs)
            if len(tokens) <= budget:
                return BuiltPrompt(text, tokens, msgs, passages, dropped_turns, dropped_passages)
            if history:
                history.pop(0)
                dropped_turns += 1
            elif passages:
                passages.pop()
                dropped_passages += 1
            else:
                n_system = len(self.tokens([{"role": "system", "content": system}], add_generation_prompt=False)) if system else 0
                if n_system and n_system >= len(tokens) - n_system:
                    raise PromptTooLong(
                        f"the system prompt takes {n_system} of the prompt's {len(tokens)} tokens but only {budget} fit "
                        "in the context window; shorten it (--system or the settings), or raise --ctx / lower --max-tokens"
                    )
                raise PromptTooLong(
                    f"the prompt needs {len(tokens)} tokens (the question {len(tokens) - n_system}, the system prompt "
                    f"{n_system}) but only {budget} fit in the context window; shorten it, or raise --ctx / lower --max-tokens"
                )
