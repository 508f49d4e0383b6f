"""GPU matrix promotion (seed 001): prove a candidate image on every GPU vendor, then promote.

evidence pack begun -> kill switch + config + candidate digest -> one run per environment at a
time (strict global limit) -> kill switch again -> authenticate -> janitor -> approved digest
before -> dry run: manifest check | legs in parallel (provision -> ready -> installer ->
onboarding verified by the control plane -> smoke job -> GPU info -> terminate) -> promote only
if every leg passed, the kill switch is still off, and the read-back shows the candidate ->
the same evidence pack finished, always (the crash hook completes it too).

``gpu_matrix_janitor`` is the same janitor on its own, hourly; as cleanup, it ignores the switch.
"""

from __future__ import annotations

import os

from prefect import flow
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from blocks.errors import ExitCode, KillSwitchOn, WardenError
from blocks.invariants import DEFAULT_INVARIANTS, EnvironmentSpec, load_invariants
from blocks.storage import persisted_results
from tasks.matrix.digest import ImageRef, parse_candidate
from tasks.matrix.errors import ManifestMissing, PromotionNotVisible, PromotionRaced
from tasks.matrix.evidence import (
    EvidencePack,
    Verdict,
    decide,
    git_sha,
    render_markdown,
    summary,
)
from tasks.matrix.evidence import table_rows as evidence_rows
from tasks.matrix.record import EvidenceJournal, complete_after_crash, evidence_folder
from tasks.matrix.steps import (
    authenticate,
    promote_digest,
    read_approved_digest,
    run_leg,
    sweep_expired_hosts,
    verify_candidate_manifest,
)
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import (
    emit,
    ensure_concurrency_limits,
    ensure_kill_switch_off,
    publish_summary,
    run_logger,
    slot,
)

PROCESS = "gpu-matrix"
CANDIDATE_ENV = "RADIX_CANDIDATE_DIGEST"


def _clean_up_after(flow, flow_run, state) -> None:
    """on_crashed / on_cancellation: terminate this run's hosts and complete its one pack."""
    params = flow_run.parameters
    environment = str(params.get("environment", "local"))
    started = flow_run.start_time or utc_now()
    env, problem = None, None
    try:
        env = load_invariants(params.get("invariants") or DEFAULT_INVARIANTS).environment(
            environment
        )
    except WardenError as exc:
        problem = f"no host could be looked for: {exc}"
    complete_after_crash(
        env=env,
        folder=evidence_folder(environment, str(flow_run.id), started, params.get("out")),
        base=_begun(
            str(flow_run.id),
            environment,
            started,
            params.get("candidate_digest") or os.environ.get(CANDIDATE_ENV, ""),
            bool(params.get("dry_run", False)),
        ),
        ended=f"{state.name}: {state.message or 'no message'}",
        problem=problem,
    )


def _begun(run_id: str, environment: str, started, candidate: str, dry_run: bool) -> dict:
    return {
        "run_id": run_id,
        "environment": environment,
        "git_sha": git_sha(),
        "started_at": started,
        "candidate_digest": candidate,
        "dry_run": dry_run,
    }


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
    started = utc_now()
    candidate_digest = candidate_digest or os.environ.get(CANDIDATE_ENV, "")
    run_id = str(current_run.id or f"local-{run_stamp(started)}")
    journal = EvidenceJournal.begin(
        evidence_folder(environment, run_id, started, out),
        **_begun(run_id, environment, started, candidate_digest, dry_run),
    )
    try:
        ensure_kill_switch_off(PROCESS)
        env = load_invariants(invariants).environment(environment)
        journal.update(region=env.region)
        ref = parse_candidate(candidate_digest)
        limit = env.agent_promotion.concurrency_limit
        ensure_concurrency_limits({limit: 1})
        with slot(limit):  # serial per environment, queued
            ensure_kill_switch_off(PROCESS)  # the switch may have been turned on while queued
            emit(PROCESS, "begin", "environment", environment, {"candidate": str(ref)})
            _prove(env, ref, run_id, dry_run, journal)
    except KillSwitchOn as exc:
        journal.finish(verdict=Verdict.REFUSED, reasons=[str(exc)], exit_code=int(exc.code))
    except WardenError as exc:
        verdict = Verdict.DRY_RUN_FAILED if isinstance(exc, ManifestMissing) else Verdict.ERROR
        journal.finish(verdict=verdict, reasons=[str(exc)], exit_code=int(exc.code))
    except BaseException as exc:  # crashed: the pack is finished, then it propagates
        reason = f"{type(exc).__name__}: {exc}"
        journal.finish(verdict=Verdict.ERROR, reasons=[reason], exit_code=ExitCode.INTERNAL_ERROR)
        _publish(journal.pack)
        raise
    pack = _publish(journal.pack)
    run_logger().info("%s", summary(pack))
    if pack.exit_code:
        return Failed(message=summary(pack), data=pack)
    return Completed(message=summary(pack), data=pack)


def _prove(
    env: EnvironmentSpec, ref: ImageRef, run_id: str, dry_run: bool, journal: EvidenceJournal
) -> None:
    """Inside the environment's lock: auth to promotion, each step recorded as it finishes."""
    candidate = str(ref)
    credential = authenticate(env)
    journal.update(auth_method=credential.method)
    journal.update(janitor_terminated=sweep_expired_hosts(env))
    before = journal.update(approved_digest_before=read_approved_digest(env)).approved_digest_before
    if dry_run:
        journal.update(manifest=verify_candidate_manifest(ref, env))
        _finish(journal, env, Verdict.DRY_RUN_PASSED, [], ExitCode.OK)
        return
    token = credential.token  # in memory only: task parameters are not stored
    futures = [
        run_leg.submit(leg, env, run_id, candidate, token) for leg in env.agent_promotion.legs
    ]
    legs = journal.update(legs=[future.result() for future in futures]).legs
    passed, reasons = decide(legs)
    if not passed:
        _finish(journal, env, Verdict.NOT_PROMOTED, reasons, ExitCode.VERDICT_FAILED)
        return
    try:
        ensure_kill_switch_off(f"{PROCESS} (before promotion; every leg passed, nothing promoted)")
        after = promote_digest(env, candidate, before.version, f"gpu-matrix-promotion/{run_id}")
    except KillSwitchOn as exc:
        _finish(journal, env, Verdict.REFUSED, [str(exc)], exc.code)
        return
    except PromotionRaced as exc:
        _finish(journal, env, Verdict.NOT_PROMOTED, [str(exc)], exc.code)
        return
    except PromotionNotVisible as exc:
        journal.finish(
            approved_digest_after=exc.read_back,
            verdict=Verdict.ERROR,
            reasons=[str(exc)],
            exit_code=int(exc.code),
        )
        return
    journal.finish(
        approved_digest_after=after, verdict=Verdict.PROMOTED, promoted=True, exit_code=0
    )


def _finish(
    journal: EvidenceJournal, env: EnvironmentSpec, verdict: Verdict, reasons: list, code: int
) -> None:
    """Finish without a promotion: ``after`` is read again (another writer may have moved it)."""
    after = read_approved_digest(env)
    journal.finish(
        approved_digest_after=after, verdict=verdict, reasons=reasons, exit_code=int(code)
    )


def _publish(pack: EvidencePack) -> EvidencePack:
    """The finished pack as artifacts and a verdict event (the file is already written)."""
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
                "onboarding_verified": pack.onboarding_verified,
                "failure_codes": pack.failure_codes,
            },
        )
    except Exception as exc:  # the file is the record; artifacts are a view of it
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
    """Terminate this environment's expired hosts; returns their ids.

    Cleanup: it keeps working when the kill switch is on (it only ever terminates).
    """
    env = load_invariants(invariants).environment(environment)
    terminated = sweep_expired_hosts(env, ttl_hours)
    emit(PROCESS, "janitor", "environment", environment, {"terminated": terminated})
    return terminated
