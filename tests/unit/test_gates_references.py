"""Relative thresholds compare with the last accepted run: the store, and a run named by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.errors import ExitCode, UsageError
from blocks.gates import CommandGate, CoverageGate, GateMode
from tasks.gates.models import (
    Band,
    CheckOutcome,
    Comparison,
    GateResult,
    GateStatus,
    GateSuiteReport,
    GateVerdict,
    MetricResult,
    Reference,
    ReferenceSource,
)
from tasks.gates.outputs import write_outputs
from tasks.gates.references import (
    StoreUnreadable,
    accepted_references,
    given_references,
    record_accepted,
)
from tasks.gates.scoring import finalize

STARTED = datetime(2024, 10, 27, 3, 33, 20, tzinfo=UTC)
LATENCY = CommandGate(
    kind="command",
    name="latency",
    argv=["true"],
    metric={"name": "p95_ms", "regex": r"(?P<value>\d+)", "relative": "<= +10%"},
)
COVERAGE = CoverageGate(kind="coverage", name="coverage", report="r.json", baseline="b.json")
PLAIN = CommandGate(kind="command", name="lint", argv=["true"])
GATES = [LATENCY, COVERAGE, PLAIN]


def result(name: str, metric: str | None, value: float | None, status=GateStatus.PASSED):
    measured = None
    if metric is not None:
        measured = MetricResult(name=metric, value=value, ok=status is GateStatus.PASSED)
    return GateResult(
        name=name,
        kind="command",
        mode=GateMode.MANDATORY,
        status=status,
        ok=status is not GateStatus.FAILED,
        manual=False,
        duration_sec=1.0,
        weight=1.0,
        key=False,
        metric=measured,
    )


def report(
    verdict: GateVerdict, *results: GateResult, profile: str = "test", days: int = 0, out: str = ""
) -> GateSuiteReport:
    started = STARTED + timedelta(days=days)
    return GateSuiteReport(
        profile=profile,
        started_at=started,
        finished_at=started + timedelta(seconds=5),
        strict_manual=False,
        gates=list(results),
        score=100.0,
        band=Band.PASS,
        verdict=verdict,
        exit_code=1 if verdict is GateVerdict.NO_GO else 0,
        out_dir=out,
    )


def values(references: dict[str, Reference]) -> dict[str, float | None]:
    return {name: ref.value for name, ref in references.items()}


# -- the store of accepted runs ---------------------------------------------------------------


def test_a_failed_run_never_becomes_the_reference(tmp_path: Path) -> None:
    store = tmp_path / "accepted.json"
    record_accepted(store, report(GateVerdict.GO, result("latency", "p95_ms", 100.0)))
    assert (
        record_accepted(store, report(GateVerdict.NO_GO, result("latency", "p95_ms", 130.0))) == []
    )

    refs = accepted_references(store, "test", GATES)
    assert refs["latency"].value == 100.0  # not 130: the no-go run proved nothing

    # ... so the rerun that measures 130 again is still held against 100, and fails
    outcome = CheckOutcome(ok=True, metric_value=130.0)
    rerun = finalize(LATENCY, outcome, duration_sec=1, previous_metric=refs["latency"])
    assert (rerun.status, rerun.reason) == (GateStatus.FAILED, "metric_threshold")
    assert rerun.metric is not None and rerun.metric.comparison is Comparison.COMPARED


def test_go_with_warnings_is_accepted(tmp_path: Path) -> None:
    store = tmp_path / "accepted.json"
    assert record_accepted(store, report(GateVerdict.WARN, result("latency", "p95_ms", 90.0))) == [
        "latency"
    ]
    assert accepted_references(store, "test", GATES)["latency"].value == 90.0


def test_a_subset_run_keeps_the_other_gates_references(tmp_path: Path) -> None:
    store = tmp_path / "accepted.json"
    full = report(
        GateVerdict.GO,
        result("latency", "p95_ms", 100.0),
        result("coverage", "coverage_percent", 81.0),
        out="run-1",
    )
    record_accepted(store, full)
    subset = report(GateVerdict.GO, result("coverage", "coverage_percent", 82.0), days=1, out="o2")
    record_accepted(store, subset)

    refs = accepted_references(store, "test", GATES)
    assert values(refs) == {"latency": 100.0, "coverage": 82.0}  # lint has no metric
    assert refs["latency"].run == "run-1"
    assert refs["latency"].source is ReferenceSource.ACCEPTED


def test_a_gate_that_failed_in_an_accepted_run_keeps_its_older_reference(tmp_path: Path) -> None:
    store = tmp_path / "accepted.json"
    record_accepted(store, report(GateVerdict.GO, result("latency", "p95_ms", 100.0)))
    failed_advisory = result("latency", "p95_ms", 500.0, status=GateStatus.FAILED)
    record_accepted(store, report(GateVerdict.WARN, failed_advisory))
    assert accepted_references(store, "test", GATES)["latency"].value == 100.0


def test_references_are_per_profile_and_per_metric_name(tmp_path: Path) -> None:
    store = tmp_path / "accepted.json"
    record_accepted(store, report(GateVerdict.GO, result("latency", "p50_ms", 100.0)))
    record_accepted(
        store, report(GateVerdict.GO, result("latency", "p95_ms", 70.0), profile="prod")
    )

    refs = accepted_references(store, "test", GATES)
    assert refs["latency"] == Reference()  # p50_ms is another metric: no reference yet
    assert accepted_references(store, "prod", GATES)["latency"].value == 70.0
    assert values(accepted_references(tmp_path / "none.json", "test", GATES)) == {
        "latency": None,
        "coverage": None,
    }


@pytest.mark.parametrize(
    "content",
    ["", "{broken", "null", '{"version": 1, "profiles": {"test": {"latency": 3}}}'],
    ids=["empty", "bad-json", "null", "wrong-shape"],
)
def test_an_unreadable_store_is_a_problem_not_an_absent_reference(
    tmp_path: Path, content: str
) -> None:
    store = tmp_path / "accepted.json"
    store.write_text(content)
    refs = accepted_references(store, "test", GATES)
    assert set(refs) == {"latency", "coverage"}
    assert all(ref.problem and ref.value is None for ref in refs.values())

    latency = finalize(
        LATENCY,
        CheckOutcome(ok=True, metric_value=1.0),
        duration_sec=1,
        previous_metric=refs["latency"],
    )
    assert (latency.status, latency.ok, latency.reason) == (
        GateStatus.FAILED,
        False,
        "reference_unusable",
    )
    with pytest.raises(StoreUnreadable):
        record_accepted(store, report(GateVerdict.GO, result("latency", "p95_ms", 1.0)))
    assert store.read_text() == content  # never overwritten


def test_the_store_is_written_atomically(tmp_path: Path) -> None:
    store = tmp_path / "gates" / "accepted.json"
    record_accepted(store, report(GateVerdict.GO, result("latency", "p95_ms", 1.0)))
    assert sorted(p.name for p in store.parent.iterdir()) == ["accepted.json", "accepted.json.lock"]
    assert json.loads(store.read_text())["profiles"]["test"]["latency"]["value"] == 1.0


# -- a run named by hand (--previous) -------------------------------------------------------


def test_a_named_accepted_run_is_the_reference(tmp_path: Path) -> None:
    write_outputs(report(GateVerdict.GO, result("latency", "p95_ms", 81.0)), tmp_path)
    refs = given_references(tmp_path / "gate_results.json", "test", GATES)
    assert refs["latency"].value == 81.0 and refs["latency"].source is ReferenceSource.GIVEN
    assert refs["coverage"].value is None and refs["coverage"].problem  # expected, not there


def test_a_folder_of_runs_gives_its_newest_accepted_run_of_the_profile(tmp_path: Path) -> None:
    runs = [
        ("1", GateVerdict.GO, "test", 0, 70.0),
        ("2", GateVerdict.WARN, "test", 1, 80.0),  # the newest accepted "test" run
        ("3", GateVerdict.NO_GO, "test", 2, 999.0),  # newer, but failed
        ("4", GateVerdict.GO, "prod", 3, 90.0),  # other profile
    ]
    for folder, verdict, profile, days, value in runs:
        done = report(verdict, result("latency", "p95_ms", value), profile=profile, days=days)
        write_outputs(done, tmp_path / folder)
    corrupt = tmp_path / "5"
    corrupt.mkdir()
    (corrupt / "gate_results.json").write_text('{"_meta": {"profile": "test", "ts": 9e9')

    assert given_references(tmp_path, "test", GATES)["latency"].value == 80.0
    assert given_references(tmp_path, "prod", GATES)["latency"].value == 90.0


@pytest.mark.parametrize(
    "case", ["missing", "corrupt", "no-go-run", "other-profile", "folder-without-accepted-run"]
)
def test_an_unusable_named_run_is_a_usage_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / "gate_results.json"
    if case == "corrupt":
        path.write_text("{broken")
    elif case == "no-go-run":
        write_outputs(report(GateVerdict.NO_GO, result("latency", "p95_ms", 1.0)), tmp_path)
    elif case == "other-profile":
        done = report(GateVerdict.GO, result("latency", "p95_ms", 1.0), profile="prod")
        write_outputs(done, tmp_path)
    elif case == "folder-without-accepted-run":
        path = tmp_path
    with pytest.raises(UsageError) as caught:
        given_references(path, "test", GATES)
    assert caught.value.code == ExitCode.USAGE_ERROR
