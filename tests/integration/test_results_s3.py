"""Results and history on S3 through prefect-aws blocks, against moto's server on 127.0.0.1.

An ``S3Bucket`` block bound to an ``AwsCredentials`` block (moto's endpoint in its client
parameters) is the only way in: the environment has no AWS credentials. A classify run persists
its result there (JSON, read back from the bucket) and appends the history that
``warden workflows trends`` then reads from the bucket. Bad input — a block that does not
exist, a bucket that does not exist, credentials the bucket refuses — ends the run in its
preflight with a typed error, before anything is checked or written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.serializers import JSONSerializer
from prefect_aws import AwsCredentials, S3Bucket
from prefect_aws.client_parameters import AwsClientParameters
from typer.testing import CliRunner

from blocks.errors import ExitCode
from blocks.s3 import S3BucketBlockMissing
from blocks.storage import ResultStorageBlockMissing, persisted_results
from tasks.platform.aws import open_aws
from tasks.platform.s3 import S3AccessDenied, S3BucketMissing, check_result_storage
from tests.conftest import moto_checks_auth

pytestmark = pytest.mark.integration
REGION = "us-east-1"
SECRET = "moto-secret-" + uuid.uuid4().hex[:8]


@pytest.fixture
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the blocks can reach the bucket: no credentials or endpoint in the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "WARDEN_RESULT_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def admin_credentials(moto_endpoint: str) -> AwsCredentials:
    """The test's own credentials (moto accepts any key while it does not check auth)."""
    return AwsCredentials(
        aws_access_key_id="admin",
        aws_secret_access_key="admin",
        aws_client_parameters=AwsClientParameters(endpoint_url=moto_endpoint),
    )


def admin(moto_endpoint: str):
    return open_aws(REGION, admin_credentials(moto_endpoint), source="test").client("s3")


def save_bucket_block(moto_endpoint: str, bucket: str, key_id: str = "testing", **keys) -> str:
    name = f"warden-s3-{uuid.uuid4().hex[:8]}"
    credentials = AwsCredentials(
        aws_access_key_id=key_id,
        aws_secret_access_key=keys.get("secret", SECRET),
        region_name=REGION,
        aws_client_parameters=AwsClientParameters(endpoint_url=moto_endpoint),
    )
    credentials.save(f"{name}-credentials")
    block = S3Bucket(bucket_name=bucket, bucket_folder="results", credentials=credentials)
    block.save(name)
    return name


def keys_in(s3, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture
def bucket(moto_endpoint: str, prefect_api: None, no_ambient_aws: None) -> Iterator[str]:
    s3 = admin(moto_endpoint)
    name = f"warden-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    yield name
    for key in keys_in(s3, name):
        s3.delete_object(Bucket=name, Key=key)
    s3.delete_bucket(Bucket=name)


def workflows_file(tmp_path: Path, history_uri: str, block: str) -> Path:
    corpus = {"paths": ["deployments/samples/workflows"], "patterns": ["*.py"]}
    corpus |= {"checker": "python", "mode": "parse", "jobs": 2}
    history = {"uri": history_uri, "s3_bucket_block": block}
    history |= {"snapshots_dir": str(tmp_path / "snapshots")}
    history |= {"data_docs_dir": str(tmp_path / "docs")}
    document = {"version": 1, "history": history, "corpora": {"sample": corpus}}
    path = tmp_path / "workflows.yaml"
    path.write_text(json.dumps(document))
    return path


def classify(monkeypatch: pytest.MonkeyPatch, storage: str, config: Path, out: Path):
    """classify-workflows with WARDEN_RESULT_STORAGE read the way a flow module reads it."""
    from flows.workflow_health import classify_workflows

    monkeypatch.setenv("WARDEN_RESULT_STORAGE", storage)
    flow = classify_workflows.with_options(**persisted_results())
    return flow(corpus="sample", config=str(config), out=str(out), return_state=True)


def test_result_and_history_live_in_the_bucket(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    block = save_bucket_block(moto_endpoint, bucket)
    config = workflows_file(tmp_path, f"s3://{bucket}/warden/history", block)
    state = classify(monkeypatch, f"s3-bucket/{block}", config, tmp_path / "out")
    assert state.is_completed(), state
    report = state.result()

    s3 = admin(moto_endpoint)
    stored = keys_in(s3, bucket)
    results = [key for key in stored if key.startswith("results/")]
    records = [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in results]
    assert records and all(json.loads(raw) for raw in records)  # JSON, never a pickle
    read_back = [JSONSerializer().loads(raw) for raw in records]
    assert report in read_back  # the flow's own result, read back from the bucket
    assert not [k for k in stored if ".warden-preflight-" in k]  # the write probe is gone
    assert any(k.startswith("warden/history/files/date=") for k in stored)
    assert any(k.startswith("warden/history/runs/date=") for k in stored)

    from cli.main import app

    answer = CliRunner().invoke(
        app, ["workflows", "trends", "--config", str(config), "--view", "new", "--format", "json"]
    )
    assert answer.exit_code == 0, answer.output
    rows = json.loads(answer.stdout)
    failing = {f.fingerprint for f in report.files if not f.ok and f.fingerprint}
    assert {row["fingerprint"] for row in rows} == failing and failing  # all new: first run
    assert SECRET not in answer.output


def test_a_missing_result_storage_block_is_named_before_any_run(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", f"s3-bucket/no-such-{uuid.uuid4().hex[:8]}")
    with pytest.raises(S3BucketBlockMissing) as raised:
        check_result_storage()
    assert raised.value.code == ExitCode.USAGE_ERROR
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", f"local-file-system/no-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ResultStorageBlockMissing) as raised:
        check_result_storage()
    assert raised.value.code == ExitCode.USAGE_ERROR


def test_a_missing_bucket_fails_the_preflight_and_changes_nothing(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    missing = save_bucket_block(moto_endpoint, gone)
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", f"s3-bucket/{missing}")
    with pytest.raises(S3BucketMissing) as raised:
        check_result_storage()
    assert raised.value.code == ExitCode.USAGE_ERROR

    # the history's bucket is missing: the run stops in its preflight, before any file
    config = workflows_file(tmp_path, f"s3://{gone}/history", missing)
    good = save_bucket_block(moto_endpoint, bucket)
    state = classify(monkeypatch, f"s3-bucket/{good}", config, tmp_path / "out")
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), S3BucketMissing)
    assert not (tmp_path / "out").exists() and not (tmp_path / "snapshots").exists()
    assert not [k for k in keys_in(admin(moto_endpoint), bucket) if "history" in k]


def test_a_history_block_of_another_bucket_is_refused(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    block = save_bucket_block(moto_endpoint, bucket)
    config = workflows_file(tmp_path, "s3://another-bucket/history", block)
    state = classify(monkeypatch, f"s3-bucket/{block}", config, tmp_path / "out")
    assert state.is_failed()
    assert state.result(raise_on_failure=False).code == ExitCode.USAGE_ERROR
    assert not (tmp_path / "out").exists()


def test_a_missing_history_block_is_named(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = workflows_file(tmp_path, f"s3://{bucket}/history", f"no-{uuid.uuid4().hex[:8]}")
    storage = f"s3-bucket/{save_bucket_block(moto_endpoint, bucket)}"
    state = classify(monkeypatch, storage, config, tmp_path / "out")
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), S3BucketBlockMissing)
    assert not (tmp_path / "out").exists()
    assert not [k for k in keys_in(admin(moto_endpoint), bucket) if "history" in k]


def test_a_bucket_that_denies_access_fails_the_preflight(
    moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = open_aws(REGION, admin_credentials(moto_endpoint), source="test").client("iam")
    user = f"no-s3-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    denied = save_bucket_block(
        moto_endpoint, bucket, key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]
    )
    monkeypatch.setenv("WARDEN_RESULT_STORAGE", f"s3-bucket/{denied}")
    with moto_checks_auth(moto_endpoint), pytest.raises(S3AccessDenied) as raised:
        check_result_storage()
    assert raised.value.code == ExitCode.USAGE_ERROR
    assert keys_in(admin(moto_endpoint), bucket) == []


def test_the_readme_s_block_example_saves_working_blocks(prefect_api: None) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "S3Bucket(" in b)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    saved = S3Bucket.load("warden-results")
    assert (saved.bucket_name, saved.bucket_folder) == ("release-warden", "results")
    assert saved.credentials.region_name == "eu-west-1"
