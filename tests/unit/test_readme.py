"""The README's examples are run, so they cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from blocks.errors import ExitCode
from blocks.gates import load_gates_file
from tasks.gates.selection import plan_run
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_gates_file_example_is_valid(tmp_path: Path) -> None:
    example = re.search(r"### The gates file.*?```yaml\n(.*?)```", README, re.S)
    assert example, "README lost its gates file example"
    path = tmp_path / "gates.yaml"
    path.write_text(example.group(1))
    gates_file = load_gates_file(path)
    assert {gate.kind for gate in gates_file.gates} == {
        "command",
        "http",
        "coverage",
        "flow-run",
        "manual",
    }
    plan = plan_run(gates_file, profile="ci", environ={})
    assert plan.names == ["unit-tests", "api-health"] and plan.strict_manual


def test_the_exit_code_table_matches_the_code() -> None:
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", README, re.M))
    assert sorted(int(code) for code in table) == sorted(int(code) for code in ExitCode)


def test_the_history_example_runs(tmp_path: Path) -> None:
    from tasks.workflows.history import HistoryStore
    from tests.unit.workflow_history_data import build_history

    example = re.search(r"```python\n(.*?)```", README, re.S)
    assert example, "README lost its load_history example"
    build_history(HistoryStore(tmp_path / "history"), days=2, n_files=5, corpus="sample")
    code = example.group(1).replace('".warden/history"', repr(str(tmp_path / "history")))
    namespace: dict = {}
    exec(code, namespace)
    assert len(namespace["df"]) == 10
