"""Go/no-go release gates (seed 003, first half).

plan gates -> kill switch -> references (last accepted run) -> run independent gates
concurrently -> sign-off of manual gates (interactive runs) -> score and verdict -> record an
accepted run's metrics -> gate_results.json + gate_sign_off.md -> artifacts and events. A no-go
verdict ends the run Failed, with the report still persisted as its result.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import flow
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from blocks.automations import VERDICT_LABEL
from blocks.errors import KillSwitchOn
from blocks.gates import DEFAULT_GATES_FILE, Gate, GateMode
from blocks.storage import persisted_results, warden_home
from tasks.gates.models import GateResult, GateStatus, Reference
from tasks.gates.outputs import sign_off_markdown, table_rows
from tasks.gates.report import assemble_report, refused_report
from tasks.gates.scoring import crashed_result
from tasks.gates.selection import GatePlan
from tasks.gates.steps import (
    plan_gates,
    read_references,
    record_accepted_run,
    request_sign_off,
    run_gate,
    write_gate_outputs,
)
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import (
    CONCURRENCY_LIMITS,
    GATE_SUITES,
    as_completed,
    emit,
    ensure_concurrency_limits,
    ensure_kill_switch_off,
    progress,
    publish_summary,
    run_logger,
    slot,
)

PROCESS = "go-no-go"


@flow(
    name="go-no-go-gates",
    description="Release sign-off from declared gates: score, key-gate veto, verdict.",
    task_runner=ThreadPoolTaskRunner(max_workers=32),
    **persisted_results(),
)
def go_no_go_gates(
    config: str = str(DEFAULT_GATES_FILE),
    gates: list[str] | None = None,
    profile: str | None = None,
    strict_manual: bool | None = None,
    out: str | None = None,
    previous: str | None = None,
    interactive: bool = False,
    sign_off_timeout_sec: int = 3600,
    all_gates: bool = False,
) -> State:
    """Run the gates of ``config`` and give the release verdict.

    ``interactive`` pauses for an operator's sign-off of each manual gate (UI runs); otherwise
    manual gates are marked for follow-up (🔧). Relative thresholds compare with the last
    accepted run of the profile (``$WARDEN_HOME/gates/accepted_metrics.json``), or with
    ``previous``: an accepted run's gate_results.json, or a folder of runs.
    """
    logger = run_logger()
    started = utc_now()
    plan = plan_gates(config, gates, profile, strict_manual, all_gates)
    for note in plan.notes:
        logger.info(note)
    out_root = warden_home() / "out" / "gates"
    out_dir = Path(out) if out else out_root / run_stamp(started)
    try:
        ensure_kill_switch_off(PROCESS)
    except KillSwitchOn as exc:
        report = refused_report(plan, started, config, exc)
        return Failed(message=str(exc), data=report)

    ensure_concurrency_limits()
    emit(PROCESS, "begin", "gates", plan.profile, {"gates": plan.names})
    references = read_references(previous, plan.profile, plan.gates)
    with slot(GATE_SUITES, CONCURRENCY_LIMITS[GATE_SUITES]):
        results = _run_gates(plan, references, started)
    if interactive:
        results = [
            request_sign_off(r, sign_off_timeout_sec) if _awaits_sign_off(r) else r for r in results
        ]

    report = assemble_report(plan, results, started, config, str(out_dir))
    report = report.model_copy(update={"references_recorded": record_accepted_run(report)})
    write_gate_outputs(report, str(out_dir))
    key = artifact_key(PROCESS, plan.profile)
    publish_summary(key, sign_off_markdown(report), table_rows(report), f"go/no-go {plan.profile}")
    verdict = {"verdict": report.verdict, "score": report.score}
    emit(PROCESS, "verdict", "gates", plan.profile, verdict, {VERDICT_LABEL: str(report.verdict)})
    logger.info("verdict %s, score %.1f (%s)", report.verdict, report.score, report.band)
    message = f"{report.verdict}: score {report.score:.1f}; " + "; ".join(report.reasons)
    if report.exit_code:
        return Failed(message=message, data=report)
    return Completed(message=message, data=report)


def _run_gates(
    plan: GatePlan, references: dict[str, Reference], started: datetime
) -> list[GateResult]:
    """Submit every gate at once; a gate waits only for the gates it depends on."""
    futures: dict[str, PrefectFuture[GateResult]] = {}
    for gate in plan.gates:
        futures[gate.name] = run_gate.submit(
            gate,
            str(Path.cwd()),
            plan.env,
            references.get(gate.name),
            started,
            [futures[dep] for dep in gate.depends_on],
        )
    update = progress(artifact_key(PROCESS, f"{plan.profile}-progress"))
    for done, _ in enumerate(as_completed(list(futures.values())), start=1):
        update(100.0 * done / len(futures))
    return [_resolved(gate, futures[gate.name]) for gate in plan.gates]


def _resolved(gate: Gate, future: PrefectFuture[GateResult]) -> GateResult:
    """A future's result; a task that crashed (or never ran) is a failed gate, not a lost run."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, GateResult):
        return result
    return crashed_result(gate, result)


def _awaits_sign_off(result: GateResult) -> bool:
    return result.mode is GateMode.MANUAL and result.status is GateStatus.MANUAL_FOLLOWUP
