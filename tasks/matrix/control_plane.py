"""Onboarding verified by the control plane: token exchange and cluster activation (seed 001).

A leg's onboarding counts only when the environment's control plane, asked with the run's
IdToken as bearer, says the leg's host is registered and ``active``. The question is
``GET <control_plane.url>/clusters/<host id>``; the answer is JSON::

    {"host_id": "i-0abc...", "registered": true, "status": "active",
     "activated_at": "2026-01-19T02:03:04Z"}          # activated_at optional

``status`` other than ``active`` (``pending``, ``inactive``...) or HTTP 404 means "not yet":
keep asking until the onboarding timeout. 401/403 means the token exchange failed
(AUTH_FAILED, at once). A body that is not that JSON, another host's answer, ``active`` for an
unregistered host, a redirect or another 4xx is CONTROL_PLANE_INVALID (at once): evidence that
contradicts itself is a failure, never a pass. 5xx, 429, timeouts and refused connections are
retried until the timeout. Redirects are never followed (the token would go with them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, SecretStr, ValidationError

from blocks.invariants import check_control_plane_url
from tasks.matrix.errors import LegError, LegFailure
from tasks.platform.clock import utc_now

ACTIVE = "active"
CONNECT_TIMEOUT_S = 5.0
MAX_POLL_SECONDS = 30.0
_SHOWN = 200  # characters of an unexpected body quoted in the evidence


class Activation(StrEnum):
    ACTIVE = "active"
    NOT_ACTIVE = "not_active"  # registered, status not (yet) active
    NOT_REGISTERED = "not_registered"  # 404, or registered: false
    UNAVAILABLE = "unavailable"  # no usable answer this time (5xx, 429, timeout, refused)


class ClusterStatus(BaseModel):
    """The control plane's JSON answer about one host (unknown keys ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    host_id: str
    registered: bool
    status: str
    activated_at: AwareDatetime | None = None


class Answer(BaseModel):
    """One question to the control plane and what it proved."""

    model_config = ConfigDict(frozen=True)

    activation: Activation
    detail: str
    received_at: datetime
    status: str | None = None
    activated_at: datetime | None = None


class ControlPlane:
    """Asks one control plane about hosts, with the IdToken as bearer and explicit timeouts."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        *,
        request_timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if not isinstance(token, SecretStr) or not token.get_secret_value().strip():
            raise LegError(
                "no IdToken to ask the control plane with",
                failure=LegFailure.AUTH_FAILED,
            )
        self.url = check_control_plane_url(url)
        self._token = token
        self._clock = clock
        self._timeout = httpx.Timeout(
            request_timeout_seconds, connect=min(CONNECT_TIMEOUT_S, request_timeout_seconds)
        )
        self._transport = transport

    def __repr__(self) -> str:  # never the token
        return f"ControlPlane(url={self.url!r})"

    def ask(self, host_id: str) -> Answer:
        """Is ``host_id`` registered and active? Raises LegError when the answer is final."""
        where = f"{self.url}/clusters/{quote(host_id, safe='')}"
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/json",
        }
        try:
            with httpx.Client(
                timeout=self._timeout, follow_redirects=False, transport=self._transport
            ) as client:
                response = client.get(where, headers=headers)
        except httpx.TimeoutException as exc:
            return self._answer(Activation.UNAVAILABLE, f"no answer in time ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return self._answer(Activation.UNAVAILABLE, f"unreachable ({type(exc).__name__})")
        return self._judge(host_id, where, response)

    def _judge(self, host_id: str, where: str, response: httpx.Response) -> Answer:
        code = response.status_code
        if code in (401, 403):
            raise LegError(
                f"the control plane refused the IdToken (HTTP {code} from {where}): the token "
                "exchange failed",
                failure=LegFailure.AUTH_FAILED,
            )
        if code == 404:
            return self._answer(Activation.NOT_REGISTERED, f"host {host_id} not registered (404)")
        if code == 429 or code >= 500:
            return self._answer(Activation.UNAVAILABLE, f"HTTP {code}")
        if code != 200:
            raise self._invalid(f"the control plane answered HTTP {code} for {where}", response)
        try:
            cluster = ClusterStatus.model_validate_json(response.content)
        except ValidationError:
            raise self._invalid(
                f"the control plane's answer for {host_id} is not the cluster status JSON "
                "(host_id, registered, status[, activated_at])",
                response,
            ) from None
        return self._read(host_id, cluster)

    def _read(self, host_id: str, cluster: ClusterStatus) -> Answer:
        if cluster.host_id != host_id:
            raise LegError(
                f"asked about host {host_id}, the control plane answered for {cluster.host_id!r}",
                failure=LegFailure.CONTROL_PLANE_INVALID,
            )
        if cluster.status == ACTIVE and not cluster.registered:
            raise LegError(
                f"the control plane says host {host_id} is active but not registered",
                failure=LegFailure.CONTROL_PLANE_INVALID,
            )
        if not cluster.registered:
            return self._answer(Activation.NOT_REGISTERED, f"host {host_id} not registered")
        activation = Activation.ACTIVE if cluster.status == ACTIVE else Activation.NOT_ACTIVE
        return self._answer(
            activation,
            f"host {host_id} status {cluster.status!r}",
            status=cluster.status,
            activated_at=cluster.activated_at,
        )

    def _answer(self, activation: Activation, detail: str, **fields) -> Answer:
        return Answer(activation=activation, detail=detail, received_at=self._clock(), **fields)

    def _invalid(self, what: str, response: httpx.Response) -> LegError:
        """CONTROL_PLANE_INVALID quoting the start of the body (the token never, if echoed)."""
        body = response.text.replace(self._token.get_secret_value(), "[token]")
        body = body[:_SHOWN].replace("\n", " ")
        return LegError(f"{what}: {body!r}", failure=LegFailure.CONTROL_PLANE_INVALID)


def wait_until_active(
    plane: ControlPlane,
    host_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Answer:
    """Ask until the control plane says ``active`` (asked at least once); ONBOARDING_TIMEOUT
    naming the last answer otherwise. AUTH_FAILED and CONTROL_PLANE_INVALID end it at once."""
    start = clock()
    while True:
        answer = plane.ask(host_id)
        if answer.activation is Activation.ACTIVE:
            return answer
        left = timeout_seconds - (clock() - start)
        if left <= 0:
            raise LegError(
                f"the control plane did not report host {host_id} active within "
                f"{timeout_seconds:.0f} s; last answer: {answer.detail}",
                failure=LegFailure.ONBOARDING_TIMEOUT,
            )
        sleep(min(poll_seconds, MAX_POLL_SECONDS, left))
