"""The A2A lifecycle event of seed 000: its wire shape, its id and the publisher's counters.

The body on the wire is exactly the seed's four keys (``event_type``, ``timestamp``,
``source``, ``metadata``). The event's ``id`` is not in the body: it travels as the
``Idempotency-Key`` header, so a receiver can drop the duplicate that a retry after a lost
answer produces, while the body stays the shape existing A2A consumers already parse.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from tasks.events.errors import InvalidEvent
from tasks.platform.naming import iso_utc, utc_now

EVENT_TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
EVENT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_SOURCE = "release-warden"
DEFAULT_PIPELINE = "lora_deployment"


class EventType(StrEnum):
    """The seed's gauntlet lifecycle; any other UPPER_SNAKE type is accepted as well."""

    GAUNTLET_BEGIN = "GAUNTLET_BEGIN"
    GAUNTLET_PASS = "GAUNTLET_PASS"
    GAUNTLET_FAIL = "GAUNTLET_FAIL"


def new_event_id() -> str:
    return uuid.uuid4().hex


class A2AEvent(BaseModel):
    """One event for the A2A bus; ``to_json()`` is the seed's body, ``id`` its idempotency key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str
    timestamp: datetime = Field(default_factory=utc_now)
    source: str = Field(default=DEFAULT_SOURCE, min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=new_event_id)

    @field_validator("event_type")
    @classmethod
    def _upper_snake(cls, value: str) -> str:
        if not EVENT_TYPE_PATTERN.match(value):
            raise ValueError(
                f"event_type {value!r} is not UPPER_SNAKE_CASE; use e.g. 'GAUNTLET_BEGIN'"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "timestamp has no timezone; pass an aware UTC time (tasks.platform.naming.utc_now)"
            )
        return value

    @field_validator("metadata")
    @classmethod
    def _json_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"metadata must be plain JSON (str, number, bool, null, lists, objects): {exc}"
            ) from exc
        return value

    @field_validator("id")
    @classmethod
    def _uuid_hex(cls, value: str) -> str:
        if not EVENT_ID_PATTERN.match(value):
            raise ValueError(f"id {value!r} is not 32 lowercase hex digits (uuid4().hex)")
        return value

    @field_serializer("timestamp")
    def _z_time(self, value: datetime) -> str:
        return iso_utc(value, timespec="seconds")

    def body(self) -> dict[str, Any]:
        """The seed's payload as a dict, keys in the seed's order."""
        return {
            "event_type": self.event_type,
            "timestamp": iso_utc(self.timestamp, timespec="seconds"),
            "source": self.source,
            "metadata": self.metadata,
        }

    def to_json(self) -> str:
        """The HTTP body: the seed's four keys, compact JSON."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False)

    # ``mock=True`` marks the lifecycle of the seed's mock gauntlet (SKIP_GAUNTLET): its
    # metadata carries "mock": true, so no consumer can take it for a gauntlet that ran.

    @classmethod
    def gauntlet_begin(
        cls,
        *,
        mode: str = "canary",
        pipeline: str = DEFAULT_PIPELINE,
        mock: bool = False,
        **fields: Any,
    ) -> A2AEvent:
        return cls(
            event_type=EventType.GAUNTLET_BEGIN,
            metadata=_marked({"pipeline": pipeline, "mode": mode}, mock),
            **fields,
        )

    @classmethod
    def gauntlet_pass(
        cls,
        *,
        duration_seconds: int | float,
        pipeline: str = DEFAULT_PIPELINE,
        mock: bool = False,
        **fields: Any,
    ) -> A2AEvent:
        if duration_seconds < 0:
            raise InvalidEvent(f"duration_seconds must be >= 0, got {duration_seconds}")
        return cls(
            event_type=EventType.GAUNTLET_PASS,
            metadata=_marked({"pipeline": pipeline, "duration_seconds": duration_seconds}, mock),
            **fields,
        )

    @classmethod
    def gauntlet_fail(
        cls,
        *,
        failure_reason: str,
        pipeline: str = DEFAULT_PIPELINE,
        mock: bool = False,
        **fields: Any,
    ) -> A2AEvent:
        if not failure_reason.strip():
            raise InvalidEvent("failure_reason is empty; say why, e.g. 'canary_test_failed'")
        return cls(
            event_type=EventType.GAUNTLET_FAIL,
            metadata=_marked({"pipeline": pipeline, "failure_reason": failure_reason}, mock),
            **fields,
        )


def _marked(metadata: dict[str, Any], mock: bool) -> dict[str, Any]:
    """The seed's metadata, plus ``"mock": true`` for the mock gauntlet's events."""
    return metadata | {"mock": True} if mock else metadata


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OpenReason(StrEnum):
    FAILURES = "failures"  # N consecutive delivery failures
    FLOOD = "flood"  # too many events per second of one type, or in 10 s overall


class SpooledEvent(BaseModel):
    """One row of the spool: the body exactly as it will be sent, and its retry bookkeeping."""

    model_config = ConfigDict(frozen=True)

    seq: int
    id: str
    event_type: str
    body: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime


class DrainStop(StrEnum):
    """Why a drain_spool call stopped."""

    EMPTY = "empty"  # nothing left in the spool
    LIMIT = "limit"  # max_events sent
    NOT_DUE = "not_due"  # the oldest event is in backoff
    SEND_FAILED = "send_failed"
    BREAKER_OPEN = "breaker_open"
    NO_SINK = "no_sink"
    BUSY = "busy"  # another drain of this publisher is running
    BUDGET = "budget"  # its time budget ran out; the rest waits for a later drain


class DrainResult(BaseModel):
    """What one ``drain_spool`` call did and why it stopped."""

    model_config = ConfigDict(frozen=True)

    sent: int
    pending: int
    stopped: DrainStop
    error: str | None = None


class PublisherStats(BaseModel):
    """Counters since the publisher started.

    ``dropped`` counts events lost for good: the spool could not be written and the publisher
    was closed (no sender thread is left to retry them), so they were neither delivered nor
    kept. While the publisher is open, such events are held in memory and retried instead.
    """

    model_config = ConfigDict(frozen=True)

    published: int
    sent: int
    spooled: int
    failed: int
    overflowed: int  # went to the spool from the caller's thread because the queue was full
    dropped: int
    queued: int
    pending: int
    breaker: BreakerState
    breaker_reason: OpenReason | None
    spool_errors: int
    spool_warnings: tuple[str, ...] = ()
