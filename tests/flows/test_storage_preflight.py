"""Every flow proves its result storage before its first side effect: with
``WARDEN_RESULT_STORAGE`` naming an S3Bucket block whose bucket does not exist, or whose
credentials the bucket refuses (moto's server on 127.0.0.1 with its IAM checks on), the run ends
Failed with the typed error naming the bucket and the fix, and nothing of the flow ran.

The flows reach the one check three ways: the kill switch gate (go/no-go), a flow without a kill
switch calling it first (lora-rollback), and a flow's first step (baseline-regression-gate)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters

from blocks.errors import ExitCode
from flows.go_no_go import go_no_go_gates
from flows.lora_rollback import lora_rollback
from flows.workflow_health import baseline_regression_gate
from tasks.platform.aws import open_aws
from tasks.platform.s3 import S3AccessDenied, S3BucketMissing
from tests.conftest import moto_checks_auth, py
from tests.flows.gate_files import write_gates

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the blocks reach the bucket: no credentials or endpoint from the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def credentials(endpoint: str, key_id: str = "admin", secret: str = "admin") -> AwsCredentials:
    return AwsCredentials(
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=REGION,
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint),
    )


def use_bucket_block(monkeypatch, endpoint: str, bucket: str, **keys: str) -> str:
    """Save an S3Bucket block for ``bucket`` and point WARDEN_RESULT_STORAGE at it."""
    name = f"preflight-{uuid.uuid4().hex[:8]}"
    creds = credentials(endpoint, **keys)
    creds.save(f"{name}-credentials")
    S3Bucket(bucket_name=bucket, bucket_folder="results", credentials=creds).save(name)
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", f"s3-bucket/{name}")
    return name


@pytest.fixture
def bucket(moto_endpoint: str) -> Iterator[str]:
    s3 = open_aws(REGION, credentials(moto_endpoint), source="test").client("s3")
    name = f"warden-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    yield name
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


def gates_touching(tmp_path: Path) -> tuple[Path, Path]:
    """A gates file whose one gate leaves a marker file: the proof that a gate ran."""
    marker = tmp_path / "gate-ran"
    gate = {"name": "touch", "kind": "command", "argv": py(f"open({str(marker)!r}, 'w')")}
    return write_gates(tmp_path, [gate]), marker


def ended_with(state, error: type[Exception]) -> Exception:
    assert state.is_failed(), state
    raised = state.result(raise_on_failure=False)
    assert isinstance(raised, error), raised
    assert raised.code == ExitCode.USAGE_ERROR
    return raised


def test_a_missing_bucket_is_named_before_any_gate_runs(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    use_bucket_block(monkeypatch, moto_endpoint, gone)
    config, marker = gates_touching(tmp_path)
    state = go_no_go_gates(config=str(config), out=str(tmp_path / "out"), return_state=True)
    raised = ended_with(state, S3BucketMissing)
    assert gone in str(raised) and raised.remediation == S3BucketMissing.remediation
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_bucket_that_denies_access_is_named_before_any_gate_runs(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    iam = open_aws(REGION, credentials(moto_endpoint), source="test").client("iam")
    user = f"no-s3-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    use_bucket_block(
        monkeypatch, moto_endpoint, bucket, key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]
    )
    config, marker = gates_touching(tmp_path)
    with moto_checks_auth(moto_endpoint):
        state = go_no_go_gates(config=str(config), out=str(tmp_path / "out"), return_state=True)
    ended_with(state, S3AccessDenied)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_a_working_bucket_lets_the_run_through_and_keeps_no_probe(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_bucket_block(monkeypatch, moto_endpoint, bucket)
    config, marker = gates_touching(tmp_path)
    state = go_no_go_gates(config=str(config), out=str(tmp_path / "out"), return_state=True)
    assert state.is_completed(), state
    assert marker.exists()
    s3 = open_aws(REGION, credentials(moto_endpoint), source="test").client("s3")
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []  # the probe is gone


def test_flows_without_a_kill_switch_check_the_bucket_first(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_bucket_block(monkeypatch, moto_endpoint, f"no-such-bucket-{uuid.uuid4().hex[:8]}")
    # their inputs do not exist either: the bucket is named first, before they are read
    missing = str(tmp_path / "absent.yaml")
    ended_with(lora_rollback(config=missing, return_state=True), S3BucketMissing)
    state = baseline_regression_gate(new=missing, ref=missing, return_state=True)
    ended_with(state, S3BucketMissing)
