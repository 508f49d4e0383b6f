"""Assemble the suite's report from the gate results: score, band, verdict, exit code."""

from __future__ import annotations

from datetime import datetime

from blocks.errors import WardenError
from tasks.gates.models import Band, GateResult, GateSuiteReport, GateVerdict
from tasks.gates.scoring import complete_results, score_suite
from tasks.gates.selection import GatePlan
from tasks.platform.clock import utc_now


def assemble_report(
    plan: GatePlan,
    results: list[GateResult],
    started: datetime,
    config_file: str,
    out_dir: str,
) -> GateSuiteReport:
    gates_by_name = {gate.name: gate for gate in plan.gates}
    every = complete_results(results, gates_by_name)
    score = score_suite(every, gates_by_name, plan.scoring, plan.strict_manual)
    return GateSuiteReport(
        profile=plan.profile,
        started_at=started,
        finished_at=utc_now(),
        strict_manual=plan.strict_manual,
        gates=every,
        score=score.score,
        band=score.band,
        verdict=score.verdict,
        exit_code=score.exit_code,
        reasons=score.reasons,
        config_file=config_file,
        out_dir=out_dir,
        notes=list(plan.notes),
    )


def refused_report(
    plan: GatePlan, started: datetime, config_file: str, error: WardenError
) -> GateSuiteReport:
    """The report of a run that was not allowed to start (kill switch): no gate ran."""
    return GateSuiteReport(
        profile=plan.profile,
        started_at=started,
        finished_at=utc_now(),
        strict_manual=plan.strict_manual,
        gates=[],
        score=0.0,
        band=Band.FAIL,
        verdict=GateVerdict.KILL_SWITCH_ON,
        exit_code=int(error.code),
        reasons=[error.message, error.remediation],
        config_file=config_file,
    )
