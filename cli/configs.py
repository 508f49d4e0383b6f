"""``warden config validate``: every YAML config under deployments/ is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import console, fail

app = typer.Typer(no_args_is_help=True)


@app.command("validate")
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
) -> None:
    """Validate gates files, prefect.yaml (entrypoints import, parameters fit) and YAML syntax."""
    from blocks.errors import ConfigError
    from cli.prefect_yaml import check_prefect_yaml
    from tasks.platform.configs import validate_configs

    files, problems = validate_configs(
        paths or [Path("deployments")], prefect_yaml=check_prefect_yaml
    )
    if not files:
        fail(ConfigError("no YAML config found", remediation="Pass a file or a folder."))
    if problems:
        fail(ConfigError(f"{len(problems)} problem(s) in {len(files)} file(s)", problems=problems))
    console.print(f"{len(files)} config file(s) valid: " + ", ".join(str(f) for f in files))
