"""Each drill as a Chaos Toolkit experiment (plain data, validated by chaostoolkit-lib before
anything runs): the steady-state hypothesis (the guard's readiness is ``healthy``, before and
after), the method (actions, then ``verify-*`` probes whose output the judge reads) and the
rollbacks. Sizes come from the catalog (blocks/drills.py); the experiment names them."""

from __future__ import annotations

from typing import Any

from blocks.drills import (
    DrillName,
    EventStormSizes,
    PolicyCascadeSizes,
    QueueFloodSizes,
    SchedulerPauseSizes,
    Sizes,
    WorkerDropoutSizes,
)

PACKAGE = "tasks.drills"
VERIFY = "verify-"


def activity(kind: str, name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {
            "type": "python",
            "module": f"{PACKAGE}.{module}",
            "func": func,
            "arguments": arguments,
        },
    }


def action(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return activity("action", name, module, func, **arguments)


def verify(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return activity("probe", VERIFY + name, module, func, **arguments)


def _queue_flood(s: QueueFloodSizes) -> tuple[list, list]:
    method = [
        action("flood-intents", "flood", "flood_intents", intents=s.intents,
               invalid_fraction=s.invalid_fraction, routers=s.routers),
        verify("invalid-rejected-with-reason", "flood", "verify_rejections"),
        # before the long wait for the runs: a flood whose runs time out still has its figures
        verify("routing-p99", "flood", "verify_p99", limit_sec=s.p99_limit_sec),
        verify("valid-routed-and-processed", "flood", "verify_processed",
               timeout_sec=s.timeout_sec),
    ]  # fmt: skip
    return method, [action("cancel-drill-runs", "activities", "cancel_drill_runs")]


def _event_storm(s: EventStormSizes) -> tuple[list, list]:
    method = [
        action("create-storm-source", "storm", "create_storm_source"),
        action("start-storm-breaker", "storm", "start_storm_breaker", storm_sec=s.seconds),
        action("send-storm", "storm", "send_storm", rate_per_sec=s.rate_per_sec,
               seconds=s.seconds),
        verify("breaker-opened-and-paused-source", "storm", "verify_opened"),
        verify("source-restored", "storm", "verify_restored"),
        verify("no-event-lost", "storm", "verify_no_loss", timeout_sec=s.timeout_sec),
    ]  # fmt: skip
    rollbacks = [action("stop-storm-breaker", "storm", "stop_storm_breaker")]
    return method, rollbacks


def _scheduler_pause(s: SchedulerPauseSizes) -> tuple[list, list]:
    method = [
        action("start-watchdog", "pause", "start_watchdog"),
        action("pause-pool", "pause", "pause_pool"),
        action("queue-runs", "activities", "queue_runs", runs=s.runs),
        verify("watchdog-reported-pause", "pause", "verify_pause_reported",
               within_sec=s.report_within_sec),
        action("resume-pool", "pause", "resume_pool"),
        verify("all-processed-exactly-once", "pause", "verify_exactly_once",
               timeout_sec=s.timeout_sec),
    ]  # fmt: skip
    rollbacks = [
        action("resume-pool-rollback", "pause", "resume_pool"),
        action("stop-watchdog", "pause", "stop_watchdog"),
        action("cancel-drill-runs", "activities", "cancel_drill_runs"),
    ]
    return method, rollbacks


def _policy_cascade(s: PolicyCascadeSizes) -> tuple[list, list]:
    method = [
        action("start-chain", "cascade", "start_chain", levels=s.levels),
        action("run-cascade-breaker", "cascade", "run_cascade_breaker",
               timeout_sec=s.timeout_sec),
        verify("nothing-past-the-limit", "cascade", "verify_nothing_past_limit",
               timeout_sec=s.timeout_sec),
    ]  # fmt: skip
    return method, [action("cancel-drill-runs", "activities", "cancel_drill_runs")]


def _worker_dropout(s: WorkerDropoutSizes) -> tuple[list, list]:
    method = [
        action("queue-runs", "activities", "queue_runs", runs=s.runs, seconds=s.run_sec),
        action("wait-runs-running", "dropout", "wait_running", timeout_sec=s.timeout_sec),
        action("kill-workers", "dropout", "kill_workers", fraction=s.kill_fraction),
        action("wait-all-complete", "dropout", "wait_all_complete", timeout_sec=s.timeout_sec),
        verify("workers-restarted", "dropout", "verify_workers_restarted",
               timeout_sec=s.timeout_sec),
        verify("dead-runs-rerun-all-complete", "dropout", "verify_all_complete"),
    ]  # fmt: skip
    return method, [action("cancel-drill-runs", "activities", "cancel_drill_runs")]


BUILDERS = {
    DrillName.QUEUE_FLOOD: _queue_flood,
    DrillName.EVENT_STORM: _event_storm,
    DrillName.SCHEDULER_PAUSE: _scheduler_pause,
    DrillName.POLICY_CASCADE: _policy_cascade,
    DrillName.WORKER_DROPOUT: _worker_dropout,
}
STEADY_STATE = {
    "title": "the orchestration guard's readiness is healthy",
    "probes": [
        {
            **activity("probe", "platform-is-ready", "activities", "readiness_status"),
            "tolerance": "healthy",
        }
    ],
}


def build_experiment(drill: DrillName, sizes: Sizes, proves: str) -> dict[str, Any]:
    """The drill's experiment; the kill switch guards every action of its method."""
    method, rollbacks = BUILDERS[drill](sizes)
    guarded = [a["name"] for a in method if a["type"] == "action"]
    return {
        "version": "1.0.0",
        "title": f"chaos drill {drill.value}",
        "description": proves,
        "tags": ["warden", "layer-2", drill.value],
        "controls": [
            {
                "name": "kill-switch",
                "provider": {
                    "type": "python",
                    "module": f"{PACKAGE}.controls",
                    "arguments": {"guarded": guarded},
                },
            }
        ],
        "steady-state-hypothesis": STEADY_STATE,
        "method": method,
        "rollbacks": rollbacks,
    }
