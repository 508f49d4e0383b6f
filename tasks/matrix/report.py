"""How an evidence pack reads: the one-line summary, the Markdown for reviewers, its table rows
and the verdict event's payload. Pure: every rendering comes from the pack alone."""

from __future__ import annotations

from typing import Any

from blocks.automations import VERDICT_LABEL
from tasks.matrix.evidence import (
    GOOD,
    DigestState,
    EvidencePack,
    LegResult,
    OnboardingStatus,
    StepStatus,
    Verdict,
)
from tasks.platform.clock import iso_utc
from tasks.platform.markdown import md_cell


def summary(pack: EvidencePack) -> str:
    """One line for the run's state message and log: the verdict and only what was proven."""
    if pack.verdict is Verdict.PROMOTED:
        onboarding = (
            "onboarding verified by the control plane"
            if pack.onboarding_verified
            else "onboarding NOT verified (no control plane configured)"
        )
        return f"promoted: every leg passed; {onboarding}"
    if pack.verdict is Verdict.DRY_RUN_PASSED:
        return "dry_run_passed: the candidate's manifest is in its registry; nothing provisioned"
    return f"{pack.verdict}: " + ("; ".join(pack.reasons) or "no reason recorded")


def _digest_line(state: DigestState | None) -> str:
    if state is None:
        return "(not read)"
    if state.value is None:
        return "(none)"
    return f"`{state.value}` (version {state.version})"


def render_markdown(pack: EvidencePack) -> str:
    icon = {True: "✅", False: "❌"}
    lines = [
        f"# GPU matrix evidence — {pack.environment}",
        "",
        f"**Verdict: {pack.verdict}** {icon[pack.verdict in GOOD]} (exit {pack.exit_code})",
        "",
        f"- Candidate: `{pack.candidate_digest}`",
        f"- Approved before: {_digest_line(pack.approved_digest_before)}",
        f"- Approved after: {_digest_line(pack.approved_digest_after)}",
        f"- Promoted by this run: {'yes' if pack.promoted else 'no'}",
        f"- Onboarding verified by the control plane: {_onboarding_line(pack)}",
        f"- Run: `{pack.run_id}` · git `{pack.git_sha or 'unknown'}` · region "
        f"{pack.region or 'unknown'}" + (" · dry run" if pack.dry_run else ""),
        f"- {iso_utc(pack.started_at, 'seconds')} → "
        + (iso_utc(pack.finished_at, "seconds") if pack.finished_at else "(not finished)"),
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
        stages = stage_lines(pack)
        if stages:
            lines += ["", "## Stages", "", *stages]
        failed = [leg for leg in pack.legs if leg.failure_code]
        if failed:
            lines += ["", "## Remediation", ""]
            lines += [f"- **{leg.name}** `{leg.failure_code}`: {leg.remediation}" for leg in failed]
    return "\n".join(lines) + "\n"


def _onboarding_line(pack: EvidencePack) -> str:
    if pack.onboarding_verified:
        return "yes, every leg"
    unverified = [leg.name for leg in pack.legs if leg.onboarding is OnboardingStatus.NOT_VERIFIED]
    if unverified:
        return f"**no** — no control plane configured; not verified for {', '.join(unverified)}"
    return "no"


_COLUMNS = (
    "leg",
    "status",
    "instance",
    "ami",
    "type",
    "gpu",
    "driver",
    "onboarding",
    "time_to_active_s",
    "smoke",
    "smoke_s",
    "failure",
    "ran_on",
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
                "onboarding": str(leg.onboarding),
                "time_to_active_s": _seconds(leg.time_to_active_seconds),
                "smoke": str(leg.smoke_status),
                "smoke_s": _seconds(leg.smoke_seconds),
                "failure": str(leg.failure_code or ""),
                "ran_on": placement(leg),
            }
        )
    return rows


def placement(leg: LegResult) -> str:
    """Where the leg ran: its host, and for a work_pool leg the pool and the worker."""
    where = leg.ran_on or "no host"
    if leg.work_pool is None:
        return where
    return f"{where} · pool {leg.work_pool} · worker {leg.worker or 'none'}"


def event_payload(pack: EvidencePack) -> dict[str, Any]:
    """The ``warden.gpu-matrix.verdict`` event's payload: the verdict and what it rests on."""
    return {
        "verdict": str(pack.verdict),
        "candidate": pack.candidate_digest,
        "promoted": pack.promoted,
        "onboarding_verified": pack.onboarding_verified,
        "failure_codes": pack.failure_codes,
    }


def event_labels(pack: EvidencePack) -> dict[str, str]:
    """The verdict event's resource labels: its verdict, which automations can match (they
    cannot match a payload)."""
    return {VERDICT_LABEL: str(pack.verdict)}


_MARK = {StepStatus.PASSED: "✓", StepStatus.FAILED: "✗", StepStatus.NOT_RUN: "–"}


def stage_lines(pack: EvidencePack) -> list[str]:
    """Each leg's stages in order: outcome and seconds (``–`` not run)."""
    lines = []
    for leg in pack.legs:
        cells = [
            f"{outcome.stage} {_MARK[outcome.status]}"
            + ("" if outcome.seconds is None else f" {outcome.seconds:.1f} s")
            for outcome in leg.stages
        ]
        if cells:
            lines.append(f"- **{md_cell(leg.name)}**: " + " · ".join(cells))
    return lines
