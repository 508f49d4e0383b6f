"""S3 result storage and history configuration: read strictly, errors typed, no secret shown."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from pydantic import ValidationError

from blocks.errors import ConfigError, ExitCode
from blocks.storage import ResultStorageChoice, result_storage_choice
from blocks.workflows import WorkflowsFile
from tasks.platform.aws import open_aws, translate
from tasks.platform.s3 import (
    BUCKET_FAULTS,
    S3AccessDenied,
    S3BucketMissing,
    arrow_s3_options,
    check_result_storage,
)
from tasks.workflows.corpus import HistoryLocation, history_location
from tasks.workflows.history import HistoryStore

SECRET = "unit-secret-value"
CORPORA = {"sample": {"paths": ["deployments/samples/workflows"]}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("  ", None),
        ("s3-bucket/warden-results", ResultStorageChoice("s3-bucket", "warden-results")),
        (
            "local-file-system/warden-results",
            ResultStorageChoice("local-file-system", "warden-results"),
        ),
    ],
)
def test_the_result_storage_choice(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: ResultStorageChoice | None
) -> None:
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", value)
    assert result_storage_choice() == expected


@pytest.mark.parametrize(
    "value", ["warden-results", "s3://bucket/results", "S3-Bucket/x", "s3-bucket/Bad_Name", "a/b/c"]
)
def test_a_result_storage_that_is_not_a_block_slug_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", value)
    with pytest.raises(ConfigError) as raised:
        result_storage_choice()
    assert raised.value.code == ExitCode.USAGE_ERROR
    with pytest.raises(ConfigError):
        check_result_storage()  # the preflight refuses it before asking any API


def test_no_result_storage_needs_no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDEN_RESULT_STORAGE", raising=False)
    assert check_result_storage() == "results under $WARDEN_HOME/results"


@pytest.mark.parametrize(
    "history",
    [
        {"s3_bucket_block": "warden-history"},  # no uri: the local default
        {"uri": "/tmp/history", "s3_bucket_block": "warden-history"},
        {"uri": "s3://bucket/history", "s3_bucket_block": "Warden_History"},
    ],
)
def test_a_history_block_that_would_do_nothing_is_refused(history: dict) -> None:
    with pytest.raises(ValidationError):
        WorkflowsFile.model_validate({"history": history, "corpora": CORPORA})


def test_the_history_block_goes_with_s3_locations_only() -> None:
    history = {"uri": "s3://bucket/history", "s3_bucket_block": "warden-history"}
    config = WorkflowsFile.model_validate({"history": history, "corpora": CORPORA})
    assert history_location(config) == HistoryLocation(
        "s3://bucket/history", None, "warden-history"
    )
    assert history_location(config, "s3://other/h").block == "warden-history"
    local = history_location(config, "relative/history")
    assert local.block is None and local.uri.endswith("relative/history")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("NoSuchBucket", S3BucketMissing),
        ("404", S3BucketMissing),
        ("AccessDenied", S3AccessDenied),
        ("403", S3AccessDenied),
    ],
)
def test_bucket_errors_are_typed_by_code(code: str, error: type) -> None:
    exc = ClientError({"Error": {"Code": code, "Message": "m"}}, "HeadBucket")
    typed = translate(exc, "S3", "HeadBucket", "s3://b", "us-east-1", faults=BUCKET_FAULTS)
    assert type(typed) is error and typed.code == ExitCode.USAGE_ERROR and not typed.retryable


def test_pyarrow_gets_the_block_s_credentials_and_endpoint() -> None:
    credentials = AwsCredentials(
        aws_access_key_id="AKIAUNIT",
        aws_secret_access_key=SECRET,
        aws_client_parameters=AwsClientParameters(endpoint_url="http://127.0.0.1:9000"),
    )
    options = arrow_s3_options(open_aws("eu-west-1", credentials, source="unit"))
    assert options["access_key"] == "AKIAUNIT" and options["secret_key"] == SECRET
    assert (options["region"], options["endpoint_override"], options["scheme"]) == (
        "eu-west-1",
        "127.0.0.1:9000",
        "http",
    )
    store = HistoryStore("s3://bucket/history", storage_options=options)
    assert SECRET not in repr(store)
