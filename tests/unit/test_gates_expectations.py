"""Expectations on an HTTP answer's JSON body and headers, decided without a server.

Each failure is one readable line that starts with what it is about (the path, or
``header <name>``); the tables count the failures and check that prefix, not their wording.
"""

from __future__ import annotations

import math

import pytest

from blocks.gates import HeaderExpectation, JsonExpectation
from tasks.gates.expectations import (
    MISSING,
    as_number,
    check_expectation,
    check_header,
    resolve_path,
)

BODY = {"status": "ok", "latency": {"p95": 120.5}, "ready": True, "nodes": [{"id": "a"}]}

# fmt: off
EXPECTATIONS = [
    # path, expectation, failures
    pytest.param("status", {"equals": "ok"}, 0, id="equals"),
    pytest.param("status", {"equals": "degraded"}, 1, id="not-equal"),
    pytest.param("status", {"not_equals": "down"}, 0, id="not-equals"),
    pytest.param("latency.p95", {"min": 100, "max": 200}, 0, id="within-bounds"),
    pytest.param("latency.p95", {"max": 100}, 1, id="above-max"),
    pytest.param("latency.p95", {"min": 150}, 1, id="below-min"),
    pytest.param("ready", {"min": 0}, 1, id="a-boolean-is-not-a-number"),
    pytest.param("status", {"matches": "^o"}, 0, id="matches"),
    pytest.param("status", {"equals": "x", "matches": "^x"}, 2, id="every-failure-listed"),
    pytest.param("gone", {}, 1, id="missing"),
    pytest.param("gone", {"exists": False}, 0, id="absent-as-expected"),
    pytest.param("status", {"exists": False}, 1, id="present-but-should-not-be"),
    pytest.param("nodes.0.id", {"equals": "a"}, 0, id="list-index"),
]
# fmt: on


@pytest.mark.parametrize(("path", "fields", "failures"), EXPECTATIONS)
def test_json_expectations(path: str, fields: dict, failures: int) -> None:
    problems = check_expectation(path, JsonExpectation(**fields), BODY)
    assert len(problems) == failures, problems
    assert all(problem.startswith(f"{path}: ") for problem in problems)


# fmt: off
HEADERS = [
    # value, expectation, failures
    pytest.param("text/event-stream", {"equals": "text/event-stream"}, 0, id="equals"),
    pytest.param("text/html", {"equals": "text/event-stream"}, 1, id="not-equal"),
    pytest.param(None, {}, 1, id="missing"),
    pytest.param(None, {"exists": False}, 0, id="absent-as-expected"),
    pytest.param("x", {"exists": False}, 1, id="present-but-should-not-be"),
    pytest.param("v2.1", {"matches": r"^v2\."}, 0, id="matches"),
    pytest.param('{"region": "eu"}', {"as_json": {"region": "eu"}}, 0, id="json-value"),
    pytest.param('{"region": "us"}', {"as_json": {"region": "eu"}}, 1, id="json-value-differs"),
    pytest.param("not json", {"as_json": {"region": "eu"}}, 1, id="not-json"),
]
# fmt: on


@pytest.mark.parametrize(("value", "fields", "failures"), HEADERS)
def test_header_expectations(value: str | None, fields: dict, failures: int) -> None:
    problems = check_header("X-Thing", HeaderExpectation(**fields), value)
    assert len(problems) == failures, problems
    assert all(problem.startswith("header X-Thing") for problem in problems)


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$", BODY), (" $.status ", "ok"), ("nodes.-1.id", "a"), ("nodes.1", MISSING)],
)
def test_resolve_path(path: str, expected: object) -> None:
    assert resolve_path(BODY, path) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        ("2.5", 2.5),
        (True, None),
        (None, None),
        (MISSING, None),
        ("fast", None),
        (math.inf, None),
        ("nan", None),
    ],
)
def test_as_number(value: object, expected: float | None) -> None:
    assert as_number(value) == expected
