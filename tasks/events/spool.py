"""The durable spool: events the sink has not accepted yet, in SQLite, in publishing order.

WAL journal; ``synchronous`` FULL by default (each commit is fsynced, so a committed event
survives power loss as well as a SIGKILL; NORMAL survives SIGKILL only). Writers commit per
batch, never per event, so FULL costs little (bench/event_publisher.py measures both). Each
thread gets its own connection. ``due`` returns the *due prefix* of the queue: an event still
in backoff holds back those queued after it, so a retried event is never overtaken. Opening
checks the file first and sets a damaged one aside (see ``spool_file``).
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.events.a2a_event import A2AEvent
from tasks.events.errors import EventConfigError
from tasks.events.spool_file import BUSY_TIMEOUT_S, COLUMNS, prepare_spool_file
from tasks.platform.clock import utc_now

BACKOFF_BASE = 1.0
BACKOFF_FACTOR = 2.0
BACKOFF_CAP = 300.0
ERROR_CHARS = 500
INSERT = (
    "INSERT OR IGNORE INTO pending (id, event_type, body, attempts, next_attempt_at, "
    "last_error, created_at) VALUES"
)
ROW_VALUES = "(?, ?, ?, ?, ?, ?, ?)"
# Many rows per statement: each statement releases and retakes the GIL once, and a thread
# that retakes it per row while another thread is busy waits ~5 ms each time (the switch
# interval), holding the write lock all along. 7 x 500 variables is far below SQLite's limit.
ROWS_PER_INSERT = 500
SELECT = f"SELECT {', '.join(COLUMNS)} FROM pending"


class SpooledEvent(BaseModel):
    """One row of the spool: the body exactly as it will be sent, and its retry bookkeeping."""

    model_config = ConfigDict(frozen=True)

    seq: int
    id: str
    event_type: str
    body: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


class Synchronous(StrEnum):
    FULL = "FULL"  # fsync per commit: survives power loss
    NORMAL = "NORMAL"  # WAL: survives a process kill, may lose the last commits on power loss


def backoff_seconds(
    attempts: int, *, rng: Callable[[], float] = random.random, cap: float = BACKOFF_CAP
) -> float:
    """Delay after the ``attempts``-th failure: 1 s x 2^(attempts-1), capped, equal jitter.

    The result lies in [d/2, d] where d = min(cap, 1 s * 2^(attempts-1)): retries of many
    events spread out, yet none comes back sooner than half the nominal delay.
    """
    nominal = min(cap, BACKOFF_BASE * BACKOFF_FACTOR ** max(0, attempts - 1))
    return nominal / 2 + rng() * nominal / 2


def db_time(moment: datetime) -> str:
    """Fixed-width UTC text, so that the table's string order is time order."""
    if moment.tzinfo is None:
        raise EventConfigError(f"naive time {moment!r}; pass an aware UTC datetime (utc_now())")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _from_db_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Spool:
    """The pending-events table of one SQLite file; safe to share between threads."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous | str = Synchronous.FULL,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.path = Path(path)
        try:
            self.synchronous = Synchronous(str(synchronous).upper())
        except ValueError as exc:
            raise EventConfigError(
                f"spool synchronous={synchronous!r} is not one of FULL, NORMAL"
            ) from exc
        self._rng = rng
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # One writer at a time in this process: threads queue on a lock instead of SQLite's
        # busy handler, which sleeps up to 100 ms between retries (a publish must not).
        self._writing = threading.Lock()
        self.warnings: list[str] = prepare_spool_file(self.path)

    # -- writing -------------------------------------------------------------------------

    def put(self, event: A2AEvent, *, error: str | None = None, now: datetime | None = None) -> int:
        """Spool one event (1) unless its id is already there (0); one commit."""
        return self.put_many([event], errors={event.id: error} if error else None, now=now)

    def put_many(
        self,
        events: Iterable[A2AEvent],
        *,
        errors: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Spool events in one transaction, in the order given; returns how many were new.

        An event with an entry in ``errors`` (keyed by id) already failed one delivery: it is
        stored with attempts=1, that error and a backoff; the others are due at once.
        """
        moment = now or utc_now()
        created = db_time(moment)
        errors = errors or {}
        rows = []
        for event in events:
            error = errors.get(event.id)
            attempts, due_at = (1, moment + self._delay(1)) if error else (0, moment)
            rows.append(
                (
                    event.id,
                    event.event_type,
                    event.to_json(),
                    attempts,
                    db_time(due_at),
                    _short(error),
                    created,
                )
            )
        if not rows:
            return 0
        connection = self._connection()
        inserted = 0
        with self._writing, connection:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                values = ", ".join([ROW_VALUES] * len(chunk))
                flat = [value for row in chunk for value in row]
                inserted += connection.execute(f"{INSERT} {values}", flat).rowcount
        return inserted

    def mark_sent(self, ids: Iterable[str]) -> int:
        """Delete delivered events; returns how many rows went."""
        keys = [(event_id,) for event_id in ids]
        if not keys:
            return 0
        connection = self._connection()
        with self._writing, connection:
            cursor = connection.executemany("DELETE FROM pending WHERE id = ?", keys)
        return max(cursor.rowcount, 0)

    def mark_failed(
        self,
        event_id: str,
        error: str,
        next_attempt_at: datetime | None = None,
        *,
        now: datetime | None = None,
    ) -> datetime | None:
        """Count one more failed attempt; retry at ``next_attempt_at`` or after the backoff.

        Returns when the event is next due, or None when no such event is spooled.
        """
        connection = self._connection()
        with self._writing, connection:
            row = connection.execute(
                "SELECT attempts FROM pending WHERE id = ?", (event_id,)
            ).fetchone()
            if row is None:
                return None
            attempts = row[0] + 1
            due_at = next_attempt_at or (now or utc_now()) + self._delay(attempts)
            connection.execute(
                "UPDATE pending SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (attempts, _short(error), db_time(due_at), event_id),
            )
        return due_at

    # -- reading -------------------------------------------------------------------------

    def due(self, limit: int = 100, now: datetime | None = None) -> list[SpooledEvent]:
        """The oldest events, in order, up to the first one whose retry time has not come."""
        if limit < 1:
            raise EventConfigError(f"due(limit={limit}): limit must be >= 1")
        cutoff = db_time(now or utc_now())
        rows = self._connection().execute(f"{SELECT} ORDER BY seq LIMIT ?", (limit,)).fetchall()
        prefix = []
        for row in rows:
            if row[5] > cutoff:
                break
            prefix.append(_spooled(row))
        return prefix

    def pending(self, limit: int = 1000) -> list[SpooledEvent]:
        """The oldest events whether due or not (for inspection and tests)."""
        rows = self._connection().execute(f"{SELECT} ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [_spooled(row) for row in rows]

    def pending_count(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def close(self) -> None:
        """Close every thread's connection; a later call opens new ones."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for connection in connections:
            connection.close()

    # -- opening -------------------------------------------------------------------------

    def _delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=backoff_seconds(attempts, rng=self._rng))

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread=False only so close() may close every thread's connection;
        # each connection is still used by the one thread that opened it.
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self.synchronous.value}")
        except sqlite3.Error:
            connection.close()
            raise
        return connection


def _short(error: str | None) -> str | None:
    return None if error is None else error[:ERROR_CHARS]


def _spooled(row: tuple) -> SpooledEvent:
    return SpooledEvent(
        seq=row[0],
        id=row[1],
        event_type=row[2],
        body=row[3],
        attempts=row[4],
        next_attempt_at=_from_db_time(row[5]),
        last_error=row[6],
        created_at=_from_db_time(row[7]),
    )
