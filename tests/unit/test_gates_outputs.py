"""gate_results.json in the seed's shape, the sign-off markdown, and reading the previous run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.gates import GateMode
from tasks.gates.models import (
    Band,
    GateResult,
    GateStatus,
    GateSuiteReport,
    MetricResult,
    Verdict,
)
from tasks.gates.outputs import (
    read_previous_metrics,
    results_document,
    sign_off_markdown,
    summary_line,
    table_rows,
    write_outputs,
)

STARTED = datetime(2024, 10, 27, 3, 33, 20, 123000, tzinfo=UTC)


def gate_result(name: str, status: GateStatus, **fields) -> GateResult:
    values = {
        "kind": "command",
        "mode": GateMode.MANDATORY,
        "ok": status is not GateStatus.FAILED,
        "manual": False,
        "duration_sec": 2.514,
        "weight": 1.0,
        "key": False,
    }
    return GateResult(name=name, status=status, **{**values, **fields})


def make_report(
    profile: str = "test", started: datetime = STARTED, **metrics: float
) -> GateSuiteReport:
    gates = [
        gate_result(
            "launcher_smoke",
            GateStatus.PASSED,
            title="Launcher smoke",
            details={"services": ["aetherra_engine"], "missing": []},
            evidence="log path",
        ),
        gate_result(
            "hmr_quiesce",
            GateStatus.MANUAL_FOLLOWUP,
            mode=GateMode.MANUAL,
            manual=True,
            details={"manual_followup": True, "reason": "hmr_controller not registered"},
            reason="manual_followup",
        ),
        gate_result(
            "chat_sse",
            GateStatus.FAILED,
            kind="http",
            details={"message": "status 503, expected 200 | retry"},
            reason="status",
            key=True,
        ),
        gate_result(
            "coverage",
            GateStatus.PASSED,
            kind="coverage",
            metric=MetricResult(
                name="coverage_percent", value=metrics.get("coverage", 86.5), previous=85.0
            ),
            evidence="coverage % vs baseline",
        ),
    ]
    return GateSuiteReport(
        profile=profile,
        started_at=started,
        finished_at=started + timedelta(seconds=12),
        strict_manual=False,
        gates=gates,
        score=66.7,
        band=Band.FAIL,
        verdict=Verdict.NO_GO,
        exit_code=1,
        reasons=["key gate chat_sse vetoed (status)"],
    )


def test_results_document_has_the_seed_shape() -> None:
    document = results_document(make_report())
    assert list(document) == ["_meta", "launcher_smoke", "hmr_quiesce", "chat_sse", "coverage"]
    meta = document["_meta"]
    assert meta["profile"] == "test"
    assert meta["ts"] == pytest.approx(1730000000.123)
    assert meta["all_passed"] is False
    assert set(meta) >= {"score", "band", "verdict", "exit_code", "strict_manual", "reasons"}
    assert meta["finished"] == "2024-10-27T03:33:32.123000+00:00"
    smoke = document["launcher_smoke"]
    assert (smoke["ok"], smoke["manual"], smoke["duration_sec"]) == (True, False, 2.51)
    assert smoke["details"] == {"services": ["aetherra_engine"], "missing": []}
    assert "metric" not in smoke
    hmr = document["hmr_quiesce"]
    assert (hmr["ok"], hmr["manual"], hmr["status"]) == (True, True, "manual_followup")
    assert hmr["details"]["manual_followup"] is True
    assert document["coverage"]["metric"]["value"] == 86.5
    assert set(smoke) == {
        "ok",
        "manual",
        "duration_sec",
        "details",
        "status",
        "weight",
        "key",
        "mode",
        "kind",
        "reason",
    }
    json.dumps(document)  # serializable as is


def test_sign_off_markdown_has_table_and_summary_lines() -> None:
    text = sign_off_markdown(make_report())
    assert text.startswith("# Go/No-Go: ❌ NO-GO — score 66.7 (fail)")
    assert "| Gate | Result | Mode | Weight | Duration | Details |" in text
    for symbol in ("✅", "❌", "🔧"):
        assert symbol in text
    assert "## Summary lines" in text
    assert "Launcher smoke: ✅ (log path)" in text
    assert "Coverage: ✅ (coverage % vs baseline; coverage_percent = 86.5 (previous 85))" in text
    assert "Hmr quiesce: 🔧 (manual follow-up: hmr_controller not registered)" in text
    assert "status 503, expected 200 \\| retry" in text  # pipes escaped inside the table
    assert "key gate chat_sse vetoed (status)" in text


@pytest.mark.parametrize(
    ("status", "details", "line"),
    [
        (GateStatus.PASSED, {}, "Smoke: ✅"),
        (GateStatus.FAILED, {"message": "exit code 1, expected 0"}, "Smoke: ❌ (exit code 1, …"),
        (
            GateStatus.SIGNED_OFF,
            {"signed_off_by": "ana", "evidence_link": "https://ci/1"},
            "Smoke: ✅ (signed off by ana, https://ci/1)",
        ),
    ],
)
def test_summary_line(status: GateStatus, details: dict, line: str) -> None:
    text = summary_line(gate_result("smoke", status, details=details))
    assert text.startswith(line.removesuffix("…"))


def test_table_rows() -> None:
    rows = table_rows(make_report())
    assert rows[0] == {
        "gate": "launcher_smoke",
        "result": "✅",
        "status": "passed",
        "mode": "mandatory",
        "weight": 1.0,
        "duration_sec": 2.51,
        "reason": "",
    }
    assert [row["result"] for row in rows] == ["✅", "🔧", "❌", "✅"]


def test_write_outputs_writes_both_files_atomically(tmp_path: Path) -> None:
    paths = write_outputs(make_report(), tmp_path / "run")
    assert [path.name for path in paths] == ["gate_results.json", "gate_sign_off.md"]
    document = json.loads(paths[0].read_text(encoding="utf-8"))
    assert document["_meta"]["verdict"] == "no-go"
    assert "## Summary lines" in paths[1].read_text(encoding="utf-8")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "gate_results.json",
        "gate_sign_off.md",
    ]  # no temporary files left behind


def test_previous_metrics_from_a_file(tmp_path: Path) -> None:
    write_outputs(make_report(coverage=81.0), tmp_path)
    assert read_previous_metrics(tmp_path / "gate_results.json", "test") == {"coverage": 81.0}


def test_previous_metrics_picks_newest_run_of_the_profile(tmp_path: Path) -> None:
    runs = [
        ("20241001T000000Z", "test", STARTED, 70.0),
        ("20241002T000000Z", "test", STARTED + timedelta(days=1), 80.0),  # newest "test" run
        ("20241003T000000Z", "prod", STARTED + timedelta(days=2), 90.0),  # other profile
    ]
    for directory, profile, started, value in runs:
        write_outputs(make_report(profile, started, coverage=value), tmp_path / directory)
    newest_corrupt = tmp_path / "20241004T000000Z"
    newest_corrupt.mkdir()
    (newest_corrupt / "gate_results.json").write_text('{"_meta": {"profile": "test", "ts": 9e9')
    not_a_run = tmp_path / "notes"
    not_a_run.mkdir()
    (not_a_run / "gate_results.json").write_text('["not", "a", "results", "document"]')

    assert read_previous_metrics(tmp_path, "test") == {"coverage": 80.0}
    assert read_previous_metrics(tmp_path, "prod") == {"coverage": 90.0}
    assert read_previous_metrics(tmp_path, "staging") == {}


@pytest.mark.parametrize(
    "content", ["", "{broken", "null", '{"_meta": "x"}'], ids=["empty", "bad-json", "null", "meta"]
)
def test_corrupt_previous_file_is_not_fatal(tmp_path: Path, content: str) -> None:
    path = tmp_path / "gate_results.json"
    path.write_text(content)
    assert read_previous_metrics(path, "test") == {}


def test_missing_previous_source_gives_nothing(tmp_path: Path) -> None:
    assert read_previous_metrics(tmp_path / "nowhere", "test") == {}
