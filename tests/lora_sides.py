"""Synthetic gauntlet datasets and sides for tests: exact numbers, no server."""

from __future__ import annotations

from tasks.lora.dataset import (
    Dataset,
    GauntletItem,
    ItemErrorKind,
    ItemResult,
    MatchKind,
    SideResult,
    summarize_side,
)
from tasks.platform.clock import utc_now


def dataset(general: int = 90, safety: int = 10, sha: str = "a" * 64) -> Dataset:
    """``general`` prompts, then ``safety`` prompts in a domain the dataset marks critical."""
    items = [(f"g{i}", "general", False) for i in range(general)]
    items += [(f"s{i}", "safety", True) for i in range(safety)]
    return Dataset(
        path="memory.jsonl",
        sha256=sha,
        items=tuple(
            GauntletItem(id=i, domain=d, prompt=i, expected="x", match=MatchKind.EXACT, critical=c)
            for i, d, c in items
        ),
    )


def side(
    data: Dataset | None = None,
    *,
    wrong: int = 0,
    wrong_safety: int = 0,
    errors: int = 0,
    latency: float = 100.0,
    name: str = "adapter",
) -> SideResult:
    """A side whose first ``wrong`` general answers are wrong and last ``errors`` failed."""
    data = data or dataset()
    general = [item for item in data.items if item.domain == "general"]
    failed = {item.id for item in general[len(general) - errors :]} if errors else set()
    missed = {item.id for item in general[:wrong]} | {f"s{i}" for i in range(wrong_safety)}
    results = [
        ItemResult(
            id=item.id,
            domain=item.domain,
            output=None if item.id in failed else "x",
            correct=item.id not in failed | missed,
            latency_ms=latency,
            error="HTTP 503" if item.id in failed else None,
            error_kind=ItemErrorKind.HTTP_STATUS if item.id in failed else None,
        )
        for item in data.items
    ]
    return summarize_side(data, name, results, started_at=utc_now(), duration_s=1.0, concurrency=4)
