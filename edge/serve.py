"""`edge serve`: a local OpenAI-compatible HTTP API over the same assistant as `edge ask` and the chat.

Endpoints: `POST /v1/chat/completions` (plain or streamed as server-sent events in OpenAI's chunk format),
`GET /v1/models` (the installed language models), `GET /v1/models/{id}`, `GET /health`.

One engine, one prompt path: every request is answered by `Assistant.stream_with()`, so retrieval, the prompt
builder (`edge/prompt.py`) and the timings record (`edge/timings.py`) are the ones the CLI and the chat use.
The server is stateless per request: OpenAI `messages` become the system prompt, the history `Turn`s and the
question. Retrieval is per request (`"edge": {"rag": true, "k": 4}`) or the server's default (`--rag`); the
answer carries edge's extras in one top-level `"edge"` object: `mode`, `sources`, `timings`, `queue_ms`.

Concurrency: llama.cpp answers one prompt at a time, so one worker thread owns the assistant and takes
requests from a bounded FIFO queue (`--max-queue`, waiting requests not counting the one being answered);
a request that finds the queue full gets 429 with `Retry-After`. A client that disconnects, while waiting or
mid-answer, has its request dropped or its generation cancelled at once (`Engine.cancel`), freeing the model.

Safety: binds 127.0.0.1 unless told otherwise, and any other address needs an API key (`--api-key` or
`EDGE_API_KEY`, compared in constant time); bodies over 1 MB are refused with 413 before they are read;
CORS is off unless `--cors ORIGIN`; one log line per request, with prompt text only under `--log-prompts`.

Why Starlette + uvicorn: Starlette is a small, maintained, pure-Python ASGI toolkit (routing, requests,
responses, CORS) with few dependencies (anyio); FastAPI would add pydantic's compiled core for validation this
API does by hand in a few lines. uvicorn is the maintained ASGI server for it; without its optional extras it
runs on h11, pure Python, so both install from py3-none-any wheels on a Raspberry Pi (aarch64) as on x86_64.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import ipaddress
import json
import math
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

from .errors import EdgeError, IndexError_, ModelNotFound, PromptTooLong, UsageError
from .prompt import Turn

MAX_BODY = 1 << 20  # bytes; larger request bodies are refused with 413 before they are read
MAX_STOP = 4  # stop strings per request, as OpenAI allows
MAX_K = 32  # passages per request


# -- errors ----------------------------------------------------------------------------------------

class APIError(Exception):
    """An error the client gets as an OpenAI-style error object with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def api_error_from(e: BaseException) -> APIError:
    """Map edge's domain errors to statuses: the client's fault is 4xx, the server's 5xx."""
    if isinstance(e, APIError):
        return e
    if isinstance(e, PromptTooLong) or (isinstance(e, EdgeError) and "does not fit the context window" in str(e)):
        return APIError(400, str(e), param="messages", code="context_length_exceeded")
    if isinstance(e, ModelNotFound):
        return APIError(404, str(e), param="model", code="model_not_found")
    if isinstance(e, IndexError_):  # retrieval asked of a server whose index is missing or unusable
        return APIError(400, str(e), param="edge.rag", code="rag_unavailable")
    if isinstance(e, UsageError):
        return APIError(400, str(e), code="invalid_request")
    if isinstance(e, EdgeError):
        return APIError(500, str(e), type="server_error", code="engine_error")
    return APIError(500, f"internal error: {type(e).__name__}: {e}", type="server_error", code="internal_error")


# -- the request -----------------------------------------------------------------------------------

@dataclass
class ChatRequest:
    """A validated `POST /v1/chat/completions` body, in edge's terms."""

    question: str
    system: str | None = None  # None: the server's system prompt
    history: list[Turn] = field(default_factory=list)
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False
    rag: bool | None = None  # None: the server's default
    k: int | None = None
    ignore_eos: bool = False  # benchmarking: decode exactly max_tokens tokens


def _bad(param: str, message: str) -> APIError:
    return APIError(400, message, param=param, code="invalid_value" if param else None)


def _number(body: dict, name: str, lo: float, hi: float, *, integer: bool = False):
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise _bad(name, f"'{name}' must be {'an integer' if integer else 'a number'}, not {json.dumps(v)[:40]}")
    if not (lo <= v <= hi) or (isinstance(v, float) and math.isnan(v)):
        raise _bad(name, f"'{name}' must be between {lo} and {hi}, not {v}")
    return v


def _content(msg: dict, i: int) -> str:
    """A message's text: a string, or a list of text parts (images and audio are not supported)."""
    c = msg.get("content")
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = []
        for part in c:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"messages[{i}].content", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported")
            parts.append(part["text"])
        return "\n".join(parts)
    raise _bad(f"messages[{i}].content", f"messages[{i}].content must be a string or a list of text parts")


def split_messages(messages) -> tuple[str | None, list[Turn], str]:
    """OpenAI messages -> (system prompt or None, history turns, question).

    System (and developer) messages are joined into the system prompt. The rest must alternate into
    user/assistant exchanges and end with the user's message, which is the question; consecutive
    messages of one role are joined."""
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "'messages' must be a non-empty list of {\"role\", \"content\"} objects")
    system: list[str] = []
    seq: list[list] = []  # [role, text] with consecutive roles merged
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad(f"messages[{i}]", f"messages[{i}] must be an object with 'role' and 'content'")
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_content(m, i))
            continue
        if role not in ("user", "assistant"):
            raise _bad(f"messages[{i}].role", f"messages[{i}].role must be system, developer, user or assistant, not {json.dumps(role)[:40]}")
        text = _content(m, i)
        if seq and seq[-1][0] == role:
            seq[-1][1] += "\n\n" + text
        else:
            seq.append([role, text])
    if not seq or seq[-1][0] != "user":
        raise _bad("messages", "the last message (after any system messages) must be the user's")
    question = seq[-1][1]
    if not question.strip():
        raise _bad("messages", "the user's last message is empty")
    history: list[Turn] = []
    pending = ""
    for role, text in seq[:-1]:
        if role == "user":
            pending = text
        else:
            history.append(Turn(pending, text))
            pending = ""
    # a user message left unanswered before the last one (impossible after merging) cannot occur
    return ("\n\n".join(system) if system else None), history, question


def _seed(body: dict) -> int | None:
    seed = _number(body, "seed", -(1 << 63), (1 << 63) - 1, integer=True)
    return None if seed is None else seed & 0xFFFFFFFF  # llama.cpp's seed is 32 bits


def parse_chat(body) -> ChatRequest:
    """Validate a chat completion body; unknown fields are ignored, as OpenAI-compatible servers do."""
    if not isinstance(body, dict):
        raise _bad("", "the request body must be a JSON object")
    system, history, question = split_messages(body.get("messages"))
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("model", "'model' must be a string")
    if body.get("n") not in (None, 1):
        raise _bad("n", "only one choice per request is supported ('n' must be 1)")
    max_tokens = _number(body, "max_completion_tokens", 1, 1 << 20, integer=True)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", 1, 1 << 20, integer=True)
    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > MAX_STOP or not all(isinstance(s, str) for s in stop):
        raise _bad("stop", f"'stop' must be a string or a list of at most {MAX_STOP} strings")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("stream", "'stream' must be true or false")
    opts = body.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise _bad("stream_options", "'stream_options' must be an object")
    ext = body.get("edge") or {}
    if not isinstance(ext, dict):
        raise _bad("edge", "'edge' must be an object, e.g. {\"rag\": true, \"k\": 4}")
    rag = ext.get("rag")
    if rag is not None and not isinstance(rag, bool):
        raise _bad("edge.rag", "'edge.rag' must be true or false")
    k = _number(ext, "k", 1, MAX_K, integer=True)
    ignore_eos = ext.get("ignore_eos", False)
    if not isinstance(ignore_eos, bool):
        raise _bad("edge.ignore_eos", "'edge.ignore_eos' must be true or false")
    return ChatRequest(
        question=question, system=system, history=history, model=model or None, max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0, 2), top_p=_number(body, "top_p", 0, 1),
        seed=_seed(body),
        stop=[s for s in stop if s], stream=stream, include_usage=bool(opts.get("include_usage")), rag=rag, k=k,
        ignore_eos=ignore_eos,
    )


class StopMatcher:
    """Applies `stop` strings to a stream of text pieces: holds back what could be the start of a stop
    string, and ends the text just before the first one found."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.buf = ""
        self.hit = False

    def feed(self, text: str) -> str:
        if self.hit:
            return ""
        if not self.stops:
            return text
        self.buf += text
        found = [i for i in (self.buf.find(s) for s in self.stops) if i >= 0]
        if found:
            out, self.buf, self.hit = self.buf[: min(found)], "", True
            return out
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.buf)), keep, -1):
                if self.buf.endswith(s[:n]):
                    keep = n
                    break
        out = self.buf[: len(self.buf) - keep]
        self.buf = self.buf[len(self.buf) - keep:]
        return out

    def flush(self) -> str:
        out, self.buf = self.buf, ""
        return out


# -- the worker: one generation at a time, fair FIFO -------------------------------------------------

class Job:
    """One request on its way through the queue; the worker thread posts its events to the event loop."""

    def __init__(self, req: ChatRequest, model: str, loop: asyncio.AbstractEventLoop):
        self.req, self.model, self.loop = req, model, loop
        self.events: asyncio.Queue = asyncio.Queue()
        self.cancelled = threading.Event()
        self.t_queued = time.perf_counter()
        self.t_started: float | None = None

    def post(self, kind: str, value=None) -> None:
        """From the worker thread: hand an event ("text", "done", "error") to the request's coroutine."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass

    @property
    def queue_ms(self) -> float:
        return ((self.t_started or time.perf_counter()) - self.t_queued) * 1000


class Worker:
    """Owns the assistant; answers queued requests one at a time, first come first served."""

    def __init__(self, assistant, *, max_queue: int, rag_default: bool):
        self.assistant = assistant
        self.max_queue = max_queue
        self.rag_default = rag_default
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._current: Job | None = None
        self._stopping = False
        self._service_s = 1.0  # moving average of an answer's duration, for Retry-After
        self.answered = 0
        self.thread = threading.Thread(target=self._run, name="edge-serve-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, job: Job) -> None:
        """Queue `job`, or refuse it with 429 when `max_queue` requests are already waiting."""
        with self._cond:
            if self._stopping:
                raise APIError(503, "the server is shutting down", type="server_error", code="shutting_down")
            if len(self._waiting) >= self.max_queue:
                # the time the queue takes to drain at the recent pace of answers
                wait = min(max(1, math.ceil(self._service_s * (len(self._waiting) + 1))), 120)
                raise APIError(
                    429, f"the server is busy: {len(self._waiting)} requests are waiting for the model (--max-queue "
                    f"{self.max_queue}); retry after {wait} s", type="rate_limit_error", code="queue_full",
                    headers={"Retry-After": str(wait)},
                )
            self._waiting.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """The client is gone: drop the job if it is waiting, stop its generation if it is running."""
        job.cancelled.set()
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:
                pass
            if self._current is job:
                self.assistant.cancel()

    def status(self) -> dict:
        with self._cond:
            return {"busy": self._current is not None, "waiting": len(self._waiting), "max_queue": self.max_queue,
                    "answered": self.answered}

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            for job in self._waiting:
                job.post("error", APIError(503, "the server is shutting down", type="server_error", code="shutting_down"))
            self._waiting.clear()
            if self._current is not None:
                self.assistant.cancel()
            self._cond.notify_all()
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._waiting.popleft()
                self._current = job
            try:
                job.t_started = time.perf_counter()
                self._answer(job)
            finally:
                with self._cond:
                    self._current = None
                    self.answered += 1
                    self._service_s = 0.8 * self._service_s + 0.2 * (time.perf_counter() - job.t_started)

    def _answer(self, job: Job) -> None:
        a = self.assistant
        r = job.req
        rag = self.rag_default if r.rag is None else r.rag
        stop = StopMatcher(r.stop)
        try:
            if rag and a.retriever is None:
                from .rag import open_retriever

                a.retriever = open_retriever(a.settings)  # opened on first use when --rag was not given
            final = None
            events = a.stream_with(
                r.question, history=r.history, rag=rag, ignore_eos=r.ignore_eos, model=job.model, system_prompt=r.system,
                top_k_chunks=r.k, max_tokens=r.max_tokens, temperature=r.temperature, top_p=r.top_p, seed=r.seed,
            )
            for ev in events:
                if job.cancelled.is_set():
                    a.cancel()  # also covers a cancel that came before the engine cleared its flag
                if ev.done:
                    final = ev
                    continue
                if job.cancelled.is_set() or stop.hit:
                    continue
                text = stop.feed(ev.text)
                if text:
                    job.post("text", text)
                if stop.hit:
                    a.cancel()  # the rest would be thrown away: stop decoding now
            if final is None or job.cancelled.is_set():
                return
            if not stop.hit:
                tail = stop.flush()
                if tail:
                    job.post("text", tail)
            ans = a.last
            reason = "stop" if stop.hit or final.stop_reason == "eos" else final.stop_reason
            job.post("done", {"answer": ans, "finish_reason": reason, "queue_ms": job.queue_ms, "stopped_by": stop.hit})
        except Exception as e:  # noqa: BLE001 - every failure goes back to its client as an error object
            if not isinstance(e, EdgeError):
                traceback.print_exc(file=sys.stderr)
            job.post("error", api_error_from(e))


# -- the HTTP app ------------------------------------------------------------------------------------

def _usage(t) -> dict:
    return {"prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
            "total_tokens": t.prompt_tokens + t.completion_tokens}


def _edge_extra(done: dict) -> dict:
    """edge's own fields of an answer: what `edge ask --json` prints besides the text and the model
    (mode, stop_reason, sources, timings, ...), and the time the request waited for the model."""
    d = done["answer"].to_dict()
    for k in ("answer", "model"):
        d.pop(k, None)
    if done.get("stopped_by"):
        d["stop_reason"] = "stop"  # a stop string ended it (the engine saw a cancel)
    d["queue_ms"] = round(done["queue_ms"], 3)
    return d


async def _watch_disconnect(receive, job: Job, worker: Worker) -> None:
    """Wait for the client to go away (the body has been read, so the next message is the disconnect);
    then cancel its job and wake whoever waits for the job's events."""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
    worker.cancel(job)
    job.events.put_nowait(("disconnect", None))


class _EventStream:
    """The server-sent events of one streamed answer, in OpenAI's chunk format, ending with [DONE]."""

    def __init__(self, job: Job, first, *, cid: str, created: int, model: str, log: dict):
        self.job, self.first, self.cid, self.created, self.model, self.log = job, first, cid, created, model, log

    def _chunk(self, delta: dict, finish=None, **extra) -> bytes:
        obj = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
               "system_fingerprint": None,
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

    async def __call__(self, scope, receive, send) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                   (b"x-accel-buffering", b"no")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        await body(self._chunk({"role": "assistant", "content": ""}))
        kind, value = self.first
        while True:
            if kind == "text":
                await body(self._chunk({"content": value}))
            elif kind == "done":
                t = value["answer"].timings
                usage = _usage(t)
                self.log.update(tokens=(t.prompt_tokens, t.completion_tokens), queue_ms=value["queue_ms"])
                await body(self._chunk({}, value["finish_reason"], usage=usage, edge=_edge_extra(value)))
                if self.job.req.include_usage:
                    obj = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                           "model": self.model, "choices": [], "usage": usage}
                    await body(b"data: " + json.dumps(obj).encode() + b"\n\n")
                break
            elif kind == "error":
                self.log["status"] = value.status
                await body(b"data: " + json.dumps(value.body(), ensure_ascii=False).encode() + b"\n\n")
                break
            else:  # disconnect: nobody to send to
                self.log["status"] = 499
                return
            kind, value = await self.job.events.get()
        await body(b"data: [DONE]\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class Server:
    """The application state: settings, the assistant behind its worker, the key, the options."""

    def __init__(self, assistant, *, api_key: str | None = None, max_queue: int = 16, rag: bool = False,
                 cors: str | None = None, log_prompts: bool = False, log=None):
        self.assistant = assistant
        self.api_key = api_key
        self.cors = cors
        self.log_prompts = log_prompts
        self.rag = rag
        self.worker = Worker(assistant, max_queue=max_queue, rag_default=rag)
        self.default_model = assistant.model_name
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.app = self._build_app()

    # -- models --------------------------------------------------------------------------------
    def installed(self) -> list:
        """Language models whose file is present (verification happens when one is loaded)."""
        store = self.assistant.store
        return [a for a in store.artifacts() if a.kind == "llm" and store.path(a).is_file()]

    def resolve_model(self, name: str | None) -> str:
        if not name:
            return self.default_model
        names = [a.name for a in self.installed()]
        if name not in names:
            raise APIError(404, f"the model {name!r} does not exist or is not installed; installed: {', '.join(names)}",
                           param="model", code="model_not_found")
        return name

    def _model_obj(self, a) -> dict:
        p = self.assistant.store.path(a)
        return {"id": a.name, "object": "model", "created": int(p.stat().st_mtime), "owned_by": "edge",
                "edge": {"loaded": a.name == self.assistant.model_name, "default": a.name == self.default_model,
                         "role": a.role or None, "size": a.size, "description": a.description}}

    # -- the ASGI app --------------------------------------------------------------------------
    def _build_app(self):
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def error(e: APIError):
            return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

        async def health(request):
            return JSONResponse({"status": "ok", "model": self.assistant.model_name, "rag": self.rag,
                                 **self.worker.status()})

        async def models(request):
            return JSONResponse({"object": "list", "data": [self._model_obj(a) for a in self.installed()]})

        async def model(request):
            name = request.path_params["name"]
            for a in self.installed():
                if a.name == name:
                    return JSONResponse(self._model_obj(a))
            return error(APIError(404, f"the model {name!r} does not exist or is not installed", param="model",
                                  code="model_not_found"))

        async def chat(request):
            from starlette.requests import ClientDisconnect
            from starlette.responses import Response

            try:
                return await self._chat(request)
            except ClientDisconnect:  # gone while sending the body
                request.scope["edge.log"]["status"] = 499
                return Response(status_code=499)
            except APIError as e:
                request.scope["edge.log"]["error"] = e.code
                return error(e)

        async def http_error(request, exc):
            return error(APIError(exc.status_code, exc.detail or "error", code="not_found" if exc.status_code == 404 else None))

        async def server_error(request, exc):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
            return error(api_error_from(exc))

        middleware = []
        if self.cors:
            middleware.append(Middleware(CORSMiddleware, allow_origins=[self.cors], allow_methods=["GET", "POST"],
                                         allow_headers=["Authorization", "Content-Type"]))
        if self.api_key:
            middleware.append(Middleware(_KeyCheck, key=self.api_key))
        app = Starlette(
            routes=[
                Route("/health", health, methods=["GET"]),
                Route("/v1/models", models, methods=["GET"]),
                Route("/v1/models/{name:path}", model, methods=["GET"]),
                Route("/v1/chat/completions", chat, methods=["POST"]),
            ],
            middleware=middleware,
            exception_handlers={HTTPException: http_error, Exception: server_error},
        )
        return _AccessLog(app, self._log, self.log_prompts)

    async def _chat(self, request):
        from starlette.responses import JSONResponse, Response

        log = request.scope["edge.log"]
        body = await _read_body(request)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise APIError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from None
        req = parse_chat(data)
        if self.log_prompts:
            log["prompt"] = req.question
        model = self.resolve_model(req.model)
        job = Job(req, model, asyncio.get_running_loop())
        self.worker.submit(job)
        watcher = asyncio.create_task(_watch_disconnect(request.receive, job, self.worker))
        try:
            first = await job.events.get()
            if first[0] == "disconnect":
                log["status"] = 499
                return Response(status_code=499)
            if first[0] == "error":
                raise first[1]
            cid = "chatcmpl-" + uuid.uuid4().hex[:24]
            created = int(time.time())
            if req.stream:
                stream = _EventStream(job, first, cid=cid, created=created, model=model, log=log)
                watcher_ = watcher
                watcher = None  # the stream owns it now
                return _StreamResponse(stream, watcher_)
            parts = []
            kind, value = first
            while kind == "text":
                parts.append(value)
                kind, value = await job.events.get()
            if kind == "disconnect":
                log["status"] = 499
                return Response(status_code=499)
            if kind == "error":
                raise value
            t = value["answer"].timings
            log.update(tokens=(t.prompt_tokens, t.completion_tokens), queue_ms=value["queue_ms"])
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": model, "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                             "logprobs": None, "finish_reason": value["finish_reason"]}],
                "usage": _usage(t),
                "edge": _edge_extra(value),
            })
        finally:
            if watcher is not None:
                watcher.cancel()


class _StreamResponse:
    """Runs the event stream; when the client goes away the watcher cancels the job and ends the stream."""

    def __init__(self, stream: _EventStream, watcher: asyncio.Task):
        self.stream, self.watcher = stream, watcher

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.stream(scope, receive, send)
        except OSError:  # the socket went away mid-send
            self.stream.job.cancelled.set()
        finally:
            self.watcher.cancel()


async def _read_body(request) -> bytes:
    """The body, refusing one over MAX_BODY from its Content-Length, or as soon as it grows past it."""
    too_big = APIError(413, f"the request body is larger than {MAX_BODY // 1024} KB", code="request_too_large",
                       headers={"Connection": "close"})
    cl = request.headers.get("content-length")
    if cl is not None:
        try:
            announced = int(cl)
        except ValueError:
            raise APIError(400, "bad Content-Length header") from None
        if announced > MAX_BODY:
            await _linger(request)
            raise too_big
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > MAX_BODY:
            await _linger(request)
            raise too_big
    return bytes(buf)


LINGER_IDLE_S, LINGER_MAX_S, LINGER_MAX_BYTES = 0.25, 2.0, 32 << 20


async def _linger(request) -> None:
    """Read and drop what the client is still sending, briefly, before the 413 is answered and the
    connection closed: a socket closed with unread bytes resets the connection, and the client's
    system may then drop the reply before the client reads it (nginx's lingering close does the same).
    Stops when the body ends, nothing arrives for LINGER_IDLE_S, or after LINGER_MAX_S / _MAX_BYTES."""
    loop = asyncio.get_running_loop()
    end, seen = loop.time() + LINGER_MAX_S, 0
    while seen < LINGER_MAX_BYTES:
        left = end - loop.time()
        if left <= 0:
            return
        try:
            msg = await asyncio.wait_for(request.receive(), min(LINGER_IDLE_S, left))
        except Exception:  # the idle wait timed out, or the client went away
            return
        if msg.get("type") != "http.request":
            return
        seen += len(msg.get("body", b""))
        if not msg.get("more_body", False):
            return


class _KeyCheck:
    """Requires `Authorization: Bearer KEY` on /v1/ (not on /health), compared in constant time."""

    def __init__(self, app, key: str):
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            auth = dict(scope["headers"]).get(b"authorization", b"")
            given = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given, self.key):
                from starlette.responses import JSONResponse

                e = APIError(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", code="invalid_api_key")
                scope.setdefault("edge.log", {})["error"] = e.code
                await JSONResponse(e.body(), status_code=401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _AccessLog:
    """One line per request: time, method, path, status, tokens (prompt+completion), queue wait, duration."""

    def __init__(self, app, log, log_prompts: bool):
        self.app, self.log, self.log_prompts = app, log, log_prompts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info: dict = {}
        scope["edge.log"] = info
        t0 = time.perf_counter()

        async def send_(msg):
            if msg["type"] == "http.response.start":
                info.setdefault("status", msg["status"])
            await send(msg)

        try:
            await self.app(scope, receive, send_)
        finally:
            ms = (time.perf_counter() - t0) * 1000
            tok = info.get("tokens")
            parts = [time.strftime("%Y-%m-%dT%H:%M:%S"), scope["method"], scope["path"], str(info.get("status", 0)),
                     f"tokens={tok[0]}+{tok[1]}" if tok else "tokens=-"]
            if "queue_ms" in info:
                parts.append(f"queue={info['queue_ms']:.0f}ms")
            parts.append(f"{ms:.0f}ms")
            if info.get("error"):
                parts.append(f"error={info['error']}")
            if self.log_prompts and "prompt" in info:
                parts.append("prompt=" + json.dumps(info["prompt"], ensure_ascii=False))
            self.log("edge serve: " + " ".join(parts))


# -- starting it ------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads so a taken port fails at once, in one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageError(f"cannot listen on {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        what = "is already in use" if e.errno in (98, 48) else f"cannot be used ({e.strerror})"
        raise UsageError(f"port {port} on {host} {what}: pick another with --port") from None
    sock.set_inheritable(True)
    return sock


def serve(settings, *, host: str = "127.0.0.1", port: int = 8080, api_key: str | None = None, max_queue: int = 16,
          cors: str | None = None, log_prompts: bool = False) -> int:
    """Check the options, bind, load the model (and the index with --rag), then serve until interrupted."""
    from .assistant import Assistant

    if not is_loopback(host) and not api_key:
        raise UsageError(f"binding {host} would expose the API to the network: set --api-key KEY or EDGE_API_KEY")
    if max_queue < 1:
        raise UsageError("--max-queue must be at least 1")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    try:
        import uvicorn  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        raise UsageError("the server's dependencies are missing: pip install starlette uvicorn (scripts/setup.sh does)") from None
    sock = bind(host, port)
    try:
        retriever = None
        if settings.rag:
            from .rag import open_retriever

            retriever = open_retriever(settings)
        assistant = Assistant(settings, retriever=retriever)
        assistant.load()
        server = Server(assistant, api_key=api_key, max_queue=max_queue, rag=settings.rag, cors=cors,
                        log_prompts=log_prompts)
    except BaseException:
        sock.close()
        raise
    return run(server, sock)


def _uvicorn_server_class():
    import contextlib
    import signal

    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM once it has shut down, which would kill the process before the
        worker and the model are closed; here a signal only asks it to shut down (a second one forces it)."""

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    return _Server


def run(server: Server, sock: socket.socket) -> int:
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        server.app, log_level="warning", access_log=False, server_header=False, http="h11", lifespan="off",
        # a flood of connections beyond this gets uvicorn's 503 instead of tying up the machine
        limit_concurrency=max(64, 4 * server.worker.max_queue), timeout_graceful_shutdown=3, timeout_keep_alive=5,
    )
    uv = _uvicorn_server_class()(config)
    server.worker.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"edge serve: http://{shown}:{port}/v1 · model {server.default_model} · retrieval "
          f"{'on' if server.rag else 'off'} by default · API key {'required' if server.api_key else 'not required'}"
          f" · queue {server.worker.max_queue}", file=sys.stderr, flush=True)
    try:
        uv.run(sockets=[sock])
    finally:
        server.worker.stop()
        server.assistant.close()
        sock.close()
        print("edge serve: stopped", file=sys.stderr, flush=True)
    return 0
