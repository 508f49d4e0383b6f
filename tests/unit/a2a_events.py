"""Numbered A2A events for the event-delivery unit tests: their order can be read back."""

from __future__ import annotations

from tasks.events import A2AEvent


def numbered(count: int, start: int = 0, kind: str = "STEP") -> list[A2AEvent]:
    """``count`` events of type ``kind`` whose metadata ``n`` runs from ``start``."""
    return [A2AEvent(event_type=kind, metadata={"n": n}) for n in range(start, start + count)]
