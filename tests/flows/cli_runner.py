"""``warden ...`` as CI calls it, in-process: typer's runner on the CLI app, exceptions raised."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def warden(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)
