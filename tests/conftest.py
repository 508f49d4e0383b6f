"""Shared fixtures: every test gets its own WARDEN_HOME and no PREFECT_API_URL of the caller."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# Before any flow module is imported: results go under a throwaway home, never the checkout's.
os.environ.setdefault("WARDEN_HOME", str(ROOT / ".warden" / "test-home"))
os.environ.pop("WARDEN_RESULT_STORAGE", None)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "warden-home"))
    monkeypatch.chdir(ROOT)


def py(code: str) -> list[str]:
    """argv running a snippet with this interpreter (no shell)."""
    return [PYTHON, "-c", code]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """The one Prefect test harness (a temporary API, on PostgreSQL: tests/harness.py) of the
    session: every flow test uses it (tests/flows/conftest.py), and integration tests that run
    a flow ask for it."""
    from tests.harness import prefect_harness

    with prefect_harness():
        yield


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on a free loopback port, for the tests that talk to AWS APIs over HTTP."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def moto_checks_auth(endpoint: str) -> Iterator[None]:
    """moto's server refuses what its IAM does not allow, until the block ends."""
    import httpx

    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        yield
    finally:
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()
