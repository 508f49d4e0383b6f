"""The LoRA gauntlet alone (seed 000's ``run_titanic_gauntlet.py``): the sealed dataset against
whatever a target serves, side by side; it deploys nothing.

kill switch -> the target's pointers -> candidate (default: the canary, else the stable adapter)
and baseline (default: the stable adapter) -> the gauntlet -> its verdict, published as the
``lora-gauntlet-<target>`` artifact. ``judge`` is also the canary's gauntlet in ``lora-deploy``.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from blocks.lora import DEFAULT_LORA_FILE, LoraFile, load_lora_file
from blocks.storage import persisted_results
from tasks.lora.sides import gauntlet_sides
from tasks.lora.steps import PROCESS, read_pointers, run_gauntlet
from tasks.lora.switches import GauntletMode
from tasks.lora.verdict import GauntletVerdict
from tasks.lora.verdict_summary import verdict_markdown, verdict_rows
from tasks.platform.keys import artifact_key
from tasks.platform.steps import ensure_kill_switch_off, publish_summary


def judge(
    target: str, lora: LoraFile, candidate: str, baseline: str | None, mode: GauntletMode
) -> GauntletVerdict:
    """Run the gauntlet and publish its verdict as the ``lora-gauntlet-<target>`` artifact."""
    verdict = run_gauntlet(target, lora, candidate, baseline, mode)
    key, title = artifact_key("lora-gauntlet", target), f"LoRA gauntlet {target}"
    publish_summary(key, verdict_markdown(verdict), verdict_rows(verdict), title)
    return verdict


@flow(
    name="lora-gauntlet",
    description="Run the sealed gauntlet against a target's canary and stable adapters.",
    **persisted_results(),
)
def lora_gauntlet(
    target: str = "demo",
    candidate: str | None = None,
    baseline: str | None = None,
    config: str = str(DEFAULT_LORA_FILE),
    mode: GauntletMode = GauntletMode.FULL,
) -> State:
    """The gauntlet alone: ``candidate`` (default: the canary, else the stable adapter) against
    ``baseline`` (default: the stable adapter; none on a first deploy). Names are model names.
    ``mode`` full runs every prompt, canary the stratified sample a deploy's canary runs."""
    lora = load_lora_file(config)
    prefix = lora.target(target).name_prefix
    ensure_kill_switch_off(PROCESS)  # first: a run stopped by it ends Failed (exit 3)
    pointers = read_pointers(target, lora)
    candidate, baseline = gauntlet_sides(target, prefix, pointers, candidate, baseline)
    verdict = judge(target, lora, candidate, baseline, GauntletMode(mode))
    message = f"{verdict.status}: " + "; ".join(r.message for r in verdict.reasons)
    return (Completed if verdict.passed else Failed)(message=message, data=verdict)
