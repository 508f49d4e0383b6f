"""Prefect-side conventions shared by every flow: kill switch, artifacts, events, limits."""

from __future__ import annotations

import contextlib
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.events import emit_event
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.variables import Variable

from blocks.errors import KillSwitchOn, WardenError
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE, is_on
from tasks.platform.naming import event_name, resource_id

# Global concurrency limits the flows acquire (strict): name -> slots. One acquisition per
# run, never per task: on the embedded SQLite API each acquisition costs a write, and many at
# once contend for its lock (measured: seconds per acquisition under contention).
GATE_SUITES = "warden-gate-suites"
CONCURRENCY_LIMITS: dict[str, int] = {
    GATE_SUITES: 4,  # go/no-go suites running their gates at once, platform-wide
}


def ensure_kill_switch_off(process: str) -> None:
    """Stop before the first side effect when an operator turned the kill switch on."""
    value = Variable.get(KILL_SWITCH_VARIABLE, default=False)
    if is_on(value):
        raise KillSwitchOn(f"{process}: the {KILL_SWITCH_VARIABLE} Variable is on ({value!r})")


def publish_summary(key: str, markdown: str, rows: list[dict[str, Any]], description: str) -> None:
    """A markdown summary under ``key`` and its table under ``key-table``."""
    create_markdown_artifact(key=key, markdown=markdown, description=description)
    create_table_artifact(key=f"{key}-table", table=rows, description=description)


def emit(process: str, verb: str, kind: str, name: str, payload: dict[str, Any]) -> None:
    """Emit ``warden.<process>.<verb>`` about resource ``warden.<kind>.<name>``."""
    emit_event(
        event=event_name(process, verb),
        resource={"prefect.resource.id": resource_id(kind, name), "prefect.resource.name": name},
        payload=payload,
    )


def ensure_concurrency_limits(limits: dict[str, int] | None = None) -> list[str]:
    """Create the global concurrency limits the flows need; existing ones are kept as set."""
    created = []
    with get_client(sync_client=True) as client:
        for name, slots in (limits or CONCURRENCY_LIMITS).items():
            try:
                client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                with contextlib.suppress(ObjectAlreadyExists):  # another run created it first
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(name=name, limit=slots)
                    )
                    created.append(name)
    return created


def retry_if_retryable(task, task_run, state) -> bool:
    """A task's ``retry_condition_fn``: retry only what the error itself says may pass."""
    try:
        state.result()
    except WardenError as exc:
        return exc.retryable
    except Exception:
        return False
    return False
