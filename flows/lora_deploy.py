"""LoRA gauntlet deploy (seed 000): canary-deploy an adapter behind a gauntlet, roll back on fail.

kill switch (first: before any side effect) -> switches (default < .env < environment < block
< parameters) -> A2A bus (bounded drain of earlier events) -> adapter integrity -> version ->
GAUNTLET_ENABLED? no: deploy directly (inert default) | yes: readiness -> dataset -> kill switch
-> GAUNTLET_BEGIN -> [canary deploy -> gauntlet (GAUNTLET_MODE: canary sample | full), or the
mock (SKIP_GAUNTLET)] -> GAUNTLET_PASS -> kill switch -> promote | GAUNTLET_FAIL -> rollback.

Every BEGIN gets exactly one PASS or FAIL; whatever stops a run after the canary is deployed
(a failed deploy, a gauntlet error, the kill switch, a failed promotion) rolls the canary back.
Events go to Prefect (``warden.gauntlet.*``) and, with A2A enabled, into the durable spool of
the webhook bus before they are sent; an A2A problem is logged and evented, never fatal.
``lora_gauntlet`` runs the gauntlet alone against whatever a target serves.
"""

from __future__ import annotations

import time
from datetime import timedelta

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.errors import KillSwitchOn, UsageError, WardenError
from blocks.lora import DEFAULT_LORA_FILE, LoraFile, load_lora_file
from blocks.storage import persisted_results
from tasks.events import BestEffortBus
from tasks.lora.admission import already_stable, check_mock_allowed
from tasks.lora.registry import Pointers, adapter_model_name
from tasks.lora.report import (
    FAILING,
    DeployOutcome,
    DeployRecord,
    LoraDeployReport,
    render_markdown,
)
from tasks.lora.steps import (
    PROCESS,
    announce,
    check_adapter,
    check_dataset,
    check_operational_readiness,
    deploy_canary,
    open_bus,
    promote_canary,
    read_pointers,
    read_stored_sha256,
    read_switches,
    roll_back,
    run_gauntlet,
)
from tasks.lora.switches import GauntletMode, Switches, describe_switches
from tasks.lora.verdict import GauntletVerdict, check_first_deploy_floor
from tasks.lora.verdict_summary import verdict_markdown, verdict_rows
from tasks.platform.naming import artifact_key, utc_now
from tasks.platform.steps import emit, ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="lora-deploy",
    description="Canary-deploy a LoRA adapter behind the gauntlet; roll back on failure.",
    **persisted_results(),
)
def lora_deploy(
    adapter: str,
    target: str = "demo",
    version: str | None = None,
    config: str = str(DEFAULT_LORA_FILE),
    gauntlet_enabled: bool | None = None,
    a2a_enabled: bool | None = None,
    gauntlet_mode: str | None = None,
    skip_gauntlet: bool | None = None,
) -> State:
    """Deploy the adapter folder ``adapter`` to ``target`` as ``version`` (default: its hash).

    The four switch parameters override the settings block, the environment and ``.env``;
    left empty they defer to them (GAUNTLET_ENABLED defaults to false: deploy directly).
    """
    lora = load_lora_file(config)
    lora.target(target)  # an unknown target is a usage error before anything else
    parameters = {
        "GAUNTLET_ENABLED": gauntlet_enabled,
        "A2A_ENABLED": a2a_enabled,
        "GAUNTLET_MODE": gauntlet_mode,
        "SKIP_GAUNTLET": skip_gauntlet,
    }
    switches = read_switches(lora, parameters)  # reads only: bad switches change nothing
    run = DeployRecord(
        target=target,
        adapter=adapter,
        version=version,
        started_at=utc_now(),
        switches=describe_switches(switches),
    )
    run_logger().info("switches: %s", run.switches)
    bus: BestEffortBus | None = None
    try:
        ensure_kill_switch_off(PROCESS)  # before any side effect: no spool, event or deploy
        check_mock_allowed(target, lora.target(target), switches)
        bus = open_bus(lora, switches, target)
        if bus is not None:  # earlier runs' events first, whatever their backoff; bounded
            bus.drain(budget_seconds=lora.a2a.drain_seconds, now=utc_now() + timedelta(days=1))
        _deploy(run, lora, switches, bus)
    except KillSwitchOn as exc:
        run.end(DeployOutcome.KILL_SWITCH_ON, reasons=[str(exc)])
    except WardenError as exc:
        run.end(DeployOutcome.ERROR, code=int(exc.code), reasons=[str(exc)])
    finally:
        if bus is not None:
            run.a2a = bus.close(timeout=5.0)
    report = run.report(utc_now())
    key = artifact_key("lora-deploy", target)
    publish_summary(key, render_markdown(report), [_row(report)], f"LoRA deploy {target}")
    message = f"{report.outcome}: " + ("; ".join(report.reasons) or f"version {report.version}")
    run_logger().info(message)
    if report.outcome in FAILING:
        return Failed(message=message, data=report)
    return Completed(message=message, data=report)


def _deploy(run: DeployRecord, lora: LoraFile, switches: Switches, bus) -> None:
    target = run.target
    inspection = check_adapter(run.adapter, lora)
    run.adapter_sha256 = inspection.sha256 or None
    if not inspection.ok:
        reasons = [f"{p.code}: {p.message}" for p in inspection.problems]
        return run.end(DeployOutcome.REFUSED, reasons=reasons)
    run.version = run.version or f"sha-{inspection.sha256[:12]}"
    before = read_pointers(target, lora)
    run.stable_before = run.stable_after = before.stable
    stored = read_stored_sha256(target, lora, run.version)
    if already_stable(before, run.version, stored, inspection.sha256):
        return run.end(DeployOutcome.ALREADY_STABLE)

    if not switches.gauntlet_enabled:
        run_logger().info("gauntlet skipped: disabled (GAUNTLET_ENABLED=false)")
        emit(
            PROCESS,
            "skipped",
            "lora-target",
            target,
            {"reason": "disabled", "version": run.version},
        )
        ensure_kill_switch_off(PROCESS)  # before the deploy
        _guarded(run, lora, lambda: deploy_canary(target, lora, run.version, run.adapter))
        _promote(run, lora)
        return run.end(DeployOutcome.DEPLOYED)

    readiness = check_operational_readiness(lora.readiness)
    if not readiness.ready:
        run.readiness = readiness.reasons
        why = "operations not ready for the gauntlet: " + "; ".join(readiness.reasons)
        return run.end(DeployOutcome.NOT_READY, reasons=[why])
    mock = switches.skip_gauntlet
    if not mock:
        check_dataset(lora)  # a changed dataset is refused before anything is deployed
        check_first_deploy_floor(lora.gauntlet.policy, has_stable=before.stable is not None)
    ensure_kill_switch_off(PROCESS)  # before the canary deploy
    _gauntlet(run, lora, switches, bus, mock=mock)


def _gauntlet(run: DeployRecord, lora: LoraFile, switches: Switches, bus, *, mock: bool) -> None:
    """BEGIN -> canary -> gauntlet (or the mock) -> one PASS or FAIL -> promote or roll back."""
    target, started = run.target, time.monotonic()
    announce("begin", lora, target, bus, mode=str(switches.gauntlet_mode), mock=mock)
    failure_reason = "canary_deploy_failed"
    try:
        pointers = deploy_canary(target, lora, run.version, run.adapter)
        failure_reason = "gauntlet_error"
        verdict = None if mock else _judge_canary(target, lora, pointers, switches.gauntlet_mode)
    except BaseException as exc:  # no canary outlives a gauntlet that could not finish
        announce("fail", lora, target, bus, failure_reason=failure_reason, mock=mock)
        _roll_back_after(run, lora, exc)
        raise
    run.gauntlet = verdict
    if verdict is None or verdict.passed:
        duration = round(time.monotonic() - started, 3)
        announce("pass", lora, target, bus, duration_seconds=duration, mock=mock)
        _promote(run, lora)
        return run.end(DeployOutcome.PROMOTED_UNTESTED if mock else DeployOutcome.PROMOTED)
    failure_reason = verdict.failure_reason or "canary_test_failed"
    announce("fail", lora, target, bus, failure_reason=failure_reason)
    run.rollback = roll_back(target, lora)
    run.stable_after = run.rollback.stable
    reasons = [f"{r.code}: {r.message}" for r in verdict.reasons]
    run.end(DeployOutcome.ROLLED_BACK, reasons=reasons or [f"gauntlet failed: {failure_reason}"])


def _guarded(run: DeployRecord, lora: LoraFile, step) -> None:
    """Run a step that changes the target; if it fails, roll the canary back, then re-raise."""
    try:
        step()
    except BaseException as exc:
        _roll_back_after(run, lora, exc)
        raise


def _promote(run: DeployRecord, lora: LoraFile) -> None:
    """Kill switch (again, before the irreversible step), then promote; else roll back."""

    def promote() -> None:
        ensure_kill_switch_off(PROCESS)
        run.stable_after = promote_canary(run.target, lora).stable

    _guarded(run, lora, promote)


def _roll_back_after(run: DeployRecord, lora: LoraFile, error: BaseException) -> None:
    """The rollback handler after ``error``; its own failure is recorded, ``error`` prevails."""
    run_logger().warning("rolling the canary back after %s", type(error).__name__)
    try:
        run.rollback = roll_back(run.target, lora)
        run.stable_after = run.rollback.stable
    except Exception as exc:
        run.reasons = [*run.reasons, f"rollback failed too: {type(exc).__name__}: {exc}"]


def _judge_canary(
    target: str, lora: LoraFile, pointers: Pointers, mode: GauntletMode
) -> GauntletVerdict:
    """The gauntlet's verdict on the canary against stable."""
    canary, stable = _default_models(target, lora, pointers)
    return _judge(target, lora, canary, stable, mode)


def _judge(
    target: str, lora: LoraFile, candidate: str, baseline: str | None, mode: GauntletMode
) -> GauntletVerdict:
    """Run the gauntlet and publish its verdict as the ``lora-gauntlet-<target>`` artifact."""
    verdict = run_gauntlet(target, lora, candidate, baseline, mode)
    publish_summary(
        artifact_key("lora-gauntlet", target),
        verdict_markdown(verdict),
        verdict_rows(verdict),
        f"LoRA gauntlet {target}",
    )
    return verdict


def _row(report: LoraDeployReport) -> dict:
    verdict = report.gauntlet
    not_run = "mock" if report.outcome is DeployOutcome.PROMOTED_UNTESTED else "not run"
    return {
        "target": report.target,
        "version": report.version or "",
        "outcome": str(report.outcome),
        "stable_before": report.stable_before or "",
        "stable_after": report.stable_after or "",
        "gauntlet": f"{verdict.status} ({verdict.mode})" if verdict else not_run,
        "reasons": "; ".join(report.reasons)[:300],
    }


@flow(
    name="lora-gauntlet",
    description="Run the sealed gauntlet against a target's canary and stable adapters.",
    **persisted_results(),
)
def lora_gauntlet(
    target: str = "demo",
    candidate: str | None = None,
    baseline: str | None = None,
    config: str = str(DEFAULT_LORA_FILE),
    mode: GauntletMode = GauntletMode.FULL,
) -> State:
    """The gauntlet alone: ``candidate`` (default: the canary, else the stable adapter) against
    ``baseline`` (default: the stable adapter; none on a first deploy). Names are model names.
    ``mode`` full runs every prompt, canary the stratified sample a deploy's canary runs."""
    lora = load_lora_file(config)
    lora.target(target)
    ensure_kill_switch_off(PROCESS)  # first: a run stopped by it ends Failed (exit 3)
    pointers = read_pointers(target, lora)
    canary, stable = _default_models(target, lora, pointers)
    candidate = candidate or canary or stable
    if candidate is None:
        raise _nothing_deployed(target)
    baseline = baseline if baseline is not None else (stable if candidate != stable else None)
    verdict = _judge(target, lora, candidate, baseline, GauntletMode(mode))
    message = f"{verdict.status}: " + "; ".join(r.message for r in verdict.reasons)
    return (
        Completed(message=message, data=verdict)
        if verdict.passed
        else Failed(message=message, data=verdict)
    )


def _default_models(
    target: str, lora: LoraFile, pointers: Pointers
) -> tuple[str | None, str | None]:
    """The model names the endpoint knows the canary and the stable adapter by."""
    prefix = lora.target(target).name_prefix
    return (
        adapter_model_name(prefix, pointers.canary) if pointers.canary else None,
        adapter_model_name(prefix, pointers.stable) if pointers.stable else None,
    )


def _nothing_deployed(target: str) -> WardenError:
    return UsageError(
        f"target {target!r} has no canary and no stable adapter to run the gauntlet against",
        remediation="Deploy one first (warden lora deploy ADAPTER --target T) or pass --candidate.",
    )
