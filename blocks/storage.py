"""Where flow results are persisted: chosen by configuration, never by fallback.

``WARDEN_RESULT_STORAGE`` names a saved storage block by slug — ``local-file-system/warden-results``
on the local platform (saved by ``make run``), ``s3-bucket/warden-results`` (prefect-aws) in
production. Unset, results go to ``$WARDEN_HOME/results`` on local disk, which is what tests
and one-off CLI runs against the ephemeral API use. :func:`result_storage_choice` reads the
variable strictly; ``tasks.platform.s3.check_result_storage`` loads the block it names and, for an
``S3Bucket``, checks the bucket before a flow runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from blocks.errors import BackendUnavailable, ConfigError

RESULT_STORAGE_ENV = "WARDEN_RESULT_STORAGE"
LOCAL_RESULTS_BLOCK = "warden-results"
RESULT_SERIALIZER = "json"  # never pickle: results stay readable and safe to load
S3_BUCKET_TYPE = "s3-bucket"
_SLUG = re.compile(r"^([a-z0-9][a-z0-9-]*)/([a-z0-9][a-z0-9-]*)$")


class ResultStorageBlockMissing(ConfigError):
    """``WARDEN_RESULT_STORAGE`` names a storage block that does not exist."""

    remediation = (
        "Save the block under that name (make run saves local-file-system/warden-results; for "
        "S3 save an S3Bucket bound to an AwsCredentials block), or fix WARDEN_RESULT_STORAGE; "
        "unset it to keep results under $WARDEN_HOME/results."
    )


class ResultStorageChoice(NamedTuple):
    """The block ``WARDEN_RESULT_STORAGE`` names: its type slug and its name."""

    block_type: str
    block_name: str

    @property
    def slug(self) -> str:
        return f"{self.block_type}/{self.block_name}"


def warden_home() -> Path:
    """Where local state lives: ``$WARDEN_HOME``, else ``.warden/`` of the working directory."""
    return Path(os.environ.get("WARDEN_HOME") or Path.cwd() / ".warden").resolve()


def persisted_results() -> dict[str, object]:
    """The flow decorator's persistence settings: JSON results in the configured storage."""
    return {
        "persist_result": True,
        "result_storage": result_storage(),
        "result_serializer": RESULT_SERIALIZER,
    }


def result_storage() -> str | Path:
    """The result storage a flow decorator gets: a block slug, or a local folder."""
    slug = os.environ.get(RESULT_STORAGE_ENV, "").strip()
    if slug:
        return slug
    return warden_home() / "results"


def result_storage_choice() -> ResultStorageChoice | None:
    """The block ``WARDEN_RESULT_STORAGE`` names (``<block-type>/<block-name>``, e.g.
    ``s3-bucket/warden-results``), or None when unset (the local folder)."""
    value = os.environ.get(RESULT_STORAGE_ENV, "").strip()
    if not value:
        return None
    matched = _SLUG.match(value)
    if not matched:
        raise ConfigError(
            f"{RESULT_STORAGE_ENV}={value!r} is not <block-type>/<block-name>",
            remediation="Set it to e.g. s3-bucket/warden-results or "
            "local-file-system/warden-results, or unset it.",
        )
    return ResultStorageChoice(*matched.groups())


def check_storage_block_exists(choice: ResultStorageChoice) -> None:
    """Load the block ``choice`` names (any type): a missing one is refused with the fix."""
    import httpx
    from prefect.blocks.core import Block

    try:
        Block.load(choice.slug)
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise ResultStorageBlockMissing(
            f"{RESULT_STORAGE_ENV}={choice.slug!r}: no such block"
        ) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise BackendUnavailable(
            f"the Prefect API could not be asked for the block {choice.slug!r} "
            f"({type(exc).__name__})",
            remediation="Start the Prefect server (make run) or fix PREFECT_API_URL.",
        ) from exc
