"""How a matrix run ends: each way of ending gives one verdict, reason list and exit code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from blocks.errors import ConfigError, ExitCode, KillSwitchOn
from tasks.matrix.errors import ManifestMissing, PromotionNotVisible, PromotionRaced
from tasks.matrix.evidence import DigestState, Verdict
from tasks.matrix.verdicts import crashed, ending_of_checks, ending_of_error, promoted
from tests.unit.test_matrix_evidence import CANDIDATE, OTHER, leg, pack

T0 = datetime(2026, 1, 19, 2, 0, tzinfo=UTC)
READ_BACK = DigestState(value=OTHER, version=3, modified_at=T0)


class Interrupted(BaseException):
    pass


def in_progress(**fields):
    """A pack as the run holds it after its checks, before it ends."""
    base = {"verdict": Verdict.INCOMPLETE, "promoted": False, "exit_code": 5, "finished_at": None}
    return pack(**(base | {"approved_digest_after": None} | fields))


@pytest.mark.parametrize(
    ("exc", "verdict", "code"),
    [
        pytest.param(KillSwitchOn("on"), Verdict.REFUSED, 3, id="kill-switch"),
        pytest.param(ManifestMissing("404"), Verdict.DRY_RUN_FAILED, 1, id="manifest-missing"),
        pytest.param(PromotionRaced("moved"), Verdict.NOT_PROMOTED, 1, id="promotion-raced"),
        pytest.param(ConfigError("bad"), Verdict.ERROR, 2, id="a-warden-error"),
        pytest.param(RuntimeError("bug"), Verdict.ERROR, 5, id="a-crash"),
        pytest.param(Interrupted("lost"), Verdict.ERROR, 5, id="an-interrupt"),
    ],
)
def test_an_error_ends_the_run_by_its_type(exc, verdict, code) -> None:
    ending = ending_of_error(exc)
    assert (ending.verdict, ending.exit_code, ending.read_back) == (verdict, code, False)
    assert len(ending.reasons) == 1
    assert ending.fields()["promoted"] is False and "approved_digest_after" not in ending.fields()


def test_a_crash_names_its_type_and_propagates() -> None:
    assert ending_of_error(Interrupted("lost")).reasons == ["Interrupted: lost"]
    assert crashed(Interrupted()) and crashed(RuntimeError()) and not crashed(KillSwitchOn("x"))


def test_a_promotion_not_visible_keeps_what_was_read_back() -> None:
    ending = ending_of_error(PromotionNotVisible("not there", read_back=READ_BACK))
    assert (ending.verdict, ending.exit_code) == (Verdict.ERROR, 22)
    assert ending.read_back and ending.approved_digest_after == READ_BACK
    # the store is not read again: the read-back is the evidence
    assert ending.fields(after=DigestState())["approved_digest_after"] == READ_BACK


def test_an_ending_without_a_read_back_takes_the_store_read_again() -> None:
    assert ending_of_error(KillSwitchOn("on")).fields(after=READ_BACK)["approved_digest_after"] == (
        READ_BACK
    )


@pytest.mark.parametrize(
    ("fields", "verdict", "code"),
    [
        pytest.param({"dry_run": True, "legs": []}, Verdict.DRY_RUN_PASSED, 0, id="dry-run"),
        pytest.param({"legs": []}, Verdict.NOT_PROMOTED, 1, id="no-leg-ran"),
        pytest.param(
            {
                "legs": [
                    leg(),
                    leg(
                        name="amd",
                        status="failed",
                        failure_code="SMOKE_JOB_FAILED",
                        smoke_status="failed",
                        time_to_active_seconds=None,
                    ),
                ]
            },
            Verdict.NOT_PROMOTED,
            1,
            id="one-leg-failed",
        ),
    ],
)
def test_the_checks_end_the_run_unless_every_leg_passed(fields, verdict, code) -> None:
    ending = ending_of_checks(in_progress(**fields))
    assert (ending.verdict, ending.exit_code) == (verdict, code)
    assert bool(ending.reasons) == (verdict is Verdict.NOT_PROMOTED)


def test_every_leg_passing_goes_on_to_promote() -> None:
    assert ending_of_checks(in_progress(legs=[leg(), leg(name="amd")])) is None


def test_a_promotion_read_back_is_promoted_exit_0() -> None:
    after = DigestState(value=CANDIDATE, version=4, modified_at=T0)
    fields = promoted(after).fields()
    assert (fields["verdict"], fields["exit_code"], fields["promoted"]) == (
        Verdict.PROMOTED,
        ExitCode.OK,
        True,
    )
    assert fields["approved_digest_after"] == after
