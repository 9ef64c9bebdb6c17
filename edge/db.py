"""The one way edge opens SQLite: sqlite-vec loaded, WAL, a busy timeout, migrations applied.

The standard `sqlite3` module is used when it can load extensions (a stock Debian or
Raspberry Pi OS Python). Some Pythons are built without `enable_load_extension` (pyenv
builds against a SQLite without it, for one); then the `sqlean.py` build of SQLite, which
can, stands in with the same DB-API.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .paths import user_path
from .errors import EdgeError, StorageError

Migration = Callable[["sqlite3.Connection"], None]


def _driver():
    """The DB-API module to use: stdlib sqlite3 if it can load extensions, else sqlean."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import sqlean
    except ImportError:  # pragma: no cover - sqlean.py is a dependency
        raise EdgeError(
            "this Python's sqlite3 cannot load extensions and sqlean.py is missing: pip install sqlean.py"
        ) from None
    return sqlean


def driver_name() -> str:
    return _driver().__name__


BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's lock before giving up


@dataclass(frozen=True)
class Kind:
    """What an edge database file is: its name for messages, the tables every such file has,
    its migrations, its SQLite application id, and how to rebuild it when it is damaged."""

    name: str
    tables: tuple[str, ...]
    migrations: Sequence[Migration]
    app_id: int
    rebuild: str  # a sentence ending in the command(s); {path} is replaced


def connect(path: str | Path, *, vec: bool = True, readonly: bool = False, timeout_s: float | None = None):
    """Open `path` with sqlite-vec loaded (unless `vec=False`), in WAL mode, with a busy timeout."""
    path = Path(path)
    if not readonly:
        from .config import private_dir

        private_dir(path.parent)
    conn = _open(path, readonly=readonly, timeout_s=timeout_s)
    try:
        _setup(conn, vec=vec, readonly=readonly)
    except EdgeError:
        conn.close()
        raise
    return conn


def _open(path: Path, *, readonly: bool, immutable: bool = False, timeout_s: float | None = None):
    drv = _driver()
    timeout_s = BUSY_TIMEOUT_S if timeout_s is None else timeout_s
    if readonly:
        # URI form, so the file is opened read-only; `immutable` (read-only media, where not even
        # the -shm file can be made) tells SQLite nobody changes the file while it is open.
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro" + ("&immutable=1" if immutable else "")
    else:
        uri = str(path)
    try:
        # isolation_level=None: autocommit; callers say BEGIN/COMMIT themselves, so a
        # transaction is exactly as long as the code that opened it says.
        conn = drv.connect(uri, timeout=timeout_s, uri=readonly, check_same_thread=False, isolation_level=None,
                           factory=_connection_class(drv))
    except drv.Error as e:
        raise StorageError(f"cannot open database {path}: {e}") from None
    conn.edge_path, conn.edge_kind = path, None
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    return conn


def _setup(conn, *, vec: bool, readonly: bool) -> None:
    try:
        if vec:
            load_vec(conn)
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network file system
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except StorageError as e:
        raise StorageError(f"{conn.edge_path} is not a usable SQLite database: {e}") from None


def _unwritable(path: Path) -> str:
    """What keeps edge from writing the database `path`: "the file", "its folder" (for the -wal and -shm
    files), or "" when both can be written."""
    for p, what in ((path, "the file"), (path.parent, "its folder")):
        if not os.access(p, os.W_OK):
            return what
    return ""


def open_store(path: str | Path, kind: Kind, *, vec: bool = True, readonly: bool = False, create: bool = True,
               timeout_s: float | None = None):
    """The one way edge opens its own database files (the index, the conversation store).

    The file is checked to be `kind` (or empty) before anything is written to it, so a file
    that is someone else's is refused untouched: no tables added, no switch to WAL. New files
    are made 0600 in a 0700 folder, and existing ones tightened. `readonly` opens for reading
    only (read-only media too); otherwise migrations are applied. Every SQLite error later on
    this connection becomes a StorageError naming the file and what to do.
    """
    path = user_path(path)
    exists = path.exists()
    if not exists and (readonly or not create):
        raise StorageError(f"no {kind.name} at {path}")
    if exists and not path.is_file():
        raise StorageError(f"{path} is not a file, so not an edge {kind.name}")
    if not exists:
        from .config import private_dir

        private_dir(path.parent)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # made meanwhile by another process: checked below like any file
            pass
    if readonly:
        conn = _open(path, readonly=True, timeout_s=timeout_s)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except StorageError as e:
            conn.close()
            if "unable to open" not in str(e) and "readonly" not in str(e).lower():
                raise StorageError(_damaged(path, kind, e)) from None
            # read-only media: a WAL file whose -shm cannot be made there
            conn = _open(path, readonly=True, immutable=True, timeout_s=timeout_s)
    else:
        # SQLite opens a file it may not write read-only without a word, then fails mid-way;
        # say so first. The folder must be writable too, for the -wal and -shm files.
        what = _unwritable(path)
        if what:
            raise StorageError(f"the {kind.name} {path} is read-only ({what} cannot be written): commands that only read "
                               "it work; to change it, make it writable or copy it somewhere writable and pass --index")
        conn = _open(path, readonly=False, timeout_s=timeout_s)
    conn.edge_kind = kind
    try:
        _check_kind(conn, path, kind, readonly=readonly)
        _setup(conn, vec=vec, readonly=readonly)
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            from .config import tighten

            tighten(p, 0o600)
        if not readonly:
            migrate(conn, kind.migrations, name=f"{kind.name} {path}")
            if conn.execute("PRAGMA application_id").fetchone()[0] != kind.app_id:
                conn.execute(f"PRAGMA application_id = {int(kind.app_id)}")
        else:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < len(kind.migrations):
                if not _unwritable(path):
                    # a reader meets a file an older edge wrote: upgrade it once, then read it
                    conn.close()
                    open_store(path, kind, vec=vec, create=False, timeout_s=timeout_s).close()
                    return open_store(path, kind, vec=vec, readonly=True, create=False, timeout_s=timeout_s)
                raise StorageError(f"the {kind.name} {path} has an older schema ({version}) and is read-only here: "
                                   "open it once for writing (e.g. `edge index add`) to upgrade it")
    except BaseException:
        conn.close()
        raise
    return conn


def _check_kind(conn, path: Path, kind: Kind, *, readonly: bool) -> None:
    """Refuse a file that is not `kind` before anything is written to it."""
    # (errors here are already StorageErrors naming the file: damaged, locked, unreadable)
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if app_id not in (0, kind.app_id):
        raise StorageError(f"{path} is not an edge {kind.name} (it belongs to another application, id {app_id}); "
                           "it was left untouched")
    if not tables and version == 0 and app_id == 0:
        if readonly:
            raise StorageError(f"{path} is empty, not an edge {kind.name} yet")
        return  # a new file: ours to set up
    missing = [t for t in kind.tables if t not in tables]
    if missing:
        shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
        raise StorageError(f"{path} is not an edge {kind.name} (it has tables {shown or '(none)'}, not {', '.join(missing)}); "
                           "it was left untouched: name another file")


def _damaged(path: Path, kind: Kind, e: Exception) -> str:
    return f"{path} is damaged or not a SQLite database ({_plain(e)}): " + kind.rebuild.format(path=path)


def _plain(e: Exception) -> str:
    s = str(e)
    prefix = "cannot open database "
    return s.split(": ", 1)[1] if s.startswith(prefix) and ": " in s else s


def holders(path: Path) -> list[str]:
    """Other processes that have `path` (or its -wal/-shm) open, as 'pid N (command)'; Linux only,
    and only those this user may look at."""
    want = {str(Path(p).absolute()) for p in (path, f"{path}-wal", f"{path}-shm")}
    out = []
    me = os.getpid()
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in want for fd in fds):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                out.append(f"pid {pid} ({cmd[:80]})")
        except OSError:
            continue
    return out


def translate(e: Exception, path: Path | None, kind: Kind | None) -> StorageError:
    """One line for a SQLite error on `path`, saying what happened and what to do."""
    msg = str(e)
    low = msg.lower()
    what = f"the {kind.name} {path}" if kind else f"database {path}"
    if "locked" in low or "busy" in low:
        who = holders(path) if path else []
        return StorageError(f"{what} is locked by another process" + (f" ({', '.join(who[:3])})" if who else "")
                            + f"; waited {BUSY_TIMEOUT_S:.0f} s: try again when it has finished")
    if "readonly" in low or "read-only" in low:
        return StorageError(f"{what} is read-only ({msg}): commands that only read it work; to change it, "
                            "make it writable or copy it somewhere writable and pass --index")
    if "full" in low:
        return StorageError(f"no space left to write {what}: the change was rolled back and nothing is half-written; "
                            "free some space and run the command again")
    if "disk i/o error" in low:
        return StorageError(f"could not read or write {what} (disk I/O error: a full or failing disk, or a file size "
                            "limit): the change was rolled back; check the disk and run the command again")
    if "unable to open" in low:
        return StorageError(f"cannot open {what} ({msg}): check that it and its folder exist and can be read "
                            "(and written, to change it)")
    if any(w in low for w in ("malformed", "not a database", "corrupt", "blob read error")) or ("no such table" in low and kind):
        fix = kind.rebuild.format(path=path) if kind else "restore it from a backup"
        return StorageError(f"{what} is damaged ({msg}): {fix}")
    return StorageError(f"{what}: {msg}")


_CLASSES: dict = {}


def _connection_class(drv):
    """A Connection (and Cursor) of `drv` whose SQLite errors become StorageErrors naming the file.
    A ROLLBACK after SQLite already rolled back (disk full, I/O error) is a no-op, not a second error."""
    if drv in _CLASSES:
        return _CLASSES[drv]

    def wrap(conn, call):
        try:
            return call()
        except drv.Error as e:
            raise translate(e, getattr(conn, "edge_path", None), getattr(conn, "edge_kind", None)) from None

    class Cursor(drv.Cursor):
        def execute(self, *a):
            return wrap(self.connection, lambda: super(Cursor, self).execute(*a))

        def executemany(self, *a):
            return wrap(self.connection, lambda: super(Cursor, self).executemany(*a))

        def fetchone(self):
            return wrap(self.connection, lambda: super(Cursor, self).fetchone())

        def fetchmany(self, *a):
            return wrap(self.connection, lambda: super(Cursor, self).fetchmany(*a))

        def fetchall(self):
            return wrap(self.connection, lambda: super(Cursor, self).fetchall())

        def __next__(self):
            return wrap(self.connection, lambda: super(Cursor, self).__next__())

    class Connection(drv.Connection):
        def cursor(self, factory=Cursor):
            return super().cursor(factory)

        def execute(self, sql, params=()):
            if sql == "ROLLBACK" and not self.in_transaction:
                return self.cursor()
            return self.cursor().execute(sql, params)

        def executemany(self, sql, params):
            return self.cursor().executemany(sql, params)

    _CLASSES[drv] = Connection
    return Connection


def load_vec(conn) -> str:
    """Load sqlite-vec into `conn`; returns its version."""
    import sqlite_vec

    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
    except Exception as e:  # the driver's OperationalError or AttributeError
        raise EdgeError(f"cannot load sqlite-vec into SQLite ({driver_name()}): {e}") from None
    return conn.execute("select vec_version()").fetchone()[0]


def migrate(conn, migrations: Sequence[Migration], *, name: str = "database") -> int:
    """Apply `migrations[user_version:]` in one transaction each; returns the new version.

    A database newer than this code (user_version > len(migrations)) is refused rather than
    guessed at.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise EdgeError(
            f"the {name} has schema version {version}, newer than this edge understands "
            f"({len(migrations)}): upgrade edge"
        )
    for i in range(version, len(migrations)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations[i](conn)
            conn.execute(f"PRAGMA user_version = {i + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)
