"""The flow's A2A bus: durable before publish returns, every problem reported, none raised."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.events import A2AEvent, A2AProblem, BestEffortBus, ProblemKind, Spool
from tests.loopback import QuietHandler, free_port, host_port, loopback_server


class Hanging(QuietHandler):
    """A bus that takes every event and never answers until released."""

    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.release.wait(5)
        self.send_json(200, {})


@pytest.fixture
def hanging_url() -> Iterator[str]:
    Hanging.release.clear()
    with loopback_server(Hanging) as server:
        yield f"http://{host_port(server)}/a2a/events"
        Hanging.release.set()


def opened(url: str | None, spool: Path) -> tuple[BestEffortBus, list[A2AProblem]]:
    heard: list[A2AProblem] = []
    return BestEffortBus.open(url, spool, timeout=0.3, on_problem=heard.append), heard


def test_an_event_is_in_the_spool_when_publish_returns(tmp_path: Path, hanging_url: str) -> None:
    """The bus is hanging: only a durable publish can have the event on disk already."""
    spool = tmp_path / "spool.sqlite"
    bus, heard = opened(hanging_url, spool)
    event = A2AEvent.gauntlet_begin()
    assert bus.publish(event) is True
    assert [row.id for row in Spool(spool).pending()] == [event.id]
    Hanging.release.set()
    summary = bus.close(timeout=2)
    assert (summary.published, summary.durable, summary.dropped) == (1, 1, 0)
    assert heard == [] and summary.problems == ()


def test_a_spool_that_cannot_be_opened_is_a_problem_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bus, heard = opened(None, blocker / "spool.sqlite")  # its folder cannot be created
    assert [p.kind for p in heard] == [ProblemKind.SPOOL_UNAVAILABLE]
    assert bus.drain(budget_seconds=1) is None
    assert bus.publish(A2AEvent.gauntlet_begin()) is False
    summary = bus.close()
    assert (summary.published, summary.durable, summary.dropped) == (1, 0, 1)
    assert summary.pending is None  # unknown: there is no spool to read
    assert [p.kind for p in summary.problems] == [
        ProblemKind.SPOOL_UNAVAILABLE,
        ProblemKind.DROPPED,
    ]
    assert summary.problems == tuple(heard)


def test_a_spool_write_that_fails_is_reported_and_counted_if_never_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus, heard = opened(None, tmp_path / "spool.sqlite")
    spool = bus._publisher.spool  # type: ignore[union-attr]

    def broken(events, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(spool, "put_many", broken)
    assert bus.publish(A2AEvent.gauntlet_begin()) is False
    summary = bus.close(timeout=0.3)
    assert [p.kind for p in summary.problems] == [ProblemKind.NOT_DURABLE, ProblemKind.DROPPED]
    assert summary.dropped == 1


def test_a_drain_that_raises_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bus, heard = opened(f"http://127.0.0.1:{free_port()}/a2a", tmp_path / "spool.sqlite")
    spool = bus._publisher.spool  # type: ignore[union-attr]

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(spool, "due", locked)
    assert bus.drain(budget_seconds=1) is None
    assert [p.kind for p in heard] == [ProblemKind.DRAIN_FAILED]
    bus.close(timeout=0.3)


def test_an_unusable_sink_url_spools_only_and_says_so(tmp_path: Path) -> None:
    bus, heard = opened("ftp://bus.example/a2a", tmp_path / "spool.sqlite")
    assert [p.kind for p in heard] == [ProblemKind.SINK_UNUSABLE]
    assert bus.publish(A2AEvent.gauntlet_begin()) is True
    summary = bus.close(timeout=1)
    assert (summary.pending, summary.dropped) == (1, 0)


def test_a_failing_problem_handler_cannot_break_the_bus(tmp_path: Path) -> None:
    def angry(problem: A2AProblem) -> None:
        raise RuntimeError("handler bug")

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    bus = BestEffortBus.open(None, blocker / "s.sqlite", timeout=0.3, on_problem=angry)
    assert bus.publish(A2AEvent.gauntlet_begin()) is False
    assert bus.close().dropped == 1
