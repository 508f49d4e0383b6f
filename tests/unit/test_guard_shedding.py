"""Which runs the load-shedding playbook cancels, on plain runs: priority, age, protection,
order, only as many as needed, and the per-deployment Late cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.errors import ConfigError
from blocks.guard import DeploymentShedding, ShedPlaybook, load_shed_playbook
from tasks.guard.shedding import QueuedRun, ShedRule, plan_shedding, priority_of
from tests.conftest import ROOT

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PLAYBOOK = ShedPlaybook(
    deployments=[DeploymentShedding(deployment="f/low", priority=1)],
)


def run(name: str, minutes: float = 20, tags=(), deployment="f/d", state="Late") -> QueuedRun:
    return QueuedRun(
        id=name,
        name=name,
        deployment=deployment,
        tags=list(tags),
        state_name=state,
        expected_start=NOW - timedelta(minutes=minutes),
    )


def shed(runs, depth, critical=10, playbook=PLAYBOOK) -> list[str]:
    plan = plan_shedding("p", depth, critical, runs, playbook, NOW)
    return [item.run.id for item in plan.cancel]


@pytest.mark.parametrize(
    ("tags", "deployment", "expected"),
    [
        (["priority:2"], "f/d", 2),
        (["priority:2", "priority:7"], "f/d", 7),  # the highest wins: fewer runs shed
        ([], "f/low", 1),  # the deployment's priority
        (["priority:3"], "f/low", 3),  # a tag beats the deployment's
        ([], "f/d", 5),  # the default
        (["priority:x"], None, 5),
    ],
)
def test_priority(tags, deployment, expected) -> None:
    assert priority_of(run("r", tags=tags, deployment=deployment), PLAYBOOK) == expected


def test_nothing_is_shed_below_critical() -> None:
    assert shed([run("a", tags=["priority:1"])], depth=9) == []


def test_lowest_priority_then_oldest_and_only_as_many_as_needed() -> None:
    runs = [
        run("p3-old", 60, ["priority:3"]),
        run("p1-new", 15, ["priority:1"]),
        run("p1-old", 50, ["priority:1"]),
        run("p4", 90, ["priority:4"]),
    ]
    assert shed(runs, depth=12) == ["p1-old", "p1-new", "p3-old"]  # 12 -> 9 < 10
    assert shed(runs, depth=10) == ["p1-old"]


def test_never_high_priority_young_or_protected_runs() -> None:
    runs = [
        run("p5", tags=["priority:5"]),
        run("young", minutes=5, tags=["priority:1"]),
        run("critical", tags=["priority:1", "critical"]),
        run("tier0", tags=["priority:1", "tier:0"]),
        run("tier4", tags=["tier:4"]),
    ]
    plan = plan_shedding("p", 100, 10, runs, PLAYBOOK, NOW)
    assert plan.cancel == []
    assert plan.protected == 3
    assert plan.shortfall == 91


def test_each_cancellation_names_its_rule() -> None:
    plan = plan_shedding("p", 10, 10, [run("a", tags=["priority:1"])], PLAYBOOK, NOW)
    (item,) = plan.cancel
    assert item.rule is ShedRule.QUEUE_DEPTH_CRITICAL
    assert "rule queue_depth_critical" in item.message


def test_a_deployment_keeps_only_its_newest_late_runs_whatever_the_depth() -> None:
    playbook = ShedPlaybook(deployments=[DeploymentShedding(deployment="f/d", max_late_runs=1)])
    runs = [
        run("old", 30),
        run("mid", 20),
        run("new", 11),
        run("sched", 40, state="Scheduled"),
        run("other", 50, deployment="f/e"),
        run("crit", 60, ["critical"]),
    ]
    plan = plan_shedding("p", 3, 10, runs, playbook, NOW)
    assert [(i.run.id, i.rule) for i in plan.cancel] == [
        ("old", ShedRule.MAX_LATE_RUNS),
        ("mid", ShedRule.MAX_LATE_RUNS),
    ]


def test_runs_shed_by_the_late_cap_count_towards_the_depth() -> None:
    playbook = ShedPlaybook(deployments=[DeploymentShedding(deployment="f/d", max_late_runs=0)])
    runs = [run("late", 30), run("low", 30, ["priority:1"], deployment="f/e")]
    assert shed(runs, depth=10, playbook=playbook) == ["late"]


def test_the_shipped_playbook_is_the_seeds() -> None:
    playbook = load_shed_playbook(ROOT / "deployments/playbooks/scheduler_load_shedding.yaml")
    assert (playbook.below_priority, playbook.min_age_sec) == (5, 600)
    assert set(playbook.protected_tags) == {"critical", "tier:0", "tier:4"}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("below_priority: 0\n", "below_priority"),
        ("deployments:\n  - deployment: nope\n    priority: 1\n", "deployments.0.deployment"),
        ("deployments:\n  - deployment: f/d\n", "deployments.0"),
        ("protected_tags: []\n", "protected_tags"),
        ("shed_all: true\n", "shed_all"),
    ],
)
def test_each_bad_playbook_is_refused_naming_the_field(tmp_path: Path, text, field) -> None:
    path = tmp_path / "playbook.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_shed_playbook(path)
    assert any(f": {field}:" in p for p in caught.value.problems), caught.value.problems
