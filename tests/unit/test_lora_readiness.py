"""Readiness against loopback servers: an ops board and a fake Prometheus API on 127.0.0.1.

Every threshold gives its own reason; every way a source can fail (garbage, wrong shape,
timeout, closed port, a Prometheus error) is ready=False with the URL named, never a pass.
"""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from blocks.errors import ConfigError, ExitCode
from blocks.lora import ReadinessPolicy
from tasks.lora.ops_board import OpsBoardSource
from tasks.lora.prometheus import ALERTS_QUERY, PrometheusSource, stable_seconds
from tasks.lora.readiness import Observation, Readiness, ReadinessUnavailable, check_readiness
from tasks.platform.urls import safe_url
from tests.loopback import QuietHandler, closed_port_url, host_port, loopback_server

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


@dataclass
class FakePrometheus:
    """One scenario of the fake API; slices are counted in steps back from the query's end."""

    targets: int | None = 25  # None: count(up == 1) of no series is an empty vector
    alerts: int = 0
    uptime_h: float = 100.0
    firing: set[int] = field(default_factory=set)
    unobserved: set[int] = field(default_factory=set)
    now: float = NOW.timestamp()


class Handler(QuietHandler):
    """``/board/<name>`` answers from ``BOARDS``; ``/prom/<name>/api/...`` from ``PROMS``."""

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/", 2)
        if parts[0] == "board":
            status, body, delay = BOARDS[parts[1]]
            time.sleep(delay)
            self.send_body(status, body if isinstance(body, bytes) else json.dumps(body).encode())
        else:
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, body = prometheus_answer(parts[1], "/" + parts[2], params)
            self.send_body(status, body if isinstance(body, bytes) else json.dumps(body).encode())


def ok(data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"status": "success", "data": data}


def vector(now: float, count: int | None) -> dict[str, Any]:
    result = [] if not count else [{"metric": {}, "value": [now, str(count)]}]
    return {"resultType": "vector", "result": result}


def prometheus_answer(name: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
    scenario = PROMS[name]
    if not isinstance(scenario, FakePrometheus):
        return scenario  # a canned (status, body) for every request
    query = params.get("query", "")
    if path == "/api/v1/status/runtimeinfo":
        started = datetime.fromtimestamp(scenario.now - scenario.uptime_h * HOUR, UTC)
        return ok({"startTime": started.isoformat().replace("+00:00", "Z")})
    if path == "/api/v1/query_range":
        start, end, step = (float(params[k]) for k in ("start", "end", "step"))
        values = []
        for i in range(int((end - start) / step + 1e-6) + 1):
            k = round((end - (start + i * step)) / step)
            hit = k in scenario.firing if "ALERTS" in query else k not in scenario.unobserved
            if hit:
                values.append([start + i * step, "1"])
        return ok({"resultType": "matrix", "result": [{"metric": {}, "values": values}]})
    if query == "time()":
        return ok({"resultType": "scalar", "result": [scenario.now, str(scenario.now)]})
    if query == ALERTS_QUERY:
        return ok(vector(scenario.now, scenario.alerts))
    if query == "count(up == 1)":
        return ok(vector(scenario.now, scenario.targets))
    if query == "uptime":
        return ok(vector(scenario.now, int(scenario.uptime_h * HOUR)))
    return 400, {"status": "error", "errorType": "bad_data", "error": f"unknown query {query!r}"}


BOARDS: dict[str, tuple[int, Any, float]] = {}
PROMS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with loopback_server(Handler) as server:
        yield f"http://{host_port(server)}"


def board(base_url: str, name: str, body: Any, status: int = 200, delay: float = 0.0) -> str:
    BOARDS[name] = (status, body, delay)
    return f"{base_url}/board/{name}"


def ops(base_url: str, name: str, body: Any, **kwargs: Any) -> OpsBoardSource:
    return OpsBoardSource(board(base_url, name, body, **kwargs), timeout=2, clock=lambda: NOW)


def prom(base_url: str, name: str, scenario: Any, **kwargs: Any) -> PrometheusSource:
    PROMS[name] = scenario
    return PrometheusSource(f"{base_url}/prom/{name}", timeout=2, **kwargs)


def ago(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


GOOD = {"targets_up": 24, "alerts": 0, "soak_hours": 80}

# fmt: off
BOARD_CASES = [
    # name, body, (targets_up, alerts, soak_hours), reasons expected (fragments), one per reason
    pytest.param({**GOOD}, (24, 0, 80), [], id="ready"),
    pytest.param({**GOOD, "targets_up": 19}, (19, 0, 80),
                 ["19 targets up, at least 20 required"], id="few-targets"),
    pytest.param({**GOOD, "alerts": 2}, (24, 2, 80),
                 ["2 active alerts, at most 0 allowed"], id="alert-count"),
    pytest.param({**GOOD, "alerts": [{"name": "disk"}]}, (24, 1, 80),
                 ["1 active alerts"], id="alert-list"),
    pytest.param({**GOOD, "alerts": []}, (24, 0, 80), [], id="empty-alert-list"),
    pytest.param({**GOOD, "soak_hours": 71.5}, (24, 0, 71.5),
                 ["stable for 71.50 h, 72 h soak required"], id="short-soak"),
    pytest.param({"targets_up": 24, "alerts": 0, "last_alert_at": ago(10)}, (24, 0, 10),
                 ["stable for 10.00 h"], id="last-alert-at"),
    pytest.param({"targets_up": 24, "alerts": 0, "stable_since": ago(96)}, (24, 0, 96),
                 [], id="stable-since"),
    pytest.param({**GOOD, "last_alert_at": ago(5), "stable_since": ago(96)}, (24, 0, 5),
                 ["stable for 5.00 h"], id="smallest-soak-wins"),
    pytest.param({"targets_up": 24, "alerts": 0, "last_alert_at": None}, (24, 0, None),
                 ["soak time unknown"], id="no-soak"),
    pytest.param({"targets_up": 3.0, "alerts": 1, "soak_hours": 1}, (3, 1, 1),
                 ["3 targets up", "1 active alerts", "stable for 1.00 h"], id="all-three"),
]
# fmt: on


@pytest.mark.parametrize(("body", "seen", "fragments"), BOARD_CASES)
def test_ops_board_thresholds(
    base_url: str, body: dict, seen: tuple, fragments: list[str], request
) -> None:
    readiness = check_readiness(ops(base_url, request.node.callspec.id, body))
    assert readiness.observation is not None
    observation = readiness.observation
    assert (observation.targets_up, observation.alerts) == seen[:2]
    assert observation.soak_hours == (pytest.approx(seen[2]) if seen[2] is not None else None)
    assert readiness.ready is (not fragments)
    assert len(readiness.reasons) == len(fragments)
    for reason, fragment in zip(readiness.reasons, fragments, strict=True):
        assert reason.startswith(f"ops board {base_url}/board/")
        assert fragment in reason


def test_the_policy_is_configurable(base_url: str) -> None:
    source = ops(base_url, "small", {"targets_up": 2, "alerts": 1})
    policy = ReadinessPolicy(min_targets_up=2, max_alerts=1, min_soak_hours=0)
    assert check_readiness(source, policy) == Readiness(
        ready=True, reasons=[], observation=source.observe()
    )
    assert not check_readiness(source).ready  # the seed's defaults: 20, 0, 72 h


@pytest.mark.parametrize("fields", [{"min_targets_up": -1}, {"min_soak_hours": -0.5}])
def test_a_negative_threshold_is_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        ReadinessPolicy(**fields)


# fmt: off
BROKEN_BOARDS = [
    # body, HTTP status, fragment of the one reason
    pytest.param(b"<html>maintenance</html>", 200, "body that is not JSON: '<html>maint",
                 id="garbage"),
    pytest.param(b"", 200, "body that is not JSON", id="empty-body"),
    pytest.param([GOOD], 200, "the JSON is list, expected an object", id="list"),
    pytest.param({"alerts": 0}, 200, "field 'targets_up' is missing", id="no-targets"),
    pytest.param({"targets_up": 20}, 200, "field 'alerts' is missing", id="no-alerts"),
    pytest.param({**GOOD, "targets_up": "20"}, 200, "'targets_up' must be a whole number >= 0, "
                 "got '20'", id="targets-string"),
    pytest.param({**GOOD, "targets_up": True}, 200, "'targets_up' must be", id="targets-bool"),
    pytest.param({**GOOD, "targets_up": 20.5}, 200, "'targets_up' must be", id="targets-half"),
    pytest.param({**GOOD, "alerts": -1}, 200, "'alerts' must be", id="alerts-negative"),
    pytest.param({**GOOD, "alerts": {"n": 1}}, 200, "'alerts' must be", id="alerts-object"),
    pytest.param({**GOOD, "soak_hours": -1}, 200, "'soak_hours' must be a number >= 0",
                 id="soak-negative"),
    pytest.param({**GOOD, "soak_hours": "80"}, 200, "'soak_hours' must be", id="soak-string"),
    pytest.param({**GOOD, "last_alert_at": "yesterday"}, 200,
                 "'last_alert_at' must be an ISO 8601 time with a zone", id="bad-time"),
    pytest.param({**GOOD, "stable_since": "2025-02-01T00:00:00"}, 200,
                 "'stable_since' must be an ISO 8601 time with a zone", id="naive-time"),
    pytest.param({**GOOD, "last_alert_at": "2025-03-02T00:00:00Z"}, 200,
                 "is in the future", id="future-time"),
    pytest.param({**GOOD}, 503, "answered HTTP 503", id="http-503"),
]
# fmt: on


@pytest.mark.parametrize(("body", "status", "fragment"), BROKEN_BOARDS)
def test_a_board_that_makes_no_sense_is_not_ready(
    base_url: str, body: Any, status: int, fragment: str, request
) -> None:
    name = "broken-" + request.node.callspec.id
    readiness = check_readiness(ops(base_url, name, body, status=status))
    assert readiness == Readiness(ready=False, reasons=readiness.reasons, observation=None)
    [reason] = readiness.reasons
    assert reason.startswith(f"ops board {base_url}/board/{name}")
    assert fragment in reason


def test_a_board_that_does_not_answer_in_time_is_not_ready(base_url: str) -> None:
    url = board(base_url, "slow", GOOD, delay=1.0)
    started = time.monotonic()
    readiness = check_readiness(OpsBoardSource(url, timeout=0.2))
    assert time.monotonic() - started < 0.9
    assert not readiness.ready
    assert readiness.reasons == [f"ops board {url}: no answer from {url} within 0.2s (ReadTimeout)"]


def test_a_closed_port_is_not_ready() -> None:
    url = closed_port_url()
    for source in (OpsBoardSource(url), PrometheusSource(url)):
        readiness = check_readiness(source)
        assert not readiness.ready
        [reason] = readiness.reasons
        assert f"cannot connect to {url}" in reason
        assert reason.endswith("is it running?")


def test_a_crashing_source_is_not_ready_and_says_so() -> None:
    class Broken:
        def observe(self) -> Observation:
            raise KeyError("targets")

        def __repr__(self) -> str:
            return "Broken()"

    assert check_readiness(Broken()).reasons == [
        "Broken() could not be observed: KeyError: 'targets'"
    ]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: OpsBoardSource("ops-board:8080/health"), id="ops-no-scheme"),
        pytest.param(lambda: OpsBoardSource("http://b/health", timeout=0), id="ops-zero-timeout"),
        pytest.param(lambda: PrometheusSource("ftp://prom"), id="prom-ftp"),
        pytest.param(lambda: PrometheusSource("http://p", timeout=True), id="prom-bool-timeout"),
        pytest.param(lambda: PrometheusSource("http://p", up_query=" "), id="prom-empty-up-query"),
        pytest.param(lambda: PrometheusSource("http://p", step_seconds=0), id="prom-zero-step"),
    ],
)
def test_bad_source_settings_are_refused(make) -> None:
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_a_password_in_the_url_is_never_shown() -> None:
    assert safe_url("http://ops:hunter2@board:8080/health") == "http://ops:***@board:8080/health"
    source = OpsBoardSource("http://ops:hunter2@127.0.0.1:9/health", timeout=0.5)
    assert "hunter2" not in repr(source)
    assert all("hunter2" not in reason for reason in check_readiness(source).reasons)


# fmt: off
PROMETHEUS_CASES = [
    # scenario, (targets_up, alerts, soak hours, soak_limited_by), reasons (fragments)
    pytest.param(FakePrometheus(), (25, 0, 72, "window"), [], id="ready"),
    pytest.param(FakePrometheus(targets=None), (0, 0, 72, "window"),
                 ["0 targets up, at least 20 required"], id="empty-vector-is-zero"),
    pytest.param(FakePrometheus(targets=7), (7, 0, 72, "window"),
                 ["7 targets up"], id="few-targets"),
    pytest.param(FakePrometheus(alerts=2, firing={0}), (25, 2, 0, "an alert is firing"),
                 ["2 active alerts, at most 0 allowed", "stable for 0.00 h"], id="firing-now"),
    pytest.param(FakePrometheus(firing={3, 40}), (25, 0, 0.25, "an alert fired"),
                 ["stable for 0.25 h"], id="resolved-alert"),
    pytest.param(FakePrometheus(unobserved={120}), (25, 0, 10, "no data"),
                 ["stable for 10.00 h"], id="gap-in-data"),
    pytest.param(FakePrometheus(uptime_h=30), (25, 0, 30, "uptime"),
                 ["stable for 30.00 h"], id="young-server"),
    pytest.param(FakePrometheus(firing={864}), (25, 0, 72, "an alert fired"),
                 [], id="alert-before-window"),
]
# fmt: on


@pytest.mark.parametrize(("scenario", "seen", "fragments"), PROMETHEUS_CASES)
def test_prometheus_thresholds(
    base_url: str, scenario: FakePrometheus, seen: tuple, fragments: list[str], request
) -> None:
    name = request.node.callspec.id
    readiness = check_readiness(prom(base_url, name, scenario))
    observation = readiness.observation
    assert observation is not None, readiness.reasons
    assert (observation.targets_up, observation.alerts) == seen[:2]
    assert observation.soak_hours == pytest.approx(seen[2])
    assert observation.detail["soak_limited_by"] == seen[3]
    assert observation.detail["now"] == "2025-03-01T12:00:00Z"
    assert readiness.ready is (not fragments)
    assert len(readiness.reasons) == len(fragments)
    for reason, fragment in zip(readiness.reasons, fragments, strict=True):
        assert reason.startswith(f"prometheus {base_url}/prom/{name}: ")
        assert fragment in reason


def test_an_uptime_query_replaces_runtime_info(base_url: str) -> None:
    PROMS["uptime-query"] = FakePrometheus(uptime_h=5)
    source = PrometheusSource(f"{base_url}/prom/uptime-query", timeout=2, uptime_query="uptime")
    assert source.observe().soak_hours == pytest.approx(5)
    missing = PrometheusSource(f"{base_url}/prom/uptime-query", uptime_query="nothing_here")
    assert "refused 'nothing_here'" in check_readiness(missing).reasons[0]


def test_a_custom_up_query_is_used(base_url: str) -> None:
    source = prom(base_url, "custom-up", FakePrometheus(), up_query="unknown_metric")
    [reason] = check_readiness(source).reasons
    assert reason == (
        f"prometheus {base_url}/prom/custom-up refused 'unknown_metric' (HTTP 400): "
        "bad_data: unknown query 'unknown_metric'"
    )


def _error(kind: str, text: str) -> tuple[int, dict]:
    return 422, {"status": "error", "errorType": kind, "error": text}


# fmt: off
BROKEN_PROMETHEUS = [
    pytest.param(_error("execution", "query timed out"),
                 "refused 'time()' (HTTP 422): execution: query timed out", id="status-error"),
    pytest.param((200, b"<html>login</html>"),
                 "answered HTTP 200 with a body that is not JSON: '<html>login", id="garbage"),
    pytest.param((502, b"bad gateway"), "answered HTTP 502 with a body that is not JSON",
                 id="proxy-error"),
    pytest.param((200, {"targets_up": 20}), "unexpected answer to 'time()': HTTP 200 body",
                 id="not-the-api"),
    pytest.param((200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
                 "unexpected answer to 'time()': matrix result []", id="wrong-result-type"),
    pytest.param((200, {"status": "success", "data": {"resultType": "scalar",
                                                      "result": [1, "NaN"]}}),
                 "unexpected answer to 'time()'", id="nan"),
    pytest.param((200, {"status": "success", "data": None}),
                 "unexpected answer to 'time()': data None", id="no-data"),
]
# fmt: on


@pytest.mark.parametrize(("answer", "fragment"), BROKEN_PROMETHEUS)
def test_a_prometheus_that_fails_is_not_ready(
    base_url: str, answer: tuple, fragment: str, request
) -> None:
    name = "broken-" + request.node.callspec.id
    readiness = check_readiness(prom(base_url, name, answer))
    assert readiness.observation is None
    [reason] = readiness.reasons
    assert reason.startswith(f"prometheus {base_url}/prom/{name}")
    assert fragment in reason


def test_a_prometheus_that_does_not_answer_in_time_is_not_ready() -> None:
    listener = socket.socket()  # accepts connections (backlog) but never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        started = time.monotonic()
        readiness = check_readiness(PrometheusSource(url, timeout=0.2))
        assert time.monotonic() - started < 0.9
    finally:
        listener.close()
    [reason] = readiness.reasons
    assert reason == (
        f"prometheus {url}: no answer from {url}/api/v1/query to 'time()' within 0.2s (ReadTimeout)"
    )


# fmt: off
SLICES = [
    # firing, observed, soak seconds, why  (window 3600 s, step 600 s: slices 0..6)
    pytest.param(set(), set(range(7)), 3600, "window", id="clean"),
    pytest.param({0}, set(range(7)), 0, "an alert fired", id="newest-slice"),
    pytest.param({2}, set(range(7)), 1200, "an alert fired", id="two-slices-back"),
    pytest.param(set(), {0, 1, 2, 4, 5, 6}, 1800, "no data", id="gap"),
    pytest.param({5}, {0, 1, 2}, 1800, "no data", id="gap-before-alert"),
    pytest.param({6}, set(range(7)), 3600, "an alert fired", id="alert-at-window-edge"),
    pytest.param(set(), set(), 0, "no data", id="nothing-scraped"),
]
# fmt: on


@pytest.mark.parametrize(("firing", "observed", "seconds", "why"), SLICES)
def test_stable_seconds(firing: set, observed: set, seconds: float, why: str) -> None:
    assert stable_seconds(window_s=3600, step_s=600, firing=firing, observed=observed) == (
        seconds,
        why,
    )


def test_a_long_window_keeps_the_range_query_under_prometheus_point_limit() -> None:
    source = PrometheusSource("http://127.0.0.1:9", soak_window_hours=24 * 90, step_seconds=60)
    assert math.ceil(source.window_s / source.step_s) <= 10_000
    assert source.step_s == 778  # whole seconds, since "[<step>s]" is written into the query


def test_source_errors_are_typed_backend_errors() -> None:
    error = ReadinessUnavailable("prometheus http://p: down")
    assert error.retryable and error.code == 4 and "gauntlet stays off" in error.remediation
