"""GPU matrix promotion (seed 001): prove a candidate image on every GPU vendor, then promote.

Its run record is the evidence pack (tasks/matrix/record.py): begun, updated after each step,
ended by a rule of tasks/matrix/verdicts.py; report, artifacts, event and crash hook read it.

pack begun -> kill switch + config + work pools + candidate -> one run per environment at a
time (strict global limit) -> switch again -> authenticate -> janitor -> approved digest before
-> dry run: manifest check | legs in parallel, here or as flow runs on their work pools
(provision -> ready -> installer -> onboarding verified by the control plane -> smoke -> GPU
info -> terminate) -> promote only if every leg passed, the switch is still off and the
read-back shows the candidate -> the same pack finished, always (the crash hook's too).

``gpu_matrix_janitor`` is the same janitor on its own, hourly; as cleanup, it ignores the switch.
"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run as current_run
from prefect.states import Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from blocks.defaults import DEFAULT_INVARIANTS
from blocks.errors import KillSwitchOn
from blocks.invariants import EnvironmentSpec, load_invariants
from blocks.storage import persisted_results
from tasks.matrix.digest import ImageRef, parse_candidate
from tasks.matrix.errors import PromotionNotVisible, PromotionRaced
from tasks.matrix.record import EvidenceJournal, RunStart, clean_up_after_run
from tasks.matrix.report import summary
from tasks.matrix.steps import (
    authenticate,
    check_work_pools,
    promote_digest,
    publish_evidence,
    read_approved_digest,
    submit_leg,
    sweep_expired_hosts,
    verify_candidate_manifest,
)
from tasks.matrix.verdicts import crashed, ending_of_checks, ending_of_error, promoted
from tasks.platform.clock import utc_now
from tasks.platform.steps import (
    emit,
    ensure_concurrency_limits,
    ensure_kill_switch_off,
    ensure_storage_ready,
    run_logger,
    slot,
)

PROCESS = "gpu-matrix"
AT_PROMOTION = "(before promotion; every leg passed, nothing promoted)"


def _clean_up_after(flow, flow_run, state) -> None:
    """on_crashed / on_cancellation: terminate this run's hosts and complete its one pack."""
    params = flow_run.parameters
    start = RunStart.of(flow_run.id, flow_run.start_time or utc_now(), **params)
    ended = f"{state.name}: {state.message or 'no message'}"
    clean_up_after_run(start, params.get("invariants"), params.get("out"), ended)


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
    start = RunStart.of(current_run.id, utc_now(), environment, candidate_digest, dry_run)
    journal = EvidenceJournal.begin(start.folder(out), **start.model_dump())
    try:
        ensure_kill_switch_off(PROCESS)
        env = load_invariants(invariants).environment(environment)
        journal.update(region=env.region)
        check_work_pools(env, start.dry_run)  # before any flow run: each leg's pool exists
        ref, limit = parse_candidate(start.candidate_digest), env.agent_promotion.concurrency_limit
        ensure_concurrency_limits({limit: 1})
        with slot(limit):  # serial per environment, queued
            ensure_kill_switch_off(PROCESS)  # the switch may have been turned on while queued
            emit(PROCESS, "begin", "environment", environment, {"candidate": str(ref)})
            _prove(env, ref, journal)
    except BaseException as exc:
        journal.end(ending_of_error(exc))
        if crashed(exc):  # the pack is finished and published, then the crash propagates
            publish_evidence(PROCESS, journal.pack)
            raise
    pack = publish_evidence(PROCESS, journal.pack)
    run_logger().info("%s", summary(pack))
    return (Failed if pack.exit_code else Completed)(message=summary(pack), data=pack)


def _prove(env: EnvironmentSpec, ref: ImageRef, journal: EvidenceJournal) -> None:
    """Inside the environment's lock: auth to promotion, each step recorded as it finishes."""
    run_id = journal.pack.run_id
    credential = authenticate(env)
    journal.update(auth_method=credential.method)
    journal.update(janitor_terminated=sweep_expired_hosts(env))
    before = journal.update(approved_digest_before=read_approved_digest(env)).approved_digest_before
    if journal.pack.dry_run:
        journal.update(manifest=verify_candidate_manifest(ref, env))
    else:  # the token stays in memory: task parameters are not stored
        legs = env.agent_promotion.legs
        futures = [submit_leg(leg, env, run_id, str(ref), credential.token) for leg in legs]
        journal.update(legs=[future.result() for future in futures])
    ending = ending_of_checks(journal.pack)
    if ending is None:  # every leg passed: promote, unless the switch was turned on meanwhile
        try:
            ensure_kill_switch_off(f"{PROCESS} {AT_PROMOTION}")
            writer = f"gpu-matrix-promotion/{run_id}"
            journal.end(promoted(promote_digest(env, str(ref), before.version, writer)))
            return
        except (KillSwitchOn, PromotionRaced, PromotionNotVisible) as exc:
            ending = ending_of_error(exc)
    # not promoted: the store is read again (another writer may have moved it)
    journal.end(ending, after=None if ending.read_back else read_approved_digest(env))


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
    """Terminate this environment's expired hosts; returns their ids. Cleanup: it keeps working
    when the kill switch is on (it only ever terminates); its result storage must work."""
    ensure_storage_ready()
    env = load_invariants(invariants).environment(environment)
    terminated = sweep_expired_hosts(env, ttl_hours)
    emit(PROCESS, "janitor", "environment", environment, {"terminated": terminated})
    return terminated
