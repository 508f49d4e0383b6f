"""Legs on work pools: which worker is live, what stops a dispatch, how a dispatched leg is
watched, and the leg result its flow run gives (tasks/matrix/pools.py, pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from blocks.invariants import EnvironmentSpec, LegSpec, Timeouts
from tasks.matrix.errors import LegFailure
from tasks.matrix.evidence import LegResult, LegStatus, OnboardingStatus, StepStatus
from tasks.matrix.pools import (
    WORKER_LABEL,
    RunSeen,
    Watch,
    await_leg,
    failed_leg,
    leg_deployment,
    leg_of_run,
    leg_parameters,
    live_workers,
    no_worker_reason,
    pool_problem,
    pools_of,
    watch,
)
from tasks.matrix.report import placement
from tasks.platform.workers import WorkerSeen
from tests.conftest import ROOT

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TIMEOUTS = Timeouts(
    provision_seconds=10,
    ready_seconds=10,
    installer_seconds=10,
    onboarding_seconds=10,
    smoke_seconds=10,
    poll_seconds=1,
    pickup_seconds=20,
)


def spec(name: str = "cpu-a", pool: str | None = "pool-a") -> LegSpec:
    return LegSpec(
        name=name,
        vendor="cpu",
        provider="local",
        gpu="none",
        onboarding_check="true",
        smoke_job="true",
        work_pool=pool,
        timeouts=TIMEOUTS if pool else Timeouts(),
    )


def env(*legs: LegSpec) -> EnvironmentSpec:
    return EnvironmentSpec(
        region="local",
        agent_promotion={
            "digest_store": {"kind": "local", "parameter": "/radix/t/agent_digest_approved"},
            "concurrency_limit": "gpu-matrix-t",
            "installer": {"script": "true"},
            "legs": [leg.model_dump() for leg in legs],
        },
    )


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


# fmt: off
WORKERS = [
    pytest.param(WorkerSeen("w", True, ago(5), 30), ["w"], id="online-recent"),
    pytest.param(WorkerSeen("w", True, ago(89), None), ["w"], id="fallback-interval-inside"),
    pytest.param(WorkerSeen("w", True, ago(91), None), [], id="fallback-interval-stale"),
    pytest.param(WorkerSeen("w", True, ago(16), 5), [], id="own-interval-stale"),
    pytest.param(WorkerSeen("w", False, ago(1), 30), [], id="offline"),
    pytest.param(WorkerSeen("w", True, None, 30), [], id="never-beat"),
]
# fmt: on


@pytest.mark.parametrize(("worker", "live"), WORKERS)
def test_a_worker_is_live_by_the_servers_own_rule(worker: WorkerSeen, live: list[str]) -> None:
    assert live_workers([worker], NOW) == live


def test_live_workers_are_named_in_order() -> None:
    workers = [WorkerSeen(n, True, ago(1), 30) for n in ("b", "a")]
    assert live_workers(workers, NOW) == ["a", "b"]


# fmt: off
DISPATCH = [
    pytest.param(False, ["w"], False, id="served"),
    pytest.param(True, ["w"], True, id="paused"),
    pytest.param(False, [], True, id="no-live-worker"),
]
# fmt: on


@pytest.mark.parametrize(("paused", "live", "refused"), DISPATCH)
def test_what_keeps_a_leg_from_being_dispatched(paused: bool, live: list, refused: bool) -> None:
    assert (no_worker_reason("pool-a", paused, live) is not None) == refused


# fmt: off
POOLS = [
    pytest.param(True, "pool-a", False, id="ok"),
    pytest.param(False, None, True, id="pool-missing"),
    pytest.param(True, None, True, id="deployment-missing"),
    pytest.param(True, "other", True, id="deployment-on-another-pool"),
]
# fmt: on


@pytest.mark.parametrize(("exists", "deployment_pool", "problem"), POOLS)
def test_a_pool_needs_itself_and_its_leg_deployment(exists, deployment_pool, problem) -> None:
    assert (pool_problem("pool-a", exists, deployment_pool) is not None) == problem


def test_the_leg_deployment_is_named_after_the_pool() -> None:
    assert leg_deployment("nvidia-gpu") == "gpu-matrix-leg/nvidia-gpu"


def test_pools_of_names_each_pool_once() -> None:
    legs = [spec("a", "p2"), spec("b", "p1"), spec("c", "p2"), spec("d", None)]
    assert pools_of(env(*legs)) == ["p1", "p2"]


# fmt: off
WATCH = [  # pickup 20 s; stages 50 s together: the run may take 70 s from dispatch
    pytest.param("SCHEDULED", 5, Watch.WAIT, id="scheduled-in-time"),
    pytest.param(None, 5, Watch.WAIT, id="no-state-yet"),
    pytest.param("SCHEDULED", 20, Watch.NO_WORKER, id="nobody-started-it"),
    pytest.param("PENDING", 25, Watch.WAIT, id="picked-up-late-is-started"),
    pytest.param("RUNNING", 69, Watch.WAIT, id="running-in-time"),
    pytest.param("RUNNING", 70, Watch.TIMEOUT, id="running-too-long"),
    pytest.param("CANCELLING", 70, Watch.TIMEOUT, id="cancelling-too-long"),
    pytest.param("COMPLETED", 1000, Watch.DONE, id="completed"),
    pytest.param("FAILED", 1, Watch.DONE, id="failed"),
    pytest.param("CRASHED", 1, Watch.DONE, id="crashed"),
    pytest.param("CANCELLED", 1, Watch.DONE, id="cancelled"),
]
# fmt: on


@pytest.mark.parametrize(("state", "waited", "decision"), WATCH)
def test_a_dispatched_leg_is_never_awaited_forever(state, waited, decision) -> None:
    assert watch(state, waited, TIMEOUTS) is decision


def passed_json(name: str = "cpu-a") -> dict:
    return LegResult(
        name=name,
        vendor="cpu",
        provider="local",
        status=LegStatus.PASSED,
        started_at=NOW,
        finished_at=NOW,
        onboarding=OnboardingStatus.NOT_VERIFIED,
        smoke_status=StepStatus.PASSED,
        ran_on="gpu-host-1",
    ).model_dump(mode="json")


def seen(state: str = "COMPLETED", **fields) -> RunSeen:
    base = {
        "id": "run-1",
        "state_type": state,
        "state_message": None,
        "work_pool": "pool-a",
        "labels": {WORKER_LABEL: "worker-a"},
        "result": passed_json(),
    }
    return RunSeen(**(base | fields))


def test_a_completed_run_gives_its_leg_stamped_with_pool_worker_and_run() -> None:
    result = leg_of_run(spec(), seen(), NOW, NOW)
    assert result.passed
    assert (result.work_pool, result.worker, result.ran_on) == ("pool-a", "worker-a", "gpu-host-1")
    assert result.leg_flow_run_id == "run-1"


# fmt: off
NO_RESULT = [
    pytest.param({"state": "FAILED"}, id="run-failed"),
    pytest.param({"state": "CRASHED"}, id="run-crashed"),
    pytest.param({"result_problem": "no such file"}, id="result-unreadable"),
    pytest.param({"result": None}, id="no-result"),
    pytest.param({"result": {"name": "cpu-a"}}, id="not-a-leg-result"),
    pytest.param({"result": passed_json("other")}, id="another-legs-result"),
    pytest.param({"labels": {}}, id="no-worker-named"),
]
# fmt: on


@pytest.mark.parametrize("fields", NO_RESULT)
def test_a_run_without_this_legs_result_fails_the_leg(fields: dict) -> None:
    result = leg_of_run(spec(), seen(**fields), NOW, NOW)
    assert result.failure_code is LegFailure.LEG_RUN_FAILED
    assert result.work_pool == "pool-a" and result.leg_flow_run_id == "run-1"


def test_a_passed_pool_leg_must_name_its_worker_and_host() -> None:
    with pytest.raises(ValidationError):
        LegResult.model_validate({**passed_json(), "work_pool": "pool-a"})


class Run:
    """A fake flow run whose state follows a script of looks; time moves 1 s per sleep."""

    def __init__(self, states: list[str]) -> None:
        self.states, self.time, self.stopped = states, 0.0, []

    def look(self, read_result: bool) -> RunSeen:
        state = self.states[min(int(self.time), len(self.states) - 1)]
        return seen(state, result=passed_json() if read_result else None)

    def sleep(self, seconds: float) -> None:
        self.time += seconds


@pytest.mark.parametrize(
    ("states", "failure", "stopped"),
    [
        pytest.param(["SCHEDULED"], LegFailure.NO_WORKER, Watch.NO_WORKER, id="never-started"),
        pytest.param(["SCHEDULED", "RUNNING"], LegFailure.LEG_TIMEOUT, Watch.TIMEOUT, id="hangs"),
        pytest.param(["SCHEDULED"] * 3 + ["COMPLETED"], None, None, id="completes"),
    ],
)
def test_awaiting_a_leg_ends_by_its_timeouts(states, failure, stopped) -> None:
    run = Run(states)
    result = await_leg(
        spec(),
        run.look,
        lambda s, decision: run.stopped.append(decision),
        NOW,
        clock=lambda: run.time,
        sleep=run.sleep,
        now=lambda: NOW,
    )
    assert result.failure_code is failure
    assert run.stopped == ([stopped] if stopped else [])
    assert result.work_pool == "pool-a"


def test_the_leg_run_gets_the_environment_itself_and_no_credential() -> None:
    environment = env(spec())
    parameters = leg_parameters(environment, spec(), "run-1", "c")
    assert EnvironmentSpec.model_validate(parameters["env"]) == environment
    assert set(parameters) == {"env", "leg", "run_id", "candidate"}


# fmt: off
BAD_LEGS = [
    pytest.param({"work_pool": "a pool"}, id="pool-name-with-space"),
    pytest.param({"work_pool": ""}, id="empty-pool-name"),
    pytest.param({"timeouts": {"pickup_seconds": 5}}, id="pickup-without-pool"),
    pytest.param({"work_pool": "p", "timeouts": {"pickup_seconds": 0}}, id="pickup-zero"),
]
# fmt: on


@pytest.mark.parametrize("fields", BAD_LEGS)
def test_work_pool_settings_that_cannot_work_are_refused(fields: dict) -> None:
    base = spec(pool=None).model_dump(exclude={"timeouts"})
    with pytest.raises(ValidationError):
        LegSpec.model_validate(base | fields)


def test_a_legs_timeout_is_its_stages_together() -> None:
    assert TIMEOUTS.leg_seconds == 50


def test_the_readme_example_of_vendor_pools_is_valid() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"### Legs on work pools.*?```yaml\n(.*?)```", readme, re.S)
    assert example, "README lost its work pool legs example"
    legs = [LegSpec.model_validate(item) for item in yaml.safe_load(example.group(1))["legs"]]
    assert pools_of(env(*legs)) == ["amd-gpu", "nvidia-gpu"]


def test_the_report_says_where_each_leg_ran() -> None:
    here = LegResult.model_validate(passed_json())
    on_pool = leg_of_run(spec(), seen(), NOW, NOW)
    unserved = failed_leg(spec(pool="pool-c"), LegFailure.NO_WORKER, "none", NOW, NOW)
    assert placement(here) == "gpu-host-1"
    assert placement(on_pool) == "gpu-host-1 · pool pool-a · worker worker-a"
    assert placement(unserved) == "no host · pool pool-c · worker none"


def test_a_flow_run_is_read_by_its_fields() -> None:
    state = SimpleNamespace(message="done")
    run = SimpleNamespace(
        id="run-9",
        state=state,
        state_type=SimpleNamespace(value="COMPLETED"),
        work_pool_name="pool-a",
        labels={WORKER_LABEL: "worker-a"},
    )
    seen_run = RunSeen.of(run, {"x": 1})
    assert (seen_run.state_type, seen_run.state_message, seen_run.result) == (
        "COMPLETED",
        "done",
        {"x": 1},
    )
    assert seen_run.placement == {
        "work_pool": "pool-a",
        "worker": "worker-a",
        "leg_flow_run_id": "run-9",
    }
