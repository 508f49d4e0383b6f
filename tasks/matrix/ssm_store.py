"""The approved digest in AWS SSM Parameter Store: a String parameter whose versions are the
promotion history. Clients and error translation come from :mod:`tasks.platform.aws`; the
codes below are SSM's own (throttling and credential codes are the shared table's)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from blocks.errors import UsageError
from tasks.matrix.digest_records import (
    DigestRecord,
    DigestStoreError,
    PromotionOverlapped,
    check_limit,
    check_parameter,
    check_write,
    raced,
)
from tasks.platform.aws import AwsAccess, Fault, aws_code, aws_errors, open_aws
from tasks.platform.clock import utc_now

_DESCRIPTION = "Approved digest promoted by Release Warden; writer="
_GRANT = (
    "Grant the worker's IAM role {action} on arn:aws:ssm:{region}:<account>:parameter{parameter}."
)
_UNLABEL = "SSM keeps 100 versions; unlabel the oldest (aws ssm unlabel-parameter-version)."
SSM_FAULTS: dict[str, Fault] = {  # read() and history() take ParameterNotFound as "none"
    "ParameterNotFound": Fault(DigestStoreError, False, "Bootstrap the parameter once."),
    "AccessDeniedException": Fault(DigestStoreError, False, _GRANT),
    "ParameterMaxVersionLimitExceeded": Fault(DigestStoreError, False, _UNLABEL),
    "ValidationException": Fault(UsageError, False, "Fix the name or value in the message."),
}


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
        aws: AwsAccess | None = None,
    ) -> None:
        self.parameter = check_parameter(parameter)
        self.region = region
        self._client = client or (aws or open_aws(region)).client("ssm")

    def __repr__(self) -> str:
        return f"SsmDigestStore(parameter={self.parameter!r}, region={self.region!r})"

    def read(self) -> DigestRecord | None:
        with self._aws_errors("GetParameter"):
            try:
                response = self._client.get_parameter(Name=self.parameter)
            except ClientError as exc:
                if aws_code(exc) == "ParameterNotFound":
                    return None
                raise
        return _ssm_record(response["Parameter"], writer=None)  # GetParameter has no writer

    def write(self, value: str, *, expected_version: int | None, writer: str) -> DigestRecord:
        check_write(self.parameter, value, expected_version, writer)
        current = self.read()
        if (current.version if current else None) != expected_version:
            raise raced(self.parameter, expected_version, current.version if current else None)
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
                if aws_code(exc) == "ParameterAlreadyExists":
                    raise raced(self.parameter, None, "a version written meanwhile") from exc
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
        check_limit(limit)
        paginator = self._client.get_paginator("get_parameter_history")
        with self._aws_errors("GetParameterHistory"):
            try:
                pages = paginator.paginate(Name=self.parameter, PaginationConfig={"PageSize": 50})
                entries = [entry for page in pages for entry in page["Parameters"]]
            except ClientError as exc:
                if aws_code(exc) == "ParameterNotFound":
                    return []
                raise
        entries.sort(key=lambda entry: entry["Version"], reverse=True)
        return [_ssm_record(entry, writer=_writer_of(entry)) for entry in entries[:limit]]

    def _aws_errors(self, operation: str) -> Any:
        hints = {"action": f"ssm:{operation}", "parameter": self.parameter, "region": self.region}
        return aws_errors(
            "SSM", operation, self.parameter, self.region, faults=SSM_FAULTS, hints=hints
        )


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
