"""External event delivery: A2A events to a webhook bus, with a durable spool and a breaker.

Flows emit their Prefect events themselves; this package delivers the seed's A2A events to
an external sink without ever blocking a flow or silently dropping an event. No Prefect here.
"""

from tasks.events.a2a_event import A2AEvent, EventType
from tasks.events.best_effort import A2AProblem, BestEffortBus, BusSummary, ProblemKind
from tasks.events.breaker import BreakerState, CircuitBreaker, OpenReason
from tasks.events.drain import DrainResult, DrainStop
from tasks.events.errors import DeliveryFailed, EventConfigError, InvalidEvent
from tasks.events.publisher import EventPublisher, PublisherStats
from tasks.events.sink import EventSink, WebhookSink
from tasks.events.spool import Spool, SpooledEvent, Synchronous, backoff_seconds

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
