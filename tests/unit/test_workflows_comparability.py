"""Baselines the gate cannot compare (empty, truncated, stale, another corpus, contradicting
themselves) are exit 2 with the reason; suppressed failures can be left out of the counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.workflows.baseline import build_baseline
from tasks.workflows.comparability import (
    BaselinesNotComparable,
    Mismatch,
    check_comparable,
    without_suppressed,
)
from tasks.workflows.fingerprint import fingerprint
from tasks.workflows.models import FileResult, WorkflowCode
from tasks.workflows.regression import compare_baseline_files
from tests.unit.workflow_reports import row

T0 = datetime(2025, 9, 12, 10, 0, tzinfo=UTC)
T1 = datetime(2025, 9, 13, 10, 0, tzinfo=UTC)
NOW = datetime(2025, 9, 13, 11, 0, tzinfo=UTC)
MESSAGE = "Parse error (assignment) line 3: goal"


def failure(path: str, code: WorkflowCode = WorkflowCode.PARSE_ERROR) -> FileResult:
    """A failed file as the parser reports it: line 3, its message and real fingerprint."""
    detail = {"line": 3, "message": MESSAGE, "fingerprint": fingerprint(code.name, 3, MESSAGE)}
    return row(path, code, category="ParseError", **detail)


def corpus(n: int, failing: int = 0, root: str = "workflows", start: int = 0) -> list[FileResult]:
    rows = [row(f"{root}/sub{i % 3}/w{i:03d}.aether") for i in range(start, start + n)]
    for index in range(failing):
        rows[index] = failure(rows[index].path)
    return rows


def baseline(rows: list[FileResult], at: datetime = T1) -> dict:
    return build_baseline(rows, at).to_dict()


REFERENCE = baseline(corpus(100, failing=10), T0)


# fmt: off
NOT_COMPARABLE = [
    pytest.param(baseline([]), Mismatch.NEW_EMPTY, id="new-empty"),
    pytest.param(baseline(corpus(60)), Mismatch.TRUNCATED, id="truncated"),
    pytest.param(baseline(corpus(100, start=500)), Mismatch.FILES_MISSING,
                 id="another-corpus-same-size"),
    pytest.param(baseline(corpus(100, failing=10), at=datetime(2025, 9, 1, tzinfo=UTC)),
                 Mismatch.STALE, id="stale-new-baseline"),
    pytest.param({**baseline(corpus(100)), "by_code": {"SUCCESS": 90, "PARSE_ERROR": 10}},
                 Mismatch.NEW_CONTRADICTS_ITSELF, id="listing-vs-counts"),
]
# fmt: on


@pytest.mark.parametrize(("new", "mismatch"), NOT_COMPARABLE)
def test_a_baseline_that_cannot_be_compared_is_refused_with_the_reason(
    new: dict, mismatch: Mismatch
) -> None:
    with pytest.raises(BaselinesNotComparable) as caught:
        check_comparable(new, REFERENCE)
    assert caught.value.code == ExitCode.USAGE_ERROR == 2
    assert mismatch in caught.value.mismatches


def test_an_empty_reference_is_refused_too() -> None:
    with pytest.raises(BaselinesNotComparable) as caught:
        check_comparable(REFERENCE, baseline([], T0))
    assert caught.value.mismatches == (Mismatch.REFERENCE_EMPTY,)


def test_the_message_names_every_reason() -> None:
    """The one message test: each mismatch is described, with the numbers that show it."""
    stale_and_short = baseline(corpus(60), at=datetime(2025, 9, 1, tzinfo=UTC))
    with pytest.raises(BaselinesNotComparable) as caught:
        check_comparable(stale_and_short, REFERENCE)
    assert caught.value.mismatches == (
        Mismatch.STALE,
        Mismatch.TRUNCATED,
        Mismatch.FILES_MISSING,
    )
    assert "older than the reference" in caught.value.message
    assert "counts 60 files, the reference 100" in caught.value.message
    assert "40 of the reference's 100 files (40%)" in caught.value.message


# fmt: off
COMPARABLE = [
    pytest.param(baseline(corpus(100, failing=30)), id="same-files-more-failures"),
    pytest.param(baseline(corpus(95, failing=10)), id="a-few-files-removed"),
    pytest.param(baseline(corpus(100, root="/home/runner/work/repo/workflows")),
                 id="another-checkout-folder"),
    pytest.param(baseline([row(r.path.replace("/", "\\\\")) for r in corpus(100)]),
                 id="windows-paths"),
    pytest.param(baseline(corpus(100) + [row("tools/extra.aether")]),
                 id="a-new-top-level-folder"),
]
# fmt: on


@pytest.mark.parametrize("new", COMPARABLE)
def test_the_same_corpus_checked_whole_is_comparable(new: dict) -> None:
    assert check_comparable(new, REFERENCE) == []


def test_max_missing_accepts_a_corpus_that_really_shrank() -> None:
    assert check_comparable(baseline(corpus(60)), REFERENCE, max_missing=0.5) == []
    with pytest.raises(UsageError):
        check_comparable(baseline(corpus(60)), REFERENCE, max_missing=1.0)


def test_a_partial_listing_is_compared_on_totals_and_says_so() -> None:
    seed_style = {**baseline(corpus(100, failing=10)), "files": []}
    notes = check_comparable(seed_style, REFERENCE)
    assert len(notes) == 1 and "paths not compared" in notes[0]


def test_suppressed_failures_are_left_out_of_the_counts() -> None:
    rows = corpus(100, failing=10)
    rows[50] = failure(rows[50].path, WorkflowCode.VALIDATION_ERROR)
    left, removed = without_suppressed(baseline(rows), frozenset({rows[0].fingerprint}))
    assert removed == 10
    assert left["by_code"] == {"SUCCESS": 89, "PARSE_ERROR": 0, "VALIDATION_ERROR": 1}


def write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def test_the_gate_on_files_refuses_an_empty_new_baseline(tmp_path: Path) -> None:
    new = write(tmp_path / "new.json", baseline([]))
    ref = write(tmp_path / "ref.json", REFERENCE)
    with pytest.raises(BaselinesNotComparable):
        compare_baseline_files(new, ref, now=NOW)


def test_exclude_suppressed_turns_a_suppressed_rise_into_no_regression(tmp_path: Path) -> None:
    worse = corpus(100, failing=40)
    new = write(tmp_path / "new.json", baseline(worse))
    ref = write(tmp_path / "ref.json", REFERENCE)
    assert not compare_baseline_files(new, ref, now=NOW).ok
    listed = tmp_path / "suppressions.txt"
    listed.write_text(f"# owned by the parser team\n{worse[0].fingerprint}  # known\nnot-hex\n")
    report = compare_baseline_files(new, ref, now=NOW, suppressions=listed)
    assert report.ok and report.exit_code == 0
    assert report.new_counts["PARSE_ERROR"] == 0 == report.ref_counts["PARSE_ERROR"]
    document = report.to_dict()
    assert document["excluded_suppressed"] == {"new": 40, "ref": 10}
    assert any(":3:" in note for note in document["notes"])  # the malformed line, named


def test_exclude_suppressed_without_a_suppression_file_is_refused(tmp_path: Path) -> None:
    new = write(tmp_path / "new.json", baseline(corpus(100)))
    ref = write(tmp_path / "ref.json", REFERENCE)
    with pytest.raises(UsageError):
        compare_baseline_files(new, ref, now=NOW, suppressions=tmp_path / "absent.txt")


def test_a_plain_report_keeps_the_seeds_keys(tmp_path: Path) -> None:
    new = write(tmp_path / "new.json", baseline(corpus(100, failing=10)))
    ref = write(tmp_path / "ref.json", REFERENCE)
    document = compare_baseline_files(new, ref, now=NOW).to_dict()
    assert list(document) == [
        "ok",
        "timestamp",
        "new_counts",
        "ref_counts",
        "abs_threshold",
        "rel_threshold",
        "regressions",
    ]
