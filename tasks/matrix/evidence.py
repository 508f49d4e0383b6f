"""The evidence pack: what a matrix run proved, written always — failure or success.

One frozen model per part (digest state, leg stage, leg result, the pack) and the leg rule
(:func:`decide`); ``report.py`` renders a pack for reviewers, ``record.py`` writes it. The models
refuse contradictions: a pack cannot say ``promoted`` unless every leg passed and the digest
read back is the candidate, and a leg cannot say ``passed`` with a step that did not pass.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from blocks.errors import ExitCode
from blocks.storage import warden_home
from tasks.matrix.errors import LegFailure
from tasks.matrix.gpuinfo import GpuInfo
from tasks.matrix.hosts import Host
from tasks.platform.keys import slug

EVIDENCE_JSON = "evidence.json"
EVIDENCE_MD = "evidence.md"
OUTPUT_TAIL = 2000  # characters of installer / smoke output kept per leg


class LegStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not_run"


class Stage(StrEnum):
    """The stages of a vendor leg, in the order they run; ``terminate`` is the rollback."""

    PROVISION = "provision"
    READY = "ready"
    INSTALLER = "installer"
    ONBOARDING = "onboarding"
    SMOKE = "smoke"
    GPU_INFO = "gpu_info"
    TERMINATE = "terminate"


class StageOutcome(BaseModel):
    """One stage of one leg: whether it ran and passed, how long it took, why it failed."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    status: StepStatus
    seconds: float | None = None  # None: not run
    failure_code: LegFailure | None = None
    message: str | None = None


class OnboardingStatus(StrEnum):
    """What the onboarding step proved about a leg's agent."""

    VERIFIED = "verified"  # the control plane said the host is registered and active
    NOT_VERIFIED = "not_verified"  # no control plane configured: only the host check ran
    FAILED = "failed"
    NOT_RUN = "not_run"


class Verdict(StrEnum):
    PROMOTED = "promoted"
    NOT_PROMOTED = "not_promoted"
    DRY_RUN_PASSED = "dry_run_passed"
    DRY_RUN_FAILED = "dry_run_failed"
    REFUSED = "refused"
    ERROR = "error"
    INCOMPLETE = "incomplete"  # the run has not finished (or died without a word)


GOOD = frozenset({Verdict.PROMOTED, Verdict.DRY_RUN_PASSED})
_PASSED_ONBOARDING = frozenset({OnboardingStatus.VERIFIED, OnboardingStatus.NOT_VERIFIED})


class DigestState(BaseModel):
    """The approved digest as read at one moment; ``value`` None when the store held none.

    The pack's ``approved_digest_before`` / ``_after`` are None when the store was not read.
    """

    model_config = ConfigDict(frozen=True)

    value: str | None = None
    version: int | None = None
    modified_at: datetime | None = None


class LegResult(BaseModel):
    """One vendor leg: the host it ran on, what each step gave, why it failed."""

    model_config = ConfigDict(frozen=True)

    name: str
    vendor: str
    provider: str
    status: LegStatus
    started_at: datetime
    finished_at: datetime
    host: Host | None = None
    terminated: bool = False
    installer_exit_code: int | None = None
    installer_seconds: float | None = None
    onboarding: OnboardingStatus = OnboardingStatus.NOT_RUN
    onboarding_seconds: float | None = None
    control_plane_status: str | None = None
    activated_at: datetime | None = None
    time_to_active_seconds: float | None = None
    smoke_status: StepStatus = StepStatus.NOT_RUN
    smoke_exit_code: int | None = None
    smoke_seconds: float | None = None
    gpu: GpuInfo | None = None
    failure_code: LegFailure | None = None
    remediation: str | None = None
    message: str | None = None
    output_tail: str = ""
    stages: list[StageOutcome] = Field(default_factory=list)  # in the order they ran
    ran_on: str | None = None  # hostname of the process that ran the stages (None: no stage ran)
    work_pool: str | None = None  # the Prefect work pool of a work_pool leg's flow run
    worker: str | None = None  # the worker that started that flow run
    leg_flow_run_id: str | None = None  # that flow run (the UI shows its logs)

    @property
    def passed(self) -> bool:
        return self.status is LegStatus.PASSED

    @model_validator(mode="after")
    def _says_only_what_ran(self) -> LegResult:
        if self.passed:
            not_passed = [
                name
                for name, ok in (
                    ("onboarding", self.onboarding in _PASSED_ONBOARDING),
                    ("smoke_status", self.smoke_status is StepStatus.PASSED),
                    ("failure_code", self.failure_code is None),
                )
                if not ok
            ]
            if not_passed:
                raise ValueError(f"leg {self.name} cannot pass with {not_passed} not passed")
            unnamed = [f for f in ("worker", "ran_on", "leg_flow_run_id") if not getattr(self, f)]
            if self.work_pool and unnamed:
                raise ValueError(f"leg {self.name} on {self.work_pool} passed without {unnamed}")
        elif self.failure_code is None:
            raise ValueError(f"failed leg {self.name} needs a failure_code")
        if self.time_to_active_seconds is not None and (
            self.onboarding is not OnboardingStatus.VERIFIED
        ):
            raise ValueError(
                f"leg {self.name}: time_to_active_seconds needs onboarding verified by the "
                f"control plane, not {self.onboarding}"
            )
        return self


class ManifestEvidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    exists: bool
    media_type: str | None = None
    size: int | None = None


class EvidencePack(BaseModel):
    """Everything a reviewer needs to trust (or refuse) a promotion."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    environment: str
    git_sha: str | None
    started_at: datetime
    finished_at: datetime | None = None  # None while the run is incomplete
    candidate_digest: str
    dry_run: bool
    region: str | None = None  # None: the invariants could not be read
    approved_digest_before: DigestState | None = None  # None: not read
    approved_digest_after: DigestState | None = None  # None: not read
    auth_method: str | None = None
    manifest: ManifestEvidence | None = None
    janitor_terminated: list[str] = Field(default_factory=list)
    legs: list[LegResult] = Field(default_factory=list)
    verdict: Verdict
    promoted: bool = False
    reasons: list[str] = Field(default_factory=list)
    exit_code: int = int(ExitCode.INTERNAL_ERROR)

    @property
    def failure_codes(self) -> list[str]:
        return [str(leg.failure_code) for leg in self.legs if leg.failure_code]

    @computed_field
    @property
    def onboarding_verified(self) -> bool:
        """True only when legs ran and the control plane verified every one's onboarding."""
        return bool(self.legs) and all(
            leg.onboarding is OnboardingStatus.VERIFIED for leg in self.legs
        )

    @model_validator(mode="after")
    def _verdict_says_what_was_proven(self) -> EvidencePack:
        problems = []
        if (self.exit_code == 0) != (self.verdict in GOOD):
            problems.append(f"exit_code {self.exit_code} with verdict {self.verdict}")
        if self.promoted != (self.verdict is Verdict.PROMOTED):
            problems.append(f"promoted={self.promoted} with verdict {self.verdict}")
        if self.verdict is Verdict.PROMOTED:
            after = self.approved_digest_after
            if self.dry_run or not self.legs or not all(leg.passed for leg in self.legs):
                problems.append("promoted without every leg of a real run passing")
            if after is None or after.value != self.candidate_digest:
                problems.append("promoted but the digest read back is not the candidate")
        if self.verdict is Verdict.DRY_RUN_PASSED and not (
            self.dry_run and self.manifest is not None and self.manifest.exists and not self.legs
        ):
            problems.append("dry_run_passed without a dry run that found the manifest")
        if (self.finished_at is None) != (self.verdict is Verdict.INCOMPLETE):
            problems.append(f"finished_at {self.finished_at} with verdict {self.verdict}")
        if problems:
            raise ValueError("contradictory evidence: " + "; ".join(problems))
        return self


def tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def decide(legs: list[LegResult]) -> tuple[bool, list[str]]:
    """Promote only if there is at least one leg and every leg passed; say why not."""
    if not legs:
        return False, ["no leg ran"]
    failed = [leg for leg in legs if not leg.passed]
    reasons = [f"leg {leg.name}: {leg.failure_code} — {leg.message}" for leg in failed]
    return not failed, reasons


def git_sha(cwd: Path | None = None) -> str | None:
    """The commit under test: CI's variable if set, else ``git rev-parse HEAD``, else None."""
    for name in ("WARDEN_GIT_SHA", "GITHUB_SHA", "CI_COMMIT_SHA"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def evidence_root(environment: str) -> Path:
    """Where an environment's evidence packs live: one folder per run, named by its start."""
    return warden_home() / "out" / "matrix" / slug(environment)
