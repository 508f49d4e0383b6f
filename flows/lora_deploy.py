"""LoRA gauntlet deploy (seed 000): canary-deploy an adapter behind a gauntlet, roll back on fail.

kill switch (first: before any side effect) -> switches (default < .env < environment < block
< parameters) -> A2A bus (bounded drain of earlier events) -> adapter integrity -> version ->
GAUNTLET_ENABLED? no: deploy directly (inert default) | yes: readiness -> dataset -> kill switch
-> GAUNTLET_BEGIN -> [canary deploy -> gauntlet (GAUNTLET_MODE: canary sample | full), or the
mock (SKIP_GAUNTLET)] -> GAUNTLET_PASS -> kill switch -> promote | GAUNTLET_FAIL -> rollback.

Every BEGIN gets exactly one PASS or FAIL; whatever stops a run after the canary is deployed
(a failed deploy, a gauntlet error, the kill switch, a failed promotion) rolls the canary back.
Each step's result goes into one DeployRecord (tasks/lora/report.py), whose rules decide the
outcome; the report, its artifacts and the run's state all come from it. The canary's gauntlet
is flows/lora_gauntlet.py's ``judge``, which also publishes its verdict.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.errors import WardenError
from blocks.lora import DEFAULT_LORA_FILE, LoraFile, load_lora_file
from blocks.storage import persisted_results
from flows.lora_gauntlet import judge
from tasks.events import BestEffortBus
from tasks.lora import steps
from tasks.lora.admission import already_stable, check_mock_allowed
from tasks.lora.report import (
    DeployOutcome,
    DeployRecord,
    GauntletStopped,
    deploy_markdown,
    deploy_row,
)
from tasks.lora.sides import served_models
from tasks.lora.switches import Switches, switch_parameters
from tasks.lora.verdict import check_first_deploy_floor
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


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
    parameters = switch_parameters(gauntlet_enabled, a2a_enabled, gauntlet_mode, skip_gauntlet)
    switches = steps.read_switches(lora, parameters)  # reads only: bad switches change nothing
    run = DeployRecord.start(target, adapter, version, switches)
    run_logger().info("switches: %s", run.switches)
    bus: BestEffortBus | None = None
    try:
        ensure_kill_switch_off(steps.PROCESS)  # before any side effect: no spool, event or deploy
        check_mock_allowed(target, lora.target(target), switches)
        bus = steps.open_bus(lora, switches, target)
        _deploy(run, lora, switches, bus)
    except WardenError as exc:  # the kill switch, or a typed error: the record says which
        run.stopped_by(exc)
    finally:
        if bus is not None:
            run.a2a = bus.close(timeout=5.0)
    report = run.report(utc_now())
    key, title = artifact_key("lora-deploy", target), f"LoRA deploy {target}"
    publish_summary(key, deploy_markdown(report), [deploy_row(report)], title)
    run_logger().info(report.summary)
    return (Failed if report.failed else Completed)(message=report.summary, data=report)


def _deploy(run: DeployRecord, lora: LoraFile, switches: Switches, bus) -> None:
    """Adapter integrity -> version -> GAUNTLET_ENABLED? deploy directly : the gauntlet."""
    inspection = steps.check_adapter(run.adapter, lora)
    if not run.inspected(inspection):
        return
    before = steps.read_pointers(run.target, lora)
    run.saw_stable(before)
    stored = steps.read_stored_sha256(run.target, lora, run.version)
    if already_stable(before, run.version, stored, inspection.sha256):
        return run.end(DeployOutcome.ALREADY_STABLE)
    if not switches.gauntlet_enabled:
        steps.announce_skipped(run.target, run.version)
        ensure_kill_switch_off(steps.PROCESS)  # before the deploy
        with steps.rolled_back_on_error(run, lora):
            steps.deploy_canary(run.target, lora, run.version, run.adapter)
            return _promote(run, lora, switches)
    if not run.ready(steps.check_operational_readiness(lora.readiness)):
        return
    if not switches.skip_gauntlet:  # a changed dataset is refused before anything is deployed
        steps.check_dataset(lora)
        check_first_deploy_floor(lora.gauntlet.policy, has_stable=before.stable is not None)
    ensure_kill_switch_off(steps.PROCESS)  # before the canary deploy
    _gauntlet(run, lora, switches, bus)


def _gauntlet(run: DeployRecord, lora: LoraFile, switches: Switches, bus) -> None:
    """BEGIN -> canary -> gauntlet (or the mock) -> one PASS or FAIL -> promote or roll back."""
    target, mock, started = run.target, switches.skip_gauntlet, time.monotonic()
    steps.announce("begin", lora, target, bus, mode=str(switches.gauntlet_mode), mock=mock)
    failure_reason = GauntletStopped.CANARY_DEPLOY
    with steps.rolled_back_on_error(run, lora):  # no canary outlives a gauntlet that did not finish
        try:
            pointers = steps.deploy_canary(target, lora, run.version, run.adapter)
            failure_reason = GauntletStopped.GAUNTLET
            canary, stable = served_models(lora.target(target).name_prefix, pointers)
            verdict = None if mock else judge(target, lora, canary, stable, switches.gauntlet_mode)
        except BaseException:
            steps.announce("fail", lora, target, bus, failure_reason=failure_reason, mock=mock)
            raise
    if run.judged(verdict):
        duration = round(time.monotonic() - started, 3)
        steps.announce("pass", lora, target, bus, duration_seconds=duration, mock=mock)
        with steps.rolled_back_on_error(run, lora):
            return _promote(run, lora, switches)
    steps.announce("fail", lora, target, bus, failure_reason=run.fail_reason())
    run.rolled_back_after_gauntlet(steps.roll_back(target, lora))


def _promote(run: DeployRecord, lora: LoraFile, switches: Switches) -> None:
    ensure_kill_switch_off(steps.PROCESS)  # again, before the irreversible step
    outcome = DeployOutcome.of_promotion(switches.gauntlet_enabled, mock=switches.skip_gauntlet)
    run.promoted(steps.promote_canary(run.target, lora), outcome)
