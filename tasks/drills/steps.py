"""Prefect steps of the chaos drills: thin wrappers (policy, then one call). Nothing decides
here: the experiment is built in :mod:`tasks.drills.experiment`, judged in
:mod:`tasks.drills.judge`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE

from blocks.drills import DrillName, DrillsFile, Scale, Sizes, WorkerDropoutSizes, load_drills_file
from blocks.errors import BackendUnavailable
from tasks.drills import platform_api
from tasks.drills.experiment import build_experiment
from tasks.drills.local_platform import LocalPlatform, start_platform, stop_platform
from tasks.drills.report import DrillResult, result_of
from tasks.drills.runner import run_experiment, validate, verdict
from tasks.drills.world import Drill, GuardPort
from tasks.platform.steps import run_logger, step

DRILL = "chaos-drill"
POOL = "warden-process"  # make run's pool: the disposable platform's supervisor serves it


@dataclass(frozen=True)
class Target:
    """The platform a drill runs against; ``disposable``: started by the drill, stopped after."""

    api_url: str
    home: Path | None
    disposable: bool


@step(cache_policy=NO_CACHE)
def load_drills(config: str) -> DrillsFile:
    """Load and validate the drills catalog whole before anything starts."""
    return load_drills_file(config)


@step(cache_policy=NO_CACHE)
def plan_experiment(drill: DrillName, sizes: Sizes, proves: str) -> dict[str, Any]:
    """The drill's experiment, validated by chaostoolkit-lib (nothing runs yet)."""
    experiment = build_experiment(drill, sizes, proves)
    validate(experiment)
    return experiment


@step(cache_policy=NO_CACHE)
def open_platform(
    catalog: DrillsFile, sizes: Sizes, api_url: str | None, home: str | None, folder: Path
) -> Target:
    """Start a disposable platform, or check that the one at ``api_url`` answers (exit 4)."""
    if api_url:
        if not platform_api.reachable(api_url):
            raise BackendUnavailable(
                f"the platform at {api_url} does not answer /health",
                remediation="Start it (make run) or fix --api-url (or leave it out).",
            )
        return Target(api_url=api_url, home=Path(home) if home else None, disposable=False)
    workers = sizes.workers if isinstance(sizes, WorkerDropoutSizes) else catalog.platform.workers
    started = time.monotonic()
    database, messaging = catalog.platform.database.value, catalog.platform.messaging.value
    platform: LocalPlatform = start_platform(folder / "platform", workers, catalog.platform)
    run_logger().info(
        "disposable platform at %s on %s with %s messaging, %d workers, up in %.1f s",
        platform.api_url,
        database,
        messaging,
        workers,
        time.monotonic() - started,
    )
    return Target(api_url=platform.api_url, home=platform.home, disposable=True)


@step(cache_policy=NO_CACHE)
def close_platform(target: Target) -> None:
    """Stop a disposable platform (server, supervisor, workers); an existing one is left as is."""
    if target.disposable and target.home is not None:
        port = int(target.api_url.rsplit(":", 1)[1].split("/")[0])
        stop_platform(LocalPlatform(api_url=target.api_url, home=target.home, port=port))


@step(cache_policy=NO_CACHE)
def run_drill(
    name: DrillName,
    scale: Scale,
    sizes: Sizes,
    experiment: dict[str, Any],
    target: Target,
    catalog: DrillsFile,
    guard: GuardPort,
    folder: Path,
    tag: str,
) -> DrillResult:
    """Run the experiment against ``target`` and judge its journal; an exception is a result
    that is not ok (fail closed), never a pass."""
    drill = Drill(
        name=name,
        scale=scale,
        sizes=sizes,
        api_url=target.api_url,
        pool=POOL,
        home=target.home,
        folder=folder,
        tag=tag,
        guard_file=catalog.guard,
        guard=guard,
        recovery_sec=catalog.platform.recovery_sec,
    )
    common = {"drill": name, "scale": scale, "api_url": target.api_url}
    common["disposable"] = target.disposable
    try:
        journal, path = run_experiment(drill, experiment)
    except Exception as exc:
        run_logger().error("drill %s could not run: %s: %s", name, type(exc).__name__, exc)
        return DrillResult(
            **common, ok=False, status="error", error=f"{type(exc).__name__}: {exc}",
            duration_sec=time.monotonic() - drill.started,
        )  # fmt: skip
    return result_of(
        verdict(journal, experiment),
        **common,
        kill_switch="kill_switch" in drill.notes,
        readiness=drill.notes.get("readiness", []),
        journal_file=str(path),
        duration_sec=round(time.monotonic() - drill.started, 2),
    )
