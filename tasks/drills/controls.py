"""The drill's controls (Chaos Toolkit controls on every activity of the method):

- the kill switch: before each action, the project kill switch is read; when it is on, the
  experiment is interrupted (journal status ``interrupted``);
- fail fast: an action that failed interrupts the experiment too (chaoslib would go on with the
  next action: a kill after a queue that never filled, a verification of nothing).

Either way the rollbacks still run (they are not guarded: clean-up works under the switch)."""

from __future__ import annotations

from typing import Any

from chaoslib.exceptions import InterruptExecution

from tasks.drills.world import current


def before_activity_control(context: dict[str, Any], guarded: list[str], **_: Any) -> None:
    if context.get("name") not in guarded:
        return
    drill = current()
    if drill.guard.kill_switch_on():
        drill.notes["kill_switch"] = context.get("name")
        raise InterruptExecution(f"kill switch on: drill stopped before {context.get('name')}")


def after_activity_control(
    context: dict[str, Any], guarded: list[str], state: Any = None, **_: Any
) -> None:
    name = context.get("name")
    if name in guarded and isinstance(state, dict) and state.get("status") == "failed":
        current().notes["stopped_after"] = name
        raise InterruptExecution(f"action {name} failed: the drill stops, its rollbacks run")
