"""cli.output.as_declared: a run's result read back as the model its flow declares."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.states import Completed, State
from pydantic import BaseModel, ValidationError


class Verdict(BaseModel):
    ok: bool
    failed: list[str]


@flow
def returns_a_model() -> Verdict:
    return Verdict(ok=True, failed=[])


@flow
def returns_a_state() -> State:
    return Completed(data=Verdict(ok=True, failed=[]))


def test_a_result_re_read_as_json_becomes_the_declared_model_again() -> None:
    from cli.output import as_declared

    read_back = as_declared(returns_a_model, {"ok": False, "failed": ["lint"]})
    assert read_back == Verdict(ok=False, failed=["lint"])


def test_the_returned_object_passes_unchanged() -> None:
    from cli.output import as_declared

    verdict = Verdict(ok=True, failed=[])
    assert as_declared(returns_a_model, verdict) is verdict


def test_json_that_is_not_the_declared_model_is_refused() -> None:
    from cli.output import as_declared

    with pytest.raises(ValidationError):
        as_declared(returns_a_model, {"ok": "maybe"})


def test_a_flow_declaring_a_state_keeps_the_dict() -> None:
    from cli.output import as_declared

    assert as_declared(returns_a_state, {"ok": True}) == {"ok": True}
