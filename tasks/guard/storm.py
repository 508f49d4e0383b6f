"""Event storms (seed 002 §2, the ``trigger_storm_mitigation`` playbook): when more than 100
events of one type arrive within 1 s, or more than 500 within 10 s, open the breaker and pause
the storm's sources (the automations and deployments its events name); after a quiet cooldown
(60 s) close it and restore exactly what was paused. Pure: the project's breaker
(:mod:`tasks.events.breaker`) counts; no Prefect import, no clock of its own.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from tasks.events.breaker import FLOOD_PER_TYPE_WINDOW, FLOOD_TOTAL_WINDOW, CircuitBreaker
from tasks.guard.models import Frozen
from tasks.platform.decisions import Decision, DecisionKind

PLAYBOOK = "trigger_storm_mitigation"
STORM_BREAKER = "orchestration-storm-breaker"


class SourceKind(StrEnum):
    AUTOMATION = "automation"
    DEPLOYMENT = "deployment"


class Source(Frozen):
    """What an event names as its origin: an automation or a deployment (by id)."""

    kind: SourceKind
    id: str


PREFIXES = {
    "prefect.automation.": SourceKind.AUTOMATION,
    "prefect.deployment.": SourceKind.DEPLOYMENT,
}


def sources_of(resource_ids: list[str]) -> tuple[Source, ...]:
    """The automations and deployments among an event's resource and related resource ids."""
    found = []
    for rid in resource_ids:
        for prefix, kind in PREFIXES.items():
            if rid.startswith(prefix) and "." not in rid[len(prefix) :]:
                found.append(Source(kind=kind, id=rid[len(prefix) :]))
    return tuple(dict.fromkeys(found))


class Flood(Frozen):
    """A flood seen: the reasons, and the sources to pause (not yet paused)."""

    why: list[str]
    event_types: list[str]
    sources: list[Source]
    events_in_10s: int
    opening: bool = True  # False: the breaker was already open, these sources are new


class StormWatch:
    """Feeds events to the breaker; says when to open (with the sources) and when to close."""

    def __init__(
        self,
        per_type: int,
        total: int,
        cooldown_sec: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_type, self.total, self.cooldown_sec = per_type, total, cooldown_sec
        self._clock = clock
        self.breaker = CircuitBreaker(
            failure_threshold=1,
            cooldown_seconds=cooldown_sec,
            clock=clock,
            flood_per_type=per_type,
            flood_total=total,
        )
        self._recent: deque[tuple[float, str, tuple[Source, ...]]] = deque()
        self.is_open = False
        self.paused_sources: set[Source] = set()
        self._held_since = 0.0  # the cooldown counts from here: the flood, or its pause done

    def observe(self, event_type: str, sources: tuple[Source, ...]) -> Flood | None:
        """Count one event; a Flood when it floods and names sources not yet paused (the first
        flood always returns one, so the breaker's opening is recorded)."""
        now = self._clock()
        self._recent.append((now, event_type, sources))
        while self._recent and self._recent[0][0] <= now - FLOOD_TOTAL_WINDOW:
            self._recent.popleft()
        if not self.breaker.record_event(event_type):
            return None
        opening = not self.is_open
        self.is_open = True
        self._held_since = now
        flood = self._flood(now)
        flood = flood.model_copy(
            update={
                "sources": [s for s in flood.sources if s not in self.paused_sources],
                "opening": opening,
            }
        )
        self.paused_sources.update(flood.sources)
        return flood if opening or flood.sources else None

    def sources_paused(self) -> None:
        """The pause of a flood's sources has taken effect: the cooldown counts from now (a
        pause slower than the cooldown would otherwise be undone at once)."""
        self._held_since = self._clock()

    def quiet(self) -> bool:
        """True once, when the breaker is open and no flood came for the cooldown since the
        last flood and the last pause: close it."""
        if not self.is_open or self._clock() - self._held_since < self.cooldown_sec:
            return False
        if self.breaker.state.value != "half_open":
            return False
        self.breaker.record_success()
        self.is_open = False
        self.paused_sources = set()
        return True

    def _flood(self, now: float) -> Flood:
        last_second = Counter(
            kind for at, kind, _ in self._recent if at > now - FLOOD_PER_TYPE_WINDOW
        )
        storm_types = sorted(k for k, n in last_second.items() if n > self.per_type)
        total = len(self._recent)
        why = [f"Event flood: {total} in 10s"]
        if total > self.total:
            why.append(f"Threshold exceeded: {total} > {self.total} events in 10 s")
        why += [
            f"Threshold exceeded: {last_second[k]} {k} events in 1 s > {self.per_type}"
            for k in storm_types
        ]
        types = storm_types or sorted({kind for _, kind, _ in self._recent})
        sources = list(
            dict.fromkeys(s for _, kind, found in self._recent if kind in types for s in found)
        )
        return Flood(why=why, event_types=types, sources=sources, events_in_10s=total)


def open_decision(flood: Flood, paused: list[str], cooldown_sec: float, when: datetime) -> Decision:
    return Decision(
        who=STORM_BREAKER,
        what=DecisionKind.CIRCUIT_OPEN,
        where="event-stream",
        when=when,
        why=[
            *flood.why,
            f"Paused the storm's sources: {', '.join(paused) or 'none named by its events'}",
            "Circuit activated to protect subscriptions",
            "Mission alignment: Preserve stability (resilience priority)",
            f"Auto-close after {cooldown_sec:g}s cooldown",
        ],
        how="circuit_breaker_pattern",
        context={
            "playbook": PLAYBOOK,
            "event_types": flood.event_types,
            "event_count": flood.events_in_10s,
            "paused": paused,
        },
    )


def close_decision(restored: list[str], reason: str, when: datetime) -> Decision:
    return Decision(
        who=STORM_BREAKER,
        what=DecisionKind.CIRCUIT_CLOSE,
        where="event-stream",
        when=when,
        why=[reason, f"Restored exactly what was paused: {', '.join(restored) or 'nothing'}"],
        how="circuit_breaker_pattern",
        context={"playbook": PLAYBOOK, "restored": restored},
    )
