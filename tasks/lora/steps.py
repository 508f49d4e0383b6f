"""Prefect tasks of the LoRA gauntlet deploy: thin wrappers with their policies.

Each task's name is its function's name (no ``name=``), so a task run seen in the UI greps to
its code.

Deploy, promote and rollback change a target: never cached; rollback is idempotent, so it
retries. The gauntlet's own concurrency lives inside one task (async requests), never one
task per prompt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from prefect.cache_policies import NO_CACHE

from blocks.errors import ConfigError
from blocks.lora import LoraFile, ReadinessSpec
from blocks.lora_settings import read_switch_inputs
from tasks.events import A2AEvent, A2AProblem, BestEffortBus, ProblemKind
from tasks.lora.adapter import AdapterReport, inspect_adapter
from tasks.lora.dataset import load_dataset
from tasks.lora.gauntlet import run_side_by_side, run_sync
from tasks.lora.readiness import Readiness, check_readiness
from tasks.lora.registry import Pointers, RollbackResult
from tasks.lora.report import DeployRecord
from tasks.lora.sampling import select_prompts
from tasks.lora.switches import GauntletMode, Switches, resolve_switches
from tasks.lora.verdict import GauntletVerdict, judge_gauntlet
from tasks.lora.wiring import (
    deploy_target,
    expand_url,
    gauntlet_target,
    readiness_source,
    registry_of,
)
from tasks.platform.clock import utc_now
from tasks.platform.steps import emit, retry_if_retryable, run_logger, step

PROCESS = "gauntlet"


@step(cache_policy=NO_CACHE)
def read_switches(lora: LoraFile, parameters: dict) -> Switches:
    """default < .env < environment < settings block < flow parameters."""
    return resolve_switches(read_switch_inputs(lora), parameters)


@step(cache_policy=NO_CACHE)
def check_adapter(adapter: str, lora: LoraFile) -> AdapterReport:
    limits = lora.adapter
    return inspect_adapter(
        Path(adapter), max_bytes=limits.max_bytes, expected_rank=limits.expected_rank
    )


@step(cache_policy=NO_CACHE)
def check_operational_readiness(spec: ReadinessSpec | None) -> Readiness:
    if spec is None:
        return Readiness(
            ready=False,
            reasons=["no readiness source is configured (readiness: in the LoRA file)"],
            observation=None,
        )
    return check_readiness(readiness_source(spec), spec.policy)


@step(cache_policy=NO_CACHE)
def read_pointers(target: str, lora: LoraFile) -> Pointers:
    return deploy_target(target, lora).current()


@step(cache_policy=NO_CACHE)
def read_stored_sha256(target: str, lora: LoraFile, version: str) -> str | None:
    """The SHA-256 the target's registry holds for ``version``; None when it is not stored."""
    registry = registry_of(target, lora.target(target), lora)
    return registry.manifest(version)["sha256"] if version in registry.versions() else None


@step(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=retry_if_retryable,
)
def deploy_canary(target: str, lora: LoraFile, version: str, adapter: str) -> Pointers:
    backend = deploy_target(target, lora)
    backend.deploy_canary(version, Path(adapter))
    return backend.current()


@step(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=retry_if_retryable,
)
def promote_canary(target: str, lora: LoraFile) -> Pointers:
    backend = deploy_target(target, lora)
    backend.promote_canary()
    return backend.current()


@step(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=3)
def roll_back(target: str, lora: LoraFile) -> RollbackResult:
    """The rollback handler: restore the previous stable, unload the canary (idempotent).
    Every rollback that removed a canary (after a failed gauntlet, a stopped deploy, or by
    hand) emits ``warden.gauntlet.rollback``: the operator's notification routes on it."""
    result = deploy_target(target, lora).rollback()
    if result.rolled_back:
        emit(PROCESS, "rollback", "lora-target", target, result.model_dump(mode="json"))
    return result


@contextmanager
def rolled_back_on_error(run: DeployRecord, lora: LoraFile) -> Iterator[None]:
    """Whatever stops the block rolls the canary back, then goes on; if the rollback handler
    fails too, that is recorded and the first error prevails. Not a step: it runs in the flow."""
    try:
        yield
    except BaseException as error:
        run_logger().warning("rolling the canary back after %s", type(error).__name__)
        try:
            run.rolled_back(roll_back(run.target, lora))
        except Exception as exc:
            run.rollback_failed(exc)
        raise


@step(cache_policy=NO_CACHE)
def check_dataset(lora: LoraFile) -> str:
    """The sealed dataset still has its pinned hash and parses; returns the hash."""
    gauntlet = lora.gauntlet
    return load_dataset(gauntlet.dataset, pinned_sha256=gauntlet.dataset_sha256).sha256


@step(cache_policy=NO_CACHE)
def run_gauntlet(
    target: str, lora: LoraFile, candidate: str, stable: str | None, mode: GauntletMode
) -> GauntletVerdict:
    """The prompts ``mode`` selects from the sealed dataset against ``candidate`` and ``stable``
    side by side, then the verdict (which names the mode and how many prompts ran)."""
    spec, gauntlet = lora.target(target), lora.gauntlet
    sealed = load_dataset(gauntlet.dataset, pinned_sha256=gauntlet.dataset_sha256)
    dataset = select_prompts(
        sealed,
        mode,
        seed=candidate,
        min_per_domain=gauntlet.canary_min_per_domain,
        fraction=gauntlet.canary_fraction,
    )
    run_logger().info(
        "gauntlet mode %s: %d of %d prompts", mode, len(dataset.items), sealed.sealed_items
    )
    sides = run_sync(
        run_side_by_side(
            dataset,
            gauntlet_target(target, spec, candidate),
            gauntlet_target(target, spec, stable) if stable else None,
            concurrency=gauntlet.concurrency,
            timeout=gauntlet.timeout_seconds,
        )
    )
    return judge_gauntlet(sides.candidate, sides.stable, gauntlet.policy, mode=mode)


def open_bus(lora: LoraFile, switches: Switches, target: str) -> BestEffortBus | None:
    """The A2A bus when A2A is enabled, else None; it never raises (see BestEffortBus).

    Earlier runs' spooled events are delivered first, whatever their backoff, for at most
    ``a2a.drain_seconds``. The bus's problems are logged and emitted as ``warden.fallback.a2a``:
    the deploy goes on.
    """
    if not switches.a2a_enabled:
        return None
    a2a = lora.a2a

    def on_problem(problem: A2AProblem) -> None:
        run_logger().warning("A2A %s: %s (the deploy goes on)", problem.kind, problem.message)
        payload = {"problem": str(problem.kind), "message": problem.message, "target": target}
        emit("fallback", "a2a", "lora-target", target, payload)

    sink, unusable = None, None
    try:
        sink = expand_url(a2a.webhook_url, "a2a.webhook_url") if a2a.webhook_url else None
    except ConfigError as exc:  # an unset ${VAR} in the bus URL: spool only, and say so
        unusable = exc.message
    bus = BestEffortBus.open(
        sink, a2a.spool_path(), timeout=a2a.timeout_seconds, on_problem=on_problem
    )
    if unusable:
        bus.note(ProblemKind.SINK_UNUSABLE, f"{unusable}; spooling only")
    bus.drain(budget_seconds=a2a.drain_seconds, now=utc_now() + timedelta(days=1))
    return bus


def announce(
    kind: str, lora: LoraFile, target: str, bus: BestEffortBus | None, **metadata
) -> A2AEvent:
    """One lifecycle event: to Prefect always; with A2A, into the spool before this returns."""
    builder = {
        "begin": A2AEvent.gauntlet_begin,
        "pass": A2AEvent.gauntlet_pass,
        "fail": A2AEvent.gauntlet_fail,
    }[kind]
    event = builder(source=lora.a2a.source, **metadata)
    emit(PROCESS, kind, "lora-target", target, json.loads(event.to_json()))
    if bus is not None:
        bus.publish(event)
    return event


def announce_skipped(target: str, version: str) -> None:
    """GAUNTLET_ENABLED=false: log it and emit ``warden.gauntlet.skipped`` (no A2A event: the
    seed's hook is inert)."""
    run_logger().info("gauntlet skipped: disabled (GAUNTLET_ENABLED=false)")
    emit(PROCESS, "skipped", "lora-target", target, {"reason": "disabled", "version": version})
