"""Which backend each environment uses: a table from configuration to classes, no fallback."""

from __future__ import annotations

import os
from pathlib import Path

from blocks.aws import credentials_source, load_aws_credentials
from blocks.invariants import EnvironmentSpec, LegSpec
from blocks.storage import warden_home
from tasks.matrix.ec2 import Ec2HostProvider
from tasks.matrix.hosts import HostProvider
from tasks.matrix.local_host import LocalHostProvider
from tasks.matrix.store import DigestStore, StoreKind, open_store
from tasks.platform.aws import AwsAccess, open_aws

# How the ec2 provider decides a host can take commands: "ssm" (the SSM agent reports Online;
# production) or "instance-state" (running; for API emulators whose SSM inventory is empty).
EC2_READY_CHECK_ENV = "WARDEN_EC2_READY_CHECK"


def local_hosts_root() -> Path:
    return warden_home() / "matrix" / "hosts"


def aws_access(env: EnvironmentSpec) -> AwsAccess:
    """AWS clients' session for the environment: its ``aws_credentials_block``, else boto3's
    default credential chain (the log says which)."""
    name = env.aws_credentials_block
    credentials = load_aws_credentials(name, env.region)
    source = credentials_source(name) if name else None
    return open_aws(env.region, credentials, source=source)


def host_provider(leg: LegSpec, env: EnvironmentSpec) -> HostProvider:
    if leg.provider == "local":
        return LocalHostProvider(local_hosts_root())
    if leg.provider == "ec2":
        return Ec2HostProvider(
            env.region,
            instance_profile=env.agent_promotion.instance_profile,
            aws=aws_access(env),
            poll_seconds=leg.timeouts.poll_seconds,
            ready_check=os.environ.get(EC2_READY_CHECK_ENV, "ssm"),
        )
    raise ValueError(f"unknown host provider {leg.provider!r}")  # the model's Literal forbids it


def providers_of(env: EnvironmentSpec) -> list[HostProvider]:
    """One provider per kind the environment's legs use (for the janitor)."""
    seen: dict[str, HostProvider] = {}
    for leg in env.agent_promotion.legs:
        seen.setdefault(leg.provider, host_provider(leg, env))
    return list(seen.values())


def digest_store(env: EnvironmentSpec) -> DigestStore:
    spec = env.agent_promotion.digest_store
    aws = aws_access(env) if spec.kind == StoreKind.SSM else None
    return open_store(
        spec.kind, spec.parameter, region=env.region, path=spec.resolved_path(), aws=aws
    )
