"""Run an HTTP gate: status, headers, then a JSON body or an event stream, under one deadline.

``timeout_sec`` is the whole gate's deadline, not a per-read timeout: connecting, the headers,
the body (a server that trickles bytes) and, for streams, the resumed connection all count
against it; at the deadline the connection is shut down and the gate fails with ``timeout``.

Request headers may carry tokens, so their values never reach a gate's details; a URL's
password is masked the same way.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from blocks.gates import HttpGate
from tasks.gates.expectations import (
    MISSING,
    as_number,
    check_expectation,
    check_header,
    resolve_path,
)
from tasks.gates.models import CheckOutcome
from tasks.gates.sse import (
    SseEvent,
    judge_events,
    judge_resume,
    last_id,
    parse_events,
    shown_types,
)
from tasks.platform.urls import safe_url

BODY_EXCERPT_CHARS = 500
SSE_TYPE = "text/event-stream"


class Deadline:
    """One deadline for everything a gate does."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end


class _Failed(Exception):
    """A finished check: the gate fails with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def evaluate_http(gate: HttpGate, *, client: httpx.Client | None = None) -> CheckOutcome:
    """Request ``gate.url`` and judge status, headers, body or stream, and metric.

    Never raises for I/O: a server that cannot be reached, answers wrongly or too slowly fails
    the gate with a reason word and a sentence.
    """
    url = safe_url(gate.url)
    details: dict[str, Any] = {"url": url, "method": gate.method}
    if gate.headers:
        details["request_headers"] = sorted(gate.headers)  # names only, never values
    deadline = Deadline(gate.timeout_sec)
    started = time.perf_counter()
    try:
        with _client(client) as http:
            value = _check(gate, http, deadline, details, started)
    except _Failed as exc:
        details.setdefault("elapsed_ms", _elapsed_ms(started))
        details["message"] = exc.message
        return CheckOutcome(ok=False, reason=exc.reason, details=details)
    details.setdefault("elapsed_ms", _elapsed_ms(started))
    return CheckOutcome(ok=True, details=details, metric_value=value)


@contextlib.contextmanager
def _client(given: httpx.Client | None) -> Iterator[httpx.Client]:
    if given is not None:
        yield given
        return
    with httpx.Client() as own:
        yield own


def _check(
    gate: HttpGate,
    http: httpx.Client,
    deadline: Deadline,
    details: dict[str, Any],
    started: float,
) -> float | None:
    """Every check in order; the first failure raises ``_Failed`` with the gate's reason."""
    if gate.expect_sse is not None:
        _check_stream(gate, http, deadline, details)
        details["elapsed_ms"] = _elapsed_ms(started)
        return details["elapsed_ms"] if gate.metric is not None else None
    with _response(gate, http, deadline, gate.headers) as response:
        details["status_code"] = response.status_code
        content = _read_body(response, deadline, gate)
        text = content.decode(response.encoding or "utf-8", errors="replace")
        _judge_status(gate, response, text, details)
        _judge_headers(gate, response, details)
    details["elapsed_ms"] = _elapsed_ms(started)
    body = _json_body(content)
    if gate.expect_json:
        _judge_json(gate, body, text, details)
    value, problem = _metric_value(gate, text, body, details["elapsed_ms"])
    if problem:
        raise _Failed("metric_missing", problem)
    return value


@contextlib.contextmanager
def _response(
    gate: HttpGate, http: httpx.Client, deadline: Deadline, headers: dict[str, str]
) -> Iterator[httpx.Response]:
    """The streamed response; at the deadline its connection is shut down under the reader."""
    url = safe_url(gate.url)
    timeout = httpx.Timeout(max(deadline.left(), 0.001))
    try:
        with http.stream(gate.method, gate.url, headers=headers, timeout=timeout) as response:
            watchdog = _shut_down_at(deadline, response)
            try:
                yield response
            finally:
                if watchdog is not None:
                    watchdog.cancel()
    except _Failed:
        raise
    except httpx.TimeoutException as exc:
        raise _Failed("timeout", _late(url, deadline, exc)) from exc
    except httpx.ConnectError as exc:
        message = f"cannot connect to {url}: {exc} — is the service running?"
        raise _Failed("unreachable", message) from exc
    except httpx.HTTPError as exc:
        if deadline.passed:
            raise _Failed("timeout", _late(url, deadline, exc)) from exc
        raise _Failed("request_error", f"request to {url} failed: {_kind(exc)}: {exc}") from exc


def _shut_down_at(deadline: Deadline, response: httpx.Response) -> threading.Timer | None:
    """Shut the response's socket down at the deadline: a blocked read then returns at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket):
        return None  # not a plain socket (a test transport): reads keep their own timeout

    def shut() -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    timer = threading.Timer(deadline.left(), shut)
    timer.daemon = True
    timer.start()
    return timer


def _late(url: str, deadline: Deadline, exc: Exception) -> str:
    return f"{url}: not done within the gate's {deadline.seconds:g}s deadline ({_kind(exc)})"


def _read_body(response: httpx.Response, deadline: Deadline, gate: HttpGate) -> bytes:
    chunks = []
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        if deadline.passed:
            break
    if deadline.passed:  # a body cut by the deadline is not the body
        message = f"{safe_url(gate.url)}: body not received within {gate.timeout_sec:g}s"
        raise _Failed("timeout", message)
    return b"".join(chunks)


def _judge_status(
    gate: HttpGate, response: httpx.Response, text: str, details: dict[str, Any]
) -> None:
    if response.status_code in gate.expect_status:
        return
    expected = ", ".join(str(code) for code in gate.expect_status)
    if text:
        details["body_excerpt"] = text[:BODY_EXCERPT_CHARS]
    raise _Failed("status", f"status {response.status_code}, expected {expected}")


def _judge_headers(gate: HttpGate, response: httpx.Response, details: dict[str, Any]) -> None:
    if not gate.expect_headers:
        return
    details["checked_headers"] = sorted(gate.expect_headers)
    failed = [
        problem
        for name, expectation in gate.expect_headers.items()
        for problem in check_header(name, expectation, response.headers.get(name))
    ]
    if failed:
        details["failed_expectations"] = failed
        raise _Failed("header_mismatch", "; ".join(failed))


def _check_stream(
    gate: HttpGate, http: httpx.Client, deadline: Deadline, details: dict[str, Any]
) -> None:
    """Read the event stream (and resume it when asked), then judge all of its events."""
    spec = gate.expect_sse
    assert spec is not None
    limit = spec.resume_after or spec.max_events
    with _response(gate, http, deadline, gate.headers) as response:
        details["status_code"] = response.status_code
        _judge_status(gate, response, "", details)
        _judge_headers(gate, response, details)
        stop = None if spec.resume_after else spec.stop_at
        events = _read_events(gate, response, deadline, limit, stop)
    details.update(events=len(events), event_types=shown_types(events))
    if spec.resume_after:
        events = [*events, *_resume(gate, http, deadline, events, details)]
        details.update(events=len(events), event_types=shown_types(events))
    problems = judge_events(spec, events)
    if problems:
        details["failed_expectations"] = problems
        raise _Failed("sse_mismatch", "; ".join(problems))


def _resume(
    gate: HttpGate,
    http: httpx.Client,
    deadline: Deadline,
    first: list[SseEvent],
    details: dict[str, Any],
) -> list[SseEvent]:
    """Reconnect with ``Last-Event-ID``: the stream must continue at the next id."""
    spec = gate.expect_sse
    assert spec is not None and spec.resume_after is not None
    if len(first) < spec.resume_after:
        raise _Failed(
            "sse_resume",
            f"the stream ended after {len(first)} event(s), before resume_after "
            f"{spec.resume_after}",
        )
    resumed_from = last_id(first)
    if resumed_from is None:
        message = f"no event id in the first {len(first)} event(s): nothing to resume from"
        raise _Failed("sse_resume", message)
    headers = {**gate.headers, "Last-Event-ID": resumed_from}
    with _response(gate, http, deadline, headers) as response:
        _judge_status(gate, response, "", details)
        resumed = _read_events(gate, response, deadline, spec.max_events, spec.stop_at)
    details.update(resumed_from=resumed_from, resumed_events=len(resumed))
    problems = judge_resume(resumed_from, resumed)
    if problems:
        raise _Failed("sse_resume", "; ".join(problems))
    return resumed


def _read_events(
    gate: HttpGate, response: httpx.Response, deadline: Deadline, limit: int, stop: str | None
) -> list[SseEvent]:
    """Events until ``stop``, ``limit`` events or the end of the stream, within the deadline."""
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(SSE_TYPE):
        raise _Failed("not_sse", f"content-type {content_type!r}, expected {SSE_TYPE}")
    events: list[SseEvent] = []
    complete = False
    try:
        for event in parse_events(response.iter_lines()):
            events.append(event)
            complete = len(events) >= limit or event.event == stop
            if complete or deadline.passed:
                break
    except httpx.HTTPError:
        if not deadline.passed:
            raise
    if deadline.passed and not complete:  # the stream may look ended: the deadline cut it
        message = f"{safe_url(gate.url)}: stream not done within {gate.timeout_sec:g}s"
        raise _Failed("timeout", f"{message} ({len(events)} event(s) read)")
    return events


def _judge_json(gate: HttpGate, body: Any, text: str, details: dict[str, Any]) -> None:
    if body is MISSING:
        details["body_excerpt"] = text[:BODY_EXCERPT_CHARS]
        raise _Failed("not_json", "response body is not JSON but the gate has JSON expectations")
    failed = [
        problem
        for path, expectation in gate.expect_json.items()
        for problem in check_expectation(path, expectation, body)
    ]
    if failed:
        details["failed_expectations"] = failed
        raise _Failed("json_mismatch", "; ".join(failed))


def _metric_value(
    gate: HttpGate, text: str, body: Any, elapsed_ms: float
) -> tuple[float | None, str]:
    """The gate's metric: a JSON path, a regex on the body, or else the response time."""
    spec = gate.metric
    if spec is None:
        return None, ""
    if spec.json_path:
        found = resolve_path(body, spec.json_path) if body is not MISSING else MISSING
        number = as_number(found)
        if number is None:
            shown = "missing" if found is MISSING else repr(found)
            return None, f"metric {spec.name!r}: {spec.json_path} is {shown}, not a number"
        return number, ""
    if spec.regex:
        match = re.search(spec.regex, text)
        number = as_number(match.group("value")) if match else None
        if number is None:
            return None, f"metric {spec.name!r}: regex {spec.regex!r} found no numeric value"
        return number, ""
    return elapsed_ms, ""


def _json_body(content: bytes) -> Any:
    if not content:
        return MISSING
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return MISSING


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _kind(exc: Exception) -> str:
    return type(exc).__name__
