"""The checkpoint gate: a checkpoint directory passes verification before it may ship.

The verdict is :func:`tasks.checkpoints.verify.verify_checkpoint`'s, unchanged: the gate passes
only on VERIFIED. A checkpoint that cannot be checked at all (not a directory, an unreadable
file, a corrupt manifest) fails the gate with that reason: it proves nothing.
"""

from __future__ import annotations

from pathlib import Path

from blocks.errors import CheckpointInputError
from blocks.gates import CheckpointGate
from tasks.checkpoints.verify import verify_checkpoint
from tasks.gates.models import CheckOutcome

SHOWN_FINDINGS = 20  # findings kept in a gate's details


def evaluate_checkpoint(gate: CheckpointGate, base_dir: Path) -> CheckOutcome:
    directory = base_dir / gate.path
    details: dict[str, object] = {"directory": str(directory)}
    try:
        report = verify_checkpoint(directory, require_manifest=gate.require_manifest)
    except CheckpointInputError as exc:
        details.update(code=exc.reason.value, message=exc.message, remediation=exc.remediation)
        return CheckOutcome(ok=False, reason=exc.reason.value.lower(), details=details)
    details.update(
        code=report.code.value,
        manifest_checked=report.manifest_checked,
        files=len(report.files),
        findings=[
            f"{f.code.value} {f.path or '.'}: {f.message}" for f in report.findings[:SHOWN_FINDINGS]
        ],
    )
    if not report.ok:
        details["message"] = report.findings[0].message
        details["remediation"] = report.findings[0].remediation
        return CheckOutcome(ok=False, reason=report.code.value.lower(), details=details)
    return CheckOutcome(ok=True, details=details)
