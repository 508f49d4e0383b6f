"""The durable spool: order, idempotent puts, backoff, reopening, threads and corrupt files."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode
from tasks.events import A2AEvent, Spool, Synchronous, backoff_seconds
from tests.unit.a2a_events import numbered

T0 = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)


def numbers(rows) -> list[int]:
    return [json.loads(row.body)["metadata"]["n"] for row in rows]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool" / "events.sqlite", rng=lambda: 1.0)
    yield spool
    spool.close()


def test_due_returns_events_in_publishing_order_up_to_limit(spool: Spool) -> None:
    assert spool.put_many(numbered(5), now=T0) == 5
    assert spool.put(numbered(1, start=5)[0], now=T0) == 1
    assert numbers(spool.due(4, now=T0)) == [0, 1, 2, 3]
    assert numbers(spool.due(100, now=T0)) == [0, 1, 2, 3, 4, 5]
    assert spool.pending_count() == 6


def test_put_is_idempotent_by_event_id(spool: Spool) -> None:
    event = A2AEvent.gauntlet_begin()
    assert spool.put(event) == 1
    assert spool.put(event) == 0
    assert spool.put_many([event, *numbered(2)]) == 2
    assert spool.pending_count() == 3


def test_a_large_batch_keeps_order_and_skips_known_ids(spool: Spool) -> None:
    events = numbered(1234)  # several multi-row statements in one transaction
    spool.put_many(events[:10])
    assert spool.put_many(events) == 1224
    assert numbers(spool.pending(2000)) == list(range(1234))


def test_row_keeps_the_exact_body_and_its_bookkeeping(spool: Spool) -> None:
    event = A2AEvent.gauntlet_fail(failure_reason="canary_test_failed")
    spool.put(event, now=T0)
    (row,) = spool.due(10, now=T0)
    assert (row.seq, row.id, row.event_type, row.body) == (
        1,
        event.id,
        "GAUNTLET_FAIL",
        event.to_json(),
    )
    assert (row.attempts, row.last_error, row.created_at, row.next_attempt_at) == (0, None, T0, T0)


def test_mark_sent_deletes_only_the_given_ids(spool: Spool) -> None:
    events = numbered(4)
    spool.put_many(events, now=T0)
    assert spool.mark_sent([events[0].id, events[2].id, "f" * 32]) == 2
    assert numbers(spool.due(10, now=T0)) == [1, 3]
    assert spool.mark_sent([]) == 0


def test_mark_failed_counts_attempts_and_backs_off(spool: Spool) -> None:
    (event,) = numbered(1)
    spool.put(event, now=T0)
    assert spool.mark_failed(event.id, "HTTP 503", now=T0) == T0 + timedelta(seconds=1)
    assert spool.mark_failed(event.id, "HTTP 503", now=T0) == T0 + timedelta(seconds=2)
    chosen = T0 + timedelta(minutes=7)
    assert spool.mark_failed(event.id, "timeout", chosen) == chosen
    (row,) = spool.pending()
    assert (row.attempts, row.last_error, row.next_attempt_at) == (3, "timeout", chosen)
    assert spool.mark_failed("0" * 32, "x") is None  # not spooled: nothing to count


def test_long_errors_are_cut(spool: Spool) -> None:
    (event,) = numbered(1)
    spool.put(event, error="x" * 5000, now=T0)
    (row,) = spool.pending()
    assert len(row.last_error) == 500 and row.attempts == 1


def test_an_event_in_backoff_holds_back_the_ones_behind_it(spool: Spool) -> None:
    events = numbered(3)
    spool.put_many(events, errors={events[0].id: "HTTP 500"}, now=T0)  # due at T0 + 1 s
    assert spool.due(10, now=T0) == []  # 1 and 2 are due, but may not overtake 0
    assert numbers(spool.due(10, now=T0 + timedelta(seconds=1))) == [0, 1, 2]
    spool.mark_failed(events[1].id, "HTTP 500", now=T0 + timedelta(seconds=0.5))  # due at 1.5 s
    assert numbers(spool.due(10, now=T0 + timedelta(seconds=1))) == [0]


# fmt: off
@pytest.mark.parametrize(("attempts", "low", "high"), [
    pytest.param(1, 0.5, 1.0, id="first-retry-1s"),
    pytest.param(2, 1.0, 2.0, id="doubles"),
    pytest.param(5, 8.0, 16.0, id="fifth"),
    pytest.param(9, 128.0, 256.0, id="below-cap"),
    pytest.param(10, 150.0, 300.0, id="capped-at-300s"),
    pytest.param(40, 150.0, 300.0, id="stays-capped"),
])
# fmt: on
def test_backoff_is_exponential_capped_with_jitter(attempts: int, low: float, high: float):
    assert backoff_seconds(attempts, rng=lambda: 0.0) == low
    assert backoff_seconds(attempts, rng=lambda: 1.0) == high
    assert low <= backoff_seconds(attempts) <= high


def test_events_survive_reopening_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    first = Spool(path)
    events = numbered(50)
    first.put_many(events)
    first.close()
    again = Spool(path)
    assert [row.id for row in again.due(100)] == [event.id for event in events]
    assert again.warnings == []
    again.close()


@pytest.mark.parametrize(("mode", "level"), [(Synchronous.FULL, 2), ("normal", 1)])
def test_wal_journal_and_chosen_synchronous(tmp_path: Path, mode, level: int) -> None:
    spool = Spool(tmp_path / "events.sqlite", synchronous=mode)
    connection = spool._connection()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == level
    spool.close()


def test_each_thread_writes_on_its_own_connection(spool: Spool) -> None:
    def write(start: int) -> None:
        spool.put_many(numbered(50, start=start))

    threads = [threading.Thread(target=write, args=(start,)) for start in range(0, 200, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spool.pending_count() == 200
    assert sorted(numbers(spool.pending(500))) == list(range(200))
    assert len(spool._connections) == 5  # four writers and this thread


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 400)


def _damaged_pages(path: Path) -> None:
    spool = Spool(path)
    spool.put_many(numbered(300))
    spool.close()  # checkpoints the WAL into the file
    with path.open("r+b") as handle:  # keep the header, wreck the pages after it
        handle.seek(4096)
        handle.write(os.urandom(4096 * 3))


def _foreign_table(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE pending (name TEXT, size INTEGER)")
    connection.close()


@pytest.mark.parametrize("spoil", [_garbage, _damaged_pages, _foreign_table])
def test_unreadable_spool_is_set_aside_and_replaced(tmp_path: Path, spoil) -> None:
    path = tmp_path / "events.sqlite"
    spoil(path)
    original = path.read_bytes()
    spool = Spool(path)
    assert spool.pending_count() == 0 and spool.put_many(numbered(2)) == 2
    (aside,) = tmp_path.glob("events.sqlite.corrupt-*")
    assert aside.read_bytes() == original  # nothing deleted or changed
    (warning,) = spool.warnings
    assert f"moved aside to {aside.name}" in warning and "fresh spool" in warning
    spool.close()
    assert Spool(path).warnings == []  # the fresh spool is a good one


def test_a_wal_beside_a_garbage_file_goes_aside_with_it(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    _garbage(path)
    (tmp_path / "events.sqlite-wal").write_bytes(b"wal frames of the old file")
    Spool(path).close()
    (wal_aside,) = tmp_path.glob("events.sqlite-wal.corrupt-*")
    assert wal_aside.read_bytes() == b"wal frames of the old file"


def test_a_folder_is_not_a_spool_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; give a file path"):
        Spool(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_permissions_raise_instead_of_setting_aside(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    Spool(path).close()
    path.chmod(0)
    try:
        with pytest.raises(ConfigError) as caught:
            Spool(path)
        assert caught.value.code == ExitCode.USAGE_ERROR
        assert not list(tmp_path.glob("*.corrupt-*"))
    finally:
        path.chmod(0o644)


def test_folder_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        Spool(blocker / "sub" / "events.sqlite")
    assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.due(0), id="due-limit"),
        pytest.param(lambda s: s.due(5, now=datetime(2026, 1, 1)), id="naive-now"),
    ],
)
def test_bad_arguments_are_refused(spool: Spool, call) -> None:
    with pytest.raises(ConfigError) as caught:
        call(spool)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Spool(tmp_path / "events.sqlite", synchronous="OFF")
    assert caught.value.code == ExitCode.USAGE_ERROR
