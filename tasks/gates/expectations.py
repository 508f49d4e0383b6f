"""Expectations on an HTTP answer's JSON body and headers: readable failures, never raises."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from blocks.gates import HeaderExpectation, JsonExpectation

MISSING: Any = object()  # what resolve_path returns for a path that is not there
VALUE_EXCERPT_CHARS = 500


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


def check_header(name: str, expectation: HeaderExpectation, value: str | None) -> list[str]:
    """Readable failures of one header expectation; a named header must be present."""
    if value is None:
        return [] if expectation.exists is False else [f"header {name}: missing"]
    if expectation.exists is False:
        return [f"header {name}: expected to be absent, got {value!r}"]
    problems = []
    if expectation.equals is not None and value != expectation.equals:
        problems.append(f"header {name}: expected {expectation.equals!r}, got {value!r}")
    if expectation.matches is not None and not re.search(expectation.matches, value):
        problems.append(f"header {name}: {value!r} does not match {expectation.matches!r}")
    if expectation.as_json is not None:
        try:
            parsed = json.loads(value)
        except ValueError:
            return [*problems, f"header {name}: not JSON: {value[:VALUE_EXCERPT_CHARS]!r}"]
        for path, json_expectation in expectation.as_json.items():
            problems += [
                f"header {name} {problem}"
                for problem in check_expectation(path, json_expectation, parsed)
            ]
    return problems


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


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
