"""S3 settings read from configuration: a named prefect-aws ``S3Bucket`` block, bound to an
``AwsCredentials`` block, for result storage (``WARDEN_RESULT_STORAGE=s3-bucket/<name>``) and for
the workflow history (``history.s3_bucket_block`` in the workflows file).

:func:`load_s3_bucket` loads the block and says what is wrong with it; the bucket itself is
checked (exists, accepts writes) by :mod:`tasks.platform.s3`, where AWS clients are built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from blocks.aws import BLOCK_NAME
from blocks.errors import BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from prefect_aws import S3Bucket

DEFAULT_REGION = "us-east-1"


class S3BucketBlockMissing(ConfigError):
    """The configuration names an S3Bucket block that does not exist or is not one."""

    remediation = (
        "Create it: AwsCredentials(...).save('<credentials>') and then "
        "S3Bucket(bucket_name='<bucket>', credentials=AwsCredentials.load('<credentials>'))"
        ".save('<name>') (or Blocks → S3 Bucket in the UI), or fix the name in the configuration."
    )


def block_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a Prefect block name, or None."""
    if not isinstance(name, str) or not BLOCK_NAME.match(name):
        return f"{name!r} is not a block name (lowercase letters, digits and '-')"
    return None


def load_s3_bucket(block_name: str, used_for: str) -> S3Bucket:
    """The ``S3Bucket`` block ``block_name``; ``used_for`` says where the configuration names it
    (e.g. ``WARDEN_RESULT_STORAGE``), so the error points at what to fix."""
    import httpx
    from prefect_aws import AwsCredentials, S3Bucket  # imports Prefect: only when one is named

    problem = block_name_problem(block_name)
    if problem:
        raise ConfigError(f"{used_for}: {problem}", remediation=S3BucketBlockMissing.remediation)
    try:
        block = S3Bucket.load(block_name)
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise S3BucketBlockMissing(
            f"the S3Bucket block {block_name!r} ({used_for}) cannot be loaded"
        ) from exc
    except (httpx.HTTPError, OSError) as exc:  # the Prefect API cannot be reached
        raise BackendUnavailable(
            f"the Prefect API could not be asked for the S3Bucket block {block_name!r} "
            f"({type(exc).__name__})",
            remediation="Start the Prefect server (make run) or fix PREFECT_API_URL.",
        ) from exc
    if not isinstance(block.credentials, AwsCredentials):
        raise ConfigError(
            f"the S3Bucket block {block_name!r} ({used_for}) is bound to "
            f"{type(block.credentials).__name__}, not an AwsCredentials block",
            remediation="Save the S3Bucket with credentials=AwsCredentials.load('<name>').",
        )
    return block


def bucket_region(block: S3Bucket | None) -> str:
    """The region the bucket's clients use: the credentials block's, else the worker's
    ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else us-east-1."""
    return (
        (block.credentials.region_name if block is not None else None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
