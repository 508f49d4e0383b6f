"""gate_results.json in the seed's shape and the sign-off markdown."""

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
    GateVerdict,
    MetricResult,
)
from tasks.gates.outputs import (
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
                name="coverage_percent",
                value=metrics.get("coverage", 86.5),
                previous=85.0,
                ok=True,
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
        verdict=GateVerdict.NO_GO,
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


def suite(gates: list[GateResult], verdict: GateVerdict = GateVerdict.GO) -> GateSuiteReport:
    return GateSuiteReport(
        profile="test",
        started_at=STARTED,
        finished_at=STARTED,
        strict_manual=False,
        gates=gates,
        score=100.0,
        band=Band.PASS,
        verdict=verdict,
        exit_code=0,
    )


SMOKE = gate_result("smoke", GateStatus.PASSED)
HMR = dict(mode=GateMode.MANUAL, manual=True)

# fmt: off
ALL_PASSED = [
    # gates, all_passed, manual follow-ups
    pytest.param([SMOKE, gate_result("hmr", GateStatus.MANUAL_FOLLOWUP, **HMR)], True, ["hmr"],
                 id="seed-example-manual-followup"),
    pytest.param([SMOKE, gate_result("hmr", GateStatus.SIGNED_OFF, **HMR)], True, [],
                 id="signed-off"),
    pytest.param([SMOKE, gate_result("lint", GateStatus.FAILED, mode=GateMode.ADVISORY)], True, [],
                 id="advisory-failure-is-the-verdicts-business"),
    pytest.param([SMOKE, gate_result("unit", GateStatus.FAILED)], False, [],
                 id="mandatory-failed"),
    pytest.param([SMOKE, gate_result("e2e", GateStatus.FAILED, mode=GateMode.ADVISORY, key=True)],
                 False, [], id="key-gate-failed"),
    pytest.param([SMOKE, gate_result("hmr", GateStatus.FAILED, **HMR)], False, [],
                 id="manual-gate-failed"),
    pytest.param([], False, [], id="nothing-ran"),
]
# fmt: on


@pytest.mark.parametrize(("gates", "all_passed", "followups"), ALL_PASSED)
def test_all_passed_means_every_mandatory_gate_passed(
    gates: list[GateResult], all_passed: bool, followups: list[str]
) -> None:
    meta = results_document(suite(gates))["_meta"]
    assert meta["all_passed"] is all_passed
    assert meta["manual_followups"] == followups


@pytest.mark.parametrize("status", list(GateStatus))
def test_ok_cannot_contradict_the_status(status: GateStatus) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        gate_result("smoke", status, ok=status is GateStatus.FAILED)


def test_a_summary_line_says_when_there_was_nothing_to_compare_with() -> None:
    from tasks.gates.models import Comparison

    metric = MetricResult(name="p95_ms", value=120.0, ok=True, comparison=Comparison.NO_REFERENCE)
    line = summary_line(gate_result("latency", GateStatus.PASSED, metric=metric))
    assert line == "Latency: ✅ (p95_ms = 120 (no accepted run to compare with))"
