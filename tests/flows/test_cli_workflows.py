"""`warden workflows ...` as CI calls it: outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def warden(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


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
    assert "nope.json" in missing.output

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
