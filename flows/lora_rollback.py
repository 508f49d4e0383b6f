"""LoRA rollback by hand (seed 000's rollback handler): restore the last stable, drop the canary.

load the LoRA file -> roll_back (idempotent: no canary, nothing changes) -> when a canary was
removed, ``warden.gauntlet.rollback`` -> the RollbackResult.

Rollback is cleanup, so it keeps working under the kill switch (DESIGN.md): an operator stops
deploys with ``warden_kill_switch`` and can still take a bad canary out. ``warden lora rollback``
runs this flow.
"""

from __future__ import annotations

from prefect import flow

from blocks.lora import DEFAULT_LORA_FILE, load_lora_file
from blocks.storage import persisted_results
from tasks.lora.registry import RollbackResult
from tasks.lora.steps import roll_back
from tasks.platform.steps import ensure_storage_ready, run_logger


@flow(
    name="lora-rollback",
    description="The rollback handler by hand: restore the previous stable, unload the canary.",
    **persisted_results(),
)
def lora_rollback(target: str = "demo", config: str = str(DEFAULT_LORA_FILE)) -> RollbackResult:
    """Roll ``target``'s canary back; ``rolled_back`` is false when none was deployed."""
    ensure_storage_ready()  # no kill switch (a rollback undoes), but its result storage must work
    lora = load_lora_file(config)
    lora.target(target)  # an unknown target is a usage error before anything else
    result = roll_back(target, lora)  # emits warden.gauntlet.rollback when it removed one
    run_logger().info(result.message)
    return result
