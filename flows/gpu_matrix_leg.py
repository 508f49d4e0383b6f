"""One GPU matrix leg on the worker of its own work pool (seed 001, vendor pools).

The promotion flow starts it, for a leg with ``work_pool: X``, as a flow run of the deployment
``gpu-matrix-leg/X`` and awaits it (tasks/matrix/steps.py ``run_leg_on_pool``). It runs the same
stages as a leg on the flow's own worker — provision -> ready -> installer -> onboarding ->
smoke -> GPU info, terminate always — on whatever machine serves pool X, and returns the leg's
result as JSON; the parent stamps it with the pool, the worker and this flow run's id.

kill switch -> the control plane's IdToken, obtained here (a flow run parameter is stored, so
the token never is one) -> the leg's stages.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from blocks.invariants import EnvironmentSpec
from blocks.storage import persisted_results
from tasks.matrix.steps import authenticate, run_leg
from tasks.platform.steps import ensure_kill_switch_off

PROCESS = "gpu-matrix"


@flow(
    name="gpu-matrix-leg",
    description="One GPU matrix leg on this work pool's worker; returns its leg result.",
    **persisted_results(),
)
def gpu_matrix_leg(env: EnvironmentSpec, leg: str, run_id: str, candidate: str) -> dict[str, Any]:
    """Run leg ``leg`` of ``env`` for the promotion run ``run_id`` on ``candidate``.

    ``env`` is the environment the parent validated, passed whole: this host needs no copy of
    the invariants file. The result is the leg's evidence, a failed leg included.
    """
    ensure_kill_switch_off(f"{PROCESS} leg {leg}")
    spec = env.agent_promotion.leg(leg)
    credential = authenticate(env)
    result = run_leg(spec, env, run_id, candidate, credential.token)
    return result.model_dump(mode="json")
