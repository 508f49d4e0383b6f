"""Before anything is deployed: the mock gauntlet on production, a version's bytes, a live
canary."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.lora import TargetSpec
from tasks.lora.admission import MockGauntletRefused, already_stable, check_mock_allowed
from tasks.lora.registry import Pointers, VersionConflict
from tasks.lora.switches import Switches

ENDPOINT = {"endpoint": {"base_url": "http://127.0.0.1:1"}}
MOCK = Switches(gauntlet_enabled=True, skip_gauntlet=True)


def spec(**fields) -> TargetSpec:
    return TargetSpec(kind="local", **ENDPOINT, **fields)


# fmt: off
MOCK_CASES = [
    # target fields, switches, refused
    pytest.param({}, MOCK, False, id="not-production"),
    pytest.param({"production": True}, MOCK, True, id="production-refuses-the-mock"),
    pytest.param({"production": True, "allow_mock_gauntlet": True}, MOCK, False,
                 id="production-allows-it-explicitly"),
    pytest.param({"production": True}, Switches(gauntlet_enabled=True), False,
                 id="production-real-gauntlet"),
    pytest.param({"production": True}, Switches(skip_gauntlet=True), False,
                 id="production-gauntlet-disabled-no-mock-runs"),
]
# fmt: on


@pytest.mark.parametrize(("fields", "switches", "refused"), MOCK_CASES)
def test_the_mock_gauntlet_on_production(fields: dict, switches: Switches, refused: bool) -> None:
    if refused:
        with pytest.raises(MockGauntletRefused) as caught:
            check_mock_allowed("prod", spec(**fields), switches)
        assert caught.value.code == ExitCode.USAGE_ERROR
        assert isinstance(caught.value, ConfigError)
    else:
        check_mock_allowed("prod", spec(**fields), switches)


def test_allow_mock_gauntlet_without_production_does_nothing_so_it_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(allow_mock_gauntlet=True)
    assert [error["type"] for error in caught.value.errors()] == ["value_error"]


SHA, OTHER = "a" * 64, "b" * 64

# fmt: off
VERSION_CASES = [
    # pointers, stored sha, result (True/False) or the error type
    pytest.param(Pointers(), None, False, id="new-version"),
    pytest.param(Pointers(stable="v1"), SHA, True, id="stable-with-these-bytes"),
    pytest.param(Pointers(stable="v1"), OTHER, VersionConflict, id="stable-with-other-bytes"),
    pytest.param(Pointers(stable="v0"), OTHER, VersionConflict, id="stored-with-other-bytes"),
    pytest.param(Pointers(stable="v0", canary="v9"), None, UsageError, id="another-canary-live"),
    pytest.param(Pointers(stable="v0", canary="v1"), SHA, False, id="own-canary-left-live"),
]
# fmt: on


@pytest.mark.parametrize(("pointers", "stored", "expected"), VERSION_CASES)
def test_what_a_version_name_allows(pointers: Pointers, stored: str | None, expected) -> None:
    if isinstance(expected, bool):
        assert already_stable(pointers, "v1", stored, SHA) is expected
        return
    with pytest.raises(expected) as caught:
        already_stable(pointers, "v1", stored, SHA)
    assert caught.value.code == ExitCode.USAGE_ERROR
