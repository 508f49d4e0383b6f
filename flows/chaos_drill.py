"""Chaos drills (seed 002 §5, the five Layer 2 scenarios) as Chaos Toolkit experiments.

load the catalog -> the drill and its sizes for the scale -> build the experiment (validated
by chaostoolkit-lib) -> kill switch -> the platform: a disposable one the drill starts (own
port and home: a real Prefect server, the worker supervisor and its process workers), or the
one at ``api_url`` -> run the experiment: steady state (the guard's readiness is healthy),
method (actions on the platform, then verifications), steady state again, rollbacks -> stop a
disposable platform -> judge the journal -> journal file, summary artifacts -> the result.

Completed only when ``ok``: the hypothesis held before and after, no deviation, every
verification passed, journal status ``completed``. The kill switch, checked before each
action, stops the drill (its rollbacks still run).
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.defaults import DEFAULT_DRILLS_FILE
from blocks.drills import drill_name, scale_of
from blocks.storage import persisted_results, warden_home
from flows.chaos_drill_guard import DrillGuard
from tasks.drills.report import drill_markdown, drill_rows
from tasks.drills.steps import (
    DRILL,
    close_platform,
    load_drills,
    open_platform,
    plan_experiment,
    run_drill,
)
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary, run_logger


@flow(
    name="chaos-drill",
    description="Run one Layer 2 chaos drill (Chaos Toolkit experiment) against a platform.",
    **persisted_results(),
)
def chaos_drill(
    drill: str,
    scale: str = "ci",
    api_url: str | None = None,
    platform_home: str | None = None,
    config: str = str(DEFAULT_DRILLS_FILE),
) -> State:
    """Run ``drill`` at ``scale`` (ci|full) against a disposable platform, or the existing one
    at ``api_url`` (``platform_home``: its home, for worker-dropout's pid files)."""
    catalog = load_drills(config)
    name, size = drill_name(drill), scale_of(scale)
    sizes = catalog.sizes(name, size)
    experiment = plan_experiment(name, sizes, catalog.drills[name].proves)
    ensure_kill_switch_off(DRILL)  # raises: the run ends Failed, the CLI exits 3
    stamp = run_stamp(utc_now())
    folder = warden_home() / "drills" / name.value / stamp
    folder.mkdir(parents=True, exist_ok=True)
    target = open_platform(catalog, sizes, api_url, platform_home, folder)
    try:
        guard = DrillGuard(target.api_url, catalog.guard, f"drill:{stamp}", folder)
        result = run_drill(
            name, size, sizes, experiment, target, catalog, guard, folder, f"drill:{stamp}"
        )
    finally:
        close_platform(target)
    publish_summary(
        artifact_key(DRILL, name.value),
        drill_markdown(result),
        drill_rows(result),
        f"chaos drill {name.value} ({size.value})",
    )
    message = f"{name.value} ({size.value}): {'ok' if result.ok else 'NOT ok'} ({result.status})"
    run_logger().info("%s; journal %s", message, result.journal_file)
    return (Completed if result.ok else Failed)(message=message, data=result)
