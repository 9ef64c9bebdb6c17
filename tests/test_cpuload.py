"""The adaptive thread policy's reading of the CPU (edge/cpuload.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.cpuload import OtherLoad, threads_for

linux = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads /proc")


def test_threads_for_leaves_busy_cores_alone():
    assert threads_for(2, 0.0, 2) == 2
    assert threads_for(2, 0.1, 2) == 2  # background noise
    assert threads_for(2, 0.45, 2) == 1  # a core shared with something else
    assert threads_for(2, 1.0, 2) == 1
    assert threads_for(2, 2.0, 2) == 1  # never fewer than one
    assert threads_for(4, 1.0, 8) == 4  # other work fits on the cores llama.cpp does not use
    assert threads_for(4, 5.0, 8) == 3
    assert threads_for(2, None, 2) == 2  # cannot tell: as set
    assert threads_for(1, 1.0, 2) == 1


def test_own_work_is_not_counted(monkeypatch):
    import edge.cpuload as cl

    ticks = {"busy": 1000, "own": 100, "t": 50.0}
    monkeypatch.setattr(cl, "_busy_ticks", lambda: ticks["busy"])
    monkeypatch.setattr(cl, "_own_ticks", lambda: ticks["own"])
    monkeypatch.setattr(cl.time, "monotonic", lambda: ticks["t"])
    monkeypatch.setattr(cl, "_CLK_TCK", 100)
    load = OtherLoad()
    ticks.update(busy=1000 + 180, own=100 + 150, t=51.0)  # 1.8 cores busy in 1 s, 1.5 of them ours
    assert load.sample() == pytest.approx(0.3)
    ticks.update(busy=1180 + 50, own=250 + 50, t=51.01)
    assert load.sample() is None  # 10 ms: too few ticks to tell
    ticks.update(t=52.0)
    assert load.sample() == pytest.approx(0.0)


@linux
def test_a_busy_process_is_seen():
    load = OtherLoad()
    p = subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + 5\nwhile time.monotonic() < end: pass"])
    try:
        time.sleep(0.3)
        load.sample()
        time.sleep(0.8)
        busy = load.sample()
    finally:
        p.kill()
        p.wait()
    assert busy is not None and busy > 0.6, busy  # a whole core, less what the scheduler gave to others
