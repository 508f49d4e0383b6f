"""Run the sealed gauntlet against a target: bounded concurrency, per-item latency and errors.

A target (:mod:`tasks.lora.gauntlet_targets`) answers one prompt at a time. Every item ends as
data: its output, whether it is correct, its latency and, when it could not be answered
(timeout, HTTP status, bad JSON, failed command), the error. Nothing an item does aborts the
run; the verdict judges the error rate. Both sides of a comparison run in one event loop at
once, so load and time of day hit candidate and stable alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from blocks.errors import UsageError
from tasks.lora.dataset import (
    Dataset,
    GauntletItem,
    ItemErrorKind,
    ItemResult,
    SideResult,
    score,
    summarize_side,
)
from tasks.lora.gauntlet_targets import GauntletTarget, TargetError
from tasks.lora.gauntlet_transport import PoolShards
from tasks.platform.clock import utc_now

OUTPUT_CHARS = 2_000  # answer text kept per item in a side's result
T = TypeVar("T")


class SideBySide(BaseModel):
    """The candidate (canary) and, unless this is a first deploy, the stable adapter's run."""

    model_config = ConfigDict(frozen=True)

    candidate: SideResult
    stable: SideResult | None


async def run_side(
    dataset: Dataset, target: GauntletTarget, *, concurrency: int = 16, timeout: float = 30.0
) -> SideResult:
    """Every item through ``target``, at most ``concurrency`` at once, each within ``timeout`` s."""
    _check_run_args(concurrency, timeout)
    started_at, started = utc_now(), time.perf_counter()
    gate = asyncio.Semaphore(concurrency)
    pools = PoolShards(concurrency)
    async with httpx.AsyncClient(transport=pools, timeout=httpx.Timeout(timeout)) as client:
        results = await asyncio.gather(
            *(_run_item(item, target, client, gate, timeout) for item in dataset.items)
        )
    return summarize_side(
        dataset,
        target.name,
        list(results),
        started_at=started_at,
        duration_s=time.perf_counter() - started,
        concurrency=concurrency,
    )


async def run_side_by_side(
    dataset: Dataset,
    candidate_target: GauntletTarget,
    stable_target: GauntletTarget | None,
    *,
    concurrency: int = 16,
    timeout: float = 30.0,
) -> SideBySide:
    """Candidate and stable in the same event loop at once (``concurrency`` per side)."""
    _check_run_args(concurrency, timeout)
    runs = [run_side(dataset, candidate_target, concurrency=concurrency, timeout=timeout)]
    if stable_target is not None:
        runs.append(run_side(dataset, stable_target, concurrency=concurrency, timeout=timeout))
    sides = await asyncio.gather(*runs)
    return SideBySide(candidate=sides[0], stable=sides[1] if len(sides) > 1 else None)


def run_side_sync(
    dataset: Dataset, target: GauntletTarget, *, concurrency: int = 16, timeout: float = 30.0
) -> SideResult:
    """``run_side`` from synchronous code."""
    return run_sync(run_side(dataset, target, concurrency=concurrency, timeout=timeout))


def run_sync(run: Coroutine[Any, Any, T]) -> T:
    """Await one of this module's coroutines from synchronous code (not in a running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run)
    run.close()
    raise UsageError(
        "a gauntlet run was started synchronously inside a running event loop",
        remediation="In async code (an async flow or task), await run_side(...) or "
        "run_side_by_side(...) instead.",
    )


async def _run_item(
    item: GauntletItem,
    target: GauntletTarget,
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    timeout: float,
) -> ItemResult:
    """One prompt; every failure becomes the item's error (latency excludes queueing)."""
    output: str | None = None
    kind: ItemErrorKind | None = None
    error: str | None = None
    async with gate:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                output = await target.complete(item.prompt, client)
        except TimeoutError:
            kind, error = ItemErrorKind.TIMEOUT, f"no answer within {timeout:g}s"
        except TargetError as exc:
            kind, error = exc.kind, exc.message
        except Exception as exc:  # a target's bug must count as an error, never as a pass
            kind, error = ItemErrorKind.TARGET_BUG, f"{type(exc).__name__}: {exc}"
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return ItemResult(
        id=item.id,
        domain=item.domain,
        output=None if output is None else output[:OUTPUT_CHARS],
        correct=output is not None and score(item, output),
        latency_ms=latency_ms,
        error=error,
        error_kind=kind,
    )


def _check_run_args(concurrency: int, timeout: float) -> None:
    if concurrency < 1:
        raise UsageError(f"gauntlet concurrency {concurrency!r}: must be >= 1")
    if not timeout > 0:
        raise UsageError(f"gauntlet timeout {timeout!r}: must be > 0 seconds")
