"""Count a spool's waiting events without touching the file: for commands that only report.

Opening a :class:`~tasks.events.spool.Spool` prepares its file (creates the table, switches to
WAL, sets a damaged file aside), and even a read-only SQLite connection to a WAL database
creates its -wal and -shm files. A reader that must change nothing opens the file immutable
when no -wal file exists (the last writer checkpointed everything into the file), and read-only
next to a live writer's -wal otherwise; a missing or empty file holds no events.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from tasks.events.errors import EventConfigError


def peek_pending_count(path: Path) -> int | None:
    """Events waiting in the spool at ``path``; None when there is no spool file.

    An unreadable or foreign file raises :class:`EventConfigError`; it is left as it is.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        return 0
    live_writer = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if live_writer else "immutable=1"
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True)) as db:
            return int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
    except sqlite3.Error as exc:
        raise EventConfigError(
            f"cannot read the spool {path}: {exc}",
            remediation="Inspect the file; the next run that publishes events sets a damaged "
            "spool aside and starts a fresh one.",
        ) from exc
