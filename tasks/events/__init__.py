"""External event delivery: A2A events to a webhook bus, with a durable spool and a breaker.

Flows emit their Prefect events themselves; this package delivers the seed's A2A events to
an external sink without ever blocking a flow or silently dropping an event. No Prefect here.
"""

from tasks.events.best_effort import A2AProblem, BestEffortBus, BusSummary, ProblemKind
from tasks.events.breaker import CircuitBreaker
from tasks.events.errors import DeliveryFailed, EventConfigError, InvalidEvent
from tasks.events.models import (
    A2AEvent,
    BreakerState,
    DrainResult,
    DrainStop,
    EventType,
    OpenReason,
    PublisherStats,
    SpooledEvent,
)
from tasks.events.publisher import EventPublisher
from tasks.events.sink import EventSink, WebhookSink
from tasks.events.spool import Spool, Synchronous, backoff_seconds

__all__ = [
    "A2AEvent",
    "A2AProblem",
    "BestEffortBus",
    "BusSummary",
    "BreakerState",
    "CircuitBreaker",
    "DeliveryFailed",
    "DrainResult",
    "DrainStop",
    "EventConfigError",
    "EventPublisher",
    "EventSink",
    "EventType",
    "InvalidEvent",
    "OpenReason",
    "ProblemKind",
    "PublisherStats",
    "Spool",
    "SpooledEvent",
    "Synchronous",
    "WebhookSink",
    "backoff_seconds",
]
