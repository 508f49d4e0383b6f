"""``warden checkpoint``: seal a checkpoint directory, verify it before anything loads it.

Exit codes: 0 verified (``seal``: sealed), 1 an integrity or safety finding (nothing sealed),
2 bad usage or input that cannot be checked (not a directory, an unreadable file, a corrupt
manifest, ``seal`` over an existing manifest without ``--overwrite``). Runs no flow and
imports no Prefect: the verdict costs the file reads and nothing more.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from blocks.errors import ExitCode, WardenError
from cli.output import console, errors, fail

if TYPE_CHECKING:
    from tasks.checkpoints.report import CheckpointReport

app = typer.Typer(no_args_is_help=True)

DirectoryArgument = Annotated[Path, typer.Argument(help="The checkpoint directory.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


@app.command("seal")
def seal(
    directory: DirectoryArgument,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing manifest.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check every weights file, then write DIRECTORY/checkpoint-manifest.json atomically."""
    from tasks.checkpoints.verify import seal_checkpoint

    try:
        report = seal_checkpoint(directory, overwrite=overwrite)
    except WardenError as exc:
        fail(exc)
    _show(report, as_json, done="sealed")


@app.command("verify")
def verify(
    directory: DirectoryArgument,
    require_manifest: Annotated[
        bool,
        typer.Option(
            "--require-manifest/--no-require-manifest",
            help="Without a manifest, --no-require-manifest checks the file formats only.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Verify DIRECTORY against its manifest and check every weights file; load nothing."""
    from tasks.checkpoints.verify import verify_checkpoint

    try:
        report = verify_checkpoint(directory, require_manifest=require_manifest)
    except WardenError as exc:
        fail(exc)
    _show(report, as_json, done="verified")


def _show(report: CheckpointReport, as_json: bool, *, done: str) -> None:
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        for finding in report.findings:
            where = finding.path or "."
            console.print(f"{finding.code.value} {where}: {finding.message}", markup=False)
        kinds = sorted({check.format.value for check in report.files})
        if done == "sealed":
            scope = "hashed, formats checked"
        else:
            scope = "manifest + formats" if report.manifest_checked else "formats only"
        verdict = done if report.ok else f"not {done}"
        console.print(
            f"{report.code.value}: {report.directory} {verdict} ({len(report.files)} files: "
            f"{', '.join(kinds) or 'none'}; {scope})",
            markup=False,
        )
    if not report.ok:
        errors.print(f"[yellow]fix:[/] {report.findings[0].remediation}")
        raise typer.Exit(ExitCode.VERDICT_FAILED)
