"""The chaos drills' pure parts: the catalog (sizes per scale, bad input), each experiment
(valid for chaostoolkit-lib, every action guarded by the kill switch), the judge (ok only when
everything held), and the runner on a tiny experiment (kill switch: interrupted, rollbacks
run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blocks.drills import (
    SIZE_MODELS,
    DrillName,
    Scale,
    drill_name,
    load_drills_file,
    scale_of,
)
from blocks.errors import ConfigError, ExitCode, UsageError
from tasks.drills.dropout import victims
from tasks.drills.experiment import build_experiment
from tasks.drills.flood import INVALID, intents_of, p99
from tasks.drills.judge import judge
from tasks.drills.report import DrillResult, result_of
from tasks.drills.runner import run_experiment, validate, verdict
from tasks.drills.world import Drill
from tests.conftest import ROOT
from tests.unit.drill_fakes import FakeGuard

CATALOG = load_drills_file(ROOT / "deployments" / "drills.yaml")


def test_the_catalog_has_every_drill_at_both_scales_with_the_seeds_full_sizes() -> None:
    for name in DrillName:
        for scale in Scale:
            assert isinstance(CATALOG.sizes(name, scale), SIZE_MODELS[name])
    full = {name: CATALOG.sizes(name, Scale.FULL) for name in DrillName}
    assert full[DrillName.QUEUE_FLOOD].intents == 10_000
    assert full[DrillName.QUEUE_FLOOD].invalid_fraction == 0.5
    assert full[DrillName.EVENT_STORM].rate_per_sec == 5_000
    assert full[DrillName.SCHEDULER_PAUSE].runs == 1_000
    assert full[DrillName.WORKER_DROPOUT].kill_fraction == 0.5
    assert CATALOG.guard.storm.cascade_max_depth == 10
    assert CATALOG.sizes(DrillName.POLICY_CASCADE, Scale.CI).levels > 10  # it tries to go past
    # CI runs the CI sizes: 500 intents, 1,000 events/s for 5 s, 100 runs.
    assert CATALOG.sizes(DrillName.QUEUE_FLOOD, Scale.CI).intents == 500
    assert CATALOG.sizes(DrillName.EVENT_STORM, Scale.CI).rate_per_sec == 1_000
    assert CATALOG.sizes(DrillName.SCHEDULER_PAUSE, Scale.CI).runs == 100


@pytest.mark.parametrize("text", ["nope", "", "QUEUE-FLOOD"])
def test_an_unknown_drill_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as error:
        drill_name(text)
    assert error.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize("text", ["huge", "", "CI"])
def test_an_unknown_scale_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as error:
        scale_of(text)
    assert error.value.code == ExitCode.USAGE_ERROR


def _catalog_text() -> str:
    return (ROOT / "deployments" / "drills.yaml").read_text()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("ci: {intents: 500,", "ci: {intents: 1,"), "drills"),
        (("ci: {runs: 100,", "ci: {runs: 100, colour: red,"), "drills"),
        (("database: postgres", "database: mysql"), "platform.database"),
        (("messaging: redis", "messaging: kafka"), "platform.messaging"),
        (("  worker-dropout:", "  worker-dropouts:"), "drills"),
        (("workers: 1    ", "workers: 0    "), "platform.workers"),
        (("cascade_max_depth: 10", "cascade_max_depth: 0"), "guard.storm.cascade_max_depth"),
    ],
    ids=[
        "too-few-intents",
        "unknown-size",
        "unknown-db",
        "unknown-bus",
        "unknown-drill",
        "no-workers",
        "no-depth",
    ],
)
def test_a_bad_catalog_is_refused_naming_the_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    text = _catalog_text()
    assert change[0] in text
    path = tmp_path / "drills.yaml"
    path.write_text(text.replace(*change))
    with pytest.raises(ConfigError) as error:
        load_drills_file(path)
    assert error.value.code == ExitCode.USAGE_ERROR
    assert any(field in problem for problem in error.value.problems)


@pytest.mark.parametrize("name", list(DrillName))
def test_each_experiment_is_valid_and_every_action_is_guarded(name: DrillName) -> None:
    experiment = build_experiment(name, CATALOG.sizes(name, Scale.CI), "proves")
    validate(experiment)  # chaoslib: providers import, arguments match
    guarded = experiment["controls"][0]["provider"]["arguments"]["guarded"]
    actions = [a["name"] for a in experiment["method"] if a["type"] == "action"]
    assert guarded == actions
    assert not {a["name"] for a in experiment["rollbacks"]} & set(guarded)
    assert experiment["steady-state-hypothesis"]["probes"][0]["tolerance"] == "healthy"
    assert any(a["name"].startswith("verify-") for a in experiment["method"])


def _run(name: str, status: str = "succeeded", output: object = None) -> dict:
    return {"activity": {"name": name}, "status": status, "output": output}


def _passed(name: str, passed: bool = True) -> dict:
    return _run(f"verify-{name}", output={"passed": passed, "detail": "", "measured": {}})


GOOD = {
    "status": "completed",
    "deviated": False,
    "steady_states": {"before": {"steady_state_met": True}, "after": {"steady_state_met": True}},
    "run": [_run("act"), _passed("a"), _passed("b")],
}


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"deviated": True}, False),
        ({"status": "failed"}, False),
        ({"status": "interrupted"}, False),
        ({"steady_states": {"before": {"steady_state_met": True}, "after": None}}, False),
        ({"steady_states": {}}, False),
        ({"run": [_run("act", "failed"), _passed("a"), _passed("b")]}, False),
        ({"run": [_run("act"), _passed("a", False), _passed("b")]}, False),
        ({"run": [_run("act"), _passed("a")]}, False),
        ({"run": [_run("act"), _passed("a"), _run("verify-b", "failed")]}, False),
        ({"run": [_run("act"), _passed("a"), _run("verify-b", output="yes")]}, False),
    ],
    ids=[
        "all-held",
        "deviated",
        "status-failed",
        "interrupted",
        "no-after",
        "no-steady-state",
        "action-failed",
        "verification-failed",
        "verification-missing",
        "verification-raised",
        "verification-no-dict",
    ],
)
def test_the_judge_says_ok_only_when_everything_held(change: dict, ok: bool) -> None:
    judgement = judge({**GOOD, **change}, ["verify-a", "verify-b"])
    assert judgement.ok is ok


def test_an_experiment_without_verifications_is_not_ok() -> None:
    assert judge(GOOD, []).ok is False


def _result(**fields) -> DrillResult:
    base = {"drill": DrillName.QUEUE_FLOOD, "scale": Scale.CI, "api_url": "x", "disposable": True}
    return result_of(judge(GOOD, ["verify-a", "verify-b"]), **base, **fields)


def test_exit_codes_ok_0_kill_switch_3_otherwise_1() -> None:
    assert _result().exit_code == 0
    assert _result(kill_switch=True).ok is False and _result(kill_switch=True).exit_code == 3
    failed = result_of(judge({**GOOD, "deviated": True}, ["verify-a"]), drill=DrillName.QUEUE_FLOOD,
                       scale=Scale.CI, api_url="x", disposable=True)  # fmt: skip
    assert failed.exit_code == 1


def test_a_flood_has_the_asked_share_of_invalid_intents_each_with_its_code() -> None:
    intents = intents_of(100, 0.5, "/tmp/m")
    expected = [i["expect"] for i in intents]
    assert expected.count(None) == 50
    codes = {code for _, code in INVALID}
    assert {e for e in expected if e} == codes  # every kind of invalid intent is in the flood
    assert intents_of(3, 0.0, "m")[0]["expect"] is None


def test_p99_is_the_nearest_rank() -> None:
    assert p99([1.0]) == 1.0
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([float(i) for i in range(1, 1001)]) == 990.0


def test_dropout_kills_workers_with_running_runs_first() -> None:
    workers = {"worker": 10, "worker-2": 20, "worker-3": 30, "worker-4": 40}
    assert victims(workers, 0.5, busy={30, 40}) == {"worker-3": 30, "worker-4": 40}
    assert victims(workers, 0.5, busy=set()) == {"worker": 10, "worker-2": 20}
    assert len(victims({"worker": 1}, 0.5, set())) == 1


def _tiny(passed: bool, first: str = "act") -> dict:
    def fake(kind: str, name: str, func: str, **arguments) -> dict:
        provider = {"type": "python", "module": "tests.unit.drill_fakes", "func": func}
        return {"type": kind, "name": name, "provider": provider | {"arguments": arguments}}

    return {
        "title": "tiny",
        "description": "a tiny drill",
        "controls": [
            {
                "name": "kill-switch",
                "provider": {
                    "type": "python",
                    "module": "tasks.drills.controls",
                    "arguments": {"guarded": [first, "act"]},
                },
            }
        ],
        "steady-state-hypothesis": {
            "title": "ready",
            "probes": [{**fake("probe", "ready", "status"), "tolerance": "healthy"}],
        },
        "method": [
            *([fake("action", first, first)] if first != "act" else []),
            fake("action", "act", "act"),
            fake("probe", "verify-check", "check", passed=passed),
        ],
        "rollbacks": [fake("action", "undo", "undo")],
    }  # fmt: skip


def _drill(tmp_path: Path, guard: FakeGuard) -> Drill:
    return Drill(
        name=DrillName.QUEUE_FLOOD, scale=Scale.CI,
        sizes=CATALOG.sizes(DrillName.QUEUE_FLOOD, Scale.CI),
        api_url="http://127.0.0.1:9/api", pool="p", home=None, folder=tmp_path, tag="drill:t",
        guard_file=CATALOG.guard, guard=guard, recovery_sec=0.1,
    )  # fmt: skip


@pytest.mark.parametrize("passed", [True, False])
def test_the_runner_runs_a_real_experiment_and_writes_its_journal(
    tmp_path: Path, passed: bool
) -> None:
    drill = _drill(tmp_path, FakeGuard())
    experiment = _tiny(passed)
    journal, path = run_experiment(drill, experiment)
    assert json.loads(path.read_text())["status"] == "completed"
    assert drill.notes["called"] == ["act", "undo"]
    assert verdict(journal, experiment).ok is passed


def test_the_kill_switch_interrupts_the_method_and_the_rollbacks_still_run(tmp_path: Path) -> None:
    drill = _drill(tmp_path, FakeGuard(kill_switch=True))
    experiment = _tiny(True)
    journal, _ = run_experiment(drill, experiment)
    assert journal["status"] == "interrupted"
    assert drill.notes["called"] == ["undo"]  # never acted, but cleaned up
    assert drill.notes["kill_switch"] == "act"
    assert verdict(journal, experiment).ok is False


def test_a_failed_action_stops_the_method_and_the_rollbacks_still_run(tmp_path: Path) -> None:
    drill = _drill(tmp_path, FakeGuard())
    experiment = _tiny(True, first="fail")
    journal, _ = run_experiment(drill, experiment)
    assert journal["status"] == "interrupted"
    assert drill.notes["called"] == ["fail", "undo"]  # "act" never ran after the failure
    assert drill.notes["stopped_after"] == "fail"
    assert verdict(journal, experiment).ok is False


def test_a_platform_not_ready_before_stops_the_drill_before_its_method(tmp_path: Path) -> None:
    drill = _drill(tmp_path, FakeGuard(status="critical"))
    experiment = _tiny(True)
    journal, _ = run_experiment(drill, experiment)
    assert "called" not in drill.notes or "act" not in drill.notes["called"]
    assert verdict(journal, experiment).ok is False


def _warden(*args: str):
    from typer.testing import CliRunner

    from cli.main import app

    return CliRunner().invoke(app, list(args))


def test_drill_list_names_every_drill_with_both_scales() -> None:
    result = _warden("drill", "list")
    assert result.exit_code == 0, result.output
    for name in DrillName:
        assert name.value in result.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["drill", "run", "nope"], ExitCode.USAGE_ERROR),
        (["drill", "run", "queue-flood", "--scale", "huge"], ExitCode.USAGE_ERROR),
        (["drill", "run", "queue-flood", "--config", "no/such.yaml"], ExitCode.USAGE_ERROR),
        (
            ["drill", "run", "queue-flood", "--api-url", "http://127.0.0.1:9/api"],
            ExitCode.BACKEND_UNAVAILABLE,
        ),
    ],
    ids=["unknown-drill", "bad-scale", "no-catalog", "unreachable-platform"],
)
def test_drill_run_refuses_bad_usage_before_anything_starts(args: list[str], code: int) -> None:
    result = _warden(*args)
    assert result.exit_code == code, result.output


def test_config_validate_checks_the_drills_catalog(tmp_path: Path) -> None:
    path = tmp_path / "drills.yaml"
    path.write_text(_catalog_text().replace("levels: 11,", "levels: 1,"))
    result = _warden("config", "validate", str(path))
    assert result.exit_code == ExitCode.USAGE_ERROR, result.output
    assert _warden("config", "validate", "deployments/drills.yaml").exit_code == 0
