"""queue-flood (seed 002 §5 L2_HTM_queue_flood_stress): N intents, a fraction invalid, through
the intents router at once. Every invalid intent must be rejected with its reason (the
router's code), every valid one routed and its run processed; p99 of the routing decision
(from the router taking the intent to its answer) under the limit (the run's creation after
the decision is measured beside it)."""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tasks.drills import platform_api as api
from tasks.drills.activities import marker_file, wait_completed, workload
from tasks.drills.world import Drill, current

DRILL_INTENT = "drill_task"  # the drills' intents file (flows/chaos_drill_guard.py) has it
# The kinds of invalid intent, in turn, with the router's code each must be rejected with.
INVALID = (
    ({"intent_type": "no_such_intent"}, "unknown_intent"),
    ({"actor": ""}, "missing_actor"),
    ({"parameters": {"mode": "work", "colour": "red"}}, "bad_parameters"),
    ({"parameters": {"mode": "work", "seconds": "soon"}}, "bad_parameters"),
    ({"mission_context": {"world_domination_impact": True}}, "bad_context"),
)


def intents_of(count: int, invalid_fraction: float, marker: str) -> list[dict[str, Any]]:
    """``count`` intents, ``floor(count x invalid_fraction)`` invalid (spread evenly), each with
    the code it expects (None: valid)."""
    invalid = math.floor(count * invalid_fraction)
    every = count / invalid if invalid else math.inf
    picks = {math.floor(i * every) for i in range(invalid)}
    intents = []
    for index in range(count):
        base = {
            "intent_type": DRILL_INTENT,
            "actor": f"drill-actor-{index % 7}",
            "parameters": {"mode": "work", "marker": marker},
            "mission_context": {"resilience_impact": True},
        }
        if index in picks:
            change, code = INVALID[len([p for p in picks if p < index]) % len(INVALID)]
            intents.append({**base, **change, "expect": code})
        else:
            intents.append({**base, "expect": None})
    return intents


def flood_intents(intents: int, invalid_fraction: float, routers: int) -> dict[str, Any]:
    drill = current()
    batch = intents_of(intents, invalid_fraction, marker_file(drill))
    with api.api(drill.api_url) as client:
        workload(drill, client)  # the valid intents' deployment
    started = time.monotonic()
    pool = ThreadPoolExecutor(routers, thread_name_prefix="drill-router")
    try:
        answers = list(pool.map(lambda i: _route(drill, i), batch))
    finally:  # interrupted (SIGTERM): the intents not yet routed are dropped, not waited for
        pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.monotonic() - started
    drill.notes["flood"] = answers
    unrouted = [a["reason"] for a in answers if a["expect"] is None and not a["approved"]]
    return {
        "unrouted_valid": Counter(unrouted).most_common(3),
        "intents": len(answers),
        "invalid": sum(a["expect"] is not None for a in answers),
        "seconds": round(elapsed, 2),
        "intents_per_sec": round(len(answers) / elapsed, 1) if elapsed else None,
    }


def _route(drill: Drill, intent: dict[str, Any]) -> dict[str, Any]:
    expect = intent.pop("expect")
    started = time.monotonic()
    try:
        answer = drill.guard.route(intent)
    except Exception as exc:  # an intent the router could not answer counts as not routed
        answer = {"approved": False, "code": None, "reasoning": [f"{type(exc).__name__}: {exc}"]}
    return {
        "expect": expect,
        "approved": bool(answer.get("approved")),
        "code": answer.get("code"),
        "reason": (answer.get("reasoning") or [""])[-1],
        "run": (answer.get("flow_run") or {}).get("id"),
        "decision_sec": float(answer.get("decided_sec", math.inf)),  # no answer: no decision
        "answered_sec": time.monotonic() - started,  # the decision and the run created
    }


def verify_rejections() -> dict[str, Any]:
    drill = current()
    answers = drill.notes.get("flood") or []
    invalid = [a for a in answers if a["expect"] is not None]
    wrong = [a for a in invalid if a["approved"] or a["code"] != a["expect"] or not a["reason"]]
    return drill.verification(
        "invalid-rejected-with-reason",
        bool(invalid) and not wrong,
        f"{len(invalid) - len(wrong)} of {len(invalid)} invalid intents rejected with the "
        f"expected code and a reason" + (f"; first wrong: {wrong[0]}" if wrong else ""),
        invalid=len(invalid),
        wrong=len(wrong),
    )


def verify_processed(timeout_sec: float) -> dict[str, Any]:
    drill = current()
    answers = drill.notes.get("flood") or []
    valid = [a for a in answers if a["expect"] is None]
    routed = [a["run"] for a in valid if a["approved"] and a["run"]]
    waited = time.monotonic()
    states = wait_completed(drill, routed, timeout_sec) if routed else {}
    took = time.monotonic() - waited
    done = [i for i, s in states.items() if s == "COMPLETED"]
    passed = bool(valid) and len(routed) == len(valid) and len(done) == len(valid)
    return drill.verification(
        "valid-routed-and-processed",
        passed,
        f"{len(routed)} of {len(valid)} valid intents routed, {len(done)} of their runs "
        f"completed; the last {took:.1f} s after the routing ended",
        valid=len(valid),
        routed=len(routed),
        completed=len(done),
        after_routing_sec=round(took, 1),
    )


def p99(values: list[float]) -> float:
    """The nearest-rank 99th percentile (of at least one value)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def verify_p99(limit_sec: float) -> dict[str, Any]:
    """p99 of the routing decision: the router's rules from taking the intent to its answer
    (approved or rejected, with the reason), under the flood. The run's creation on the
    platform comes after the decision; its p99 (``answered_p99_sec``) is measured beside it."""
    drill = current()
    answers = drill.notes.get("flood") or []
    times = [a["decision_sec"] for a in answers]
    if not times:
        return drill.verification("routing-p99", False, "no routing decision was measured")
    value, answered = p99(times), p99([a["answered_sec"] for a in answers])
    return drill.verification(
        "routing-p99",
        value < limit_sec,
        f"p99 routing decision {value:.3f} s (limit {limit_sec:g} s) over {len(times)} intents; "
        f"with the run created on the platform: p99 {answered:.3f} s",
        p99_sec=round(value, 4),
        p50_sec=round(sorted(times)[len(times) // 2], 4),
        max_sec=round(max(times), 4),
        answered_p99_sec=round(answered, 4),
    )
