"""Operational readiness before the gauntlet may be enabled: targets up, no alerts, a full soak.

The seed's checklist (>= 20 UP targets, 0 active alerts, 72 h of stable operation) is judged by
:func:`check_readiness` against one :class:`ReadinessSource`: the ops board's JSON health
endpoint or the Prometheus HTTP API, chosen by configuration with no fallback between them.
Anything that stops a source from answering is a reason for "not ready": never an exception,
never a pass.

Soak on Prometheus. ``ALERTS`` has samples only while an alert is pending or firing, so the time
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

import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import BackendUnavailable, ConfigError
from blocks.lora import ReadinessPolicy
from tasks.platform.naming import iso_utc, utc_now
from tasks.platform.urls import safe_url

DEFAULT_UP_QUERY = "count(up == 1)"
ALERTS_QUERY = 'count(ALERTS{alertstate="firing"})'
FIRING_SLICES = 'max(max_over_time(ALERTS{{alertstate="firing"}}[{step}s]))'
OBSERVED_SLICES = "count(max_over_time(up[{step}s]))"
MAX_POINTS = 10_000  # Prometheus refuses a range query of more than 11,000 points per series
FUTURE_SKEW = timedelta(minutes=5)  # an ops-board timestamp further ahead than this is wrong
EXCERPT_CHARS = 200
SOAK_FIELDS = ("soak_hours", "last_alert_at", "stable_since")


class Observation(BaseModel):
    """What a source saw; ``soak_hours`` is None when the source cannot tell."""

    model_config = ConfigDict(frozen=True)

    targets_up: int = Field(ge=0)
    alerts: int = Field(ge=0)
    soak_hours: float | None = Field(default=None, ge=0)
    source: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Readiness(BaseModel):
    """The verdict; ``observation`` is None when the source could not be read at all."""

    model_config = ConfigDict(frozen=True)

    ready: bool
    reasons: list[str] = Field(default_factory=list)
    observation: Observation | None = None


class ReadinessUnavailable(BackendUnavailable):
    """A readiness source could not be read, or answered something that makes no sense."""

    remediation = (
        "Fix the readiness source (address, service, response shape) and check again; "
        "until then the gauntlet stays off."
    )


class ReadinessSource(Protocol):
    """One backend that reports targets up, active alerts and soak time."""

    def observe(self) -> Observation:
        """Read the backend once; raise ``ReadinessUnavailable`` naming the URL on failure."""
        ...


def check_readiness(source: ReadinessSource, policy: ReadinessPolicy | None = None) -> Readiness:
    """Observe once and judge; a source that fails gives ready=False with why, never raises."""
    policy = policy or ReadinessPolicy()
    try:
        observation = source.observe()
    except ReadinessUnavailable as exc:
        return Readiness(ready=False, reasons=[exc.message])
    except Exception as exc:  # a crashing source proves nothing: not ready, and say why
        reason = f"{source!r} could not be observed: {type(exc).__name__}: {exc}"
        return Readiness(ready=False, reasons=[reason])
    reasons = judge(observation, policy)
    return Readiness(ready=not reasons, reasons=reasons, observation=observation)


def judge(observation: Observation, policy: ReadinessPolicy) -> list[str]:
    """Every threshold the observation misses, one readable reason each."""
    where, reasons = observation.source, []
    if observation.targets_up < policy.min_targets_up:
        reasons.append(
            f"{where}: {observation.targets_up} targets up, "
            f"at least {policy.min_targets_up} required"
        )
    if observation.alerts > policy.max_alerts:
        reasons.append(
            f"{where}: {observation.alerts} active alerts, at most {policy.max_alerts} allowed"
        )
    soak = observation.soak_hours
    if policy.min_soak_hours > 0 and soak is None:
        reasons.append(
            f"{where}: soak time unknown (the source reports none of {', '.join(SOAK_FIELDS)}); "
            f"{policy.min_soak_hours:g} h of stable operation required"
        )
    elif soak is not None and soak < policy.min_soak_hours:
        reasons.append(
            f"{where}: stable for {soak:.2f} h, {policy.min_soak_hours:g} h soak required"
        )
    return reasons


class OpsBoardSource:
    """The ops board's JSON health endpoint: ``{"targets_up": 20, "alerts": 0, ...}``.

    ``alerts`` is a count or a list of alerts. Soak comes from ``soak_hours`` or the hours since
    ``last_alert_at`` / ``stable_since`` (ISO 8601 with a zone); given several, the smallest wins.
    """

    def __init__(
        self, url: str, timeout: float = 5, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.url = _checked_url(url, "ops board URL")
        self.timeout = _checked_timeout(timeout)
        self.clock = clock
        self.label = f"ops board {safe_url(self.url)}"

    def __repr__(self) -> str:
        return f"OpsBoardSource({safe_url(self.url)!r})"

    def observe(self) -> Observation:
        with _client(self.timeout, self.url) as client:
            response = _send(client, self.url, None, self.label, self.timeout)
        if not response.is_success:
            raise ReadinessUnavailable(
                f"{self.label} answered HTTP {response.status_code}: {_excerpt(response)!r}"
            )
        body = _json_body(response, self.label)
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
        number = _whole_number(body[field])
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
            hours = _number(body["soak_hours"])
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
        moment = _parse_time(value)
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
        self.base_url = _checked_url(base_url, "Prometheus URL").rstrip("/")
        self.timeout = _checked_timeout(timeout)
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
        with _client(self.timeout, self.base_url) as client:
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
        raise self._shape(query, f"{kind} result {_short(result)}")

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
            raise self._shape(query, f"result {_short(data)}") from exc

    def start_time(self) -> float:
        data = self._data("/api/v1/status/runtimeinfo", None, "runtime info")
        started = _parse_time(data.get("startTime"))
        if started is None:
            raise self._shape("runtime info", f"startTime {data.get('startTime')!r}")
        return started.timestamp()

    def _data(self, path: str, params: dict[str, Any] | None, what: str) -> dict[str, Any]:
        url = self.base_url + path
        response = _send(self.client, url, params, self.label, self.timeout, what)
        body = _json_body(response, self.label)
        if not isinstance(body, dict) or "status" not in body:
            raise self._shape(what, f"HTTP {response.status_code} body {_short(body)}")
        if body["status"] != "success":
            raise ReadinessUnavailable(
                f"{self.label} refused {what!r} (HTTP {response.status_code}): "
                f"{body.get('errorType', 'error')}: {body.get('error', 'no error text')}"
            )
        if not isinstance(body.get("data"), dict):
            raise self._shape(what, f"data {_short(body.get('data'))}")
        return body["data"]

    def _shape(self, what: str, found: str) -> ReadinessUnavailable:
        return ReadinessUnavailable(
            f"{self.label}: unexpected answer to {what!r}: {found}; is this the Prometheus API?"
        )


def _client(timeout: float, url: str) -> httpx.Client:
    """A client with one timeout for connect, read, write and pool alike.

    Certificates are verified on every https URL; a plain http URL never does TLS (redirects
    are not followed), so it skips loading the CA bundle, which costs ~0.1 s per client.
    """
    return httpx.Client(timeout=httpx.Timeout(timeout), verify=url.startswith("https://"))


def _send(
    client: httpx.Client,
    url: str,
    params: dict[str, Any] | None,
    label: str,
    timeout: float,
    what: str = "",
) -> httpx.Response:
    shown = safe_url(url) + (f" to {what!r}" if what else "")
    try:
        return client.get(url, params=params)
    except httpx.TimeoutException as exc:
        message = f"{label}: no answer from {shown} within {timeout:g}s ({type(exc).__name__})"
        raise ReadinessUnavailable(message) from exc
    except httpx.ConnectError as exc:
        message = f"{label}: cannot connect to {safe_url(url)} ({exc}); is it running?"
        raise ReadinessUnavailable(message) from exc
    except httpx.HTTPError as exc:
        message = f"{label}: request to {shown} failed: {type(exc).__name__}: {exc}"
        raise ReadinessUnavailable(message) from exc


def _json_body(response: httpx.Response, label: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadinessUnavailable(
            f"{label} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{_excerpt(response)!r}"
        ) from exc


def _count(values: list[float], query: str, label: str) -> int:
    """A count query's answer: empty means 0 (``count`` of nothing is nothing), series add up."""
    total = sum(values)
    number = _whole_number(total)
    if number is None:
        raise ReadinessUnavailable(f"{label}: {query!r} gave {total!r}, not a count")
    return number


def _whole_number(value: Any) -> int | None:
    number = _number(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _finite(text: Any) -> float:
    number = _number(float(text))
    if number is None:
        raise ValueError(text)
    return number


def _parse_time(value: Any) -> datetime | None:
    """An ISO 8601 / RFC 3339 time with a zone, in UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _checked_url(url: str, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{what} {url!r} is not an http(s) URL",
            remediation="Give the full address, e.g. http://ops-board:8080/health.",
        )
    return url


def _checked_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(
            f"timeout {timeout!r} must be a number of seconds > 0",
            remediation="Use e.g. timeout=5.",
        )
    return float(timeout)


def _excerpt(response: httpx.Response) -> str:
    return response.content[:EXCERPT_CHARS].decode("utf-8", "replace")


def _short(value: Any) -> str:
    return repr(value)[:EXCERPT_CHARS]
