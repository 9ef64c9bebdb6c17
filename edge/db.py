"""The one way edge opens SQLite: sqlite-vec loaded, WAL, a busy timeout, migrations applied.

The standard `sqlite3` module is used when it can load extensions (a stock Debian or
Raspberry Pi OS Python). Some Pythons are built without `enable_load_extension` (pyenv
builds against a SQLite without it, for one); then the `sqlean.py` build of SQLite, which
can, stands in with the same DB-API.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable, Sequence

from .errors import EdgeError

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


def connect(path: str | Path, *, vec: bool = True, readonly: bool = False, timeout_s: float = 10.0):
    """Open `path` with sqlite-vec loaded (unless `vec=False`), in WAL mode, with a busy timeout."""
    drv = _driver()
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    uri = f"file:{path}?mode=ro" if readonly else str(path)
    try:
        # isolation_level=None: autocommit; callers say BEGIN/COMMIT themselves, so a
        # transaction is exactly as long as the code that opened it says.
        conn = drv.connect(uri, timeout=timeout_s, uri=readonly, check_same_thread=False, isolation_level=None)
    except drv.Error as e:
        raise EdgeError(f"cannot open database {path}: {e}") from None
    try:
        if vec:
            load_vec(conn)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network file system
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except drv.DatabaseError as e:
        conn.close()
        raise EdgeError(f"{path} is not a usable SQLite database: {e}") from None
    return conn


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
