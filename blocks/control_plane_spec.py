"""The control plane an environment verifies onboarding against, and the sign-in it needs.

The IdToken travels in the ``Authorization`` header, so the URL rule decides where it may go:
https anywhere, plain http only to a loopback host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AuthSpec(BaseModel):
    """Cognito sign-in for the control plane; secrets are named Prefect Secret blocks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_pool_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    username_secret: str = Field(min_length=1, description="Secret block holding the username")
    password_secret: str = Field(min_length=1, description="Secret block holding the password")
    token_env: str = Field("RADIX_JWT_TOKEN", pattern=r"^[A-Z_][A-Z0-9_]*$")
    refresh_margin_seconds: float = Field(300, ge=0)


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1): traffic that never leaves here."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_control_plane_url(url: str) -> str:
    """``url`` without a trailing slash, if it may carry the IdToken; ValueError saying why not.

    https anywhere; plain http only to a loopback host (tests, a local control plane), since
    the IdToken travels in its ``Authorization`` header. No credentials, query or fragment.
    """
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise ValueError(f"control_plane.url {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            f"control_plane.url {url!r} must be an https URL with a host, "
            "e.g. https://control-plane.example.com/api"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"control_plane.url {url!r} uses plain http to {host}: the IdToken would travel "
            "unencrypted; use https (http is allowed only for 127.0.0.1, ::1 or localhost)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"control_plane.url {url!r} must hold no credentials, query or fragment: the "
            "IdToken is the only credential, sent as a bearer header"
        )
    return url.rstrip("/")


class ControlPlaneSpec(BaseModel):
    """The control plane that onboarding is verified against (seed 001: token exchange and
    cluster activation). Each leg's host is looked up at ``GET <url>/clusters/<host id>`` with
    the IdToken as bearer; only its answer ``active`` proves onboarding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="https base URL (http only for a loopback host)")
    request_timeout_seconds: float = Field(10, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_control_plane_url(value)
