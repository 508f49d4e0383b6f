"""LoRA gauntlet deploy (seed 000): canary-deploy an adapter behind a gauntlet, roll back on fail.

switches (default < .env < environment < block < parameters) -> kill switch -> adapter
integrity -> GAUNTLET_ENABLED? no: deploy directly (inert default) | yes: readiness ->
GAUNTLET_BEGIN -> canary -> gauntlet (canary and stable side by side; SKIP_GAUNTLET: mock pass)
-> GAUNTLET_PASS -> promote | GAUNTLET_FAIL -> rollback handler -> fail.

Events go to Prefect (``warden.gauntlet.*``) and, with A2A enabled, to the webhook bus through
the best-effort publisher (spooled when the bus is down, never blocking the deploy).
``lora_gauntlet`` runs the gauntlet alone against whatever a target serves.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.errors import ExitCode, KillSwitchOn, UsageError, WardenError
from blocks.lora import DEFAULT_LORA_FILE, LoraFile, load_lora_file
from blocks.storage import persisted_results
from tasks.events import A2AEvent, EventPublisher
from tasks.lora import verdict as gauntlet_report
from tasks.lora.registry import Pointers, adapter_model_name
from tasks.lora.report import FAILING, LoraDeployReport, Outcome, render_markdown
from tasks.lora.steps import (
    a2a_event,
    check_adapter,
    check_dataset,
    check_operational_readiness,
    deploy_canary,
    effective_switches,
    open_publisher,
    promote_canary,
    read_pointers,
    roll_back,
    run_gauntlet,
)
from tasks.lora.switches import describe
from tasks.lora.verdict import Verdict
from tasks.platform.naming import artifact_key, utc_now
from tasks.platform.steps import emit, ensure_kill_switch_off, publish_summary, run_logger

PROCESS = "gauntlet"


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
    logger = run_logger()
    lora = load_lora_file(config)
    lora.target(target)  # an unknown target is a usage error before anything else
    parameters = {
        "GAUNTLET_ENABLED": gauntlet_enabled,
        "A2A_ENABLED": a2a_enabled,
        "GAUNTLET_MODE": gauntlet_mode,
        "SKIP_GAUNTLET": skip_gauntlet,
    }
    switches = effective_switches(lora, parameters)
    logger.info("switches: %s", describe(switches))
    facts: dict = {
        "target": target,
        "adapter": adapter,
        "version": version,
        "started_at": utc_now(),
        "switches": describe(switches),
    }
    publisher = open_publisher(lora, switches)
    try:
        if publisher is not None:
            # a new run retries what earlier runs spooled at once, whatever their backoff
            drained = publisher.drain_spool(now=utc_now() + timedelta(days=1))
            if drained.sent:
                logger.info("A2A: delivered %d spooled event(s) from earlier runs", drained.sent)
        ensure_kill_switch_off(PROCESS)
        facts.update(_deploy(lora, target, adapter, version, switches, publisher))
    except KillSwitchOn as exc:
        facts.update(outcome=Outcome.KILL_SWITCH_ON, exit_code=int(exc.code), reasons=[str(exc)])
    except WardenError as exc:
        facts.update(outcome=Outcome.ERROR, exit_code=int(exc.code), reasons=[str(exc)])
    finally:
        if publisher is not None:
            publisher.close(timeout=5.0)
            facts["events_spooled"] = publisher.stats().pending
    report = LoraDeployReport(**(facts | {"finished_at": utc_now()}))
    key = artifact_key("lora-deploy", target)
    publish_summary(key, render_markdown(report), [_row(report)], f"LoRA deploy {target}")
    message = f"{report.outcome}: " + ("; ".join(report.reasons) or f"version {report.version}")
    logger.info(message)
    if report.outcome in FAILING:
        return Failed(message=message, data=report)
    return Completed(message=message, data=report)


def _deploy(
    lora: LoraFile,
    target: str,
    adapter: str,
    version: str | None,
    switches,
    publisher: EventPublisher | None,
) -> dict:
    logger = run_logger()
    inspection = check_adapter(adapter, lora)
    found: dict = {"adapter_sha256": inspection.sha256 or None}
    if not inspection.ok:
        reasons = [f"{p.code}: {p.message}" for p in inspection.problems]
        return found | {"outcome": Outcome.REFUSED, "exit_code": 1, "reasons": reasons}
    version = version or f"sha-{inspection.sha256[:12]}"
    before = read_pointers(target, lora)
    found.update(version=version, stable_before=before.stable, stable_after=before.stable)
    if before.stable == version:
        return found | {"outcome": Outcome.ALREADY_STABLE, "exit_code": 0}

    if not switches.gauntlet_enabled:
        logger.info("gauntlet skipped: disabled (GAUNTLET_ENABLED=false); deploying directly")
        emit(PROCESS, "skipped", "lora-target", target, {"reason": "disabled", "version": version})
        deploy_canary(target, lora, version, adapter)
        after = promote_canary(target, lora)
        return found | {"outcome": Outcome.DEPLOYED, "exit_code": 0, "stable_after": after.stable}

    readiness = check_operational_readiness(lora.readiness)
    if not readiness.ready:
        return found | {
            "outcome": Outcome.NOT_READY,
            "exit_code": int(ExitCode.VERDICT_FAILED),
            "readiness": readiness.reasons,
            "reasons": ["operations not ready for the gauntlet: " + "; ".join(readiness.reasons)],
        }

    if not switches.skip_gauntlet:
        check_dataset(lora)  # a changed dataset is refused before anything is deployed
    started = time.monotonic()
    _announce("begin", lora, target, publisher, mode=str(switches.gauntlet_mode))
    pointers = deploy_canary(target, lora, version, adapter)
    try:
        verdict = _judge_canary(target, lora, pointers, switches)
    except BaseException:  # the canary must not outlive a gauntlet that could not finish
        _announce("fail", lora, target, publisher, failure_reason="gauntlet_error")
        roll_back(target, lora)
        raise
    found["gauntlet"] = verdict
    passed = verdict is None or verdict.passed
    if passed:
        duration = round(time.monotonic() - started, 3)
        _announce("pass", lora, target, publisher, duration_seconds=duration)
        after = promote_canary(target, lora)
        return found | {"outcome": Outcome.PROMOTED, "exit_code": 0, "stable_after": after.stable}

    failure_reason = verdict.failure_reason or "canary_test_failed"
    _announce("fail", lora, target, publisher, failure_reason=failure_reason)
    rollback = roll_back(target, lora)
    return found | {
        "outcome": Outcome.ROLLED_BACK,
        "exit_code": int(ExitCode.VERDICT_FAILED),
        "rollback": rollback,
        "stable_after": rollback.stable,
        "reasons": [f"{r.code}: {r.message}" for r in verdict.reasons]
        or [f"gauntlet failed: {failure_reason}"],
    }


def _judge_canary(target: str, lora: LoraFile, pointers: Pointers, switches) -> Verdict | None:
    """The gauntlet's verdict on the canary against stable; None for the seed's mock gauntlet."""
    if switches.skip_gauntlet:
        run_logger().info(
            "SKIP_GAUNTLET: the mock gauntlet passes without running (the seed's CI mode)"
        )
        return None
    canary, stable = _default_models(target, lora, pointers)
    verdict = run_gauntlet(target, lora, canary, stable)
    publish_summary(
        artifact_key("lora-gauntlet", target),
        gauntlet_report.render_markdown(verdict),
        gauntlet_report.table_rows(verdict),
        f"LoRA gauntlet {target}",
    )
    return verdict


def _announce(kind: str, lora: LoraFile, target: str, publisher, **metadata) -> A2AEvent:
    """One lifecycle event: to Prefect always, to the A2A bus when enabled (never blocking)."""
    event = a2a_event(kind, lora, **metadata)
    emit(PROCESS, kind, "lora-target", target, json.loads(event.to_json()))
    if publisher is not None:
        publisher.publish(event)
    return event


def _row(report: LoraDeployReport) -> dict:
    verdict = report.gauntlet
    return {
        "target": report.target,
        "version": report.version or "",
        "outcome": str(report.outcome),
        "stable_before": report.stable_before or "",
        "stable_after": report.stable_after or "",
        "gauntlet": str(verdict.status) if verdict else "not run",
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
) -> State:
    """The gauntlet alone: ``candidate`` (default: the canary, else the stable adapter) against
    ``baseline`` (default: the stable adapter; none on a first deploy). Names are model names."""
    lora = load_lora_file(config)
    lora.target(target)
    ensure_kill_switch_off(PROCESS)
    pointers = read_pointers(target, lora)
    canary, stable = _default_models(target, lora, pointers)
    candidate = candidate or canary or stable
    if candidate is None:
        raise _nothing_deployed(target)
    baseline = baseline if baseline is not None else (stable if candidate != stable else None)
    verdict = run_gauntlet(target, lora, candidate, baseline)
    publish_summary(
        artifact_key("lora-gauntlet", target),
        gauntlet_report.render_markdown(verdict),
        gauntlet_report.table_rows(verdict),
        f"LoRA gauntlet {target}",
    )
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
