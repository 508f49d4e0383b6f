"""The approved-digest stores: the same behaviours for SSM (under moto) and the local file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from moto import mock_aws

from blocks.errors import BackendUnavailable, ConfigError, ExitCode, UsageError, WardenError
from tasks.matrix import digest_records
from tasks.matrix.errors import PromotionRaced
from tasks.matrix.store import (
    DigestRecord,
    DigestStore,
    DigestStoreCorrupt,
    DigestStoreError,
    LocalDigestStore,
    PromotionOverlapped,
    SsmDigestStore,
    open_store,
)
from tasks.platform.aws import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    AwsCredentialsUnusable,
    aws_code,
    open_aws,
)

PARAMETER = "/radix/dev/agent_digest_approved"
REGION = "us-west-2"
A = "ghcr.io/org/agent@sha256:" + "a" * 64
B = "ghcr.io/org/agent@sha256:" + "b" * 64
C = "ghcr.io/org/agent@sha256:" + "c" * 64


@pytest.fixture(scope="module")
def moto_ssm() -> Iterator[Any]:
    """One moto session for the module (its start-up costs seconds); tests clean up after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield boto3.client("ssm", region_name=REGION)


@pytest.fixture
def ssm(moto_ssm: Any) -> Iterator[Any]:
    """The moto SSM client, with no parameter left behind by an earlier test."""
    yield moto_ssm
    with contextlib.suppress(ClientError):
        moto_ssm.delete_parameter(Name=PARAMETER)


@pytest.fixture(params=["ssm", "local"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], DigestStore]:
    """A factory of stores on one shared parameter, as two workers would each open one."""
    if request.param == "ssm":
        client = request.getfixturevalue("ssm")
        return lambda: SsmDigestStore(PARAMETER, region=REGION, client=client)
    return lambda: LocalDigestStore(PARAMETER, tmp_path / "digests")


# --- behaviours every backend shares ---------------------------------------------------------


def test_missing_parameter_reads_none_and_has_no_history(make_store) -> None:
    store = make_store()
    assert store.read() is None
    assert store.history() == []


def test_first_write_creates_version_1_in_utc(make_store) -> None:
    store = make_store()
    written = store.write(A, expected_version=None, writer="run-1")
    assert (written.value, written.version, written.writer) == (A, 1, "run-1")
    current = store.read()
    assert (current.value, current.version) == (A, 1)
    assert current.modified_at.utcoffset().total_seconds() == 0


def test_versions_increase_and_history_is_newest_first(make_store) -> None:
    store = make_store()
    for expected, (value, writer) in enumerate([(A, "run-1"), (B, "run-2"), (C, "run-3")]):
        written = store.write(value, expected_version=expected or None, writer=writer)
        assert written.version == expected + 1
    assert store.read().value == C
    history = store.history()
    assert [(r.version, r.value, r.writer) for r in history] == [
        (3, C, "run-3"),
        (2, B, "run-2"),
        (1, A, "run-1"),
    ]
    assert [r.version for r in store.history(limit=2)] == [3, 2]


def test_cas_refuses_a_write_based_on_a_stale_read(make_store) -> None:
    mine, theirs = make_store(), make_store()
    mine.write(A, expected_version=None, writer="bootstrap")
    seen = mine.read().version  # this run reads version 1 before testing the candidate
    theirs.write(B, expected_version=seen, writer="other-run")  # someone promotes meanwhile
    with pytest.raises(PromotionRaced) as raised:
        mine.write(C, expected_version=seen, writer="this-run")
    assert "expected version 1" in raised.value.message
    assert "found version 2" in raised.value.message
    assert raised.value.code == 1
    assert mine.read().value == B  # nothing written
    assert len(mine.history()) == 2


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [pytest.param(True, None, id="exists"), pytest.param(False, 1, id="missing")],
)
def test_cas_on_existence(make_store, prepare: bool, expected) -> None:
    store = make_store()
    if prepare:
        store.write(A, expected_version=None, writer="bootstrap")
    with pytest.raises(PromotionRaced) as raised:
        store.write(B, expected_version=expected, writer="run")
    assert type(raised.value) is PromotionRaced and raised.value.code == ExitCode.VERDICT_FAILED
    assert [r.value for r in store.history()] == ([A] if prepare else [])


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"value": ""}, id="empty-value"),
        pytest.param({"value": "   "}, id="blank-value"),
        pytest.param({"value": "x" * 4097}, id="long-value"),
        pytest.param({"expected_version": 0}, id="version-0"),
        pytest.param({"expected_version": True}, id="version-bool"),
        pytest.param({"expected_version": "1"}, id="version-str"),
        pytest.param({"writer": ""}, id="empty-writer"),
        pytest.param({"writer": "run\n1"}, id="newline-writer"),
        pytest.param({"writer": "w" * 201}, id="long-writer"),
    ],
)
def test_bad_write_input_is_refused_and_writes_nothing(make_store, kwargs) -> None:
    store = make_store()
    store.write(A, expected_version=None, writer="bootstrap")
    call = {"value": B, "expected_version": 1, "writer": "run", **kwargs}
    with pytest.raises(UsageError) as raised:
        store.write(**call)
    assert type(raised.value) is UsageError and raised.value.code == ExitCode.USAGE_ERROR
    assert store.read().version == 1


def test_a_bad_write_names_the_parameter_and_the_argument(make_store) -> None:
    with pytest.raises(UsageError) as raised:
        make_store().write(A, expected_version=0, writer="run")
    assert f"expected_version 0 for {PARAMETER} must be None or an int >= 1" in raised.value.message


@pytest.mark.parametrize("limit", [0, -1, True, "5"])
def test_bad_history_limit_is_refused(make_store, limit) -> None:
    with pytest.raises(UsageError) as raised:
        make_store().history(limit=limit)
    assert raised.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "parameter",
    ["", "radix/dev/digest", "/radix//dev", "/radix dev", "/radix/dev/", "/a/" + "b" * 1010],
)
@pytest.mark.parametrize("backend", ["ssm", "local"])
def test_invalid_parameter_names_are_config_errors(parameter, backend, tmp_path) -> None:
    with pytest.raises(ConfigError) as raised:
        if backend == "ssm":
            SsmDigestStore(parameter, region=REGION, client=object())
        else:
            LocalDigestStore(parameter, tmp_path)
    assert type(raised.value) is ConfigError and raised.value.code == ExitCode.USAGE_ERROR


def test_record_requires_an_aware_time_and_normalises_to_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DigestRecord(value=A, version=1, modified_at=datetime(2026, 1, 1))
    aware = datetime.fromisoformat("2026-01-01T02:00:00+02:00")
    assert DigestRecord(value=A, version=1, modified_at=aware).modified_at == datetime(
        2026, 1, 1, tzinfo=UTC
    )


# --- SSM ---------------------------------------------------------------------------------------


class _WriteFirst:
    """An SSM client on which another writer puts ``value`` just before this store's put."""

    def __init__(self, real: Any, value: str) -> None:
        self._real, self._value = real, value

    def put_parameter(self, **kwargs: Any) -> dict[str, Any]:
        self._real.put_parameter(
            Name=kwargs["Name"], Value=self._value, Type="String", Overwrite=True
        )
        return self._real.put_parameter(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_ssm_first_write_is_atomic_when_another_writer_creates_it_first(ssm) -> None:
    store = SsmDigestStore(PARAMETER, region=REGION, client=_WriteFirst(ssm, B))
    with pytest.raises(PromotionRaced) as raised:
        store.write(A, expected_version=None, writer="run")
    assert aws_code(raised.value.__cause__) == "ParameterAlreadyExists"
    assert store.read().value == B  # the other writer's value stands


def test_ssm_detects_a_write_that_landed_inside_the_check_window(ssm) -> None:
    first = SsmDigestStore(PARAMETER, region=REGION, client=ssm)
    first.write(A, expected_version=None, writer="bootstrap")
    store = SsmDigestStore(PARAMETER, region=REGION, client=_WriteFirst(ssm, B))
    with pytest.raises(PromotionOverlapped) as raised:
        store.write(C, expected_version=1, writer="run")
    assert raised.value.written.version == 3
    assert isinstance(raised.value, PromotionRaced)
    assert store.read().value == C


def test_ssm_history_pages_through_many_versions(ssm) -> None:
    store = SsmDigestStore(PARAMETER, region=REGION, client=ssm)
    for version in range(52):
        store.write(A if version % 2 else B, expected_version=version or None, writer=f"r{version}")
    history = store.history(limit=100)
    assert [r.version for r in history] == list(range(52, 0, -1))
    assert history[0].writer == "r51"


def test_ssm_history_of_a_parameter_bootstrapped_by_hand_has_no_warden_writer(ssm) -> None:
    ssm.put_parameter(Name=PARAMETER, Value=A, Type="String", Description="bootstrap")
    [record] = SsmDigestStore(PARAMETER, region=REGION, client=ssm).history()
    assert record.writer != "bootstrap"
    assert record.value == A


@pytest.mark.parametrize("aws", [None, "default-chain"])
def test_ssm_store_builds_its_own_client_with_timeouts_and_retries(ssm, aws) -> None:
    access = open_aws(REGION) if aws else None
    store = SsmDigestStore(PARAMETER, region=REGION, aws=access)
    config = store._client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    assert config.retries["mode"] == "standard"
    assert store.write(A, expected_version=None, writer="w").version == 1
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == A
    assert repr(store) == f"SsmDigestStore(parameter='{PARAMETER}', region='{REGION}')"


class _Failing:
    def __init__(self, code: str) -> None:
        self._code = code

    def _fail(self, **_: Any) -> None:
        raise ClientError({"Error": {"Code": self._code, "Message": "no"}}, "Op")

    get_parameter = put_parameter = _fail

    def get_paginator(self, _: str) -> Any:
        return self

    def paginate(self, **kwargs: Any) -> None:
        self._fail(**kwargs)


_USAGE, _BACKEND = ExitCode.USAGE_ERROR, ExitCode.BACKEND_UNAVAILABLE


@pytest.mark.parametrize(
    ("code", "error", "exit_code", "retryable"),
    [
        ("AccessDeniedException", DigestStoreError, _USAGE, False),
        ("ParameterMaxVersionLimitExceeded", DigestStoreError, _USAGE, False),
        ("ThrottlingException", BackendUnavailable, _BACKEND, True),
        ("TooManyUpdates", BackendUnavailable, _BACKEND, True),
        ("InternalServerError", BackendUnavailable, _BACKEND, True),
        ("ExpiredTokenException", AwsCredentialsUnusable, _USAGE, False),
        ("UnrecognizedClientException", AwsCredentialsUnusable, _USAGE, False),
        ("ValidationException", UsageError, _USAGE, False),
        ("SomethingNew", BackendUnavailable, _BACKEND, False),
    ],
)
def test_ssm_client_errors_map_through_the_table(code, error, exit_code, retryable) -> None:
    store = SsmDigestStore(PARAMETER, region=REGION, client=_Failing(code))
    with pytest.raises(error) as raised:
        store.read()
    assert type(raised.value) is error
    assert (raised.value.code, raised.value.retryable) == (exit_code, retryable)
    assert isinstance(raised.value.__cause__, ClientError)
    assert aws_code(raised.value.__cause__) == code


@pytest.mark.parametrize(
    ("call", "action"),
    [
        (lambda s: s.write(A, expected_version=None, writer="w"), "ssm:GetParameter"),
        (lambda s: s.history(), "ssm:GetParameterHistory"),
    ],
)
def test_ssm_access_denied_names_the_iam_action(call, action) -> None:
    store = SsmDigestStore(PARAMETER, region=REGION, client=_Failing("AccessDeniedException"))
    with pytest.raises(DigestStoreError) as raised:
        call(store)
    assert f"{action} on arn:aws:ssm:{REGION}:<account>:parameter{PARAMETER}" in str(raised.value)


def test_ssm_access_denied_on_put_names_put_parameter() -> None:
    class DenyPut(_Failing):
        def get_parameter(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ParameterNotFound"}}, "GetParameter")

    store = SsmDigestStore(PARAMETER, region=REGION, client=DenyPut("AccessDeniedException"))
    with pytest.raises(DigestStoreError) as raised:
        store.write(A, expected_version=None, writer="w")
    assert "ssm:PutParameter" in raised.value.remediation


def test_ssm_without_aws_credentials_says_where_to_configure_them() -> None:
    class NoCredentials:
        def get_parameter(self, **_: Any) -> None:
            raise NoCredentialsError()

    with pytest.raises(AwsCredentialsUnusable) as raised:
        SsmDigestStore(PARAMETER, region=REGION, client=NoCredentials()).read()
    assert (raised.value.code, raised.value.retryable) == (ExitCode.USAGE_ERROR, False)
    assert isinstance(raised.value.__cause__, NoCredentialsError)
    assert f"no usable AWS credentials for SSM GetParameter on {PARAMETER}" in raised.value.message
    assert "AwsCredentials block" in raised.value.remediation


def test_ssm_unreachable_endpoint_is_backend_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:1",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
    )
    with pytest.raises(BackendUnavailable) as raised:
        SsmDigestStore(PARAMETER, region=REGION, client=client).read()
    assert (raised.value.code, raised.value.retryable) == (ExitCode.BACKEND_UNAVAILABLE, True)
    assert isinstance(raised.value.__cause__, EndpointConnectionError)


# --- local ------------------------------------------------------------------------------------


def test_local_file_keeps_every_version_as_json(tmp_path: Path) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path)
    store.write(A, expected_version=None, writer="run-1")
    store.write(B, expected_version=1, writer="run-2")
    document = json.loads(store.path.read_text())
    assert store.path.name == "radix-dev-agent-digest-approved.json"
    assert document["parameter"] == PARAMETER
    assert [(v["version"], v["value"], v["writer"]) for v in document["versions"]] == [
        (1, A, "run-1"),
        (2, B, "run-2"),
    ]
    assert document["versions"][0]["modified_at"].endswith("Z")


def test_local_store_keeps_at_most_max_versions(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(digest_records, "MAX_VERSIONS", 3)
    store = LocalDigestStore(PARAMETER, tmp_path)
    for version in range(5):
        store.write(A, expected_version=version or None, writer="run")
    assert [r.version for r in store.history()] == [5, 4, 3]


_GOOD = {"value": A, "version": 1, "modified_at": "2026-01-01T00:00:00Z", "writer": "w"}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("{not json", id="not-json"),
        pytest.param("", id="empty"),
        pytest.param(json.dumps({"parameter": PARAMETER, "versions": []}), id="none"),
        pytest.param(json.dumps({"versions": [_GOOD]}), id="no-parameter"),
        pytest.param(
            json.dumps({"parameter": PARAMETER, "versions": [_GOOD, _GOOD]}),
            id="repeated-version",
        ),
        pytest.param(
            json.dumps(
                {"parameter": PARAMETER, "versions": [{**_GOOD, "modified_at": "2026-01-01"}]}
            ),
            id="naive-time",
        ),
        pytest.param(
            json.dumps({"parameter": PARAMETER, "versions": [{**_GOOD, "version": 0}]}),
            id="version-0",
        ),
    ],
)
def test_corrupt_local_file_is_an_error_never_a_reset(tmp_path, content) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path)
    store.path.write_text(content)
    for call in (store.read, store.history, lambda: store.write(B, expected_version=1, writer="w")):
        with pytest.raises(DigestStoreCorrupt) as raised:
            call()
        assert type(raised.value) is DigestStoreCorrupt
        assert raised.value.code == ExitCode.USAGE_ERROR
        assert raised.value.remediation == DigestStoreCorrupt.remediation
    assert store.path.read_text() == content  # left as found


def test_a_corrupt_local_file_is_named_with_what_is_wrong(tmp_path) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path)
    store.path.write_text(json.dumps({"parameter": PARAMETER, "versions": [_GOOD, _GOOD]}))
    with pytest.raises(DigestStoreCorrupt) as raised:
        store.read()
    assert f"the digest store file {store.path} is corrupt: versions [1, 1]" in raised.value.message


def test_a_file_of_another_parameter_is_refused_not_repaired(tmp_path) -> None:
    mine, theirs = (
        LocalDigestStore("/radix/Dev", tmp_path),
        LocalDigestStore("/radix/dev", tmp_path),
    )
    assert mine.path == theirs.path  # the slug folds case
    theirs.write(A, expected_version=None, writer="w")
    with pytest.raises(DigestStoreError) as raised:
        mine.write(B, expected_version=1, writer="w")
    assert type(raised.value) is DigestStoreError
    assert "holds parameter '/radix/dev', not '/radix/Dev'" in raised.value.message
    assert "Rename one" in raised.value.remediation
    assert theirs.read().value == A


def test_unreadable_local_file_names_the_file(tmp_path) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path)
    store.path.mkdir()  # a directory where the file should be: unreadable as a file
    with pytest.raises(DigestStoreCorrupt) as raised:
        store.read()
    assert isinstance(raised.value.__cause__, OSError)


def test_unwritable_local_directory_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    store = LocalDigestStore(PARAMETER, blocker / "digests")
    with pytest.raises(DigestStoreError) as raised:
        store.write(A, expected_version=None, writer="w")
    assert type(raised.value) is DigestStoreError and raised.value.code == ExitCode.USAGE_ERROR
    assert isinstance(raised.value.__cause__, OSError)


def test_local_write_waits_for_the_lock_then_gives_up(tmp_path) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path, lock_timeout_seconds=0.05)
    with open(store.path.with_name(store.path.name + ".lock"), "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(BackendUnavailable) as raised:
            store.write(A, expected_version=None, writer="w")
    assert raised.value.retryable is True
    assert store.read() is None
    assert store.write(A, expected_version=None, writer="w").version == 1  # lock released


def _race(directory: str, value: str, expected: int, barrier: Any, results: Any) -> None:
    store = LocalDigestStore(PARAMETER, Path(directory))
    barrier.wait()
    try:
        results.put(("won", store.write(value, expected_version=expected, writer=value).version))
    except PromotionRaced:
        results.put(("raced", None))
    except WardenError as exc:  # pragma: no cover - reported, so the assertion shows it
        results.put(("error", exc.message))


@pytest.mark.parametrize("writers", [2, 6])
def test_concurrent_writers_from_processes_exactly_one_wins(tmp_path, writers: int) -> None:
    store = LocalDigestStore(PARAMETER, tmp_path)
    store.write(A, expected_version=None, writer="bootstrap")
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(writers), context.Queue()
    values = [f"ghcr.io/org/agent@sha256:{n:064x}" for n in range(writers)]
    processes = [
        context.Process(target=_race, args=(str(tmp_path), value, 1, barrier, results))
        for value in values
    ]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=10) for _ in processes)
    for process in processes:
        process.join(timeout=10)
    assert outcomes == [("raced", None)] * (writers - 1) + [("won", 2)]
    history = store.history()
    assert [r.version for r in history] == [2, 1]
    assert history[0].value in values and history[0].writer == history[0].value


# --- open_store -------------------------------------------------------------------------------


def test_open_store_builds_the_configured_backend(tmp_path) -> None:
    assert isinstance(open_store("ssm", PARAMETER, region=REGION, path=None), SsmDigestStore)
    local = open_store("local", PARAMETER, region=None, path=str(tmp_path))
    assert isinstance(local, LocalDigestStore) and local.directory == tmp_path


@pytest.mark.parametrize(
    ("kind", "region", "path"),
    [
        ("s3", REGION, "x"),
        ("SSM", REGION, "x"),
        ("ssm", None, "x"),
        ("ssm", "", "x"),
        ("local", REGION, None),
        ("local", REGION, ""),
    ],
)
def test_open_store_refuses_unusable_configuration(kind, region, path) -> None:
    with pytest.raises(ConfigError) as raised:
        open_store(kind, PARAMETER, region=region, path=path)
    assert type(raised.value) is ConfigError and raised.value.code == ExitCode.USAGE_ERROR
    assert "invariants.yaml" in raised.value.remediation


def test_an_unknown_store_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        open_store("s3", PARAMETER, region=REGION, path="x")
    assert "digest_store.kind 's3' is not one of: ssm, local" in raised.value.message
