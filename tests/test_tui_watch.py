"""`edge chat --watch` on the real embedder: the chat keeps a folder indexed in the background,
its searches go on meanwhile, and the status line shows how fresh the index is."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time

import pytest

from edge.config import load_settings
from edge.rag.store import Index
from edge.tui.app import EdgeApp

pytestmark = pytest.mark.real


async def wait_until(pilot, cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def label(app) -> str:
    return str(app.chat.query_one("#index-status").render())


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def indexed_text(db) -> str:
    """Every chunk's text, read through a connection of its own (as another process would)."""
    idx = Index(db, create=False, readonly=True)
    try:
        return " ".join(r[0] for r in idx.conn.execute("SELECT text FROM chunks"))
    finally:
        idx.close()


def test_chat_watch_follows_an_edit_and_shows_the_freshness(real_home, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "pump.md").write_text("# Pump\n\nThe pump runs at 40 rpm.\n")
    (docs / "valve.md").write_text("# Valve\n\nThe valve opens at 2 bar.\n")
    db = real_home / "index.db"
    searches = {"n": 0, "errors": []}

    async def go():
        app = EdgeApp(load_settings(rag=True), preload=False, watch=[str(docs)])
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: "watching 1 folder" in label(app), 60, "the first sync")
            assert label(app).startswith("index: 2 docs · updated "), label(app)
            # the label reads the watcher's shared state on a timer, so it can say so a moment before
            # the chat has handled the watcher's message that posts the notice
            await wait_until(pilot, lambda: any(n.startswith("watching ") and "2 documents in the index" in n
                                                for n in notes(app)), 10, f"the first sync's notice (have {notes(app)})")
            # retrieval is checked once the first sync has filled the index, and searches on its own connection
            await wait_until(pilot, lambda: app.assistant.retriever is not None, 30, "the retriever")

            stop = threading.Event()

            def search_meanwhile():  # the chat's retrieval reads while the watcher writes
                while not stop.is_set():
                    try:
                        app.assistant.retriever("How fast does the pump run?", 2)
                        searches["n"] += 1
                    except Exception as e:  # noqa: BLE001 - recorded, asserted below
                        searches["errors"].append(repr(e))
                    time.sleep(0.02)

            t = threading.Thread(target=search_meanwhile, daemon=True)
            t.start()
            try:
                # the line ages, then an edit makes it fresh again
                await wait_until(pilot, lambda: " s ago" in label(app), 10, "the freshness line to count seconds")
                (docs / "pump.md").write_text("# Pump\n\nThe pump now runs at 55 rpm after the service.\n")
                t0 = time.monotonic()
                await wait_until(pilot, lambda: "55 rpm" in indexed_text(db), 5, "the edit in the index")
                took = time.monotonic() - t0
                assert "40 rpm" not in indexed_text(db)
                await wait_until(pilot, lambda: "updated just now" in label(app), 5, "the freshness line to update")
                await wait_until(pilot, lambda: any(n.startswith("updated ") and n.endswith("pump.md (1 chunk)") for n in notes(app)),
                                 5, "the re-index notice")
                # a new file: the count follows
                (docs / "fuse.md").write_text("# Fuse\n\nThe winch fuse is 30 A.\n")
                await wait_until(pilot, lambda: label(app).startswith("index: 3 docs · "), 5, "the new document in the line")
                passages, _, _ = app.assistant.retriever("How fast does the pump run?", 2)
                assert any("55 rpm" in p.text for p in passages), [p.text for p in passages]
            finally:
                stop.set()
                t.join(5)
            assert searches["n"] > 0 and not searches["errors"], searches
            print(f"edit indexed in {took:.2f}s; {searches['n']} searches meanwhile")
            await pilot.press("ctrl+q")
        assert not app.watcher.alive

    asyncio.run(go())


def test_chat_watch_a_deleted_folder_is_a_notice_not_a_traceback(real_home, tmp_path):
    docs, other = tmp_path / "docs", tmp_path / "other"
    for d in (docs, other):
        d.mkdir()
        (d / "note.md").write_text(f"# Note\n\nA note in {d.name}.\n")

    async def go():
        app = EdgeApp(load_settings(), preload=False, watch=[str(docs), str(other)])
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: "watching 2 folders" in label(app), 60, "the first sync")
            shutil.rmtree(docs)
            await wait_until(pilot, lambda: "watching 1 folder" in label(app), 10, "the line to drop the deleted folder")
            await wait_until(pilot, lambda: any("was deleted: no longer watching it" in n for n in notes(app)), 5, "the notice")
            assert label(app).startswith("index: 1 doc · "), label(app)  # its document was dropped from the index
            # the other folder is still followed
            (other / "note.md").write_text("# Note\n\nAn edited note.\n")
            await wait_until(pilot, lambda: "edited note" in indexed_text(real_home / "index.db"), 5, "the edit in the other folder")
            shutil.rmtree(other)
            await wait_until(pilot, lambda: label(app).endswith("not watching"), 10, "the line to say nothing is watched")
            await wait_until(pilot, lambda: not app.watcher.alive, 5, "the watcher to end")
            assert not any("Error" in n or "Traceback" in n for n in notes(app)), notes(app)
            await pilot.press("ctrl+q")

    asyncio.run(go())


def test_quitting_during_the_first_sync_stops_between_files(real_home, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        (docs / f"n{i:02d}.md").write_text(f"# Note {i}\n\n" + f"Line {i} of a longer note about item {i}.\n" * 40)

    async def go():
        app = EdgeApp(load_settings(), preload=False, watch=[str(docs)])
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.chat.freshness is not None or not app.watcher.alive, 60, "the first file")
            t0 = time.monotonic()
            await pilot.press("ctrl+q")
        took = time.monotonic() - t0
        assert not app.watcher.alive
        print(f"quit during the first sync took {took:.2f}s")
        # what was written before the quit is intact and readable
        idx = Index(real_home / "index.db", create=False, readonly=True)
        try:
            n = idx.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
            assert idx.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            idx.close()
        print(f"{n} of 40 documents indexed before the quit")

    asyncio.run(go())
