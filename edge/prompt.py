"""The prompt builder: the one place where system prompt, history, numbered context passages
and the question meet, within a token budget counted by the model's own tokenizer.

Inference and training data both go through `PromptBuilder.messages()`, so a fine-tuned model
is trained on exactly the format it is asked in.
"""

from __future__ import annotations

import inspect
import math
import re
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
    """A retrieved piece of a document, as given to the model.

    `text` is the whole chunk; `excerpt` (with its own line range) is the part of it that bears on
    the question, which is what the model is shown when it is set (see `focus`)."""

    text: str
    path: str = ""
    heading: str = ""
    line_start: int = 0
    line_end: int = 0
    score: float = 0.0
    page: int = 0  # 1-based PDF page; 0 = none
    excerpt: str = ""
    excerpt_start: int = 0
    excerpt_end: int = 0

    @property
    def shown(self) -> str:
        """The text the model is given."""
        return (self.excerpt or self.text).strip()

    def label(self) -> str:
        """Where a person finds the passage: "manual.pdf, page 12, lines 3-9", "guide.docx,
        paragraphs 4-7, Setup > Wiring", then the heading trail. HTML, Word and EPUB locations
        count paragraphs (blocks), not lines, so an excerpt's own lines do not apply to them. An
        EPUB's paragraphs are counted within a chapter, whose name heads the trail: "book.epub,
        chapter 'Installing', paragraphs 3-7, Wiring"."""
        where = self.path
        if self.page:
            where += f", page {self.page}"
        heading = self.heading
        if self.path.lower().endswith(".epub") and heading:
            chapter, _, heading = heading.partition(" > ")
            where += f", chapter '{chapter}'"
        paragraphs = self.path.lower().endswith(PARAGRAPH_SUFFIXES)
        start, end = (self.excerpt_start, self.excerpt_end) if self.excerpt and not paragraphs else (self.line_start, self.line_end)
        if start:
            unit = "paragraph" if paragraphs else "line"
            where += f", {unit} {start}" if end == start else f", {unit}s {start}-{end}"
        if heading:
            where += f", {heading}"
        return where

    def tag(self) -> str:
        """What the passage is, for the model: its section's own heading, else the file's name (a
        full path and a long heading trail cost tokens and tell a small model little)."""
        if self.heading:
            return self.heading.rsplit(" > ", 1)[-1].strip()
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


# Formats whose locations count paragraphs (blocks), as edge/rag/loaders.py numbers them.
PARAGRAPH_SUFFIXES = (".html", ".htm", ".xhtml", ".docx", ".epub")


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
    parts = []
    for i, p in enumerate(passages, 1):
        tag = p.tag()
        parts.append(f"[{i}] ({tag})\n{p.shown}" if tag else f"[{i}]\n{p.shown}")
    parts.append(f"Question: {question}")
    return "\n\n".join(parts)


# -- focusing passages on the question -----------------------------------------------------------
# A retrieved chunk holds ~100 words, of which the answer is usually one line or sentence. A small
# model reads a short, dense prompt better, and every prompt token costs prefill time on a Pi. So each
# passage is cut down to the lines and sentences that share the most (rare) words with the question,
# kept in their order and with their line numbers, so a citation still points at lines that hold it.

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/+-]*[A-Za-z0-9]|[A-Za-z0-9]")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(\[\"'`])")
_QSTOP = frozenset(
    """a an the of to in on for at by with from and or is are was were be been do does did what which who whom whose
    when where why how much many long often does should can could would will shall must may might i my me we our you
    your it its this that these those there their they them into onto about as than then if else not no yes any all
    each per via use used using get set need needs tell show give say says said value values number default kind
    type name called""".split()
)


def _terms(text: str) -> list[str]:
    return [w.casefold().rstrip(".:") for w in _WORD.findall(text)]


def _stem(w: str) -> str:
    for suf in ("ings", "ing", "ies", "es", "s", "ed"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)]
    return w


@dataclass
class _Unit:
    text: str
    line: int  # 0-based line within the chunk's text
    table: int | None  # index of the table's header line, for table rows
    score: float = 0.0


def _units(text: str) -> list[_Unit]:
    lines = text.split("\n")
    out: list[_Unit] = []
    header: int | None = None
    for i, line in enumerate(lines):
        st = line.strip()
        if not st:
            header = None
            continue
        if st.startswith("|"):
            if header is None:
                header = i
            if set(st) <= set("|-: "):  # the |---| rule under a header
                continue
            out.append(_Unit(line, i, header if i != header else None))
            continue
        header = None
        if len(st.split()) > 30:  # long prose: one unit per sentence
            for sent in _SENTENCE_END.split(st):
                if sent.strip():
                    out.append(_Unit(sent.strip(), i, None))
        else:
            out.append(_Unit(line, i, None))
    return out


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


def _question_terms(question: str) -> set[str]:
    out = set()
    for t in _terms(question):
        if t in _QSTOP or (len(t) < 2 and not t.isdigit()):
            continue
        out.add(_stem(t))
        if t in _NUMBER_WORDS:  # "four modules" finds the table row "| 4 |"
            out.add(_NUMBER_WORDS[t])
    return out


def focus(question: str, passages: Sequence[Passage], *, words: int = 40) -> list[Passage]:
    """The passages cut to the lines and sentences that bear on `question`: about `words` words per
    passage on average, spent where the question's words are (each passage keeps at least its best
    line). A passage already that short is left whole."""
    from dataclasses import replace

    q = _question_terms(question)
    if not q or not passages or words <= 0:
        return list(passages)
    # rarer words weigh more: document frequency over the units of all the passages
    all_units = [_units(p.text) for p in passages]
    df: dict[str, int] = {}
    for units in all_units:
        for u in units:
            for t in {_stem(t) for t in _terms(u.text)}:
                df[t] = df.get(t, 0) + 1
    n_units = sum(len(u) for u in all_units) or 1
    for units in all_units:
        for u in units:
            ts = {_stem(t) for t in _terms(u.text)}
            u.score = sum(math.log(1 + n_units / df.get(t, 1)) for t in q & ts)
            if u.score and any(ch.isdigit() for ch in u.text):
                u.score *= 1.15  # values are what questions ask for
    budget = words * len(passages)
    keep: list[set[int]] = [set() for _ in passages]
    whole = [len(p.text.split()) <= words or not units for p, units in zip(passages, all_units)]
    used = sum(len(p.text.split()) for p, w in zip(passages, whole) if w)

    def take(i: int, j: int) -> int:
        units = all_units[i]
        added = 0
        for k in (j, _header_of(units, j)):
            if k is not None and k not in keep[i]:
                keep[i].add(k)
                added += len(units[k].text.split())
        return added

    # each passage's best unit first (the passages are ranked already), then the best units overall
    for i, units in enumerate(all_units):
        if not whole[i]:
            best = max(range(len(units)), key=lambda j: (units[j].score, -j))
            used += take(i, best)
    ranked = sorted(((u.score, -j, i, j) for i, units in enumerate(all_units) if not whole[i]
                     for j, u in enumerate(units) if u.score > 0), reverse=True)
    for _, _, i, j in ranked:
        if j in keep[i]:
            continue
        n = len(all_units[i][j].text.split())
        if used + n > budget:
            continue
        used += take(i, j)
    out = []
    for p, units, kept, w in zip(passages, all_units, keep, whole):
        if w:
            out.append(p)
            continue
        idx = sorted(kept)
        pieces: list[str] = []
        prev = None
        for j in idx:
            if prev is not None and j - prev > 1:
                pieces.append("…")  # something was left out here (not at the ends: that costs tokens and says nothing)
            pieces.append(units[j].text.strip())
            prev = j
        first, last = units[idx[0]].line, units[idx[-1]].line
        start = p.line_start + first if p.line_start else 0
        end = min(p.line_start + last, p.line_end) if p.line_start else 0
        out.append(replace(p, excerpt="\n".join(pieces), excerpt_start=start, excerpt_end=max(start, end)))
    return out


def _header_of(units: list[_Unit], j: int) -> int | None:
    """The unit holding the header row of the table that unit `j` is a row of (a row means nothing
    without its header)."""
    t = units[j].table
    if t is None:
        return None
    return next((k for k, v in enumerate(units) if v.line == t), None)
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
