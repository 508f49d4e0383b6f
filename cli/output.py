"""How the CLI reports errors: one red line, the remediation, and the error's exit code."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from blocks.errors import WardenError

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(error: WardenError) -> NoReturn:
    errors.print(f"[bold red]error[/] ({error.name}, exit {int(error.code)}): {error.message}")
    errors.print(f"[yellow]fix:[/] {error.remediation}")
    raise typer.Exit(int(error.code))
