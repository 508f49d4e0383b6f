"""`warden lora` as CI calls it: the kill switch exits 3 with nothing done, bad input exits 2."""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterStartTime,
)
from prefect.variables import Variable

from blocks.storage import warden_home
from tasks.lora.registry import Pointers
from tasks.platform.clock import utc_now
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.flows.cli_runner import warden
from tests.flows.lora_files import GOOD_ADAPTER, live_canary, write_lora
from tests.folders import folder_state


def test_deploy_under_the_kill_switch_exits_3_and_deploys_nothing(tmp_path: Path) -> None:
    config = write_lora(tmp_path)
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        result = warden("lora", "deploy", str(GOOD_ADAPTER), "--config", str(config), "--gauntlet")
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)
    assert result.exit_code == 3, result.output
    assert "kill_switch_on" in result.output
    assert not (warden_home() / "lora" / "demo" / "versions").exists()


def test_gauntlet_refuses_an_unknown_mode(tmp_path: Path) -> None:
    result = warden("lora", "gauntlet", "--config", str(write_lora(tmp_path)), "--mode", "quick")
    assert result.exit_code == 2, result.output


def test_rollback_runs_the_flow_and_works_under_the_kill_switch(tmp_path: Path) -> None:
    registry = live_canary()
    since = utc_now()
    Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    try:
        result = warden("lora", "rollback", "--config", str(write_lora(tmp_path)))
    finally:
        Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)
    assert result.exit_code == 0, result.output
    assert "stable: v1; canary removed: v2" in result.output
    assert registry.current() == Pointers(stable="v1", canary=None)
    with get_client(sync_client=True) as client:  # the side effect went through the flow
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["lora-rollback"])),
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)),
        )
    assert [run.state.name for run in runs] == ["Completed"]


def test_status_reads_the_spool_without_creating_or_changing_anything(tmp_path: Path) -> None:
    from tasks.events import A2AEvent, Spool

    spools = tmp_path / "spools"
    spools.mkdir()
    empty, kept = spools / "empty.sqlite", spools / "kept.sqlite"
    empty.touch()  # opening it as a Spool would create the table
    spool = Spool(kept)
    spool.put(A2AEvent.gauntlet_begin())
    spool.close()
    before = folder_state(spools)
    for path, waiting in ((empty, 0), (kept, 1)):
        config = write_lora(tmp_path, a2a={"spool": str(path)})
        result = warden("lora", "status", "--config", str(config))
        assert result.exit_code == 0, result.output
        assert f"A2A spool: {waiting} event(s) waiting" in result.output
    assert folder_state(spools) == before
