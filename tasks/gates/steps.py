"""Prefect tasks of the go/no-go suite: thin wrappers with their policies, then pure code."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterStartTime,
)
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from pydantic import ValidationError

from blocks.gates import FlowRunGate, Gate, load_gates_file
from blocks.storage import warden_home
from tasks.gates.checkpoint_check import evaluate_checkpoint
from tasks.gates.command import evaluate_command
from tasks.gates.coverage import evaluate_coverage
from tasks.gates.flow_runs import LatestRun, evaluate_flow_run
from tasks.gates.http_check import evaluate_http
from tasks.gates.models import CheckOutcome, GateResult, GateStatus, GateSuiteReport, Reference
from tasks.gates.outputs import write_outputs
from tasks.gates.references import (
    StoreUnreadable,
    accepted_references,
    given_references,
    record_accepted,
    store_path,
)
from tasks.gates.scoring import SignOff, apply_sign_off, finalize, skipped_result
from tasks.gates.selection import GatePlan, plan_run
from tasks.platform.steps import SignOffNotReceived, ask_sign_off, run_logger, step


@step(cache_policy=NO_CACHE)
def plan_gates(
    config: str,
    gates: list[str] | None,
    profile: str | None,
    strict_manual: bool | None,
    all_gates: bool = False,
) -> GatePlan:
    """Load and validate the gates file whole, then resolve the operator's options."""
    return plan_run(
        load_gates_file(config),
        selected=gates,
        all_gates=all_gates,
        profile=profile,
        strict_manual=strict_manual,
    )


@step(cache_policy=NO_CACHE)
def read_references(
    previous: str | None, profile: str, gates: Sequence[Gate]
) -> dict[str, Reference]:
    """What relative thresholds compare with: the named run, else the last accepted one."""
    if previous:
        return given_references(Path(previous), profile, gates)
    return accepted_references(store_path(warden_home()), profile, gates)


@step(cache_policy=NO_CACHE)
def record_accepted_run(report: GateSuiteReport) -> list[str]:
    """Keep an accepted run's metric values as the next runs' reference."""
    try:
        return record_accepted(store_path(warden_home()), report)
    except (StoreUnreadable, OSError) as exc:
        run_logger().error("accepted metrics not recorded: %s", exc)
        return []


@step(task_run_name="run_gate-{gate.name}", cache_policy=NO_CACHE)
def run_gate(
    gate: Gate,
    base_dir: str,
    env: dict[str, str],
    reference: Reference | None,
    started: datetime,
    upstream: list[GateResult],
) -> GateResult:
    """Evaluate one gate once its dependencies are done; a failed dependency fails it."""
    failed = [result.name for result in upstream if result.status is GateStatus.FAILED]
    if failed:
        return skipped_result(gate, failed)
    clock = time.perf_counter()
    try:
        outcome = _evaluate(gate, Path(base_dir), env, started)
    except Exception as exc:  # a crashing check is a failed gate in the report, not a lost run
        message = f"the {gate.kind} check crashed: {type(exc).__name__}: {exc}"
        outcome = CheckOutcome(ok=False, reason="check_crashed", details={"message": message})
    duration = time.perf_counter() - clock
    return finalize(gate, outcome, duration_sec=duration, previous_metric=reference)


def _evaluate(gate: Gate, base_dir: Path, env: dict[str, str], started: datetime) -> CheckOutcome:
    match gate.kind:
        case "command":
            return evaluate_command(gate, base_dir, env)
        case "http":
            return evaluate_http(gate)
        case "coverage":
            return evaluate_coverage(gate, base_dir, started=started)
        case "flow-run":
            return evaluate_flow_run(gate, latest_run(gate), datetime.now(UTC))
        case "manual":
            return CheckOutcome(ok=True, details={"instructions": gate.instructions})
        case "checkpoint":
            return evaluate_checkpoint(gate, base_dir)
    raise AssertionError(f"unhandled gate kind {gate.kind}")


def latest_run(gate: FlowRunGate) -> LatestRun | None:
    """The deployment's most recently started run, read from the Prefect API."""
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(gate.deployment)
        except ObjectNotFound:
            return None
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(is_null_=False)),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    if not runs or runs[0].state is None:
        return None
    run = runs[0]
    return LatestRun(
        id=str(run.id),
        name=run.name,
        state_type=run.state.type.value,
        state_name=run.state.name,
        start_time=run.start_time,
        end_time=run.end_time,
    )


def request_sign_off(result: GateResult, timeout_sec: int) -> GateResult:
    """Pause the flow run until an operator signs the gate off in the UI (flow context only).

    No answer in time fails the gate (``sign_off_missing``); an answer that is not a valid
    sign-off (an empty signer) fails it too (``sign_off_invalid``): it never crashes the run.
    """
    description = f"Sign off gate **{result.name}**: {result.details.get('instructions', '')}"
    try:
        answer = ask_sign_off(description, result.name, timeout_sec)
    except SignOffNotReceived as exc:
        return apply_sign_off(result, None, failure=f"sign-off not received: {exc}")
    try:
        sign_off = SignOff(
            who=answer.signer,
            approved=answer.approved,
            evidence_link=answer.evidence_link,
            comment=answer.comment,
        )
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
        failure = f"the sign-off form was not valid ({fields}): sign off again with a signer"
        return apply_sign_off(result, None, failure=failure, reason="sign_off_invalid")
    return apply_sign_off(result, sign_off)


@step(cache_policy=NO_CACHE)
def write_gate_outputs(report: GateSuiteReport, out_dir: str) -> list[str]:
    return [str(path) for path in write_outputs(report, Path(out_dir))]
