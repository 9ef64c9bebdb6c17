"""`edge index watch PATH...`: keep the index in step with folders as their files change.

watchfiles (inotify on Linux, through its Rust core) reports changes; bursts are debounced into
one batch. Each batch is resolved against the file system as it is *now*, not replayed event by
event: a path that exists is (re-)indexed (an unchanged file is a no-op, by its hash), a path
that is gone is dropped from the index. That makes editors' save-by-rename (write a temporary
file, rename it over the original), moves and bursts of saves all come out right without
tracking each event. Hidden files (editors' swap files) and unsupported kinds are passed over.

`watch()` is the one loop: `edge index watch` runs it in the foreground, `edge chat --watch` in a
background thread through `Watcher`, on its own connection to the index (SQLite in WAL mode: the
chat's searches read the last committed state while a document is being written).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..paths import user_path
from .chunk import kind_of

DEBOUNCE_MS = 400  # changes closer together than this are one batch
STEP_MS = 50


@dataclass
class Action:
    """One thing the watcher did to the index."""

    action: str  # added | updated | removed | failed | skipped | lost (a watched folder vanished) | ready
    path: str
    reason: str = ""
    chunks: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        if self.action == "ready":
            return f"watching {self.path} ({self.reason})"
        if self.action == "lost":
            return f"edge: watched folder {self.path} was deleted: no longer watching it"
        extra = f": {self.reason}" if self.reason else ""
        chunks = f" ({self.chunks} chunks, {self.seconds:.2f}s)" if self.action in ("added", "updated") else ""
        return f"{self.action} {self.path}{chunks}{extra}"

    def to_dict(self) -> dict:
        d = {"action": self.action, "path": self.path, "time": round(time.time(), 3)}
        if self.reason:
            d["reason"] = self.reason
        if self.action in ("added", "updated"):
            d.update(chunks=self.chunks, seconds=round(self.seconds, 3))
        return d


def _hidden(path: Path, roots: Iterable[Path]) -> bool:
    for r in roots:
        try:
            rel = path.relative_to(r)
        except ValueError:
            continue
        return any(part.startswith(".") for part in rel.parts)
    return path.name.startswith(".")


class Stopped(Exception):
    """Raised between two files when the watcher was asked to stop (see `watch`)."""


def _stopper(stop: threading.Event | None):
    """A progress callback for Index.add/sync that ends the work between two files once `stop` is
    set: a large folder's first sync would otherwise hold a quitting chat for minutes. Each file is
    written in its own transaction, so what was indexed before stays."""
    def check(_outcome=None) -> None:
        if stop is not None and stop.is_set():
            raise Stopped

    return check


class _StoppableEmbedder:
    """An embedder that ends its work between two batches (of 8 texts) once `stop` is set: the
    file being indexed when a chat quits is then given up within a fraction of a second, not
    after embedding all its chunks (seconds on a Pi). Nothing of it is written."""

    def __init__(self, inner, stop: threading.Event):
        self._inner, self._check = inner, _stopper(stop)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def embed(self, texts, **kw):
        outer = kw.pop("progress", None)

        def progress(n: int) -> None:
            self._check()
            if outer is not None:
                outer(n)

        return self._inner.embed(texts, progress=progress, **kw)


def missing_paths(paths: Iterable[str | Path]) -> list[str]:
    """The paths (as given) that do not exist: both `edge index watch` and `edge chat --watch`
    refuse to start on them with one line."""
    return [str(p) for p in paths if not str(p).strip() or not user_path(p).exists()]


def apply_changes(index, changed: Iterable[str], roots: list[Path], *, stop: threading.Event | None = None) -> list[Action]:
    """Bring the index in line with the current state of each changed path."""
    actions: list[Action] = []
    check = _stopper(stop)
    for raw in sorted(set(changed)):
        p = Path(raw)
        if _hidden(p, roots):
            continue
        check()
        if p.is_dir() or (p.is_file() and kind_of(p) is not None):
            t0 = time.perf_counter()
            rep = index.add([p], progress=check)
            took = time.perf_counter() - t0
            for o in rep.outcomes:
                if o.status in ("added", "updated"):
                    actions.append(Action(o.status, o.path, chunks=o.chunks, seconds=took))
                elif o.status == "failed":
                    actions.append(Action("failed", o.path, o.reason))
            continue
        if not p.exists():
            # a deleted file, or a deleted folder (every document under it)
            for gone in index.remove(p):
                actions.append(Action("removed", gone))
    return actions


def watch(
    index,
    paths: list[str | Path],
    *,
    report: Callable[[Action], None],
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> int:
    """Sync each path once, then follow its changes until `stop` is set or Ctrl+C.

    Returns the number of watched paths that vanished (0: all went well). Once `stop` is set the
    work in hand ends between two files (within ~50 ms when idle)."""
    from .store import real_path

    roots = [Path(real_path(p)) for p in paths]
    stop = stop or threading.Event()
    try:
        return _watch(index, roots, report, stop, debounce_ms)
    except Stopped:
        return 0


def _watch(index, roots: list[Path], report, stop: threading.Event, debounce_ms: int) -> int:
    import watchfiles

    from .store import _like_prefix

    check = _stopper(stop)

    def each(o) -> None:  # as each file is done: a large folder's first sync shows its progress
        if o.status in ("added", "updated"):
            report(Action(o.status, o.path, chunks=o.chunks, seconds=0.0))
        elif o.status == "failed":
            report(Action("failed", o.path, o.reason))
        check()

    lost = 0
    for r in roots:
        t0 = time.perf_counter()
        rep = index.sync(r, progress=each) if r.is_dir() else index.add([r], progress=each)
        for gone in rep.removed:
            report(Action("removed", gone))
        n = index.conn.execute(
            "SELECT count(*) FROM documents WHERE path = ? OR path LIKE ? ESCAPE '\\'", (str(r), _like_prefix(str(r).rstrip(os.sep) + os.sep))
        ).fetchone()[0]
        report(Action("ready", str(r), f"{n} documents in the index, synced in {time.perf_counter() - t0:.1f}s"))
    while roots and not stop.is_set():
        restart = False
        # A file is watched through its folder: an editor's save-by-rename replaces the file's inode.
        dirs = [r for r in roots if r.is_dir()]
        files = {r for r in roots if not r.is_dir()}
        targets = sorted(set(dirs) | {f.parent for f in files})

        def wanted(p: str) -> bool:
            q = Path(p)
            return q in files or any(q == d or d in q.parents for d in dirs)

        for changes in watchfiles.watch(
            *targets, debounce=debounce_ms, step=STEP_MS, stop_event=stop, yield_on_timeout=True, rust_timeout=1000,
            raise_interrupt=True,
        ):
            if changes:
                for a in apply_changes(index, [p for _, p in changes if wanted(p)], dirs, stop=stop):
                    report(a)
            gone = [r for r in targets if not r.exists()]
            if gone:
                for r in gone:
                    for p in index.remove(r):  # its files' deletions may have come in the same batch, or not
                        report(Action("removed", p))
                    report(Action("lost", str(r)))
                lost += len(gone)
                roots = [r for r in roots if r not in gone and r.parent not in gone]
                restart = True  # watchfiles cannot drop a path: start again with those left
                break
        if not restart:
            break
    return lost


@dataclass
class Freshness:
    """How current the index is: what the chat's status line shows while it watches."""

    documents: int | None = None  # None until the index was opened
    updated: float | None = None  # when a document was last written or removed (time.time())
    syncing: int = 0  # watched paths whose first sync has not finished
    watching: int = 0  # watched paths still there
    stopped: str = ""  # why the watcher ended, if it did
    noun: str = "folder"  # what is watched: folder, file or path (both kinds)

    def line(self, now: float | None = None) -> str:
        """'index: 42 docs · updated 3 s ago · watching 2 folders'."""
        now = time.time() if now is None else now
        parts = ["index:"] if self.documents is None else [f"index: {self.documents} doc{'' if self.documents == 1 else 's'}"]
        if self.updated is not None:
            parts.append(f"updated {ago(now - self.updated)}")
        if self.syncing:
            parts.append(f"syncing {_count(self.syncing, self.noun)}…")
        elif self.watching:
            parts.append(f"watching {_count(self.watching, self.noun)}")
        else:
            parts.append("not watching")
        return " · ".join(parts).replace(": · ", ": ")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def ago(seconds: float) -> str:
    """'just now', '3 s ago', '4 min ago', '2 h ago', '5 d ago'."""
    s = max(0.0, seconds)
    if s < 1:
        return "just now"
    if s < 60:
        return f"{int(s)} s ago"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} d ago"


class Watcher:
    """`watch()` in a background thread, for the chat (and any long-running process).

    The thread opens its own connection to the index (and its own embedder, on one thread, so
    indexing in the background leaves the other cores to the model answering). `on_action`
    gets each Action with the index's Freshness after it; `on_end` is called when the watcher
    ends by itself, with a one-line reason for an error (a missing embedder, a damaged index),
    never a traceback, or with "" when every watched path was deleted (each was reported as a
    "lost" Action already). Both are called from the watcher's thread. `stop()` ends it between two
    files and waits for the thread.
    """

    def __init__(self, settings, paths: list[str | Path], *, on_action: Callable[[Action, Freshness], None],
                 on_end: Callable[[str], None], debounce_ms: int = DEBOUNCE_MS):
        self.settings = settings
        self.paths = [str(p) for p in paths]
        self.on_action, self.on_end = on_action, on_end
        self.debounce_ms = debounce_ms
        kinds = {user_path(p).is_dir() for p in self.paths}
        noun = "folder" if kinds == {True} else "file" if kinds == {False} else "path"
        self.freshness = Freshness(syncing=len(self.paths), watching=len(self.paths), noun=noun)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # a daemon thread: should a file take longer to embed than stop() waits, the process can
        # still exit; its transaction is then never committed, and SQLite rolls it back
        self._thread = threading.Thread(target=self._run, name="edge-watch", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the watcher to stop and wait up to `timeout` s; True if it has stopped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    def _state(self, index) -> None:
        docs, last = index.conn.execute("SELECT count(*), max(indexed_at) FROM documents").fetchone()
        f = self.freshness
        f.documents = docs
        if last is not None and (f.updated is None or last > f.updated):
            f.updated = last

    def _run(self) -> None:
        import dataclasses

        from ..errors import EdgeError
        from . import open_index

        why = ""
        index = None
        try:
            index = open_index(dataclasses.replace(self.settings, embed_threads=1))
            index.embedder = _StoppableEmbedder(index.embedder, self._stop)
            self._state(index)

            def report(a: Action) -> None:
                f = self.freshness
                if a.action == "ready":
                    f.syncing = max(0, f.syncing - 1)
                elif a.action == "lost":
                    f.watching = max(0, f.watching - 1)
                elif a.action in ("added", "updated", "removed"):
                    f.updated = time.time()
                self._state(index)
                self.on_action(a, dataclasses.replace(f))

            watch(index, self.paths, report=report, stop=self._stop, debounce_ms=self.debounce_ms)
        except EdgeError as e:
            why = f"cannot watch: {e}"
        except Exception as e:  # noqa: BLE001 - a background thread must end with a line, not a traceback
            why = f"the watcher stopped: {type(e).__name__}: {e}"
        finally:
            if index is not None:
                try:
                    index.close()
                except Exception:  # noqa: BLE001
                    pass
            if not self._stop.is_set():
                self.freshness.syncing, self.freshness.watching = 0, 0
                self.freshness.stopped = why or "every watched path was deleted"
                self.on_end(why)


def cmd_watch(args) -> int:
    from ..errors import UsageError
    from . import open_index
    from .cli import _settings

    missing = missing_paths(args.paths)
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    idx = open_index(_settings(args))

    def report(a: Action) -> None:
        if args.json:
            print(json.dumps(a.to_dict(), ensure_ascii=False), flush=True)
        else:
            out = sys.stderr if a.action in ("failed", "lost") else sys.stdout
            print(a.line(), file=out, flush=True)

    # Ctrl+C asks the loop to stop (between two files, or within a step when idle) rather than
    # raising wherever the interpreter happens to be; a second Ctrl+C interrupts at once.
    import signal

    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    old = signal.signal(signal.SIGINT, on_sigint) if threading.current_thread() is threading.main_thread() else None
    try:
        lost = watch(idx, list(args.paths), report=report, stop=stop, debounce_ms=args.debounce)
    except KeyboardInterrupt:
        lost = 0  # a write in progress was rolled back by its transaction; the index is as it was before it
        stop.set()
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        idx.close()
    if stop.is_set():
        if not args.json:
            print("stopped watching", file=sys.stderr, flush=True)
        return 0
    if lost:
        if not args.json:
            print("edge: nothing left to watch" if lost == len(args.paths) else f"edge: {lost} watched folder(s) vanished", file=sys.stderr)
        return 1
    return 0


def add_watch_parser(isub, common) -> None:
    w = isub.add_parser(
        "watch", help="index folders, then keep the index current as files change (Ctrl+C stops)",
        description="Sync each folder (or file) into the index, then re-index files as they change, drop deleted ones, "
        "and print one line per action. Ctrl+C stops.",
    )
    w.add_argument("paths", nargs="+", metavar="PATH", help="folders or files to watch")
    w.add_argument("--debounce", type=int, default=DEBOUNCE_MS, metavar="MS", help=f"group changes this close together (default {DEBOUNCE_MS} ms)")
    common(w)
    w.set_defaults(func=cmd_watch)
