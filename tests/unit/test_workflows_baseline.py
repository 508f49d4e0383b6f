"""Parse baseline: the seed's shape, and a catalog of named invalid baseline files."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from blocks.errors import ExitCode, WardenError
from tasks.workflows.baseline import (
    BaselineDocument,
    BaselineError,
    build_baseline,
    read_baseline,
    utc_z,
    write_baseline,
)
from tasks.workflows.models import WorkflowCode
from tests.unit.workflow_reports import row

NOW = datetime(2025, 9, 12, 10, 15, tzinfo=UTC)


def test_baseline_has_the_seeds_exact_shape() -> None:
    results = [
        row(
            "b.aether",
            WorkflowCode.PARSE_ERROR,
            line=12,
            message="Parse error (assignment) line 12",
        ),
        row("a.aether", WorkflowCode.SUCCESS),
        row("c.aether", WorkflowCode.PARSE_ERROR, line=3, message="unbalanced"),
    ]
    baseline = build_baseline(results, NOW).to_dict()
    assert list(baseline) == ["timestamp", "total", "by_code", "failure_rate", "files"]
    assert baseline["timestamp"] == "2025-09-12T10:15:00Z"
    assert baseline["total"] == 3
    assert baseline["by_code"] == {"SUCCESS": 1, "PARSE_ERROR": 2}
    assert list(baseline["by_code"]) == ["SUCCESS", "PARSE_ERROR"]  # table order
    assert baseline["failure_rate"] == 0.6667
    assert baseline["files"][0] == {
        "path": "a.aether",
        "code_name": "SUCCESS",
        "line": None,
        "message": "",
    }
    assert [entry["path"] for entry in baseline["files"]] == ["a.aether", "b.aether", "c.aether"]
    assert baseline["files"][1]["line"] == 12


@pytest.mark.parametrize(
    ("codes", "rate"),
    [
        ([], 0.0),
        ([WorkflowCode.SUCCESS] * 3, 0.0),
        ([WorkflowCode.PARSE_ERROR], 1.0),
        ([WorkflowCode.SUCCESS] * 900 + [WorkflowCode.PARSE_ERROR] * 1800, 0.6667),
        ([WorkflowCode.SUCCESS, WorkflowCode.VALIDATION_ERROR, WorkflowCode.IO_ERROR], 0.6667),
    ],
    ids=["empty", "all-ok", "all-failed", "seed-sample", "mixed"],
)
def test_failure_rate(codes: list[WorkflowCode], rate: float) -> None:
    results = [row(f"f{i}", code) for i, code in enumerate(codes)]
    baseline = build_baseline(results, NOW)
    assert baseline.failure_rate == rate
    assert baseline.total == len(codes) == sum(baseline.by_code.values())


def test_timestamp_is_utc_with_z_from_any_timezone() -> None:
    moment = datetime(2025, 9, 12, 12, 15, tzinfo=timezone(timedelta(hours=2)))
    assert utc_z(moment) == "2025-09-12T10:15:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_z(datetime(2025, 9, 12))


def test_written_baseline_reads_back(tmp_path: Path) -> None:
    baseline = build_baseline([row("a", WorkflowCode.PARSE_ERROR, line=1, message="x")], NOW)
    path = write_baseline(tmp_path / "parse_baseline.json", baseline)
    assert read_baseline(path) == baseline.to_dict()


def test_the_baseline_is_a_typed_document_written_as_the_seeds_json(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=2))
    built = build_baseline(
        [row("a", WorkflowCode.PARSE_ERROR, line=1, message="x")], NOW.astimezone(paris)
    )
    assert isinstance(built, BaselineDocument)
    assert (built.total, built.by_code, built.failure_rate) == (1, {"PARSE_ERROR": 1}, 1.0)
    written = json.loads(write_baseline(tmp_path / "b.json", built).read_text())
    assert written == built.to_dict() and written["timestamp"] == "2025-09-12T10:15:00Z"
    assert BaselineDocument.model_validate(written) == built
    with pytest.raises(ValueError):
        build_baseline([], datetime(2025, 9, 12))


def test_seeds_own_baseline_with_extra_keys_is_accepted(tmp_path: Path) -> None:
    seed = {
        "timestamp": "2025-09-12T10:15:00.123456Z",
        "total": 2700,
        "by_code": {"SUCCESS": 900, "PARSE_ERROR": 1800},
        "failure_rate": 0.6667,
        "files": [{"path": "w.aether", "code_name": "PARSE_ERROR", "line": 12, "message": "m"}],
        "generator": "generate_parse_baseline.py",
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    assert read_baseline(path) == seed


def valid_document() -> dict:
    return build_baseline([row("a", WorkflowCode.SUCCESS)], NOW).to_dict()


def with_change(**changes: object) -> str:
    document = valid_document()
    document.update(changes)
    return json.dumps(document)


def without(key: str) -> str:
    document = valid_document()
    del document[key]
    return json.dumps(document)


INVALID = {
    "invalid-json": ('{"total": 1,', r"invalid JSON at line 1"),
    "empty-file": ("", r"invalid JSON at line 1"),
    "top-level-list": ("[1, 2]", r"\(document\): Input should be an object"),
    "missing-by-code": (without("by_code"), r"by_code: Field required"),
    "missing-timestamp": (without("timestamp"), r"timestamp: Field required"),
    "bad-timestamp": (with_change(timestamp="yesterday"), r"timestamp: Input should be a valid"),
    "count-as-string": (with_change(total="1"), r"total: Input should be a valid integer"),
    "negative-count": (
        with_change(by_code={"SUCCESS": -1}, total=-1),
        r"by_code.SUCCESS: Input should be greater than or equal to 0",
    ),
    "unknown-code-name": (
        with_change(by_code={"PARSE_FAIL": 1}),
        r"unknown code name 'PARSE_FAIL' \(known: SUCCESS, ",
    ),
    "counts-do-not-add-up": (with_change(total=5), r"by_code counts add up to 1, total is 5"),
    "rate-above-one": (with_change(failure_rate=1.5), r"failure_rate: Input should be less"),
    "files-not-a-list": (with_change(files={}), r"files: Input should be a valid (list|array)"),
    "file-without-path": (
        with_change(files=[{"code_name": "SUCCESS"}]),
        r"files.0.path: Field required",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_baselines_name_the_file_and_the_problem(case: str, tmp_path: Path) -> None:
    text, expected = INVALID[case]
    path = tmp_path / f"{case}.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as caught:
        read_baseline(path)
    error = caught.value
    assert isinstance(error, WardenError)
    assert error.code == ExitCode.USAGE_ERROR == 2
    assert str(path) in error.message
    assert error.remediation and "baseline" in error.remediation
    assert re.search(expected, error.message), error.message


def test_missing_baseline_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(BaselineError, match="file not found") as caught:
        read_baseline(path)
    assert str(path) in caught.value.message
    assert caught.value.code == 2


def test_undecodable_baseline_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"x": "\xe9"}')
    with pytest.raises(BaselineError, match="cannot read file"):
        read_baseline(path)
