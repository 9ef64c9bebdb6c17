"""`edge index watch PATH...`: keep the index in step with folders as their files change.

watchfiles (inotify on Linux, through its Rust core) reports changes; bursts are debounced into
one batch. Each batch is resolved against the file system as it is *now*, not replayed event by
event: a path that exists is (re-)indexed (an unchanged file is a no-op, by its hash), a path
that is gone is dropped from the index. That makes editors' save-by-rename (write a temporary
file, rename it over the original), moves and bursts of saves all come out right without
tracking each event. Hidden files (editors' swap files) and unsupported kinds are passed over.
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


def apply_changes(index, changed: Iterable[str], roots: list[Path]) -> list[Action]:
    """Bring the index in line with the current state of each changed path."""
    actions: list[Action] = []
    for raw in sorted(set(changed)):
        p = Path(raw)
        if _hidden(p, roots):
            continue
        if p.is_dir() or (p.is_file() and kind_of(p) is not None):
            t0 = time.perf_counter()
            rep = index.add([p])
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

    Returns the number of watched paths that vanished (0: all went well)."""
    import watchfiles

    from .store import _like_prefix, real_path

    roots = [Path(real_path(p)) for p in paths]
    lost = 0
    for r in roots:
        t0 = time.perf_counter()
        rep = index.sync(r) if r.is_dir() else index.add([r])
        for o in rep.outcomes:
            if o.status in ("added", "updated"):
                report(Action(o.status, o.path, chunks=o.chunks, seconds=0.0))
            elif o.status == "failed":
                report(Action("failed", o.path, o.reason))
        for gone in rep.removed:
            report(Action("removed", gone))
        n = index.conn.execute(
            "SELECT count(*) FROM documents WHERE path = ? OR path LIKE ? ESCAPE '\\'", (str(r), _like_prefix(str(r).rstrip(os.sep) + os.sep))
        ).fetchone()[0]
        report(Action("ready", str(r), f"{n} documents in the index, synced in {time.perf_counter() - t0:.1f}s"))
    stop = stop or threading.Event()
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
                for a in apply_changes(index, [p for _, p in changes if wanted(p)], dirs):
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


def cmd_watch(args) -> int:
    from ..errors import UsageError
    from . import open_index
    from .cli import _settings

    missing = [p for p in args.paths if not Path(p).expanduser().exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    idx = open_index(_settings(args))

    def report(a: Action) -> None:
        if args.json:
            print(json.dumps(a.to_dict(), ensure_ascii=False), flush=True)
        else:
            out = sys.stderr if a.action in ("failed", "lost") else sys.stdout
            print(a.line(), file=out, flush=True)

    try:
        lost = watch(idx, list(args.paths), report=report, debounce_ms=args.debounce)
    except KeyboardInterrupt:
        # a write in progress was rolled back by its transaction; the index is as it was before it
        if not args.json:
            print("stopped watching", file=sys.stderr, flush=True)
        return 0
    finally:
        idx.close()
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
