"""Typed errors shared by every concern.

Each error carries a stable numeric ``code`` (the CLI's exit code), a one-sentence
``remediation`` and whether retrying could help. Expected negative outcomes (a gate that
fails) are data in a report, not errors; these are for input that cannot be used and
backends that cannot be reached.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


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


class CheckpointCode(StrEnum):
    """Why a checkpoint directory is not verified (a report's ``code``; README lists them).

    Declared in order of precedence: a report's ``code`` is the first of its findings' codes.
    """

    VERIFIED = "VERIFIED"  # every check ran and passed
    PICKLE_UNSAFE_GLOBAL = "PICKLE_UNSAFE_GLOBAL"  # imports a global off the weights-only list
    MANIFEST_MISSING = "MANIFEST_MISSING"  # no manifest, and one is required
    FILE_MISSING = "FILE_MISSING"  # in the manifest, not on disk
    SIZE_MISMATCH = "SIZE_MISMATCH"  # torn or truncated write
    DIGEST_MISMATCH = "DIGEST_MISMATCH"  # same size, other bytes (SHA-256 or CRC32)
    FILE_EXTRA = "FILE_EXTRA"  # on disk, not in the manifest
    NOT_A_REGULAR_FILE = "NOT_A_REGULAR_FILE"  # a FIFO, socket, device or directory link
    SAFETENSORS_INVALID = "SAFETENSORS_INVALID"  # header or layout is not valid safetensors
    PICKLE_INVALID = "PICKLE_INVALID"  # not a complete pickle / torch archive, or not weights
    NO_SUPPORTED_FILE = "NO_SUPPORTED_FILE"  # no safetensors, torch or pickle file at all
    # bad input: raised as CheckpointInputError (exit 2), never a report's code
    NOT_A_DIRECTORY = "NOT_A_DIRECTORY"
    UNREADABLE = "UNREADABLE"
    MANIFEST_CORRUPT = "MANIFEST_CORRUPT"
    MANIFEST_EXISTS = "MANIFEST_EXISTS"


CHECKPOINT_REMEDIATION: dict[CheckpointCode, str] = {
    CheckpointCode.VERIFIED: "Nothing to do.",
    CheckpointCode.PICKLE_UNSAFE_GLOBAL: (
        "Do not load it: it would run code on load. Re-save the weights as safetensors, or as a "
        "plain state_dict with torch.save, from a trusted source."
    ),
    CheckpointCode.MANIFEST_MISSING: (
        "Seal the checkpoint where it was written (warden checkpoint seal DIR), or verify with "
        "--no-require-manifest to check the file formats only."
    ),
    CheckpointCode.FILE_MISSING: "Copy the checkpoint again from the place it was sealed.",
    CheckpointCode.SIZE_MISMATCH: (
        "The file is torn or truncated: copy or write the checkpoint again, then verify."
    ),
    CheckpointCode.DIGEST_MISMATCH: (
        "The file's bytes changed since it was sealed: copy the checkpoint again from a good "
        "source; re-seal only if the change is known and intended."
    ),
    CheckpointCode.FILE_EXTRA: (
        "Remove the file, or re-seal the checkpoint if the file belongs to it."
    ),
    CheckpointCode.NOT_A_REGULAR_FILE: (
        "Replace the entry with a regular file (or remove it): it is never opened."
    ),
    CheckpointCode.SAFETENSORS_INVALID: (
        "Re-export the weights with safetensors (save_pretrained(dir, safe_serialization=True))."
    ),
    CheckpointCode.PICKLE_INVALID: (
        "Write the file again with torch.save (zip format, a plain state_dict), or better as "
        "safetensors."
    ),
    CheckpointCode.NO_SUPPORTED_FILE: (
        "Point at the directory that holds the weights (.safetensors, .pt, .bin, .ckpt, .pkl)."
    ),
    CheckpointCode.NOT_A_DIRECTORY: "Pass the checkpoint's directory, not a file or a typo.",
    CheckpointCode.UNREADABLE: (
        "Make every file of the checkpoint readable by this user (permissions, I/O errors), "
        "then run again."
    ),
    CheckpointCode.MANIFEST_CORRUPT: (
        "Restore the manifest from where the checkpoint was sealed, or re-seal it there "
        "(warden checkpoint seal DIR --overwrite) if the files are known good."
    ),
    CheckpointCode.MANIFEST_EXISTS: (
        "The checkpoint is already sealed: verify it, or pass --overwrite to seal it again."
    ),
}


class CheckpointInputError(WardenError):
    """A checkpoint could not be checked at all (bad input); nothing was loaded or written."""

    code = ExitCode.USAGE_ERROR

    def __init__(self, reason: CheckpointCode, message: str) -> None:
        super().__init__(message, remediation=CHECKPOINT_REMEDIATION[reason])
        self.reason = reason

    @property
    def name(self) -> str:
        return self.reason.value

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason.value}


class IntentCode(StrEnum):
    """Why an intent was not routed (the answer's ``code``; README lists them)."""

    UNKNOWN_INTENT = "unknown_intent"  # the type is not in the intents file
    MISSING_ACTOR = "missing_actor"
    BAD_CONTEXT = "bad_context"  # mission context names a goal the charter does not have
    BAD_PARAMETERS = "bad_parameters"  # not valid against the deployment's parameter schema
    NO_DEPLOYMENT = "no_deployment"  # the target deployment is not on the Prefect API
    NO_WORK_POOL = "no_work_pool"  # tier 4: the deployment has no pool for the emergency queue
    KILL_SWITCH = "kill_switch"  # tiers 0-3 refused while the kill switch is on
    APPROVAL_REJECTED = "approval_rejected"  # an approver rejected it with a valid proof
    APPROVAL_TIMEOUT = "approval_timeout"  # no valid approval (or no quorum) before the timeout


# Refused as bad input (exit 2) rather than as a governance decision (exit 1).
INTENT_INPUT_CODES = frozenset(
    {
        IntentCode.UNKNOWN_INTENT,
        IntentCode.MISSING_ACTOR,
        IntentCode.BAD_CONTEXT,
        IntentCode.BAD_PARAMETERS,
        IntentCode.NO_DEPLOYMENT,
        IntentCode.NO_WORK_POOL,
    }
)


class IntentInputError(WardenError):
    """An intent that cannot be routed as submitted; nothing ran."""

    code = ExitCode.USAGE_ERROR
    remediation = "Fix the intent (type, actor, parameters, mission context) and submit again."

    def __init__(self, reason: IntentCode, message: str) -> None:
        self.reason = reason
        super().__init__(message)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reason": self.reason.value}
