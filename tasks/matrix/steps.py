"""Prefect tasks of the GPU matrix: thin wrappers with their retry and cache policies.

Legs with a ``work_pool`` are flow runs of the leg deployment on that pool (``run_leg_on_pool``,
rules in ``tasks.matrix.pools``). Side-effecting tasks (provision, terminate, promote) never
cache; provisioning retries only what the provider marks retryable (capacity), with exponential
backoff. A leg is one parent task (``run_leg``) whose stages each call a nested task, so the UI
shows each stage with its own retries; ``tasks.matrix.pipeline`` runs them in order and always
terminates the host. Each task run's name is its function's name. The IdToken travels only in
memory: ``authenticate`` does not persist its result, and task parameters are not stored.
"""

from __future__ import annotations

import hashlib
import os
import socket
from uuid import UUID

from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling
from prefect.tasks import exponential_backoff
from pydantic import SecretStr

from blocks.errors import ConfigError
from blocks.invariants import EnvironmentSpec, LegSpec, render
from tasks.matrix.auth import ControlPlaneCredential, TokenProvider, refuse_expired
from tasks.matrix.control_plane import ControlPlane
from tasks.matrix.digest import ImageRef, verify_manifest
from tasks.matrix.errors import LegError, LegFailure, WorkPoolMissing, WorkPoolsNeedApi
from tasks.matrix.evidence import DigestState, EvidencePack, LegResult, ManifestEvidence, Stage
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.janitor import leg_tags, terminate_expired
from tasks.matrix.legs import Onboarding, host_script, onboard
from tasks.matrix.pipeline import LegDraft, run_stages
from tasks.matrix.pools import (
    RunSeen,
    Watch,
    await_leg,
    failed_leg,
    leg_deployment,
    leg_parameters,
    live_workers,
    no_worker_reason,
    pool_problem,
    pools_of,
)
from tasks.matrix.promotion import promote, read_approved
from tasks.matrix.report import event_labels, event_payload, render_markdown, table_rows
from tasks.matrix.wiring import aws_access, digest_store, host_provider, providers_of
from tasks.platform.clock import utc_now
from tasks.platform.keys import artifact_key
from tasks.platform.steps import emit, publish_summary, retry_if_retryable, run_logger, step
from tasks.platform.workers import WorkerSeen


def client_token(run_id: str, leg: str) -> str:
    """The idempotency token of one leg's launch: a retried call never starts a second host."""
    return hashlib.sha256(f"{run_id}:{leg}".encode()).hexdigest()[:32]


@step(
    cache_policy=NO_CACHE,
    persist_result=False,  # the token stays in memory, never in result storage
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_retryable,
)
def authenticate(env: EnvironmentSpec) -> ControlPlaneCredential:
    """Obtain the control-plane IdToken without a human (the legs verify onboarding with it)."""
    spec = env.agent_promotion.auth
    if spec is None:
        return ControlPlaneCredential(method="none")
    override = os.environ.get(spec.token_env, "").strip()
    if override:
        refuse_expired(override, spec.token_env)
        return ControlPlaneCredential(method=f"env:{spec.token_env}", token=SecretStr(override))
    username = _secret(spec.username_secret, "auth.username_secret")
    password = _secret(spec.password_secret, "auth.password_secret")
    provider = TokenProvider(
        env.region,
        spec.user_pool_id,
        spec.client_id,
        username,
        SecretStr(password),
        token_env=spec.token_env,
        refresh_margin_seconds=spec.refresh_margin_seconds,
        aws=aws_access(env),
    )
    return ControlPlaneCredential(method="cognito", token=provider.token())


def _secret(name: str, field: str) -> str:
    try:
        return Secret.load(name).get()
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise ConfigError(
            f"the Prefect Secret block {name!r} ({field} in invariants.yaml) cannot be loaded",
            remediation="Create it (prefect block create secret, or "
            f"Secret(value=...).save({name!r})) or fix the name in invariants.yaml.",
        ) from exc


@step(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def sweep_expired_hosts(env: EnvironmentSpec, ttl_hours: float | None = None) -> list[str]:
    """The janitor: terminate hosts carrying the purpose tag that outlived the TTL."""
    promo = env.agent_promotion
    ttl = promo.cleanup_ttl_hours if ttl_hours is None else ttl_hours
    terminated: list[str] = []
    for provider in providers_of(env):
        hosts = terminate_expired(provider, promo.purpose_tag_pair, ttl, utc_now())
        terminated += [host.id for host in hosts]
    if terminated:
        run_logger().info("janitor terminated %d host(s): %s", len(terminated), terminated)
    return terminated


@step(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=retry_if_retryable,
)
def read_approved_digest(env: EnvironmentSpec) -> DigestState:
    return read_approved(digest_store(env))


@step(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_retryable,
)
def verify_candidate_manifest(ref: ImageRef, env: EnvironmentSpec) -> ManifestEvidence:
    check = verify_manifest(ref, insecure_registries=env.agent_promotion.insecure_registries)
    return ManifestEvidence(exists=check.exists, media_type=check.media_type, size=check.size)


@step(cache_policy=NO_CACHE)
def promote_digest(
    env: EnvironmentSpec, candidate: str, expected_version: int | None, writer: str
) -> DigestState:
    """Compare-and-set the approved digest, then read it back: it must be the candidate."""
    return promote(digest_store(env), candidate, expected_version, writer)


@step(
    cache_policy=NO_CACHE,
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_retryable,
)
def provision_instance(
    leg: LegSpec, env: EnvironmentSpec, run_id: str, token: str, tags: dict[str, str]
) -> Host:
    return host_provider(leg, env).provision(leg, run_id=run_id, client_token=token, tags=tags)


@step(cache_policy=NO_CACHE)
def wait_for_host(leg: LegSpec, env: EnvironmentSpec, host: Host) -> None:
    host_provider(leg, env).wait_ready(host, leg.timeouts.ready_seconds)


@step(cache_policy=NO_CACHE)
def run_installer(leg: LegSpec, env: EnvironmentSpec, host: Host, script: str) -> CommandResult:
    return host_provider(leg, env).run(host, script, leg.timeouts.installer_seconds)


@step(cache_policy=NO_CACHE)
def await_onboarding(
    leg: LegSpec, env: EnvironmentSpec, host: Host, script: str, token: SecretStr | None
) -> Onboarding:
    """The host check, then the control plane's word that the host is active (if configured)."""
    spec = env.agent_promotion.control_plane
    plane = None
    if spec is not None:
        if token is None:  # the invariants pair auth with control_plane; never ask without it
            raise LegError("no IdToken to verify onboarding with", failure=LegFailure.AUTH_FAILED)
        plane = ControlPlane(spec.url, token, request_timeout_seconds=spec.request_timeout_seconds)
    return onboard(
        host_provider(leg, env),
        host,
        script,
        plane,
        timeout_seconds=leg.timeouts.onboarding_seconds,
        poll_seconds=leg.timeouts.poll_seconds,
    )


@step(cache_policy=NO_CACHE)
def run_smoke_job(leg: LegSpec, env: EnvironmentSpec, host: Host, script: str) -> CommandResult:
    return host_provider(leg, env).run(host, script, leg.timeouts.smoke_seconds)


@step(cache_policy=NO_CACHE, retries=3, retry_delay_seconds=5)
def terminate_instance(leg: LegSpec, env: EnvironmentSpec, host: Host) -> None:
    host_provider(leg, env).terminate(host)


@step(cache_policy=NO_CACHE)
def run_leg(
    leg: LegSpec,
    env: EnvironmentSpec,
    run_id: str,
    candidate: str,
    token: SecretStr | None = None,
) -> LegResult:
    """provision → ready → installer → onboarding → smoke → GPU info; terminate always.

    Each I/O stage calls its own task, with its own retries: 7 task runs per leg, as before the
    stages were named. GPU info is judged from the smoke job's output, in-process: a task of its
    own would add task-run writes to the embedded server's SQLite for no I/O. ``token`` is the
    control plane's IdToken (None where the environment has no control plane).
    """
    promo = env.agent_promotion
    values = {"digest": candidate, "run_id": run_id, "leg": leg.name, "region": env.region}

    def script(template: str) -> str:
        body = render(template, **values, scratch="${WARDEN_SCRATCH}")
        return host_script(body, run_id=run_id, leg=leg.name)

    def provision(draft: LegDraft) -> None:
        ttl = promo.cleanup_ttl_hours
        tags = leg_tags(promo.purpose_tag_pair, run_id, leg.name, ttl, utc_now())
        token_ = client_token(run_id, leg.name)
        draft.provisioned(provision_instance(leg, env, run_id, token_, tags))

    def ready(draft: LegDraft) -> None:
        wait_for_host(leg, env, draft.host)

    def installer(draft: LegDraft) -> None:
        started = utc_now()
        result = run_installer(leg, env, draft.host, script(promo.installer.script))
        draft.installer_ran(result, started)

    def onboarding(draft: LegDraft) -> None:
        check = script(leg.onboarding_check)
        draft.onboarded(await_onboarding(leg, env, draft.host, check, token))

    def smoke(draft: LegDraft) -> None:
        draft.smoke_ran(run_smoke_job(leg, env, draft.host, script(leg.smoke_job)))

    def terminate(draft: LegDraft) -> None:
        terminate_instance(leg, env, draft.host)

    stages = (
        (Stage.PROVISION, provision),
        (Stage.READY, ready),
        (Stage.INSTALLER, installer),
        (Stage.ONBOARDING, onboarding),
        (Stage.SMOKE, smoke),
        (Stage.GPU_INFO, LegDraft.gpu_judged),  # pure: the GPU the smoke job's output shows
    )
    result = run_stages(leg, stages, rollback=(Stage.TERMINATE, terminate))
    result = result.model_copy(update={"ran_on": socket.gethostname()})
    _log_leg(result)
    return result


def submit_leg(
    leg: LegSpec, env: EnvironmentSpec, run_id: str, candidate: str, token: SecretStr | None
):
    """Start one leg: on the flow's own worker, or as a flow run on its ``work_pool``.

    A work_pool leg's run authenticates on its own worker: the IdToken never becomes a flow
    run parameter (those are stored).
    """
    if leg.work_pool:
        return run_leg_on_pool.submit(leg, env, run_id, candidate)
    return run_leg.submit(leg, env, run_id, candidate, token)


@step(cache_policy=NO_CACHE)
def check_work_pools(env: EnvironmentSpec, dry_run: bool = False) -> list[str]:
    """Before any leg runs: every pool the legs name, and its leg deployment, exist (a dry run
    dispatches no leg: nothing to check)."""
    pools = [] if dry_run else pools_of(env)
    if not pools:
        return pools
    if FlowRunContext.get() is None:  # an engine-less run: no API to dispatch flow runs to
        raise WorkPoolsNeedApi(f"legs on work pools {pools} need a Prefect API to run on")
    with get_client(sync_client=True) as client:
        problems = [problem for pool in pools if (problem := _pool_problem(client, pool))]
    if problems:
        raise WorkPoolMissing("; ".join(problems))
    return pools


def _pool_problem(client: SyncPrefectClient, pool: str) -> str | None:
    try:
        client.read_work_pool(pool)
    except ObjectNotFound:
        return pool_problem(pool, False, None)
    try:
        deployment = client.read_deployment_by_name(leg_deployment(pool))
    except ObjectNotFound:
        return pool_problem(pool, True, None)
    return pool_problem(pool, True, deployment.work_pool_name)


@step(cache_policy=NO_CACHE)
def run_leg_on_pool(leg: LegSpec, env: EnvironmentSpec, run_id: str, candidate: str) -> LegResult:
    """The leg as a flow run of ``gpu-matrix-leg/<work_pool>``, awaited with its own timeout:
    ``NO_WORKER`` when no live worker serves the pool (or none starts the run in
    ``pickup_seconds``), ``LEG_TIMEOUT`` past its stages' timeouts; either way it is cancelled.
    An API error is the leg's evidence (``LEG_CRASHED``), never a lost matrix run."""
    pool, started = str(leg.work_pool), utc_now()
    try:
        with get_client(sync_client=True) as client:
            found = client.read_work_pool(pool)
            workers = [
                WorkerSeen(
                    w.name,
                    w.status.value == "ONLINE",
                    w.last_heartbeat_time,
                    w.heartbeat_interval_seconds,
                )
                for w in client.read_workers_for_work_pool(pool)
            ]
            why = no_worker_reason(pool, bool(found.is_paused), live_workers(workers, utc_now()))
            if why:
                result = failed_leg(leg, LegFailure.NO_WORKER, why, started, utc_now())
            else:
                child = run_deployment(
                    leg_deployment(pool),
                    parameters=leg_parameters(env, leg, run_id, candidate),
                    timeout=0,
                    flow_run_name=f"{leg.name}-{run_id[:8]}",
                    idempotency_key=f"{run_id}:{leg.name}",  # a retry starts no second run
                    tags=["gpu-matrix"],
                )
                result = await_leg(
                    leg,
                    lambda read_result: _look(client, child.id, read_result),
                    lambda seen, decision: _stop(client, seen, decision),
                    started,
                )
    except Exception as exc:
        why = f"dispatching to work pool {pool!r} failed: {type(exc).__name__}: {exc}"
        result = failed_leg(leg, LegFailure.LEG_CRASHED, why, started, utc_now())
    _log_leg(result)
    return result


def _look(client: SyncPrefectClient, run_id: UUID, read_result: bool) -> RunSeen:
    """The leg's flow run as the API has it now; with its result once it completed."""
    run = client.read_flow_run(run_id)
    result, problem = None, None
    if read_result and run.state is not None and run.state.is_completed():
        try:
            result = run.state.result()
        except Exception as exc:  # unreadable storage: the leg fails, the matrix goes on
            problem = f"{type(exc).__name__}: {exc}"
    return RunSeen.of(run, result, problem)


def _stop(client: SyncPrefectClient, run: RunSeen, decision: Watch) -> None:
    """Cancel a leg run nobody awaits any more; a failure to is logged (the leg failed anyway)."""
    message = f"gpu matrix: {decision} — the parent stopped waiting"
    state = (
        Cancelled(message=message) if run.state_type == "SCHEDULED" else Cancelling(message=message)
    )
    try:
        client.set_flow_run_state(UUID(run.id), state, force=True)
    except Exception as exc:
        run_logger().warning("could not cancel the leg's flow run %s: %s", run.id, exc)


def _log_leg(result: LegResult) -> None:
    logger = run_logger()
    host = result.host.id if result.host else "no host"
    logger.info("leg %s on %s: %s %s", result.name, host, result.status, result.failure_code or "")
    for outcome in result.stages:
        if outcome.message:
            logger.warning("leg %s: %s", result.name, outcome.message)


def publish_evidence(process: str, pack: EvidencePack) -> EvidencePack:
    """The finished pack as artifacts and a verdict event (the file is already written).

    The file is the record; artifacts are a view of it: a failure to publish is logged only.
    """
    try:
        publish_summary(
            artifact_key(process + "-evidence", pack.environment),
            render_markdown(pack),
            table_rows(pack) or [{"verdict": pack.verdict}],
            f"GPU matrix evidence {pack.environment}",
        )
        payload, labels = event_payload(pack), event_labels(pack)  # automations match labels
        emit(process, "verdict", "environment", pack.environment, payload, labels)
    except Exception as exc:
        run_logger().warning("could not publish the evidence artifacts: %s", exc)
    return pack
