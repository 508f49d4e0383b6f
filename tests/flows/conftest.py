"""One Prefect test harness (a temporary API on PostgreSQL, tests/harness.py) per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flow_tests_use_the_harness(prefect_api: None) -> None:
    """Every flow test runs under the session's one harness (``prefect_api``, tests/conftest.py)."""
