"""`edge serve`: the real server (uvicorn in a subprocess on a loopback port) called with the official
`openai` client and raw HTTP. Tests that start a model are marked real; the refusals before any model
loads are fast."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, link_models, run_edge

QUESTIONS = [q for q in json.loads((ROOT / "build" / "knowledge-questions.json").read_text()) if q["kind"] == "fact"]


# -- a real server in a subprocess ------------------------------------------------------------------

class EdgeServer:
    """`python -m edge serve --port 0 ...` with its own EDGE_HOME; the port is read from its first line."""

    def __init__(self, home: Path, *args: str, env: dict | None = None):
        full = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_") or k == "EDGE_TEST_MODELS"}
        full.update({"EDGE_HOME": str(home), "EDGE_THREADS": "2", "PYTHONPATH": str(ROOT)}, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--port", "0", *args], env=full, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(120) or self.port is None:
            self.stop()
            raise RuntimeError("edge serve did not start:\n" + "\n".join(self.lines))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.port is None and line.startswith("edge serve: http://"):
                self.banner = line
                self.port = int(line.split("/")[2].rsplit(":", 1)[1])
                self._ready.set()
        self._ready.set()

    def client(self, **kw):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=kw.pop("api_key", "none"), max_retries=0, timeout=120, **kw)

    def get(self, path: str, headers: dict | None = None):
        return request("GET", self.url + path, headers=headers)

    def post(self, path: str, body, headers: dict | None = None, timeout: float = 120):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return request("POST", self.url + path, data=data, headers={"Content-Type": "application/json", **(headers or {})}, timeout=timeout)

    def wait_log(self, pred, timeout: float = 10.0) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self.lines):
                if pred(line):
                    return line
            time.sleep(0.05)
        raise AssertionError("no such log line in:\n" + "\n".join(self.lines))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def request(method: str, url: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 120):
    """(status, headers, parsed JSON or text) of one HTTP request, errors included."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, raw.decode("utf-8", "replace")


def assert_error(resp, status: int, *, param=None, code=None):
    st, _, body = resp
    assert st == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def chat_body(question: str, **kw) -> dict:
    return {"messages": [{"role": "user", "content": question}], "max_tokens": 16, **kw}


@pytest.fixture(scope="module")
def serve_home(pulled_models, sample_index_file, tmp_path_factory) -> Path:
    home = link_models(pulled_models, tmp_path_factory.mktemp("serve") / "edge-home")
    shutil.copy(sample_index_file, home / "index.db")
    return home


@pytest.fixture(scope="module")
def server(serve_home):
    s = EdgeServer(serve_home)
    yield s
    s.stop()


# -- fast: the parts that need no model --------------------------------------------------------------

def test_messages_map_to_system_history_and_question():
    from edge.prompt import Turn
    from edge.serve import parse_chat

    r = parse_chat({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "2+2?"}]},
    ], "stop": "\n", "max_tokens": 7, "temperature": 0.5, "seed": -1, "edge": {"rag": True, "k": 3}})
    assert r.system == "Be brief." and r.history == [Turn("Hi", "Hello.")] and r.question == "What is\n2+2?"
    assert r.stop == ["\n"] and r.max_tokens == 7 and r.temperature == 0.5 and r.seed == 0xFFFFFFFF
    assert r.rag is True and r.k == 3 and r.stream is False
    r = parse_chat({"messages": [{"role": "user", "content": "q"}]})
    assert r.system is None and r.rag is None and r.max_tokens is None and r.stop == []


@pytest.mark.parametrize("body, param", [
    ([], ""),
    ({}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"role": "user", "content": "  "}]}, "messages"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": "q"}], "max_tokens": "10"}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "q"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "q"}], "temperature": 3}, "temperature"),
    ({"messages": [{"role": "user", "content": "q"}], "top_p": True}, "top_p"),
    ({"messages": [{"role": "user", "content": "q"}], "stop": 5}, "stop"),
    ({"messages": [{"role": "user", "content": "q"}], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"messages": [{"role": "user", "content": "q"}], "stream": "yes"}, "stream"),
    ({"messages": [{"role": "user", "content": "q"}], "n": 2}, "n"),
    ({"messages": [{"role": "user", "content": "q"}], "model": 3}, "model"),
    ({"messages": [{"role": "user", "content": "q"}], "edge": {"rag": "yes"}}, "edge.rag"),
    ({"messages": [{"role": "user", "content": "q"}], "edge": {"k": 0}}, "k"),
])
def test_bad_bodies_are_refused_with_the_field_named(body, param):
    from edge.serve import APIError, parse_chat

    with pytest.raises(APIError) as e:
        parse_chat(body)
    assert e.value.status == 400 and e.value.param == param


def test_stop_strings_are_cut_across_pieces():
    from edge.serve import StopMatcher

    m = StopMatcher(["END", "\n\n"])
    out = [m.feed(p) for p in ["Hel", "lo E", "N", "ver", " E", "ND more"]]
    assert "".join(out) == "Hello ENver " and m.hit
    assert m.feed("after") == ""
    m = StopMatcher(["xyz"])
    assert m.feed("abx") == "ab" and m.feed("y") == "" and m.feed("!") == "xy!" and m.flush() == "" and not m.hit
    m = StopMatcher([])
    assert m.feed("a") == "a"


def test_serve_refuses_a_network_address_without_a_key(_isolated_home):
    p = run_edge("serve", "--host", "0.0.0.0", "--port", "0", timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "--api-key" in p.stderr and "EDGE_API_KEY" in p.stderr and "Traceback" not in p.stderr


def test_serve_refuses_a_port_in_use_in_one_line(_isolated_home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = run_edge("serve", "--port", str(port), timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "in use" in p.stderr and str(port) in p.stderr


def test_serve_without_a_model_says_what_to_run(_isolated_home):
    p = run_edge("serve", "--port", "0", timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "edge models pull" in p.stderr and "Traceback" not in p.stderr


def test_serve_help_names_its_flags():
    p = run_edge("serve", "--help")
    assert p.returncode == 0
    for flag in ("--host", "--port", "--model", "--rag", "--no-rag", "--api-key", "--max-queue", "--cors", "--log-prompts"):
        assert flag in p.stdout, flag


# -- real: the official client against the real server ------------------------------------------------

@pytest.mark.real
def test_plain_answer_is_the_same_as_edge_ask(server, serve_home):
    c = server.client()
    q = "Name three colours."
    r = c.chat.completions.create(model=server.get("/health")[2]["model"], messages=[{"role": "user", "content": q}], max_tokens=24)
    text = r.choices[0].message.content
    assert isinstance(text, str) and text.strip()
    assert r.object == "chat.completion" and r.choices[0].finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 0 and 0 < u.completion_tokens <= 24 and u.total_tokens == u.prompt_tokens + u.completion_tokens
    extra = r.model_extra["edge"]
    t = extra["timings"]
    assert t["prompt_tokens"] == u.prompt_tokens and t["completion_tokens"] == u.completion_tokens
    assert t["ttft_ms"] > 0 and t["decode_tok_s"] >= 0 and extra["sources"] == [] and extra["queue_ms"] >= 0
    # One prompt path: `edge ask` builds the same prompt and, greedy, writes the same answer.
    env = {"EDGE_HOME": str(serve_home), "EDGE_THREADS": "2"}
    p = run_edge("ask", q, "--json", "--max-tokens", "24", env=env)
    assert p.returncode == 0, p.stderr
    ask = json.loads(p.stdout)
    assert ask["timings"]["prompt_tokens"] == u.prompt_tokens
    assert ask["answer"] == text
    # one log line for it, without the prompt
    line = server.wait_log(lambda s: "POST /v1/chat/completions 200" in s)
    assert f"tokens={u.prompt_tokens}+{u.completion_tokens}" in line and q not in line


@pytest.mark.real
def test_streamed_answer_matches_the_plain_one(server):
    c = server.client()
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about rivers."}]
    plain = c.chat.completions.create(model="", messages=msgs, max_tokens=20).choices[0].message.content
    chunks = list(c.chat.completions.create(model="", messages=msgs, max_tokens=20, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == plain
    finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason in ("stop", "length")
    assert finals[0].model_extra["edge"]["timings"]["completion_tokens"] > 0
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == finals[0].model_extra["edge"]["timings"]["completion_tokens"]


@pytest.mark.real
def test_stop_and_max_tokens(server):
    c = server.client()
    msgs = [{"role": "user", "content": "Write two sentences about the sea."}]
    full = c.chat.completions.create(model="", messages=msgs, max_tokens=40).choices[0].message.content
    words = full.split()
    assert len(words) > 4, full
    stop = " " + words[3]
    cut = full[: full.index(stop)]
    r = c.chat.completions.create(model="", messages=msgs, max_tokens=40, stop=[stop, "\u2603"])
    assert r.choices[0].message.content == cut and r.choices[0].finish_reason == "stop"
    assert r.model_extra["edge"]["stop_reason"] == "stop"
    pieces = [ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="", messages=msgs, max_tokens=40, stop=stop, stream=True) if ch.choices]
    assert "".join(pieces) == cut
    r = c.chat.completions.create(model="", messages=msgs, max_tokens=3, extra_body={"edge": {"ignore_eos": True}})
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3


@pytest.mark.real
@pytest.mark.parametrize("q", QUESTIONS[:3], ids=lambda q: q["id"])
def test_retrieval_answer_carries_a_source_holding_the_answer(server, q):
    c = server.client()
    r = c.chat.completions.create(model="", messages=[{"role": "user", "content": q["question"]}], max_tokens=32,
                                  extra_body={"edge": {"rag": True, "k": 4}})
    extra = r.model_extra["edge"]
    assert extra["mode"].endswith("+rag")
    srcs = extra["sources"]
    assert 1 <= len(srcs) <= 4
    for s in srcs:
        assert s["path"] and s["text"] and len(s["lines"]) == 2 and s["lines"][0] <= s["lines"][1] and "heading" in s
    assert any(q["file"] in s["path"] and any(a in s["text"] for a in q["answer_contains"]) for s in srcs), srcs
    t = extra["timings"]
    assert t["embed_ms"] is not None and t["search_ms"] is not None
    # streamed, the sources come with the final chunk
    chunks = list(c.chat.completions.create(model="", messages=[{"role": "user", "content": q["question"]}], max_tokens=8,
                                            stream=True, extra_body={"edge": {"rag": True}}))
    final = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason][0]
    assert [s["path"] for s in final.model_extra["edge"]["sources"]] == [s["path"] for s in srcs]


@pytest.mark.real
def test_models_and_health(server):
    import openai

    c = server.client()
    ids = [m.id for m in c.models.list().data]
    health = server.get("/health")[2]
    assert health["status"] == "ok" and health["model"] in ids and "smollm2-135m-instruct-q4_1" in ids
    assert c.models.retrieve(health["model"]).id == health["model"]
    with pytest.raises(openai.NotFoundError) as e:
        c.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404 and e.value.body["code"] == "model_not_found"
    # switching to another installed model is allowed (and serialized through the queue)
    other = "smollm2-135m-instruct-q4_1"
    r = c.chat.completions.create(model=other, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert r.model == other and r.usage.completion_tokens > 0


@pytest.mark.real
def test_bad_input_gets_error_objects_and_the_server_keeps_serving(server):
    path = "/v1/chat/completions"
    assert_error(server.post(path, b"{not json"), 400, code="invalid_json")
    assert_error(server.post(path, b"[1, 2]"), 400)
    assert_error(server.post(path, {"messages": "hi"}), 400, param="messages")
    assert_error(server.post(path, {"messages": []}), 400, param="messages")
    assert_error(server.post(path, chat_body("q", max_tokens="many")), 400, param="max_tokens")
    assert_error(server.post(path, chat_body("q", temperature=-1)), 400, param="temperature")
    assert_error(server.post(path, chat_body("q", model="nope")), 404, code="model_not_found")
    assert_error(server.get("/v1/nothing"), 404)
    assert_error(server.get(path), 405)
    # 10 MB, announced: refused from the Content-Length, before it is sent
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10 * 2**20))
    conn.endheaders()
    conn.send(b"{" + b" " * 65536)
    r = conn.getresponse()
    body = json.loads(r.read())
    assert r.status == 413 and body["error"]["code"] == "request_too_large"
    conn.close()
    # 10 MB, chunked (no length): refused once 1 MB has arrived
    def chunks():
        for _ in range(160):
            yield b" " * 65536
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", path, body=chunks(), headers={"Content-Type": "application/json"}, encode_chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the client finished sending
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]["code"] == "request_too_large"
    conn.close()
    # a question longer than the context window: 400 with the figures
    err = assert_error(server.post(path, chat_body("word " * 3000)), 400, code="context_length_exceeded")
    assert "tokens" in err["message"] and any(ch.isdigit() for ch in err["message"])
    # still serving
    st, _, body = server.post(path, chat_body("Hello"))
    assert st == 200 and body["choices"][0]["message"]["content"]
    assert server.get("/health")[0] == 200
    assert not any("Traceback" in line for line in server.lines)


@pytest.mark.real
def test_the_api_key_is_checked(serve_home, pulled_models, tmp_path):
    import openai

    s = EdgeServer(serve_home, env={"EDGE_API_KEY": "s3cret-key"})
    try:
        assert "API key required" in s.banner
        with pytest.raises(openai.AuthenticationError) as e:
            s.client(api_key="wrong").chat.completions.create(model="", messages=[{"role": "user", "content": "hi"}])
        assert e.value.status_code == 401 and e.value.body["code"] == "invalid_api_key"
        assert_error(s.get("/v1/models"), 401, code="invalid_api_key")
        assert_error(s.get("/v1/models", headers={"Authorization": "Bearer s3cret-ke"}), 401)
        assert s.get("/health")[0] == 200  # health needs no key
        r = s.client(api_key="s3cret-key").chat.completions.create(model="", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        assert r.usage.completion_tokens > 0
    finally:
        s.stop()
    # a flag works too, on another loopback address (this home has no index: retrieval is refused, not a crash)
    s = EdgeServer(link_models(pulled_models, tmp_path / "no-index"), "--host", "127.0.0.2", "--api-key", "k2")
    try:
        assert "127.0.0.2" in s.banner
        auth = {"Authorization": "Bearer k2", "Content-Type": "application/json"}
        st, _, _ = request("GET", f"http://127.0.0.2:{s.port}/v1/models", headers=auth)
        assert st == 200
        assert request("GET", f"http://127.0.0.2:{s.port}/v1/models")[0] == 401
        url = f"http://127.0.0.2:{s.port}/v1/chat/completions"
        err = assert_error(request("POST", url, data=json.dumps(chat_body("q", edge={"rag": True})).encode(), headers=auth),
                           400, code="rag_unavailable")
        assert "edge index add" in err["message"]
        assert request("POST", url, data=json.dumps(chat_body("q")).encode(), headers=auth)[0] == 200
    finally:
        s.stop()


def _long_stream(port: int, max_tokens: int = 1500) -> http.client.HTTPConnection:
    """Open a streamed answer that would take many seconds (EOS ignored), read its first chunk, return the connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body(
        "Tell me a long story.", max_tokens=max_tokens, stream=True, edge={"ignore_eos": True})),
        headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    assert r.readline().startswith(b"data: ")
    return conn


@pytest.mark.real
def test_queue_limit_disconnect_and_flood(serve_home):
    s = EdgeServer(serve_home, "--max-queue", "1")
    try:
        # A runs (a long streamed answer), B waits, C finds the queue full
        a = _long_stream(s.port)
        result = {}
        b = threading.Thread(target=lambda: result.setdefault("b", s.post("/v1/chat/completions", chat_body("Hi", max_tokens=4))))
        b.start()
        deadline = time.time() + 10
        while s.get("/health")[2]["waiting"] < 1 and time.time() < deadline:
            time.sleep(0.02)
        health = s.get("/health")[2]
        assert health["busy"] and health["waiting"] == 1
        c = s.post("/v1/chat/completions", chat_body("Hi", max_tokens=4))
        assert_error(c, 429, code="queue_full")
        assert int(c[1]["Retry-After"]) >= 1
        # A's client goes away: its generation stops at once, and B is answered
        t0 = time.time()
        a.sock.shutdown(socket.SHUT_RDWR)
        a.close()
        b.join(30)
        assert result["b"][0] == 200 and time.time() - t0 < 5  # A alone had ~1500 tokens (>10 s) to go
        s.wait_log(lambda line: "POST /v1/chat/completions 499" in line)
        deadline = time.time() + 2  # B's answer is sent a moment before the worker marks itself idle
        while s.get("/health")[2]["busy"] and time.time() < deadline:
            time.sleep(0.02)
        assert s.get("/health")[2]["busy"] is False

        # the same for a client that goes away while waiting for a whole (not streamed) answer
        raw = socket.create_connection(("127.0.0.1", s.port))
        body = json.dumps(chat_body("Tell me a story.", max_tokens=1500, edge={"ignore_eos": True})).encode()
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        deadline = time.time() + 10
        while not s.get("/health")[2]["busy"] and time.time() < deadline:
            time.sleep(0.02)
        n499 = sum("POST /v1/chat/completions 499" in line for line in s.lines)
        raw.close()
        t0 = time.time()
        st, _, out = s.post("/v1/chat/completions", chat_body("Hi", max_tokens=4), timeout=60)
        assert st == 200 and time.time() - t0 < 5
        s.wait_log(lambda line: sum("POST /v1/chat/completions 499" in x for x in s.lines) > n499)

        # a client that opens a stream and never reads does not hold the model
        raw = socket.create_connection(("127.0.0.1", s.port))
        body = json.dumps(chat_body("Tell me a story.", max_tokens=200, stream=True, edge={"ignore_eos": True})).encode()
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(0.3)
        st, _, out = s.post("/v1/chat/completions", chat_body("Hi", max_tokens=4), timeout=60)
        assert st == 200 and out["usage"]["completion_tokens"] > 0
        raw.close()

        # a flood: every request is answered or refused with 429, and the server keeps serving
        statuses = []
        lock = threading.Lock()

        def one():
            r = s.post("/v1/chat/completions", chat_body("Hi", max_tokens=2), timeout=120)
            with lock:
                statuses.append((r[0], r[2]["error"]["code"] if r[0] != 200 else None))

        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert len(statuses) == 40
        assert {st for st, _ in statuses} <= {200, 429} and (429, "queue_full") in statuses and any(st == 200 for st, _ in statuses)
        assert s.post("/v1/chat/completions", chat_body("Hi", max_tokens=2))[0] == 200
        assert s.proc.poll() is None and not any("Traceback" in line for line in s.lines)
    finally:
        s.stop()


@pytest.mark.real
def test_log_prompts_and_cors(serve_home):
    s = EdgeServer(serve_home, "--log-prompts", "--cors", "http://example.test")
    try:
        st, hdrs, _ = s.post("/v1/chat/completions", chat_body("Whisper this", max_tokens=2), headers={"Origin": "http://example.test"})
        assert st == 200 and hdrs["access-control-allow-origin"] == "http://example.test"
        assert 'prompt="Whisper this"' in s.wait_log(lambda line: "POST /v1/chat/completions 200" in line)
        st, hdrs, _ = s.get("/v1/models", headers={"Origin": "http://elsewhere.test"})
        assert st == 200 and "access-control-allow-origin" not in hdrs
    finally:
        s.stop()


@pytest.mark.real
def test_a_server_started_with_rag_answers_from_the_index_by_default(serve_home):
    s = EdgeServer(serve_home, "--rag", "--k", "2")
    try:
        assert "retrieval on" in s.banner
        q = QUESTIONS[3]
        st, _, body = s.post("/v1/chat/completions", chat_body(q["question"], max_tokens=8))
        assert st == 200 and body["edge"]["mode"].endswith("+rag") and len(body["edge"]["sources"]) == 2
        st, _, body = s.post("/v1/chat/completions", chat_body(q["question"], max_tokens=8, edge={"rag": False}))
        assert st == 200 and body["edge"]["sources"] == [] and not body["edge"]["mode"].endswith("+rag")
    finally:
        s.stop()


@pytest.mark.real
def test_stream_with_leaves_the_assistants_own_conversation_alone(real_home):
    """The API's way into the assistant: its history, system prompt and sampling for one answer only."""
    from edge.assistant import Assistant
    from edge.config import load_settings
    from edge.prompt import Turn

    a = Assistant(load_settings(threads=2, max_tokens=8))
    a.ask("Hello there.")
    history, settings = list(a.history), a.settings
    events = list(a.stream_with("And now?", history=[Turn("Q1", "A1")], system_prompt="Be brief.", max_tokens=3,
                                temperature=0.0, ignore_eos=True))
    assert events[-1].done and events[-1].timings.completion_tokens == 3
    assert a.last.question == "And now?"
    assert a.history == history and a.settings is settings and a.settings.max_tokens == 8
    # the explicit history and system prompt were the ones used: the prompt is longer than without them
    bare = list(a.stream_with("And now?", max_tokens=1, ignore_eos=True, system_prompt="x"))[-1].timings.prompt_tokens
    assert events[-1].timings.prompt_tokens > bare
    a.close()
