"""tasks/platform/engine_fixes.py: a sync flow run no longer waits for Prefect's heartbeat
thread to finish its current one-second sleep. Driven with a stand-in engine (no server): the
thread is started, sends its first heartbeat, and is never joined; after the run's end it sends
no other."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import prefect.flow_engine as prefect_engine
import pytest

from tasks.platform import engine_fixes


class SpyThread(threading.Thread):
    joined: list[SpyThread] = []

    def join(self, timeout: float | None = None) -> None:
        SpyThread.joined.append(self)
        super().join(timeout)


def stand_in_engine(sent: list[str], first_sent: threading.Event) -> SimpleNamespace:
    def emit(resource: object, related: object) -> None:
        sent.append("heartbeat")
        first_sent.set()

    return SimpleNamespace(
        heartbeat_seconds=30,
        flow_run=None,
        logger=SimpleNamespace(debug=lambda *a, **k: None),
        _build_heartbeat_event_template=lambda: ({}, []),
        _emit_flow_run_heartbeat=emit,
    )


def test_applied_when_steps_is_imported() -> None:
    import tasks.platform.steps  # noqa: F401

    assert engine_fixes.applied()
    assert prefect_engine._send_heartbeats is engine_fixes._heartbeats_not_joined


def test_the_heartbeat_thread_is_not_joined_and_sends_nothing_after_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefect_engine.threading, "Thread", SpyThread)
    SpyThread.joined.clear()
    sent: list[str] = []
    first_sent = threading.Event()
    before = set(threading.enumerate())
    with prefect_engine._send_heartbeats(stand_in_engine(sent, first_sent)):
        assert first_sent.wait(timeout=60)
        (thread,) = [t for t in set(threading.enumerate()) - before if isinstance(t, SpyThread)]
    assert SpyThread.joined == []  # the run's end did not wait for it
    thread.join(timeout=60)  # it stops on its own at its next check
    assert not thread.is_alive()
    assert sent == ["heartbeat"]
