"""The llama.cpp engine: load a GGUF, render its own chat template, stream answers with timings.

One `Engine` holds one `llama_cpp.Llama`. `stream()` yields `Event`s as tokens are decoded and a
final event carrying the `Timings`; `complete()` runs the same loop and returns the whole text.
A conversation's next prompt shares its prefix with the last one, and llama-cpp-python's
`generate()` keeps that prefix in the KV cache, so only the new turn is evaluated.
"""

from __future__ import annotations

import codecs
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import EdgeError, IntegrityError
from .prompt import PromptBuilder
from .timings import Timings


@dataclass
class Event:
    """One step of a streamed answer: a piece of text, or (done=True) the end with its timings."""

    text: str = ""
    done: bool = False
    stop_reason: str | None = None  # eos | length | cancelled
    timings: Timings | None = None
    # with SamplingParams.decline_token: the probability the model gave that token first (on done)
    decline_p: float | None = None


@dataclass
class Completion:
    text: str
    stop_reason: str
    timings: Timings
    decline_p: float | None = None


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    seed: int = 42
    ignore_eos: bool = False  # benchmarking only: decode exactly max_tokens tokens
    # A reader declines with a fixed phrase; `decline_token` is its first token. The answer may
    # begin with it only when the model gives it at least `decline_below` probability; below that,
    # the most likely other token starts the answer (0 = never overruled). The probability is
    # reported either way (Event.decline_p), so one run can show what any threshold would do.
    decline_token: int = -1
    decline_below: float = 0.0


class _ComputeThread:
    """The one thread of this process on which llama.cpp computes.

    llama.cpp (built with OpenMP) gives every thread that starts a parallel region a team of worker
    threads of its own, and keeps it while that thread lives. Once two such teams exist, libgomp
    counts more threads than cores and stops spinning at its barriers: decode from a second thread
    ran at a third of the speed here (SmolLM2, 2 cores: 34 against 97 tokens/s) while the first
    thread was alive and idle — the chat's model load and its answers ran on different worker
    threads. So every decode of every engine in the process runs here, whichever thread asked.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def submit(self, job) -> None:
        """Run `job()` on the compute thread, after the jobs before it; do not wait."""
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="edge-llama", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def is_current(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, fn, *args, **kw):
        """Run `fn(*args, **kw)` on the compute thread and return what it returns (or raise what it raised)."""
        if self.is_current():
            return fn(*args, **kw)
        done, box = threading.Event(), {}

        def job() -> None:
            try:
                box["value"] = fn(*args, **kw)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                box["error"] = e
            finally:
                done.set()

        self.submit(job)
        done.wait()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            job()  # a job catches its own errors: nothing ends this thread


COMPUTE = _ComputeThread()

_END = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


# How often an adaptive engine looks at what else the CPU is doing while it decodes: reading two
# /proc files costs ~50 µs, and a competitor that starts mid-answer is noticed within this time.
ADAPT_EVERY_S = 0.25


def cpu_lists_amx() -> bool:
    """True when /proc/cpuinfo lists Intel AMX (amx_tile / amx_int8)."""
    from .cpuload import cpu_flags

    return bool(cpu_flags() & {"amx_tile", "amx_int8"})


def extra_buffer_types() -> bool:
    """Whether llama.cpp may use its extra weight buffer types (AMX tiles, CPU weight repacking).

    On a CPU that lists AMX they include ggml's AMX matrix path, which on some virtual machines that
    list AMX dies with a general protection fault at its first `ldtilecfg` (seen here: every model
    load followed by a prompt crashed the process). So they are off where AMX is listed — these are
    servers, not the small machines edge is for; prompt processing of Q4_0 weights loses the
    repacked layout there — and on everywhere else. EDGE_LLAMA_EXTRA_BUFTS=1 or =0 overrides."""
    env = os.environ.get("EDGE_LLAMA_EXTRA_BUFTS", "").strip()
    if env in ("0", "1"):
        return env == "1"
    return not cpu_lists_amx()


_params_lock = threading.Lock()


class model_params:
    """While held, llama-cpp-python's default model parameters carry `extra_buffer_types()`
    (its `Llama` has no argument for it; it reads `llama_model_default_params()` when it loads)."""

    def __enter__(self):
        import llama_cpp.llama_cpp as ll

        _params_lock.acquire()
        self._ll, self._orig = ll, ll.llama_model_default_params
        extra, orig = extra_buffer_types(), self._orig

        def params():
            p = orig()
            p.use_extra_bufts = extra
            return p

        ll.llama_model_default_params = params
        return self

    def __exit__(self, *exc):
        self._ll.llama_model_default_params = self._orig
        _params_lock.release()
        return False


class Engine:
    """A loaded GGUF model."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int = 0,
        n_batch: int = 512,
        use_mmap: bool = True,
        flash_attn: bool = True,
        seed: int = 42,
        lora_path: str | Path | None = None,
        adaptive_threads: bool = False,
        checked: bool = False,
        verbose: bool = False,
    ):
        """Load `model_path`. Unless `checked` (the caller verified its sha256 against a record
        made when the file was checked), the file's header and tensor bounds are checked first.

        `adaptive_threads`: decode with fewer than `n_threads` threads while other processes keep
        cores busy, and go back up when they stop (see edge/cpuload.py); `n_threads` is then the
        most it uses."""
        from llama_cpp import Llama

        from .config import physical_cores
        from .models import check_gguf

        self.path = Path(model_path)
        if not checked:
            check_gguf(self.path)  # never hand llama.cpp a file nobody has looked at
        self.n_threads = n_threads if n_threads > 0 else physical_cores()
        self.threads_now = self.n_threads  # what llama.cpp is set to use at the moment
        self._load = None
        if adaptive_threads and self.n_threads > 1:
            from .cpuload import OtherLoad

            self._load = OtherLoad()
        t0 = time.perf_counter()
        try:
            with _quiet_stderr(not verbose), model_params():
                self.llm = Llama(
                    model_path=str(self.path),
                    n_ctx=n_ctx,
                    n_batch=n_batch,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    use_mmap=use_mmap,
                    # llama.cpp's own default (auto) turns it on for the CPU; llama-cpp-python's
                    # turns it off, which cost ~4 % of decode speed here.
                    flash_attn=flash_attn,
                    seed=seed,
                    lora_path=str(lora_path) if lora_path else None,
                    verbose=verbose,
                )
        except (ValueError, RuntimeError) as e:
            raise IntegrityError(f"llama.cpp could not load {self.path}: {e}") from None
        self.load_ms = (time.perf_counter() - t0) * 1000
        self.n_ctx = self.llm.n_ctx()
        md = self.llm.metadata
        self.chat_template = md.get("tokenizer.chat_template")
        self._vocab = self.llm._model.vocab
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._n_cpus = os.cpu_count() or self.n_threads
        self._eog: dict[int, bool] = {}
        self._pieces: dict[int, bytes] = {}
        self.builder = PromptBuilder(
            template=self.chat_template,
            tokenize=self.tokenize,
            split_special=self.split_special,
            bos_token=self._piece(self.llm.token_bos()),
            eos_token=self._piece(self.llm.token_eos()),
        )

    def _piece(self, tok: int) -> str:
        if tok < 0:
            return ""
        return self.llm.detokenize([tok], special=True).decode("utf-8", errors="replace")

    # -- tokenizer ---------------------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = True, bos: bool = True) -> list[int]:
        """Tokens of `text`. `special`: strings such as `<|im_start|>` become their special
        tokens (the chat template's own text only: `PromptBuilder` tokenizes message content
        with special=False, so a document cannot open a turn). `bos`: BOS first, if the model
        wants one."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=bos, special=special)

    def _last_logits(self):
        """The logits of the last decoded position (valid until the next decode)."""
        import numpy as np

        return np.ctypeslib.as_array(self.llm._ctx.get_logits_ith(-1), shape=(self.llm.n_vocab(),))

    def first_token(self, text: str) -> int:
        """The token an answer that begins with `text` begins with."""
        return self.tokenize(text, special=False, bos=False)[0]

    def split_special(self, text: str) -> list | None:
        """`text` (a chat template's own output) cut at its special tokens: plain strings and
        token ids, in order; None if a special token's text cannot be found in it."""
        return split_special(self.llm, self._vocab, text)

    def is_eog(self, tok: int) -> bool:
        eog = self._eog.get(tok)
        if eog is None:
            import llama_cpp

            eog = self._eog[tok] = bool(llama_cpp.llama_vocab_is_eog(self._vocab, tok))
        return eog

    def _token_bytes(self, tok: int) -> bytes:
        """A token's text, remembered: every call into llama.cpp gives up the GIL and must wait
        to take it back, which a busy UI thread makes slow (see edge/tui/app.py)."""
        b = self._pieces.get(tok)
        if b is None:
            b = self._pieces[tok] = self.llm.detokenize([tok])
        return b

    # -- generation --------------------------------------------------------------------------
    def _adapt_threads(self) -> None:
        """Use as many threads as there are cores other processes leave free (adaptive only)."""
        if self._load is None:
            return
        from .cpuload import threads_for

        n = threads_for(self.n_threads, self._load.sample(), self._n_cpus)
        if n != self.threads_now:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llm._ctx.ctx, n, n)
            self.threads_now = n

    def cancel(self) -> None:
        """Stop the answer being streamed (from any thread); what was streamed is kept."""
        self._cancel.set()

    def stream(self, prompt_tokens: list[int], params: SamplingParams = SamplingParams(), *, t_start: float | None = None) -> Iterator[Event]:
        """Generate from `prompt_tokens`, yielding text as it is decoded and a final Event with timings.

        `t_start` is when the question arrived (perf_counter), so time to first token can include
        work done before generation (retrieval); it defaults to now.
        """
        t0 = t_start if t_start is not None else time.perf_counter()
        if not self._lock.acquire(blocking=False):
            raise EdgeError("the model is already answering; cancel that answer first")
        self._cancel.clear()
        # The answer is decoded on the compute thread (see _ComputeThread) and handed over here
        # event by event; decoding never waits for this side to read.
        events: queue.SimpleQueue = queue.SimpleQueue()
        tokens = list(prompt_tokens)

        def produce() -> None:
            try:
                for ev in self._stream(tokens, params, t0):
                    events.put(ev)
            except BaseException as e:  # noqa: BLE001 - raised again on the reading side
                events.put(_Failed(e))
            finally:
                events.put(_END)

        final = None
        ended = False
        try:
            if COMPUTE.is_current():  # asked from a job on the compute thread itself: decode in place
                produce()
            else:
                COMPUTE.submit(produce)
            while True:
                item = events.get()
                if item is _END:
                    ended = True
                    break
                if isinstance(item, _Failed):
                    raise item.error
                if item.done:
                    final = item
                    continue
                yield item
        finally:
            if not ended:  # the reader stopped early (or failed): stop decoding, wait for the end
                self._cancel.set()
                while events.get() is not _END:
                    pass
            # Released before the final event, so a consumer that stops reading at the final
            # event (without exhausting the generator) does not keep the model locked.
            self._lock.release()
        if final is not None:
            yield final

    def _stream(self, tokens: list[int], p: SamplingParams, t0: float) -> Iterator[Event]:
        llm = self.llm
        t_gen = time.perf_counter()  # generation proper starts here; t0 may include retrieval
        n_prompt = len(tokens)
        if n_prompt >= self.n_ctx:
            raise EdgeError(f"prompt of {n_prompt} tokens does not fit the context window of {self.n_ctx}")
        max_new = max(1, min(p.max_tokens, self.n_ctx - n_prompt))
        # How much of the prompt the KV cache already holds (generate() reuses it).
        cached = 0
        for a, b in zip(llm._input_ids[: llm.n_tokens], tokens):
            if a != b:
                break
            cached += 1
        cached = min(cached, n_prompt - 1)
        llm.set_seed(p.seed)
        self._adapt_threads()
        next_look = time.perf_counter() + ADAPT_EVERY_S
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        t_first = None
        n_sampled = 0
        n_out = 0
        stop = "length"
        # Only a floor needs a logits processor (llama-cpp-python then copies every step's logits
        # through Python); the probability alone is read from the first step's logits in place.
        guard = _FirstToken(p.decline_token, p.decline_below) if p.decline_token >= 0 and p.decline_below > 0 else None
        decline_p = None
        gen = llm.generate(
            tokens,
            top_k=p.top_k,
            top_p=p.top_p,
            min_p=0.0,
            temp=p.temperature,
            repeat_penalty=p.repeat_penalty,
            logits_processor=[guard] if guard else None,
        )
        try:
            for tok in gen:
                now = time.perf_counter()
                if t_first is None:
                    t_first = now
                    if guard is not None:
                        decline_p = guard.p
                    elif p.decline_token >= 0:  # the first step's logits, still in the context until the next decode
                        decline_p = _probability(self._last_logits(), p.decline_token)
                if now >= next_look:  # between two llama_decode calls: safe to change threads
                    self._adapt_threads()
                    next_look = now + ADAPT_EVERY_S
                n_sampled += 1
                if self._cancel.is_set():
                    stop = "cancelled"
                    break
                if not p.ignore_eos and self.is_eog(tok):
                    stop = "eos"
                    break
                n_out += 1
                text = decoder.decode(self._token_bytes(tok))
                if text:
                    yield Event(text=text)
                if n_out >= max_new:
                    stop = "length"
                    break
                if self._cancel.is_set():
                    stop = "cancelled"
                    break
        finally:
            gen.close()
        tail = decoder.decode(b"", final=True)
        if tail:
            yield Event(text=tail)
        t_end = time.perf_counter()
        t_first = t_first or t_end
        prefill_s = max(t_first - t_gen, 1e-9)
        decode_steps = max(n_sampled - 1, 0)
        timings = Timings(
            load_ms=self.load_ms,
            prompt_tokens=n_prompt,
            cached_tokens=cached,
            ttft_ms=(t_first - t0) * 1000,
            prefill_tok_s=(n_prompt - cached) / prefill_s,
            decode_tok_s=decode_steps / (t_end - t_first) if decode_steps and t_end > t_first else 0.0,
            completion_tokens=n_out,
            total_ms=(t_end - t0) * 1000,
            threads=self.threads_now,
        )
        yield Event(done=True, stop_reason=stop, timings=timings, decline_p=decline_p)

    def complete(self, prompt_tokens: list[int], params: SamplingParams = SamplingParams(), *, t_start: float | None = None) -> Completion:
        parts = []
        last = None
        for ev in self.stream(prompt_tokens, params, t_start=t_start):
            if ev.done:
                last = ev
            else:
                parts.append(ev.text)
        assert last is not None
        return Completion("".join(parts), last.stop_reason or "eos", last.timings, last.decline_p)

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            with _quiet_stderr(not getattr(llm, "verbose", False)):
                llm.close()
            self.llm = None


def _probability(logits, token: int) -> float | None:
    """The softmax probability of `token` under `logits`."""
    import numpy as np

    if not 0 <= token < len(logits):
        return None
    x = np.asarray(logits, dtype=np.float64)
    top = x.max()
    return float(np.exp(x[token] - top) / np.exp(x - top).sum())


class _FirstToken:
    """A logits processor for the first sampled token only: notes the probability of `token` and,
    below `floor`, takes the token out of the running, so the next most likely one is chosen."""

    def __init__(self, token: int, floor: float):
        self.token, self.floor = token, floor
        self.p: float | None = None
        self.done = False

    def __call__(self, input_ids, scores):
        import numpy as np

        if self.done:
            return scores
        self.done = True
        self.p = _probability(scores, self.token)
        if self.p is not None and self.p < self.floor:
            scores = np.array(scores, dtype=np.float32)
            scores[self.token] = -np.inf
        return scores


def split_special(llm, vocab, text: str) -> list | None:
    """`text` cut where llama.cpp parses special tokens (control and unknown tokens such as
    `<|im_start|>`): a list of plain strings and token ids, or None if a special token's text is
    not found where expected. Shared by the engine and the training tokenizer."""
    import llama_cpp

    specials = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    out: list = []
    pos = 0
    for tok in llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []:
        if not llama_cpp.llama_vocab_get_attr(vocab, tok) & specials:
            continue
        piece = llm.detokenize([tok], special=True).decode("utf-8", errors="replace")
        at = text.find(piece, pos) if piece else -1
        if at < 0:
            return None
        out += [text[pos:at], tok]
        pos = at + len(piece)
    out.append(text[pos:])
    return out


class _quiet_stderr:
    """Silence llama.cpp's C-level logging to fd 2 while loading (it ignores Python's sys.stderr)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            try:
                self._saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:
                self.enabled = False
        return self

    def __exit__(self, *exc):
        if self.enabled:
            os.dup2(self._saved, 2)
            os.close(self._saved)
