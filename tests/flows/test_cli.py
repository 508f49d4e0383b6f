"""`warden` as CI calls it: exit codes 0/1/2, subsets, strict manual, outputs, bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import py
from tests.flows.cli_runner import warden
from tests.flows.gate_files import failing, passing, write_gates
from tests.loopback import free_port


def test_help_lists_every_subcommand() -> None:
    result = warden("--help")
    assert result.exit_code == 0
    assert "gates" in result.output and "config" in result.output
    assert "run" in warden("gates", "--help").output


def test_all_passing_exits_0_and_writes_both_files(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), passing("lint")])
    out = tmp_path / "out"
    result = warden("gates", "run", "--config", str(config), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "GO" in result.output
    document = json.loads((out / "gate_results.json").read_text())
    assert set(document) == {"_meta", "smoke", "lint"}
    assert "| Gate | Result |" in (out / "gate_sign_off.md").read_text()


def test_a_failing_mandatory_gate_exits_1(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), failing("unit")])
    result = warden("gates", "run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "NO-GO" in result.output and "unit" in result.output


@pytest.mark.parametrize("style", [["--gates", "a", "c"], ["--gates", "a,c"]])
def test_subset_runs_only_the_named_gates(tmp_path: Path, style: list[str]) -> None:
    config = write_gates(tmp_path, [passing("a"), failing("b"), passing("c")])
    out = tmp_path / "out"
    result = warden("gates", "run", "--config", str(config), "--out", str(out), *style)
    assert result.exit_code == 0, result.output
    assert set(json.loads((out / "gate_results.json").read_text())) == {"_meta", "a", "c"}


def test_strict_manual_fails_a_manual_gate_not_validated(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), {"name": "hmr", "kind": "manual"}])
    relaxed = warden("gates", "run", "--config", str(config), "--out", str(tmp_path / "1"))
    assert relaxed.exit_code == 0 and "🔧" in relaxed.output
    strict = warden(
        "gates", "run", "--config", str(config), "--strict-manual", "--out", str(tmp_path / "2")
    )
    assert strict.exit_code == 1
    document = json.loads((tmp_path / "2" / "gate_results.json").read_text())
    assert document["hmr"]["status"] == "manual_followup"
    assert (document["_meta"]["strict_manual"], document["_meta"]["verdict"]) == (True, "no-go")


def test_a_hanging_command_is_killed_at_its_timeout(tmp_path: Path) -> None:
    hang = py("import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)")
    config = write_gates(
        tmp_path, [{"name": "hang", "kind": "command", "argv": hang, "timeout_sec": 1}]
    )
    started = time.monotonic()
    result = warden("gates", "run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert time.monotonic() - started < 30
    gate = json.loads((tmp_path / "o" / "gate_results.json").read_text())["hang"]
    assert gate["reason"] == "timeout" and gate["details"]["timed_out"] is True


def test_a_command_that_does_not_exist_fails_its_gate_clearly(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [{"name": "x", "kind": "command", "argv": ["no-such-tool"]}])
    result = warden("gates", "run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    gate = json.loads((tmp_path / "o" / "gate_results.json").read_text())["x"]
    assert (gate["ok"], gate["status"], gate["reason"]) == (False, "failed", "not_found")


def test_an_http_gate_aimed_at_a_closed_port_fails_clearly(tmp_path: Path) -> None:
    port = free_port()
    gate = {
        "name": "api",
        "kind": "http",
        "url": f"http://127.0.0.1:{port}/health",
        "timeout_sec": 2,
    }
    config = write_gates(tmp_path, [gate])
    result = warden("gates", "run", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    details = json.loads((tmp_path / "o" / "gate_results.json").read_text())["api"]
    assert (details["ok"], details["status"], details["reason"]) == (False, "failed", "unreachable")


# What each error says is tested once, where it is raised (tests/unit/test_gates_config.py);
# here, that the command exits with its code and runs nothing.
BAD_INPUT = {
    "missing-file": None,
    "malformed-yaml": "gates: [\n",
    "unknown-kind": "gates:\n  - {name: a, kind: telepathy}\n",
    "duplicate-names": "gates:\n  - {name: a, kind: manual}\n  - {name: a, kind: manual}\n",
}
USAGE_ERROR = "(USAGE_ERROR, exit 2)"


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_and_runs_nothing(case: str, tmp_path: Path) -> None:
    text = BAD_INPUT[case]
    config = tmp_path / "gates.yaml"
    if text is not None:
        config.write_text(text)
    out = tmp_path / "out"
    result = warden("gates", "run", "--config", str(config), "--out", str(out))
    assert result.exit_code == 2
    assert USAGE_ERROR in result.output
    assert not out.exists()


def test_unknown_gate_name_exits_2_and_runs_nothing(tmp_path: Path) -> None:
    config = write_gates(tmp_path, [passing("smoke"), passing("lint")])
    out = tmp_path / "out"
    result = warden("gates", "run", "--config", str(config), "--gates", "smok", "--out", str(out))
    assert result.exit_code == 2
    assert USAGE_ERROR in result.output
    assert not out.exists()


def test_config_validate_checks_the_shipped_configs_and_rejects_broken_ones(
    tmp_path: Path,
) -> None:
    assert warden("config", "validate", "deployments").exit_code == 0
    broken = tmp_path / "prefect.yaml"
    broken.write_text("deployments:\n  - name: x\n    entrypoint: flows/nope.py:missing\n")
    result = warden("config", "validate", str(broken))
    assert result.exit_code == 2 and "deployment 'x'" in result.output
