"""The invariants file (default ``deployments/invariants.yaml``): the GPU matrix, per environment.

It is the one source of truth for agent promotion: which vendor legs run, on which pinned AMI
and instance type, with which installer, smoke jobs and timeouts, and where the approved digest
lives. It is validated whole before anything is provisioned; every problem is reported at once
with file, line and field (see :mod:`blocks.yaml_source`). The scripts' placeholders live in
:mod:`blocks.script_placeholders`, the control plane and its sign-in in
:mod:`blocks.control_plane_spec`; their public names are importable from here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from blocks.aws import BLOCK_NAME, ssm_parameter_problem
from blocks.control_plane_spec import AuthSpec, ControlPlaneSpec
from blocks.control_plane_spec import check_control_plane_url as check_control_plane_url
from blocks.control_plane_spec import is_loopback_host as is_loopback_host
from blocks.defaults import DEFAULT_INVARIANTS
from blocks.errors import UsageError
from blocks.script_placeholders import PLACEHOLDERS as PLACEHOLDERS
from blocks.script_placeholders import known_placeholders
from blocks.script_placeholders import placeholders_in as placeholders_in
from blocks.script_placeholders import render as render
from blocks.storage import warden_home
from blocks.yaml_source import load_model

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_TAG_PAIR = re.compile(
    r"^(?P<key>[A-Za-z0-9_.:/+\-@]{1,128})=(?P<value>[A-Za-z0-9_.:/=+\-@]{1,256})$"
)
_POOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(Strict):
    """Seconds each step of a leg may take before the leg fails with the step's timeout code."""

    provision_seconds: float = Field(900, gt=0)
    ready_seconds: float = Field(600, gt=0)
    installer_seconds: float = Field(900, gt=0)
    onboarding_seconds: float = Field(600, gt=0)
    smoke_seconds: float = Field(600, gt=0)
    poll_seconds: float = Field(5.0, gt=0)
    pickup_seconds: float = Field(
        300, gt=0, description="work_pool legs: how long a worker may take to start the leg"
    )

    @property
    def leg_seconds(self) -> float:
        """The longest a started leg may run: its stages' timeouts together."""
        return (
            self.provision_seconds
            + self.ready_seconds
            + self.installer_seconds
            + self.onboarding_seconds
            + self.smoke_seconds
        )


class LegSpec(Strict):
    """One vendor leg of the matrix: the host it runs on and the scripts that prove the agent."""

    name: str
    vendor: str = Field(min_length=1, description="nvidia, amd, cpu, ...")
    provider: Literal["ec2", "local"]
    gpu: Literal["nvidia", "amd", "none"]
    ami: str | None = None
    instance_type: str | None = None
    subnet_id: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    onboarding_check: str = Field(min_length=1, description="bash; exits 0 once agent is active")
    smoke_job: str = Field(min_length=1, description="bash; prints GPU info and runs the job")
    work_pool: str | None = Field(
        None, description="run the leg as a gpu-matrix-leg flow run on this Prefect work pool"
    )

    @field_validator("work_pool")
    @classmethod
    def _pool_name(cls, value: str | None) -> str | None:
        if value is not None and not _POOL.match(value):
            raise ValueError(
                f"work_pool {value!r} must name a Prefect work pool: letters, digits, '-', '_' "
                "or '.' (e.g. nvidia-gpu); its leg deployment is gpu-matrix-leg/<work_pool>"
            )
        return value

    @model_validator(mode="after")
    def _pickup_needs_pool(self) -> LegSpec:
        default = Timeouts.model_fields["pickup_seconds"].default
        if self.work_pool is None and self.timeouts.pickup_seconds != default:
            raise ValueError(
                f"leg {self.name!r} sets timeouts.pickup_seconds but has no work_pool: it would "
                "do nothing (a leg without a pool runs on the flow's own worker); remove it"
            )
        return self

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"leg name {value!r} must be lowercase letters, digits and dashes, "
                "starting with a letter or digit (e.g. nvidia, amd-mi300)"
            )
        return value

    @field_validator("ami")
    @classmethod
    def _ami(cls, value: str | None) -> str | None:
        if value is not None and not _AMI.match(value):
            raise ValueError(
                f"ami {value!r} must be 'ami-' and 8 to 17 lowercase hex digits "
                "(e.g. ami-0c2b8ca305e393e06); pin the image by id, never by name"
            )
        return value

    @field_validator("subnet_id")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is not None and not _SUBNET.match(value):
            raise ValueError(f"subnet_id {value!r} must look like subnet-0123456789abcdef0")
        return value

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, value: list[str]) -> list[str]:
        bad = [group for group in value if not _SECURITY_GROUP.match(group)]
        if bad:
            raise ValueError(f"security group id(s) {bad} must look like sg-0123456789abcdef0")
        return value

    @field_validator("onboarding_check", "smoke_job")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return known_placeholders(value)

    @model_validator(mode="after")
    def _ec2_is_pinned(self) -> LegSpec:
        if self.provider == "ec2":
            missing = [f for f in ("ami", "instance_type") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"leg {self.name!r} uses provider ec2 and needs {' and '.join(missing)} "
                    "(e.g. ami: ami-0c2b8ca305e393e06, instance_type: g5.xlarge)"
                )
        return self


class InstallerSpec(Strict):
    """The control plane's installer, run on every leg's host with the candidate digest."""

    script: str = Field(min_length=1)

    @field_validator("script")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        return known_placeholders(value)


class DigestStoreSpec(Strict):
    """Where the approved digest lives: SSM Parameter Store, or a local versioned store."""

    kind: Literal["ssm", "local"]
    parameter: str = Field(description="SSM parameter name; the local store's key too")
    path: str | None = Field(None, description="local store folder; default WARDEN_HOME/...")

    @field_validator("parameter")
    @classmethod
    def _ssm_name(cls, value: str) -> str:
        problem = ssm_parameter_problem(value)
        if problem:
            raise ValueError(f"parameter {problem}")
        return value

    def resolved_path(self) -> Path:
        """The local store's folder: ``path``, else ``warden_home()/matrix/digests``."""
        return Path(self.path) if self.path else warden_home() / "matrix" / "digests"


class AgentPromotion(Strict):
    """Everything a promotion run needs for one environment."""

    digest_store: DigestStoreSpec
    auth: AuthSpec | None = None
    control_plane: ControlPlaneSpec | None = None
    concurrency_limit: str = Field(description="global concurrency limit serialising runs")
    cleanup_ttl_hours: float = Field(4, gt=0)
    purpose_tag: str = "radix:purpose=gpu-matrix"
    instance_profile: str | None = None
    insecure_registries: list[str] = Field(default_factory=list)
    installer: InstallerSpec
    legs: list[LegSpec] = Field(min_length=1)

    @field_validator("concurrency_limit")
    @classmethod
    def _limit_name(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"concurrency_limit {value!r} must be lowercase letters, digits and dashes "
                "(e.g. gpu-matrix-dev)"
            )
        return value

    @field_validator("purpose_tag")
    @classmethod
    def _tag_pair(cls, value: str) -> str:
        match = _TAG_PAIR.match(value)
        if not match or match["key"].lower().startswith("aws:"):
            raise ValueError(
                f"purpose_tag {value!r} must be one EC2 tag 'key=value' with a non-empty key "
                "(not starting with aws:) and value, e.g. radix:purpose=gpu-matrix"
            )
        return value

    @field_validator("insecure_registries")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        bad = [host for host in value if not _HOST_PORT.match(host)]
        if bad:
            raise ValueError(
                f"insecure_registries {bad} must be host[:port] without a scheme "
                "(e.g. 127.0.0.1:5000)"
            )
        return value

    @field_validator("legs")
    @classmethod
    def _unique_names(cls, legs: list[LegSpec]) -> list[LegSpec]:
        first: dict[str, int] = {}
        for index, leg in enumerate(legs):
            if leg.name in first:
                raise ValueError(
                    f"duplicate leg name {leg.name!r} (legs[{first[leg.name]}] and "
                    f"legs[{index}]); give every leg its own name"
                )
            first[leg.name] = index
        return legs

    @model_validator(mode="after")
    def _onboarding_is_verified(self) -> AgentPromotion:
        """auth and control_plane come together; only an all-local environment may omit them."""
        if self.auth is not None and self.control_plane is None:
            raise ValueError(
                "auth is set but control_plane is not: the IdToken would be fetched and never "
                "used; add control_plane.url (the API that verifies onboarding) or remove auth"
            )
        if self.control_plane is not None and self.auth is None:
            raise ValueError(
                "control_plane is set but auth is not: the control plane is asked with the "
                "Cognito IdToken as bearer; add auth (user pool, client, Secret block names)"
            )
        remote = self.digest_store.kind == "ssm" or any(leg.provider == "ec2" for leg in self.legs)
        if remote and self.control_plane is None:
            raise ValueError(
                "an environment that promotes to SSM or runs ec2 legs must verify onboarding "
                "with its control plane: add auth and control_plane.url (only an all-local "
                "environment may run without one, and its evidence says onboarding not_verified)"
            )
        return self

    @property
    def purpose_tag_pair(self) -> tuple[str, str]:
        key, _, value = self.purpose_tag.partition("=")
        return key, value

    def leg(self, name: str) -> LegSpec:
        """The leg called ``name``; UsageError listing the legs when there is none."""
        for leg in self.legs:
            if leg.name == name:
                return leg
        raise UsageError(
            f"unknown leg {name!r}; this environment has {[leg.name for leg in self.legs]}",
            remediation="Pass one of the listed legs, or declare it in invariants.yaml.",
        )


class EnvironmentSpec(Strict):
    region: str = Field(description="AWS region (e.g. us-west-2), or 'local'")
    aws_credentials_block: str | None = Field(
        None, description="prefect-aws AwsCredentials block; unset: boto3's default chain"
    )
    agent_promotion: AgentPromotion

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"region {value!r} must look like us-west-2 (or be 'local')")
        return value

    @field_validator("aws_credentials_block")
    @classmethod
    def _block_name(cls, value: str | None) -> str | None:
        if value is not None and not BLOCK_NAME.match(value):
            raise ValueError(
                f"aws_credentials_block {value!r} must name a Prefect block: lowercase "
                "letters, digits and dashes (e.g. aws-dev)"
            )
        return value

    @model_validator(mode="after")
    def _block_is_used(self) -> EnvironmentSpec:
        promo = self.agent_promotion
        uses_aws = promo.digest_store.kind == "ssm" or any(
            leg.provider == "ec2" for leg in promo.legs
        )
        if self.aws_credentials_block is not None and not uses_aws:
            raise ValueError(
                f"aws_credentials_block {self.aws_credentials_block!r} would do nothing: this "
                "environment uses no AWS (no ssm digest store, no ec2 leg); remove it"
            )
        return self


class InvariantsFile(Strict):
    """The whole invariants file: one entry per environment (dev, prod, local, ...)."""

    environments: dict[str, EnvironmentSpec] = Field(min_length=1)

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, EnvironmentSpec]) -> dict[str, EnvironmentSpec]:
        bad = [name for name in value if not _SLUG.match(name)]
        if bad:
            raise ValueError(f"environment name(s) {bad} must be lowercase letters/digits/dashes")
        return value

    def environment(self, name: str) -> EnvironmentSpec:
        """The environment called ``name``; UsageError listing the known ones otherwise."""
        try:
            return self.environments[name]
        except KeyError:
            raise UsageError(
                f"unknown environment {name!r}; invariants declare {sorted(self.environments)}",
                remediation="Pass --env with one of the listed environments, or declare it in "
                "deployments/invariants.yaml.",
            ) from None


def load_invariants(path: Path | str = DEFAULT_INVARIANTS) -> InvariantsFile:
    """Load and validate an invariants file; raises ConfigError naming file, line and field."""
    return load_model(path, InvariantsFile)
