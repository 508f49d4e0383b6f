"""The evidence pack says only what was proven; one pack per run; a promotion is read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from blocks.errors import ExitCode
from blocks.invariants import EnvironmentSpec
from tasks.matrix.errors import LegFailure, PromotionNotVisible, PromotionRaced
from tasks.matrix.evidence import (
    DigestState,
    EvidencePack,
    LegResult,
    LegStatus,
    ManifestEvidence,
    OnboardingStatus,
    StepStatus,
    Verdict,
)
from tasks.matrix.promotion import promote
from tasks.matrix.record import (
    EvidenceJournal,
    complete_after_crash,
    evidence_folder,
    finished,
    read_pack,
)
from tasks.matrix.report import render_markdown, summary
from tasks.matrix.store import LocalDigestStore

T0 = datetime(2026, 1, 19, 2, 0, tzinfo=UTC)
CANDIDATE = "registry.local/warden/agent@sha256:" + "ab" * 32
OTHER = "registry.local/warden/agent@sha256:" + "cd" * 32


def leg(**fields) -> LegResult:
    base = {
        "name": "cpu",
        "vendor": "cpu",
        "provider": "local",
        "status": LegStatus.PASSED,
        "started_at": T0,
        "finished_at": T0,
        "onboarding": OnboardingStatus.VERIFIED,
        "time_to_active_seconds": 1.5,
        "smoke_status": StepStatus.PASSED,
    }
    return LegResult(**(base | fields))


def pack(**fields) -> EvidencePack:
    base = {
        "run_id": "r-1",
        "environment": "t",
        "git_sha": None,
        "started_at": T0,
        "finished_at": T0,
        "candidate_digest": CANDIDATE,
        "dry_run": False,
        "region": "local",
        "approved_digest_before": DigestState(),
        "approved_digest_after": DigestState(value=CANDIDATE, version=1, modified_at=T0),
        "legs": [leg()],
        "verdict": Verdict.PROMOTED,
        "promoted": True,
        "exit_code": 0,
    }
    return EvidencePack(**(base | fields))


def test_a_consistent_promotion_is_accepted() -> None:
    good = pack()
    assert good.onboarding_verified and "onboarding verified" in summary(good)
    assert '"onboarding_verified":true' in good.model_dump_json()


# case: fields that would make a pack claim more than was proven
CONTRADICTIONS = {
    "promoted-without-writing": {"promoted": False},
    "promoted-with-a-failed-leg": {
        "legs": [
            leg(
                status=LegStatus.FAILED,
                failure_code=LegFailure.SMOKE_JOB_FAILED,
                smoke_status=StepStatus.FAILED,
            )
        ]
    },
    "promoted-without-legs": {"legs": []},
    "promoted-in-a-dry-run": {"dry_run": True},
    "promoted-but-read-back-another-digest": {
        "approved_digest_after": DigestState(value=OTHER, version=2, modified_at=T0)
    },
    "promoted-but-never-read-back": {"approved_digest_after": None},
    "not-promoted-with-exit-0": {"verdict": Verdict.NOT_PROMOTED, "promoted": False},
    "error-with-exit-0": {"verdict": Verdict.ERROR, "promoted": False},
    "incomplete-with-a-finish-time": {
        "verdict": Verdict.INCOMPLETE,
        "promoted": False,
        "exit_code": 5,
    },
    "dry-run-passed-without-a-manifest": {
        "verdict": Verdict.DRY_RUN_PASSED,
        "promoted": False,
        "dry_run": True,
        "legs": [],
    },
    "dry-run-passed-with-a-missing-manifest": {
        "verdict": Verdict.DRY_RUN_PASSED,
        "promoted": False,
        "dry_run": True,
        "legs": [],
        "manifest": ManifestEvidence(exists=False),
    },
}


@pytest.mark.parametrize("case", sorted(CONTRADICTIONS))
def test_a_pack_that_claims_more_than_was_proven_is_refused(case: str) -> None:
    with pytest.raises(ValidationError) as caught:
        pack(**CONTRADICTIONS[case])
    assert [error["type"] for error in caught.value.errors()] == ["value_error"]


LEG_CONTRADICTIONS = {
    "passed-with-onboarding-failed": {"onboarding": OnboardingStatus.FAILED},
    "passed-with-onboarding-not-run": {"onboarding": OnboardingStatus.NOT_RUN},
    "passed-without-a-smoke-job": {"smoke_status": StepStatus.NOT_RUN},
    "passed-with-a-failure-code": {"failure_code": LegFailure.LEG_CRASHED},
    "failed-without-a-code": {"status": LegStatus.FAILED},
    "time-to-active-without-the-control-plane": {"onboarding": OnboardingStatus.NOT_VERIFIED},
}


@pytest.mark.parametrize("case", sorted(LEG_CONTRADICTIONS))
def test_a_leg_that_claims_more_than_was_proven_is_refused(case: str) -> None:
    with pytest.raises(ValidationError):
        leg(**LEG_CONTRADICTIONS[case])


def test_unverified_onboarding_is_said_everywhere() -> None:
    unverified = pack(
        legs=[leg(onboarding=OnboardingStatus.NOT_VERIFIED, time_to_active_seconds=None)]
    )
    assert not unverified.onboarding_verified
    assert "NOT verified" in summary(unverified)
    assert "**no** — no control plane configured" in render_markdown(unverified)


def test_a_dry_run_summary_claims_no_leg() -> None:
    dry = pack(
        dry_run=True,
        legs=[],
        manifest=ManifestEvidence(exists=True),
        verdict=Verdict.DRY_RUN_PASSED,
        promoted=False,
    )
    assert "leg" not in summary(dry) and not dry.onboarding_verified


def test_finishing_with_a_contradiction_writes_an_error_instead(tmp_path: Path) -> None:
    journal = EvidenceJournal.begin(
        tmp_path / "ev",
        run_id="r-1",
        environment="t",
        git_sha=None,
        started_at=T0,
        candidate_digest=CANDIDATE,
        dry_run=False,
    )
    assert read_pack(tmp_path / "ev").verdict is Verdict.INCOMPLETE
    final = journal.finish(verdict=Verdict.PROMOTED, promoted=True, exit_code=0)  # no legs
    assert (final.verdict, final.exit_code, final.promoted) == (Verdict.ERROR, 5, False)
    assert "contradictory evidence" in final.reasons[-1]
    assert read_pack(tmp_path / "ev") == final


def test_finished_sets_the_finish_time() -> None:
    begun = pack(verdict=Verdict.INCOMPLETE, promoted=False, exit_code=5, finished_at=None)
    done = finished(begun, verdict=Verdict.ERROR, reasons=["x"], exit_code=2)
    assert done.finished_at is not None and done.exit_code == 2


def test_the_evidence_folder_is_found_again_by_the_run_id(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    first = evidence_folder("t", "run-a", T0, None)
    first.mkdir(parents=True)
    assert evidence_folder("t", "run-a", datetime.now(UTC), None) == first
    assert evidence_folder("t", "run-b", T0, None) != first
    assert evidence_folder("t", "run-a", T0, str(tmp_path / "out")) == tmp_path / "out"
    assert evidence_folder("../../etc", "r", T0, None).is_relative_to(tmp_path / "out" / "matrix")


class LyingStore(LocalDigestStore):
    """Says it wrote, writes nothing (a promotion that is not visible afterwards)."""

    def write(self, value, *, expected_version, writer):
        record = super().read()
        return record.model_copy(update={"value": value, "version": record.version + 1})


def test_a_promotion_that_is_not_read_back_fails_with_its_own_code(tmp_path: Path) -> None:
    store = LyingStore("/radix/t/approved", tmp_path)
    LocalDigestStore("/radix/t/approved", tmp_path).write(OTHER, expected_version=None, writer="x")
    with pytest.raises(PromotionNotVisible) as caught:
        promote(store, CANDIDATE, 1, "run")
    assert caught.value.code == 22 and caught.value.name == "PROMOTION_NOT_VISIBLE"
    assert caught.value.read_back.value == OTHER
    assert caught.value.code not in set(ExitCode)


def test_a_visible_promotion_returns_the_read_back(tmp_path: Path) -> None:
    store = LocalDigestStore("/radix/t/approved", tmp_path)
    after = promote(store, CANDIDATE, None, "run")
    assert (after.value, after.version) == (CANDIDATE, 1)
    with pytest.raises(PromotionRaced):
        promote(store, OTHER, None, "run")


def local_env(tmp_path: Path) -> EnvironmentSpec:
    leg_spec = {"name": "cpu", "vendor": "cpu", "provider": "local", "gpu": "none"}
    leg_spec |= {"onboarding_check": "true", "smoke_job": "true"}
    return EnvironmentSpec.model_validate(
        {
            "region": "local",
            "agent_promotion": {
                "digest_store": {
                    "kind": "local",
                    "parameter": "/radix/t/approved",
                    "path": str(tmp_path / "digests"),
                },
                "concurrency_limit": "gpu-matrix-t",
                "installer": {"script": "true"},
                "legs": [leg_spec],
            },
        }
    )


def test_a_promotion_cut_short_is_noted_never_counted(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    env = local_env(tmp_path)
    digests = LocalDigestStore("/radix/t/approved", tmp_path / "digests")
    digests.write(OTHER, expected_version=None, writer="bootstrap")
    before = DigestState(value=OTHER, version=1, modified_at=T0)
    base = {"run_id": "r-9", "environment": "t", "git_sha": None, "started_at": T0}
    base |= {"candidate_digest": CANDIDATE, "dry_run": False}
    folder = tmp_path / "ev"
    journal = EvidenceJournal.begin(folder, **base)
    journal.update(approved_digest_before=before, legs=[leg()])
    digests.write(CANDIDATE, expected_version=1, writer="gpu-matrix-promotion/r-9")  # landed

    pack = complete_after_crash(env=env, folder=folder, base=base, ended="Crashed: lost")

    assert (pack.verdict, pack.promoted, pack.exit_code) == (Verdict.ERROR, False, 5)
    assert pack.approved_digest_before == before and pack.approved_digest_after.version == 2
    assert any("not counted as proven" in reason for reason in pack.reasons)
    assert read_pack(folder) == pack and len(list(tmp_path.rglob("evidence.json"))) == 1


def test_the_hook_writes_a_pack_even_without_configuration(tmp_path: Path) -> None:
    base = {"run_id": "r-8", "environment": "t", "git_sha": None, "started_at": T0}
    base |= {"candidate_digest": "", "dry_run": False}
    pack = complete_after_crash(
        env=None, folder=tmp_path, base=base, ended="Cancelled: x", problem="no config"
    )
    assert (pack.verdict, pack.region, pack.approved_digest_after) == (Verdict.ERROR, None, None)
    assert pack.reasons == ["the run ended Cancelled: x", "no config"]
