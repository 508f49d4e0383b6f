"""The drill's verdict from its Chaos Toolkit journal (pure): ``ok`` only when the steady state
held before and after, the journal did not deviate, its status is ``completed``, every activity
of the method succeeded and every ``verify-*`` probe passed. Anything missing is a failure."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tasks.drills.experiment import VERIFY
from tasks.platform.frozen import Frozen


class Verification(Frozen):
    name: str
    passed: bool
    detail: str
    measured: dict[str, Any] = Field(default_factory=dict)


class Judgement(Frozen):
    status: str  # the journal's: completed, failed, aborted, interrupted
    deviated: bool
    steady_before: bool
    steady_after: bool
    failed_activities: list[str] = Field(default_factory=list)
    verifications: list[Verification] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.status == "completed"
            and not self.deviated
            and self.steady_before
            and self.steady_after
            and not self.failed_activities
            and bool(self.verifications)
            and all(v.passed for v in self.verifications)
        )


def _met(state: dict[str, Any] | None) -> bool:
    return bool(state) and state.get("steady_state_met") is True


def verification_of(run: dict[str, Any]) -> Verification:
    """A ``verify-*`` probe's run: its output, or why it gave none (a failed verification)."""
    name = run["activity"]["name"].removeprefix(VERIFY)
    output = run.get("output")
    if run.get("status") != "succeeded" or not isinstance(output, dict):
        error = "".join(run.get("exception") or []).strip() or "no output"
        return Verification(name=name, passed=False, detail=f"the probe failed: {error}")
    return Verification(
        name=name,
        passed=output.get("passed") is True,
        detail=str(output.get("detail", "")),
        measured=dict(output.get("measured") or {}),
    )


def judge(journal: dict[str, Any], expected: list[str]) -> Judgement:
    """``expected``: the names of the method's verify probes (one that never ran fails)."""
    runs = journal.get("run") or []
    states = journal.get("steady_states") or {}
    seen = {r["activity"]["name"]: r for r in runs}
    verifications = [
        verification_of(seen[name])
        if name in seen
        else Verification(name=name.removeprefix(VERIFY), passed=False, detail="did not run")
        for name in expected
    ]
    failed = [
        r["activity"]["name"]
        for r in runs
        if r.get("status") != "succeeded" and not r["activity"]["name"].startswith(VERIFY)
    ]
    return Judgement(
        status=str(journal.get("status")),
        deviated=bool(journal.get("deviated")),
        steady_before=_met(states.get("before")),
        steady_after=_met(states.get("after")),
        failed_activities=failed,
        verifications=verifications,
    )
