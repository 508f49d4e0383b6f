"""One Prefect test harness (a temporary API with SQLite) for every flow test."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flow_tests_use_the_harness(prefect_api: None) -> None:
    """Every flow test runs under the session's one harness (``prefect_api``, tests/conftest.py)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that pause a flow run for sign-off run last in the session.

    A paused run leaves a pause expiration on the harness's server; when it comes due (the
    sign-off timeout, up to 60 s later), the server's SQLite is locked for about a minute
    (measured: its task_run_recorder reports "database is locked" 60 s on), and whichever flow
    test runs then waits that long — 65 to 131 s, once past a thread's join timeout. Last, they
    leave nothing behind them that uses this server.
    """
    pausing = [item for item in items if item.get_closest_marker("pauses_flow_run")]
    if pausing:
        items[:] = [item for item in items if item not in pausing] + pausing
