"""Time, always timezone-aware UTC: now, ISO 8601 with a ``Z``, and folder stamps."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime, timespec: str = "auto") -> str:
    """ISO 8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def run_stamp(moment: datetime) -> str:
    """A folder name that sorts by time: 20261121T213000123456Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
