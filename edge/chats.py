"""Conversations, kept in SQLite at `$EDGE_HOME/chats.db`.

Each message is written (and committed) as it completes: the question when it is sent, the
answer when it finishes or is stopped. A process killed mid-answer loses only the half-written
answer; `edge chat --resume` picks up the rest.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .db import Kind, open_store
from .errors import UsageError
from .prompt import Turn

TITLE_CHARS = 60


def _v1(conn) -> None:
    conn.execute("""
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        )""")
    conn.execute("""
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            created REAL NOT NULL,
            model TEXT,
            mode TEXT,
            stop_reason TEXT,
            stats TEXT,
            timings TEXT,   -- JSON: the answer's Timings
            sources TEXT    -- JSON: the passages the model was given, text included
        )""")
    conn.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")
    conn.execute("CREATE INDEX conversations_by_updated ON conversations(updated)")


MIGRATIONS = [_v1]

CHATS_KIND = Kind(
    name="conversation store", tables=("conversations", "messages"), migrations=MIGRATIONS,
    app_id=0x65646763,  # "edgc"
    rebuild="move it aside (`mv {path} {path}.damaged`): edge starts a new one, and the old file can still be "
            "read with the sqlite3 command's .recover",
)


@dataclass
class Message:
    role: str
    content: str
    id: int = 0
    created: float = 0.0
    model: str = ""
    mode: str = ""
    stop_reason: str = ""
    stats: str = ""
    timings: dict = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return self.stop_reason == "cancelled"


@dataclass
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    n_messages: int = 0

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "created": self.created, "updated": self.updated, "messages": self.n_messages}


def title_from(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= TITLE_CHARS else one[: TITLE_CHARS - 1].rstrip() + "…"


class ChatStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        from .config import private_dir

        # conversations are private: the data directory is 0700 and the file 0600
        private_dir(self.path.parent, tighten_existing=True)
        self.conn = open_store(self.path, CHATS_KIND, vec=False)

    def close(self) -> None:
        self.conn.close()

    # -- conversations ------------------------------------------------------------------------
    def create(self, title: str = "New chat", *, now: float | None = None) -> int:
        now = time.time() if now is None else now
        cur = self.conn.execute("INSERT INTO conversations(title, created, updated) VALUES (?, ?, ?)", (title_from(title) or "New chat", now, now))
        return int(cur.lastrowid)

    def _row(self, r) -> Conversation:
        return Conversation(int(r[0]), r[1], r[2], r[3], int(r[4]))

    _SELECT = ("SELECT c.id, c.title, c.created, c.updated, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) "
               "FROM conversations c")

    def list(self, limit: int = 0) -> list[Conversation]:
        limit = min(int(limit), 2**62) if limit and limit > 0 else 0  # 0 or less: all of them
        sql = self._SELECT + " ORDER BY c.updated DESC, c.id DESC" + (f" LIMIT {limit}" if limit else "")
        return [self._row(r) for r in self.conn.execute(sql)]

    def get(self, cid: int) -> Conversation:
        if not -(2**63) <= int(cid) < 2**63:  # SQLite's integers are 64-bit: no such row can exist
            raise UsageError(f"no conversation {cid}: see `edge chats list`")
        r = self.conn.execute(self._SELECT + " WHERE c.id = ?", (int(cid),)).fetchone()
        if r is None:
            raise UsageError(f"no conversation {cid}: see `edge chats list`")
        return self._row(r)

    def last(self) -> Conversation | None:
        got = self.list(limit=1)
        return got[0] if got else None

    def rename(self, cid: int, title: str) -> None:
        title = title_from(title)
        if not title:
            raise UsageError("a conversation's title cannot be empty")
        self.get(cid)
        self.conn.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, int(cid)))

    def delete(self, cid: int) -> None:
        self.get(cid)
        self.conn.execute("DELETE FROM conversations WHERE id = ?", (int(cid),))

    # -- messages -----------------------------------------------------------------------------
    def add(self, cid: int, msg: Message, *, now: float | None = None) -> int:
        """Append a message and commit it (autocommit: it is on disk when this returns)."""
        now = time.time() if now is None else now
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute(
                "INSERT INTO messages(conversation_id, role, content, created, model, mode, stop_reason, stats, timings, sources) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (int(cid), msg.role, msg.content, now, msg.model, msg.mode, msg.stop_reason, msg.stats,
                 json.dumps(msg.timings), json.dumps(msg.sources, ensure_ascii=False)),
            )
            self.conn.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, int(cid)))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        msg.id, msg.created = int(cur.lastrowid), now
        return msg.id

    def messages(self, cid: int) -> list[Message]:
        self.get(cid)
        rows = self.conn.execute(
            "SELECT id, role, content, created, model, mode, stop_reason, stats, timings, sources FROM messages "
            "WHERE conversation_id = ? ORDER BY id", (int(cid),))
        return [Message(r[1], r[2], id=r[0], created=r[3], model=r[4] or "", mode=r[5] or "", stop_reason=r[6] or "",
                        stats=r[7] or "", timings=json.loads(r[8] or "{}"), sources=json.loads(r[9] or "[]")) for r in rows]


def history(messages: list[Message]) -> list[Turn]:
    """The finished exchanges of a stored conversation, as the assistant's history. A question
    whose answer never completed (the process was killed) is not part of it."""
    turns, pending = [], None
    for m in messages:
        if m.role == "user":
            pending = m.content
        elif pending is not None:
            turns.append(Turn(pending, m.content.strip()))
            pending = None
    return turns


def open_chats(settings) -> ChatStore:
    return ChatStore(settings.home / "chats.db")
