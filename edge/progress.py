"""A dependency-free progress bar for long work, written to stderr.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line at the start
and one at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Progress:
    def __init__(self, desc: str, total: float | None = None, *, unit: str = "", stream=None, enabled: bool = True):
        self.desc = desc
        self.total = total
        self.unit = unit
        self.n = 0.0
        self.postfix = ""
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.t0 = time.perf_counter()
        self._last = 0.0
        if enabled and not self.tty:
            self.stream.write(f"{desc}...\n")
            self.stream.flush()

    def _amount(self, x: float) -> str:
        return _fmt_bytes(x) if self.unit == "B" else f"{int(x)}{(' ' + self.unit) if self.unit else ''}"

    def update(self, n: float = 1, postfix: str | None = None) -> None:
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and (self.total is None or self.n < self.total):
            return
        self._last = now
        self._draw()

    def _draw(self) -> None:
        if self.total:
            frac = min(1.0, self.n / self.total)
            width = 24
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            line = f"\r{self.desc} [{bar}] {frac * 100:5.1f}% {self._amount(self.n)}/{self._amount(self.total)}"
        else:
            line = f"\r{self.desc} {self._amount(self.n)}"
        if self.postfix:
            line += f"  {self.postfix}"
        self.stream.write(line[:200] + "\x1b[K")
        self.stream.flush()

    def close(self, message: str | None = None) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        msg = message or f"{self.desc}: done in {elapsed:.1f}s"
        if self.tty:
            self._draw()
            self.stream.write("\r" + msg + "\x1b[K\n")
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        elif self.tty:
            self.stream.write("\n")
