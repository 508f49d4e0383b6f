"""``warden intent``: submit an intent to the governance router (flow route-intent), answer a
pending approval with a proof, read the routing decisions.

Exit codes: 0 approved and its run started, 1 rejected (approval refused or timed out),
2 bad input (unknown type, missing actor, bad parameters or context, bad config), 3 kill switch,
4 no Prefect API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from blocks.defaults import DEFAULT_INTENTS_FILE
from blocks.errors import ExitCode, UsageError, WardenError
from cli.output import console, fail, flow_result, require_api

app = typer.Typer(no_args_is_help=True, add_completion=False)

ConfigOption = Annotated[Path, typer.Option("--config", help="Intents file.", show_default=True)]
ByOption = Annotated[str, typer.Option("--by", help="Approver, as listed in the intents file.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded).")]


def _pairs(items: list[str], option: str) -> dict[str, Any]:
    """``k=v`` pairs; each value read as a YAML scalar (``2`` is a number, ``true`` a bool)."""
    import yaml

    pairs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(UsageError(f"{option} {item!r} is not k=v", remediation=f"Write {option} k=v."))
        try:
            pairs[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            pairs[key.strip()] = value
    return pairs


@app.command("submit")
def submit(
    intent_type: Annotated[str, typer.Argument(help="An intent type of the intents file.")],
    actor: Annotated[str, typer.Option("--actor", help="Who asks.")] = "",
    param: Annotated[list[str] | None, typer.Option("--param", help="k=v, repeatable.")] = None,
    context: Annotated[
        list[str] | None, typer.Option("--context", help="Mission context k=v: resilience=true.")
    ] = None,
    config: ConfigOption = DEFAULT_INTENTS_FILE,
) -> None:
    """Route an intent: 0 approved and started, 1 rejected, 2 bad input, 4 no Prefect API."""
    from blocks.errors import INTENT_INPUT_CODES, IntentCode
    from blocks.intents import load_intents_file

    try:
        load_intents_file(config)
    except WardenError as exc:
        fail(exc)
    parameters, mission = _pairs(param or [], "--param"), _pairs(context or [], "--context")
    require_api("an intent")
    answer = flow_result(
        "flows.intents:route_intent",
        needs_api="warden intent submit",
        intent_type=intent_type,
        actor=actor,
        parameters=parameters,
        mission_context=mission,
        config=str(config),
    )
    console.print(answer.model_dump_json(indent=2))
    if answer.approved:
        raise typer.Exit(ExitCode.OK)
    if answer.code in INTENT_INPUT_CODES:
        raise typer.Exit(ExitCode.USAGE_ERROR)
    if answer.code is IntentCode.KILL_SWITCH:
        raise typer.Exit(ExitCode.KILL_SWITCH_ON)
    raise typer.Exit(ExitCode.VERDICT_FAILED)


def _answer(run: str, by: str, decision: str, reason: str, config: Path) -> None:
    from blocks.intents import load_intents_file
    from tasks.intents.proofs import Choice

    try:
        intents = load_intents_file(config)
        intents.approver(by)
    except WardenError as exc:
        fail(exc)
    require_api("an intent")
    from tasks.intents.steps import send_approval

    try:
        send_approval(intents, run, by, Choice(decision), reason)
    except WardenError as exc:
        fail(exc)
    console.print(f"{decision} sent to {run} as {by} (with proof)")


@app.command("approve")
def approve(
    run: Annotated[str, typer.Argument(help="The paused route-intent flow run id.")],
    by: ByOption,
    reason: ReasonOption = "",
    config: ConfigOption = DEFAULT_INTENTS_FILE,
) -> None:
    """Approve a pending intent with your proof (from your Secret block)."""
    _answer(run, by, "approve", reason, config)


@app.command("reject")
def reject(
    run: Annotated[str, typer.Argument(help="The paused route-intent flow run id.")],
    by: ByOption,
    reason: ReasonOption = "",
    config: ConfigOption = DEFAULT_INTENTS_FILE,
) -> None:
    """Reject a pending intent with your proof (one proven rejection vetoes it)."""
    _answer(run, by, "reject", reason, config)
