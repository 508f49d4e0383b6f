"""How the CLI reports errors: one red line, the remediation, and the error's exit code."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NoReturn, get_type_hints

import typer
from pydantic import BaseModel
from rich.console import Console

from blocks.errors import BackendUnavailable, ExitCode, UsageError, WardenError
from cli.engine import choose_engine
from tasks.platform.ui_links import flow_run_link

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(error: WardenError) -> NoReturn:
    errors.print(f"[bold red]error[/] ({error.name}, exit {int(error.code)}): {error.message}")
    errors.print(f"[yellow]fix:[/] {error.remediation}")
    raise typer.Exit(int(error.code))


def require_api(what: str) -> None:
    """Exit 4 unless a Prefect API is configured or running: ``what`` reads or drives one
    (the platform itself, paused runs), so there is no engine-less way to do it."""
    try:
        if choose_engine().api_url is None:
            raise BackendUnavailable(
                f"{what} needs a Prefect API, and none is configured or running",
                remediation="Start the local platform (make run) or set PREFECT_API_URL.",
            )
    except WardenError as exc:
        fail(exc)


def flow_result(load: str | Callable[[], Any], *, needs_api: str | None = None, **parameters: Any):
    """Run the flow ``load()`` returns, in this process, and return its result (Failed runs
    included), recorded where ``cli.engine`` decides: a Prefect API, or an engine-less run.

    ``load`` ("module:flow", or a function returning the flow) is imported only after that
    choice (Prefect reads its API address at import).
    ``needs_api`` names an option that only works against a Prefect API. A typed error the run
    ended with exits with its code; anything else is an internal error. Whichever path ran,
    stdout and the exit code are the same; stderr says where the run was recorded.
    """
    try:
        engine = choose_engine()
        if engine.api_url is None and needs_api:
            raise UsageError(
                f"{needs_api} needs a Prefect API, and none is configured or running",
                remediation="Start the local platform (make run) or set PREFECT_API_URL.",
            )
        if engine.api_url is not None:  # the result storage block and its bucket, up front
            from tasks.platform.s3 import check_result_storage

            check_result_storage()
    except WardenError as exc:
        fail(exc)
    if isinstance(load, str):
        module, _, name = load.partition(":")
        flow = getattr(importlib.import_module(module), name)
    else:
        flow = load()
    if engine.api_url is None:
        from tasks.platform.engineless import run_engineless

        try:
            state_name, result = run_engineless(flow, parameters)
        except Exception as exc:  # a Failed run's result, as the Prefect path reads it
            state_name, result = "Failed", exc
        recorded = engine.describe()
    else:
        state = flow(**parameters, return_state=True)
        state_name, result = state.name, as_declared(flow, state.result(raise_on_failure=False))
        run_id = state.state_details.flow_run_id
        recorded = f"{engine.describe()}: {flow_run_link(run_id, engine.api_url)}"
    errors.print(f"recorded: {recorded}")
    if isinstance(result, WardenError):
        fail(result)
    if isinstance(result, BaseException):
        errors.print(
            f"[bold red]error[/]: flow ended {state_name}: {type(result).__name__}: {result}"
        )
        raise typer.Exit(ExitCode.INTERNAL_ERROR)
    return result


def as_declared(flow: Any, result: Any) -> Any:
    """The run's result as the model its flow declares. Prefect hands back the returned object,
    except when it re-read the final state from the API (a state write it retried): then the
    result is the persisted JSON, a dict, and is validated back into the model here, so that a
    verdict is never read from an unchecked dict."""
    if not isinstance(result, dict):
        return result
    try:
        declared = get_type_hints(flow.fn).get("return")
    except NameError:  # an annotation only importable for type checkers: keep the dict
        return result  # (the command reading it then fails: an internal error, not a verdict)
    if isinstance(declared, type) and issubclass(declared, BaseModel):
        from prefect.states import State

        if not issubclass(declared, State):  # a State's data has no declared model
            return declared.model_validate(result)
    return result
