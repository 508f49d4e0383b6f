"""The A2A lifecycle event of seed 000: its wire shape and its id.

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
from tasks.platform.clock import iso_utc, utc_now

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
                "timestamp has no timezone; pass an aware UTC time (tasks.platform.clock.utc_now)"
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
