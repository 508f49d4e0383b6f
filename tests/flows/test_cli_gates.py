"""`warden gates run` options from the seed: --all, AETHERRA_PROFILE, --previous."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.flows.gate_files import failing, passing, write_gates

runner = CliRunner()


def warden(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def gates_in(out: Path) -> set[str]:
    return set(json.loads((out / "gate_results.json").read_text())) - {"_meta"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_gates(tmp_path, [passing("a"), passing("b")], profiles={"test": {"gates": ["a"]}})


def test_all_runs_every_gate_of_the_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = warden(
        "gates", "run", "-c", str(config), "--profile", "test", "--all", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert gates_in(out) == {"a", "b"}


def test_the_profile_comes_from_aetherra_profile(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AETHERRA_PROFILE", "test")
    out = tmp_path / "out"
    result = warden("gates", "run", "-c", str(config), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "gate_results.json").read_text())["_meta"]["profile"] == "test"
    assert gates_in(out) == {"a"}


BAD_OPTIONS = {
    "all-and-gates": ({}, ["--all", "--gates", "a"]),
    "unknown-profile-from-env": ({"AETHERRA_PROFILE": "staging"}, []),
    "previous-missing": ({}, ["--previous", "nowhere/gate_results.json"]),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_options_exit_2_and_run_nothing(
    case: str, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, args = BAD_OPTIONS[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out"
    result = warden("gates", "run", "-c", str(config), "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert not out.exists()


def test_previous_must_be_an_accepted_run(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("a"), failing("b")])
    failed = tmp_path / "failed"
    assert warden("gates", "run", "-c", str(config), "--out", str(failed)).exit_code == 1

    out = tmp_path / "out"
    previous = str(failed / "gate_results.json")
    result = warden("gates", "run", "-c", str(config), "--previous", previous, "--out", str(out))
    assert result.exit_code == 2
    assert "only an accepted run" in result.output
    assert not out.exists()
