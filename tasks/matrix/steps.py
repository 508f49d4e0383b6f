"""Prefect tasks of the GPU matrix: thin wrappers with their retry and cache policies.

Side-effecting tasks (provision, terminate, promote) never cache; provisioning retries only
what the provider marks retryable (capacity), with exponential backoff. A leg is one parent
task running its steps as nested tasks, so the UI shows each step with its own retries, and its
``finally`` always terminates the host. The IdToken travels only in memory: ``authenticate``
does not persist its result, and task parameters are not stored by Prefect.
"""

from __future__ import annotations

import hashlib
import os

from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from pydantic import SecretStr

from blocks.errors import ConfigError, WardenError
from blocks.invariants import EnvironmentSpec, LegSpec, render
from tasks.matrix.auth import ControlPlaneCredential, TokenProvider, refuse_expired
from tasks.matrix.control_plane import ControlPlane
from tasks.matrix.digest import ImageRef, verify_manifest
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.evidence import (
    DigestState,
    LegResult,
    LegStatus,
    ManifestEvidence,
    OnboardingStatus,
    StepStatus,
    leg_failed,
    tail,
)
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.janitor import leg_tags, terminate_expired
from tasks.matrix.legs import (
    Onboarding,
    describe,
    host_script,
    judge_installer,
    judge_smoke,
    onboard,
)
from tasks.matrix.promotion import promote, read_approved
from tasks.matrix.wiring import digest_store, host_provider, providers_of
from tasks.platform.clock import utc_now
from tasks.platform.steps import retry_if_retryable, run_logger, step


def client_token(run_id: str, leg: str) -> str:
    """The idempotency token of one leg's launch: a retried call never starts a second host."""
    return hashlib.sha256(f"{run_id}:{leg}".encode()).hexdigest()[:32]


@step(
    name="authenticate",
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


@step(name="sweep-expired-hosts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
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
    name="read-approved-digest",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=3,
    retry_condition_fn=retry_if_retryable,
)
def read_approved_digest(env: EnvironmentSpec) -> DigestState:
    return read_approved(digest_store(env))


@step(
    name="verify-candidate-manifest",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_retryable,
)
def verify_candidate_manifest(ref: ImageRef, env: EnvironmentSpec) -> ManifestEvidence:
    check = verify_manifest(ref, insecure_registries=env.agent_promotion.insecure_registries)
    return ManifestEvidence(exists=check.exists, media_type=check.media_type, size=check.size)


@step(name="promote-digest", cache_policy=NO_CACHE)
def promote_digest(
    env: EnvironmentSpec, candidate: str, expected_version: int | None, writer: str
) -> DigestState:
    """Compare-and-set the approved digest, then read it back: it must be the candidate."""
    return promote(digest_store(env), candidate, expected_version, writer)


@step(
    name="provision-instance",
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


@step(name="wait-for-host", cache_policy=NO_CACHE)
def wait_for_host(leg: LegSpec, env: EnvironmentSpec, host: Host) -> None:
    host_provider(leg, env).wait_ready(host, leg.timeouts.ready_seconds)


@step(name="run-installer", cache_policy=NO_CACHE)
def run_installer(leg: LegSpec, env: EnvironmentSpec, host: Host, script: str) -> CommandResult:
    return host_provider(leg, env).run(host, script, leg.timeouts.installer_seconds)


@step(name="wait-for-onboarding", cache_policy=NO_CACHE)
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


@step(name="run-smoke-job", cache_policy=NO_CACHE)
def run_smoke_job(leg: LegSpec, env: EnvironmentSpec, host: Host, script: str) -> CommandResult:
    return host_provider(leg, env).run(host, script, leg.timeouts.smoke_seconds)


@step(name="terminate-instance", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=5)
def terminate_instance(leg: LegSpec, env: EnvironmentSpec, host: Host) -> None:
    host_provider(leg, env).terminate(host)


@step(name="run-vendor-leg", cache_policy=NO_CACHE)
def run_leg(
    leg: LegSpec,
    env: EnvironmentSpec,
    run_id: str,
    candidate: str,
    token: SecretStr | None = None,
) -> LegResult:
    """provision → host ready → installer → onboarding → smoke job → GPU info; always terminate.

    ``token`` is the control plane's IdToken (None where the environment has no control plane).
    """
    logger = run_logger()
    started = utc_now()
    promo = env.agent_promotion
    values = {
        "digest": candidate,
        "run_id": run_id,
        "leg": leg.name,
        "region": env.region,
        "scratch": "${WARDEN_SCRATCH}",
    }

    def script(template: str) -> str:
        return host_script(render(template, **values), run_id=run_id, leg=leg.name)

    host: Host | None = None
    fields: dict = {}
    try:
        tags = leg_tags(promo.purpose_tag_pair, run_id, leg.name, promo.cleanup_ttl_hours, started)
        host = provision_instance(leg, env, run_id, client_token(run_id, leg.name), tags)
        fields["host"] = host
        logger.info("leg %s: host %s (%s)", leg.name, host.id, host.instance_type or "local")
        wait_for_host(leg, env, host)

        installer_started = utc_now()
        installer = run_installer(leg, env, host, script(promo.installer.script))
        fields.update(
            installer_exit_code=installer.exit_code,
            installer_seconds=round(installer.duration_seconds, 3),
            output_tail=tail(installer.stdout + installer.stderr),
        )
        failure = judge_installer(installer)
        if failure:
            raise LegError(describe(installer, "the installer"), failure=failure)

        fields["onboarding"] = OnboardingStatus.FAILED  # until the step returns
        onboarding = await_onboarding(leg, env, host, script(leg.onboarding_check), token)
        fields.update(_onboarding_fields(onboarding, installer_started))

        smoke = run_smoke_job(leg, env, host, script(leg.smoke_job))
        failure, gpu = judge_smoke(leg.gpu, smoke)
        fields.update(
            smoke_exit_code=smoke.exit_code,
            smoke_seconds=round(smoke.duration_seconds, 3),
            gpu=gpu,
            output_tail=tail(smoke.stdout + smoke.stderr),
            smoke_status=StepStatus.FAILED if failure else StepStatus.PASSED,
        )
        if failure:
            raise LegError(describe(smoke, "the smoke job"), failure=failure)
        status, failure_code, message = LegStatus.PASSED, None, None
    except LegError as exc:
        status, failure_code, message = LegStatus.FAILED, exc.failure, exc.message
    except WardenError as exc:
        status, failure_code, message = LegStatus.FAILED, LegFailure.LEG_CRASHED, str(exc)
    except Exception as exc:  # a crash inside one leg is evidence, never a lost run
        status, failure_code = LegStatus.FAILED, LegFailure.LEG_CRASHED
        message = f"{type(exc).__name__}: {exc}"
    finally:
        if host is not None:
            try:
                terminate_instance(leg, env, host)
                fields["terminated"] = True
            except Exception as exc:  # the janitor's TTL catches it; the evidence says so
                logger.warning("leg %s: could not terminate %s: %s", leg.name, host.id, exc)
    logger.info("leg %s: %s %s", leg.name, status, failure_code or "")
    if failure_code is not None:
        return leg_failed(
            leg.name, leg.vendor, leg.provider, started, utc_now(), failure_code, message, **fields
        )
    return LegResult(
        name=leg.name,
        vendor=leg.vendor,
        provider=leg.provider,
        status=status,
        started_at=started,
        finished_at=utc_now(),
        **fields,
    )


def _onboarding_fields(onboarding: Onboarding, installer_started) -> dict:
    """The leg's onboarding evidence; time to active only from the control plane's answer."""
    fields: dict = {
        "onboarding": onboarding.status,
        "onboarding_seconds": round(onboarding.seconds, 3),
    }
    answer = onboarding.answer
    if onboarding.status is OnboardingStatus.VERIFIED and answer is not None:
        elapsed = (answer.received_at - installer_started).total_seconds()
        fields.update(
            control_plane_status=answer.status,
            activated_at=answer.activated_at,
            time_to_active_seconds=round(max(0.0, elapsed), 3),
        )
    return fields
