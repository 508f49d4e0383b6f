"""How a matrix run ends: the verdict, reasons and exit code each way of ending gives.

Pure rules the flow applies in order. An error ends the run by its type (:func:`ending_of_error`);
after the checks (dry run or legs), :func:`ending_of_checks` says whether the run stops there or
goes on to promote; a promotion read back ends it :func:`promoted`. An ending that carries no
read-back of the approved digest leaves the store to be read again (``read_back`` false).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ExitCode, KillSwitchOn, WardenError
from tasks.matrix.errors import ManifestMissing, PromotionNotVisible, PromotionRaced
from tasks.matrix.evidence import DigestState, EvidencePack, Verdict, decide


class Ending(BaseModel):
    """The final fields of a run's evidence pack, as one of the rules below gives them."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    exit_code: int
    approved_digest_after: DigestState | None = None
    read_back: bool = False  # True: approved_digest_after is what the run read; don't read again

    def fields(self, after: DigestState | None = None) -> dict:
        """The pack's final fields; ``after`` is the store read again (unless ``read_back``)."""
        fields = {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "exit_code": self.exit_code,
            "promoted": self.verdict is Verdict.PROMOTED,
        }
        if self.read_back:
            fields["approved_digest_after"] = self.approved_digest_after
        elif after is not None:
            fields["approved_digest_after"] = after
        return fields


def crashed(exc: BaseException) -> bool:
    """Anything but a WardenError is a crash: the pack is finished, then it propagates."""
    return not isinstance(exc, WardenError)


def ending_of_error(exc: BaseException) -> Ending:
    """What an error ends the run with.

    The kill switch refuses; a missing manifest fails the dry run; another writer promoting
    first means not promoted; a promotion the store does not show is an error carrying what was
    read back; any other WardenError is an error with its code; anything else crashed (exit 5).
    """
    if not isinstance(exc, WardenError):
        reason = f"{type(exc).__name__}: {exc}"
        return Ending(
            verdict=Verdict.ERROR, reasons=[reason], exit_code=int(ExitCode.INTERNAL_ERROR)
        )
    reasons, code = [str(exc)], int(exc.code)
    if isinstance(exc, PromotionNotVisible):
        after = exc.read_back if isinstance(exc.read_back, DigestState) else None
        return Ending(
            verdict=Verdict.ERROR,
            reasons=reasons,
            exit_code=code,
            approved_digest_after=after,
            read_back=True,
        )
    verdict = next((v for kind, v in _VERDICT_OF_ERROR if isinstance(exc, kind)), Verdict.ERROR)
    return Ending(verdict=verdict, reasons=reasons, exit_code=code)


_VERDICT_OF_ERROR: tuple[tuple[type[WardenError], Verdict], ...] = (
    (KillSwitchOn, Verdict.REFUSED),
    (ManifestMissing, Verdict.DRY_RUN_FAILED),
    (PromotionRaced, Verdict.NOT_PROMOTED),
)


def ending_of_checks(pack: EvidencePack) -> Ending | None:
    """After the dry run or the legs: the ending, or None when every leg passed (promote).

    A dry run that got here found the manifest: it passed. A real run promotes only when at
    least one leg ran and every leg passed (:func:`decide`).
    """
    if pack.dry_run:
        return Ending(verdict=Verdict.DRY_RUN_PASSED, exit_code=int(ExitCode.OK))
    passed, reasons = decide(pack.legs)
    if passed:
        return None
    return Ending(
        verdict=Verdict.NOT_PROMOTED, reasons=reasons, exit_code=int(ExitCode.VERDICT_FAILED)
    )


def promoted(after: DigestState) -> Ending:
    """The promotion was written and read back as the candidate (``promote`` proved it)."""
    return Ending(
        verdict=Verdict.PROMOTED,
        exit_code=int(ExitCode.OK),
        approved_digest_after=after,
        read_back=True,
    )
