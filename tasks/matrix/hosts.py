"""The host-provider interface: where a vendor leg's installer and smoke job run.

Backends (``ec2``, ``local``) implement :class:`HostProvider`; the environment's configuration
chooses one per leg, with no fallback between them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Host(BaseModel):
    """One provisioned host, as recorded in the evidence pack."""

    model_config = ConfigDict(frozen=True)

    id: str
    provider: str
    region: str
    ami: str | None = None
    instance_type: str | None = None
    launched_at: datetime
    tags: dict[str, str] = Field(default_factory=dict)


class CommandResult(BaseModel):
    """A script run on a host: exit code None means it never finished (timeout or killed)."""

    model_config = ConfigDict(frozen=True)

    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    duration_seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class HostProvider(Protocol):
    """Provision a host, run scripts on it, terminate it; find what a dead run left behind."""

    name: str

    def provision(self, leg, *, run_id: str, client_token: str, tags: dict[str, str]) -> Host:
        """Start one host for ``leg`` (a ``blocks.invariants.LegSpec``); idempotent per token."""
        ...

    def wait_ready(self, host: Host, timeout_seconds: float) -> None:
        """Return once the host accepts commands; raise ``HostNotReady`` at the timeout."""
        ...

    def run(self, host: Host, script: str, timeout_seconds: float) -> CommandResult:
        """Run a bash script on the host and return its exit code and output."""
        ...

    def terminate(self, host: Host) -> None:
        """Stop the host and everything it started; calling it twice is harmless."""
        ...

    def find_expired(self, purpose_tag: tuple[str, str], older_than: datetime) -> list[Host]:
        """Hosts carrying the purpose tag launched before ``older_than`` (the janitor's list)."""
        ...
