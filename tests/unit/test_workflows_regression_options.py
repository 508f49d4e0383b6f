"""The regression gate's parameters as one value: default codes, suppressions only when used."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.errors import UsageError
from tasks.workflows.comparability import DEFAULT_MAX_MISSING
from tasks.workflows.regression_options import RegressionOptions

# fmt: off
CODES = [
    pytest.param(None, None, id="none-given"),
    pytest.param([], None, id="empty-list"),
    pytest.param(["PARSE_ERROR"], ("PARSE_ERROR",), id="one"),
    pytest.param(["IO_ERROR", "PARSE_ERROR"], ("IO_ERROR", "PARSE_ERROR"), id="in-order"),
]
# fmt: on


@pytest.mark.parametrize(("given", "codes"), CODES)
def test_no_codes_given_leaves_the_gate_its_default_codes(given, codes) -> None:
    options = RegressionOptions.of(codes=given)
    assert options.codes == codes
    assert ("codes" in options.keywords()) is (codes is not None)


def test_the_keywords_carry_every_other_option_as_given() -> None:
    options = RegressionOptions.of(abs_threshold=2, rel_threshold=0.5, fail_on_new_internal=True)
    assert options.keywords() == {
        "abs_threshold": 2,
        "rel_threshold": 0.5,
        "fail_on_new_internal": True,
        "max_missing": DEFAULT_MAX_MISSING,
        "suppressions": None,
    }


def test_a_suppression_file_is_used_only_when_suppressed_failures_are_excluded(
    tmp_path: Path,
) -> None:
    listed = tmp_path / "suppressions.txt"
    options = RegressionOptions.of(exclude_suppressed=True, suppressions=str(listed))
    assert options.suppressions == listed.resolve()
    assert RegressionOptions.of().suppressions is None
    with pytest.raises(UsageError):
        RegressionOptions.of(exclude_suppressed=False, suppressions=str(listed))
