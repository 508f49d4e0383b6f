"""`warden workflows ...` as CI calls it: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flows.cli_runner import warden


def test_baseline_then_gate_exit_codes(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    result = warden("workflows", "baseline", "--output", str(ref))
    assert result.exit_code == 0, result.output
    assert json.loads(ref.read_text())["total"] == 13

    same = warden("workflows", "gate", "--new", str(ref), "--ref", str(ref))
    assert same.exit_code == 0 and '"ok": true' in same.output

    document = json.loads(ref.read_text())
    document["by_code"]["VALIDATION_ERROR"] += 20
    document["total"] += 20
    new = tmp_path / "new.json"
    new.write_text(json.dumps(document))
    worse = warden(
        "workflows",
        "gate",
        "--new",
        str(new),
        "--ref",
        str(ref),
        "--codes",
        "PARSE_ERROR,VALIDATION_ERROR",
    )
    assert worse.exit_code == 1
    report, _ = json.JSONDecoder().raw_decode(worse.output[worse.output.index("{") :])
    assert report["regressions"][0]["code"] == "VALIDATION_ERROR"


def test_gate_input_errors_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    missing = warden(
        "workflows", "gate", "--new", str(tmp_path / "nope.json"), "--ref", str(broken)
    )
    assert missing.exit_code == 2
    assert "(USAGE_ERROR, exit 2)" in missing.output and '"ok"' not in missing.output

    ref = tmp_path / "ref.json"
    ref.write_text(
        json.dumps(
            {
                "timestamp": "2026-11-21T00:00:00Z",
                "total": 0,
                "by_code": {},
                "failure_rate": 0.0,
                "files": [],
            }
        )
    )
    unknown = warden(
        "workflows", "gate", "--new", str(ref), "--ref", str(ref), "--codes", "PARSE_EROR"
    )
    assert unknown.exit_code == 2 and "PARSE_ERROR" in unknown.output


def test_classify_prints_the_category_table(tmp_path: Path) -> None:
    result = warden(
        "workflows",
        "classify",
        "--corpus",
        "sample",
        "--limit",
        "4",
        "--out",
        str(tmp_path / "out"),
        "--no-record",
    )
    assert result.exit_code == 0, result.output
    assert "failed" in result.output
    assert (tmp_path / "out" / "workflow_failures.json").exists()


def test_unknown_corpus_is_a_usage_error() -> None:
    result = warden("workflows", "classify", "--corpus", "nope")
    assert result.exit_code == 2
    assert "valid corpora: sample, sample-parse" in result.output


def write_baseline_document(path: Path, **changes) -> Path:
    document = {
        "timestamp": "2026-11-21T00:00:00Z",
        "total": 0,
        "by_code": {},
        "failure_rate": 0.0,
        "files": [],
    }
    path.write_text(json.dumps({**document, **changes}))
    return path


def test_gate_refuses_an_empty_or_truncated_new_baseline(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    assert warden("workflows", "baseline", "--output", str(ref)).exit_code == 0
    empty = write_baseline_document(tmp_path / "empty.json", timestamp="2099-01-01T00:00:00Z")
    result = warden("workflows", "gate", "--new", str(empty), "--ref", str(ref))
    assert result.exit_code == 2, result.output
    assert '"ok"' not in result.output  # nothing was compared, no verdict printed

    document = json.loads(ref.read_text())
    kept = document["files"][:3]
    truncated = write_baseline_document(
        tmp_path / "truncated.json",
        timestamp="2099-01-01T00:00:00Z",
        total=3,
        by_code={
            name: sum(f["code_name"] == name for f in kept)
            for name in {f["code_name"] for f in kept}
        },
        failure_rate=round(sum(f["code_name"] != "SUCCESS" for f in kept) / 3, 4),
        files=kept,
    )
    result = warden("workflows", "gate", "--new", str(truncated), "--ref", str(ref))
    assert result.exit_code == 2, result.output
    assert '"ok"' not in result.output  # nothing was compared, no verdict printed


def test_gate_can_leave_suppressed_failures_out(tmp_path: Path) -> None:
    ref = tmp_path / "ref.json"
    assert warden("workflows", "baseline", "--output", str(ref)).exit_code == 0
    document = json.loads(ref.read_text())
    failing = next(f for f in document["files"] if f["code_name"] == "PARSE_ERROR")
    extra = [dict(failing, path=f"more/p{i}.py") for i in range(20)]
    worse = dict(
        document,
        timestamp="2099-01-01T00:00:00Z",
        total=document["total"] + 20,
        by_code={**document["by_code"], "PARSE_ERROR": document["by_code"]["PARSE_ERROR"] + 20},
        files=document["files"] + extra,
    )
    new = tmp_path / "new.json"
    new.write_text(json.dumps(worse))
    assert warden("workflows", "gate", "--new", str(new), "--ref", str(ref)).exit_code == 1

    from tasks.workflows.fingerprint import fingerprint

    mark = fingerprint("PARSE_ERROR", failing["line"], failing["message"])
    listed = tmp_path / "suppressions.txt"
    listed.write_text(f"{mark}\n")
    args = ["workflows", "gate", "--new", str(new), "--ref", str(ref), "--exclude-suppressed"]
    result = warden(*args, "--suppressions", str(listed))
    assert result.exit_code == 0, result.output
    assert '"excluded_suppressed"' in result.output
    missing = warden(*args, "--suppressions", str(tmp_path / "absent.txt"))
    assert missing.exit_code == 2


def test_classify_works_from_any_folder_with_paths_and_a_checker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import ROOT

    samples = ROOT / "deployments" / "samples" / "workflows"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = warden(
        "workflows",
        "classify",
        str(samples),
        "--checker",
        "python",
        "--output",
        "reports/workflow_failures.json",
        "--markdown",
        "reports/workflow_failures.md",
        "--history-dir",
        "history",
    )
    assert result.exit_code == 0, result.output
    document = json.loads((elsewhere / "reports" / "workflow_failures.json").read_text())
    assert document["summary"]["total"] == 13 and document["mode"] == "parse"
    assert "| Category |" in (elsewhere / "reports" / "workflow_failures.md").read_text()
    assert len(list((elsewhere / "history").glob("*_classification.json"))) == 1
    trends = json.loads((elsewhere / "history" / "trends.json").read_text())
    assert trends[-1]["total"] == 13

    without = warden("workflows", "classify", "--checker", "python")
    assert without.exit_code == 2
    assert "(USAGE_ERROR, exit 2)" in without.output


def test_classify_refuses_a_folder_with_nothing_to_check(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = warden(
        "workflows", "classify", str(tmp_path / "empty"), "--checker", "python", "--no-record"
    )
    assert result.exit_code == 2, result.output


def test_history_dir_with_no_record_is_refused(tmp_path: Path) -> None:
    result = warden(
        "workflows", "classify", "--limit", "2", "--no-record", "--history-dir", str(tmp_path)
    )
    assert result.exit_code == 2, result.output
