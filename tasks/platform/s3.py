"""S3 for every concern: a bucket reached through a prefect-aws ``S3Bucket`` block, the preflight
that proves it can be written before a flow runs, and pyarrow's filesystem options from it.

Clients come from :func:`tasks.platform.aws.open_aws` (the one botocore Config) with the
credentials of the block's ``AwsCredentials`` and its endpoint; errors are translated by code
(``NoSuchBucket``/``404``, ``AccessDenied``/``403``) into typed errors that name the fix.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from blocks.errors import ConfigError, WardenError
from blocks.s3 import bucket_region, load_s3_bucket
from blocks.storage import (
    RESULT_STORAGE_ENV,
    S3_BUCKET_TYPE,
    check_storage_block_exists,
    result_storage_choice,
)
from tasks.platform.aws import AwsAccess, Fault, aws_errors, open_aws

log = logging.getLogger(__name__)
PROBE_PREFIX = ".warden-preflight-"  # the object the write check puts, then deletes


class S3BucketMissing(ConfigError):
    """The bucket configuration names does not exist."""

    remediation = "Create the bucket, or fix bucket_name in the S3Bucket block (or the URI)."


class S3AccessDenied(ConfigError):
    """The bucket exists, but these credentials may not read or write it."""

    remediation = (
        "Grant the credentials s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on "
        "the bucket, or bind the S3Bucket block to an AwsCredentials block that has them."
    )


_MISSING = Fault(S3BucketMissing, False, S3BucketMissing.remediation)
_DENIED = Fault(S3AccessDenied, False, S3AccessDenied.remediation)
BUCKET_FAULTS: dict[str, Fault] = {
    **dict.fromkeys(("NoSuchBucket", "404", "NotFound"), _MISSING),
    **dict.fromkeys(("AccessDenied", "403", "Forbidden", "AllAccessDisabled"), _DENIED),
}


@dataclass(frozen=True)
class Bucket:
    """One bucket and folder, and the access its block gives (credentials never shown)."""

    name: str
    folder: str
    access: AwsAccess

    @property
    def endpoint_url(self) -> str | None:
        return self.access.endpoint_url or self.access.client_options.get("endpoint_url")


def bucket_from_block(block_name: str, used_for: str) -> Bucket:
    """The bucket of the ``S3Bucket`` block ``block_name`` with its credentials' session."""
    block = load_s3_bucket(block_name, used_for)
    source = f"the S3Bucket block {block_name!r}"
    access = open_aws(bucket_region(block), block.credentials, source=source)
    return Bucket(block.bucket_name, block.bucket_folder.strip("/"), access)


def check_bucket(bucket: Bucket, folder: str | None = None) -> None:
    """Prove the bucket exists and takes a write under ``folder`` (default: the block's):
    HEAD the bucket, put a small probe object, delete it. Nothing else is touched."""
    s3 = bucket.access.client("s3")
    region = bucket.access.region
    target = f"s3://{bucket.name}"
    with aws_errors("S3", "HeadBucket", target, region, faults=BUCKET_FAULTS):
        s3.head_bucket(Bucket=bucket.name)
    where = folder if folder is not None else bucket.folder
    key = f"{where.strip('/')}/{PROBE_PREFIX}{uuid.uuid4().hex}".lstrip("/")
    with aws_errors("S3", "PutObject", f"{target}/{key}", region, faults=BUCKET_FAULTS):
        s3.put_object(Bucket=bucket.name, Key=key, Body=b"")
    with aws_errors("S3", "DeleteObject", f"{target}/{key}", region, faults=BUCKET_FAULTS):
        s3.delete_object(Bucket=bucket.name, Key=key)


def check_result_storage() -> str:
    """The preflight of ``WARDEN_RESULT_STORAGE``: the block it names exists, and an S3Bucket's
    bucket takes writes. Returns what was checked, for the log."""
    choice = result_storage_choice()
    if choice is None:
        return "results under $WARDEN_HOME/results"
    if choice.block_type != S3_BUCKET_TYPE:
        check_storage_block_exists(choice)
        return f"results in the block {choice.slug}"
    bucket = bucket_from_block(choice.block_name, f"{RESULT_STORAGE_ENV}={choice.slug}")
    check_bucket(bucket)
    log.info("results go to s3://%s/%s (%s)", bucket.name, bucket.folder, choice.slug)
    return f"results in s3://{bucket.name}/{bucket.folder}"


_PROVEN: dict[str, str] = {}  # flow run id -> what its preflight proved


def check_result_storage_once(run: str) -> str:
    """:func:`check_result_storage` for the flow run ``run``: checked on its first call, and
    what was proven returned on the next (a flow may pass its start gate more than once).
    A failed check is not remembered."""
    if run not in _PROVEN:
        if len(_PROVEN) >= 1024:  # a long-lived process (a served flow) runs many
            _PROVEN.clear()
        _PROVEN[run] = check_result_storage()
    return _PROVEN[run]


def arrow_s3_options(access: AwsAccess) -> dict[str, Any]:
    """``pyarrow.fs.S3FileSystem`` keyword arguments for ``access``: the session's credentials,
    region and endpoint (so pyarrow uses the block, never its own default chain)."""
    options: dict[str, Any] = {"region": access.region}
    credentials = access.session.get_credentials()
    if credentials is None:
        raise WardenError(
            f"no AWS credentials in {access.source}",
            code=ConfigError.code,
            remediation="Give the AwsCredentials block a key pair, a profile or a role.",
        )
    frozen = credentials.get_frozen_credentials()
    options |= {"access_key": frozen.access_key, "secret_key": frozen.secret_key}
    if frozen.token:
        options["session_token"] = frozen.token
    endpoint = access.endpoint_url or access.client_options.get("endpoint_url")
    if endpoint:
        parsed = urlparse(endpoint)
        options |= {"endpoint_override": parsed.netloc, "scheme": parsed.scheme or "https"}
    return options
