"""The janitor's side of the matrix: the tags every host carries, and what a dead run left behind.

Every host a leg starts carries the purpose tag and an expiry, so a later run can find and
terminate what a crashed run never cleaned up. Generic over :class:`HostProvider`: the same
selection works for any backend that can list hosts by tag and launch time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from blocks.errors import ExitCode, UsageError, WardenError
from tasks.matrix.hosts import Host, HostProvider
from tasks.platform.clock import iso_utc

TAG_RUN_ID = "warden:run-id"
TAG_LEG = "warden:leg"
TAG_EXPIRES_AT = "warden:expires-at"
TAG_TTL_HOURS = "warden:ttl-hours"
MAX_TAG_KEY_CHARS = 128  # EC2's limits on one tag
MAX_TAG_VALUE_CHARS = 256
_WILDCARDS = frozenset("*?")  # EC2 tag filters treat these as patterns: they would over-match


class JanitorIncomplete(WardenError):
    """Some expired hosts could not be terminated; every other one was."""

    code = ExitCode.BACKEND_UNAVAILABLE
    remediation = (
        "Run the janitor again (terminating is idempotent); if the same hosts fail, terminate "
        "them by hand and check the credentials' permission to terminate instances."
    )
    retryable = True

    def __init__(self, terminated: list[Host], failures: dict[str, str]) -> None:
        self.terminated = list(terminated)
        self.failures = dict(failures)
        lines = "; ".join(f"{host_id}: {why}" for host_id, why in sorted(failures.items()))
        super().__init__(
            f"{len(failures)} expired host(s) not terminated ({len(terminated)} were): {lines}"
        )


def check_purpose_tag(purpose_tag: tuple[str, str]) -> tuple[str, str]:
    """The ``(key, value)`` pair, or a :class:`UsageError` saying what is wrong with it."""
    if not isinstance(purpose_tag, tuple | list) or len(purpose_tag) != 2:
        raise _usage(f"purpose_tag must be a (key, value) pair, got {purpose_tag!r}")
    key, value = purpose_tag
    for part, text, limit in (
        ("key", key, MAX_TAG_KEY_CHARS),
        ("value", value, MAX_TAG_VALUE_CHARS),
    ):
        if not isinstance(text, str) or not text.strip():
            raise _usage(f"purpose_tag {part} must be a non-empty string, got {text!r}")
        if len(text) > limit:
            raise _usage(f"purpose_tag {part} {text[:40]!r}… is over {limit} characters")
        if _WILDCARDS & set(text):
            raise _usage(f"purpose_tag {part} {text!r} holds a wildcard (* or ?)")
    if key.lower().startswith("aws:"):
        raise _usage(f"purpose_tag key {key!r} uses the reserved prefix 'aws:'")
    return key, value


def check_ttl_hours(ttl_hours: float, *, allow_zero: bool = False) -> float:
    """A finite number of hours: positive, or also zero where ``allow_zero`` (a sweep by tag)."""
    if isinstance(ttl_hours, bool) or not isinstance(ttl_hours, int | float):
        raise _usage(f"ttl_hours must be a number of hours, got {ttl_hours!r}")
    too_small = ttl_hours < 0 if allow_zero else ttl_hours <= 0
    if not math.isfinite(ttl_hours) or too_small:
        wanted = "zero or more" if allow_zero else "a positive number of"
        raise _usage(f"ttl_hours must be {wanted} hours, got {ttl_hours!r}")
    return float(ttl_hours)


def check_aware(moment: datetime, what: str) -> datetime:
    """``moment`` itself, if it carries a timezone; naive times are ambiguous and refused."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise _usage(f"{what} must be a timezone-aware datetime (UTC), got {moment!r}")
    return moment


def leg_tags(
    purpose_tag: tuple[str, str], run_id: str, leg: object, ttl_hours: float, now: datetime
) -> dict[str, str]:
    """The tags of one leg's host: purpose, run id, leg name, expiry (ISO UTC) and TTL.

    ``leg`` is a leg spec (its ``name`` is used) or the leg's name itself.
    """
    key, value = check_purpose_tag(purpose_tag)
    ttl = check_ttl_hours(ttl_hours)
    check_aware(now, "now")
    leg_name = getattr(leg, "name", leg)
    for what, text in (("run_id", run_id), ("leg name", leg_name)):
        if not isinstance(text, str) or not text.strip():
            raise _usage(f"{what} must be a non-empty string, got {text!r}")
        if len(text) > MAX_TAG_VALUE_CHARS:
            raise _usage(f"{what} {text[:40]!r}… is over {MAX_TAG_VALUE_CHARS} characters")
    return {
        key: value,
        TAG_RUN_ID: run_id,
        TAG_LEG: leg_name,
        TAG_EXPIRES_AT: iso_utc(now + timedelta(hours=ttl), timespec="seconds"),
        TAG_TTL_HOURS: f"{ttl:g}",
    }


def terminate_expired(
    provider: HostProvider, purpose_tag: tuple[str, str], ttl_hours: float, now: datetime
) -> list[Host]:
    """Terminate every host with the purpose tag launched more than ``ttl_hours`` before ``now``.

    One host that cannot be terminated does not spare the others: every one is tried, then
    :class:`JanitorIncomplete` names the failures. Returns the hosts terminated. A TTL of 0
    with a ``now`` slightly ahead sweeps every host with the tag (a crashed run's own hosts).
    """
    tag = check_purpose_tag(purpose_tag)
    ttl = check_ttl_hours(ttl_hours, allow_zero=True)
    older_than = check_aware(now, "now") - timedelta(hours=ttl)
    terminated: list[Host] = []
    failures: dict[str, str] = {}
    for host in provider.find_expired(tag, older_than):
        try:
            provider.terminate(host)
        except Exception as exc:  # noqa: BLE001 — one host's failure must not spare the others
            failures[host.id] = f"{type(exc).__name__}: {exc}"
        else:
            terminated.append(host)
    if failures:
        raise JanitorIncomplete(terminated, failures)
    return terminated


def _usage(message: str) -> UsageError:
    return UsageError(
        message,
        remediation="Fix the janitor's purpose tag / TTL settings (or the caller) and run again.",
    )
