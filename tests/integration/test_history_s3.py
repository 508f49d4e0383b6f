"""The history on S3: append, load and trend queries through s3:// against moto's server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyarrow.fs import AwsStandardS3RetryStrategy

from blocks.errors import ExitCode
from tasks.platform.aws import open_aws
from tasks.workflows.history import HistoryStore, HistoryUnavailable, load_history
from tasks.workflows.trends import (
    TrendQuery,
    failures_by_day,
    new_failures_since_previous_run,
    top_fingerprints,
)
from tests.unit.workflow_history_data import build_history, daily_report

pytestmark = pytest.mark.integration
BUCKET = "warden-history"
NOW = datetime(2025, 1, 31, 12, tzinfo=UTC)


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    s3 = open_aws("us-east-1", endpoint_url=moto_endpoint).client("s3")
    s3.create_bucket(Bucket=BUCKET)
    yield BUCKET
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def test_append_load_and_query_through_s3(moto_endpoint: str, bucket: str) -> None:
    uri = f"s3://{bucket}/warden/history"
    store = HistoryStore(uri, endpoint_url=moto_endpoint)
    build_history(store, days=10, n_files=40)

    s3 = open_aws("us-east-1", endpoint_url=moto_endpoint).client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 20  # one object per dataset per run, no directory markers
    assert "warden/history/files/date=2025-01-10/run-demo-009-0.parquet" in keys

    loaded = store.load_history()
    assert (len(loaded.files), len(loaded.runs), loaded.load_errors) == (400, 10, 0)
    frame = load_history(uri, since=datetime(2025, 1, 8, tzinfo=UTC), endpoint_url=moto_endpoint)
    assert set(frame["date"]) == {"2025-01-08", "2025-01-09", "2025-01-10"}

    trend = failures_by_day(store, TrendQuery(by="category", since_days=31), now=NOW)
    failing = loaded.files[~loaded.files["ok"] & ~loaded.files["suppressed"]]
    assert trend["failures"].sum() == len(failing)
    assert trend.attrs["load_errors"] == 0
    assert len(top_fingerprints(store, 31, limit=3, now=NOW)) == 3
    assert new_failures_since_previous_run(store).attrs["previous_run_id"] == "run-demo-008"


def test_a_corrupt_object_on_s3_is_skipped(moto_endpoint: str, bucket: str) -> None:
    uri = f"s3://{bucket}/history"
    store = HistoryStore(uri, endpoint_url=moto_endpoint)
    build_history(store, days=4, n_files=10)
    s3 = open_aws("us-east-1", endpoint_url=moto_endpoint).client("s3")
    s3.put_object(
        Bucket=bucket, Key="history/files/date=2025-01-02/run-demo-001-0.parquet", Body=b"x"
    )
    loaded = store.load_history()
    assert loaded.load_errors == 1 and len(loaded.files) == 30
    trend = failures_by_day(store, TrendQuery(since_days=31), now=NOW)
    assert trend.attrs["load_errors"] == 1
    assert datetime(2025, 1, 2).date() not in set(trend["day"])


def test_an_unreachable_store_fails_loudly(moto_endpoint: str, bucket: str) -> None:
    missing_bucket = HistoryStore("s3://no-such-bucket/history", endpoint_url=moto_endpoint)
    with pytest.raises(HistoryUnavailable, match="cannot write") as raised:  # the message test
        missing_bucket.append(daily_report(0), "r0")
    assert raised.value.code == ExitCode.BACKEND_UNAVAILABLE
    no_retry = {"retry_strategy": AwsStandardS3RetryStrategy(max_attempts=1)}
    closed = HistoryStore(
        f"s3://{bucket}/history", endpoint_url="http://127.0.0.1:9", storage_options=no_retry
    )
    with pytest.raises(HistoryUnavailable) as raised:
        closed.load_history()
    assert (raised.value.code, raised.value.retryable) == (ExitCode.BACKEND_UNAVAILABLE, True)
    assert isinstance(raised.value.__cause__, OSError)
    with pytest.raises(HistoryUnavailable) as raised:
        failures_by_day(closed, TrendQuery(), now=NOW)
    assert (raised.value.code, raised.value.retryable) == (ExitCode.BACKEND_UNAVAILABLE, True)
