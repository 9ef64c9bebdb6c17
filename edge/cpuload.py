"""How many cores other processes keep busy: what the engine's adaptive thread policy reads.

llama.cpp splits every matrix product of a token across its threads and waits at a barrier after
each one, hundreds of times per token. When another process keeps one of two cores busy, the
thread that shares that core runs only part of the time and the other waits for it at every
barrier: decode fell to a third of its idle speed here with 2 threads, while 1 thread kept
about three quarters of it. So the engine decodes with as many threads as there are cores that
nothing else is using, and looks again a few times a second (see `Engine` in edge/llm.py and the
measurements in scripts/bench_threads.py).

Linux only (/proc); elsewhere `OtherLoad.sample()` returns None and the thread count stays fixed.
"""

from __future__ import annotations

import os
import time

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 `flags`, arm64 `Features`); empty if unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, val = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(val.split())
    except OSError:
        pass
    return set()


def _busy_ticks() -> int | None:
    """CPU ticks spent busy (everything but idle and iowait) on all cores since boot."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    v = [int(x) for x in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return v[0] + v[1] + v[2] + sum(v[5:8])


def _own_ticks() -> int | None:
    """CPU ticks this process (all its threads) has used."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    rest = stat[stat.rindex(b")") + 2:].split()  # the command name may hold spaces
    return int(rest[11]) + int(rest[12])  # utime, stime


class OtherLoad:
    """Samples how many cores' worth of CPU other processes used since the previous sample."""

    def __init__(self):
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, int, int] | None:
        busy, own = _busy_ticks(), _own_ticks()
        if busy is None or own is None:
            return None
        return time.monotonic(), busy, own

    def sample(self, min_interval: float = 0.05) -> float | None:
        """Cores used by other processes since the last sample (0.0 = none), or None when this
        cannot be read or less than `min_interval` seconds passed (too few clock ticks to tell)."""
        now = self._read()
        if now is None or self._last is None:
            self._last = now
            return None
        dt = now[0] - self._last[0]
        if dt < min_interval:
            return None
        others = (now[1] - self._last[1]) - (now[2] - self._last[2])
        self._last = now
        return max(0.0, others / _CLK_TCK / dt)


def threads_for(max_threads: int, other_cores: float | None, n_cpus: int) -> int:
    """Threads to decode with: `max_threads`, less one for each core other processes keep busy
    beyond those this process does not need (a core counts as busy from 40 % use on)."""
    if other_cores is None or max_threads <= 1:
        return max_threads
    spare = n_cpus - max_threads  # cores llama.cpp does not use anyway
    busy = int(other_cores - spare + 0.6)  # 0.4 of a core or more counts as one
    return max(1, min(max_threads, max_threads - busy))
