"""A loopback control plane for tests: answers ``GET /clusters/<host id>`` as told.

Modes: ``active``, ``inactive`` (registered, status inactive), ``pending-then-active`` (the
first ``pending_answers`` questions about a host get ``pending``), ``unregistered`` (404),
``401``, ``garbage`` (HTTP 200 with a body that is not the cluster status), ``wrong-host``,
``error`` (HTTP 503), ``redirect`` (302 elsewhere), ``echo`` (HTTP 200 echoing the request's
Authorization header as text). A request without ``Bearer <token>`` gets 401 in every mode
(``token=None``: any bearer token is accepted, and the test reads what was sent in ``asked``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from tests.loopback import QuietHandler, host_port, loopback_server

ACTIVATED_AT = "2026-01-19T02:03:04Z"
TOKEN = "test-id-token"


@dataclass
class FakeControlPlane:
    mode: str = "active"
    token: str | None = TOKEN
    pending_answers: int = 2
    url: str = ""
    asked: list[tuple[str, str]] = field(default_factory=list)  # (host id, Authorization)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hosts_asked(self) -> list[str]:
        with self._lock:
            return [host for host, _ in self.asked]

    def answer(self, host_id: str, authorization: str) -> tuple[int, object]:
        with self._lock:
            self.asked.append((host_id, authorization))
            seen = sum(1 for host, _ in self.asked if host == host_id)
        expected = f"Bearer {self.token}" if self.token else authorization
        if (
            not authorization.startswith("Bearer ")
            or authorization != expected
            or self.mode == "401"
        ):
            return 401, {"message": "Unauthorized"}
        mode = self.mode
        if mode == "pending-then-active":
            mode = "active" if seen > self.pending_answers else "pending"
        status = {"active": "active", "inactive": "inactive", "pending": "pending"}.get(mode)
        if status is not None:
            body = {"host_id": host_id, "registered": True, "status": status}
            if status == "active":
                body["activated_at"] = ACTIVATED_AT
            return 200, body
        return {
            "unregistered": (404, {"message": "no such cluster"}),
            "garbage": (200, b"<html>maintenance</html>"),
            "wrong-host": (
                200,
                {"host_id": "i-someone-else", "registered": True, "status": "active"},
            ),
            "error": (503, {"message": "try later"}),
            "echo": (200, authorization.encode()),
        }.get(mode, (500, {"message": f"unknown mode {mode}"}))


def handler_for(plane: FakeControlPlane) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            prefix = "/clusters/"
            if not self.path.startswith(prefix):
                return self.send_json(404, {"message": f"no route {self.path}"})
            if plane.mode == "redirect":
                return self.send_body(302, b"", headers={"Location": "http://10.0.0.1/x"})
            host_id = unquote(self.path[len(prefix) :])
            status, body = plane.answer(host_id, self.headers.get("Authorization", ""))
            if isinstance(body, bytes):
                return self.send_body(status, body, "text/html")
            return self.send_json(status, body)

    return Handler


@contextlib.contextmanager
def control_plane(mode: str = "active", **settings) -> Iterator[FakeControlPlane]:
    """A fake control plane on a free loopback port; ``plane.url`` is its base URL."""
    plane = FakeControlPlane(mode=mode, **settings)
    with loopback_server(handler_for(plane), poll_interval=0.05) as server:
        plane.url = f"http://{host_port(server)}"
        yield plane
