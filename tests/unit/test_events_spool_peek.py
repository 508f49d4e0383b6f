"""A spool read for a report: its waiting events counted, nothing created or changed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tasks.events import A2AEvent, EventConfigError, Spool
from tasks.events.spool_peek import peek_pending_count
from tests.folders import folder_state


def _spool_with(path: Path, events: int) -> Spool:
    spool = Spool(path)
    spool.put_many([A2AEvent.gauntlet_begin() for _ in range(events)])
    return spool


def test_no_file_is_no_spool_and_nothing_is_created(tmp_path: Path) -> None:
    assert peek_pending_count(tmp_path / "events" / "spool.sqlite") is None
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_holds_no_events_and_stays_empty(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    path.touch()
    assert peek_pending_count(path) == 0
    assert folder_state(tmp_path) == {"spool.sqlite": (0, path.stat().st_mtime_ns)}


def test_a_closed_spool_is_counted_without_wal_or_shm_files(tmp_path: Path) -> None:
    _spool_with(tmp_path / "spool.sqlite", 2).close()
    before = folder_state(tmp_path)
    assert peek_pending_count(tmp_path / "spool.sqlite") == 2
    assert folder_state(tmp_path) == before


def test_a_live_writers_uncheckpointed_events_are_counted(tmp_path: Path) -> None:
    spool = _spool_with(tmp_path / "spool.sqlite", 3)
    try:
        assert (tmp_path / "spool.sqlite-wal").exists()
        assert peek_pending_count(tmp_path / "spool.sqlite") == 3
    finally:
        spool.close()


def _foreign_database(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE other (x)")


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"not a database at all, just text" * 200)


@pytest.mark.parametrize("write", [_foreign_database, _not_sqlite], ids=["foreign", "not-sqlite"])
def test_an_unreadable_file_is_a_config_error_and_is_left_as_it_is(tmp_path: Path, write) -> None:
    path = tmp_path / "spool.sqlite"
    write(path)
    before = folder_state(tmp_path)
    with pytest.raises(EventConfigError):
        peek_pending_count(path)
    assert folder_state(tmp_path) == before
