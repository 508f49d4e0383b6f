"""Prefect tasks of the LoRA gauntlet deploy: thin wrappers with their policies.

Deploy, promote and rollback change a target: never cached; rollback is idempotent, so it
retries. The gauntlet's own concurrency lives inside one task (async requests), never one
task per prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect.cache_policies import NO_CACHE

from blocks.errors import ConfigError
from blocks.lora import LoraFile, ReadinessSpec
from tasks.events import A2AEvent, EventPublisher
from tasks.lora.adapter import AdapterReport, inspect_adapter
from tasks.lora.dataset import load_dataset
from tasks.lora.gauntlet import run_side_by_side, run_sync
from tasks.lora.readiness import Readiness, check_readiness
from tasks.lora.registry import Pointers, RollbackResult
from tasks.lora.switches import Switches, resolve_switches
from tasks.lora.verdict import Verdict, compare
from tasks.lora.wiring import deploy_target, expand_url, gauntlet_target, readiness_source
from tasks.platform.steps import retry_if_retryable, step


@step(name="resolve-switches", cache_policy=NO_CACHE)
def effective_switches(lora: LoraFile, parameters: dict) -> Switches:
    """default < .env < environment < settings block < flow parameters."""
    block = None
    if lora.settings_block:
        from blocks.lora_settings import GauntletSettings

        try:
            block = GauntletSettings.load(lora.settings_block).switches()
        except ValueError as exc:
            raise ConfigError(
                f"settings block {lora.settings_block!r} cannot be loaded: {exc}",
                remediation="Create it in the UI (Blocks → Warden Gauntlet Settings) or remove "
                "settings_block from the LoRA file.",
            ) from exc
    dotenv = Path(lora.dotenv) if lora.dotenv and Path(lora.dotenv).exists() else None
    return resolve_switches(env=os.environ, dotenv_path=dotenv, block=block, parameters=parameters)


@step(name="inspect-adapter", cache_policy=NO_CACHE)
def check_adapter(adapter: str, lora: LoraFile) -> AdapterReport:
    limits = lora.adapter
    return inspect_adapter(
        Path(adapter), max_bytes=limits.max_bytes, expected_rank=limits.expected_rank
    )


@step(name="check-readiness", cache_policy=NO_CACHE)
def check_operational_readiness(spec: ReadinessSpec | None) -> Readiness:
    if spec is None:
        return Readiness(
            ready=False,
            reasons=["no readiness source is configured (readiness: in the LoRA file)"],
            observation=None,
        )
    return check_readiness(readiness_source(spec), spec.policy)


@step(name="read-pointers", cache_policy=NO_CACHE)
def read_pointers(target: str, lora: LoraFile) -> Pointers:
    return deploy_target(target, lora).current()


@step(
    name="deploy-canary",
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
    name="promote-canary",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=retry_if_retryable,
)
def promote_canary(target: str, lora: LoraFile) -> Pointers:
    backend = deploy_target(target, lora)
    backend.promote_canary()
    return backend.current()


@step(name="roll-back", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=3)
def roll_back(target: str, lora: LoraFile) -> RollbackResult:
    """The rollback handler: restore the previous stable, unload the canary (idempotent)."""
    return deploy_target(target, lora).rollback()


@step(name="check-dataset", cache_policy=NO_CACHE)
def check_dataset(lora: LoraFile) -> str:
    """The sealed dataset still has its pinned hash and parses; returns the hash."""
    gauntlet = lora.gauntlet
    return load_dataset(gauntlet.dataset, pinned_sha256=gauntlet.dataset_sha256).sha256


@step(name="run-gauntlet", cache_policy=NO_CACHE)
def run_gauntlet(target: str, lora: LoraFile, candidate: str, stable: str | None) -> Verdict:
    """The sealed dataset against ``candidate`` and ``stable`` side by side, then the verdict."""
    spec, gauntlet = lora.target(target), lora.gauntlet
    dataset = load_dataset(gauntlet.dataset, pinned_sha256=gauntlet.dataset_sha256)
    sides = run_sync(
        run_side_by_side(
            dataset,
            gauntlet_target(target, spec, candidate),
            gauntlet_target(target, spec, stable) if stable else None,
            concurrency=gauntlet.concurrency,
            timeout=gauntlet.timeout_seconds,
        )
    )
    return compare(sides.candidate, sides.stable, gauntlet.policy)


def open_publisher(lora: LoraFile, switches: Switches) -> EventPublisher | None:
    """The A2A publisher when A2A is enabled (spool first, then the webhook); else None."""
    if not switches.a2a_enabled:
        return None
    a2a = lora.a2a
    sink = expand_url(a2a.webhook_url, "a2a.webhook_url") if a2a.webhook_url else None
    return EventPublisher(sink, a2a.spool_path(), timeout=a2a.timeout_seconds)


def a2a_event(kind: str, lora: LoraFile, **metadata) -> A2AEvent:
    builder = {
        "begin": A2AEvent.gauntlet_begin,
        "pass": A2AEvent.gauntlet_pass,
        "fail": A2AEvent.gauntlet_fail,
    }[kind]
    return builder(source=lora.a2a.source, **metadata)
