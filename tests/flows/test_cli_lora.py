"""`warden lora` as CI calls it: the kill switch exits 3 with nothing done, bad input exits 2."""

from __future__ import annotations

from pathlib import Path

from prefect.variables import Variable
from typer.testing import CliRunner

from blocks.storage import warden_home
from cli.main import app
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tests.flows.lora_files import GOOD_ADAPTER, write_lora

runner = CliRunner()


def warden(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


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
