#!/usr/bin/env python3
"""The chat's decode speed against `edge ask`'s, on the same model and prompt, in one run.

`edge chat` runs in a real terminal (tmux, 110×34, as a person would use it): the prompt is
typed, Enter pressed, and the answer's timings are read from the conversation store when it is
stored. Between two chat answers, `edge ask --json` answers the same prompt in a fresh process,
so both see the same machine. Every answer is exactly --tokens long (`--ignore-eos`); each chat
answer starts a new conversation (Ctrl+N), so each decodes from the same depth. The first chat
answer is a warm-up and is not counted. Prints both medians and their ratio.

`--startup` also measures, in tmux: process start to the question box on screen, and the time
from Enter to the question shown when it is sent at once (while the model is still loading);
`--startup-only` measures only that.

Hold the CPU to yourself while it runs (here: `flock /tmp/edge-cpu.lock python scripts/bench_tui.py`).

    python scripts/bench_tui.py [--model NAME ...] [--tokens 128] [--runs 5] [--startup | --startup-only] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write a long story about a lighthouse keeper."
SIZE = (110, 34)


def private_home(models_dir: Path) -> Path:
    """An empty EDGE_HOME whose models/ links to the real model files (the chats stay private)."""
    home = Path(tempfile.mkdtemp(prefix="edge-bench-tui-"))
    (home / "models").mkdir()
    for p in models_dir.iterdir():
        if p.is_file() and not p.name.endswith(".json"):
            (home / "models" / p.name).symlink_to(p)
        elif p.is_file():
            shutil.copy(p, home / "models" / p.name)
    return home


class Tmux:
    def __init__(self, sock: Path):
        self.sock = sock

    def __call__(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(["tmux", "-S", str(self.sock), *args], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def start(self, command: str, env: dict) -> None:
        envs = [x for k, v in env.items() for x in ("-e", f"{k}={v}")]
        self("new-session", "-d", "-s", "bench", "-x", str(SIZE[0]), "-y", str(SIZE[1]), *envs, command)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "bench", check=False)

    def wait_for(self, text: str, timeout: float = 120.0, poll: float = 0.005) -> float:
        """Seconds until `text` is on screen."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if text in self.screen():
                return time.perf_counter() - t0
            time.sleep(poll)
        raise RuntimeError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", "bench", *(["-l"] if literal else []), *keys)

    def kill(self) -> None:
        self("kill-server", check=False)


def answers_stored(db: Path) -> list[dict]:
    """Timings of the chat answers stored so far, oldest first."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT timings FROM messages WHERE role = 'assistant' ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [json.loads(r[0] or "{}") for r in rows]


def ask_once(env: dict, model: str, tokens: int) -> dict:
    cmd = [sys.executable, "-m", "edge", "ask", PROMPT, "--json", "--ignore-eos", "--max-tokens", str(tokens), "--model", model]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"edge ask failed: {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)["timings"]


def compare(model: str, tokens: int, runs: int, home: Path, env: dict, log, chat_env: dict | None = None) -> dict:
    tm = Tmux(home / "tmux.sock")
    db = home / "chats.db"
    ask_runs, chat_runs, ask_threads, chat_threads = [], [], [], []
    try:
        tm.start(f"{sys.executable} -m edge chat --ignore-eos --max-tokens {tokens} --model {model}", {**env, **(chat_env or {})})
        tm.wait_for("Ask something")
        for i in range(runs + 1):
            tm.keys(PROMPT, literal=True)
            tm.keys("Enter")
            deadline = time.monotonic() + 300
            while len(answers_stored(db)) < i + 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the chat's answer {i + 1} was never stored; the screen was:\n{tm.screen()}")
                time.sleep(0.05)
            t = answers_stored(db)[i]
            if t.get("completion_tokens") != tokens:
                raise RuntimeError(f"chat answer of {t.get('completion_tokens')} tokens, not {tokens}")
            tm.wait_for("decode")  # the stats line is drawn: the chat is idle again
            tm.keys("C-n")  # a new conversation: the next answer starts from the same depth
            time.sleep(0.3)
            if i == 0:
                log(f"{model}: chat warm-up {t['decode_tok_s']:.1f} tok/s")
                continue
            chat_runs.append(t["decode_tok_s"])
            chat_threads.append(t.get("threads"))
            a = ask_once(env, model, tokens)
            ask_runs.append(a["decode_tok_s"])
            ask_threads.append(a.get("threads"))
            log(f"{model}: round {i}: chat {t['decode_tok_s']:.1f} tok/s, ask {a['decode_tok_s']:.1f} tok/s")
    finally:
        tm.kill()
    chat_med, ask_med = statistics.median(chat_runs), statistics.median(ask_runs)
    return {"model": model, "tokens": tokens, "runs": runs, "chat_decode_tok_s": chat_runs, "ask_decode_tok_s": ask_runs,
            "chat_threads": chat_threads, "ask_threads": ask_threads,
            "chat_median": chat_med, "ask_median": ask_med, "ratio": chat_med / ask_med}


def startup(model: str, runs: int, home: Path, env: dict, log) -> dict:
    """Process start to the question box; Enter to the question on screen while the model loads."""
    ready, reaction, loading_then = [], [], []
    question = "Is the question shown at once?"
    for i in range(runs):
        tm = Tmux(home / f"tmux-start-{i}.sock")
        try:
            t0 = time.perf_counter()
            tm.start(f"{sys.executable} -m edge chat --model {model} --max-tokens 8", env)
            tm.wait_for("Ask something", poll=0.002)
            ready.append(time.perf_counter() - t0)
            tm.keys(question, literal=True)
            tm.wait_for(question, poll=0.002)  # typed into the box
            t1 = time.perf_counter()
            tm.keys("Enter")
            # the question is shown in the conversation (a second copy: the box is emptied) with its "You" label
            while True:
                s = tm.screen()
                if "You" in s and question in s:
                    reaction.append(time.perf_counter() - t1)
                    loading_then.append("loading" in s)
                    break
                if time.perf_counter() - t1 > 30:
                    raise RuntimeError(f"the question never appeared:\n{s}")
                time.sleep(0.002)
            tm.wait_for("decode")  # answered after the load
            log(f"{model}: start to input {ready[-1] * 1000:.0f} ms, Enter to question {reaction[-1] * 1000:.0f} ms"
                + (" (model still loading)" if loading_then[-1] else " (model already loaded)"))
        finally:
            tm.kill()
    return {"model": model, "start_to_input_s": ready, "enter_to_question_s": reaction, "model_loading_at_enter": loading_then,
            "start_to_input_median_s": statistics.median(ready), "enter_to_question_median_s": statistics.median(reaction)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="model name (repeatable; default: the tiny base model, and the small one if pulled)")
    ap.add_argument("--tokens", type=int, default=128, help="tokens per answer (default 128)")
    ap.add_argument("--runs", type=int, default=5, help="timed answers of each (default 5)")
    ap.add_argument("--startup", action="store_true", help="also measure start-up and the reaction to Enter")
    ap.add_argument("--startup-only", action="store_true", help="measure start-up and the reaction to Enter, not decode speed")
    ap.add_argument("--policy", choices=("adaptive", "fixed"), help="thread policy of both (default: edge's default)")
    ap.add_argument("--chat-env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for the chat only (repeatable), e.g. EDGE_THREADS=1")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    bad = [kv for kv in args.chat_env if "=" not in kv or not kv.split("=", 1)[0]]
    if bad:
        ap.error(f"--chat-env wants NAME=VALUE, not {bad[0]!r}")
    if shutil.which("tmux") is None:
        print("bench_tui: tmux is needed (apt install tmux)", file=sys.stderr)
        return 2

    sys.path.insert(0, str(ROOT))
    from edge.config import load_settings
    from edge.models import ModelStore

    s = load_settings()
    store = ModelStore(s.home)
    models = args.model
    if not models:
        models = ["smollm2-135m-instruct-q4_1"]
        small = [a.name for a in store.artifacts() if a.kind == "llm" and "qwen" in a.name.lower() and "0.5b" in a.name.lower()
                 and store.path(a).is_file()]
        models += small[:1]
        if not small:
            print("bench_tui: the small model (Qwen2.5-Coder-0.5B) is not in the catalog: looking for its file",
                  file=sys.stderr)
    home = private_home(s.models_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env.update(EDGE_HOME=str(home), TERM="xterm-256color", COLORTERM="truecolor",
               PYTHONPATH=str(ROOT) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    if args.policy:
        env["EDGE_THREAD_POLICY"] = args.policy
    if not args.model and len(models) == 1:
        # the small model's file pulled by a newer catalog: added by name to the private home
        found = sorted(s.models_dir.glob("qwen2.5-coder-0.5b*.gguf"))
        if found:
            name = found[0].stem.lower()
            p = subprocess.run([sys.executable, "-m", "edge", "models", "add", str(found[0]), "--name", name, "--json"],
                               capture_output=True, text=True, env=env)
            if p.returncode == 0:
                models.append(name)
                print(f"bench_tui: measuring {name} too ({found[0]}, added to the private data directory)", file=sys.stderr)
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    results = {"decode": [], "startup": []}
    try:
        for m in models if not args.startup_only else []:
            for f in ("chats.db", "chats.db-wal", "chats.db-shm"):
                (home / f).unlink(missing_ok=True)
            chat_env = dict(kv.split("=", 1) for kv in args.chat_env)
            results["decode"].append(compare(m, args.tokens, args.runs, home, env, log, chat_env))
        if args.startup or args.startup_only:
            for m in models:
                results["startup"].append(startup(m, args.runs, home, env, log))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results["decode"]:
        print(f"{r['model']}: {r['tokens']} tokens, median of {r['runs']}: edge chat {r['chat_median']:.1f} tok/s, "
              f"edge ask {r['ask_median']:.1f} tok/s, ratio {r['ratio']:.3f}")
        print("  chat: " + ", ".join(f"{x:.1f}" for x in r["chat_decode_tok_s"]) + f"  (threads at the end: {r['chat_threads']})")
        print("  ask:  " + ", ".join(f"{x:.1f}" for x in r["ask_decode_tok_s"]) + f"  (threads at the end: {r['ask_threads']})")
    for r in results["startup"]:
        print(f"{r['model']}: start to input ready {r['start_to_input_median_s'] * 1000:.0f} ms, Enter to the question shown "
              f"{r['enter_to_question_median_s'] * 1000:.0f} ms (median of {len(r['start_to_input_s'])}; model still loading at Enter "
              f"in {sum(r['model_loading_at_enter'])} of them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
