"""Attributable approvals: an approval counts only with a proof bound to the proposal.

Prefect's open-source server has no user identity, so a name typed into a form proves nothing.
Each approver holds a secret (a Prefect Secret block); the proof of a decision on a run is
``HMAC-SHA256(secret, f"{flow_run_id}:{decision}")`` in hex. A wrong proof, a proof for another
run or the other decision, an unknown approver, or an approver answering twice is rejected, and
a quorum counts distinct approvers with valid proofs only. Pure: no Prefect import.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Choice(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


def proof(secret: str, flow_run_id: str, decision: Choice | str) -> str:
    """The hex HMAC-SHA256 of ``"<flow_run_id>:<decision>"`` under the approver's secret."""
    message = f"{flow_run_id}:{Choice(decision).value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Ballot(BaseModel):
    """One answer to the approval form."""

    model_config = ConfigDict(frozen=True)

    approver: str
    decision: Choice
    proof: str
    reason: str = ""


class Judged(BaseModel):
    model_config = ConfigDict(frozen=True)

    ballot: Ballot
    counted: bool
    why: str  # why it counted, or why it was rejected


class Tally(BaseModel):
    """The ballots of one proposal, judged as they come."""

    flow_run_id: str
    quorum: int = Field(ge=1)
    judged: list[Judged] = Field(default_factory=list)

    @property
    def approvers(self) -> list[str]:
        """Distinct approvers whose valid approvals counted, in order."""
        return [
            j.ballot.approver
            for j in self.judged
            if j.counted and j.ballot.decision is Choice.APPROVE
        ]

    @property
    def rejected_by(self) -> Judged | None:
        """The first proven rejection (one vetoes the proposal), if any."""
        return next(
            (j for j in self.judged if j.counted and j.ballot.decision is Choice.REJECT), None
        )

    @property
    def reached(self) -> bool:
        return self.rejected_by is None and len(self.approvers) >= self.quorum

    def judge(self, ballot: Ballot, secrets: dict[str, str]) -> Judged:
        """Judge ``ballot`` with the approvers' secrets and keep it; returns the judgement."""
        judged = Judged(ballot=ballot, counted=False, why=_rejection(self, ballot, secrets))
        if not judged.why:
            judged = Judged(
                ballot=ballot,
                counted=True,
                why=f"{ballot.approver} {ballot.decision.value}d with a valid proof",
            )
        self.judged.append(judged)
        return judged


def _rejection(tally: Tally, ballot: Ballot, secrets: dict[str, str]) -> str:
    secret = secrets.get(ballot.approver)
    if secret is None:
        return f"{ballot.approver!r} is not an approver"
    if any(j.counted and j.ballot.approver == ballot.approver for j in tally.judged):
        return f"{ballot.approver} already answered: a second answer does not count"
    expected = proof(secret, tally.flow_run_id, ballot.decision)
    if not hmac.compare_digest(expected, ballot.proof.strip().lower()):
        return (
            f"{ballot.approver}'s proof is not valid for this run and decision "
            "(wrong secret, another run, or the other decision)"
        )
    return ""
