"""Question -> retrieve? -> prompt -> generate, and the conversation state around it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .config import Settings
from .errors import IntegrityError, UsageError
from .llm import Engine, Event, SamplingParams
from .models import Artifact, ModelStore
from .prompt import Passage, Turn
from .timings import Timings

# A retriever returns the passages for a question and the milliseconds spent embedding and searching.
Retriever = Callable[[str, int], "tuple[list[Passage], float, float]"]


def source_dict(p: Passage, n: int) -> dict:
    return {"n": n, "path": p.path, "page": p.page, "heading": p.heading, "lines": [p.line_start, p.line_end],
            "label": p.label(), "score": round(p.score, 6), "text": p.text}


@dataclass
class Answer:
    question: str
    text: str
    model: str
    mode: str
    stop_reason: str
    timings: Timings
    sources: list[Passage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "model": self.model,
            "mode": self.mode,
            "stop_reason": self.stop_reason,
            "sources": [source_dict(p, i) for i, p in enumerate(self.sources, 1)],
            "timings": self.timings.to_dict(),
        }


class Assistant:
    """Owns the loaded model, the optional retriever and one conversation's history."""

    def __init__(self, settings: Settings, *, store: ModelStore | None = None, retriever: Retriever | None = None):
        self.settings = settings
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
        s = self.settings
        self.engine = Engine(
            path, n_ctx=s.n_ctx, n_threads=s.n_threads, n_batch=s.n_batch, use_mmap=s.use_mmap, seed=s.seed,
            checked=True,  # its sha256 matches the pin / the record made when it was checked
        )
        self.artifact = art
        return self.engine

    @property
    def model_name(self) -> str:
        return self.artifact.name if self.artifact else (self.settings.model or "")

    def mode(self, rag: bool) -> str:
        base = "ft" if self.artifact is not None and self.artifact.role == "ft" else "base"
        return base + ("+rag" if rag else "")

    def sampling(self, **over) -> SamplingParams:
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
        params = self.sampling(ignore_eos=ignore_eos)
        budget = engine.n_ctx - min(params.max_tokens, engine.n_ctx // 2)
        built = engine.builder.build(
            question, budget=budget, system=self.settings.system_prompt, history=self.history, passages=passages
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
                self.last = Answer(question, text, self.model_name, self.mode(rag), ev.stop_reason or "eos", t, built.passages)
                # History keeps the plain question: passages are per-turn and would crowd the window.
                self.history.append(Turn(question, text.strip()))
            else:
                parts.append(ev.text)
            yield ev

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
