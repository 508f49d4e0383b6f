"""Typed errors shared by every concern.

Each error carries a stable numeric ``code`` (the CLI's exit code), a one-sentence
``remediation`` and whether retrying could help. Expected negative outcomes (a gate that
fails) are data in a report, not errors; these are for input that cannot be used and
backends that cannot be reached.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every CLI subcommand; stable, documented in the README."""

    OK = 0
    VERDICT_FAILED = 1
    USAGE_ERROR = 2
    KILL_SWITCH_ON = 3
    BACKEND_UNAVAILABLE = 4
    INTERNAL_ERROR = 5


class WardenError(Exception):
    """Base of every error Release Warden raises on purpose."""

    code: int = ExitCode.INTERNAL_ERROR
    remediation: str = "Report this as a bug with the command and its output."
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        remediation: str | None = None,
        code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if remediation is not None:
            self.remediation = remediation
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    @property
    def name(self) -> str:
        try:
            return ExitCode(self.code).name
        except ValueError:
            return type(self).__name__

    def __str__(self) -> str:
        return f"{self.message} — {self.remediation}"

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "code": int(self.code),
            "message": self.message,
            "remediation": self.remediation,
            "retryable": self.retryable,
        }


class ConfigError(WardenError):
    """A configuration file is missing, unreadable or invalid; nothing was run."""

    code = ExitCode.USAGE_ERROR
    remediation = "Fix the file at the reported place and run again."

    def __init__(self, message: str, *, problems: list[str] | None = None, **kwargs) -> None:
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, **kwargs)


class UsageError(WardenError):
    """The command line asked for something that does not exist."""

    code = ExitCode.USAGE_ERROR
    remediation = "Check the command's --help for the accepted values."


class KillSwitchOn(WardenError):
    """The ``warden_kill_switch`` Variable is on: no flow may take a side effect."""

    code = ExitCode.KILL_SWITCH_ON
    remediation = (
        "Turn it off once it is safe: prefect variable set warden_kill_switch false --overwrite"
    )


class BackendUnavailable(WardenError):
    """A backend that configuration chose cannot be reached; there is no silent fallback."""

    code = ExitCode.BACKEND_UNAVAILABLE
    remediation = "Start the backend (for the local platform: make run) or fix its address."
    retryable = True
