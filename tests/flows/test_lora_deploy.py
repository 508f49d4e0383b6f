"""The LoRA gauntlet deploy end to end: real tasks, the demo OpenAI-compatible server, a registry.

Every test gets a fresh WARDEN_HOME, so the demo target's registry (WARDEN_HOME/lora/demo) starts
empty; the demo server serves that registry's versions and answers from the sealed dataset.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.variables import Variable

from blocks.errors import ConfigError, KillSwitchOn
from blocks.lora import SWITCH_NAMES
from blocks.storage import warden_home
from deployments.local import demo_llm
from flows.lora_deploy import lora_deploy
from flows.lora_gauntlet import lora_gauntlet
from tasks.events import A2AEvent, ProblemKind, Spool
from tasks.lora.registry import LocalRegistry, Pointers
from tasks.lora.report import DeployOutcome, LoraDeployReport
from tasks.lora.verdict import GauntletVerdict, VerdictStatus
from tasks.platform.clock import utc_now
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.flows.lora_files import (
    DATASET,
    DEGRADED_ADAPTER,
    GOOD_ADAPTER,
    LORA_FILE,
    demo_registry,
    gauntlet_events,
    json_server,
    refusing_vllm,
    slow_bus,
    write_lora,
)
from tests.flows.results import typed_result
from tests.loopback import free_port
from tests.lora_adapters import write_adapter

WRONG_SHA256 = "0" * 64


@pytest.fixture(autouse=True)
def _no_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's GAUNTLET_* / A2A_* / SKIP_* variables must not reach the flow."""
    for name in SWITCH_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch):
    """The demo LLM serving the demo target's registry; the LoRA file's URLs point at it."""
    server = demo_llm.start(warden_home() / "lora" / "demo", DATASET, port=0, prefix="demo")
    monkeypatch.setenv("WARDEN_DEMO_LLM_PORT", str(server.server_address[1]))
    yield server
    server.shutdown()
    server.server_close()


def deploy(config: Path, adapter: Path, **params) -> tuple[object, LoraDeployReport]:
    state = lora_deploy(adapter=str(adapter), config=str(config), return_state=True, **params)
    report = typed_result(state, LoraDeployReport)
    return state, report


def seed_stable(config: Path, version: str = "v1") -> None:
    """A good adapter deployed directly (gauntlet off) as the stable version."""
    state, report = deploy(config, GOOD_ADAPTER, version=version, gauntlet_enabled=False)
    assert state.is_completed() and report.outcome is DeployOutcome.DEPLOYED, report.reasons
    assert demo_registry().current() == Pointers(stable=version, canary=None)


# -- inert default and switches -------------------------------------------------------------


def test_inert_by_default_deploys_directly_without_a_gauntlet(tmp_path: Path, demo) -> None:
    since = utc_now()
    state, report = deploy(write_lora(tmp_path), GOOD_ADAPTER)

    assert state.is_completed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.DEPLOYED, 0)
    assert (
        report.version.startswith("sha-") and report.version == f"sha-{report.adapter_sha256[:12]}"
    )
    assert demo_registry().current() == Pointers(stable=report.version, canary=None)
    assert (report.stable_before, report.stable_after) == (None, report.version)
    assert report.gauntlet is None and report.readiness == []
    assert "GAUNTLET_ENABLED=false (default)" in report.switches
    assert [entry["action"] for entry in demo_registry().history()] == ["deploy_canary", "promote"]

    events = gauntlet_events(since, {"warden.gauntlet.skipped"})
    skipped = [e for e in events if e.event == "warden.gauntlet.skipped"]
    assert len(skipped) == 1
    assert skipped[0].payload == {"reason": "disabled", "version": report.version}
    assert skipped[0].resource.id == "warden.lora-target.demo"
    assert not {e.event for e in events} & {"warden.gauntlet.begin", "warden.gauntlet.pass"}


@pytest.mark.parametrize(
    ("dotenv", "environment", "params", "expected", "outcome"),
    [
        pytest.param(
            "GAUNTLET_ENABLED=true\n",
            None,
            {"gauntlet_enabled": False},
            ["GAUNTLET_ENABLED=false (parameter)"],
            DeployOutcome.DEPLOYED,
            id="parameter-beats-dotenv",
        ),
        pytest.param(
            "GAUNTLET_ENABLED=false\nSKIP_GAUNTLET=true\n",
            "true",
            {},
            ["GAUNTLET_ENABLED=true (environment)", "SKIP_GAUNTLET=true (.env)"],
            DeployOutcome.PROMOTED_UNTESTED,
            id="environment-beats-dotenv",
        ),
        pytest.param(
            "GAUNTLET_ENABLED=true\nSKIP_GAUNTLET=true\n",
            None,
            {},
            ["GAUNTLET_ENABLED=true (.env)", "A2A_ENABLED=false (default)"],
            DeployOutcome.PROMOTED_UNTESTED,
            id="dotenv-beats-default",
        ),
    ],
)
def test_switch_precedence_shows_in_the_report(
    tmp_path: Path,
    demo,
    monkeypatch: pytest.MonkeyPatch,
    dotenv: str,
    environment: str | None,
    params: dict,
    expected: list[str],
    outcome: DeployOutcome,
) -> None:
    env_file = tmp_path / "switches.env"
    env_file.write_text(dotenv, encoding="utf-8")
    if environment is not None:
        monkeypatch.setenv("GAUNTLET_ENABLED", environment)
    state, report = deploy(write_lora(tmp_path, dotenv=str(env_file)), GOOD_ADAPTER, **params)

    assert state.is_completed() and report.outcome is outcome, report.reasons
    for part in expected:
        assert part in report.switches
    assert demo_registry().current().stable == report.version


def test_a_settings_block_overrides_the_environment_and_parameters_override_it(
    tmp_path: Path, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from blocks.lora_settings import GauntletSettings

    GauntletSettings(skip_gauntlet=True, gauntlet_enabled=True).save(
        "warden-test-switches", overwrite=True
    )
    monkeypatch.setenv("GAUNTLET_ENABLED", "false")
    config = write_lora(tmp_path, settings_block="warden-test-switches")
    state, report = deploy(config, GOOD_ADAPTER)
    assert "GAUNTLET_ENABLED=true (block)" in report.switches
    assert "SKIP_GAUNTLET=true (block)" in report.switches
    assert report.outcome is DeployOutcome.PROMOTED_UNTESTED and report.gauntlet is None

    # a block that cannot be loaded is a configuration error before anything runs
    missing = write_lora(tmp_path, name="other.yaml", settings_block="no-such")
    state = lora_deploy(adapter=str(GOOD_ADAPTER), config=str(missing), return_state=True)
    error = state.result(raise_on_failure=False)
    assert state.is_failed() and isinstance(error, ConfigError), error
    assert "no-such" in error.message and error.code == 2


# -- the gauntlet: pass, fail, skip -----------------------------------------------------------


def test_gauntlet_promotes_a_first_deploy_then_a_second_good_version(tmp_path: Path, demo) -> None:
    config = write_lora(tmp_path)
    state, first = deploy(config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True)
    assert state.is_completed() and first.outcome is DeployOutcome.PROMOTED, first.reasons
    assert first.gauntlet.passed and first.gauntlet.stable is None  # first deploy: no stable side
    # GAUNTLET_MODE defaults to canary: a stratified sample (at least 3 prompts a domain, a
    # quarter of each): 4 + 3 + 3 + 3 + 3 of the dataset's 40 prompts
    assert (first.gauntlet.mode, first.gauntlet.prompts) == ("canary", 16)
    assert first.gauntlet.dataset_prompts == 40

    since = utc_now()
    state, second = deploy(
        config, GOOD_ADAPTER, version="v2", gauntlet_enabled=True, gauntlet_mode="full"
    )

    assert state.is_completed(), second.reasons
    assert (second.outcome, second.exit_code) == (DeployOutcome.PROMOTED, 0)
    assert (second.stable_before, second.stable_after) == ("v1", "v2")
    assert demo_registry().current() == Pointers(stable="v2", canary=None)
    verdict = second.gauntlet
    assert verdict.status is VerdictStatus.PASS and verdict.passed
    assert (verdict.mode, verdict.prompts, verdict.dataset_prompts) == ("full", 40, 40)
    # side by side: each side is labelled "<model> (<api>) at <url>"
    assert verdict.candidate.startswith("demo-v2 (") and verdict.stable.startswith("demo-v1 (")

    with get_client(sync_client=True) as client:
        keys = ["lora-gauntlet-demo", "lora-gauntlet-demo-table", "lora-deploy-demo"]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    assert {a.key for a in artifacts} == set(keys)

    events = gauntlet_events(since, {"warden.gauntlet.begin", "warden.gauntlet.pass"})
    by_name = {e.event: e for e in events}
    assert "warden.gauntlet.fail" not in by_name
    begin, passed = (
        by_name["warden.gauntlet.begin"].payload,
        by_name["warden.gauntlet.pass"].payload,
    )
    for payload, event_type in ((begin, "GAUNTLET_BEGIN"), (passed, "GAUNTLET_PASS")):
        assert set(payload) == {"event_type", "timestamp", "source", "metadata"}
        assert payload["event_type"] == event_type
        assert payload["source"] == "release-warden/lora_deploy"
        assert payload["timestamp"].endswith("Z")
        assert payload["metadata"]["pipeline"] == "lora_deployment"
    assert begin["metadata"]["mode"] == "full"
    assert "mock" not in begin["metadata"] and "mock" not in passed["metadata"]
    duration = passed["metadata"]["duration_seconds"]
    assert isinstance(duration, int | float) and duration >= 0


def test_degraded_adapter_is_rolled_back_and_the_run_fails(tmp_path: Path, demo) -> None:
    config = write_lora(tmp_path)
    seed_stable(config, "v1")
    since = utc_now()
    state, report = deploy(config, DEGRADED_ADAPTER, version="v2", gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ROLLED_BACK, 1)
    assert demo_registry().current() == Pointers(stable="v1", canary=None)
    assert (report.stable_before, report.stable_after) == ("v1", "v1")
    assert report.rollback.rolled_back and report.rollback.canary == "v2"
    assert report.rollback.stable == "v1"
    verdict = report.gauntlet
    assert not verdict.passed and verdict.status is VerdictStatus.FAIL
    assert report.reasons and any("ACCURACY_DROP" in reason for reason in report.reasons)
    assert demo_registry().history()[-1]["action"] == "rollback"

    expected = {"warden.gauntlet.begin", "warden.gauntlet.fail", "warden.gauntlet.rollback"}
    events = gauntlet_events(since, expected)
    names = [e.event for e in events]
    assert "warden.gauntlet.pass" not in names
    rollback = next(e for e in events if e.event == "warden.gauntlet.rollback")  # notifies
    assert (rollback.payload["canary"], rollback.resource.id) == ("v2", "warden.lora-target.demo")
    fail = next(e for e in events if e.event == "warden.gauntlet.fail").payload
    assert fail["event_type"] == "GAUNTLET_FAIL"
    assert fail["metadata"]["pipeline"] == "lora_deployment"
    assert fail["metadata"]["failure_reason"] == verdict.failure_reason
    assert fail["metadata"]["failure_reason"]


def test_skip_gauntlet_promotes_untested_and_its_events_say_mock(tmp_path: Path, demo) -> None:
    config = write_lora(tmp_path, a2a={"spool": str(tmp_path / "a2a-spool.sqlite")})
    seed_stable(config, "v1")
    since = utc_now()
    state, report = deploy(
        config,
        DEGRADED_ADAPTER,
        version="v2",
        gauntlet_enabled=True,
        skip_gauntlet=True,
        a2a_enabled=True,
    )

    assert state.is_completed()
    # The degraded adapter would fail a real gauntlet: it went through without one, and the
    # outcome says so instead of "promoted".
    assert (report.outcome, report.exit_code, report.gauntlet) == (
        DeployOutcome.PROMOTED_UNTESTED,
        0,
        None,
    )
    assert "SKIP_GAUNTLET=true (parameter)" in report.switches
    assert demo_registry().current() == Pointers(stable="v2", canary=None)
    events = gauntlet_events(since, {"warden.gauntlet.begin", "warden.gauntlet.pass"})
    assert [e.event for e in events] == ["warden.gauntlet.begin", "warden.gauntlet.pass"]
    assert all(e.payload["metadata"]["mock"] is True for e in events)
    on_the_bus = [e for e in demo.model.events if e["event_type"].startswith("GAUNTLET_")]
    assert [e["event_type"] for e in on_the_bus] == ["GAUNTLET_BEGIN", "GAUNTLET_PASS"]
    assert all(e["metadata"]["mock"] is True for e in on_the_bus)


def test_the_mock_gauntlet_is_refused_on_a_production_target(tmp_path: Path, demo) -> None:
    document = yaml.safe_load(LORA_FILE.read_text(encoding="utf-8"))
    production = {"demo": {**document["targets"]["demo"], "production": True}}
    config = write_lora(tmp_path, targets=production)
    mock = {"gauntlet_enabled": True, "skip_gauntlet": True}
    state, report = deploy(config, GOOD_ADAPTER, version="v1", **mock)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 2)
    assert demo_registry().current() == Pointers() and demo_registry().versions() == []

    production["demo"]["allow_mock_gauntlet"] = True
    allowed = write_lora(tmp_path, name="allowed.yaml", targets=production)
    state, report = deploy(allowed, GOOD_ADAPTER, version="v1", **mock)
    assert state.is_completed() and report.outcome is DeployOutcome.PROMOTED_UNTESTED


# -- refused before anything is deployed ------------------------------------------------------


def test_readiness_below_thresholds_deploys_nothing(tmp_path: Path, demo) -> None:
    seed_stable(write_lora(tmp_path, name="seed.yaml"))
    board = {"targets_up": 3, "alerts": 2, "soak_hours": 96}
    with json_server(board) as url:
        config = write_lora(tmp_path, readiness={"url": f"{url}/health"})
        state, report = deploy(config, GOOD_ADAPTER, version="v2", gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.NOT_READY, 1)
    assert len(report.readiness) == 2
    assert any("3 targets up, at least 20 required" in r for r in report.readiness)
    assert any("2 active alerts, at most 0 allowed" in r for r in report.readiness)
    assert all(r in report.reasons[0] for r in report.readiness)
    assert demo_registry().current() == Pointers(stable="v1", canary=None)
    assert demo_registry().versions() == ["v1"] and report.gauntlet is None


def test_readiness_source_down_is_not_ready(tmp_path: Path, demo) -> None:
    config = write_lora(
        tmp_path,
        readiness={"url": f"http://127.0.0.1:{free_port()}/health", "timeout_seconds": 2},
    )
    state, report = deploy(config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.NOT_READY, 1)
    assert report.readiness and "ops board" in report.readiness[0]
    assert demo_registry().current() == Pointers() and demo_registry().versions() == []


def _nan_adapter(folder: Path) -> Path:
    return write_adapter(folder, rank=4, target_modules=["q_proj", "v_proj"], poison="nan")


def _no_config(folder: Path) -> Path:
    shutil.copytree(GOOD_ADAPTER, folder)
    (folder / "adapter_config.json").unlink()
    return folder


def _with_pickle(folder: Path) -> Path:
    shutil.copytree(GOOD_ADAPTER, folder)
    (folder / "adapter_model.bin").write_bytes(b"\x80\x04K\x01.")  # pickle protocol 4 magic
    return folder


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(_nan_adapter, "NON_FINITE", id="nan"),
        pytest.param(_no_config, "MISSING_CONFIG", id="missing-config"),
        pytest.param(_with_pickle, "PICKLE_FILE", id="pickle"),
    ],
)
def test_unsound_adapter_is_refused_before_anything_is_deployed(
    tmp_path: Path, demo, make, code: str
) -> None:
    adapter = make(tmp_path / "adapter")
    state, report = deploy(write_lora(tmp_path), adapter, gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.REFUSED, 1)
    assert any(reason.startswith(f"{code}:") for reason in report.reasons), report.reasons
    assert report.version is None and report.gauntlet is None
    assert demo_registry().current() == Pointers() and demo_registry().versions() == []


# -- a dataset that changed -------------------------------------------------------------------


def test_changed_dataset_is_refused_before_the_canary_is_deployed(tmp_path: Path, demo) -> None:
    config = write_lora(
        tmp_path,
        gauntlet={"dataset_sha256": WRONG_SHA256},
        a2a={"spool": str(tmp_path / "a2a-spool.sqlite")},  # the bus: the demo server
    )
    seed_stable(config, "v1")
    state, report = deploy(
        config, GOOD_ADAPTER, version="v2", gauntlet_enabled=True, a2a_enabled=True
    )

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 2)
    assert "changed" in report.reasons[0] and WRONG_SHA256 in report.reasons[0]
    assert demo_registry().current() == Pointers(stable="v1", canary=None)
    assert demo_registry().versions() == ["v1"]  # the candidate was never even stored
    assert [entry["action"] for entry in demo_registry().history()] == ["deploy_canary", "promote"]
    # No GAUNTLET_BEGIN left dangling on the bus (the publisher flushed before the run ended).
    assert demo.model.events == [] and report.events_spooled == 0


# -- A2A: best effort, spooled, delivered in order ----------------------------------------------


def test_a2a_bus_down_spools_events_and_delivers_them_first_later(tmp_path: Path, demo) -> None:
    spool_path = tmp_path / "a2a-spool.sqlite"
    down = write_lora(
        tmp_path,
        name="bus-down.yaml",
        a2a={
            "webhook_url": f"http://127.0.0.1:{free_port()}/a2a/events",
            "spool": str(spool_path),
        },
    )
    switches = {"gauntlet_enabled": True, "a2a_enabled": True, "skip_gauntlet": True}
    started = time.monotonic()
    state, report = deploy(down, GOOD_ADAPTER, version="v1", **switches)

    assert state.is_completed() and report.outcome is DeployOutcome.PROMOTED_UNTESTED
    assert time.monotonic() - started < 15
    assert report.events_spooled >= 2
    assert report.a2a.published == report.a2a.durable == 2 and report.a2a.dropped == 0
    spooled = Spool(spool_path).pending()
    assert [e.event_type for e in spooled] == ["GAUNTLET_BEGIN", "GAUNTLET_PASS"]
    assert demo.model.events == []

    # The failed first delivery set a backoff (at most 1 s): wait until the events are due.
    wait = max(e.next_attempt_at for e in spooled) - utc_now()
    time.sleep(max(0.0, wait.total_seconds()) + 0.1)
    up = write_lora(tmp_path, a2a={"spool": str(spool_path)})  # the demo server's /a2a/events
    state, report = deploy(up, GOOD_ADAPTER, version="v2", **switches)

    assert state.is_completed() and report.outcome is DeployOutcome.PROMOTED_UNTESTED
    assert report.events_spooled == 0 and Spool(spool_path).pending_count() == 0
    received = demo.model.events
    assert [e["event_type"] for e in received] == [
        "GAUNTLET_BEGIN",
        "GAUNTLET_PASS",
        "GAUNTLET_BEGIN",
        "GAUNTLET_PASS",
    ]
    assert [json.dumps(e, separators=(",", ":")) for e in received[:2]] == [e.body for e in spooled]


# -- the gauntlet alone -----------------------------------------------------------------------


def test_lora_gauntlet_ad_hoc_passes_identical_and_fails_degraded(tmp_path: Path, demo) -> None:
    config = write_lora(tmp_path)
    seed_stable(config, "v1")
    demo_registry().store_version("v1-copy", GOOD_ADAPTER)
    demo_registry().store_version("v2-degraded", DEGRADED_ADAPTER)

    state = lora_gauntlet(candidate="demo-v1-copy", config=str(config), return_state=True)
    verdict = state.result(raise_on_failure=False)
    assert isinstance(verdict, GauntletVerdict)
    assert state.is_completed() and verdict.passed
    assert verdict.candidate.startswith("demo-v1-copy (") and verdict.stable.startswith("demo-v1 (")

    state = lora_gauntlet(candidate="demo-v2-degraded", config=str(config), return_state=True)
    verdict = state.result(raise_on_failure=False)
    assert isinstance(verdict, GauntletVerdict)
    assert state.is_failed() and not verdict.passed
    assert verdict.candidate.startswith("demo-v2-degraded (")
    assert verdict.stable.startswith("demo-v1 (")
    assert verdict.failure_reason
    assert demo_registry().current() == Pointers(
        stable="v1", canary=None
    )  # the gauntlet deploys nothing


def test_a2a_events_in_backoff_are_not_overtaken_by_new_ones(tmp_path: Path, demo) -> None:
    spool_path = tmp_path / "a2a-spool.sqlite"
    spool = Spool(spool_path)
    earlier = [A2AEvent.gauntlet_begin(), A2AEvent.gauntlet_pass(duration_seconds=1.0)]
    spool.put_many(earlier)
    retry_at = utc_now() + timedelta(minutes=5)  # several failed runs: a long backoff
    for event in earlier:
        spool.mark_failed(event.id, "connection refused", next_attempt_at=retry_at)
    spool.close()

    config = write_lora(tmp_path, a2a={"spool": str(spool_path)})
    switches = {"gauntlet_enabled": True, "a2a_enabled": True, "skip_gauntlet": True}
    state, _ = deploy(config, GOOD_ADAPTER, version="v1", **switches)

    assert state.is_completed()
    received = [json.dumps(e, separators=(",", ":")) for e in demo.model.events]
    assert received[:2] == [event.to_json() for event in earlier]


# -- fail closed: no path reports an unproven release as proven ------------------------------


def test_kill_switch_stops_both_flows_before_any_side_effect(tmp_path: Path, demo) -> None:
    spool_path = tmp_path / "a2a-spool.sqlite"
    config = write_lora(tmp_path, a2a={"spool": str(spool_path)})
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        state, report = deploy(
            config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True, a2a_enabled=True
        )
        alone = lora_gauntlet(candidate="demo-v1", config=str(config), return_state=True)
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.KILL_SWITCH_ON, 3)
    assert not spool_path.exists()  # the A2A spool was not even opened, let alone drained
    assert report.a2a is None and report.gauntlet is None
    assert demo_registry().current() == Pointers() and demo_registry().versions() == []
    assert demo.model.events == []
    error = alone.result(raise_on_failure=False)
    assert alone.is_failed() and isinstance(error, KillSwitchOn) and error.code == 3


def test_kill_switch_turned_on_before_promotion_rolls_the_canary_back(
    tmp_path: Path, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_lora(tmp_path)
    seed_stable(config, "v1")
    checks: list[str] = []

    def on_at_the_third_check(process: str) -> None:  # start, before the deploy, before promote
        checks.append(process)
        if len(checks) == 3:
            raise KillSwitchOn(f"{process}: warden_kill_switch turned on during the run")

    monkeypatch.setattr("flows.lora_deploy.ensure_kill_switch_off", on_at_the_third_check)
    since = utc_now()
    state, report = deploy(config, GOOD_ADAPTER, version="v2", gauntlet_enabled=True)

    assert state.is_failed() and len(checks) == 3
    assert (report.outcome, report.exit_code) == (DeployOutcome.KILL_SWITCH_ON, 3)
    assert report.gauntlet.passed  # the gauntlet passed; the switch still stops the promotion
    assert report.rollback.rolled_back and report.rollback.canary == "v2"
    assert (
        demo_registry().current()
        == Pointers(stable="v1", canary=None)
        == Pointers(stable=report.stable_after)
    )
    expected = ["warden.gauntlet.begin", "warden.gauntlet.pass", "warden.gauntlet.rollback"]
    events = gauntlet_events(since, set(expected))
    assert [e.event for e in events] == expected  # the rollback notifies (automations.yaml)


def test_a_failed_canary_deploy_gets_its_fail_event_and_the_rollback(tmp_path: Path, demo) -> None:
    spool_path = tmp_path / "a2a-spool.sqlite"
    bus_down = {"webhook_url": f"http://127.0.0.1:{free_port()}/a2a", "spool": str(spool_path)}
    with refusing_vllm() as (url, asked):
        target = {
            "kind": "vllm",
            "base_url": url,
            "registry": str(tmp_path / "registry"),
            "endpoint": {"base_url": url},
        }
        config = write_lora(tmp_path, targets={"refusing": target}, a2a=bus_down)
        since = utc_now()
        state, report = deploy(
            config,
            GOOD_ADAPTER,
            target="refusing",
            version="v1",
            gauntlet_enabled=True,
            a2a_enabled=True,
        )

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 1)  # vLLM refused the load
    assert "/v1/load_lora_adapter" in asked and report.gauntlet is None
    assert report.rollback is not None  # the rollback handler ran
    assert LocalRegistry(tmp_path / "registry", name_prefix="lora").current() == Pointers()
    spooled = Spool(spool_path).pending()  # the bus is down: every event waits in the spool
    assert [e.event_type for e in spooled] == ["GAUNTLET_BEGIN", "GAUNTLET_FAIL"]
    assert json.loads(spooled[1].body)["metadata"]["failure_reason"] == "canary_deploy_failed"
    events = gauntlet_events(since, {"warden.gauntlet.begin", "warden.gauntlet.fail"})
    mine = [e.event for e in events if e.resource.id == "warden.lora-target.refusing"]
    assert mine == ["warden.gauntlet.begin", "warden.gauntlet.fail"]


def test_a_first_deploy_is_held_to_the_shipped_floor(tmp_path: Path, demo) -> None:
    state, report = deploy(
        write_lora(tmp_path), DEGRADED_ADAPTER, version="v1", gauntlet_enabled=True
    )

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ROLLED_BACK, 1)
    assert report.gauntlet.stable is None and report.gauntlet.failure_reason == "accuracy_drop"
    assert demo_registry().current() == Pointers()


def test_a_first_deploy_without_a_floor_is_a_configuration_error(tmp_path: Path, demo) -> None:
    policy = yaml.safe_load(LORA_FILE.read_text(encoding="utf-8"))["gauntlet"]["policy"]
    del policy["min_accuracy"]
    config = write_lora(tmp_path, gauntlet={"policy": policy})
    state, report = deploy(config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 2)
    assert report.gauntlet is None
    assert demo_registry().current() == Pointers() and demo_registry().versions() == []


def test_a_used_version_name_with_other_bytes_is_not_already_stable(tmp_path: Path, demo) -> None:
    config = write_lora(tmp_path)
    seed_stable(config, "v1")
    state, report = deploy(config, DEGRADED_ADAPTER, version="v1", gauntlet_enabled=True)

    assert state.is_failed()
    assert (report.outcome, report.exit_code) == (DeployOutcome.ERROR, 2)
    assert demo_registry().current() == Pointers(stable="v1", canary=None)
    state, report = deploy(config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True)
    assert state.is_completed() and report.outcome is DeployOutcome.ALREADY_STABLE


def test_an_unwritable_a2a_spool_is_evented_and_the_deploy_goes_on(tmp_path: Path, demo) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    config = write_lora(tmp_path, a2a={"spool": str(blocker / "a2a-spool.sqlite")})
    since = utc_now()
    state, report = deploy(
        config, GOOD_ADAPTER, version="v1", gauntlet_enabled=True, a2a_enabled=True
    )

    assert state.is_completed() and report.outcome is DeployOutcome.PROMOTED, report.reasons
    assert (report.a2a.published, report.a2a.durable, report.a2a.dropped) == (2, 0, 2)
    kinds = [p.kind for p in report.a2a.problems]
    assert kinds == [ProblemKind.SPOOL_UNAVAILABLE, ProblemKind.DROPPED]
    both = ["warden.fallback.a2a"] * 2
    events = gauntlet_events(since, both, prefix="warden.fallback.")
    assert [e.payload["problem"] for e in events] == ["spool_unavailable", "dropped"]


def test_the_start_of_run_drain_is_bounded_in_time(tmp_path: Path, demo) -> None:
    spool_path = tmp_path / "a2a-spool.sqlite"
    spool = Spool(spool_path)
    spool.put_many([A2AEvent(event_type="EARLIER", metadata={"n": n}) for n in range(100)])
    spool.close()
    with slow_bus(0.2) as url:  # unbounded, delivering them would take 100 x 0.2 s = 20 s
        a2a = {"webhook_url": url, "spool": str(spool_path), "drain_seconds": 0.5}
        config = write_lora(tmp_path, a2a=a2a)
        started = time.monotonic()
        state, report = deploy(
            config,
            GOOD_ADAPTER,
            version="v1",
            gauntlet_enabled=True,
            skip_gauntlet=True,
            a2a_enabled=True,
        )
        elapsed = time.monotonic() - started

    assert state.is_completed() and report.outcome is DeployOutcome.PROMOTED_UNTESTED
    drain = report.a2a.drain
    assert drain.stopped == "budget" and 0 < drain.sent < 100
    assert report.events_spooled == 100 - drain.sent + 2  # the rest, and this run's two, wait
    assert elapsed < 15
