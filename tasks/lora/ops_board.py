"""The seed's ops board as a readiness source: its JSON health endpoint, read once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tasks.lora.readiness import Observation, ReadinessUnavailable
from tasks.lora.readiness_http import (
    checked_timeout,
    checked_url,
    excerpt,
    finite_number,
    http_client,
    http_get,
    json_body,
    parse_time,
    whole_number,
)
from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.urls import safe_url

FUTURE_SKEW = timedelta(minutes=5)  # an ops-board timestamp further ahead than this is wrong


class OpsBoardSource:
    """The ops board's JSON health endpoint: ``{"targets_up": 20, "alerts": 0, ...}``.

    ``alerts`` is a count or a list of alerts. Soak comes from ``soak_hours`` or the hours since
    ``last_alert_at`` / ``stable_since`` (ISO 8601 with a zone); given several, the smallest wins.
    """

    def __init__(
        self, url: str, timeout: float = 5, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.url = checked_url(url, "ops board URL")
        self.timeout = checked_timeout(timeout)
        self.clock = clock
        self.label = f"ops board {safe_url(self.url)}"

    def __repr__(self) -> str:
        return f"OpsBoardSource({safe_url(self.url)!r})"

    def observe(self) -> Observation:
        with http_client(self.timeout, self.url) as client:
            response = http_get(client, self.url, None, self.label, self.timeout)
        if not response.is_success:
            raise ReadinessUnavailable(
                f"{self.label} answered HTTP {response.status_code}: {excerpt(response)!r}"
            )
        body = json_body(response, self.label)
        if not isinstance(body, dict):
            raise ReadinessUnavailable(
                f"{self.label}: the JSON is {type(body).__name__}, expected an object "
                "with targets_up and alerts"
            )
        soak, soak_from = self._soak(body)
        return Observation(
            targets_up=self._whole(body, "targets_up"),
            alerts=self._alerts(body),
            soak_hours=soak,
            source=self.label,
            detail={"url": safe_url(self.url), "soak_from": soak_from},
        )

    def _whole(self, body: dict[str, Any], field: str) -> int:
        if field not in body:
            raise ReadinessUnavailable(f"{self.label}: field {field!r} is missing")
        number = whole_number(body[field])
        if number is None:
            raise ReadinessUnavailable(
                f"{self.label}: {field!r} must be a whole number >= 0, got {body[field]!r}"
            )
        return number

    def _alerts(self, body: dict[str, Any]) -> int:
        if isinstance(body.get("alerts"), list):
            return len(body["alerts"])
        return self._whole(body, "alerts")

    def _soak(self, body: dict[str, Any]) -> tuple[float | None, str | None]:
        """The smallest soak any given field implies, and which field gave it."""
        found: list[tuple[float, str]] = []
        if body.get("soak_hours") is not None:
            hours = finite_number(body["soak_hours"])
            if hours is None or hours < 0:
                raise ReadinessUnavailable(
                    f"{self.label}: 'soak_hours' must be a number >= 0, got {body['soak_hours']!r}"
                )
            found.append((hours, "soak_hours"))
        for field in ("last_alert_at", "stable_since"):
            if body.get(field) is not None:
                found.append((self._hours_since(field, body[field]), field))
        return min(found) if found else (None, None)

    def _hours_since(self, field: str, value: Any) -> float:
        moment = parse_time(value)
        if moment is None:
            raise ReadinessUnavailable(
                f"{self.label}: {field!r} must be an ISO 8601 time with a zone "
                f"(e.g. 2024-01-15T14:30:00Z), got {value!r}"
            )
        now = self.clock()
        if moment > now + FUTURE_SKEW:
            raise ReadinessUnavailable(
                f"{self.label}: {field!r} {value} is in the future (now {iso_utc(now)}); "
                "check the ops board's clock"
            )
        return max((now - moment).total_seconds(), 0.0) / 3600
