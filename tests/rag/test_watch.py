"""`edge index watch` on the real embedder: the index follows edits, editors' save-by-rename,
deletes and new files within 5 s each, while `edge index search` runs in another process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from edge.rag.store import Index

from ..conftest import ROOT

pytestmark = pytest.mark.real


def start_watch(*paths):
    return subprocess.Popen([sys.executable, "-m", "edge", "index", "watch", *map(str, paths), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


class Lines(threading.Thread):
    """Collects a process's JSON lines as they come."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.items = stream, []
        self.start()

    def run(self):
        for line in self.stream:
            self.items.append(json.loads(line))

    def wait_for(self, pred, timeout):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            for it in self.items:
                if pred(it):
                    return it
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout}s; saw {self.items}")


def texts(db):
    idx = Index(db, create=False)
    try:
        return {os.path.basename(p): t for p, t in idx.conn.execute(
            "SELECT d.path, group_concat(c.text, ' ') FROM documents d JOIN chunks c ON c.doc_id = d.id GROUP BY d.id")}
    finally:
        idx.close()


def until(cond, timeout=5.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = cond()
        if v:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError("the index did not follow within %.0fs" % timeout)


def test_watch_follows_edit_rename_save_delete_create(real_home, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pump.md").write_text("# Pump\n\nThe pump part number is PX-1138.\n")
    (docs / "valve.md").write_text("# Valve\n\nThe valve opens at 3 bar.\n")
    db = real_home / "index.db"
    w = start_watch(docs)
    out = Lines(w.stdout)
    searches, stop = [], threading.Event()

    def search_loop():
        while not stop.is_set():
            p = subprocess.run([sys.executable, "-m", "edge", "index", "search", "pump part number", "--json"], cwd=ROOT,
                               capture_output=True, text=True)
            searches.append((p.returncode, p.stderr))

    try:
        out.wait_for(lambda a: a["action"] == "ready", 120)
        assert "PX-1138" in texts(db)["pump.md"]
        searcher = threading.Thread(target=search_loop, daemon=True)
        searcher.start()
        took = {}
        # edit in place
        (docs / "pump.md").write_text("# Pump\n\nThe pump part number is PX-2200.\n")
        took["edit"] = until(lambda: "PX-2200" in texts(db).get("pump.md", ""))
        # an editor's save: write a hidden temporary file, rename it over the original
        tmp = docs / ".valve.md.swp"
        tmp.write_text("# Valve\n\nThe valve opens at 4.5 bar.\n")
        os.replace(tmp, docs / "valve.md")
        took["rename-save"] = until(lambda: "4.5 bar" in texts(db).get("valve.md", ""))
        # delete
        (docs / "pump.md").unlink()
        took["delete"] = until(lambda: "pump.md" not in texts(db))
        # create (a burst of saves: the last one counts)
        for i in range(5):
            (docs / "filter.md").write_text(f"# Filter\n\nClean the filter every {10 * (i + 1)} hours.\n")
        took["create"] = until(lambda: "every 50 hours" in texts(db).get("filter.md", ""))
        print("index followed within", {k: round(v, 2) for k, v in took.items()}, "s")
        assert not any(a["action"] == "failed" for a in out.items)
        assert {a["action"] for a in out.items} >= {"added", "updated", "removed", "ready"}
        stop.set()
        searcher.join(60)
        assert searches and all(rc == 0 for rc, _ in searches), searches
        print(f"{len(searches)} parallel searches, all exit 0")
        assert not any(".swp" in a["path"] for a in out.items)
    finally:
        stop.set()
        w.send_signal(signal.SIGINT)
        try:
            rc = w.wait(30)
        except subprocess.TimeoutExpired:
            w.kill()
            pytest.fail(f"edge index watch did not stop within 30 s of Ctrl+C; its stderr ends: {w.stderr.read()[-2000:]!r}")
    assert rc == 0 and "Traceback" not in w.stderr.read()


def test_watched_folder_deleted_is_one_line(real_home, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nAlpha.\n")
    w = subprocess.Popen([sys.executable, "-m", "edge", "index", "watch", str(docs)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = w.stdout.readline()
        assert line.startswith("added ") or line.startswith("watching "), line
        time.sleep(1)
        shutil.rmtree(docs)
        rc = w.wait(30)
    finally:
        if w.poll() is None:
            w.kill()
    err = w.stderr.read()
    assert rc == 1 and "Traceback" not in err
    assert f"edge: watched folder {docs} was deleted" in err
