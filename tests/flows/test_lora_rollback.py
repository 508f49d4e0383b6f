"""`lora-rollback`: the rollback handler by hand, as a flow with its event; cleanup, so it works
under the kill switch."""

from __future__ import annotations

from pathlib import Path

from prefect.variables import Variable

from blocks.errors import UsageError
from flows.lora_rollback import lora_rollback
from tasks.lora.registry import Pointers, RollbackResult
from tasks.platform.clock import utc_now
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.flows.lora_files import demo_registry, gauntlet_events, live_canary, write_lora


def rollback(config: Path, **params) -> tuple[object, object]:
    state = lora_rollback(config=str(config), return_state=True, **params)
    return state, state.result(raise_on_failure=False)


def test_rollback_restores_the_stable_and_emits_its_event(tmp_path: Path) -> None:
    config = write_lora(tmp_path)
    since = utc_now()
    state, nothing = rollback(config)  # nothing deployed: a no-op that changes nothing
    assert state.is_completed() and isinstance(nothing, RollbackResult)
    assert not nothing.rolled_back and demo_registry().history() == []

    registry = live_canary()
    state, result = rollback(config)

    assert state.is_completed(), result
    assert (result.rolled_back, result.canary, result.stable) == (True, "v2", "v1")
    assert registry.current() == Pointers(stable="v1", canary=None)
    assert registry.history()[-1]["action"] == "rollback"
    events = gauntlet_events(since, {"warden.gauntlet.rollback"})
    [event] = [e for e in events if e.event == "warden.gauntlet.rollback"]  # none for the no-op
    assert event.resource.id == "warden.lora-target.demo"
    assert event.payload["rolled_back"] is True
    assert (event.payload["canary"], event.payload["stable"]) == ("v2", "v1")


def test_rollback_works_under_the_kill_switch(tmp_path: Path) -> None:
    config = write_lora(tmp_path)
    registry = live_canary()
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        state, result = rollback(config)
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)

    assert state.is_completed() and result.rolled_back
    assert registry.current() == Pointers(stable="v1", canary=None)


def test_an_unknown_target_is_a_usage_error_that_changes_nothing(tmp_path: Path) -> None:
    registry = live_canary()
    state, error = rollback(write_lora(tmp_path), target="nowhere")
    assert state.is_failed() and isinstance(error, UsageError) and error.code == 2
    assert registry.current() == Pointers(stable="v1", canary="v2")
