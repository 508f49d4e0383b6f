"""Is a spool file usable? Check it before use, create the table, or set a damaged one aside.

Damage is decided before anything is written: a file without SQLite's header is judged
before SQLite may touch its -wal; then a read-only ``quick_check`` and a look at the tables.
A damaged file (corrupt, or another program's database) is renamed to
``<name>.corrupt-<stamp>`` together with its -wal/-shm files and a fresh spool is created;
nothing is deleted. Any other failure (permissions, a full disk) raises: setting a healthy
spool aside because it could not be opened would hide its events.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tasks.events.errors import EventConfigError
from tasks.platform.clock import run_stamp, utc_now

BUSY_TIMEOUT_S = 10.0
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
ACCESS_FIX = "Give the process read and write access to the spool file and its folder."
COLUMNS = (
    "seq",
    "id",
    "event_type",
    "body",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL
)
"""


def prepare_spool_file(path: Path) -> list[str]:
    """Make ``path`` a usable spool; the warnings to surface (one per file set aside)."""
    _check_path(path)
    problem = _initialise(path)
    if problem is None:
        return []
    aside = _set_aside(path)
    warning = (
        f"spool {path} was unreadable ({problem}); moved aside to {aside.name} "
        "and a fresh spool was created — inspect or re-import it by hand"
    )
    problem = _initialise(path)
    if problem is not None:
        raise EventConfigError(f"cannot create a spool at {path}: {problem}")
    return [warning]


def _initialise(path: Path) -> str | None:
    """Create the table if needed; why the file is not a usable spool, or None."""
    if not _has_sqlite_header(path):
        return "not an SQLite file"
    try:
        with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as connection:
            problem = _inspect(connection)
            if problem is None:
                connection.execute("PRAGMA journal_mode=WAL")
                with connection:
                    connection.execute(SCHEMA)
                connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return problem
    except sqlite3.Error as exc:
        return _damage(exc, path)


def _inspect(connection: sqlite3.Connection) -> str | None:
    """Read-only checks: the file's integrity, and that its only tables are a spool's."""
    check = connection.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        return f"integrity check: {check}"
    tables = {
        row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if tables - {"pending", "sqlite_sequence"}:
        return f"it holds other tables ({', '.join(sorted(tables))}), not a spool's"
    columns = tuple(row[1] for row in connection.execute("PRAGMA table_info(pending)"))
    if columns and columns != COLUMNS:
        return f"table 'pending' has columns {columns}, not a spool's {COLUMNS}"
    return None


def _set_aside(path: Path) -> Path:
    suffix = f".corrupt-{run_stamp(utc_now())}"
    for extra in ("-wal", "-shm"):
        companion = path.with_name(path.name + extra)
        if companion.exists():
            companion.rename(path.with_name(path.name + extra + suffix))
    aside = path.with_name(path.name + suffix)
    path.rename(aside)
    return aside


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise EventConfigError(
            f"spool path {path} is a folder; give a file path such as {path / 'events.sqlite'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EventConfigError(
            f"cannot create the spool's folder {path.parent}: {exc.strerror}",
            remediation="Choose a spool path in a folder this process may write.",
        ) from exc


def _has_sqlite_header(path: Path) -> bool:
    """True for a missing or empty file (SQLite makes a new one) or one with SQLite's magic."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise EventConfigError(
            f"cannot read the spool {path}: {exc.strerror}", remediation=ACCESS_FIX
        ) from exc
    return head in (b"", SQLITE_MAGIC)


def _damage(exc: sqlite3.Error, path: Path) -> str:
    """The message of an error that means a damaged file; anything else is raised."""
    if getattr(exc, "sqlite_errorcode", None) in DAMAGE_CODES:
        return str(exc)
    raise EventConfigError(f"cannot open the spool {path}: {exc}", remediation=ACCESS_FIX) from exc
