"""The conversation store (SQLite under EDGE_HOME) and `edge chats`."""

from __future__ import annotations

import json

import pytest

from edge.chats import ChatStore, Message, history, title_from
from edge.errors import UsageError
from tests.conftest import run_edge


def test_messages_are_on_disk_as_soon_as_they_are_added(tmp_path):
    path = tmp_path / "chats.db"
    a = ChatStore(path)
    cid = a.create("What torque do the battery terminal bolts need?")
    a.add(cid, Message("user", "What torque do the battery terminal bolts need?"))
    a.add(cid, Message("assistant", "12 N·m [1]", model="edge-ft-q8_0", mode="ft+rag", stop_reason="eos", stats="ft+rag · …",
                       timings={"ttft_ms": 812.5}, sources=[{"n": 1, "path": "m.md", "heading": "Battery", "lines": [3, 9], "text": "12 N·m"}]))
    # a second connection (another process, after a kill) sees both without any close or commit
    b = ChatStore(path)
    msgs = b.messages(cid)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].sources[0]["text"] == "12 N·m" and msgs[1].timings["ttft_ms"] == 812.5 and msgs[1].mode == "ft+rag"
    assert b.get(cid).n_messages == 2
    a.close()
    b.close()


def test_list_is_newest_first_and_rename_delete_work(tmp_path):
    s = ChatStore(tmp_path / "chats.db")
    old = s.create("first", now=1000.0)
    new = s.create("second", now=2000.0)
    assert [c.id for c in s.list()] == [new, old] and s.last().id == new
    s.add(old, Message("user", "again"), now=3000.0)  # activity moves it to the top
    assert s.last().id == old
    s.rename(old, "  renamed   title ")
    assert s.get(old).title == "renamed title"
    s.delete(old)
    assert [c.id for c in s.list()] == [new]
    with pytest.raises(UsageError):
        s.get(old)
    with pytest.raises(UsageError):
        s.rename(new, "   ")
    # deleting a conversation deletes its messages too
    assert s.conn.execute("select count(*) from messages where conversation_id = ?", (old,)).fetchone()[0] == 0


def test_history_skips_a_question_whose_answer_never_finished():
    msgs = [Message("user", "q1"), Message("assistant", "a1 "), Message("user", "q2"), Message("assistant", "a2", stop_reason="cancelled"),
            Message("user", "q3 (killed mid-answer)")]
    turns = history(msgs)
    assert [(t.user, t.assistant) for t in turns] == [("q1", "a1"), ("q2", "a2")]


def test_titles_are_one_short_line():
    assert title_from("a\nb\tc") == "a b c"
    long = title_from("x" * 200)
    assert len(long) == 60 and long.endswith("…")


def test_a_newer_schema_is_refused_not_guessed(tmp_path):
    s = ChatStore(tmp_path / "chats.db")
    s.conn.execute("PRAGMA user_version = 99")
    s.close()
    with pytest.raises(Exception, match="newer than this edge"):
        ChatStore(tmp_path / "chats.db")


def test_edge_chats_commands(_isolated_home):
    from edge.config import load_settings

    s = ChatStore(load_settings().home / "chats.db")
    cid = s.create("battery torque")
    s.add(cid, Message("user", "battery torque?"))
    s.add(cid, Message("assistant", "12 N·m", stats="ft · edge-ft-q8_0"))
    s.close()
    p = run_edge("chats", "list", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert rows[0]["id"] == cid and rows[0]["messages"] == 2 and rows[0]["title"] == "battery torque"
    p = run_edge("chats", "show", str(cid))
    assert "You: battery torque?" in p.stdout and "edge: 12 N·m" in p.stdout
    assert run_edge("chats", "rename", str(cid), "Torque").returncode == 0
    assert json.loads(run_edge("chats", "list", "--json").stdout)[0]["title"] == "Torque"
    # deleting is all-or-nothing: an unknown id deletes nothing
    p = run_edge("chats", "rm", str(cid), "999")
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "no conversation 999" in p.stderr
    assert len(json.loads(run_edge("chats", "list", "--json").stdout)) == 1
    assert run_edge("chats", "rm", str(cid)).returncode == 0
    assert json.loads(run_edge("chats", "list", "--json").stdout) == []


def test_resume_with_nothing_to_resume_is_one_line(real_home):
    p = run_edge("chat", "--resume")
    assert p.returncode != 0 and p.stderr.strip().startswith("edge: error:") and p.stderr.count("\n") == 1
    assert "no conversation to resume" in p.stderr
    p = run_edge("chat", "--resume", "abc")
    assert p.returncode != 0 and "conversation id" in p.stderr and "Traceback" not in p.stderr
