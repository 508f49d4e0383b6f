"""One fix to Prefect's flow engine (3.8), applied when ``tasks.platform.steps`` is imported —
which every flow of this project does, in the CLI, the tests and a worker's flow-run process.

**A sync flow run ended up to 1 s late.** Prefect keeps a heartbeat thread beside each flow run
(``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, 180 s by default: the server's evidence that the run's
process is alive). The thread sleeps in whole seconds, checking its stop flag between sleeps,
and the sync engine *joins* it when the run ends — so every flow run (and sub-flow) waited for
the current second to run out: 0.82 s of a 1.08 s one-task flow, measured with cProfile
(``threading.join`` under ``_send_heartbeats``). Prefect's async engine already leaves the
thread to stop on its own (``join_on_exit=False``); here the sync engine does the same. The
thread is a daemon and checks its stop flag before every sleep and before every heartbeat, so
no heartbeat is sent after the run ended; it only outlives the run by < 1 s, asleep.

Measured (bench/flow_end.py, side by side): a one-task flow 1.06 s → 0.09 s, a flow with a
sub-flow 2.07 s → 0.19 s.
``tests/unit/test_engine_fixes.py`` fails if a Prefect upgrade changes what this relies on.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import prefect.flow_engine as _engine

_PREFECT_SEND_HEARTBEATS = getattr(_engine, "_prefect_send_heartbeats", _engine._send_heartbeats)


@contextmanager
def _heartbeats_not_joined(engine: Any, join_on_exit: bool = True) -> Iterator[None]:
    """Prefect's ``_send_heartbeats``, never joining its thread (``join_on_exit`` is ignored:
    the sync engine's join is the one-second wait this module removes)."""
    with _PREFECT_SEND_HEARTBEATS(engine, join_on_exit=False):
        yield


def apply() -> None:
    """Install the fix (idempotent: importing twice, or reloading, patches once)."""
    if "join_on_exit" not in inspect.signature(_PREFECT_SEND_HEARTBEATS).parameters:
        return  # a Prefect that changed this: leave it alone (the unit test says so)
    _engine._prefect_send_heartbeats = _PREFECT_SEND_HEARTBEATS
    _engine._send_heartbeats = _heartbeats_not_joined


def applied() -> bool:
    return _engine._send_heartbeats is _heartbeats_not_joined


apply()
