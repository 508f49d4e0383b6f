"""Cognito IdTokens without a human, against moto's real user pool; secrets never leak."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws
from pydantic import SecretStr

from blocks.errors import BackendUnavailable, ConfigError, ExitCode
from tasks.matrix.auth import AuthFailed, TokenProvider, jwt_expiry
from tasks.platform.aws import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, AwsCredentialsUnusable, aws_code
from tasks.platform.clock import utc_now

REGION = "us-west-2"
USERNAME = "sentinel-test-user"
PASSWORD = "Correct-Horse-9-Battery!"
NEW_USER = "sentinel-new-user"


@pytest.fixture(scope="module")
def cognito() -> Iterator[SimpleNamespace]:
    """One moto user pool for the module: a client allowing USER_PASSWORD_AUTH, two users."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            client = boto3.client("cognito-idp", region_name=REGION)
            pool = client.create_user_pool(PoolName="radix-dev")["UserPool"]["Id"]
            app = client.create_user_pool_client(
                UserPoolId=pool,
                ClientName="sentinel",
                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            )["UserPoolClient"]["ClientId"]
            client.admin_create_user(UserPoolId=pool, Username=USERNAME)
            client.admin_set_user_password(
                UserPoolId=pool, Username=USERNAME, Password=PASSWORD, Permanent=True
            )
            client.admin_create_user(
                UserPoolId=pool, Username=NEW_USER, TemporaryPassword="Temporary-1-pass!"
            )
            yield SimpleNamespace(client=client, pool=pool, app=app)


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RADIX_JWT_TOKEN", raising=False)
    monkeypatch.delenv("CP_TOKEN", raising=False)


class Counting:
    """Wraps the Cognito client and counts initiate_auth calls."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, 0

    def initiate_auth(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return self.real.initiate_auth(**kwargs)


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


def provider_for(cognito, **overrides: Any) -> TokenProvider:
    arguments: dict[str, Any] = {
        "region": REGION,
        "user_pool_id": cognito.pool,
        "client_id": cognito.app,
        "username": USERNAME,
        "password": SecretStr(PASSWORD),
        "client": cognito.client,
    } | overrides
    return TokenProvider(**arguments)


def aws_code_of(error: BaseException) -> str | None:
    """The AWS error code behind a translated error (it is raised ``from`` the ClientError)."""
    return aws_code(error.__cause__)


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


def test_token_is_a_cognito_jwt_wrapped_as_a_secret(cognito) -> None:
    token = provider_for(cognito).token()
    assert isinstance(token, SecretStr) and str(token) == "**********"
    value = token.get_secret_value()
    assert value.count(".") == 2
    assert jwt_expiry(value) > utc_now().timestamp() + 600


def test_second_call_is_served_from_the_cache(cognito) -> None:
    counting = Counting(cognito.client)
    provider = provider_for(cognito, client=counting)
    first, second = provider.token(), provider.token()
    assert counting.calls == 1
    assert first.get_secret_value() == second.get_secret_value()


def test_token_is_refreshed_once_the_clock_passes_exp_minus_margin(cognito) -> None:
    counting, clock = Counting(cognito.client), Clock()
    provider = provider_for(cognito, client=counting, clock=clock, refresh_margin_seconds=300)
    expires_at = jwt_expiry(provider.token().get_secret_value())
    refresh_at = datetime.fromtimestamp(expires_at - 300, clock.now.tzinfo)
    clock.now = refresh_at - timedelta(seconds=1)
    provider.token()
    assert counting.calls == 1  # still inside the margin
    clock.now = refresh_at
    renewed = provider.token().get_secret_value()
    assert counting.calls == 2
    clock.now = datetime.fromtimestamp(jwt_expiry(renewed) - 301, clock.now.tzinfo)
    assert provider.token().get_secret_value() == renewed
    assert counting.calls == 2  # the renewed token is cached until its own exp - margin


@pytest.mark.parametrize(
    ("token_env", "value"),
    [("RADIX_JWT_TOKEN", "opaque-operator-token"), ("CP_TOKEN", None)],
)
def test_environment_token_wins_without_calling_cognito(
    cognito, monkeypatch, token_env, value
) -> None:
    value = value or jwt({"exp": utc_now().timestamp() + 3600})
    monkeypatch.setenv(token_env, value)
    counting = Counting(cognito.client)
    provider = provider_for(cognito, client=counting, token_env=token_env)
    assert provider.token().get_secret_value() == value
    assert counting.calls == 0


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_environment_token_counts_as_unset(cognito, monkeypatch, blank) -> None:
    monkeypatch.setenv("RADIX_JWT_TOKEN", blank)
    counting = Counting(cognito.client)
    assert provider_for(cognito, client=counting).token().get_secret_value().count(".") == 2
    assert counting.calls == 1


def test_an_expired_environment_jwt_is_refused_without_quoting_it(cognito, monkeypatch) -> None:
    expired = jwt({"exp": 1_700_000_000})
    monkeypatch.setenv("RADIX_JWT_TOKEN", expired)
    with pytest.raises(AuthFailed) as raised:
        provider_for(cognito).token()
    assert "$RADIX_JWT_TOKEN expired at 2023-11-14T22:13:20Z" in raised.value.message
    assert "unset it" in raised.value.remediation
    assert expired not in str(raised.value)


@pytest.mark.parametrize(
    ("username", "password", "aws_code"),
    [
        (USERNAME, "Wrong-Password-1!", "NotAuthorizedException"),
        ("nobody-here", "Some-Password-2!", "UserNotFoundException"),
    ],
)
def test_refused_credentials_name_the_secret_blocks_not_the_password(
    cognito, username, password, aws_code
) -> None:
    provider = provider_for(cognito, username=username, password=SecretStr(password))
    with pytest.raises(AuthFailed) as raised:
        provider.token()
    error = raised.value
    assert error.code == ExitCode.USAGE_ERROR and error.retryable is False
    assert aws_code_of(error) == aws_code
    assert "auth.username_secret" in error.remediation
    assert "auth.password_secret" in error.remediation
    assert "RADIX_JWT_TOKEN" in error.remediation
    for text in (str(error), repr(error), json.dumps(error.to_dict()), str(error.__cause__)):
        assert password not in text
        assert username not in text


def test_a_user_with_a_temporary_password_gets_a_clear_error(cognito) -> None:
    provider = provider_for(cognito, username=NEW_USER, password=SecretStr("Temporary-1-pass!"))
    with pytest.raises(AuthFailed) as raised:
        provider.token()
    assert raised.value.code == ExitCode.USAGE_ERROR and raised.value.__cause__ is None
    assert "--permanent" in raised.value.remediation  # a challenge, not an AWS error code


def test_an_unknown_app_client_is_a_config_error(cognito) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_for(cognito, client_id="no-such-client").token()
    assert raised.value.code == ExitCode.USAGE_ERROR
    assert aws_code_of(raised.value) == "ResourceNotFoundException"
    assert "auth.client_id (no-such-client)" in raised.value.remediation


class _Refusing:
    def __init__(self, code: str) -> None:
        self.code = code

    def initiate_auth(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "InitiateAuth")


@pytest.mark.parametrize(
    ("code", "error", "exit_code", "retryable"),
    [
        ("InvalidParameterException", ConfigError, ExitCode.USAGE_ERROR, False),
        ("UserNotConfirmedException", AuthFailed, ExitCode.USAGE_ERROR, False),
        ("PasswordResetRequiredException", AuthFailed, ExitCode.USAGE_ERROR, False),
        ("TooManyRequestsException", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, True),
        ("InternalErrorException", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, True),
        ("ExpiredTokenException", AwsCredentialsUnusable, ExitCode.USAGE_ERROR, False),
        ("SomethingNew", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, False),
    ],
)
def test_cognito_errors_map_through_the_table(cognito, code, error, exit_code, retryable) -> None:
    with pytest.raises(error) as raised:
        provider_for(cognito, client=_Refusing(code)).token()
    assert type(raised.value) is error
    assert (raised.value.code, raised.value.retryable) == (exit_code, retryable)
    assert aws_code_of(raised.value) == code


def test_a_cognito_remediation_names_the_app_client_and_pool(cognito) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_for(cognito, client=_Refusing("InvalidParameterException")).token()
    assert f"ALLOW_USER_PASSWORD_AUTH in the ExplicitAuthFlows of app client {cognito.app}" in (
        raised.value.remediation
    )
    assert cognito.pool in raised.value.remediation


def test_unreachable_cognito_is_backend_unavailable(cognito) -> None:
    client = boto3.client(
        "cognito-idp",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:1",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )
    with pytest.raises(BackendUnavailable) as raised:
        provider_for(cognito, client=client).token()
    assert (raised.value.code, raised.value.retryable) == (ExitCode.BACKEND_UNAVAILABLE, True)
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


def test_provider_builds_its_client_with_timeouts(cognito) -> None:
    provider = provider_for(cognito, client=None)
    config = provider._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    assert config.retries["mode"] == "standard"
    assert provider.token().get_secret_value().count(".") == 2


def test_repr_and_str_hide_the_password_the_user_and_the_token(cognito) -> None:
    provider = provider_for(cognito)
    token = provider.token().get_secret_value()
    for text in (repr(provider), str(provider)):
        assert cognito.app in text and "cached_until='20" in text
        assert PASSWORD not in text and USERNAME not in text and token not in text


def test_logs_never_hold_the_password_or_a_token(cognito, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # botocore logs request and response bodies at DEBUG
    token = provider_for(cognito).token().get_secret_value()
    with pytest.raises(AuthFailed):
        provider_for(cognito, password=SecretStr("Wrong-Password-1!")).token()
    assert "obtained a Cognito IdToken" in caplog.text
    assert "body redacted" in caplog.text  # the bodies were there, and were blanked
    for secret in (PASSWORD, "Wrong-Password-1!", token, token.split(".")[1]):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    "overrides",
    [
        {"region": ""},
        {"user_pool_id": " "},
        {"client_id": ""},
        {"username": ""},
        {"token_env": ""},
        {"password": SecretStr("")},
        {"password": None},
        {"refresh_margin_seconds": -1},
        {"refresh_margin_seconds": "300"},
        {"refresh_margin_seconds": True},
    ],
)
def test_bad_configuration_is_refused_before_any_call(cognito, overrides) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_for(cognito, client=_Refusing("never-called"), **overrides)
    assert raised.value.code == ExitCode.USAGE_ERROR
    assert PASSWORD not in str(raised.value)


def test_a_bad_setting_is_named_in_the_error(cognito) -> None:
    with pytest.raises(ConfigError) as raised:
        provider_for(cognito, client=_Refusing("never-called"), user_pool_id=" ")
    assert "auth.user_pool_id is empty" in raised.value.message


def test_a_plain_string_password_is_wrapped(cognito) -> None:
    provider = provider_for(cognito, password=PASSWORD)
    assert provider.token().get_secret_value().count(".") == 2
    assert PASSWORD not in repr(provider.__dict__)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.!!!!.c",
        jwt({"sub": "x"}),
        jwt({"exp": "tomorrow"}),
        jwt({"exp": True}),
    ],
)
def test_jwt_expiry_rejects_what_it_cannot_read(token) -> None:
    with pytest.raises(ValueError) as raised:
        jwt_expiry(token)
    assert token not in str(raised.value)


def test_jwt_expiry_says_why_it_cannot_read_a_token() -> None:
    with pytest.raises(ValueError, match="3 dot-separated parts"):
        jwt_expiry("not-a-jwt")


def test_jwt_expiry_reads_exp_without_checking_the_signature() -> None:
    assert jwt_expiry(jwt({"exp": 1_800_000_000, "sub": "u"})) == 1_800_000_000.0
