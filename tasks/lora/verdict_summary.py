"""The gauntlet's verdict as people read it: a markdown summary and the metrics table's rows."""

from __future__ import annotations

from tasks.lora.verdict import GauntletVerdict
from tasks.platform.markdown import md_cell


def verdict_rows(verdict: GauntletVerdict) -> list[dict]:
    """The metrics table as plain rows for a table artifact (None cells shown empty)."""
    return [
        {
            "metric": row.metric,
            "unit": row.unit,
            "candidate": row.candidate,
            "stable": row.stable,
            "delta": row.delta,
            "limit": row.limit,
            "ok": "" if row.ok is None else ("yes" if row.ok else "NO"),
        }
        for row in verdict.metrics
    ]


def verdict_markdown(verdict: GauntletVerdict) -> str:
    """The verdict as a markdown summary: status, reasons, then the side-by-side table."""
    stable = f"`{md_cell(verdict.stable)}`" if verdict.stable else "none (first deploy)"
    lines = [
        f"# LoRA gauntlet: {verdict.status.value}",
        "",
        f"- candidate: `{md_cell(verdict.candidate)}`",
        f"- stable: {stable}",
        f"- dataset sha256: `{verdict.dataset_sha256}`",
        f"- mode: {verdict.mode.value} ({verdict.prompts} of {verdict.dataset_prompts} prompts)",
        "",
        "## Reasons",
        "",
    ]
    lines += [f"- **{r.code.value}**: {r.message}" for r in verdict.reasons] or ["- none: passed"]
    lines += [
        "",
        "## Metrics",
        "",
        "| metric | unit | candidate | stable | delta | limit | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in verdict_rows(verdict):
        cells = [_cell(value, row["unit"]) for value in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: object, unit: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.0f}" if unit == "count" else f"{value:.2f}"
    return md_cell(str(value))
