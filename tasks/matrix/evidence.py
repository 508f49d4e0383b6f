"""The evidence pack: what a matrix run proved, written always — failure or success.

One frozen model per part (digest state, leg result, the pack), the verdict rule
(:func:`decide`) and the two renderings (JSON for machines, Markdown for reviewers).
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.storage import warden_home
from tasks.matrix.errors import REMEDIATION, LegFailure
from tasks.matrix.gpuinfo import GpuInfo
from tasks.matrix.hosts import Host
from tasks.platform.files import write_atomic
from tasks.platform.naming import iso_utc, md_cell

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


class Verdict(StrEnum):
    PROMOTED = "promoted"
    NOT_PROMOTED = "not_promoted"
    DRY_RUN_PASSED = "dry_run_passed"
    DRY_RUN_FAILED = "dry_run_failed"
    REFUSED = "refused"
    ERROR = "error"


class DigestState(BaseModel):
    """The approved digest at one moment; ``value`` None when the store holds none."""

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
    onboarding_seconds: float | None = None
    time_to_active_seconds: float | None = None
    smoke_status: StepStatus = StepStatus.NOT_RUN
    smoke_exit_code: int | None = None
    smoke_seconds: float | None = None
    gpu: GpuInfo | None = None
    failure_code: LegFailure | None = None
    remediation: str | None = None
    message: str | None = None
    output_tail: str = ""

    @property
    def passed(self) -> bool:
        return self.status is LegStatus.PASSED


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
    finished_at: datetime
    candidate_digest: str
    dry_run: bool
    region: str
    approved_digest_before: DigestState = Field(default_factory=DigestState)
    approved_digest_after: DigestState = Field(default_factory=DigestState)
    auth_method: str | None = None
    manifest: ManifestEvidence | None = None
    janitor_terminated: list[str] = Field(default_factory=list)
    legs: list[LegResult] = Field(default_factory=list)
    verdict: Verdict
    promoted: bool = False
    reasons: list[str] = Field(default_factory=list)
    exit_code: int = 0

    @property
    def failure_codes(self) -> list[str]:
        return [str(leg.failure_code) for leg in self.legs if leg.failure_code]


def leg_failed(
    leg_name: str,
    vendor: str,
    provider: str,
    started_at: datetime,
    finished_at: datetime,
    failure: LegFailure,
    message: str,
    **fields: Any,
) -> LegResult:
    """A failed leg with its code's remediation."""
    return LegResult(
        name=leg_name,
        vendor=vendor,
        provider=provider,
        status=LegStatus.FAILED,
        started_at=started_at,
        finished_at=finished_at,
        failure_code=failure,
        remediation=REMEDIATION[failure],
        message=message,
        **fields,
    )


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
    return warden_home() / "out" / "matrix" / environment


def write_evidence(pack: EvidencePack, out_dir: Path) -> tuple[Path, Path]:
    """``evidence.json`` and ``evidence.md`` under ``out_dir`` (atomic writes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / EVIDENCE_JSON, out_dir / EVIDENCE_MD
    write_atomic(json_path, pack.model_dump_json(indent=2) + "\n")
    write_atomic(md_path, render_markdown(pack))
    return json_path, md_path


def _digest_line(state: DigestState) -> str:
    if state.value is None:
        return "(none)"
    return f"`{state.value}` (version {state.version})"


def render_markdown(pack: EvidencePack) -> str:
    icon = {True: "✅", False: "❌"}
    lines = [
        f"# GPU matrix evidence — {pack.environment}",
        "",
        f"**Verdict: {pack.verdict}** {icon[pack.verdict in _GOOD]}",
        "",
        f"- Candidate: `{pack.candidate_digest}`",
        f"- Approved before: {_digest_line(pack.approved_digest_before)}",
        f"- Approved after: {_digest_line(pack.approved_digest_after)}",
        f"- Changed: {'yes' if pack.promoted else 'no'}",
        f"- Run: `{pack.run_id}` · git `{pack.git_sha or 'unknown'}` · region {pack.region}"
        + (" · dry run" if pack.dry_run else ""),
        f"- {iso_utc(pack.started_at, 'seconds')} → {iso_utc(pack.finished_at, 'seconds')}",
    ]
    if pack.janitor_terminated:
        lines.append(f"- Janitor terminated: {', '.join(pack.janitor_terminated)}")
    if pack.manifest is not None:
        lines.append(f"- Manifest in registry: {'yes' if pack.manifest.exists else 'no'}")
    if pack.reasons:
        lines += ["", "## Reasons", ""] + [f"- {md_cell(reason)}" for reason in pack.reasons]
    if pack.legs:
        lines += ["", "## Legs", "", "| " + " | ".join(_COLUMNS) + " |"]
        lines.append("|" + "---|" * len(_COLUMNS))
        for row in table_rows(pack):
            lines.append("| " + " | ".join(md_cell(str(row[c]), 80) for c in _COLUMNS) + " |")
        failed = [leg for leg in pack.legs if leg.failure_code]
        if failed:
            lines += ["", "## Remediation", ""]
            lines += [f"- **{leg.name}** `{leg.failure_code}`: {leg.remediation}" for leg in failed]
    return "\n".join(lines) + "\n"


_GOOD = {Verdict.PROMOTED, Verdict.DRY_RUN_PASSED}
_COLUMNS = (
    "leg",
    "status",
    "instance",
    "ami",
    "type",
    "gpu",
    "driver",
    "time_to_active_s",
    "smoke",
    "smoke_s",
    "failure",
)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def table_rows(pack: EvidencePack) -> list[dict[str, str]]:
    rows = []
    for leg in pack.legs:
        host, gpu = leg.host, leg.gpu
        rows.append(
            {
                "leg": leg.name,
                "status": str(leg.status),
                "instance": host.id if host else "",
                "ami": (host.ami or "") if host else "",
                "type": (host.instance_type or "") if host else "",
                "gpu": f"{gpu.count}× {gpu.model or gpu.vendor}" if gpu and gpu.count else "none",
                "driver": (gpu.driver_version or "") if gpu else "",
                "time_to_active_s": _seconds(leg.time_to_active_seconds),
                "smoke": str(leg.smoke_status),
                "smoke_s": _seconds(leg.smoke_seconds),
                "failure": str(leg.failure_code or ""),
            }
        )
    return rows
