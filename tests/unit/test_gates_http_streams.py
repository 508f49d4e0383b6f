"""HTTP gates against a real loopback server: response headers, event streams and their resume,
and one deadline for the whole gate (a server that trickles bytes cannot stretch it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from blocks.gates import HttpGate
from tasks.gates.sse import parse_events
from tests.loopback import QuietHandler, host_port, loopback_server

POLICY = {"mode": "redacted", "dp": {"enabled": True, "epsilon": 8.0}}
EVENTS = [("status", "{}"), ("policy", json.dumps(POLICY)), ("token", "hi"), ("usage", "{}")]
STREAM = [*EVENTS, ("final", "{}")]  # ids 1..5
STOP = threading.Event()  # set at the end of the module: endless handlers return


class Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        route = self.path.split("?")[0]
        if route == "/ask":
            self.send_json(200, {"ok": True}, {"X-Aetherra-Policy": json.dumps(POLICY)})
        elif route == "/ask-bad-policy":
            self.send_json(200, {"ok": True}, {"X-Aetherra-Policy": "redacted"})
        elif route == "/trickle":
            self._trickle()
        elif route == "/stall":
            self._stall()
        elif route == "/stream-restarts":  # ignores Last-Event-ID
            self._stream(STREAM, start=1)
        elif route == "/stream-out-of-order":
            self._stream([STREAM[0], STREAM[1], STREAM[4], STREAM[3]], start=1)
        elif route == "/stream-no-ids":
            self._stream(STREAM, start=1, ids=False)
        elif route == "/stream-endless":
            self._stream([("token", "x")] * 10_000, start=1, pause=0.05)
        else:
            after = int(self.headers.get("Last-Event-ID") or 0)
            self._stream(STREAM[after:], start=after + 1)

    def _stream(self, events, *, start: int, ids: bool = True, pause: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("X-Aetherra-Policy", json.dumps(POLICY))
        self.end_headers()
        try:
            self.wfile.write(b": stream opened\n\n")
            for number, (event, data) in enumerate(events, start=start):
                if STOP.is_set():
                    return
                block = (f"id: {number}\n" if ids else "") + f"event: {event}\ndata: {data}\n\n"
                self.wfile.write(block.encode())
                if pause:
                    STOP.wait(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up: after resume_after events, or at its deadline

    def _trickle(self) -> None:
        """A body of 60 bytes, one every 0.1 s: each read is quick, the whole is 6 s."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "60")
        self.end_headers()
        try:
            for _ in range(60):
                if STOP.wait(0.1):
                    return
                self.wfile.write(b" ")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _stall(self) -> None:
        """One byte after 1.5 s, then silence: a read that starts just before the deadline."""
        self.send_response(200)
        self.send_header("Content-Length", "10")
        self.end_headers()
        try:
            if not STOP.wait(1.5):
                self.wfile.write(b" ")
            STOP.wait(10)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    STOP.clear()
    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}"
        STOP.set()


def gate(url: str, **fields) -> HttpGate:
    return HttpGate(kind="http", name="chat", url=url, **fields)


def evaluate(url: str, **fields):
    from tasks.gates.http_check import evaluate_http

    return evaluate_http(gate(url, **fields))


# -- response headers (the seed's X-Aetherra-Policy gate) -------------------------------------

POLICY_JSON = {"$": {"exists": True}, "mode": "redacted", "dp.epsilon": {"min": 1}}

# fmt: off
HEADERS = [
    # path, expect_headers, ok, reason
    pytest.param("/ask", {"X-Aetherra-Policy": {"as_json": POLICY_JSON}}, True, "",
                 id="policy-header-is-json"),
    pytest.param("/ask", {"x-aetherra-policy": {}}, True, "", id="names-ignore-case"),
    pytest.param("/ask", {"Content-Type": "application/json"}, True, "", id="equals"),
    pytest.param("/ask", {"Content-Type": {"matches": "^text/"}}, False, "header_mismatch",
                 id="matches-fails"),
    pytest.param("/ask", {"X-Missing": {}}, False, "header_mismatch", id="missing"),
    pytest.param("/ask", {"X-Missing": {"exists": False}}, True, "", id="absent-as-expected"),
    pytest.param("/ask-bad-policy", {"X-Aetherra-Policy": {"as_json": POLICY_JSON}}, False,
                 "header_mismatch", id="policy-header-not-json"),
    pytest.param("/ask", {"X-Aetherra-Policy": {"as_json": {"mode": "open"}}}, False,
                 "header_mismatch", id="policy-value-wrong"),
]
# fmt: on


@pytest.mark.parametrize(("path", "expect_headers", "ok", "reason"), HEADERS)
def test_expect_headers(
    base_url: str, path: str, expect_headers: dict, ok: bool, reason: str
) -> None:
    outcome = evaluate(base_url + path, expect_headers=expect_headers)
    assert (outcome.ok, outcome.reason) == (ok, reason), outcome.details
    assert outcome.details["checked_headers"] == sorted(expect_headers)


# -- server-sent events ---------------------------------------------------------------------

ORDER = ["status", "policy", "usage", "final"]

# fmt: off
STREAMS = [
    # path, expect_sse, ok, reason
    pytest.param("/chat", {"order": ORDER, "within_first": {"policy": 3}}, True, "",
                 id="order-and-policy-early"),
    pytest.param("/chat", {"order": ORDER, "resume_after": 2}, True, "",
                 id="resume-with-last-event-id"),
    pytest.param("/chat", {"order": ["status", "usage", "policy"]}, False, "sse_mismatch",
                 id="wrong-order"),
    pytest.param("/chat", {"order": ["status", "error"]}, False, "sse_mismatch",
                 id="event-never-sent"),
    pytest.param("/chat", {"within_first": {"usage": 2}}, False, "sse_mismatch",
                 id="not-early-enough"),
    pytest.param("/stream-out-of-order", {"order": ORDER}, False, "sse_mismatch",
                 id="usage-after-final"),
    pytest.param("/stream-restarts", {"order": ORDER, "resume_after": 2}, False, "sse_resume",
                 id="resume-restarts-at-one"),
    pytest.param("/stream-no-ids", {"order": ORDER, "resume_after": 2}, False, "sse_resume",
                 id="nothing-to-resume-from"),
    pytest.param("/chat", {"order": ORDER, "resume_after": 9}, False, "sse_resume",
                 id="stream-ends-before-resume-point"),
    pytest.param("/ask", {"order": ORDER}, False, "not_sse", id="json-is-not-a-stream"),
]
# fmt: on


@pytest.mark.parametrize(("path", "expect_sse", "ok", "reason"), STREAMS)
def test_expect_sse(base_url: str, path: str, expect_sse: dict, ok: bool, reason: str) -> None:
    outcome = evaluate(base_url + path, expect_sse=expect_sse, timeout_sec=10)
    assert (outcome.ok, outcome.reason) == (ok, reason), outcome.details


def test_a_resumed_stream_is_judged_whole(base_url: str) -> None:
    outcome = evaluate(
        base_url + "/chat",
        expect_sse={"order": ORDER, "resume_after": 2},
        expect_headers={"X-Aetherra-Policy": {"as_json": {"mode": "redacted"}}},
    )
    assert outcome.ok, outcome.details
    details = outcome.details
    assert (details["resumed_from"], details["resumed_events"], details["events"]) == ("2", 3, 5)
    assert details["event_types"] == [event for event, _ in STREAM]


# -- one deadline for the whole gate --------------------------------------------------------


# fmt: off
DEADLINES = [
    # path, gate fields, deadline, most seconds the gate may take
    pytest.param("/trickle", {}, 1.0, 3.0, id="trickled-body"),
    pytest.param("/stream-endless", {"expect_sse": {"order": ["final"]}}, 1.0, 3.0,
                 id="endless-stream"),
    # without the cut at the deadline, the read started at 1.5 s would block until 3.5 s
    pytest.param("/stall", {}, 2.0, 2.9, id="read-blocked-at-the-deadline"),
]
# fmt: on


@pytest.mark.parametrize(("path", "fields", "deadline", "most"), DEADLINES)
def test_the_deadline_covers_the_whole_gate(
    base_url: str, path: str, fields: dict, deadline: float, most: float
) -> None:
    started = time.monotonic()
    outcome = evaluate(base_url + path, timeout_sec=deadline, **fields)
    elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.reason) == (False, "timeout"), outcome.details
    assert deadline <= elapsed < most  # each read was quick; the gate still ends at its deadline


# -- the parser -----------------------------------------------------------------------------


def test_parse_events_follows_the_standard() -> None:
    lines = [
        ": comment",
        "retry: 1000",
        "id: 7",
        "event: status",
        "data: a",
        "data:b",
        "",
        "event: no-data",
        "",
        "data: plain",
        "",
        "id: 9",
        "data: unfinished",
    ]
    events = list(parse_events(lines))
    assert [(e.id, e.event, e.data) for e in events] == [
        ("7", "status", "a\nb"),
        (None, "message", "plain"),
    ]
