"""The go/no-go flow end to end under the Prefect test harness: real tasks, real commands."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.flow_runs import resume_flow_run
from prefect.states import Completed, Failed, Running
from prefect.variables import Variable

from flows.go_no_go import go_no_go_gates
from tasks.gates.models import GateStatus, GateSuiteReport, GateVerdict
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.conftest import py
from tests.flows.gate_files import failing, passing, printing, write_gates
from tests.flows.pauses import wait_for_paused_run
from tests.flows.results import typed_result


def run(config: Path, **params):
    state = go_no_go_gates(config=str(config), return_state=True, **params)
    report = typed_result(state, GateSuiteReport)
    return state, report


def test_all_gates_pass_completes_with_outputs_and_artifacts(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), passing("lint", weight=2)])
    state, report = run(config, out=str(tmp_path / "out"), profile=None)

    assert state.is_completed()
    assert (report.verdict, report.exit_code, report.score) == (GateVerdict.GO, 0, 100.0)
    document = json.loads((tmp_path / "out" / "gate_results.json").read_text())
    assert document["_meta"]["profile"] == "default"
    assert document["_meta"]["all_passed"] is True
    assert document["smoke"]["ok"] is True and document["smoke"]["manual"] is False
    assert {"duration_sec", "details", "weight"} <= document["lint"].keys()
    sign_off = (tmp_path / "out" / "gate_sign_off.md").read_text()
    assert "✅" in sign_off and "smoke" in sign_off

    with get_client(sync_client=True) as client:
        keys = ["go-no-go-default", "go-no-go-default-table"]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    assert {a.key for a in artifacts} == set(keys)
    assert any(a.type == "table" for a in artifacts)
    assert _events_named("warden.go-no-go.") >= {"warden.go-no-go.begin", "warden.go-no-go.verdict"}


def _events_named(prefix: str, timeout_sec: float = 20.0) -> set[str]:
    """Names of the events the API has stored under ``prefix`` (events arrive asynchronously)."""
    from prefect.events.filters import EventFilter, EventNameFilter

    names: set[str] = set()
    deadline = time.monotonic() + timeout_sec
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline and len(names) < 2:
            page = client.read_events(EventFilter(event=EventNameFilter(prefix=[prefix])), limit=50)
            names = {event.event for event in page.events}
            time.sleep(0.5)
    return names


def test_failed_mandatory_gate_fails_the_run_but_keeps_the_report(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), failing("unit")])
    state, report = run(config, out=str(tmp_path / "out"))

    assert state.is_failed()
    assert (report.verdict, report.exit_code) == (GateVerdict.NO_GO, 1)
    unit = next(g for g in report.gates if g.name == "unit")
    assert unit.status is GateStatus.FAILED and unit.reason == "exit_code"
    assert json.loads((tmp_path / "out" / "gate_results.json").read_text())["unit"]["ok"] is False


def test_a_failed_dependency_fails_its_dependents_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    dependent = {
        "name": "after",
        "kind": "command",
        "argv": py(f"open({str(marker)!r}, 'w').write('x')"),
        "depends_on": ["build"],
    }
    config = write_gates(tmp_path, [failing("build"), dependent])
    _, report = run(config)

    after = next(g for g in report.gates if g.name == "after")
    assert after.reason == "dependency_failed"
    assert not marker.exists()


def test_kill_switch_stops_before_any_gate_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    gate = {"name": "side", "kind": "command", "argv": py(f"open({str(marker)!r}, 'w')")}
    config = write_gates(tmp_path, [gate])
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        state, report = run(config, out=str(tmp_path / "out"))
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)

    assert state.is_failed()
    assert (report.verdict, report.exit_code) == (GateVerdict.KILL_SWITCH_ON, 3)
    assert report.gates == [] and not marker.exists()
    assert not (tmp_path / "out").exists()


def test_manual_gate_is_a_follow_up_unless_strict(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])

    state, report = run(config)
    hmr = next(g for g in report.gates if g.name == "hmr")
    assert state.is_completed() and report.exit_code == 0
    assert hmr.status is GateStatus.MANUAL_FOLLOWUP and hmr.manual and hmr.symbol == "🔧"

    state, report = run(config, strict_manual=True)
    assert state.is_failed() and (report.verdict, report.exit_code) == (GateVerdict.NO_GO, 1)


def test_relative_threshold_compares_with_the_previous_run(tmp_path: Path) -> None:
    metric = {"name": "p95_ms", "regex": r"value=(?P<value>[\d.]+)", "relative": "<= +10%"}
    root = tmp_path / "runs"
    first = write_gates(tmp_path, [printing("latency", "100", metric=metric)])
    _, report = run(first, out=str(root / "1"))
    assert report.exit_code == 0

    (tmp_path / "gates.yaml").unlink()
    second = write_gates(tmp_path, [printing("latency", "125", metric=metric)])
    _, report = run(second, out=str(root / "2"), previous=str(root))
    latency = report.gates[0]
    assert latency.status is GateStatus.FAILED
    assert latency.metric is not None and latency.metric.previous == 100.0
    assert report.exit_code == 1


def test_flow_run_gate_reads_the_latest_run_of_a_deployment(tmp_path: Path) -> None:
    gates = [
        {"name": "never", "kind": "flow-run", "deployment": "nightly-flow/never"},
        {"name": "nightly", "kind": "flow-run", "deployment": "nightly-flow/nightly"},
    ]
    config = write_gates(tmp_path, gates)
    with get_client(sync_client=True) as client:
        deployment_id = client.create_deployment(
            flow_id=client.create_flow_from_name("nightly-flow"), name="nightly"
        )
        _finish_run(client, deployment_id, Completed())
        _, report = run(config)
        by_name = {gate.name: gate for gate in report.gates}
        assert by_name["never"].reason == "no_run"
        assert by_name["nightly"].status is GateStatus.PASSED
        assert by_name["nightly"].details["state"] == "Completed"

        _finish_run(client, deployment_id, Failed())
        _, report = run(config, gates=["nightly"])
        assert report.gates[0].reason == "not_completed"


def _finish_run(client, deployment_id, final) -> None:
    flow_run = client.create_flow_run_from_deployment(deployment_id)
    client.set_flow_run_state(flow_run.id, Running(), force=True)
    client.set_flow_run_state(flow_run.id, final, force=True)


def test_interactive_run_pauses_for_sign_off_in_the_ui(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])
    outcome: dict = {}

    def start() -> None:
        outcome["result"] = run(config, interactive=True, sign_off_timeout_sec=60)

    thread = threading.Thread(target=start)
    thread.start()
    run_id = wait_for_paused_run("go-no-go-gates")
    resume_flow_run(
        run_id,
        run_input={"signer": "ops@example.com", "approved": True, "evidence_link": "PR-1"},
    )
    thread.join(timeout=60)

    state, report = outcome["result"]
    hmr = next(g for g in report.gates if g.name == "hmr")
    assert state.is_completed() and report.verdict is GateVerdict.GO
    assert hmr.status is GateStatus.SIGNED_OFF
    assert hmr.details["signed_off_by"] == "ops@example.com"


def test_a_crashing_check_is_a_failed_gate_not_a_lost_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.gates.steps as steps

    def explode(*_args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(steps, "_evaluate", explode)
    state, report = run(write_gates(tmp_path, [passing("smoke")]))
    assert state.is_failed() and report.exit_code == 1
    assert report.gates[0].reason == "check_crashed"
    assert "RuntimeError: disk on fire" in report.gates[0].details["message"]


# -- fail closed (issue 11) -------------------------------------------------------------------

DROP_5 = {"name": "rps", "regex": r"value=(?P<value>[\d.]+)", "relative": ">= -5%"}


def _measure(tmp_path: Path, value: str, *others: dict) -> Path:
    (tmp_path / "gates.yaml").unlink(missing_ok=True)
    return write_gates(tmp_path, [printing("throughput", value, metric=DROP_5), *others])


def test_a_failed_run_does_not_become_the_reference(tmp_path: Path) -> None:
    _, first = run(_measure(tmp_path, "100"))
    assert first.exit_code == 0 and first.references_recorded == ["throughput"]

    _, dropped = run(_measure(tmp_path, "90"))
    assert (dropped.verdict, dropped.gates[0].reason) == (GateVerdict.NO_GO, "metric_threshold")

    _, rerun = run(_measure(tmp_path, "90"))  # the same drop, run again
    throughput = rerun.gates[0]
    assert throughput.metric is not None and throughput.metric.previous == 100.0
    assert (throughput.status, throughput.ok, rerun.exit_code) == (GateStatus.FAILED, False, 1)


def test_subset_runs_and_other_out_folders_keep_the_reference(tmp_path: Path) -> None:
    other = passing("lint")
    _, first = run(_measure(tmp_path, "100", other), out=str(tmp_path / "a"))
    assert first.exit_code == 0
    _, subset = run(_measure(tmp_path, "1", other), gates=["lint"], out=str(tmp_path / "b"))
    assert subset.exit_code == 0 and subset.references_recorded == []

    _, dropped = run(_measure(tmp_path, "90", other), out=str(tmp_path / "c"))
    throughput = next(g for g in dropped.gates if g.name == "throughput")
    assert throughput.metric is not None and throughput.metric.previous == 100.0
    assert throughput.reason == "metric_threshold" and dropped.exit_code == 1


def test_no_previous_value_is_reported_not_passed_silently(tmp_path: Path) -> None:
    _, report = run(_measure(tmp_path, "100"), out=str(tmp_path / "out"))
    assert report.verdict is GateVerdict.WARN and report.exit_code == 0
    assert any("not checked" in reason for reason in report.reasons)
    document = json.loads((tmp_path / "out" / "gate_results.json").read_text())
    assert document["throughput"]["metric"]["comparison"] == "no_reference"
    assert document["_meta"]["verdict"] == "go-with-warnings"


def test_a_sign_off_that_timed_out_is_not_ok(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])
    state = go_no_go_gates(
        config=str(config),
        interactive=True,
        sign_off_timeout_sec=1,
        out=str(tmp_path / "o"),
        return_state=True,
    )
    # Prefect turns any state after an expired pause into Failed (without the flow's result):
    # the run is Failed either way, and the files hold the report.
    assert state.is_failed()
    document = json.loads((tmp_path / "o" / "gate_results.json").read_text())
    assert (document["hmr"]["status"], document["hmr"]["ok"]) == ("failed", False)
    assert document["hmr"]["reason"] == "sign_off_missing"
    assert document["_meta"]["all_passed"] is False
    assert (document["_meta"]["verdict"], document["_meta"]["exit_code"]) == ("no-go", 1)


def test_an_empty_signer_fails_the_gate_and_the_files_are_written(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])
    outcome: dict = {}

    def start() -> None:
        outcome["result"] = run(
            config, interactive=True, sign_off_timeout_sec=60, out=str(tmp_path / "o")
        )

    thread = threading.Thread(target=start)
    thread.start()
    resume_flow_run(
        wait_for_paused_run("go-no-go-gates"), run_input={"signer": "", "approved": True}
    )
    thread.join(timeout=60)

    state, report = outcome["result"]
    hmr = next(g for g in report.gates if g.name == "hmr")
    assert state.is_failed() and report.exit_code == 1
    assert (hmr.status, hmr.ok, hmr.reason) == (GateStatus.FAILED, False, "sign_off_invalid")
    document = json.loads((tmp_path / "o" / "gate_results.json").read_text())
    assert document["hmr"]["reason"] == "sign_off_invalid"
    assert (tmp_path / "o" / "gate_sign_off.md").exists()


def _coverage_gates(tmp_path: Path, percent: float) -> Path:
    report = tmp_path / "coverage.json"
    write_report = py(
        f"import json; open({str(report)!r}, 'w').write("
        f"json.dumps({{'totals': {{'percent_covered': {percent}}}}}))"
    )
    (tmp_path / "baseline.json").write_text('{"percent_covered": 80}')
    return write_gates(
        tmp_path,
        [
            {"name": "tests", "kind": "command", "argv": write_report},
            {
                "name": "coverage",
                "kind": "coverage",
                "report": str(report),
                "baseline": str(tmp_path / "baseline.json"),
                "depends_on": ["tests"],
            },
        ],
    )


def test_a_coverage_report_older_than_the_run_fails(tmp_path: Path) -> None:
    config = _coverage_gates(tmp_path, 90.0)
    _, full = run(config)
    assert full.exit_code == 0, full.reasons  # written by the tests gate during the run

    _, subset = run(config, gates=["coverage"])  # the tests gate does not run: stale report
    coverage = subset.gates[0]
    assert (coverage.status, coverage.ok, coverage.reason) == (
        GateStatus.FAILED,
        False,
        "report_stale",
    )
    assert subset.exit_code == 1


def test_coverage_is_compared_with_the_last_accepted_run(tmp_path: Path) -> None:
    _, first = run(_coverage_gates(tmp_path, 90.0))
    assert first.exit_code == 0 and "coverage" in first.references_recorded
    (tmp_path / "gates.yaml").unlink()
    _, second = run(_coverage_gates(tmp_path, 89.5))  # above the baseline, but dropped
    coverage = next(g for g in second.gates if g.name == "coverage")
    assert coverage.metric is not None and coverage.metric.previous == 90.0
    assert (coverage.reason, second.exit_code) == ("metric_threshold", 1)


def test_all_passed_is_true_with_a_manual_follow_up_listed_apart(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])
    _, report = run(config, out=str(tmp_path / "o"))
    meta = json.loads((tmp_path / "o" / "gate_results.json").read_text())["_meta"]
    assert (meta["all_passed"], meta["manual_followups"]) == (True, ["hmr"])
    assert meta["verdict"] == "go-with-warnings" and report.exit_code == 0


def test_a_gate_task_that_crashes_is_a_failed_gate_not_a_lost_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.gates.steps as steps

    def broken(*_args, **_kwargs):
        raise RuntimeError("scoring bug")

    monkeypatch.setattr(steps, "finalize", broken)
    state, report = run(write_gates(tmp_path, [passing("smoke")]), out=str(tmp_path / "o"))
    assert state.is_failed() and report.exit_code == 1
    assert (report.gates[0].reason, report.gates[0].ok) == ("check_crashed", False)
    assert (tmp_path / "o" / "gate_results.json").exists()


def test_all_gates_and_the_profile_from_aetherra_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_gates(
        tmp_path, [passing("a"), passing("b")], profiles={"test": {"gates": ["a"]}}
    )
    monkeypatch.setenv("AETHERRA_PROFILE", "test")
    _, report = run(config)
    assert (report.profile, [g.name for g in report.gates]) == ("test", ["a"])
    _, report = run(config, all_gates=True)
    assert (report.profile, [g.name for g in report.gates]) == ("test", ["a", "b"])
