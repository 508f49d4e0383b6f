"""What the regression gate compares and how: the flow's parameters as one typed value.

Two rules live here rather than in the flow: no codes given (None or an empty list) means the
gate's default codes, and a suppression file is used only with ``exclude_suppressed`` (a path
without it would do nothing, so it is refused; see ``corpus.suppression_list``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tasks.workflows.comparability import DEFAULT_MAX_MISSING
from tasks.workflows.corpus import suppression_list


class RegressionOptions(BaseModel):
    """The gate's thresholds and scope; ``codes`` None: the default codes."""

    model_config = ConfigDict(frozen=True)

    abs_threshold: int = 5
    rel_threshold: float = 0.10
    codes: tuple[str, ...] | None = None
    fail_on_new_internal: bool = False
    max_missing: float = DEFAULT_MAX_MISSING
    suppressions: Path | None = None

    @classmethod
    def of(
        cls,
        *,
        codes: list[str] | None = None,
        exclude_suppressed: bool = False,
        suppressions: str | None = None,
        **thresholds: Any,
    ) -> RegressionOptions:
        """From the flow's parameters: empty ``codes`` are the defaults; the suppression file
        resolved (or refused) by ``suppression_list``."""
        return cls(
            codes=tuple(codes) if codes else None,
            suppressions=suppression_list(exclude_suppressed, suppressions),
            **thresholds,
        )

    def keywords(self) -> dict[str, Any]:
        """``compare_baseline_files``'s keyword arguments; unset codes are left to its default."""
        return self.model_dump(exclude={"codes"} if self.codes is None else set())
