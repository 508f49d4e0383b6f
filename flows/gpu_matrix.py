"""GPU matrix promotion (seed 001): prove a candidate image on every GPU vendor, then promote.

config + kill switch + candidate digest -> one run per environment at a time (strict global
limit) -> authenticate -> janitor -> approved digest before -> dry run: manifest check | legs in
parallel (provision -> ready -> installer -> onboarding -> smoke job -> GPU info -> terminate)
-> promote only if every leg passed (compare-and-set, read back) -> evidence pack, always.

``gpu_matrix_janitor`` is the same janitor on its own, hourly.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from blocks.errors import ExitCode, KillSwitchOn, WardenError
from blocks.invariants import DEFAULT_INVARIANTS, EnvironmentSpec, load_invariants
from blocks.storage import persisted_results
from tasks.matrix.digest import ImageRef, parse_candidate
from tasks.matrix.errors import ManifestMissing, PromotionRaced
from tasks.matrix.evidence import (
    EvidencePack,
    Verdict,
    decide,
    evidence_root,
    git_sha,
    render_markdown,
    write_evidence,
)
from tasks.matrix.evidence import table_rows as evidence_rows
from tasks.matrix.janitor import terminate_expired
from tasks.matrix.steps import (
    authenticate,
    promote_digest,
    read_approved_digest,
    run_leg,
    sweep_expired_hosts,
    verify_candidate_manifest,
)
from tasks.matrix.wiring import providers_of
from tasks.platform.naming import artifact_key, run_stamp, utc_now
from tasks.platform.steps import (
    emit,
    ensure_concurrency_limits,
    ensure_kill_switch_off,
    publish_summary,
    run_logger,
    slot,
)

PROCESS = "gpu-matrix"
RUN_ID_TAG = "warden:run-id"
CANDIDATE_ENV = "RADIX_CANDIDATE_DIGEST"


def _clean_up_after(flow, flow_run, state) -> None:
    """on_crashed / on_cancellation: terminate this run's hosts and leave evidence of why."""
    params = flow_run.parameters
    env_name = params.get("environment", "local")
    try:
        env = load_invariants(params.get("invariants") or DEFAULT_INVARIANTS).environment(env_name)
    except WardenError:
        return
    this_run = (RUN_ID_TAG, str(flow_run.id))
    soon = utc_now() + timedelta(minutes=1)  # TTL 0 from a moment ahead: every host of this run
    gone = [
        host.id
        for provider in providers_of(env)
        for host in terminate_expired(provider, this_run, 0, soon)
    ]
    started = flow_run.start_time or utc_now()
    pack = EvidencePack(
        run_id=str(flow_run.id),
        environment=env_name,
        git_sha=git_sha(),
        started_at=started,
        finished_at=utc_now(),
        candidate_digest=str(params.get("candidate_digest", "")),
        dry_run=bool(params.get("dry_run", False)),
        region=env.region,
        janitor_terminated=gone,
        verdict=Verdict.ERROR,
        reasons=[f"the run ended {state.name}: {state.message or 'no message'}"],
        exit_code=int(ExitCode.INTERNAL_ERROR),
    )
    write_evidence(pack, evidence_root(env_name) / run_stamp(started))


@flow(
    name="gpu-matrix-promotion",
    description="Prove a candidate image on every GPU vendor, then promote its digest.",
    task_runner=ThreadPoolTaskRunner(max_workers=16),
    **persisted_results(),
    on_crashed=[_clean_up_after],
    on_cancellation=[_clean_up_after],
)
def gpu_matrix_promotion(
    environment: str = "local",
    candidate_digest: str = "",
    dry_run: bool = False,
    invariants: str = str(DEFAULT_INVARIANTS),
    out: str | None = None,
) -> State:
    """Test ``candidate_digest`` on each leg of ``environment``; promote it if all pass.

    ``dry_run`` checks the candidate's manifest in its registry and provisions nothing. An
    empty ``candidate_digest`` is read from ``RADIX_CANDIDATE_DIGEST`` (the seed's CI input).
    """
    logger = run_logger()
    started = utc_now()
    candidate_digest = candidate_digest or os.environ.get(CANDIDATE_ENV, "")
    run_id = str(current_run.id or f"local-{run_stamp(started)}")
    env = load_invariants(invariants).environment(environment)
    facts: dict = {
        "run_id": run_id,
        "environment": environment,
        "git_sha": git_sha(),
        "started_at": started,
        "candidate_digest": candidate_digest,
        "dry_run": dry_run,
        "region": env.region,
    }
    try:
        ensure_kill_switch_off(PROCESS)
        ref = parse_candidate(candidate_digest)
        limit = env.agent_promotion.concurrency_limit
        ensure_concurrency_limits({limit: 1})
        with slot(limit):  # serial per environment, queued
            emit(PROCESS, "begin", "environment", environment, {"candidate": str(ref)})
            facts.update(_prove(env, ref, run_id, dry_run, facts))
    except KillSwitchOn as exc:
        facts.update(verdict=Verdict.REFUSED, reasons=[str(exc)], exit_code=int(exc.code))
    except WardenError as exc:
        verdict = Verdict.DRY_RUN_FAILED if isinstance(exc, ManifestMissing) else Verdict.ERROR
        facts.update(verdict=verdict, reasons=[str(exc)], exit_code=int(exc.code))
    except BaseException as exc:  # crashed: the evidence is still written, then it propagates
        facts.update(
            verdict=Verdict.ERROR,
            reasons=[f"{type(exc).__name__}: {exc}"],
            exit_code=int(ExitCode.INTERNAL_ERROR),
        )
        _publish(facts, out, started)
        raise
    pack = _publish(facts, out, started)
    logger.info("verdict %s: %s", pack.verdict, "; ".join(pack.reasons) or "every leg passed")
    message = f"{pack.verdict}: " + ("; ".join(pack.reasons) or "every leg passed")
    if pack.exit_code:
        return Failed(message=message, data=pack)
    return Completed(message=message, data=pack)


def _prove(env: EnvironmentSpec, ref: ImageRef, run_id: str, dry_run: bool, facts: dict) -> dict:
    """Inside the environment's lock: everything from auth to promotion.

    ``facts`` is updated as steps finish, so a crash later still leaves them in the evidence.
    """
    candidate = str(ref)
    found: dict = {"auth_method": authenticate(env)}
    facts.update(found)
    found["janitor_terminated"] = sweep_expired_hosts(env)
    before = read_approved_digest(env)
    found.update(approved_digest_before=before, approved_digest_after=before)
    facts.update(found)
    if dry_run:
        found["manifest"] = verify_candidate_manifest(ref, env)
        return found | {"verdict": Verdict.DRY_RUN_PASSED, "exit_code": 0}

    futures = [run_leg.submit(leg, env, run_id, candidate) for leg in env.agent_promotion.legs]
    legs = [future.result() for future in futures]
    found["legs"] = legs
    facts.update(found)
    passed, reasons = decide(legs)
    if not passed:
        return found | {
            "verdict": Verdict.NOT_PROMOTED,
            "reasons": reasons,
            "exit_code": int(ExitCode.VERDICT_FAILED),
        }
    try:
        after = promote_digest(env, candidate, before.version, f"gpu-matrix-promotion/{run_id}")
    except PromotionRaced as exc:
        return found | {
            "approved_digest_after": read_approved_digest(env),
            "verdict": Verdict.NOT_PROMOTED,
            "reasons": [str(exc)],
            "exit_code": int(exc.code),
        }
    return found | {"approved_digest_after": after, "verdict": Verdict.PROMOTED, "promoted": True}


def _publish(facts: dict, out: str | None, started: datetime) -> EvidencePack:
    """Evidence pack to disk (with the flow's result) and as artifacts, whatever happened."""
    pack = EvidencePack(**({"verdict": Verdict.ERROR} | facts | {"finished_at": utc_now()}))
    target = Path(out) if out else evidence_root(pack.environment) / run_stamp(started)
    write_evidence(pack, target)
    key = artifact_key(PROCESS + "-evidence", pack.environment)
    try:
        publish_summary(
            key,
            render_markdown(pack),
            evidence_rows(pack) or [{"verdict": pack.verdict}],
            f"GPU matrix evidence {pack.environment}",
        )
        emit(
            PROCESS,
            "verdict",
            "environment",
            pack.environment,
            {
                "verdict": str(pack.verdict),
                "candidate": pack.candidate_digest,
                "promoted": pack.promoted,
                "failure_codes": pack.failure_codes,
            },
        )
    except Exception as exc:  # the file above is the record; artifacts are a view of it
        run_logger().warning("could not publish the evidence artifacts: %s", exc)
    return pack


@flow(
    name="gpu-matrix-janitor",
    description="Terminate GPU matrix hosts that outlived their TTL (tagged with the purpose).",
    **persisted_results(),
)
def gpu_matrix_janitor(
    environment: str = "local",
    ttl_hours: float | None = None,
    invariants: str = str(DEFAULT_INVARIANTS),
) -> list[str]:
    """Terminate this environment's expired hosts; returns their ids."""
    env = load_invariants(invariants).environment(environment)
    ensure_kill_switch_off(PROCESS + "-janitor")
    terminated = sweep_expired_hosts(env, ttl_hours)
    emit(PROCESS, "janitor", "environment", environment, {"terminated": terminated})
    return terminated
