"""Which adapters a gauntlet compares: a table of pointers and choices."""

from __future__ import annotations

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.lora.registry import Pointers
from tasks.lora.sides import gauntlet_sides, served_models


def test_served_models_name_each_slot_with_the_prefix() -> None:
    assert served_models("demo", Pointers(stable="v1", canary="v2")) == ("demo-v2", "demo-v1")
    assert served_models("demo", Pointers(stable="v1")) == (None, "demo-v1")
    assert served_models("demo", Pointers()) == (None, None)


# fmt: off
SIDES = [
    # pointers, candidate given, baseline given -> candidate, baseline
    pytest.param(Pointers(stable="v1", canary="v2"), None, None, "p-v2", "p-v1", id="canary"),
    pytest.param(Pointers(stable="v1"), None, None, "p-v1", None, id="stable-alone"),
    pytest.param(Pointers(canary="v2"), None, None, "p-v2", None, id="first-deploy-canary"),
    pytest.param(Pointers(stable="v1"), "other", None, "other", "p-v1", id="given-candidate"),
    pytest.param(Pointers(stable="v1"), "p-v1", None, "p-v1", None, id="given-stable"),
    pytest.param(Pointers(stable="v1", canary="v2"), None, "base", "p-v2", "base",
                 id="given-baseline"),
    pytest.param(Pointers(), "other", None, "other", None, id="nothing-deployed-but-given"),
]
# fmt: on


@pytest.mark.parametrize(("pointers", "candidate", "baseline", "want_c", "want_b"), SIDES)
def test_gauntlet_sides(
    pointers: Pointers, candidate: str | None, baseline: str | None, want_c: str, want_b: str
) -> None:
    assert gauntlet_sides("t", "p", pointers, candidate, baseline) == (want_c, want_b)


def test_nothing_to_run_the_gauntlet_against_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        gauntlet_sides("demo", "p", Pointers())
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert "no canary and no stable adapter" in caught.value.message  # the one message test
