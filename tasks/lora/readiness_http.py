"""The HTTP and JSON plumbing both readiness backends share: every failure is a
:class:`~tasks.lora.readiness.ReadinessUnavailable` that names the URL (never its password)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx

from blocks.errors import ConfigError
from tasks.lora.readiness import ReadinessUnavailable
from tasks.platform.urls import safe_url

EXCERPT_CHARS = 200


def http_client(timeout: float, url: str) -> httpx.Client:
    """A client with one timeout for connect, read, write and pool alike.

    Certificates are verified on every https URL; a plain http URL never does TLS (redirects
    are not followed), so it skips loading the CA bundle, which costs ~0.1 s per client.
    """
    return httpx.Client(timeout=httpx.Timeout(timeout), verify=url.startswith("https://"))


def http_get(
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


def json_body(response: httpx.Response, label: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadinessUnavailable(
            f"{label} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{excerpt(response)!r}"
        ) from exc


def whole_number(value: Any) -> int | None:
    number = finite_number(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)


def finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 / RFC 3339 time with a zone, in UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def checked_url(url: str, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{what} {url!r} is not an http(s) URL",
            remediation="Give the full address, e.g. http://ops-board:8080/health.",
        )
    return url


def checked_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(
            f"timeout {timeout!r} must be a number of seconds > 0",
            remediation="Use e.g. timeout=5.",
        )
    return float(timeout)


def excerpt(response: httpx.Response) -> str:
    return response.content[:EXCERPT_CHARS].decode("utf-8", "replace")


def short(value: Any) -> str:
    return repr(value)[:EXCERPT_CHARS]
