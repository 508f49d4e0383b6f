"""The control-plane installer's digest comes from the approved-digest store and nowhere else.

Seed 001's ``get_cluster_installer_handler`` used to fall back to an environment variable and
then to a hard-coded default. Here the store is the only source: an empty store is exit 20
(``APPROVED_DIGEST_MISSING``), a stored value that does not parse is exit 21
(``APPROVED_DIGEST_INVALID``), each with numbered remediation steps. Nothing in this module
reads the environment, and a store that cannot be reached raises its own error, never "missing".
"""

from __future__ import annotations

from collections.abc import Callable

from blocks.errors import WardenError
from tasks.matrix.errors import ApprovedDigestInvalid, ApprovedDigestMissing
from tasks.matrix.store import DigestStore

MISSING_TAG = "RADIX_INSTALLER_ERROR: APPROVED_DIGEST_MISSING"
INVALID_TAG = "RADIX_INSTALLER_ERROR: APPROVED_DIGEST_INVALID"
_SHOWN_CHARS = 120


def resolve_approved(store: DigestStore, parse: Callable[[str], object]) -> str:
    """The approved reference, checked by ``parse`` (which raises on an invalid one)."""
    record = store.read()
    if record is None:
        raise ApprovedDigestMissing(
            _message(
                MISSING_TAG,
                f"parameter {store.parameter} holds no approved digest",
                [
                    "Run the GPU matrix for this environment with a pinned candidate "
                    "(warden matrix run --env <env> --digest <registry>/<repo>@sha256:<hex>); "
                    "a passing run promotes it.",
                    "Or bootstrap the parameter once with the current production digest "
                    f"(SSM: aws ssm put-parameter --name {store.parameter} --type String "
                    "--value <registry>/<repo>@sha256:<64 hex>).",
                    "Request the installer again; it has no environment-variable or default "
                    "fallback by design.",
                ],
            )
        )
    try:
        parse(record.value)
    except (WardenError, ValueError, TypeError) as exc:
        reason = exc.message if isinstance(exc, WardenError) else str(exc).splitlines()[0]
        shown = record.value[:_SHOWN_CHARS] + ("…" if len(record.value) > _SHOWN_CHARS else "")
        raise ApprovedDigestInvalid(
            _message(
                INVALID_TAG,
                f"parameter {store.parameter} (version {record.version}) holds {shown!r}, "
                f"which is not a pinned image reference: {reason}",
                [
                    "Find the last valid version in the parameter's history "
                    f"(SSM: aws ssm get-parameter-history --name {store.parameter}) or in the "
                    "last passing evidence pack.",
                    "Overwrite the parameter with it, in the form "
                    "<registry>/<repository>@sha256:<64 lowercase hex>.",
                    "Request the installer again; a tag or a malformed value is never served.",
                ],
            )
        ) from exc
    return record.value


def _message(tag: str, problem: str, steps: list[str]) -> str:
    numbered = "\n".join(f"  {n}. {step}" for n, step in enumerate(steps, start=1))
    return f"{tag}\n{problem}\nRemediation:\n{numbered}"
