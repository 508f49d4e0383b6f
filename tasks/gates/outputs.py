"""The go/no-go run's files: gate_results.json for machines, gate_sign_off.md for the PR.

The JSON keeps the seed's shape (a ``_meta`` entry, then one entry per gate) so existing
readers keep working. Each field means what it says: see the README's "Verdict fields".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.gates.models import Comparison, GateResult, GateStatus, GateSuiteReport
from tasks.platform.files import write_atomic
from tasks.platform.markdown import md_cell

RESULTS_FILE = "gate_results.json"
SIGN_OFF_FILE = "gate_sign_off.md"
SHORT_DETAILS_CHARS = 120
VERDICT_SYMBOL = {"go": "✅", "go-with-warnings": "⚠️", "no-go": "❌", "kill-switch-on": "⛔"}


def results_document(report: GateSuiteReport) -> dict[str, Any]:
    """The gate_results.json document: ``_meta`` then one entry per gate, in run order."""
    document: dict[str, Any] = {
        "_meta": {
            "profile": report.profile,
            "ts": round(report.started_at.timestamp(), 3),
            "all_passed": report.all_passed,
            "manual_followups": report.manual_followups,
            "score": report.score,
            "band": str(report.band),
            "verdict": str(report.verdict),
            "exit_code": report.exit_code,
            "strict_manual": report.strict_manual,
            "reasons": list(report.reasons),
            "finished": report.finished_at.isoformat(),
            "references_recorded": list(report.references_recorded),
            "notes": list(report.notes),
        }
    }
    for result in report.gates:
        document[result.name] = _gate_entry(result)
    return document


def _gate_entry(result: GateResult) -> dict[str, Any]:
    dumped = result.model_dump(mode="json")
    entry = {
        "ok": result.ok,
        "manual": result.manual,
        "duration_sec": round(result.duration_sec, 2),
        "details": dumped["details"],
        "status": str(result.status),
        "weight": result.weight,
        "key": result.key,
        "mode": str(result.mode),
        "kind": result.kind,
        "reason": result.reason,
    }
    if result.metric is not None:
        entry["metric"] = dumped["metric"]
    return entry


def sign_off_markdown(report: GateSuiteReport) -> str:
    """Heading with the verdict, a table of gates, then summary lines to paste into a PR."""
    symbol = VERDICT_SYMBOL.get(str(report.verdict), "")
    lines = [
        f"# Go/No-Go: {symbol} {str(report.verdict).upper()} — score {report.score:g} "
        f"({report.band})",
        "",
        f"Profile `{report.profile}` · strict manual: {'yes' if report.strict_manual else 'no'}"
        f" · finished {report.finished_at.isoformat()}",
        "",
        "| Gate | Result | Mode | Weight | Duration | Details |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.gates:
        name = f"{r.name} 🔑" if r.key else r.name
        lines.append(
            f"| {name} | {r.symbol} {r.status} | {r.mode} | {r.weight:g} | "
            f"{r.duration_sec:.2f} s | {md_cell(short_details(r))} |"
        )
    if report.reasons:
        lines += ["", "## Reasons", ""] + [f"- {reason}" for reason in report.reasons]
    lines += ["", "## Summary lines", ""]
    lines += [f"- {summary_line(r)}" for r in report.gates]
    return "\n".join(lines) + "\n"


def summary_line(result: GateResult) -> str:
    """One sign-off line, as in the seed's template: ``Launcher smoke: ✅ (log path)``."""
    title = result.title or result.name.replace("_", " ").replace("-", " ").capitalize()
    evidence = "; ".join(part for part in (result.evidence, short_details(result)) if part)
    return f"{title}: {result.symbol}" + (f" ({evidence})" if evidence else "")


def short_details(result: GateResult) -> str:
    """A few words on why a gate has its status: the failure message, sign-off or metric."""
    details = result.details
    if result.status is GateStatus.SIGNED_OFF:
        text = f"signed off by {details.get('signed_off_by', '?')}"
        if details.get("evidence_link"):
            text += f", {details['evidence_link']}"
    elif result.status is GateStatus.MANUAL_FOLLOWUP:
        text = f"manual follow-up: {details.get('reason', 'operator sign-off needed')}"
    elif result.status is GateStatus.FAILED:
        text = str(details.get("message") or result.reason or "failed")
    elif result.metric is not None and result.metric.value is not None:
        text = f"{result.metric.name} = {result.metric.value:g}"
        if result.metric.previous is not None:
            text += f" (previous {result.metric.previous:g})"
        elif result.metric.comparison is Comparison.NO_REFERENCE:
            text += " (no accepted run to compare with)"
    else:
        text = str(details.get("message", ""))
    text = " ".join(text.split())
    if len(text) > SHORT_DETAILS_CHARS:
        text = text[: SHORT_DETAILS_CHARS - 1] + "…"
    return text


def table_rows(report: GateSuiteReport) -> list[dict[str, Any]]:
    """Rows for the run's table artifact, one per gate."""
    return [
        {
            "gate": r.name,
            "result": r.symbol,
            "status": str(r.status),
            "mode": str(r.mode),
            "weight": r.weight,
            "duration_sec": round(r.duration_sec, 2),
            "reason": r.reason,
        }
        for r in report.gates
    ]


def write_outputs(report: GateSuiteReport, out_dir: Path) -> list[Path]:
    """Write gate_results.json and gate_sign_off.md atomically; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / RESULTS_FILE
    sign_off = out_dir / SIGN_OFF_FILE
    text = json.dumps(results_document(report), indent=2, ensure_ascii=False) + "\n"
    write_atomic(results, text)
    write_atomic(sign_off, sign_off_markdown(report))
    return [results, sign_off]
