"""Prefect tasks of checkpoint integrity: thin wrappers with their policies, then pure code.

Verification reads files that may change between runs: never cached. A checkpoint that
cannot be checked at all raises :class:`~blocks.errors.CheckpointInputError` (not retryable).
"""

from __future__ import annotations

from pathlib import Path

from prefect.cache_policies import NO_CACHE

from tasks.checkpoints.report import CheckpointReport
from tasks.checkpoints.verify import verify_checkpoint
from tasks.platform.steps import run_logger, step


@step(cache_policy=NO_CACHE)
def check_checkpoint(directory: str, require_manifest: bool = True) -> CheckpointReport:
    """Verify a checkpoint directory before anything loads it; the report is the verdict."""
    report = verify_checkpoint(Path(directory), require_manifest=require_manifest)
    if not report.ok:
        run_logger().warning(
            "checkpoint %s not verified: %s (%d findings)",
            directory,
            report.code,
            len(report.findings),
        )
    return report
