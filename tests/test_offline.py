"""After `edge models pull`, nothing opens a network connection.

Two ways: a child process whose every socket connect/DNS lookup raises (any Python-level
attempt fails loudly), and, where the kernel allows it, a child in a new network namespace
with no interfaces at all (`unshare -n`), which catches C-level attempts too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

GUARD = r'''
import socket
class NetworkBlocked(OSError):
    pass
def _blocked(*a, **k):
    raise NetworkBlocked("edge test: network access attempted")
socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
'''


def _run(cmd, tmp_path, *, unshare=False):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir(exist_ok=True)
    (guard_dir / "sitecustomize.py").write_text(GUARD)
    env = dict(os.environ, PYTHONPATH=str(guard_dir), no_proxy="*")
    full = [sys.executable, "-m", "edge", *cmd]
    if unshare:
        full = ["unshare", "-n", *full]
    return subprocess.run(full, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.parametrize("isolation", ["socket-guard", "unshare-n"])
def test_offline_ask_list_doctor(real_home, tmp_path, isolation):
    unshare = isolation == "unshare-n"
    if unshare and not _unshare_works():
        pytest.skip("this kernel does not let us make a network namespace")
    p = _run(["ask", "Say hello in one short sentence.", "--json"], tmp_path, unshare=unshare)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["answer"].strip()
    for f in ("load_ms", "prompt_tokens", "ttft_ms", "prefill_tok_s", "decode_tok_s", "completion_tokens", "total_ms"):
        assert out["timings"][f] > 0
    for cmd in (["models", "list"], ["doctor"], ["models", "pull"]):
        p = _run(cmd, tmp_path, unshare=unshare)
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
        assert "network access attempted" not in p.stderr


def test_the_guard_really_blocks(tmp_path):
    """The guard must be able to fail: a command that needs the network does."""
    p = _run(["models", "pull"], tmp_path)  # empty EDGE_HOME: pull has to download
    assert p.returncode != 0
    assert "Traceback" not in p.stderr


def _home_files_after(cmd: list[str], env_home: Path, tmp_path: Path, **extra_env) -> list[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}  # as a user's shell has it
    env.update(HOME=str(home), EDGE_HOME=str(env_home), **extra_env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    return sorted(str(f.relative_to(home)) for f in home.rglob("*") if f.is_file())


def test_onnxruntime_records_nothing(sample_home, tmp_path):
    """onnxruntime 1.32+ keeps a device id and a queue of usage events to upload under
    ~/.cache/Microsoft; edge turns that off, so embedding a query leaves nothing in $HOME."""
    files = _home_files_after([sys.executable, "-m", "edge", "index", "search", "battery terminal torque", "--json"], sample_home, tmp_path)
    assert files == []


def test_onnxruntime_telemetry_is_real_here(real_home, tmp_path):
    """The control: the same onnxruntime, used directly with telemetry left on, does write there
    (skipped for an onnxruntime without telemetry)."""
    code = ("import onnxruntime as ort; from edge.models import ModelStore; "
            "ort.InferenceSession(str(ModelStore(__import__('pathlib').Path(r'%s')).require('minilm-l6-v2-int8')), providers=['CPUExecutionProvider'])" % real_home)
    files = _home_files_after([sys.executable, "-c", code], real_home, tmp_path, ORT_DISABLE_TELEMETRY="0")
    if not files:
        pytest.skip("this onnxruntime keeps no telemetry")
    assert any("Microsoft" in f for f in files)
