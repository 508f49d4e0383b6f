"""The Prometheus HTTP API as a readiness source: targets up, firing alerts, and soak.

``ALERTS`` has samples only while an alert is pending or firing, so the time
since the last firing alert cannot be read at one instant once that alert resolved. Instead one
``query_range`` over the soak window asks, slice by slice, whether any firing sample exists
(``max(max_over_time(ALERTS{alertstate="firing"}[<step>]))``: ranges as long as the step tile
the window, so no raw sample falls between two slices), and a second whether anything was
scraped in the slice at all (``count(max_over_time(up[<step>]))``). Soak is the time since the
end of the newest slice that had a firing alert or no data: understated by up to one step, never
overstated. When every slice is clean, soak is the whole window. It is then capped by the
server's uptime (``startTime`` from ``/api/v1/status/runtimeinfo``, or ``uptime_query`` for
Prometheus-compatible servers without that endpoint): a server cannot vouch for time it did not
watch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from blocks.errors import ConfigError
from tasks.lora.readiness import Observation, ReadinessUnavailable
from tasks.lora.readiness_http import (
    checked_timeout,
    checked_url,
    finite_number,
    http_client,
    http_get,
    json_body,
    parse_time,
    short,
    whole_number,
)
from tasks.platform.clock import iso_utc
from tasks.platform.urls import safe_url

DEFAULT_UP_QUERY = "count(up == 1)"
ALERTS_QUERY = 'count(ALERTS{alertstate="firing"})'
FIRING_SLICES = 'max(max_over_time(ALERTS{{alertstate="firing"}}[{step}s]))'
OBSERVED_SLICES = "count(max_over_time(up[{step}s]))"
MAX_POINTS = 10_000  # Prometheus refuses a range query of more than 11,000 points per series


class PrometheusSource:
    """The Prometheus HTTP API (``/api/v1/query``, ``/api/v1/query_range``); see the module doc.

    ``soak_window_hours`` is how far back soak is looked for (soak never exceeds it);
    ``step_seconds`` is the slice length, at least the scrape interval.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 5,
        up_query: str = DEFAULT_UP_QUERY,
        *,
        soak_window_hours: float = 72,
        step_seconds: float = 300,
        uptime_query: str | None = None,
    ) -> None:
        self.base_url = checked_url(base_url, "Prometheus URL").rstrip("/")
        self.timeout = checked_timeout(timeout)
        if not up_query.strip():
            raise ConfigError("up_query is empty", remediation=f"Use e.g. {DEFAULT_UP_QUERY!r}.")
        self.up_query = up_query
        if not soak_window_hours > 0 or not step_seconds > 0:
            raise ConfigError(
                f"soak_window_hours ({soak_window_hours!r}) and step_seconds "
                f"({step_seconds!r}) must both be > 0",
                remediation="Use e.g. soak_window_hours=72, step_seconds=300.",
            )
        self.window_s = soak_window_hours * 3600
        # whole seconds: the slice's range selector is written as "[<step>s]"
        self.step_s = float(max(math.ceil(step_seconds), math.ceil(self.window_s / MAX_POINTS)))
        self.uptime_query = uptime_query
        self.label = f"prometheus {safe_url(self.base_url)}"

    def __repr__(self) -> str:
        return f"PrometheusSource({safe_url(self.base_url)!r})"

    def observe(self) -> Observation:
        with http_client(self.timeout, self.base_url) as client:
            api = _PrometheusApi(client, self.base_url, self.label, self.timeout)
            now = api.instant_values("time()")[0]
            targets = _count(api.instant_values(self.up_query), self.up_query, self.label)
            alerts = _count(api.instant_values(ALERTS_QUERY), ALERTS_QUERY, self.label)
            uptime = self._uptime(api, now)
            stable, why = (0.0, "an alert is firing") if alerts else self._stable(api, now)
        soak, limited_by = (uptime, "uptime") if uptime < stable else (stable, why)
        detail = {
            "url": safe_url(self.base_url),
            "now": iso_utc(datetime.fromtimestamp(now, UTC)),
            "uptime_hours": round(uptime / 3600, 4),
            "window_hours": self.window_s / 3600,
            "step_seconds": self.step_s,
            "soak_limited_by": limited_by,
        }
        return Observation(
            targets_up=targets,
            alerts=alerts,
            soak_hours=soak / 3600,
            source=self.label,
            detail=detail,
        )

    def _uptime(self, api: _PrometheusApi, now: float) -> float:
        """Seconds the server has watched: the smallest answer wins if a query gives several."""
        if not self.uptime_query:
            return max(now - api.start_time(), 0.0)
        values = api.instant_values(self.uptime_query)
        if not values:
            raise ReadinessUnavailable(
                f"{self.label}: uptime query {self.uptime_query!r} returned no data"
            )
        return max(min(values), 0.0)

    def _stable(self, api: _PrometheusApi, now: float) -> tuple[float, str]:
        slices = math.ceil(self.window_s / self.step_s)
        start, step = now - slices * self.step_s, self.step_s
        firing = api.range_slices(FIRING_SLICES.format(step=int(step)), start, now, step)
        observed = api.range_slices(OBSERVED_SLICES.format(step=int(step)), start, now, step)
        return stable_seconds(window_s=self.window_s, step_s=step, firing=firing, observed=observed)


def stable_seconds(
    *, window_s: float, step_s: float, firing: Iterable[int], observed: Iterable[int]
) -> tuple[float, str]:
    """Seconds of clean operation before now, and what ended it.

    Slice ``k`` covers ``(now - (k+1)*step, now - k*step]``; a slice with a firing alert or with
    no data ends the soak at its end, so soak = ``k * step``. All clean: the whole window.
    """
    firing, observed = set(firing), set(observed)
    for k in range(math.ceil(window_s / step_s) + 1):
        if k in firing:
            return min(k * step_s, window_s), "an alert fired"
        if k not in observed:
            return min(k * step_s, window_s), "no data"
    return window_s, "window"


class _PrometheusApi:
    """The few Prometheus API calls readiness needs; every failure names URL and query."""

    def __init__(self, client: httpx.Client, base_url: str, label: str, timeout: float) -> None:
        self.client, self.base_url, self.label, self.timeout = client, base_url, label, timeout

    def instant_values(self, query: str) -> list[float]:
        data = self._data("/api/v1/query", {"query": query}, query)
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "scalar":
                return [_finite(result[1])]
            if kind == "vector":
                return [_finite(item["value"][1]) for item in result]
        except (TypeError, KeyError, IndexError, ValueError):
            pass
        raise self._shape(query, f"{kind} result {short(result)}")

    def range_slices(self, query: str, start: float, end: float, step: float) -> set[int]:
        """Indexes ``k`` (steps before ``end``) where the one-series range query has a value."""
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._data("/api/v1/query_range", params, query)
        try:
            if data["resultType"] != "matrix":
                raise ValueError(data["resultType"])
            return {
                round((end - float(ts)) / step)
                for series in data["result"]
                for ts, _value in series["values"]
            }
        except (TypeError, KeyError, ValueError) as exc:
            raise self._shape(query, f"result {short(data)}") from exc

    def start_time(self) -> float:
        data = self._data("/api/v1/status/runtimeinfo", None, "runtime info")
        started = parse_time(data.get("startTime"))
        if started is None:
            raise self._shape("runtime info", f"startTime {data.get('startTime')!r}")
        return started.timestamp()

    def _data(self, path: str, params: dict[str, Any] | None, what: str) -> dict[str, Any]:
        url = self.base_url + path
        response = http_get(self.client, url, params, self.label, self.timeout, what)
        body = json_body(response, self.label)
        if not isinstance(body, dict) or "status" not in body:
            raise self._shape(what, f"HTTP {response.status_code} body {short(body)}")
        if body["status"] != "success":
            raise ReadinessUnavailable(
                f"{self.label} refused {what!r} (HTTP {response.status_code}): "
                f"{body.get('errorType', 'error')}: {body.get('error', 'no error text')}"
            )
        if not isinstance(body.get("data"), dict):
            raise self._shape(what, f"data {short(body.get('data'))}")
        return body["data"]

    def _shape(self, what: str, found: str) -> ReadinessUnavailable:
        return ReadinessUnavailable(
            f"{self.label}: unexpected answer to {what!r}: {found}; is this the Prometheus API?"
        )


def _count(values: list[float], query: str, label: str) -> int:
    """A count query's answer: empty means 0 (``count`` of nothing is nothing), series add up."""
    total = sum(values)
    number = whole_number(total)
    if number is None:
        raise ReadinessUnavailable(f"{label}: {query!r} gave {total!r}, not a count")
    return number


def _finite(text: Any) -> float:
    number = finite_number(float(text))
    if number is None:
        raise ValueError(text)
    return number
