"""``warden matrix``: run the GPU matrix, sweep expired hosts, show an environment's state;
``warden installer``: the control plane's installer for the approved digest (exit 20 / 21)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from blocks.defaults import DEFAULT_INVARIANTS
from blocks.errors import WardenError
from cli.output import console, errors, fail, flow_result

if TYPE_CHECKING:  # the models load with the command that needs them: --help stays fast
    from tasks.matrix.evidence import DigestState, EvidencePack

app = typer.Typer(no_args_is_help=True)

EnvOption = Annotated[
    str, typer.Option("--env", "-e", help="Environment of invariants.yaml (dev, prod, local).")
]
InvariantsOption = Annotated[
    Path, typer.Option("--invariants", help="The invariants file.", show_default=True)
]


def _environment(invariants: Path, env: str):
    from blocks.invariants import load_invariants

    try:
        return load_invariants(invariants).environment(env)
    except WardenError as exc:
        fail(exc)


@app.command("run")
def run(
    digest: Annotated[
        str, typer.Option("--digest", "-d", help="Candidate: <registry>/<repo>@sha256:<64 hex>.")
    ],
    env: EnvOption = "local",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the manifest only; provision nothing.")
    ] = False,
    invariants: InvariantsOption = DEFAULT_INVARIANTS,
    out: Annotated[Path | None, typer.Option("--out", help="Evidence folder.")] = None,
) -> None:
    """Prove the candidate on every leg; exit 0 promoted (or dry run passed), 1 not promoted."""
    from tasks.matrix.digest import parse_candidate

    spec = _environment(invariants, env)
    try:
        parse_candidate(digest)
    except WardenError as exc:
        fail(exc)
    pools = sorted({leg.work_pool for leg in spec.agent_promotion.legs if leg.work_pool})
    pack: EvidencePack = flow_result(
        "flows.gpu_matrix:gpu_matrix_promotion",
        needs_api=f"the legs' work_pool ({', '.join(pools)})" if pools and not dry_run else None,
        environment=env,
        candidate_digest=digest,
        dry_run=dry_run,
        invariants=str(invariants),
        out=str(out) if out else None,
    )
    _print_pack(pack)
    raise typer.Exit(pack.exit_code)


@app.command("janitor")
def janitor(
    env: EnvOption = "local",
    ttl_hours: Annotated[
        float | None, typer.Option("--ttl-hours", help="Override the environment's TTL.")
    ] = None,
    invariants: InvariantsOption = DEFAULT_INVARIANTS,
) -> None:
    """Terminate hosts with the purpose tag older than the TTL."""
    _environment(invariants, env)
    terminated = flow_result(
        "flows.gpu_matrix:gpu_matrix_janitor",
        environment=env,
        ttl_hours=ttl_hours,
        invariants=str(invariants),
    )
    console.print(
        f"terminated {len(terminated)} host(s)"
        + (f": {', '.join(terminated)}" if terminated else "")
    )


@app.command("status")
def status(
    env: EnvOption = "local",
    invariants: InvariantsOption = DEFAULT_INVARIANTS,
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to list.")] = 5,
) -> None:
    """The approved digest, its version history, and the last runs' verdicts."""
    from tasks.matrix.wiring import digest_store
    from tasks.platform.clock import iso_utc

    spec = _environment(invariants, env)
    store = digest_store(spec)
    try:
        current, history = store.read(), store.history(limit=10)
    except WardenError as exc:
        fail(exc)
    parameter = spec.agent_promotion.digest_store.parameter
    if current is None:
        console.print(f"[bold]{env}[/]: no approved digest at {parameter}")
    else:
        console.print(
            f"[bold]{env}[/]: approved [green]{current.value}[/] (version {current.version})"
        )
    versions = Table("version", "value", "modified", "writer", title=f"history of {parameter}")
    for record in history:
        versions.add_row(
            str(record.version),
            record.value,
            iso_utc(record.modified_at, "seconds"),
            record.writer or "",
        )
    console.print(versions)
    recent = Table("started", "verdict", "candidate", "failures", "evidence", title="recent runs")
    for path, pack, problem in _recent_evidence(env, runs):
        if pack is None:
            recent.add_row("?", "[red]unreadable[/]", problem, "", str(path))
            continue
        recent.add_row(
            iso_utc(pack.started_at, "seconds"),
            str(pack.verdict),
            pack.candidate_digest,
            ", ".join(pack.failure_codes),
            str(path),
        )
    console.print(recent)


def _recent_evidence(env: str, limit: int):
    from tasks.matrix.evidence import EVIDENCE_JSON, EvidencePack, evidence_root

    paths = sorted(evidence_root(env).glob(f"*/{EVIDENCE_JSON}"), reverse=True)[:limit]
    for path in paths:
        try:
            yield path, EvidencePack.model_validate_json(path.read_text(encoding="utf-8")), ""
        except (OSError, ValueError) as exc:
            yield path, None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def installer(
    env: EnvOption = "dev",
    invariants: InvariantsOption = DEFAULT_INVARIANTS,
) -> None:
    """Print the installer for the environment's approved digest (the store is the only source).

    Exit 20 RADIX_INSTALLER_ERROR: APPROVED_DIGEST_MISSING, 21 ... APPROVED_DIGEST_INVALID.
    """
    from blocks.invariants import render
    from tasks.matrix.digest import parse_approved
    from tasks.matrix.installer import resolve_approved
    from tasks.matrix.wiring import digest_store

    spec = _environment(invariants, env)
    try:
        approved = resolve_approved(digest_store(spec), parse_approved)
    except WardenError as exc:
        errors.print(exc.message, markup=False)
        errors.print(exc.remediation, markup=False)
        raise typer.Exit(int(exc.code)) from None
    script = render(
        spec.agent_promotion.installer.script,
        digest=approved,
        run_id="installer",
        leg="control-plane",
        region=spec.region,
        scratch="${WARDEN_SCRATCH:-/var/lib/radix-agent}",
    )
    typer.echo(script, nl=not script.endswith("\n"))


def _digest_text(state: DigestState | None) -> str:
    if state is None:
        return "(not read)"
    return f"{state.value} (v{state.version})" if state.value else "(none)"


def _print_pack(pack: EvidencePack) -> None:
    from tasks.matrix.report import placement, summary

    pooled = any(leg.work_pool for leg in pack.legs)  # where each leg ran, when not all here
    columns = ["leg", "status", "host", "gpu", "onboarding", "time to active", "smoke", "failure"]
    table = Table(*columns, *(["ran on"] if pooled else []))
    for leg in pack.legs:
        gpu = leg.gpu
        table.add_row(
            leg.name,
            str(leg.status),
            leg.host.id if leg.host else "",
            f"{gpu.count}× {gpu.model or gpu.vendor}" if gpu and gpu.count else "none",
            str(leg.onboarding),
            "" if leg.time_to_active_seconds is None else f"{leg.time_to_active_seconds:.1f} s",
            str(leg.smoke_status),
            str(leg.failure_code or ""),
            *([placement(leg)] if pooled else []),
        )
    if pack.legs:
        console.print(table)
    console.print(f"approved before: {_digest_text(pack.approved_digest_before)}", markup=False)
    console.print(f"approved after:  {_digest_text(pack.approved_digest_after)}", markup=False)
    for reason in pack.reasons:
        console.print(f"- {reason}", markup=False)
    console.print(summary(pack), markup=False)
    console.print(f"[bold]{pack.verdict}[/] (exit {pack.exit_code}), run {pack.run_id}")
