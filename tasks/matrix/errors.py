"""Errors and leg failure codes of the GPU matrix, each with its remediation.

Codes 20 and 21 are the seed's control-plane installer codes; 22 (PROMOTION_NOT_VISIBLE) is
a promotion whose read-back does not show the candidate. A failing leg is data in the
evidence pack (a :class:`LegFailure` code plus its remediation), not an exception.
"""

from __future__ import annotations

from enum import StrEnum

from blocks.errors import ExitCode, UsageError, WardenError


class ApprovedDigestMissing(WardenError):
    """The approved-digest store has no value for this environment (seed exit 20)."""

    code = 20
    remediation = (
        "Promote a digest with a passing `warden matrix run --env <env> --digest <ref>`, or "
        "bootstrap the parameter once (aws ssm put-parameter --name <parameter> --type String "
        "--value <registry>/<repository>@sha256:<64 hex>)."
    )


class ApprovedDigestInvalid(WardenError):
    """The stored approved digest is not `<registry>/<repo>@sha256:<64 hex>` (seed exit 21)."""

    code = 21
    remediation = (
        "Overwrite the parameter with a valid pinned reference "
        "(<registry>/<repository>@sha256:<64 hex>) from the last passing evidence pack."
    )


class CandidateDigestInvalid(UsageError):
    """The candidate passed to a run is not a pinned image reference."""

    remediation = (
        "Pass the image by digest, e.g. ghcr.io/org/agent@sha256:<64 lowercase hex>; "
        "tags are mutable and never promoted."
    )


class ManifestMissing(WardenError):
    """The candidate's manifest is not in its registry."""

    code = ExitCode.VERDICT_FAILED
    remediation = "Push the image first (docker push) and pass the digest the registry returned."


class PromotionRaced(WardenError):
    """The approved digest changed while this run was testing: someone else promoted."""

    code = ExitCode.VERDICT_FAILED
    remediation = (
        "Another writer promoted during this run; read `warden matrix status` and re-run the "
        "matrix against the new approved digest if the candidate should still replace it."
    )


class PromotionNotVisible(WardenError):
    """The approved digest read back after the promotion is not the candidate (code 22)."""

    code = 22
    remediation = (
        "Read the parameter's history (warden matrix status, or aws ssm get-parameter-history) "
        "to see who holds it; re-run the matrix if the candidate should be approved. The run "
        "does not count as a promotion until the store shows the candidate."
    )

    def __init__(self, message: str, *, read_back: object = None) -> None:
        super().__init__(message)
        self.read_back = read_back  # the DigestState that was read back (for the evidence)

    @property
    def name(self) -> str:
        return "PROMOTION_NOT_VISIBLE"


class WorkPoolMissing(WardenError):
    """A leg names a work pool, or a pool's leg deployment, that the Prefect API does not have."""

    code = ExitCode.USAGE_ERROR
    remediation = (
        "Create the pool (prefect work-pool create <name> --type process) and deploy the leg "
        "flow to it as gpu-matrix-leg/<name> (deployments/prefect.yaml), or fix work_pool in "
        "invariants.yaml."
    )

    @property
    def name(self) -> str:
        return "WORK_POOL_MISSING"


class WorkPoolsNeedApi(WardenError):
    """Legs with a work_pool are flow runs on other workers: only a Prefect API dispatches them."""

    code = ExitCode.USAGE_ERROR
    remediation = (
        "Run the matrix against a Prefect API (make run, or set PREFECT_API_URL), or remove "
        "work_pool from the environment's legs."
    )

    @property
    def name(self) -> str:
        return "WORK_POOLS_NEED_API"


class LegFailure(StrEnum):
    """Why a vendor leg failed; each has a remediation in :data:`REMEDIATION`."""

    CAPACITY_UNAVAILABLE = "CAPACITY_UNAVAILABLE"
    PROVISION_FAILED = "PROVISION_FAILED"
    HOST_NOT_READY = "HOST_NOT_READY"
    INSTALLER_FAILED = "INSTALLER_FAILED"
    INSTALLER_TIMEOUT = "INSTALLER_TIMEOUT"
    ONBOARDING_TIMEOUT = "ONBOARDING_TIMEOUT"
    NO_GPU_DETECTED = "NO_GPU_DETECTED"
    RUNTIME_MISSING = "RUNTIME_MISSING"
    SMOKE_JOB_FAILED = "SMOKE_JOB_FAILED"
    SMOKE_JOB_TIMEOUT = "SMOKE_JOB_TIMEOUT"
    AUTH_FAILED = "AUTH_FAILED"
    CONTROL_PLANE_INVALID = "CONTROL_PLANE_INVALID"
    LEG_CRASHED = "LEG_CRASHED"
    NO_WORKER = "NO_WORKER"
    LEG_TIMEOUT = "LEG_TIMEOUT"
    LEG_RUN_FAILED = "LEG_RUN_FAILED"


REMEDIATION: dict[LegFailure, str] = {
    LegFailure.CAPACITY_UNAVAILABLE: (
        "No capacity for the instance type in this region after retries; retry later, or add a "
        "second availability zone / subnet for the leg in invariants.yaml."
    ),
    LegFailure.PROVISION_FAILED: (
        "The provider refused the launch; check the AMI id, instance type, instance profile and "
        "quotas named in the message."
    ),
    LegFailure.HOST_NOT_READY: (
        "The host never accepted commands; check that the AMI runs the SSM agent and that the "
        "instance profile grants AmazonSSMManagedInstanceCore."
    ),
    LegFailure.INSTALLER_FAILED: (
        "The installer exited non-zero; read its output in the evidence pack and fix the "
        "installer or the candidate image."
    ),
    LegFailure.INSTALLER_TIMEOUT: (
        "The installer did not finish in time; check image pull speed and raise "
        "timeouts.installer_seconds if the host is just slow."
    ),
    LegFailure.ONBOARDING_TIMEOUT: (
        "The agent's host check never passed, or the control plane never reported the host "
        "active; check the agent's logs on the host and its connectivity to the control plane."
    ),
    LegFailure.NO_GPU_DETECTED: (
        "No GPU was visible on the host; check the instance type and that the AMI ships the "
        "vendor driver (nvidia-smi / rocm-smi), or declare `gpu: none` for a CPU leg."
    ),
    LegFailure.RUNTIME_MISSING: (
        "The GPU container runtime is missing; install nvidia-container-toolkit (NVIDIA) or the "
        "ROCm runtime (AMD) in the AMI."
    ),
    LegFailure.SMOKE_JOB_FAILED: (
        "The GPU smoke job failed; read its output in the evidence pack — the candidate cannot "
        "schedule GPU work."
    ),
    LegFailure.SMOKE_JOB_TIMEOUT: (
        "The smoke job did not finish in time; check the job and raise timeouts.smoke_seconds "
        "only if the hardware is known to be slow."
    ),
    LegFailure.AUTH_FAILED: (
        "Could not authenticate to the control plane (it refused the IdToken); check the "
        "Secret blocks named in invariants.yaml, or set RADIX_JWT_TOKEN to a valid token."
    ),
    LegFailure.CONTROL_PLANE_INVALID: (
        "The control plane's answer was not the documented cluster status JSON (or contradicted "
        "itself); check control_plane.url in invariants.yaml points at the control plane's API."
    ),
    LegFailure.LEG_CRASHED: (
        "The leg stopped on an unexpected error; the message names it. Report it if it repeats."
    ),
    LegFailure.NO_WORKER: (
        "No live worker serves the leg's work pool (or none started the leg in "
        "timeouts.pickup_seconds); start one on the pool's machine: prefect worker start "
        "--pool <work_pool>, and check it is online in the UI's Work Pools page."
    ),
    LegFailure.LEG_TIMEOUT: (
        "The leg's flow run did not finish within its stages' timeouts together; read its logs "
        "in the UI (the evidence names the flow run) and raise the leg's timeouts if the host "
        "is just slow."
    ),
    LegFailure.LEG_RUN_FAILED: (
        "The leg's flow run ended without a leg result (failed, crashed or cancelled, or its "
        "result could not be read); read its logs in the UI. Workers on other hosts need a "
        "shared result storage (WARDEN_RESULT_STORAGE=s3-bucket/...)."
    ),
}


class LegError(WardenError):
    """A step of a leg failed for a known reason; ``failure`` says which.

    Providers raise it (``retryable=True`` for capacity errors, so the provisioning task's
    retry policy can act on it); the leg turns it into evidence, never a crashed run.
    """

    code = ExitCode.VERDICT_FAILED

    def __init__(self, message: str, *, failure: LegFailure, retryable: bool = False) -> None:
        super().__init__(message, remediation=REMEDIATION[failure], retryable=retryable)
        self.failure = failure
