#!/usr/bin/env python3
"""Load test for `edge serve`: concurrent clients against a real server on loopback, then the API's decode
speed against `edge ask --json` on the same prompt. Bounded in requests and in time; stops by itself.

    flock /tmp/edge-cpu.lock .venv/bin/python scripts/load_serve.py --out build/reports/serve.md

It starts `python -m edge serve --port 0` (the data directory in force, its default model unless --model),
sends one warm-up request, then for each round CLIENTS threads each send REQUESTS short requests one after
another (a 429 is recorded, not retried). It reports, per round: answered / refused (429) / errors / hung (no
answer within --timeout), p50 and p95 of the queue wait (the server's `edge.queue_ms`) and of the latency seen
by the client, and the server's resident memory (VmRSS from /proc) before and after. Then, with the server
idle, it streams one answer of --compare-tokens tokens (EOS ignored) and runs `edge ask --json --ignore-eos`
on the same prompt, alternately, --compare-runs times each, and compares decode tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ["Say hello.", "Name a colour.", "What is two plus two?", "Name a fruit.", "Give me one word."]
STORY = "Tell me a long story about a lighthouse keeper."


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    i = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[i]


class Server:
    def __init__(self, args):
        cmd = [sys.executable, "-m", "edge", "serve", "--port", "0", "--max-queue", str(args.max_queue)]
        if args.model:
            cmd += ["--model", args.model]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                if self.port is None and line.startswith("edge serve: http://"):
                    self.port = int(line.split("/")[2].rsplit(":", 1)[1])
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(180) or self.port is None:
            self.stop()
            sys.exit("load_serve.py: the server did not start:\n" + "\n".join(self.lines))
        self.url = f"http://127.0.0.1:{self.port}"

    def post(self, body: dict, timeout: float):
        req = urllib.request.Request(self.url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.headers, json.loads(e.read() or b"{}")

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def load_round(srv: Server, args) -> dict:
    results: list[dict] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.round_seconds

    def client(ci: int):
        for ri in range(args.requests):
            left = deadline - time.monotonic()
            if left <= 0:
                with lock:
                    results.append({"outcome": "hung", "why": "round time limit"})
                continue
            body = {"messages": [{"role": "user", "content": PROMPTS[(ci + ri) % len(PROMPTS)]}], "max_tokens": args.max_tokens}
            t0 = time.perf_counter()
            try:
                st, hdrs, out = srv.post(body, timeout=min(args.timeout, left))
            except (TimeoutError, OSError) as e:
                rec = {"outcome": "hung" if "timed out" in str(e) else "error", "why": str(e)}
            else:
                ms = (time.perf_counter() - t0) * 1000
                if st == 200:
                    rec = {"outcome": "answered", "ms": ms, "queue_ms": out["edge"]["queue_ms"],
                           "tokens": out["usage"]["completion_tokens"]}
                elif st == 429:
                    rec = {"outcome": "429", "ms": ms, "retry_after": hdrs.get("Retry-After")}
                else:
                    rec = {"outcome": "error", "why": f"{st} {out}"}
            with lock:
                results.append(rec)

    rss0 = rss_kb(srv.proc.pid)
    peak = [rss0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            peak.append(rss_kb(srv.proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + args.timeout + 5)
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    sent = args.clients * args.requests
    lost = sent - len(results)  # threads still stuck past every limit
    ans = [r for r in results if r["outcome"] == "answered"]
    ref = [r for r in results if r["outcome"] == "429"]
    return {
        "sent": sent,
        "answered": len(ans),
        "refused_429": len(ref),
        "errors": sum(r["outcome"] == "error" for r in results),
        "hung": sum(r["outcome"] == "hung" for r in results) + lost,
        "error_samples": [r["why"] for r in results if r["outcome"] in ("error", "hung")][:3],
        "queue_ms_p50": pct([r["queue_ms"] for r in ans], 50),
        "queue_ms_p95": pct([r["queue_ms"] for r in ans], 95),
        "latency_ms_p50": pct([r["ms"] for r in ans], 50),
        "latency_ms_p95": pct([r["ms"] for r in ans], 95),
        "refusal_ms_p50": pct([r["ms"] for r in ref], 50),
        "retry_after_s": sorted({int(r["retry_after"]) for r in ref if r.get("retry_after")}),
        "completion_tokens": sum(r["tokens"] for r in ans),
        "wall_s": wall,
        "rss_before_kb": rss0,
        "rss_after_kb": rss_kb(srv.proc.pid),
        "rss_peak_kb": max(peak),
    }


def api_plain_decode(srv: Server, args) -> float:
    """One answer, not streamed (the client only waits): the engine's decode tok/s."""
    st, _, out = srv.post({"messages": [{"role": "user", "content": STORY}], "max_tokens": args.compare_tokens,
                           "edge": {"ignore_eos": True}}, timeout=args.timeout)
    assert st == 200, out
    return out["edge"]["timings"]["decode_tok_s"]


def api_decode(srv: Server, args) -> dict:
    """One streamed answer: the engine's decode tok/s (edge.timings) and the rate the client saw."""
    body = {"messages": [{"role": "user", "content": STORY}], "max_tokens": args.compare_tokens, "stream": True,
            "edge": {"ignore_eos": True}}
    req = urllib.request.Request(srv.url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    t_first = t_last = None
    final = None
    with urllib.request.urlopen(req, timeout=args.timeout) as r:
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ch = json.loads(line[6:])
            if ch["choices"] and ch["choices"][0]["delta"].get("content"):
                t_last = time.perf_counter()
                t_first = t_first or t_last
            if ch["choices"] and ch["choices"][0]["finish_reason"]:
                final = ch
    t = final["edge"]["timings"]
    n = t["completion_tokens"]
    client = (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else 0.0
    return {"engine_tok_s": t["decode_tok_s"], "client_tok_s": client, "tokens": n}


def ask_decode(model: str, args) -> dict:
    p = subprocess.run([sys.executable, "-m", "edge", "ask", STORY, "--json", "--ignore-eos", "--max-tokens",
                        str(args.compare_tokens), "--model", model], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=args.timeout)
    if p.returncode != 0:
        sys.exit(f"load_serve.py: edge ask failed: {p.stderr.strip()}")
    t = json.loads(p.stdout)["timings"]
    return {"engine_tok_s": t["decode_tok_s"], "tokens": t["completion_tokens"]}


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(v, unit="", nd=0):
    return "–" if v is None else f"{v:.{nd}f}{unit}"


def report(res: dict) -> str:
    a = res["args"]
    lines = [
        "# `edge serve` under load",
        "",
        f"Made by `scripts/load_serve.py` on {res['date']} at commit `{res['commit']}`: {res['cpu']}, "
        f"{res['cores']} logical CPUs, Python {platform.python_version()}. Model `{res['model']}`; server started with "
        f"`--max-queue {a['max_queue']}`. {a['clients']} concurrent clients x {a['requests']} requests each per round "
        f"(a 429 is counted, not retried), `max_tokens` {a['max_tokens']}, client timeout {a['timeout']} s.",
        "",
        "| round | sent | answered | 429 | errors | hung | queue wait p50 / p95 | latency p50 / p95 | 429 in (p50) | Retry-After | RSS before → after (peak) | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(res["rounds"], 1):
        lines.append(
            f"| {i} | {r['sent']} | {r['answered']} | {r['refused_429']} | {r['errors']} | {r['hung']} | "
            f"{fmt(r['queue_ms_p50'], ' ms')} / {fmt(r['queue_ms_p95'], ' ms')} | {fmt(r['latency_ms_p50'], ' ms')} / "
            f"{fmt(r['latency_ms_p95'], ' ms')} | {fmt(r['refusal_ms_p50'], ' ms', 1)} | "
            f"{', '.join(map(str, r['retry_after_s'])) or '–'} s | {r['rss_before_kb'] / 1024:.1f} → {r['rss_after_kb'] / 1024:.1f} MB "
            f"({r['rss_peak_kb'] / 1024:.1f}) | {r['wall_s']:.1f} s |")
    rs = res["rounds"]
    lines += [
        "",
        f"Server RSS after warm-up {res['rss_warm_kb'] / 1024:.1f} MB; after the last round {rs[-1]['rss_after_kb'] / 1024:.1f} MB "
        f"(growth over the run {(rs[-1]['rss_after_kb'] - res['rss_warm_kb']) / 1024:+.1f} MB; between the end of round 1 and the end "
        f"of round {len(rs)}: {(rs[-1]['rss_after_kb'] - rs[0]['rss_after_kb']) / 1024:+.1f} MB).",
        f"Every request answered or refused: {'yes' if all(r['errors'] == 0 and r['hung'] == 0 for r in rs) else 'NO'}. "
        f"Server exit after SIGTERM: {res['exit_code']}.",
    ]
    for r in rs:
        if r["error_samples"]:
            lines.append(f"Errors/hung samples: {r['error_samples']}")
    c = res["compare"]
    lines += [
        "",
        f"## Decode speed: API vs `edge ask --json` ({a['compare_tokens']} tokens, EOS ignored, same prompt, same model, "
        f"server idle; {a['compare_runs']} runs each, alternating; medians)",
        "",
        "| path | decode tok/s (each run) | median |",
        "|---|---|---|",
        f"| `edge ask --json` (engine timing) | {', '.join(f'{x:.1f}' for x in c['ask'])} | {statistics.median(c['ask']):.1f} |",
        f"| API, streamed, engine timing (`edge.timings.decode_tok_s`) | {', '.join(f'{x:.1f}' for x in c['api_engine'])} | {statistics.median(c['api_engine']):.1f} |",
        f"| API, as the streaming client saw it | {', '.join(f'{x:.1f}' for x in c['api_client'])} | {statistics.median(c['api_client']):.1f} |",
        f"| API, not streamed (engine timing) | {', '.join(f'{x:.1f}' for x in c['api_plain'])} | {statistics.median(c['api_plain']):.1f} |",
        "",
        f"Overhead of the API against `edge ask` (median decode tok/s; positive = the API is slower; target ≤ 5 %): "
        f"streamed {c['overhead_engine_pct']:+.1f} % by the engine's timing, {c['overhead_client_pct']:+.1f} % as the "
        f"client saw it; not streamed {c['overhead_plain_pct']:+.1f} %. The streaming client runs on the same "
        f"{res['cores']} CPUs as the server, so its own reading is part of the streamed figures.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=5, help="requests per client per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (RSS is read after each)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--max-queue", type=int, default=16)
    ap.add_argument("--model", help="model to serve (default: the server's default)")
    ap.add_argument("--timeout", type=float, default=120, help="a request with no answer after this many seconds is hung")
    ap.add_argument("--round-seconds", type=float, default=300, help="a round stops sending after this many seconds")
    ap.add_argument("--compare-tokens", type=int, default=256)
    ap.add_argument("--compare-runs", type=int, default=5)
    ap.add_argument("--out", help="write the Markdown report here (and the raw figures beside it as .json)")
    args = ap.parse_args()
    if min(args.clients, args.requests, args.rounds, args.compare_runs) < 1:
        ap.error("--clients, --requests, --rounds and --compare-runs must be at least 1")

    srv = Server(args)
    try:
        model = srv.get("/health")["model"]
        st, _, _ = srv.post({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}, timeout=args.timeout)
        if st != 200:
            sys.exit(f"load_serve.py: the warm-up request got {st}")
        rss_warm = rss_kb(srv.proc.pid)
        rounds = []
        for i in range(args.rounds):
            r = load_round(srv, args)
            print(f"round {i + 1}: {json.dumps(r)}", file=sys.stderr, flush=True)
            rounds.append(r)
        ask, api_e, api_c, api_p = [], [], [], []
        for i in range(args.compare_runs):
            ask.append(ask_decode(model, args)["engine_tok_s"])
            d = api_decode(srv, args)
            api_e.append(d["engine_tok_s"])
            api_c.append(d["client_tok_s"])
            api_p.append(api_plain_decode(srv, args))
            print(f"compare {i + 1}: ask {ask[-1]:.1f}, api streamed {api_e[-1]:.1f} (client {api_c[-1]:.1f}), "
                  f"api plain {api_p[-1]:.1f} tok/s", file=sys.stderr, flush=True)
    finally:
        code = srv.stop()
    m_ask = statistics.median(ask)
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "cpu": cpu_model(), "cores": os.cpu_count(), "model": model, "args": vars(args), "rss_warm_kb": rss_warm,
        "rounds": rounds, "exit_code": code,
        "compare": {"ask": ask, "api_engine": api_e, "api_client": api_c, "api_plain": api_p,
                    "overhead_engine_pct": (m_ask - statistics.median(api_e)) / m_ask * 100,
                    "overhead_client_pct": (m_ask - statistics.median(api_c)) / m_ask * 100,
                    "overhead_plain_pct": (m_ask - statistics.median(api_p)) / m_ask * 100},
        "log_lines": sum(1 for line in srv.lines if " /v1/chat/completions " in line),
    }
    md = report(res)
    print(md)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(md, encoding="utf-8")
        out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    ok = all(r["errors"] == 0 and r["hung"] == 0 for r in rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
