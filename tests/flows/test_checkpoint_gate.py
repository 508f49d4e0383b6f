"""Checkpoint verification in real runs: a go/no-go ``checkpoint`` gate, and the plan step."""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow

from blocks.errors import CheckpointCode
from flows.go_no_go import go_no_go_gates
from tasks.checkpoints.report import CheckpointReport
from tasks.checkpoints.steps import check_checkpoint
from tasks.checkpoints.verify import seal_checkpoint
from tasks.gates.models import GateSuiteReport, GateVerdict
from tests.checkpoint_files import malicious_pickle, write_checkpoint
from tests.flows.gate_files import write_gates


def test_checkpoint_gates_pass_a_sealed_checkpoint_and_fail_a_torn_one(tmp_path: Path) -> None:
    good = write_checkpoint(tmp_path / "good")
    torn = write_checkpoint(tmp_path / "torn")
    for directory in (good, torn):
        assert seal_checkpoint(directory).sealed
    weights = torn / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    config = write_gates(
        tmp_path,
        [
            {"name": "good-weights", "kind": "checkpoint", "path": str(good)},
            {"name": "torn-weights", "kind": "checkpoint", "path": str(torn)},
        ],
    )

    state = go_no_go_gates(config=str(config), out=str(tmp_path / "out"), return_state=True)
    report = state.result(raise_on_failure=False)

    assert isinstance(report, GateSuiteReport), report
    assert state.is_failed()
    assert (report.verdict, report.exit_code) == (GateVerdict.NO_GO, 1)
    results = json.loads((tmp_path / "out" / "gate_results.json").read_text())
    assert results["good-weights"]["ok"] is True
    assert (results["torn-weights"]["ok"], results["torn-weights"]["reason"]) == (
        False,
        "size_mismatch",
    )


def test_the_plan_step_refuses_a_malicious_pickle_without_running_it(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    (directory / "rng_state.pkl").write_bytes(malicious_pickle(marker))

    @flow
    def verify_in_a_flow(path: str) -> CheckpointReport:
        return check_checkpoint(path, require_manifest=False)

    report = verify_in_a_flow(str(directory))

    assert (report.ok, report.code) == (False, CheckpointCode.PICKLE_UNSAFE_GLOBAL)
    assert not marker.exists()
