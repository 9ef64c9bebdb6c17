"""`edge chat --watch` without the models: the freshness line, bad paths, and a watcher that cannot
start, which must be a notice in a chat that goes on and quits cleanly (no embedder here: each
test's EDGE_HOME is empty). The watcher indexing real files is in test_tui_watch.py (real models)."""

from __future__ import annotations

import asyncio
import threading
import time

from edge.config import load_settings
from edge.rag.watch import Freshness, ago, missing_paths
from edge.tui.app import EdgeApp
from edge.tui.widgets.prompt import PromptArea

from .conftest import run_edge


def test_freshness_line_says_documents_age_and_what_is_watched():
    f = Freshness(documents=42, updated=1000.0, watching=2)
    assert f.line(now=1003.4) == "index: 42 docs · updated 3 s ago · watching 2 folders"
    assert Freshness(documents=1, syncing=1, watching=1, noun="file").line(now=0) == "index: 1 doc · syncing 1 file…"
    assert Freshness(documents=7, updated=0.0, watching=0).line(now=7200) == "index: 7 docs · updated 2 h ago · not watching"
    assert [ago(s) for s in (0.2, 59.9, 60, 3599, 86400 * 3)] == ["just now", "59 s ago", "1 min ago", "59 min ago", "3 d ago"]
    assert Freshness(watching=0).line(now=0) == "index: not watching"
    assert ago(-5) == "just now"  # a clock stepped back is not "-5 s ago"


def test_missing_paths(tmp_path):
    (tmp_path / "here").mkdir()
    assert missing_paths([tmp_path / "here", tmp_path / "gone", " "]) == [str(tmp_path / "gone"), " "]


def test_chat_watch_on_a_missing_folder_is_one_line_and_exit_2(tmp_path):
    p = run_edge("chat", "--watch", str(tmp_path), str(tmp_path / "no-such-folder"), timeout=60)
    assert p.returncode == 2, p
    assert p.stderr.strip() == f"edge: error: cannot watch {tmp_path / 'no-such-folder'}: no such file or folder", p.stderr
    assert "Traceback" not in p.stderr and not p.stdout


def test_chat_help_documents_watch():
    p = run_edge("chat", "--help", timeout=60)
    assert p.returncode == 0 and "--watch PATH" in p.stdout and "freshness" in p.stdout


def test_a_watcher_that_cannot_start_is_a_notice_and_the_chat_goes_on_and_quits(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome text.\n")
    before = {t.name for t in threading.enumerate()}

    async def go():
        app = EdgeApp(load_settings(), preload=False, watch=[str(docs)])
        async with app.run_test(size=(80, 24)) as pilot:
            label = app.chat.query_one("#index-status")
            deadline = time.monotonic() + 20
            while "not watching" not in str(label.render()) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            assert str(label.render()) == "index: not watching"  # the index was never opened: no count to show
            notes = [n.message for n in app._notifications]
            assert len(notes) == 1 and notes[0].startswith("cannot watch: ") and "edge models pull" in notes[0], notes
            assert "\n" not in notes[0]
            # the chat itself goes on: the question box takes text
            area = app.chat.query_one(PromptArea)
            area.focus()
            await pilot.press("h", "i")
            assert area.text == "hi"
            await pilot.press("ctrl+q")
        assert app.watcher is not None and not app.watcher.alive
        assert not (tmp_path / "edge-home" / "index.db").exists()  # nothing was made for a watcher that never ran

    asyncio.run(go())
    assert "edge-watch" not in {t.name for t in threading.enumerate()} - before


def test_no_watch_no_index_line(tmp_path):
    """Without --watch the chat looks as before (the snapshots hold it): no index line at all."""

    async def go():
        app = EdgeApp(load_settings(), preload=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert not app.chat.query("#index-status")
            assert app.watcher is None

    asyncio.run(go())


def test_watch_setting_from_config_and_environment(_isolated_home, monkeypatch, tmp_path):
    from edge.config import save_settings

    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config.toml").write_text('watch = ["~/notes", "/srv/manuals"]\n')
    s = load_settings()
    assert s.watch == ["~/notes", "/srv/manuals"]
    save_settings(s, ["temperature"])  # another setting saved from the chat keeps the list as a list
    assert 'watch = ["~/notes", "/srv/manuals"]' in (_isolated_home / "config.toml").read_text()
    assert load_settings().watch == ["~/notes", "/srv/manuals"]
    monkeypatch.setenv("EDGE_WATCH", "/a:/b")
    assert load_settings().watch == ["/a", "/b"]
    monkeypatch.delenv("EDGE_WATCH")
    (_isolated_home / "config.toml").write_text("watch = 3\n")
    p = run_edge("chat", timeout=60)
    assert p.returncode == 2 and "setting 'watch': cannot use 3 (expected a list of paths)" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_remembered_folder_that_is_gone_is_a_notice_a_named_one_an_error(tmp_path):
    import pytest

    from edge.errors import UsageError
    from edge.tui.app import watch_paths

    (tmp_path / "here").mkdir()
    s = load_settings()
    s.watch = [str(tmp_path / "here"), str(tmp_path / "usb-drive")]
    paths, notices = watch_paths(s, None)
    assert paths == [str(tmp_path / "here")]
    assert notices == [f"not watching {tmp_path / 'usb-drive'}: no such file or folder (from the watch setting)"]
    assert watch_paths(s, []) == ([], [])  # --no-watch
    assert watch_paths(s, [str(tmp_path / "here")]) == ([str(tmp_path / "here")], [])  # --watch wins over the setting
    with pytest.raises(UsageError, match="cannot watch .*usb-drive: no such file or folder"):
        watch_paths(s, [str(tmp_path / "usb-drive")])


def test_startup_notices_are_shown_once_the_chat_is_open():
    async def go():
        app = EdgeApp(load_settings(), preload=False, notices=["not watching /media/usb: no such file or folder (from the watch setting)"])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert [n.message for n in app._notifications] == ["not watching /media/usb: no such file or folder (from the watch setting)"]

    asyncio.run(go())


def test_an_empty_index_during_the_first_sync_says_so_not_run_index_add(tmp_path):
    """While the watcher's first sync has put nothing in the index yet, a question with retrieval is
    told to wait, not to run `edge index add` (the watcher is doing just that); without a sync running,
    the usual advice stands."""
    import pytest

    from edge.errors import EmptyIndex
    from edge.rag.store import Index

    s = load_settings()
    Index(s.index_path).close()  # an index file with no documents

    async def go():
        app = EdgeApp(s, preload=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            chat = app.chat
            with pytest.raises(EmptyIndex, match="edge index add"):
                await asyncio.to_thread(chat._open_retriever)
            chat.freshness = Freshness(syncing=1, watching=1, noun="folder")
            with pytest.raises(EmptyIndex) as e:
                await asyncio.to_thread(chat._open_retriever)
            assert "still being read" in str(e.value) and "edge index add" not in str(e.value)
            assert chat.assistant.retriever is None

    asyncio.run(go())
