"""How the CLI reports errors: one red line, the remediation, and the error's exit code."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from blocks.errors import ExitCode, WardenError

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(error: WardenError) -> NoReturn:
    errors.print(f"[bold red]error[/] ({error.name}, exit {int(error.code)}): {error.message}")
    errors.print(f"[yellow]fix:[/] {error.remediation}")
    raise typer.Exit(int(error.code))


def flow_result(flow, **parameters):
    """Run ``flow`` in this process and return its result, Failed runs included.

    A typed error the run ended with exits with its code; anything else is an internal error.
    """
    state = flow(**parameters, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, WardenError):
        fail(result)
    if isinstance(result, BaseException):
        errors.print(
            f"[bold red]error[/]: flow ended {state.name}: {type(result).__name__}: {result}"
        )
        raise typer.Exit(ExitCode.INTERNAL_ERROR)
    return result
