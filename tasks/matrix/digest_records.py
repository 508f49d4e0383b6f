"""What an approved-digest store is: its record, its protocol, its errors, what a write accepts.

Two backends implement :class:`DigestStore` (:mod:`tasks.matrix.ssm_store`,
:mod:`tasks.matrix.local_store`); both check their inputs here, so the same write is refused
the same way whichever backend is configured. The parameter name follows the one SSM rule of
:mod:`blocks.aws` (the one ``invariants.yaml`` is validated with).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from blocks.aws import ssm_parameter_problem
from blocks.errors import ConfigError, ExitCode, UsageError, WardenError
from tasks.matrix.errors import PromotionRaced

MAX_VERSIONS = 100  # what SSM keeps; the local store keeps as many
_WRITER = re.compile(r"^[^\x00-\x1f]{1,200}$")


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


def check_parameter(parameter: str) -> str:
    """``parameter`` if it is an SSM parameter path; ConfigError otherwise (both backends)."""
    if ssm_parameter_problem(parameter):
        raise ConfigError(
            f"digest_store.parameter {parameter!r} is not a valid parameter name",
            remediation="Use letters, digits and _.- in /-separated levels starting with '/', "
            "e.g. /radix/dev/agent_digest_approved (at most 1011 characters).",
        )
    return parameter


def check_write(parameter: str, value: str, expected_version: int | None, writer: str) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > 4096:
        raise UsageError(
            f"the value to write to {parameter} must be a non-empty string of at most 4096 "
            "characters",
            remediation="Pass the candidate's pinned reference, <registry>/<repo>@sha256:<hex>.",
        )
    if expected_version is not None and not is_count(expected_version):
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


def check_limit(limit: int) -> None:
    if not is_count(limit):
        raise UsageError(
            f"history limit {limit!r} must be an int >= 1",
            remediation="Ask for at least one version, e.g. history(limit=20).",
        )


def is_count(number: object) -> bool:
    return isinstance(number, int) and not isinstance(number, bool) and number >= 1


def raced(parameter: str, expected: int | None, found: int | str | None) -> PromotionRaced:
    found_text = found if isinstance(found, str) else _version_text(found)
    return PromotionRaced(
        f"approved digest {parameter} changed during this run: expected "
        f"{_version_text(expected)}, found {found_text}; nothing was written"
    )


def _version_text(version: int | None) -> str:
    return "no parameter" if version is None else f"version {version}"
