"""The kill switch as a Chaos Toolkit control: before each of the method's actions it reads the
project kill switch; when it is on, the experiment is interrupted (journal status
``interrupted``) and its rollbacks still run (they are not guarded: clean-up works under the
switch)."""

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
