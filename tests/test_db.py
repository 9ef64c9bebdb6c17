import struct

import pytest

from edge import db
from edge.errors import EdgeError


def test_connect_loads_vec_with_wal_and_timeout(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    assert conn.execute("select vec_version()").fetchone()[0].startswith("v")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    conn.execute("create virtual table v using vec0(e float[4])")
    blob = struct.pack("<4f", 1, 0, 0, 0)
    conn.execute("insert into v(rowid, e) values (1, ?)", (blob,))
    row = conn.execute("select rowid, distance from v where e match ? and k = 1", (blob,)).fetchone()
    assert row[0] == 1 and row[1] == pytest.approx(0.0)
    conn.execute("create virtual table f using fts5(t)")


def test_migrations_apply_once_and_newer_is_refused(tmp_path):
    calls = []
    migs = [lambda c: (calls.append(1), c.execute("create table a(x)")), lambda c: (calls.append(2), c.execute("create table b(x)"))]
    conn = db.connect(tmp_path / "m.db", vec=False)
    assert db.migrate(conn, migs) == 2
    assert db.migrate(conn, migs) == 2
    assert calls == [1, 2]
    with pytest.raises(EdgeError, match="newer"):
        db.migrate(conn, migs[:1])


def test_a_failed_migration_rolls_back(tmp_path):
    def bad(c):
        c.execute("create table a(x)")
        raise RuntimeError("boom")

    conn = db.connect(tmp_path / "m.db", vec=False)
    with pytest.raises(RuntimeError):
        db.migrate(conn, [bad])
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert not conn.execute("select name from sqlite_master where name='a'").fetchall()


def test_not_a_database_is_a_clear_error(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EdgeError, match="not a usable SQLite"):
        db.connect(p)
