"""What a drill's activities act on: the platform under test (its API, pool, home), the guard
and the intents router as ports (the flow wires the real ones in: a concern never imports
another), and a notebook the activities of one experiment share. Chaos Toolkit calls the
activities by module and function name, so the drill in progress is a context variable set for
the experiment's run, never module state that outlives it."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from blocks.drills import DrillName, Scale, Sizes
from blocks.guard import GuardFile


class GuardPort(Protocol):
    """The orchestration guard and the intents router, as the drills use them."""

    def readiness(self) -> dict[str, Any]:
        """``{"status": "healthy"|..., "failed": ["where: check: reason", ...]}``"""

    def watchdog_cycle(self, previous: dict) -> tuple[list[dict[str, Any]], dict, list[str]]:
        """One watchdog check: (alert decisions, keys to remember, pools whose pool check
        failed: missing or paused)."""

    def watch_storms(self, runtime_sec: float, record: Callable[[dict[str, Any]], None]) -> dict:
        """The storm breaker on the event stream for ``runtime_sec``; ``record`` takes each
        decision as it is taken; returns its report."""

    def stop_cascades(self) -> list[dict[str, Any]]:
        """One pass of the cascade breaker: the cascade-stop decisions it took."""

    def route(self, intent: dict[str, Any]) -> dict[str, Any]:
        """Route one intent: the router's answer (``approved``, ``code``, ``reasoning``,
        ``flow_run``)."""

    def kill_switch_on(self) -> bool:
        """Whether the project kill switch is on (read where the drill's own run is recorded)."""


@dataclass
class Drill:
    name: DrillName
    scale: Scale
    sizes: Sizes
    api_url: str
    pool: str
    home: Path | None  # the platform's home (pid files of its workers); None: unknown
    folder: Path  # this drill run's files: journal, markers, spool
    tag: str  # every run the drill creates carries it
    guard_file: GuardFile
    guard: GuardPort
    recovery_sec: float
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def verification(self, name: str, passed: bool, detail: str, **measured: Any) -> dict:
        """A verification's output (the judge reads ``passed``); kept in the notes as well."""
        entry = {"name": name, "passed": bool(passed), "detail": detail, "measured": measured}
        self.notes.setdefault("verifications", []).append(entry)
        return entry


_CURRENT: contextvars.ContextVar[Drill | None] = contextvars.ContextVar("drill", default=None)


@contextmanager
def running(drill: Drill) -> Iterator[Drill]:
    token = _CURRENT.set(drill)
    try:
        yield drill
    finally:
        _CURRENT.reset(token)


def current() -> Drill:
    drill = _CURRENT.get()
    if drill is None:
        raise RuntimeError("a drill activity ran outside a drill (tasks.drills.runner)")
    return drill


def wait_until(condition: Callable[[], Any], timeout_sec: float, every: float = 0.5) -> Any:
    """Poll ``condition`` until truthy (returned) or ``timeout_sec`` passed (its last value)."""
    deadline = time.monotonic() + timeout_sec
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)  # polling a condition, bounded by the deadline
