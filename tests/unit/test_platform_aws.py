"""tasks/platform/aws.py: one Config, sessions from a credentials object or the default chain,
and one translation of botocore errors into typed errors (by code and type, never by message)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ProfileNotFound,
    ReadTimeoutError,
)
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters

from blocks.errors import BackendUnavailable, ExitCode, UsageError
from tasks.platform.aws import (
    CONNECT_TIMEOUT_S,
    DEFAULT_CHAIN,
    READ_TIMEOUT_S,
    TOTAL_MAX_ATTEMPTS,
    AwsCredentialsUnusable,
    Fault,
    aws_code,
    aws_errors,
    is_transient,
    open_aws,
    translate,
)

REGION = "us-west-2"
SECRET = "s3cr3t-never-logged"
PARAMETER = "/radix/test/platform-aws"


@pytest.fixture
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_every_client_gets_the_one_config(no_ambient_credentials: None) -> None:
    access = open_aws(REGION)
    for service in ("ssm", "ec2", "cognito-idp"):
        config = access.client(service).meta.config
        assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
        assert config.retries == {"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS}
        assert config.region_name == REGION


def test_without_credentials_the_default_chain_is_used_and_logged(
    no_ambient_credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks.platform.aws")
    access = open_aws(REGION)
    assert access.source == DEFAULT_CHAIN
    assert access.session.get_credentials().access_key == "testing"  # from the environment
    assert f"AWS clients in {REGION} use {DEFAULT_CHAIN}" in caplog.text


def test_a_credentials_object_with_moto_s_endpoint_yields_working_clients(
    moto_endpoint: str, no_ambient_credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks.platform.aws")
    credentials = AwsCredentials(
        aws_access_key_id="block-key",
        aws_secret_access_key=SECRET,
        aws_client_parameters=AwsClientParameters(endpoint_url=moto_endpoint),
    )
    access = open_aws(REGION, credentials, source="the AwsCredentials block 'aws-test'")
    ssm = access.client("ssm")
    assert ssm.meta.endpoint_url == moto_endpoint
    assert access.session.get_credentials().access_key == "block-key"
    ssm.put_parameter(Name=PARAMETER, Value="v1", Type="String", Overwrite=True)
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "v1"
    assert "use the AwsCredentials block 'aws-test'" in caplog.text
    assert SECRET not in caplog.text and SECRET not in repr(access)


def test_an_explicit_endpoint_wins_and_a_block_config_merges_over_ours(
    no_ambient_credentials: None,
) -> None:
    credentials = AwsCredentials(
        aws_client_parameters=AwsClientParameters(
            endpoint_url="http://127.0.0.1:9", config={"read_timeout": 7}
        )
    )
    access = open_aws(REGION, credentials, endpoint_url="http://127.0.0.1:8")
    client = access.client("ssm")
    assert client.meta.endpoint_url == "http://127.0.0.1:8"
    assert (client.meta.config.read_timeout, client.meta.config.connect_timeout) == (7, 5)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "words we never read"}}, "Op")


@pytest.mark.parametrize(
    ("code", "error", "exit_code", "retryable"),
    [
        ("ThrottlingException", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, True),
        ("RequestLimitExceeded", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, True),
        ("ServiceUnavailable", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, True),
        ("ExpiredTokenException", AwsCredentialsUnusable, ExitCode.USAGE_ERROR, False),
        ("InvalidClientTokenId", AwsCredentialsUnusable, ExitCode.USAGE_ERROR, False),
        ("SomethingNew", BackendUnavailable, ExitCode.BACKEND_UNAVAILABLE, False),
    ],
)
def test_shared_codes_translate_by_code(code, error, exit_code, retryable) -> None:
    translated = translate(_client_error(code), "SSM", "GetParameter", PARAMETER, REGION)
    assert type(translated) is error
    assert (translated.code, translated.retryable) == (exit_code, retryable)


def test_a_caller_table_wins_and_fills_its_hints() -> None:
    faults = {"ThrottlingException": Fault(UsageError, False, "Ask {who}.")}
    translated = translate(
        _client_error("ThrottlingException"),
        "SSM",
        "Op",
        "t",
        REGION,
        faults=faults,
        hints={"who": "the owner"},
    )
    assert type(translated) is UsageError and translated.retryable is False
    assert translated.remediation == "Ask the owner."


@pytest.mark.parametrize(
    ("exc", "error", "exit_code", "retryable"),
    [
        (NoCredentialsError(), AwsCredentialsUnusable, ExitCode.USAGE_ERROR, False),
        (ProfileNotFound(profile="x"), AwsCredentialsUnusable, ExitCode.USAGE_ERROR, False),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            BackendUnavailable,
            ExitCode.BACKEND_UNAVAILABLE,
            True,
        ),
        (
            ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
            BackendUnavailable,
            ExitCode.BACKEND_UNAVAILABLE,
            True,
        ),
        (
            ParamValidationError(report="bad"),
            BackendUnavailable,
            ExitCode.BACKEND_UNAVAILABLE,
            False,
        ),
    ],
)
def test_botocore_errors_translate_by_type(exc, error, exit_code, retryable) -> None:
    with pytest.raises(error) as raised, aws_errors("SSM", "GetParameter", PARAMETER, REGION):
        raise exc
    assert type(raised.value) is error
    assert (raised.value.code, raised.value.retryable) == (exit_code, retryable)
    assert raised.value.__cause__ is exc


def test_the_message_names_where_and_the_code_only() -> None:
    translated = translate(_client_error("AccessDenied"), "SSM", "GetParameter", PARAMETER, REGION)
    assert translated.message == f"SSM GetParameter on {PARAMETER} in {REGION} failed: AccessDenied"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("ThrottlingException"), True),
        (_client_error("AccessDenied"), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (NoCredentialsError(), False),
        (ParamValidationError(report="bad"), False),
    ],
)
def test_is_transient_says_whether_a_retry_can_help(exc, expected: bool) -> None:
    assert is_transient(exc) is expected


def test_aws_code_reads_only_client_errors() -> None:
    assert aws_code(_client_error("X")) == "X"
    assert aws_code(ClientError({}, "Op")) == "Unknown"
    assert aws_code(NoCredentialsError()) is None and aws_code(None) is None


class _AssumeRoleRefused:
    """An AwsCredentials stand-in whose session needs STS, which refuses."""

    aws_client_parameters: Any = AwsClientParameters()

    def get_boto3_session(self) -> None:
        raise _client_error("AccessDenied")


def test_a_session_that_cannot_be_opened_is_a_typed_error() -> None:
    with pytest.raises(BackendUnavailable) as raised:
        open_aws(REGION, _AssumeRoleRefused(), source="the AwsCredentials block 'x'")
    assert raised.value.retryable is False and aws_code(raised.value.__cause__) == "AccessDenied"
