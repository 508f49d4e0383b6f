"""``warden``: the command CI calls; exit codes are the flows' verdict codes (README)."""

from __future__ import annotations

import os

# Before Prefect is imported: the temporary API a run starts without PREFECT_API_URL must not
# try to send telemetry from a machine without internet (it logs tracebacks when it fails).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# That temporary API takes ~20 s to start on a loaded 2-core CI machine, Prefect's default
# limit (measured: a run here failed at 20.4 s); give it room rather than fail the build.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

import typer  # noqa: E402

from cli import (  # noqa: E402
    checkpoint,
    configs,
    drill,
    gates,
    guard,
    intent,
    lora,
    matrix,
    plan,
    trends,
    workflows,
)

app = typer.Typer(
    name="warden",
    help="Release Warden: keep unproven releases out of production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
TRENDS_HELP = "Workflow failures over time, from the history (DuckDB)."
INSTALLER_HELP = "The installer for the approved digest (exit 20 missing, 21 invalid)."

app.add_typer(gates.app, name="gates", help="Go/no-go release gates (flow go-no-go-gates).")
workflows.app.command("trends", help=TRENDS_HELP)(trends.trends)
app.add_typer(
    workflows.app,
    name="workflows",
    help="Workflow health: classify, baseline, regression gate, migrate, trends.",
)
matrix.app.command("installer", help=INSTALLER_HELP)(matrix.installer)
app.add_typer(
    matrix.app,
    name="matrix",
    help="GPU matrix promotion: run, janitor, status, installer (per environment).",
)
app.add_typer(
    lora.app, name="lora", help="LoRA gauntlet deploy: deploy, gauntlet, rollback, status."
)
app.add_typer(plan.app, name="plan", help="Safety plan: import, export, run, status (strict).")
app.add_typer(
    guard.app, name="guard", help="Orchestration guard: readiness, log (Prefect platform)."
)
app.add_typer(configs.app, name="config", help="Validate the YAML configs under deployments/.")
app.add_typer(intent.app, name="intent", help="Intent governance: submit, approve, reject.")
app.add_typer(drill.app, name="drill", help="Chaos drills (Layer 2): list, run.")
app.add_typer(checkpoint.app, name="checkpoint", help="Seal and verify checkpoint directories.")
# The first spellings, kept for scripts that use them (not listed in --help).
app.command("trends", help=TRENDS_HELP, hidden=True)(trends.trends)
app.command("installer", help=INSTALLER_HELP, hidden=True)(matrix.installer)

if __name__ == "__main__":
    app()
