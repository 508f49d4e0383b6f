"""Where the approved digest lives: the backend the environment's ``digest_store.kind`` names.

The approved digest is the one source the control-plane installer reads (seed 001), and only a
passing matrix run writes it. Two backends implement :class:`DigestStore`, with no fallback
between them: :class:`SsmDigestStore` (AWS SSM Parameter Store, production) and
:class:`LocalDigestStore` (a JSON file keeping every version, the embedded default). A write
names the version its caller read; if the store moved on meanwhile the write is refused with
:class:`PromotionRaced` and nothing is written.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from blocks.errors import ConfigError
from tasks.matrix.digest_records import (
    MAX_VERSIONS,
    DigestRecord,
    DigestStore,
    DigestStoreCorrupt,
    DigestStoreError,
    PromotionOverlapped,
)
from tasks.matrix.local_store import LocalDigestStore
from tasks.matrix.ssm_store import SsmDigestStore
from tasks.platform.aws import AwsAccess

__all__ = [
    "MAX_VERSIONS",
    "DigestRecord",
    "DigestStore",
    "DigestStoreCorrupt",
    "DigestStoreError",
    "LocalDigestStore",
    "PromotionOverlapped",
    "SsmDigestStore",
    "StoreKind",
    "open_store",
]


class StoreKind(StrEnum):
    SSM = "ssm"
    LOCAL = "local"


def open_store(
    kind: str,
    parameter: str,
    *,
    region: str | None,
    path: str | Path | None,
    aws: AwsAccess | None = None,
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
        return SsmDigestStore(parameter, region=region, aws=aws)
    if not path:
        raise ConfigError(
            "digest_store.kind 'local' needs a directory, and none was given",
            remediation="Set digest_store.path to a writable directory in invariants.yaml.",
        )
    return LocalDigestStore(parameter, Path(path))
