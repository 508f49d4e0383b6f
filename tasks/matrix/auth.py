"""A control-plane IdToken without a human: Cognito USER_PASSWORD_AUTH, cached until near expiry.

Seed 001's ``auth.py``: a token an operator put in ``RADIX_JWT_TOKEN`` wins; otherwise the test
user's credentials (read from Prefect Secret blocks by the caller) buy a Cognito IdToken, which
is reused until ``refresh_margin_seconds`` before its ``exp``. ``exp`` is read by base64-decoding
the JWT's payload; the signature is deliberately not checked: the control plane that receives
the token verifies it, and this process only needs to know when to ask for a new one.
The password and the tokens never reach a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from blocks.errors import BackendUnavailable, ConfigError, ExitCode, WardenError
from tasks.platform.aws import AwsAccess, Fault, aws_errors, open_aws
from tasks.platform.clock import iso_utc, utc_now

logger = logging.getLogger(__name__)

SECRETS_HINT = (
    "Check the username and password in the Prefect Secret blocks named by "
    "auth.username_secret and auth.password_secret in invariants.yaml, or set {token_env}."
)
# botocore logs whole request and response bodies at DEBUG; these mark the ones to redact.
_BOTOCORE_BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers")
_SECRET_MARKERS = ("PASSWORD", "IdToken", "AccessToken", "RefreshToken", "SECRET_HASH")


class ControlPlaneCredential(BaseModel):
    """How the run authenticated, and the IdToken the legs verify onboarding with.

    ``method`` (``cognito``, ``env:<VAR>``, ``none``) goes into the evidence; ``token`` never
    does: it is a SecretStr (masked in every repr and JSON dump) kept in memory only.
    """

    model_config = ConfigDict(frozen=True)

    method: str
    token: SecretStr | None = None


class AuthFailed(WardenError):
    """Cognito refused the configured user; a human must fix the credentials or the user."""

    code = ExitCode.USAGE_ERROR
    remediation = SECRETS_HINT.format(token_env="RADIX_JWT_TOKEN")


# Cognito's own codes; throttling, server and credential codes are the shared table's
# (tasks.platform.aws). Remediations are formatted with token_env, user_pool_id, client_id.
COGNITO_FAULTS: dict[str, Fault] = {
    "NotAuthorizedException": Fault(AuthFailed, False, SECRETS_HINT),
    "UserNotFoundException": Fault(AuthFailed, False, SECRETS_HINT),
    "UserNotConfirmedException": Fault(
        AuthFailed,
        False,
        "Confirm the user (aws cognito-idp admin-confirm-sign-up --user-pool-id "
        "{user_pool_id} --username <user>), then run again.",
    ),
    "PasswordResetRequiredException": Fault(
        AuthFailed,
        False,
        "Set a permanent password (aws cognito-idp admin-set-user-password --permanent) and "
        "store it in the Secret block named by auth.password_secret.",
    ),
    "InvalidParameterException": Fault(
        ConfigError,
        False,
        "Enable ALLOW_USER_PASSWORD_AUTH in the ExplicitAuthFlows of app client {client_id} "
        "(user pool {user_pool_id}), or use a client without a secret.",
    ),
    "ResourceNotFoundException": Fault(
        ConfigError,
        False,
        "Check auth.user_pool_id ({user_pool_id}) and auth.client_id ({client_id}) and the "
        "environment's region in invariants.yaml.",
    ),
}


class TokenProvider:
    """Hands out a control-plane IdToken: from ``token_env`` if set, else Cognito, cached."""

    def __init__(
        self,
        region: str,
        user_pool_id: str,
        client_id: str,
        username: str,
        password: SecretStr,
        *,
        token_env: str = "RADIX_JWT_TOKEN",
        refresh_margin_seconds: float = 300,
        client: Any = None,
        aws: AwsAccess | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        fields = {"region": region, "auth.user_pool_id": user_pool_id}
        fields |= {"auth.client_id": client_id, "auth.token_env": token_env}
        fields |= {"the username Secret block": username}
        for name, value in fields.items():
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{name} is empty", remediation=_FILL.format(name=name))
        if isinstance(password, str):
            password = SecretStr(password)
        if not isinstance(password, SecretStr) or not password.get_secret_value():
            raise ConfigError(
                "the password Secret block is empty or not a string",
                remediation=_FILL.format(name="the Secret block named by auth.password_secret"),
            )
        if isinstance(refresh_margin_seconds, bool) or not (
            isinstance(refresh_margin_seconds, int | float) and refresh_margin_seconds >= 0
        ):
            raise ConfigError(
                f"auth.refresh_margin_seconds {refresh_margin_seconds!r} must be a number >= 0",
                remediation="Set auth.refresh_margin_seconds to e.g. 300 in invariants.yaml.",
            )
        self.region, self.user_pool_id, self.client_id = region, user_pool_id, client_id
        self.token_env, self.refresh_margin_seconds = token_env, float(refresh_margin_seconds)
        self._username, self._password, self._clock = username, password, clock
        self._client = client or (aws or open_aws(region)).client("cognito-idp")
        self._cached: SecretStr | None = None
        self._expires_at = 0.0  # the cached token's exp, seconds since the epoch
        self._lock = threading.Lock()
        _redact_botocore_bodies()

    def __repr__(self) -> str:  # never the password, the username or a token
        until = iso_utc(datetime.fromtimestamp(self._expires_at, UTC)) if self._cached else None
        return (
            f"TokenProvider(region={self.region!r}, user_pool_id={self.user_pool_id!r}, "
            f"client_id={self.client_id!r}, token_env={self.token_env!r}, cached_until={until!r})"
        )

    def token(self) -> SecretStr:
        """The env override if set, else the cached IdToken until exp - margin, else a new one."""
        override = os.environ.get(self.token_env, "").strip()
        if override:
            self._refuse_expired_override(override)
            logger.info("using the control-plane token from $%s", self.token_env)
            return SecretStr(override)
        with self._lock:
            now = self._clock().timestamp()
            if self._cached is None or now >= self._expires_at - self.refresh_margin_seconds:
                self._cached, self._expires_at = self._authenticate()
            return self._cached

    def _authenticate(self) -> tuple[SecretStr, float]:
        hints = {"token_env": self.token_env, "user_pool_id": self.user_pool_id}
        hints["client_id"] = self.client_id
        target = f"client {self.client_id}"
        with aws_errors(
            "Cognito", "InitiateAuth", target, self.region, faults=COGNITO_FAULTS, hints=hints
        ):
            response = self._client.initiate_auth(
                AuthFlow="USER_PASSWORD_AUTH",
                ClientId=self.client_id,
                AuthParameters={
                    "USERNAME": self._username,
                    "PASSWORD": self._password.get_secret_value(),
                },
            )
        result = response.get("AuthenticationResult") or {}
        if "IdToken" not in result:
            raise AuthFailed(
                f"Cognito answered with the challenge {response.get('ChallengeName')!r} "
                "instead of tokens",
                remediation="Give the user a permanent password (aws cognito-idp "
                "admin-set-user-password --permanent) and no MFA.",
            )
        try:
            expires_at = jwt_expiry(result["IdToken"])
        except ValueError as exc:
            raise BackendUnavailable(
                f"Cognito returned an IdToken whose exp cannot be read: {exc}", retryable=False
            ) from None
        logger.info(
            "obtained a Cognito IdToken for client %s, valid until %s",
            self.client_id,
            iso_utc(datetime.fromtimestamp(expires_at, UTC)),
        )
        return SecretStr(result["IdToken"]), expires_at

    def _refuse_expired_override(self, override: str) -> None:
        refuse_expired(override, self.token_env, self._clock)


_FILL = "Fill in {name} (invariants.yaml, or the Prefect Secret block it names)."


def refuse_expired(token: str, token_env: str, clock: Callable[[], datetime] = utc_now) -> None:
    """An override token that is a readable JWT past its ``exp`` is refused, never sent."""
    try:
        expires_at = jwt_expiry(token)
    except ValueError:
        return  # an opaque token: the operator chose it, the control plane judges it
    if clock().timestamp() >= expires_at:
        raise AuthFailed(
            f"the token in ${token_env} expired at "
            f"{iso_utc(datetime.fromtimestamp(expires_at, UTC))}",
            remediation=f"Set a fresh token in {token_env}, or unset it to "
            "authenticate with the Cognito test user.",
        )


def jwt_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT, seconds since the epoch; the signature is NOT verified.

    Raises ValueError (never quoting the token) when it is not a JWT with a numeric ``exp``.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"a JWT has 3 dot-separated parts, this has {len(parts)}")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        raise ValueError("the JWT payload is not base64url-encoded JSON") from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise ValueError("the JWT payload has no numeric exp claim")
    return float(exp)


class _RedactAuthBodies(logging.Filter):
    """Blanks botocore DEBUG lines that carry a password or tokens (request/response bodies)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        if any(marker in text for marker in _SECRET_MARKERS):
            record.msg, record.args = "[body redacted: it carries credentials or tokens]", ()
        return True


def _redact_botocore_bodies() -> None:
    for name in _BOTOCORE_BODY_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _RedactAuthBodies) for f in target.filters):
            target.addFilter(_RedactAuthBodies())
