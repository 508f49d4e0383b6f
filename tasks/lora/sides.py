"""Which adapters a gauntlet compares, by the model names the target's endpoint knows them by.

A deploy's gauntlet runs its canary against the stable adapter (none on a first deploy). The
gauntlet alone (``lora-gauntlet``) takes the candidate and baseline it is given; by default the
canary (else the stable adapter) against the stable one, and no baseline when the candidate is
the stable adapter itself.
"""

from __future__ import annotations

from blocks.errors import UsageError
from tasks.lora.registry import Pointers, adapter_model_name


def served_models(prefix: str, pointers: Pointers) -> tuple[str | None, str | None]:
    """The canary's and the stable adapter's model names (None where the slot is empty)."""
    return (
        adapter_model_name(prefix, pointers.canary) if pointers.canary else None,
        adapter_model_name(prefix, pointers.stable) if pointers.stable else None,
    )


def gauntlet_sides(
    target: str,
    prefix: str,
    pointers: Pointers,
    candidate: str | None = None,
    baseline: str | None = None,
) -> tuple[str, str | None]:
    """``(candidate, baseline)`` for the gauntlet alone; a UsageError when there is nothing to
    run it against (no candidate given, no canary and no stable adapter)."""
    canary, stable = served_models(prefix, pointers)
    candidate = candidate or canary or stable
    if candidate is None:
        raise UsageError(
            f"target {target!r} has no canary and no stable adapter to run the gauntlet against",
            remediation="Deploy one first (warden lora deploy ADAPTER --target T) or pass "
            "--candidate.",
        )
    if baseline is None:
        baseline = stable if candidate != stable else None
    return candidate, baseline
