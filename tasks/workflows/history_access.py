"""How the history is reached: a local folder, or ``s3://bucket/prefix`` with the boto3 default
chain or (``history.s3_bucket_block``) the credentials and endpoint of a prefect-aws ``S3Bucket``
block. :func:`check_history` is the preflight a classify run takes before its first side effect.
"""

from __future__ import annotations

from urllib.parse import urlparse

from blocks.errors import ConfigError
from blocks.s3 import bucket_region
from tasks.platform.aws import open_aws
from tasks.platform.s3 import Bucket, arrow_s3_options, bucket_from_block, check_bucket
from tasks.workflows.corpus import HistoryLocation
from tasks.workflows.history import HistoryStore


def open_history(location: HistoryLocation) -> HistoryStore:
    """The history store at ``location``; on S3 with a block, pyarrow gets the block's
    credentials, region and endpoint (an explicit ``endpoint_url`` still wins)."""
    if location.block is None:
        return HistoryStore(location.uri, endpoint_url=location.endpoint_url)
    bucket = _block_bucket(location)
    options = arrow_s3_options(bucket.access)
    if location.endpoint_url:
        options.pop("endpoint_override", None)
        options.pop("scheme", None)
    return HistoryStore(location.uri, endpoint_url=location.endpoint_url, storage_options=options)


def check_history(location: HistoryLocation) -> str:
    """Prove an S3 history's bucket exists and takes writes under its prefix (a local folder
    needs no check: it is created on the first append). Returns what was checked."""
    bucket_name, prefix = _split(location.uri)
    if bucket_name is None:
        return f"history in {location.uri}"
    if location.block is not None:
        bucket = _block_bucket(location)
    else:
        access = open_aws(bucket_region(None), endpoint_url=location.endpoint_url)
        bucket = Bucket(bucket_name, prefix, access)
    check_bucket(bucket, folder=prefix)
    return f"history in {location.uri} ({bucket.access.source})"


def _block_bucket(location: HistoryLocation) -> Bucket:
    """The block's bucket, which must be the URI's: two names for one place cannot disagree."""
    bucket_name, _ = _split(location.uri)
    bucket = bucket_from_block(location.block, "history.s3_bucket_block")
    if bucket.name != bucket_name:
        raise ConfigError(
            f"history.s3_bucket_block {location.block!r} is for bucket {bucket.name!r}, but "
            f"history.uri {location.uri!r} is in bucket {bucket_name!r}",
            remediation="Make history.uri name the block's bucket, or name the block of that "
            "bucket.",
        )
    return bucket


def _split(uri: str) -> tuple[str | None, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        return None, ""
    return parsed.netloc, parsed.path.strip("/")
