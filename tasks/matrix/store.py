"""Where the approved digest lives: a versioned store with compare-and-set writes.

The approved digest is the one source the control-plane installer reads (seed 001), and only a
passing matrix run writes it. Two backends implement :class:`DigestStore`, chosen by the
environment's ``digest_store.kind`` with no fallback between them: :class:`SsmDigestStore`
(AWS SSM Parameter Store, production) and :class:`LocalDigestStore` (a JSON file keeping every
version, the embedded default). A write names the version its caller read; if the store moved
on meanwhile the write is refused with :class:`PromotionRaced` and nothing is written.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from blocks.errors import BackendUnavailable, ConfigError, ExitCode, UsageError, WardenError
from tasks.matrix.errors import PromotionRaced
from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.files import write_atomic
from tasks.platform.keys import slug

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 15
MAX_ATTEMPTS = 4  # botocore "standard" retries: throttling and transient errors only
MAX_VERSIONS = 100  # what SSM keeps; the local store keeps as many
LOCK_TIMEOUT_S = 30.0
_PARAMETER = re.compile(r"^(?:/[A-Za-z0-9_.-]+)+$|^[A-Za-z0-9_.-]+$")
_WRITER = re.compile(r"^[^\x00-\x1f]{1,200}$")
_DESCRIPTION = "Approved digest promoted by Release Warden; writer="
_BOTO_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
)


class DigestRecord(BaseModel):
    """One version of the approved digest; ``writer`` is who promoted it, when known."""

    model_config = ConfigDict(frozen=True)

    value: str
    version: int = Field(ge=1)
    modified_at: datetime
    writer: str | None = None

    @field_validator("modified_at")
    @classmethod
    def _utc(cls, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("modified_at must be timezone-aware")
        return moment.astimezone(UTC)


class DigestStore(Protocol):
    """A versioned parameter holding the approved digest."""

    parameter: str

    def read(self) -> DigestRecord | None:
        """The current version, or None when the parameter does not exist."""
        ...

    def write(self, value: str, *, expected_version: int | None, writer: str) -> DigestRecord:
        """Write if the current version is ``expected_version`` (None: must not exist yet);
        else raise PromotionRaced, writing nothing."""
        ...

    def history(self, limit: int = 20) -> list[DigestRecord]:
        """Up to ``limit`` versions, newest first; empty when the parameter does not exist."""
        ...


class StoreKind(StrEnum):
    SSM = "ssm"
    LOCAL = "local"


class DigestStoreError(WardenError):
    """The approved-digest store cannot be used as configured; nothing was written."""

    code = ExitCode.USAGE_ERROR
    remediation = "Fix the digest store's configuration or permissions named in the message."


class DigestStoreCorrupt(DigestStoreError):
    """The local store's file cannot be read back; it is never reset silently."""

    remediation = (
        "Restore the file from a backup or from the last evidence pack's approved digest, or "
        "delete it to re-bootstrap (the next passing run then writes version 1)."
    )


class PromotionOverlapped(PromotionRaced):
    """SSM took this write, but another write landed between the version check and it."""

    remediation = (
        "Two writers ran at once, which the flow's global concurrency limit should prevent; "
        "compare the parameter's history with both runs' evidence packs and re-promote the "
        "digest that should win."
    )

    def __init__(self, message: str, *, written: DigestRecord) -> None:
        super().__init__(message)
        self.written = written


def open_store(
    kind: str,
    parameter: str,
    *,
    region: str | None,
    path: str | Path | None,
    endpoint_url: str | None = None,
) -> DigestStore:
    """The backend ``kind`` names, configured; an unusable configuration fails, no fallback."""
    try:
        chosen = StoreKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in StoreKind)
        raise ConfigError(
            f"digest_store.kind {kind!r} is not one of: {allowed}",
            remediation=f"Set digest_store.kind to one of {allowed} in invariants.yaml.",
        ) from None
    if chosen is StoreKind.SSM:
        if not region:
            raise ConfigError(
                "digest_store.kind 'ssm' needs an AWS region, and none was given",
                remediation="Set the environment's region (e.g. us-west-2) in invariants.yaml.",
            )
        return SsmDigestStore(parameter, region=region, endpoint_url=endpoint_url)
    if not path:
        raise ConfigError(
            "digest_store.kind 'local' needs a directory, and none was given",
            remediation="Set digest_store.path to a writable directory in invariants.yaml.",
        )
    return LocalDigestStore(parameter, Path(path))


class SsmDigestStore:
    """AWS SSM Parameter Store: a String parameter whose versions are the promotion history.

    SSM has no conditional put. A first write uses ``Overwrite=False``, which SSM refuses if
    the parameter exists, so creation is atomic. A later write reads the version, compares it,
    then puts: another writer landing in that window is detected afterwards (the new version
    is not ``expected + 1``) and raised as :class:`PromotionOverlapped`, but cannot be
    prevented. The flow's global concurrency limit keeps writers serial, which closes the window.
    """

    def __init__(
        self,
        parameter: str,
        *,
        region: str,
        client: Any = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.parameter = _check_parameter(parameter)
        self.region = region
        self._client = client or boto3.client(
            "ssm", region_name=region, endpoint_url=endpoint_url, config=_BOTO_CONFIG
        )

    def __repr__(self) -> str:
        return f"SsmDigestStore(parameter={self.parameter!r}, region={self.region!r})"

    def read(self) -> DigestRecord | None:
        with self._aws_errors("GetParameter"):
            try:
                response = self._client.get_parameter(Name=self.parameter)
            except ClientError as exc:
                if _aws_code(exc) == "ParameterNotFound":
                    return None
                raise
        return _ssm_record(response["Parameter"], writer=None)  # GetParameter has no writer

    def write(self, value: str, *, expected_version: int | None, writer: str) -> DigestRecord:
        _check_write(self.parameter, value, expected_version, writer)
        current = self.read()
        if (current.version if current else None) != expected_version:
            raise _raced(self.parameter, expected_version, current.version if current else None)
        with self._aws_errors("PutParameter"):
            try:
                response = self._client.put_parameter(
                    Name=self.parameter,
                    Value=value,
                    Type="String",
                    Description=_DESCRIPTION + writer,
                    Overwrite=expected_version is not None,
                )
            except ClientError as exc:
                if _aws_code(exc) == "ParameterAlreadyExists":
                    raise _raced(self.parameter, None, "a version written meanwhile") from exc
                raise
        record = DigestRecord(
            value=value, version=response["Version"], modified_at=utc_now(), writer=writer
        )
        if expected_version is not None and record.version != expected_version + 1:
            raise PromotionOverlapped(
                f"approved digest {self.parameter}: this write landed as version "
                f"{record.version}, but it was based on version {expected_version}; another "
                f"writer wrote in between and was overwritten",
                written=record,
            )
        return record

    def history(self, limit: int = 20) -> list[DigestRecord]:
        _check_limit(limit)
        paginator = self._client.get_paginator("get_parameter_history")
        with self._aws_errors("GetParameterHistory"):
            try:
                pages = paginator.paginate(Name=self.parameter, PaginationConfig={"PageSize": 50})
                entries = [entry for page in pages for entry in page["Parameters"]]
            except ClientError as exc:
                if _aws_code(exc) == "ParameterNotFound":
                    return []
                raise
        entries.sort(key=lambda entry: entry["Version"], reverse=True)
        return [_ssm_record(entry, writer=_writer_of(entry)) for entry in entries[:limit]]

    @contextmanager
    def _aws_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise _translate(exc, operation, self.parameter, self.region) from exc
        except (BotoConnectionError, HTTPClientError) as exc:
            raise BackendUnavailable(
                f"SSM in {self.region} could not be reached for {operation} on "
                f"{self.parameter} ({type(exc).__name__})",
                remediation="Check network access to the SSM endpoint, or its endpoint URL.",
            ) from exc
        except NoCredentialsError as exc:
            fault = _BAD_CREDENTIALS
            message = f"no AWS credentials for {operation} on {self.parameter}"
            raise fault.error(message, remediation=fault.remediation) from exc


class _Fault(NamedTuple):
    error: type[WardenError]
    retryable: bool
    remediation: str  # formatted with action, parameter, region


_GRANT = (
    "Grant the worker's IAM role {action} on arn:aws:ssm:{region}:<account>:parameter"
    "{slash}{parameter}."
)
_UNLABEL = "SSM keeps 100 versions; unlabel the oldest (aws ssm unlabel-parameter-version)."
_THROTTLED = _Fault(BackendUnavailable, True, "SSM is throttling or failing; retry later.")
_BAD_CREDENTIALS = _Fault(
    DigestStoreError, False, "Fix the worker's AWS credentials (AwsCredentials block or role)."
)
_SSM_FAULTS: dict[str, _Fault] = {  # read() and history() take ParameterNotFound as "none"
    "ParameterNotFound": _Fault(DigestStoreError, False, "Bootstrap the parameter once."),
    "AccessDeniedException": _Fault(DigestStoreError, False, _GRANT),
    "ThrottlingException": _THROTTLED,
    "TooManyUpdates": _THROTTLED,
    "RequestLimitExceeded": _THROTTLED,
    "InternalServerError": _THROTTLED,
    "ServiceUnavailable": _THROTTLED,
    "ParameterMaxVersionLimitExceeded": _Fault(DigestStoreError, False, _UNLABEL),
    "ValidationException": _Fault(UsageError, False, "Fix the name or value in the message."),
    "UnrecognizedClientException": _BAD_CREDENTIALS,
    "InvalidClientTokenId": _BAD_CREDENTIALS,
    "ExpiredTokenException": _BAD_CREDENTIALS,
}


def _translate(exc: ClientError, operation: str, parameter: str, region: str) -> WardenError:
    code = _aws_code(exc)
    fault = _SSM_FAULTS.get(code)
    message = f"SSM {operation} on {parameter} in {region} failed: {code}"
    if fault is None:
        return BackendUnavailable(
            message, retryable=False, remediation="Read the AWS error code and fix its cause."
        )
    slash = "" if parameter.startswith("/") else "/"
    remediation = fault.remediation.format(
        action=f"ssm:{operation}", parameter=parameter, region=region, slash=slash
    )
    return fault.error(message, remediation=remediation, retryable=fault.retryable)


def _aws_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "Unknown")


def _ssm_record(entry: dict[str, Any], *, writer: str | None) -> DigestRecord:
    moment = entry["LastModifiedDate"]
    return DigestRecord(
        value=entry["Value"], version=entry["Version"], modified_at=moment, writer=writer
    )


def _writer_of(entry: dict[str, Any]) -> str | None:
    """The writer Release Warden put in the description, else the IAM identity that wrote."""
    description = entry.get("Description") or ""
    if description.startswith(_DESCRIPTION):
        return description.removeprefix(_DESCRIPTION)
    return entry.get("LastModifiedUser")


class _StoreFile(BaseModel):
    parameter: str
    versions: list[DigestRecord] = Field(min_length=1)


class LocalDigestStore:
    """One JSON file per parameter keeping its versions, oldest first, like SSM's history.

    Writes hold an exclusive ``flock`` on a sibling ``.lock`` file, check the version inside
    it and replace the file atomically, so compare-and-set holds across processes on one host.
    Reads need no lock: a reader sees the whole old file or the whole new one.
    """

    def __init__(
        self,
        parameter: str,
        directory: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        lock_timeout_seconds: float = LOCK_TIMEOUT_S,
    ) -> None:
        self.parameter = _check_parameter(parameter)
        self.directory = Path(directory)
        self.path = self.directory / f"{slug(parameter)}.json"
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._clock = clock
        self._lock_timeout = lock_timeout_seconds

    def __repr__(self) -> str:
        return f"LocalDigestStore(parameter={self.parameter!r}, path='{self.path}')"

    def read(self) -> DigestRecord | None:
        versions = self._load()
        return versions[-1] if versions else None

    def history(self, limit: int = 20) -> list[DigestRecord]:
        _check_limit(limit)
        return self._load()[::-1][:limit]

    def write(self, value: str, *, expected_version: int | None, writer: str) -> DigestRecord:
        _check_write(self.parameter, value, expected_version, writer)
        with self._locked():
            versions = self._load()
            current = versions[-1].version if versions else None
            if current != expected_version:
                raise _raced(self.parameter, expected_version, current)
            record = DigestRecord(
                value=value, version=(current or 0) + 1, modified_at=self._clock(), writer=writer
            )
            kept = [*versions, record][-MAX_VERSIONS:]
            rows = [{**r.model_dump(), "modified_at": iso_utc(r.modified_at)} for r in kept]
            document = json.dumps({"parameter": self.parameter, "versions": rows}, indent=2)
            try:
                write_atomic(self.path, document + "\n")
            except OSError as exc:
                raise self._unusable("write", exc) from exc
        return record

    def _load(self) -> list[DigestRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise DigestStoreCorrupt(
                f"cannot read the digest store file {self.path}: {exc}"
            ) from exc
        try:
            stored = _StoreFile.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "file"
            raise DigestStoreCorrupt(
                f"the digest store file {self.path} is corrupt: {where}: {first['msg']}"
            ) from exc
        if stored.parameter != self.parameter:  # never "repair": it is another's history
            raise DigestStoreError(
                f"the digest store file {self.path} holds parameter {stored.parameter!r}, not "
                f"{self.parameter!r}: the two names share one file name",
                remediation="Rename one of the two parameters in invariants.yaml.",
            )
        numbers = [record.version for record in stored.versions]
        if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
            raise DigestStoreCorrupt(
                f"the digest store file {self.path} is corrupt: versions {numbers} do not increase"
            )
        return stored.versions

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(self._lock_path, "a")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise self._unusable("lock", exc) from exc
        with handle:
            deadline = time.monotonic() + self._lock_timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BackendUnavailable(
                            f"another writer held {self._lock_path} for {self._lock_timeout:g}s",
                            remediation="Wait for the other promotion to finish, then re-run.",
                        ) from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _unusable(self, doing: str, exc: OSError) -> DigestStoreError:
        return DigestStoreError(
            f"cannot {doing} the digest store in {self.directory}: {exc.strerror or exc}",
            remediation="Point digest_store.path at a directory the worker can write.",
        )


def _check_parameter(parameter: str) -> str:
    if not isinstance(parameter, str) or len(parameter) > 1011 or not _PARAMETER.match(parameter):
        raise ConfigError(
            f"digest_store.parameter {parameter!r} is not a valid parameter name",
            remediation="Use letters, digits and _.- in /-separated levels, e.g. "
            "/radix/dev/agent_digest_approved (at most 1011 characters).",
        )
    return parameter


def _check_write(parameter: str, value: str, expected_version: int | None, writer: str) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 4096:
        raise UsageError(
            f"the value to write to {parameter} must be a non-empty string of at most 4096 "
            "characters",
            remediation="Pass the candidate's pinned reference, <registry>/<repo>@sha256:<hex>.",
        )
    if expected_version is not None and not _is_count(expected_version):
        raise UsageError(
            f"expected_version {expected_version!r} for {parameter} must be None or an int >= 1",
            remediation="Pass the version read() returned, or None for the first write.",
        )
    if not isinstance(writer, str) or not _WRITER.match(writer):
        raise UsageError(
            f"writer {writer!r} for {parameter} must be 1-200 characters without control "
            "characters",
            remediation="Pass the flow run's name or id as the writer.",
        )


def _check_limit(limit: int) -> None:
    if not _is_count(limit):
        raise UsageError(
            f"history limit {limit!r} must be an int >= 1",
            remediation="Ask for at least one version, e.g. history(limit=20).",
        )


def _is_count(number: object) -> bool:
    return isinstance(number, int) and not isinstance(number, bool) and number >= 1


def _raced(parameter: str, expected: int | None, found: int | str | None) -> PromotionRaced:
    found_text = found if isinstance(found, str) else _version_text(found)
    return PromotionRaced(
        f"approved digest {parameter} changed during this run: expected "
        f"{_version_text(expected)}, found {found_text}; nothing was written"
    )


def _version_text(version: int | None) -> str:
    return "no parameter" if version is None else f"version {version}"
