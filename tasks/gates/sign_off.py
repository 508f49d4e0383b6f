"""Apply an operator's answer (or its absence) to a manual gate waiting for sign-off."""

from __future__ import annotations

from tasks.gates.models import GateResult, GateStatus
from tasks.gates.scoring import SignOff


def apply_sign_off(
    result: GateResult, sign_off: SignOff | None, *, failure: str = ""
) -> GateResult:
    """Approved -> signed off; rejected or never answered -> failed, with who and why."""
    details = dict(result.details)
    if sign_off is None:
        details["sign_off"] = failure or "no answer"
        return result.model_copy(
            update={"status": GateStatus.FAILED, "reason": "sign_off_missing", "details": details}
        )
    details.update(
        signed_off_by=sign_off.who,
        evidence_link=sign_off.evidence_link,
        comment=sign_off.comment,
        manual_followup=False,
    )
    if not sign_off.approved:
        return result.model_copy(
            update={
                "status": GateStatus.FAILED,
                "reason": "rejected_by_operator",
                "details": details,
            }
        )
    return result.model_copy(update={"status": GateStatus.SIGNED_OFF, "details": details})
