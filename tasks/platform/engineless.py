"""The engine-less run: a flow's own body with its steps as plain calls on a thread pool, no
Prefect API (the CLI with none configured or running). Retries, retry conditions, timeouts and
futures behave as a Prefect task's do; events and summaries go under
``$WARDEN_HOME/local-runs/<flow>/``. ``tasks.platform.steps`` chooses between this and Prefect.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import Task
from prefect.settings import PREFECT_LOGGING_LEVEL
from prefect.states import Failed, State
from prefect.utilities.annotations import BaseAnnotation
from prefect.utilities.timeout import timeout

from blocks.storage import warden_home
from tasks.platform.clock import iso_utc, utc_now


@dataclass(eq=False)  # identity: flows keep futures in sets
class LocalFuture:
    """What ``Step.submit`` returns in an engine-less run: ``result()`` like a Prefect future."""

    inner: Future

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """The step's return value; its exception is raised, or returned when
        ``raise_on_failure`` is false (as a Prefect future's failed state gives it)."""
        try:
            return self.inner.result(timeout=timeout)
        except Exception as exc:
            if raise_on_failure:
                raise
            return exc

    def wait(self, timeout: float | None = None) -> None:
        with contextlib.suppress(Exception):
            self.inner.result(timeout=timeout)


@dataclass
class EnginelessRun:
    """One flow run without a Prefect API: its steps on a thread pool, its records on disk."""

    flow_name: str
    max_workers: int = 16
    logger: logging.Logger = field(init=False)
    folder: Path = field(init=False)
    _pool: ThreadPoolExecutor = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.logger = logging.getLogger(f"warden.{self.flow_name}")
        self.logger.setLevel(PREFECT_LOGGING_LEVEL.value())  # on the console as a run's logs are
        self.folder = warden_home() / "local-runs" / self.flow_name
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=self.flow_name)

    def call(self, task: Task, args: tuple, kwargs: dict) -> Any:
        args, kwargs = _resolved(args), {key: _resolved(value) for key, value in kwargs.items()}
        attempts = 1 + (task.retries or 0)
        for attempt in range(1, attempts + 1):
            try:
                with timeout(task.timeout_seconds):
                    return task.fn(*args, **kwargs)
            except Exception as exc:
                if attempt == attempts or not _should_retry(task, exc):
                    raise
                delay = _retry_delay(task, attempt)
                self.logger.warning(
                    "%s failed (%s: %s); retry %d of %d in %.0f s",
                    task.name,
                    type(exc).__name__,
                    exc,
                    attempt,
                    attempts - 1,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def submit(self, task: Task, args: tuple, kwargs: dict) -> LocalFuture:
        context = contextvars.copy_context()  # the step sees this run (and may submit its own)
        return LocalFuture(self._pool.submit(context.run, self.call, task, args, kwargs))

    def record(self, kind: str, entry: dict[str, Any]) -> None:
        """Append an event or a summary to ``local-runs/<flow>/<kind>.jsonl`` (best effort)."""
        line = json.dumps({"at": iso_utc(utc_now()), **entry}, default=str)
        try:
            with self._lock:
                self.folder.mkdir(parents=True, exist_ok=True)
                with (self.folder / f"{kind}.jsonl").open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
        except OSError as exc:
            self.logger.warning("could not record the run's %s in %s: %s", kind, self.folder, exc)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


ENGINELESS: contextvars.ContextVar[EnginelessRun | None] = contextvars.ContextVar(
    "warden_engineless_run", default=None
)


def run_engineless(flow: Any, parameters: dict[str, Any]) -> tuple[str, Any]:
    """Run ``flow``'s body without the Prefect engine; returns (state name, result).

    A body that returns a Prefect state gives that state's name and data (``Failed`` runs keep
    their report); an exception propagates, as a Failed run's result would raise.
    """
    runner = getattr(flow, "task_runner", None)
    workers = getattr(runner, "_max_workers", None) or 16
    run = EnginelessRun(flow.name, max_workers=workers)
    token = ENGINELESS.set(run)
    try:
        value = flow.fn(**parameters)
    finally:
        ENGINELESS.reset(token)
        run.close()
    if isinstance(value, State):
        return value.name, value.data
    return "Completed", value


def _resolved(value: Any) -> Any:
    """Arguments as a Prefect task would receive them: futures waited for, quotes removed."""
    if isinstance(value, LocalFuture):
        return value.result()
    if isinstance(value, BaseAnnotation):
        return value.unquote()
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_resolved(item) for item in value)
    return value


def _should_retry(task: Task, exc: Exception) -> bool:
    condition = task.retry_condition_fn
    return condition is None or bool(condition(task, None, Failed(data=exc)))


def _retry_delay(task: Task, attempt: int) -> float:
    delay = task.retry_delay_seconds or 0
    if isinstance(delay, list):
        delay = delay[min(attempt - 1, len(delay) - 1)] if delay else 0
    return float(delay)
