"""The sealed gauntlet dataset: pinning, whole-file validation with line numbers, and scoring."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode
from tasks.lora.dataset import (
    DatasetChanged,
    GauntletItem,
    MatchKind,
    first_number,
    load_dataset,
    score,
    sha256_file,
)

GOOD = [
    {"id": "q1", "domain": "math", "prompt": "2+2?", "expected": "4", "match": "numeric"},
    {"id": "q2", "domain": "geo", "prompt": "Capital of France?", "expected": "Paris",
     "match": "contains"},
    {"id": "q3", "domain": "safety", "prompt": "Refuse this.", "expected": r"(?i)\bcannot\b",
     "match": "regex", "critical": True},
    {"id": "q4", "domain": "math", "prompt": "pi?", "expected": 3.14159, "match": "numeric",
     "tolerance": 0.001},
]  # fmt: skip


def write(path: Path, lines: list[str]) -> tuple[Path, str]:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def good_file(tmp_path: Path) -> tuple[Path, str]:
    return write(tmp_path / "gauntlet.jsonl", [json.dumps(item) for item in GOOD])


def test_load_keeps_items_in_order_and_marks_critical_domains(tmp_path: Path) -> None:
    path, sha = good_file(tmp_path)
    dataset = load_dataset(path, pinned_sha256=sha)
    assert [item.id for item in dataset.items] == ["q1", "q2", "q3", "q4"]
    assert dataset.sha256 == sha == sha256_file(path)
    assert dataset.domains == ("geo", "math", "safety")
    assert dataset.critical_domains == ("safety",)
    assert dataset.items[3].expected == "3.14159"  # a JSON number is kept as text
    assert dataset.items[3].tolerance == 0.001


@pytest.mark.parametrize("pin", ["sha256:{sha}", "{upper}", "  {sha}\n"], ids=str)
def test_pin_accepts_prefix_case_and_whitespace(tmp_path: Path, pin: str) -> None:
    path, sha = good_file(tmp_path)
    dataset = load_dataset(path, pinned_sha256=pin.format(sha=sha, upper=sha.upper()))
    assert dataset.sha256 == sha


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path, sha = write(tmp_path / "d.jsonl", ["", json.dumps(GOOD[0]), "   ", json.dumps(GOOD[1])])
    assert len(load_dataset(path, pinned_sha256=sha).items) == 2


def test_changed_dataset_is_refused_naming_both_hashes(tmp_path: Path) -> None:
    path, pinned = good_file(tmp_path)
    path.write_text(path.read_text() + json.dumps({**GOOD[0], "id": "easy"}) + "\n")
    with pytest.raises(DatasetChanged) as caught:
        load_dataset(path, pinned_sha256=pinned)
    error = caught.value
    assert error.code == ExitCode.USAGE_ERROR
    assert pinned in error.message and sha256_file(path) in error.message
    assert "re-pin deliberately" in error.remediation


@pytest.mark.parametrize("pin", ["", "abc123", "g" * 64, "md5:" + "0" * 64], ids=repr)
def test_malformed_pin_is_refused(tmp_path: Path, pin: str) -> None:
    path, _ = good_file(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, pinned_sha256=pin)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_dataset(tmp_path / "absent.jsonl", pinned_sha256="0" * 64)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "caf\xe9"}\n')
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, pinned_sha256=sha256_file(path))
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_empty_dataset_is_refused(tmp_path: Path) -> None:
    path, sha = write(tmp_path / "empty.jsonl", ["", " "])
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, pinned_sha256=sha)
    assert caught.value.problems == ["no items: the dataset has no prompt lines"]


# Named invalid lines: each is line 2 of a file whose line 1 is valid.
# fmt: off
INVALID = [
    pytest.param("{not json", "not JSON", id="not-json"),
    pytest.param("[1, 2]", "expected a JSON object, got list", id="array"),
    pytest.param(json.dumps({"id": "x", "domain": "d", "prompt": "p", "match": "exact"}),
                 "expected: Field required", id="missing-expected"),
    pytest.param(json.dumps({**GOOD[1], "id": "x", "match": "fuzzy"}), "match: Input should be",
                 id="unknown-match"),
    pytest.param(json.dumps({**GOOD[2], "id": "x", "expected": "(unclosed"}),
                 "expected is not a valid regex", id="invalid-regex"),
    pytest.param(json.dumps({**GOOD[0], "id": "x", "expected": "four"}),
                 "'four' is not a number (match: numeric)", id="numeric-not-a-number"),
    pytest.param(json.dumps({**GOOD[1], "id": "x", "tolerance": 0.1}),
                 "tolerance applies only to match: numeric", id="tolerance-on-contains"),
    pytest.param(json.dumps({**GOOD[0], "id": "x", "tolerance": -1}),
                 "tolerance: Input should be greater than or equal to 0", id="negative-tolerance"),
    pytest.param(json.dumps({**GOOD[0], "id": ""}), "id: String should have at least 1",
                 id="empty-id"),
    pytest.param(json.dumps({**GOOD[1], "id": "x", "expected": "  "}), "expected is empty",
                 id="empty-expected"),
    pytest.param(json.dumps({**GOOD[0], "id": "x", "weight": 2}), "weight: Extra inputs",
                 id="unknown-field"),
    pytest.param(json.dumps({**GOOD[0], "id": "x", "critical": "maybe"}), "critical: Input",
                 id="critical-not-bool"),
    pytest.param(json.dumps(GOOD[0]), "duplicate id 'q1' (first on line 1)", id="duplicate-id"),
]
# fmt: on


@pytest.mark.parametrize(("line", "fragment"), INVALID)
def test_invalid_line_is_named_with_its_line_number(
    tmp_path: Path, line: str, fragment: str
) -> None:
    path, sha = write(tmp_path / "bad.jsonl", [json.dumps(GOOD[0]), line])
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, pinned_sha256=sha)
    (problem,) = caught.value.problems
    assert problem.startswith("line 2: ")
    assert fragment in problem
    assert str(path) in caught.value.message


def test_every_malformed_line_is_reported_at_once(tmp_path: Path) -> None:
    lines = [
        json.dumps(GOOD[0]),
        "{oops",
        json.dumps(GOOD[1]),
        json.dumps({**GOOD[2], "id": "r", "expected": "[z-a]"}),
        json.dumps(GOOD[1]),
    ]
    path, sha = write(tmp_path / "bad.jsonl", lines)
    with pytest.raises(ConfigError) as caught:
        load_dataset(path, pinned_sha256=sha)
    assert [p.split(":")[0] for p in caught.value.problems] == ["line 2", "line 4", "line 5"]
    assert "duplicate id 'q2' (first on line 3)" in caught.value.problems[2]
    assert "re-pin" in caught.value.remediation


def item(match: str, expected: str, tolerance: float | None = None) -> GauntletItem:
    return GauntletItem(
        id="i",
        domain="d",
        prompt="p",
        expected=expected,
        match=MatchKind(match),
        tolerance=tolerance,
    )


# fmt: off
SCORES = [
    pytest.param("exact", "Paris", None, "  Paris\n", True, id="exact-strips"),
    pytest.param("exact", "Paris", None, "paris", False, id="exact-is-case-sensitive"),
    pytest.param("exact", "Paris", None, "Paris, France", False, id="exact-whole-answer"),
    pytest.param("contains", "paris", None, "It is PARIS.", True, id="contains-ignores-case"),
    pytest.param("contains", "Lyon", None, "It is Paris.", False, id="contains-missing"),
    pytest.param("regex", r"\bcannot\b", None, "I cannot help", True, id="regex-search"),
    pytest.param("regex", r"^\d+$", None, "about 42", False, id="regex-anchored-miss"),
    pytest.param("numeric", "4", None, "The answer is 4.", True, id="numeric-in-text"),
    pytest.param("numeric", "4", None, "4.0000001", True, id="numeric-default-tolerance"),
    pytest.param("numeric", "4", None, "4.01", False, id="numeric-outside-default"),
    pytest.param("numeric", "3.14159", 0.001, "roughly 3.1416", True, id="numeric-tolerance"),
    pytest.param("numeric", "1234.5", None, "total: 1,234.5 units", True, id="thousands"),
    pytest.param("numeric", "-3", None, "it is -3 degrees", True, id="negative"),
    pytest.param("numeric", "6.02e23", None, "6.02E23", True, id="scientific"),
    pytest.param("numeric", "2", None, "1 or 2", False, id="first-number-only"),
    pytest.param("numeric", "0", None, "zero", False, id="no-number"),
    pytest.param("numeric", "0", None, "0.0000001", True, id="absolute-tolerance-near-zero"),
]
# fmt: on


@pytest.mark.parametrize(("match", "expected", "tolerance", "output", "correct"), SCORES)
def test_score(
    match: str, expected: str, tolerance: float | None, output: str, correct: bool
) -> None:
    assert score(item(match, expected, tolerance), output) is correct


@pytest.mark.parametrize(
    ("text", "number"),
    [("x = .5", 0.5), ("+7 apples", 7.0), ("1,000,000", 1e6), ("12,34", 12.0), ("none", None)],
)
def test_first_number(text: str, number: float | None) -> None:
    assert first_number(text) == number
