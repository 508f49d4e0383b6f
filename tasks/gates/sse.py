"""Server-sent events: parse a stream as the HTML standard does, and judge it against a gate.

Pure code (no I/O): :mod:`tasks.gates.http_check` feeds it the lines it reads under the gate's
deadline. Only what the stream proves passes: no event, a missing or misplaced event type, or a
resumed stream that does not continue at ``Last-Event-ID + 1`` fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from pydantic import BaseModel, ConfigDict

from blocks.gates import SseExpectation

DEFAULT_EVENT = "message"
SHOWN_EVENTS = 50  # event types kept in a gate's details


class SseEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event: str = DEFAULT_EVENT
    data: str = ""
    id: str | None = None  # the id field of this event, if it had one


def parse_events(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events of a stream, dispatched at each blank line; an unfinished last event is dropped.

    As in the standard: ``:`` starts a comment, ``retry`` is ignored, one space after the
    colon is stripped, and a block without ``data`` dispatches nothing.
    """
    data: list[str] = []
    event, event_id = "", None
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event=event or DEFAULT_EVENT, data="\n".join(data), id=event_id)
            data, event, event_id = [], "", None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id" and "\0" not in value:
            event_id = value


def last_id(events: Sequence[SseEvent]) -> str | None:
    """What a client sends as ``Last-Event-ID`` after these events."""
    for event in reversed(events):
        if event.id is not None:
            return event.id
    return None


def judge_events(spec: SseExpectation, events: Sequence[SseEvent]) -> list[str]:
    """Problems with the event types of the whole (possibly resumed) stream."""
    if not events:
        return ["the stream sent no event"]
    types = [event.event for event in events]
    problems = []
    position = 0
    for wanted in spec.order:
        try:
            position = types.index(wanted, position) + 1
        except ValueError:
            seen = "never sent" if wanted not in types else "not in the expected order"
            problems.append(f"event {wanted!r} {seen} (expected order {' -> '.join(spec.order)})")
            break
    for wanted, count in spec.within_first.items():
        if wanted not in types[:count]:
            problems.append(f"event {wanted!r} not among the first {count} events")
    return problems


def judge_resume(resumed_from: str, resumed: Sequence[SseEvent]) -> list[str]:
    """The resumed stream must start at ``resumed_from + 1`` and its ids must increase."""
    if not resumed:
        return [f"the stream resumed after id {resumed_from} sent no event"]
    try:
        previous = int(resumed_from)
        ids = [int(event.id) if event.id is not None else None for event in resumed]
    except ValueError:
        return ["event ids are not integers: cannot check the resume continues at the next id"]
    if ids[0] != previous + 1:
        return [
            f"resumed after id {previous}, the stream started at id {ids[0]}, not {previous + 1}"
        ]
    for before, after in zip(ids, ids[1:], strict=False):
        if after is None or before is None or after <= before:
            return [f"event ids do not increase after the resume: {before} then {after}"]
    return []


def shown_types(events: Sequence[SseEvent]) -> list[str]:
    return [event.event for event in events[:SHOWN_EVENTS]]
