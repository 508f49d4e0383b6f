"""How the GPU matrix concern is laid out, checked so it cannot drift back (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.test_lora_layout import attributes, imported

MATRIX = sorted((ROOT / "tasks" / "matrix").glob("*.py"))
FLOW = ROOT / "flows" / "gpu_matrix.py"


@pytest.mark.parametrize("path", MATRIX, ids=lambda p: p.name)
def test_only_steps_import_prefect(path: Path) -> None:
    prefect = {name for name in imported(path) if name.split(".")[0] == "prefect"}
    assert not prefect or path.name == "steps.py"


def test_the_flow_module_fits_and_holds_no_backend() -> None:
    assert len(FLOW.read_text(encoding="utf-8").splitlines()) < 150
    names = imported(FLOW)
    assert not {"boto3", "botocore", "httpx", "yaml", "json"} & names
    prefect = {name for name in names if name.split(".")[0] == "prefect"}
    assert prefect <= {"prefect", "prefect.states", "prefect.runtime", "prefect.task_runners"}


@pytest.mark.parametrize("name", ["evidence.py", "verdicts.py", "pipeline.py", "record.py"])
def test_only_the_report_renders_markdown(name: str) -> None:
    assert "md_cell" not in attributes(ROOT / "tasks" / "matrix" / name)


def test_the_flow_decides_its_verdict_through_the_rules_module() -> None:
    """No verdict is chosen in the flow body: every ``Verdict`` comes from verdicts.py."""
    assert "Verdict" not in attributes(FLOW)
