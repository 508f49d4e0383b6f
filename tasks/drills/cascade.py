"""policy-cascade (seed 002 §5 L2_event_policy_cascade): a run_deployment chain that would go
``levels`` deep (each run starts the next as its child, as ``run_deployment`` does). The guard's
cascade breaker, run until it has stopped the chain, must leave nothing past the limit
(``storm.cascade_max_depth`` of the guard file): every run deeper than it ends Cancelled, none
Completed; the platform stays ready (the steady state after)."""

from __future__ import annotations

import time
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.activities import ACTIVE, marker_file, workload
from tasks.drills.world import current, wait_until

# The chain's last run works this long before it completes, as the flow at the end of a real
# cascade would. The breaker looks once a second: a run past the limit that started and ended
# between two of its passes would be out of any poller's reach (CI saw a leaf that did nothing
# complete 0.1 s after it was created, before the breaker's next pass).
LEAF_WORK_SEC = 30


def start_chain(levels: int) -> dict[str, Any]:
    drill = current()
    with api.api(drill.api_url) as client:
        params = {
            "mode": "chain",
            "level": 1,
            "levels": levels,
            "seconds": LEAF_WORK_SEC,  # only the last run waits it: the others wait their child
            "marker": marker_file(drill),
        }
        root = api.create_run(client, workload(drill, client), params, [drill.tag])
    drill.notes["chain_root"] = root
    return {"root": root, "levels": levels}


def _levels(client, tag: str) -> dict[str, tuple[int, str]]:
    return {
        r["id"]: (int(r["parameters"].get("level", 1)), r["state_type"])
        for r in api.runs_tagged(client, tag)
    }


def run_cascade_breaker(timeout_sec: float) -> dict[str, Any]:
    """The cascade breaker, once a second, until the chain went past the limit and the breaker
    stopped it, and nothing past the limit is active any more."""
    drill = current()
    limit = drill.guard_file.storm.cascade_max_depth
    decisions: list[dict[str, Any]] = []
    started = time.monotonic()

    def stopped() -> bool:
        decisions.extend(drill.guard.stop_cascades())
        with api.api(drill.api_url) as client:
            runs = _levels(client, drill.tag).values()
        deep_active = [lvl for lvl, state in runs if lvl > limit and state in ACTIVE]
        return bool(decisions) and not deep_active

    wait_until(stopped, timeout_sec, every=1.0)
    drill.notes["cascade_decisions"] = decisions
    return {
        "decisions": len(decisions),
        "cancelled": sum(len(d.get("context", {}).get("cancelled", [])) for d in decisions),
        "seconds": round(time.monotonic() - started, 2),
    }


def verify_nothing_past_limit(timeout_sec: float) -> dict[str, Any]:
    drill = current()
    limit = drill.guard_file.storm.cascade_max_depth
    seen: dict[str, tuple[int, str]] = {}

    def settled() -> bool:
        with api.api(drill.api_url) as client:
            seen.update(_levels(client, drill.tag))
        return bool(seen) and all(state not in ACTIVE for _, state in seen.values())

    wait_until(settled, timeout_sec, every=1.0)
    within = [(lvl, s) for lvl, s in seen.values() if lvl <= limit]
    past = [(lvl, s) for lvl, s in seen.values() if lvl > limit]
    stopped = bool(drill.notes.get("cascade_decisions"))
    passed = (
        stopped
        and bool(past)  # the chain did try to go past the limit
        and all(s == "CANCELLED" for _, s in past)
        and len(within) == limit
        and all(s == "COMPLETED" for _, s in within)
    )
    return drill.verification(
        "nothing-past-the-limit",
        passed,
        f"cascade breaker {'stopped' if stopped else 'did not stop'} the chain; levels 1-{limit}: "
        f"{len(within)} runs, {sum(s == 'COMPLETED' for _, s in within)} completed; past the "
        f"limit: {len(past)} runs, states {sorted({s for _, s in past})}",
        limit=limit,
        deepest_level=max((lvl for lvl, _ in seen.values()), default=0),
        past_limit=len(past),
        past_limit_completed=sum(s == "COMPLETED" for _, s in past),
    )
