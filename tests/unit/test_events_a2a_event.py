"""A2A events: the seed's exact payloads, the idempotency id, and named invalid inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from blocks.errors import ExitCode, WardenError
from tasks.events import A2AEvent, EventType, InvalidEvent

SEED_SOURCE = "deploy_lora.sh"

# fmt: off
SEED_EVENTS = [
    # helper call, timestamp, the seed's body (seed 000, "A2A Events")
    pytest.param(
        lambda **kw: A2AEvent.gauntlet_begin(mode="canary", **kw),
        datetime(2024, 1, 15, 14, 30, tzinfo=UTC),
        {"event_type": "GAUNTLET_BEGIN", "timestamp": "2024-01-15T14:30:00Z",
         "source": SEED_SOURCE, "metadata": {"pipeline": "lora_deployment", "mode": "canary"}},
        id="begin"),
    pytest.param(
        lambda **kw: A2AEvent.gauntlet_pass(duration_seconds=135, **kw),
        datetime(2024, 1, 15, 14, 32, 15, tzinfo=UTC),
        {"event_type": "GAUNTLET_PASS", "timestamp": "2024-01-15T14:32:15Z",
         "source": SEED_SOURCE,
         "metadata": {"pipeline": "lora_deployment", "duration_seconds": 135}},
        id="pass-duration"),
    pytest.param(
        lambda **kw: A2AEvent.gauntlet_fail(failure_reason="canary_test_failed", **kw),
        datetime(2024, 1, 15, 14, 31, 45, tzinfo=UTC),
        {"event_type": "GAUNTLET_FAIL", "timestamp": "2024-01-15T14:31:45Z",
         "source": SEED_SOURCE,
         "metadata": {"pipeline": "lora_deployment", "failure_reason": "canary_test_failed"}},
        id="fail-reason"),
]
# fmt: on


@pytest.mark.parametrize(("make", "moment", "seed_body"), SEED_EVENTS)
def test_body_is_the_seeds_payload_exactly(make, moment, seed_body) -> None:
    event = make(source=SEED_SOURCE, timestamp=moment)
    body = json.loads(event.to_json())
    assert body == seed_body
    assert list(body) == ["event_type", "timestamp", "source", "metadata"]  # the seed's order
    assert "id" not in body  # the id travels as the Idempotency-Key header


def test_id_is_a_fresh_uuid4_hex_per_event() -> None:
    first, second = A2AEvent.gauntlet_begin(), A2AEvent.gauntlet_begin()
    assert len(first.id) == 32 and int(first.id, 16) >= 0
    assert first.id[12] == "4"  # uuid version 4
    assert first.id != second.id


def test_default_timestamp_is_now_in_utc_with_z() -> None:
    event = A2AEvent(event_type="GAUNTLET_BEGIN")
    assert event.timestamp.tzinfo is not None
    assert abs(datetime.now(UTC) - event.timestamp) < timedelta(seconds=5)
    assert json.loads(event.to_json())["timestamp"].endswith("Z")


def test_other_offsets_are_written_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    event = A2AEvent(
        event_type="DEPLOY_DONE", timestamp=datetime(2024, 1, 15, 16, 30, tzinfo=plus_two)
    )
    assert json.loads(event.to_json())["timestamp"] == "2024-01-15T14:30:00Z"


def test_any_upper_snake_type_and_the_enum_are_accepted() -> None:
    assert A2AEvent(event_type="ROLLBACK_DONE_2").event_type == "ROLLBACK_DONE_2"
    assert (
        A2AEvent(event_type=EventType.GAUNTLET_FAIL)
        .to_json()
        .startswith('{"event_type":"GAUNTLET_FAIL"')
    )


def test_event_is_frozen() -> None:
    event = A2AEvent.gauntlet_begin()
    with pytest.raises(ValidationError):
        event.source = "other"  # type: ignore[misc]


# fmt: off
INVALID_FIELDS = [
    # fields, the field named in the error, words the message must hold
    pytest.param({"event_type": "gauntlet_begin"}, "event_type", "UPPER_SNAKE",
                 id="lowercase-type"),
    pytest.param({"event_type": "GAUNTLET-BEGIN"}, "event_type", "UPPER_SNAKE", id="dash-type"),
    pytest.param({"event_type": ""}, "event_type", "UPPER_SNAKE", id="empty-type"),
    pytest.param({"timestamp": datetime(2024, 1, 15, 14, 30)}, "timestamp", "no timezone",
                 id="naive-timestamp"),
    pytest.param({"source": ""}, "source", "at least 1", id="empty-source"),
    pytest.param({"metadata": {"at": datetime(2024, 1, 1, tzinfo=UTC)}}, "metadata", "plain JSON",
                 id="metadata-datetime"),
    pytest.param({"metadata": {"ratio": float("nan")}}, "metadata", "plain JSON",
                 id="metadata-nan"),
    pytest.param({"id": "not-a-uuid"}, "id", "32 lowercase hex", id="bad-id"),
    pytest.param({"extra": 1}, "extra", "Extra inputs", id="unknown-field"),
]
# fmt: on


@pytest.mark.parametrize(("fields", "field", "words"), INVALID_FIELDS)
def test_invalid_fields_name_the_field_and_the_fix(fields, field, words) -> None:
    with pytest.raises(ValidationError) as caught:
        A2AEvent(**{"event_type": "GAUNTLET_BEGIN", **fields})
    error = caught.value.errors()[0]
    assert error["loc"] == (field,)
    assert words in error["msg"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: A2AEvent.gauntlet_pass(duration_seconds=-1), id="negative"),
        pytest.param(lambda: A2AEvent.gauntlet_fail(failure_reason="  "), id="no-reason"),
    ],
)
def test_helpers_reject_values_the_seed_cannot_carry(make) -> None:
    with pytest.raises(InvalidEvent) as caught:
        make()
    assert isinstance(caught.value, WardenError)
    assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "build",
    [
        lambda mock: A2AEvent.gauntlet_begin(mode="canary", mock=mock),
        lambda mock: A2AEvent.gauntlet_pass(duration_seconds=1, mock=mock),
        lambda mock: A2AEvent.gauntlet_fail(failure_reason="gauntlet_error", mock=mock),
    ],
    ids=["begin", "pass", "fail"],
)
def test_the_mock_gauntlets_events_say_mock_and_real_ones_keep_the_seed_shape(build) -> None:
    assert build(True).body()["metadata"]["mock"] is True
    assert "mock" not in build(False).body()["metadata"]
