"""The checkpoint gate: its configuration, and its verdict taken from the checkpoint verifier."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from blocks.errors import ConfigError
from blocks.gates import CheckpointGate, load_gates_file
from tasks.checkpoints.verify import seal_checkpoint
from tasks.gates.checkpoint_check import evaluate_checkpoint
from tasks.gates.selection import plan_run
from tests.checkpoint_files import write_checkpoint
from tests.conftest import ROOT


def gate(**fields) -> CheckpointGate:
    return CheckpointGate(kind="checkpoint", name="weights", path="ckpt", **fields)


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    directory = write_checkpoint(tmp_path / "ckpt")
    assert seal_checkpoint(directory).sealed
    return directory


def test_a_checkpoint_gate_loads_and_its_path_expands(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(
        "gates:\n  - {name: weights, kind: checkpoint, path: '${CKPT:-ckpt}/final'}\n"
        "  - {name: fmt, kind: checkpoint, path: x, require_manifest: false}\n"
    )
    plan = plan_run(load_gates_file(path), environ={"CKPT": "runs/7"})
    weights, fmt = plan.gates
    assert (weights.kind, weights.path, weights.require_manifest) == (
        "checkpoint",
        "runs/7/final",
        True,
    )
    assert fmt.require_manifest is False


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{name: a, kind: checkpoint}", r"gates.0.path: Field required"),
        ("{name: a, kind: checkpoint, path: ''}", r"gates.0.path: String should have"),
        ("{name: a, kind: checkpoint, path: c, timeout_sec: 5}", r"drop timeout_sec"),
        ("{name: a, kind: checkpoint, path: c, metric: {name: m}}", r"drop its metric"),
        ("{name: a, kind: checkpoint, path: c, verify: true}", r"gates.0.verify: Extra inputs"),
    ],
)
def test_invalid_checkpoint_gates_are_refused(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(f"gates:\n  - {line}\n")
    with pytest.raises(ConfigError) as caught:
        load_gates_file(path)
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_a_verified_checkpoint_passes(sealed: Path) -> None:
    outcome = evaluate_checkpoint(gate(), sealed.parent)
    assert (outcome.ok, outcome.details["code"], outcome.details["manifest_checked"]) == (
        True,
        "VERIFIED",
        True,
    )


def test_a_torn_checkpoint_fails_with_the_code_as_reason(sealed: Path) -> None:
    weights = sealed / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])

    outcome = evaluate_checkpoint(gate(), sealed.parent)

    assert (outcome.ok, outcome.reason) == (False, "size_mismatch")
    assert outcome.details["remediation"]


def test_an_unsealed_checkpoint_fails_unless_formats_only(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "ckpt")
    assert evaluate_checkpoint(gate(), tmp_path).reason == "manifest_missing"
    assert evaluate_checkpoint(gate(require_manifest=False), tmp_path).ok


def test_a_checkpoint_that_cannot_be_checked_fails(tmp_path: Path) -> None:
    outcome = evaluate_checkpoint(gate(), tmp_path)  # no such directory
    assert (outcome.ok, outcome.reason, outcome.details["code"]) == (
        False,
        "not_a_directory",
        "NOT_A_DIRECTORY",
    )


def test_the_readme_checkpoint_gate_example_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"\*\*As a gate\*\*.*?```yaml\n(.*?)```", readme, re.S)
    assert example, "README lost its checkpoint gate example"
    path = tmp_path / "gates.yaml"
    path.write_text("gates:\n" + example.group(1))
    (only,) = plan_run(load_gates_file(path), environ={}).gates
    assert (only.kind, only.path) == ("checkpoint", "runs/latest/final")
