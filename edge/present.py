"""How edge shows things to a person: JSON for scripts, sizes, an answer's stats line, progress bars.

The CLI, the index CLI and the chat all print through here, so none of them imports another
(edge.cli imports edge.rag.cli to add its commands; the chat is started by edge.cli). Importing
this module is cheap: rich is loaded only when a progress bar is drawn on a terminal.
"""

from __future__ import annotations

import json
import sys
import time


def print_json(obj) -> None:
    """Print `obj` as indented JSON, flushed at once (out before any teardown can fail)."""
    print(json.dumps(obj, indent=2, ensure_ascii=False), flush=True)


def fmt_size(n: float) -> str:
    """Bytes as a person reads them: `512 B`, `93.8 MB` (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def stats_line(answer) -> str:
    """The one-line cost of an answer (`edge ask --verbose` and the chat share it)."""
    t = answer.timings
    parts = [answer.mode, answer.model, f"{t.prompt_tokens} prompt tok"]
    if t.embed_ms is not None:
        parts.append(f"retrieval {t.embed_ms + (t.search_ms or 0):.0f} ms")
    parts += [f"TTFT {t.ttft_ms:.0f} ms", f"prefill {t.prefill_tok_s:.0f} tok/s", f"decode {t.decode_tok_s:.1f} tok/s", f"{t.completion_tokens} tok"]
    check = getattr(answer, "check", None)  # the answer check (retrieval answers): marked where everyone looks
    if check is not None and check.grounded is True:
        parts.append("sources hold it")
    elif check is not None and check.grounded is False:
        parts.append("NOT in its sources: " + ", ".join(check.unsupported[:3]) if check.unsupported else "NOT supported: " + check.reason)
    return " · ".join(parts)


class Progress:
    """A progress bar for long work, on stderr.

    On a terminal it is rich's live progress bar; elsewhere (CI logs, pipes) it prints a line at
    the start, one at the end, and between them at most one every LOG_EVERY_S (how far it got, so a
    log of hours of training or benchmarking says where it stands), so logs stay readable. `unit="B"` shows sizes and a transfer
    rate; any other unit counts (`12/40 steps`).
    """

    LOG_EVERY_S = 30.0

    def __init__(self, desc: str, total: float | None = None, *, unit: str = "", stream=None, enabled: bool = True):
        self.desc = desc
        self.total = total
        self.unit = unit
        self.n = 0.0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.t0 = time.perf_counter()
        self._said = self.t0  # without a terminal (a log file, CI): a line at most every LOG_EVERY_S
        self._bar = None
        if self.tty:
            self._start_rich()
        elif enabled:
            self.stream.write(f"{desc}...\n")
            self.stream.flush()

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as RichProgress, TaskProgressColumn,
                                   TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)

        cols = [TextColumn("{task.description}"), BarColumn(bar_width=24), TaskProgressColumn()]
        if self.unit == "B":
            cols += [DownloadColumn(), TransferSpeedColumn()]
        elif self.total:
            cols += [MofNCompleteColumn(), TextColumn(self.unit)]
        else:
            cols += [TextColumn("{task.completed:.0f} " + self.unit)]
        cols += [TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[postfix]}")]
        # transient: close() replaces the bar with its one summary line
        self._bar = RichProgress(*cols, console=Console(file=self.stream), transient=True)
        self._task = self._bar.add_task(self.desc, total=self.total, postfix="")
        self._bar.start()

    def update(self, n: float = 1, postfix: str | None = None) -> None:
        self.n += n
        if self._bar is not None:
            kw = {"postfix": postfix} if postfix is not None else {}
            self._bar.update(self._task, advance=n, **kw)
        elif self.enabled and n and time.perf_counter() - self._said >= self.LOG_EVERY_S:
            self._said = time.perf_counter()
            done = f"{self.n:.0f}/{self.total:.0f} {self.unit}".rstrip() if self.total else f"{self.n:.0f} {self.unit}".rstrip()
            pct = f" ({100 * self.n / self.total:.0f} %)" if self.total else ""
            self.stream.write(f"{self.desc}: {done}{pct}, {self._said - self.t0:.0f}s{' · ' + postfix if postfix else ''}\n")
            self.stream.flush()

    def write(self, line: str) -> None:
        """Print a line of other output (a file that failed) above the bar."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self, message: str | None = None) -> None:
        """End the bar with `message` (default: `desc: done in 1.2s`)."""
        if not self.enabled:
            return
        msg = message or f"{self.desc}: done in {time.perf_counter() - self.t0:.1f}s"
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        self.stream.write(msg + "\n")
        self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        elif self._bar is not None:
            self._bar.stop()
            self._bar = None
