"""Prefect-side conventions shared by every flow: kill switch, artifacts, events, limits, and
the engine-less run that composes the same steps without a Prefect API.

Flows and steps reach Prefect only through this module (``step``, ``run_logger``, ``slot``,
``progress``, ``as_completed``, ``emit``, ``publish_summary``, ``ensure_kill_switch_off``). Inside
a Prefect run each is the Prefect call. Inside ``run_engineless`` — the CLI with no Prefect API
configured or running — the flow's own body runs with the same steps as plain calls on a thread
pool, so a verdict costs the steps and nothing more: no temporary server to start. Retries and
retry conditions behave as in Prefect; events and summaries are appended under
``$WARDEN_HOME/local-runs/``; global concurrency limits become file-lock slots under
``$WARDEN_HOME/locks/`` (one machine); the kill switch is the ``WARDEN_KILL_SWITCH``
environment variable. The engine-less run itself is ``tasks.platform.engineless``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import as_completed as futures_completed
from typing import Any

from prefect import Task, get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.flow_runs import pause_flow_run
from prefect.futures import as_completed as prefect_completed
from prefect.input import RunInput
from prefect.variables import Variable

from blocks.errors import KillSwitchOn, WardenError
from blocks.storage import warden_home
from tasks.platform import engine_fixes  # noqa: F401  (applied on import: see its docstring)
from tasks.platform.engineless import ENGINELESS as _ENGINELESS
from tasks.platform.engineless import LocalFuture
from tasks.platform.keys import event_name, resource_id, slug
from tasks.platform.kill_switch import KILL_SWITCH_ENV, KILL_SWITCH_VARIABLE, is_on
from tasks.platform.run_api import ensure_storage_ready, held_slot

# Global concurrency limits the flows acquire (strict): name -> slots. One acquisition per
# run, never per task: on the embedded SQLite API each acquisition costs a write, and many at
# once contend for its lock (measured: seconds per acquisition under contention).
GATE_SUITES = "warden-gate-suites"
CONCURRENCY_LIMITS: dict[str, int] = {
    GATE_SUITES: 4,  # go/no-go suites running their gates at once, platform-wide
}


def ensure_kill_switch_off(process: str) -> None:
    """Stop before the first side effect: the operator's kill switch, then the result storage."""
    if _ENGINELESS.get() is not None:
        value = os.environ.get(KILL_SWITCH_ENV)
        if is_on(value):
            raise KillSwitchOn(
                f"{process}: the {KILL_SWITCH_ENV} environment variable is on ({value!r})",
                remediation=f"Unset {KILL_SWITCH_ENV} (or set it to false) once it is safe.",
            )
        return
    value = Variable.get(KILL_SWITCH_VARIABLE, default=False)
    if is_on(value):
        raise KillSwitchOn(f"{process}: the {KILL_SWITCH_VARIABLE} Variable is on ({value!r})")
    ensure_storage_ready()  # once per run: a missing or denied bucket is named before any work


def publish_summary(key: str, markdown: str, rows: list[dict[str, Any]], description: str) -> None:
    """A markdown summary under ``key`` and its table under ``key-table``."""
    run = _ENGINELESS.get()
    if run is not None:
        run.record("artifacts", {"key": key, "description": description, "markdown": markdown})
        run.record("artifacts", {"key": f"{key}-table", "description": description, "table": rows})
        return
    create_markdown_artifact(key=key, markdown=markdown, description=description)
    create_table_artifact(key=f"{key}-table", table=rows, description=description)


def emit(
    process: str,
    verb: str,
    kind: str,
    name: str,
    payload: dict[str, Any],
    labels: dict[str, str] | None = None,
) -> None:
    """Emit ``warden.<process>.<verb>`` about resource ``warden.<kind>.<name>``; ``labels`` go
    on the resource, where automations can match them (they cannot match the payload)."""
    event = event_name(process, verb)
    resource = {
        "prefect.resource.id": resource_id(kind, name),
        "prefect.resource.name": name,
        **(labels or {}),
    }
    run = _ENGINELESS.get()
    if run is not None:
        run.record("events", {"event": event, "resource": resource, "payload": payload})
        return
    emit_event(event=event, resource=resource, payload=payload)


def ensure_concurrency_limits(limits: dict[str, int] | None = None) -> list[str]:
    """Create the global concurrency limits the flows need; existing ones are kept as set."""
    created: list[str] = []
    if _ENGINELESS.get() is not None:  # engine-less runs take file-lock slots: nothing to create
        return created
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


# --- one vocabulary for flows and steps, Prefect run or engine-less run -------------------------


class SignOffForm(RunInput):
    """What the UI asks an operator when a run waits for a sign-off."""

    signer: str
    approved: bool
    evidence_link: str = ""
    comment: str = ""


class SignOffNotReceived(Exception):
    """No answer within the timeout, or the pause itself failed: nothing was signed off."""


# How often a paused run looks for the operator's answer (Prefect's default is 10 s).
SIGN_OFF_POLL_SEC = 2


def ask_sign_off(description: str, key: str, timeout_sec: int) -> SignOffForm:
    """Pause the flow run until an operator answers the sign-off form in the UI (flow context
    only). Raises :class:`SignOffNotReceived` when no answer came in time or the pause failed."""
    form = SignOffForm.with_initial_data(description=description, signer="", approved=False)
    return ask_input(form, key, timeout_sec)


def ask_input(form: Any, key: str, timeout_sec: int) -> Any:
    """Pause until the caller's form (a RunInput class, or one made by ``with_initial_data``) is
    answered in the UI; ``key`` names the pause (slugged: Prefect refuses dots). Raises
    :class:`SignOffNotReceived` when no answer came in time or the pause failed."""
    try:
        return pause_flow_run(
            wait_for_input=form,
            timeout=timeout_sec,
            poll_interval=SIGN_OFF_POLL_SEC,
            key=slug(key),
        )
    except Exception as exc:  # FlowPauseTimeout and API errors both leave it unanswered
        raise SignOffNotReceived(str(exc)) from exc


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger: Prefect's inside a Prefect run, ``warden.<flow>`` in an engine-less one."""
    run = _ENGINELESS.get()
    return run.logger if run is not None else get_run_logger()


@contextlib.contextmanager
def slot(limit: str, slots: int = 1) -> Iterator[None]:
    """Hold one slot of the global concurrency limit ``limit`` (strict: a missing limit fails).

    Engine-less runs hold one of ``slots`` file locks under ``$WARDEN_HOME/locks/`` instead,
    waiting like Prefect does when all are taken.
    """
    if _ENGINELESS.get() is None:
        with held_slot(limit):
            yield
        return
    folder = warden_home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(slots):
            with (folder / f"{slug(limit)}.{index}.lock").open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                return
        time.sleep(0.2)  # every slot taken: poll, as Prefect's acquisition does


def progress(key: str) -> Callable[[float], None]:
    """A progress artifact under ``key``; returns the function that updates it (percent)."""
    if _ENGINELESS.get() is not None:
        return lambda percent: None  # nobody watches a UI: the CLI prints the result
    artifact = create_progress_artifact(progress=0.0, key=key)
    return lambda percent: update_progress_artifact(artifact, progress=percent)


def as_completed(futures: Iterable[Any]) -> Iterator[Any]:
    """Futures from ``step.submit`` in the order they finish, whichever run made them."""
    pending = list(futures)
    if pending and isinstance(pending[0], LocalFuture):
        by_inner = {future.inner: future for future in pending}
        for inner in futures_completed(by_inner):
            yield by_inner[inner]
        return
    yield from prefect_completed(pending)


def threads_run_steps() -> bool:
    """True when submitted steps run on threads of this process (worth a process pool)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if _ENGINELESS.get() is not None:
        return True
    context = FlowRunContext.get()
    return context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner)


class Step(Task):
    """A Prefect task that an engine-less run calls as a plain function (same code, same
    retries), and that inside a Prefect run is exactly a Prefect task."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        run = _ENGINELESS.get()
        if run is None:
            return super().__call__(*args, **kwargs)
        return run.call(self, args, kwargs)

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        run = _ENGINELESS.get()
        if run is None:
            return super().submit(*args, **kwargs)
        kwargs.pop("wait_for", None)  # futures in the arguments are waited for anyway
        return run.submit(self, args, kwargs)


def step(fn: Callable | None = None, **options: Any) -> Any:
    """``@step(...)`` is ``@task(...)`` for steps that engine-less runs can call too."""
    if fn is None:
        return lambda function: Step(fn=function, **options)
    return Step(fn=fn, **options)
