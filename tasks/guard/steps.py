"""Prefect steps of the orchestration guard: thin wrappers (policies, then one call) around the
reading/writing adapters and the durable decision log. Nothing here decides."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from blocks.guard import GuardFile, load_guard_file
from tasks.guard.decisions import Decision, DecisionLog
from tasks.guard.models import PlatformSnapshot
from tasks.platform.steps import emit, run_logger, step

PROCESS = "orchestrator"  # events are warden.orchestrator.<verb>


@step(cache_policy=NO_CACHE)
def load_guard(config: str) -> GuardFile:
    """Load and validate the guard file whole (file:line errors) before anything is read."""
    return load_guard_file(config)


@step(cache_policy=NO_CACHE)
def read_platform(guard: GuardFile, pools: list[str]) -> PlatformSnapshot:
    """One snapshot of the API, the scheduler and ``pools``; a failure to read is in it."""
    from tasks.guard.platform_reads import read_snapshot

    snapshot = read_snapshot(guard, pools)
    run_logger().info("platform read in %.0f ms", snapshot.read_ms)
    return snapshot


@step(cache_policy=NO_CACHE)
def record_decisions(decisions: list[Decision]) -> int:
    """Each decision as a ``warden.orchestrator.<what>`` event, then into the durable log."""
    for decision in decisions:
        emit(
            PROCESS,
            decision.what.value,
            "orchestrator",
            decision.where,
            decision.model_dump(mode="json"),
        )
    return DecisionLog().append(decisions)
