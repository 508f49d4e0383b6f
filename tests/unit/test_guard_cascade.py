"""Cascade depth and what a stop cancels and pauses, on plain chains of runs."""

from __future__ import annotations

from datetime import UTC, datetime

from tasks.guard.cascade import (
    ChainRun,
    action_link,
    automation_parents,
    cascade_decision,
    depths,
    plan_cascade_stops,
    run_of_event,
)
from tasks.platform.decisions import DecisionKind


def chain(levels: int, prefix: str = "r", state: str = "RUNNING", automation=None) -> dict:
    runs = {}
    for level in range(1, levels + 1):
        run_id = f"{prefix}{level}"
        parent = f"{prefix}{level - 1}" if level > 1 else None
        runs[run_id] = ChainRun(
            id=run_id,
            name=run_id,
            parent_id=parent,
            state_type=state,
            automation_id=automation if level == 3 else None,
        )
    return runs


def test_depth_counts_levels_from_the_root() -> None:
    level = depths(chain(4))
    assert level == {"r1": 1, "r2": 2, "r3": 3, "r4": 4}


def test_an_unknown_parent_or_a_cycle_is_a_root() -> None:
    runs = {
        "a": ChainRun(id="a", name="a", parent_id="gone", state_type="RUNNING"),
        "b": ChainRun(id="b", name="b", parent_id="c", state_type="RUNNING"),
        "c": ChainRun(id="c", name="c", parent_id="b", state_type="RUNNING"),
    }
    level = depths(runs)
    assert level["a"] == 1 and sorted([level["b"], level["c"]]) == [1, 2]


def test_a_chain_at_the_limit_is_left_alone() -> None:
    assert plan_cascade_stops(chain(10), 10) == []


def test_a_12_level_chain_is_stopped_at_10_deepest_first_and_its_automation_paused() -> None:
    runs = chain(12, automation="auto-1") | chain(3, prefix="other")
    (stop,) = plan_cascade_stops(runs, 10)
    assert stop.root == "r1" and stop.depth == 12
    assert [r.id for r in stop.cancel] == ["r12", "r11"]
    assert stop.automations == ["auto-1"]


def test_finished_runs_are_not_cancelled() -> None:
    runs = chain(12)
    runs["r12"] = runs["r12"].model_copy(update={"state_type": "COMPLETED"})
    (stop,) = plan_cascade_stops(runs, 10)
    assert [r.id for r in stop.cancel] == ["r11"]


def test_the_decision_says_why() -> None:
    (stop,) = plan_cascade_stops(chain(12), 10)
    decision = cascade_decision(stop, ["r12", "r11"], [], 10, datetime(2026, 11, 30, tzinfo=UTC))
    assert decision.what is DecisionKind.CASCADE_STOP
    assert decision.why[0] == "Cascade depth: 12 levels (limit: 10)"


# Runs linked only through events: what Prefect records when an automation starts a run.
def executed(created: str, triggering: str) -> list[tuple[str, str]]:
    """The related resources of a ``prefect.automation.action.executed`` event."""
    return [
        (f"prefect.flow-run.{created}", "flow-run"),
        (f"prefect.event.{triggering}-x", "automation-triggered-event"),
        (f"prefect.event.{triggering}", "triggering-event"),
    ]


def test_an_executed_action_links_the_run_it_created_to_its_triggering_event() -> None:
    link = action_link(executed("r2", "e1"))
    assert (link.created_run, link.triggering_event) == ("r2", "e1")
    assert action_link([("prefect.event.e1", "triggering-event")]) is None  # created no run


def test_an_event_is_about_its_flow_run_or_emitted_from_one() -> None:
    assert run_of_event("prefect.flow-run.r1", []) == "r1"  # e.g. prefect.flow-run.Completed
    emitted = [("prefect.flow.f", "flow"), ("prefect.flow-run.r1", "flow-run")]
    assert run_of_event("warden.chain.step", emitted) == "r1"  # emitted inside run r1
    assert run_of_event("warden.chain.step", []) is None


def test_a_12_level_chain_of_automation_started_runs_is_stopped_at_10() -> None:
    links = [action_link(executed(f"a{n}", f"e{n - 1}")) for n in range(2, 13)]
    event_runs = {f"e{n}": f"a{n}" for n in range(1, 12)}  # run aN emitted event eN
    parents = automation_parents(links, event_runs)
    assert parents == {f"a{n}": f"a{n - 1}" for n in range(2, 13)}
    runs = {
        f"a{n}": ChainRun(
            id=f"a{n}",
            name=f"a{n}",
            parent_id=parents.get(f"a{n}"),
            state_type="SCHEDULED" if n == 12 else "RUNNING",
            automation_id="auto-9" if n > 1 else None,
        )
        for n in range(1, 13)
    }
    (stop,) = plan_cascade_stops(runs, 10)
    assert (stop.root, stop.depth, stop.automations) == ("a1", 12, ["auto-9"])
    assert [r.id for r in stop.cancel] == ["a12", "a11"]


def test_an_event_naming_no_run_or_the_run_itself_makes_no_parent() -> None:
    links = [action_link(executed("b", "e-none")), action_link(executed("c", "e-self"))]
    assert automation_parents(links, {"e-self": "c"}) == {}
