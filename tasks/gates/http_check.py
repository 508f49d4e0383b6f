"""Run an HTTP gate: one request with client-side timeouts, then status and JSON expectations.

Request headers may carry tokens, so their values never reach a gate's details; a URL's
password is masked the same way.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import httpx

from blocks.gates import HttpGate, JsonExpectation
from tasks.gates.models import Outcome
from tasks.platform.urls import safe_url

BODY_EXCERPT_CHARS = 500
MISSING: Any = object()  # what resolve_path returns for a path that is not there


def evaluate_http(gate: HttpGate, *, client: httpx.Client | None = None) -> Outcome:
    """Request ``gate.url`` and judge status, JSON body and metric; never raises for I/O."""
    url = safe_url(gate.url)
    details: dict[str, Any] = {"url": url, "method": gate.method}
    if gate.headers:
        details["request_headers"] = sorted(gate.headers)  # names only, never values
    timeout = httpx.Timeout(gate.timeout_sec)  # connect, read, write and pool alike
    started = time.perf_counter()
    try:
        response = _send(gate, timeout, client)
    except httpx.TimeoutException as exc:
        details["elapsed_ms"] = _elapsed_ms(started)
        details["message"] = f"{url}: no answer within {gate.timeout_sec:g}s ({_kind(exc)})"
        return Outcome(ok=False, reason="timeout", details=details)
    except httpx.ConnectError as exc:
        details["elapsed_ms"] = _elapsed_ms(started)
        details["message"] = f"cannot connect to {url}: {exc} — is the service running?"
        return Outcome(ok=False, reason="unreachable", details=details)
    except httpx.HTTPError as exc:
        details["elapsed_ms"] = _elapsed_ms(started)
        details["message"] = f"request to {url} failed: {_kind(exc)}: {exc}"
        return Outcome(ok=False, reason="request_error", details=details)
    elapsed_ms = _elapsed_ms(started)
    details.update(status_code=response.status_code, elapsed_ms=elapsed_ms)
    return _judge_response(gate, response, details, elapsed_ms)


def _send(gate: HttpGate, timeout: httpx.Timeout, client: httpx.Client | None) -> httpx.Response:
    if client is not None:
        return client.request(gate.method, gate.url, headers=gate.headers, timeout=timeout)
    with httpx.Client(timeout=timeout) as own:
        return own.request(gate.method, gate.url, headers=gate.headers)


def _judge_response(
    gate: HttpGate, response: httpx.Response, details: dict[str, Any], elapsed_ms: float
) -> Outcome:
    """Status first, then JSON expectations, then the metric; the first failure gives the reason."""
    if response.status_code not in gate.expect_status:
        expected = ", ".join(str(code) for code in gate.expect_status)
        details["message"] = f"status {response.status_code}, expected {expected}"
        details["body_excerpt"] = response.text[:BODY_EXCERPT_CHARS]
        return Outcome(ok=False, reason="status", details=details)
    body = _json_body(response)
    if gate.expect_json:
        if body is MISSING:
            details["message"] = "response body is not JSON but the gate has JSON expectations"
            details["body_excerpt"] = response.text[:BODY_EXCERPT_CHARS]
            return Outcome(ok=False, reason="not_json", details=details)
        failed = [
            problem
            for path, expectation in gate.expect_json.items()
            for problem in check_expectation(path, expectation, body)
        ]
        if failed:
            details["failed_expectations"] = failed
            details["message"] = "; ".join(failed)
            return Outcome(ok=False, reason="json_mismatch", details=details)
    value, problem = _metric_value(gate, response, body, elapsed_ms)
    if problem:
        details["message"] = problem
        return Outcome(ok=False, reason="metric_missing", details=details)
    return Outcome(ok=True, details=details, metric_value=value)


def _metric_value(
    gate: HttpGate, response: httpx.Response, body: Any, elapsed_ms: float
) -> tuple[float | None, str]:
    """The gate's metric: a JSON path, a regex on the body, or else the response time."""
    spec = gate.metric
    if spec is None:
        return None, ""
    if spec.json_path:
        found = resolve_path(body, spec.json_path) if body is not MISSING else MISSING
        number = _as_number(found)
        if number is None:
            shown = "missing" if found is MISSING else repr(found)
            return None, f"metric {spec.name!r}: {spec.json_path} is {shown}, not a number"
        return number, ""
    if spec.regex:
        match = re.search(spec.regex, response.text)
        number = _as_number(match.group("value")) if match else None
        if number is None:
            return None, f"metric {spec.name!r}: regex {spec.regex!r} found no numeric value"
        return number, ""
    return elapsed_ms, ""


def check_expectation(path: str, expectation: JsonExpectation, body: Any) -> list[str]:
    """Readable failures of one expectation, e.g. "status: expected 'ok', got 'degraded'"."""
    value = resolve_path(body, path)
    if value is MISSING:
        if expectation.exists is False:
            return []
        return [f"{path}: missing"]
    if expectation.exists is False:
        return [f"{path}: expected to be absent, got {value!r}"]
    given = expectation.model_fields_set
    problems = []
    if "equals" in given and value != expectation.equals:
        problems.append(f"{path}: expected {expectation.equals!r}, got {value!r}")
    if "not_equals" in given and value == expectation.not_equals:
        problems.append(f"{path}: must not be {value!r}")
    problems.extend(_bounds(path, expectation, value))
    if expectation.matches is not None and not re.search(expectation.matches, str(value)):
        problems.append(f"{path}: {value!r} does not match {expectation.matches!r}")
    return problems


def _bounds(path: str, expectation: JsonExpectation, value: Any) -> list[str]:
    if expectation.min is None and expectation.max is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: expected a number, got {value!r}"]
    number = float(value)
    if expectation.min is not None and number < expectation.min:
        return [f"{path}: expected >= {expectation.min:g}, got {value!r}"]
    if expectation.max is not None and number > expectation.max:
        return [f"{path}: expected <= {expectation.max:g}, got {value!r}"]
    return []


def resolve_path(body: Any, path: str) -> Any:
    """Follow a dotted path ("items.0.name"; "$" is the whole body); MISSING if absent."""
    path = path.strip()
    if path == "$":
        return body
    path = path.removeprefix("$.")
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            if not -len(node) <= index < len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def _json_body(response: httpx.Response) -> Any:
    if not response.content:
        return MISSING
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return MISSING


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _kind(exc: Exception) -> str:
    return type(exc).__name__
