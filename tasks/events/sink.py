"""Where events are delivered: the sink protocol and its webhook backend.

A sink sends one body with its idempotency key and either returns (the sink answered 2xx)
or raises :class:`DeliveryFailed` with a short reason. Webhook URLs often carry a token in
their path or query, so messages name only the scheme, host and port.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from tasks.events.errors import DeliveryFailed, EventConfigError

MAX_TIMEOUT_S = 30.0


class EventSink(Protocol):
    def send(self, body: str, idempotency_key: str) -> None:
        """Deliver one JSON body; raise DeliveryFailed unless the sink accepted it."""

    def close(self) -> None:
        """Release connections this sink opened itself."""


class WebhookSink:
    """POST each event as JSON with an ``Idempotency-Key`` header and a short client timeout."""

    def __init__(self, url: str, *, timeout: float = 2.0, client: httpx.Client | None = None):
        self.origin = check_sink_url(url)
        if not 0 < timeout <= MAX_TIMEOUT_S:
            raise EventConfigError(
                f"sink timeout {timeout!r} s is outside (0, {MAX_TIMEOUT_S:g}]; events are "
                "best-effort and must never hold a flow, so keep it short (default 2 s)"
            )
        self._url = url
        self._timeout = httpx.Timeout(timeout)
        self._seconds = timeout
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=self._timeout)

    def send(self, body: str, idempotency_key: str) -> None:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        try:
            response = self._client.post(
                self._url, content=body.encode("utf-8"), headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                f"{self.origin}: no answer within {self._seconds:g}s ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self.origin}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"{self.origin}: answered HTTP {response.status_code}")

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


def check_sink_url(url: str) -> str:
    """The URL's ``scheme://host[:port]`` (safe to log), or a config error saying what to fix."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise EventConfigError(f"sink URL is not a URL ({exc}); use http(s)://host/path") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        shown = f"{parsed.scheme}://{parsed.host}" if parsed.scheme else "a URL without a scheme"
        raise EventConfigError(
            f"sink URL must be http:// or https:// with a host, got {shown}; "
            "e.g. https://bus.example/a2a/events"
        )
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
