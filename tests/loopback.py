"""Real HTTP servers on loopback for tests: one way to start, serve and stop them."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tasks.platform.processes import free_port  # noqa: F401  (tests import it from here)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean and answers JSON in one call."""

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the client may have given up (timeout tests)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(body).encode(), "application/json", headers)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the stdlib's name)
        pass


@contextlib.contextmanager
def loopback_server(
    handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.5
) -> Iterator[ThreadingHTTPServer]:
    """``handler`` served on a free 127.0.0.1 port from a daemon thread; stopped on exit.
    The port is ``server.server_address[1]`` (see :func:`host_port`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(poll_interval,), daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def host_port(server: ThreadingHTTPServer) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


def closed_port_url() -> str:
    """An http URL on a loopback port nothing listens on: connecting is refused."""
    return f"http://127.0.0.1:{free_port()}"
