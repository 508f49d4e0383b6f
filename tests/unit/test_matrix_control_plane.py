"""Onboarding verified by a real (loopback) control plane: only ``active`` passes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler

import pytest
from pydantic import SecretStr

from blocks.invariants import check_control_plane_url
from tasks.matrix.control_plane import Activation, ControlPlane, wait_until_active
from tasks.matrix.errors import LegError, LegFailure
from tests.control_plane import TOKEN, control_plane
from tests.loopback import free_port, loopback_server

HOST = "i-0123456789abcdef0"


def plane_at(url: str, token: str = TOKEN, timeout: float = 5.0) -> ControlPlane:
    return ControlPlane(url, SecretStr(token), request_timeout_seconds=timeout)


class VirtualTime:
    """A clock that moves only when the waiter sleeps: how often it asks within its timeout
    does not depend on how loaded the machine is (the control plane's answers stay real)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def wait(plane: ControlPlane, timeout: float = 0.5):
    virtual = VirtualTime()
    return wait_until_active(
        plane,
        HOST,
        timeout_seconds=timeout,
        poll_seconds=0.02,
        clock=virtual.clock,
        sleep=virtual.sleep,
    )


def test_active_is_verified_with_the_token_as_bearer() -> None:
    with control_plane("active") as fake:
        answer = wait(plane_at(fake.url))
    assert answer.activation is Activation.ACTIVE and answer.status == "active"
    assert answer.activated_at == datetime(2026, 1, 19, 2, 3, 4, tzinfo=UTC)
    assert answer.received_at.tzinfo is not None
    assert fake.asked == [(HOST, f"Bearer {TOKEN}")]


def test_pending_then_active_keeps_asking_until_active() -> None:
    with control_plane("pending-then-active", pending_answers=3) as fake:
        answer = wait(plane_at(fake.url), timeout=10)
    assert answer.activation is Activation.ACTIVE
    assert fake.hosts_asked() == [HOST] * 4


@pytest.mark.parametrize(
    ("mode", "detail"),
    [("inactive", "status 'inactive'"), ("unregistered", "not registered"), ("error", "503")],
)
def test_never_active_times_out_naming_the_last_answer(mode: str, detail: str) -> None:
    with control_plane(mode) as fake:
        with pytest.raises(LegError) as caught:
            wait(plane_at(fake.url), timeout=0.3)
        assert len(fake.asked) >= 2  # it kept asking
    assert caught.value.failure is LegFailure.ONBOARDING_TIMEOUT
    assert detail in caught.value.message


@pytest.mark.parametrize(
    ("mode", "token", "failure"),
    [
        ("401", TOKEN, LegFailure.AUTH_FAILED),
        ("active", "a-token-the-control-plane-refuses", LegFailure.AUTH_FAILED),
        ("garbage", TOKEN, LegFailure.CONTROL_PLANE_INVALID),
        ("wrong-host", TOKEN, LegFailure.CONTROL_PLANE_INVALID),
        ("redirect", TOKEN, LegFailure.CONTROL_PLANE_INVALID),
    ],
)
def test_a_refused_token_or_an_unusable_answer_fails_at_once(
    mode: str, token: str, failure: LegFailure
) -> None:
    with control_plane(mode) as fake:
        with pytest.raises(LegError) as caught:
            wait(plane_at(fake.url, token), timeout=30)
        assert len(fake.asked) <= 1  # no polling on a final answer (redirect: never followed)
    assert caught.value.failure is failure


def test_an_echoed_token_never_reaches_the_evidence() -> None:
    with control_plane("echo") as fake, pytest.raises(LegError) as caught:
        wait(plane_at(fake.url))
    assert caught.value.failure is LegFailure.CONTROL_PLANE_INVALID
    assert TOKEN not in str(caught.value) and "[token]" in caught.value.message
    assert TOKEN not in repr(plane_at(fake.url))


def test_a_refused_connection_is_unavailable_and_retried_until_the_timeout() -> None:
    plane = plane_at(f"http://127.0.0.1:{free_port()}")
    assert plane.ask(HOST).activation is Activation.UNAVAILABLE
    with pytest.raises(LegError) as caught:
        wait(plane, timeout=0.2)
    assert caught.value.failure is LegFailure.ONBOARDING_TIMEOUT


RELEASE_SILENT = threading.Event()


class Silent(BaseHTTPRequestHandler):
    """Accepts the request and answers nothing until the test releases it."""

    def do_GET(self) -> None:  # noqa: N802
        RELEASE_SILENT.wait(60)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_every_request_has_an_explicit_timeout() -> None:
    with loopback_server(Silent, poll_interval=0.05) as server:
        plane = plane_at(f"http://127.0.0.1:{server.server_address[1]}", timeout=0.2)
        try:
            answer = plane.ask(HOST)  # without a timeout this would wait for the release
        finally:
            RELEASE_SILENT.set()
    assert answer.activation is Activation.UNAVAILABLE and "in time" in answer.detail


@pytest.mark.parametrize(
    "url", ["http://control-plane.example.com/api", "https://user:pw@cp.example.com"]
)
def test_a_url_that_could_leak_the_token_is_refused(url: str) -> None:
    with pytest.raises(ValueError) as refused:  # the invariants' own URL check
        check_control_plane_url(url)
    with pytest.raises(ValueError) as caught:
        plane_at(url)
    assert type(caught.value) is type(refused.value) and caught.value.args == refused.value.args


def test_no_token_is_an_auth_failure() -> None:
    with pytest.raises(LegError) as caught:
        ControlPlane("https://cp.example.com", SecretStr(" "))
    assert caught.value.failure is LegFailure.AUTH_FAILED
