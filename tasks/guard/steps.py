"""Prefect steps of the orchestration guard: thin wrappers (policies, then one call) around the
reading/writing adapters and the durable decision log. Nothing here decides."""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from blocks.errors import UsageError
from blocks.guard import GuardFile, ShedPlaybook, load_guard_file, load_shed_playbook
from tasks.guard.cascade import CascadeStop, ChainRun
from tasks.guard.event_stream import StormReport
from tasks.guard.models import PlatformSnapshot
from tasks.guard.shedding import Backlog, CancelOutcome, ShedItem
from tasks.guard.storm import Source, SourceKind
from tasks.platform.clock import utc_now
from tasks.platform.decisions import Decision, DecisionLog
from tasks.platform.steps import emit, run_logger, step

PROCESS = "orchestrator"  # events are warden.orchestrator.<verb>
SUBSCRIBED = "storm breaker subscribed to the event stream"  # logged once it listens


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


@step(cache_policy=NO_CACHE)
def load_playbook(playbook: str) -> ShedPlaybook:
    """Load and validate the load-shedding playbook whole before anything is read."""
    return load_shed_playbook(playbook)


@step(cache_policy=NO_CACHE)
def read_backlog(guard: GuardFile, pool: str) -> Backlog:
    """The pool's queue depth (as readiness counts it) and its waiting runs, oldest first."""
    from tasks.guard.platform_reads import guard_client, read_pool
    from tasks.guard.platform_writes import read_waiting_runs

    now = utc_now()
    with guard_client(guard) as client:
        seen = read_pool(client, pool, now, guard.window_sec)
        if not seen.found:
            raise UsageError(
                f"work pool {pool!r} does not exist on this Prefect API",
                remediation="Create the pool (or fix its name in the guard file).",
            )
        return Backlog(pool=pool, depth=seen.depth, runs=read_waiting_runs(client, pool, now))


@step(cache_policy=NO_CACHE)
def cancel_runs(guard: GuardFile, items: list[ShedItem]) -> list[CancelOutcome]:
    """Cancel each planned run that is still waiting, its state message naming the rule."""
    from tasks.guard.platform_reads import guard_client
    from tasks.guard.platform_writes import cancel_waiting_run

    with guard_client(guard) as client:
        outcomes = [cancel_waiting_run(client, item.run, item.message) for item in items]
    run_logger().info("cancelled %d of %d", sum(o.cancelled for o in outcomes), len(items))
    return outcomes


@step(cache_policy=NO_CACHE)
def watch_event_stream(guard: GuardFile, max_runtime_sec: float) -> StormReport:
    """Subscribe to the event stream and run the storm breaker for ``max_runtime_sec``; each
    decision is recorded (event + durable log) the moment it is taken."""
    from tasks.guard.event_stream import watch_storms

    logger = run_logger()
    return watch_storms(
        guard, max_runtime_sec, record_decisions.fn, lambda: logger.info(SUBSCRIBED)
    )


@step(cache_policy=NO_CACHE)
def read_run_chains(guard: GuardFile) -> dict[str, ChainRun]:
    """Active runs that have a parent, with all their ancestors."""
    from tasks.guard.chain_reads import read_chains
    from tasks.guard.platform_reads import guard_client

    with guard_client(guard) as client:
        return read_chains(client)


@step(cache_policy=NO_CACHE)
def stop_cascade(guard: GuardFile, stop: CascadeStop, message: str) -> tuple[list[str], list[str]]:
    """Cancel the chain's runs below the limit (deepest first), then pause its automations;
    returns (cancelled run ids, paused automations)."""
    from tasks.guard.chain_reads import stop_run
    from tasks.guard.platform_reads import guard_client
    from tasks.guard.platform_writes import pause_source

    with guard_client(guard) as client:
        cancelled = [run.id for run in stop.cancel if stop_run(client, run, message)]
        paused = [
            item
            for automation in stop.automations
            for item in pause_source(client, Source(kind=SourceKind.AUTOMATION, id=automation))
        ]
    return cancelled, paused
