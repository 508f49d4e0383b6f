"""HTTP gates against a real server on 127.0.0.1: status, JSON expectations, metrics, failures."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from blocks.gates import HttpGate, JsonExpectation
from tasks.gates.http_check import MISSING, check_expectation, evaluate_http, resolve_path
from tests.loopback import QuietHandler, free_port, host_port, loopback_server

HEALTH = {
    "status": "ok",
    "version": "1.4.2",
    "latency_ms": 42.5,
    "queue": {"depth": 3, "dlq": 0},
    "items": [{"name": "engine", "up": True}, {"name": "memory", "up": False}],
}


class Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/slow":
            time.sleep(1.5)
        if self.path == "/text":
            self.send_body(200, b"plain text, not json", "text/plain")
        elif self.path == "/missing":
            self.send_json(404, {"error": "not here"})
        else:
            self.send_json(200, HEALTH)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}"


def gate(url: str, **fields) -> HttpGate:
    return HttpGate(kind="http", name="health", url=url, **fields)


# fmt: off
REQUESTS = [
    # path, gate fields, ok, reason
    pytest.param("/health", {}, True, "", id="status-only"),
    pytest.param("/health", {"expect_json": {"status": "ok", "queue.dlq": {"max": 0}}},
                 True, "", id="json-pass"),
    pytest.param("/health", {"expect_json": {"items.0.name": "engine", "items.1.up": False}},
                 True, "", id="list-index"),
    pytest.param("/health", {"expect_json": {"$": {"exists": True}, "no": {"exists": False}}},
                 True, "", id="exists"),
    pytest.param("/health", {"expect_json": {"version": {"matches": r"^1\.\d+"}}},
                 True, "", id="matches"),
    pytest.param("/health", {"expect_json": {"status": "degraded"}},
                 False, "json_mismatch", id="equals-fails"),
    pytest.param("/health", {"expect_json": {"queue.depth": {"max": 2}}},
                 False, "json_mismatch", id="max-fails"),
    pytest.param("/health", {"expect_json": {"items.5.name": "x"}},
                 False, "json_mismatch", id="index-out-of-range"),
    pytest.param("/missing", {}, False, "status", id="status-fails"),
    pytest.param("/missing", {"expect_status": [404]}, True, "", id="expected-404"),
    pytest.param("/text", {"expect_json": {"status": "ok"}}, False, "not_json", id="not-json"),
    pytest.param("/text", {}, True, "", id="text-without-expectations"),
]
# fmt: on


@pytest.mark.parametrize(("path", "fields", "ok", "reason"), REQUESTS)
def test_evaluate_http(base_url: str, path: str, fields: dict, ok: bool, reason: str) -> None:
    outcome = evaluate_http(gate(base_url + path, **fields))
    assert (outcome.ok, outcome.reason) == (ok, reason), outcome.details
    assert outcome.details["elapsed_ms"] >= 0
    assert "status_code" in outcome.details


def test_failed_expectations_are_readable(base_url: str) -> None:
    outcome = evaluate_http(
        gate(base_url + "/health", expect_json={"status": "degraded", "queue.depth": {"min": 5}})
    )
    assert outcome.details["failed_expectations"] == [
        "status: expected 'degraded', got 'ok'",
        "queue.depth: expected >= 5, got 3",
    ]


@pytest.mark.parametrize(
    ("metric", "ok", "value"),
    [
        ({"name": "latency", "json_path": "latency_ms"}, True, 42.5),
        ({"name": "depth", "json_path": "queue.depth"}, True, 3.0),
        ({"name": "version", "json_path": "status"}, False, None),
        ({"name": "gone", "json_path": "no.such.path"}, False, None),
    ],
    ids=["float", "nested-int", "not-a-number", "missing"],
)
def test_metric_from_json_path(base_url: str, metric: dict, ok: bool, value: float | None) -> None:
    outcome = evaluate_http(gate(base_url + "/health", metric=metric))
    assert (outcome.ok, outcome.metric_value) == (ok, value)
    if not ok:
        assert outcome.reason == "metric_missing"


def test_metric_without_path_or_regex_is_elapsed_ms(base_url: str) -> None:
    outcome = evaluate_http(gate(base_url + "/health", metric={"name": "response_ms"}))
    assert outcome.ok
    assert outcome.metric_value == outcome.details["elapsed_ms"]


def test_closed_port_is_unreachable_with_a_clear_message() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/health"
    outcome = evaluate_http(gate(url, timeout_sec=2))
    assert (outcome.ok, outcome.reason) == (False, "unreachable")
    assert outcome.details["url"] == url
    assert url in outcome.details["message"]
    assert "is the service running?" in outcome.details["message"]


def test_slow_server_times_out(base_url: str) -> None:
    started = time.monotonic()
    outcome = evaluate_http(gate(base_url + "/slow", timeout_sec=0.3))
    assert time.monotonic() - started < 1.4
    assert (outcome.ok, outcome.reason) == (False, "timeout")


def test_header_values_and_url_passwords_never_reach_details(base_url: str) -> None:
    secret = "s3cr3t-token"
    url = base_url.replace("http://", f"http://user:{secret}@") + "/health"
    outcome = evaluate_http(gate(url, headers={"Authorization": f"Bearer {secret}"}))
    assert outcome.ok
    assert secret not in json.dumps(outcome.details)
    assert outcome.details["request_headers"] == ["Authorization"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", HEALTH),
        ("status", "ok"),
        ("$.queue.depth", 3),
        ("items.1.name", "memory"),
        ("items.-1.name", "memory"),
        ("items.2", MISSING),
        ("items.name", MISSING),
        ("status.deeper", MISSING),
    ],
)
def test_resolve_path(path: str, expected: object) -> None:
    assert resolve_path(HEALTH, path) == expected


@pytest.mark.parametrize(
    ("expectation", "value_path", "problems"),
    [
        ({"not_equals": "ok"}, "status", ["status: must not be 'ok'"]),
        ({"min": 1}, "status", ["status: expected a number, got 'ok'"]),
        ({"matches": "^2"}, "version", ["version: '1.4.2' does not match '^2'"]),
        ({"exists": False}, "status", ["status: expected to be absent, got 'ok'"]),
        ({"equals": None}, "missing", ["missing: missing"]),
        ({"min": 0, "max": 10}, "queue.depth", []),
    ],
)
def test_check_expectation(expectation: dict, value_path: str, problems: list[str]) -> None:
    assert check_expectation(value_path, JsonExpectation(**expectation), HEALTH) == problems
