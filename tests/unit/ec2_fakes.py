"""What the ec2 and SSM RunCommand tests share: a fake clock, one boto3 session, the provider.

moto runs nothing through SSM (``send_command`` reports Success with empty output) and lists
no EC2 instance in ``describe_instance_information``: readiness through SSM and the command
status sequence are driven by botocore's Stubber, with a fake clock so no test waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import moto  # noqa: F401 - registers moto's botocore handler before SESSION exists

from tasks.matrix.ec2 import Ec2HostProvider
from tasks.matrix.hosts import Host
from tasks.matrix.janitor import leg_tags
from tasks.platform.aws import AwsAccess
from tasks.platform.clock import utc_now

REGION = "us-west-2"
PURPOSE = ("radix:purpose", "gpu-matrix")
T0 = datetime(2026, 1, 19, 10, 0, tzinfo=UTC)
INSTANCE = "i-0123456789abcdef0"
COMMAND_ID = "8d2b5f4e-0c1a-4c3b-9d7e-2f6a1b0c9e11"  # SSM command ids are UUIDs
# One session for every test: a fresh one reloads EC2's service model (about a second).
SESSION = boto3.session.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
)
ACCESS = AwsAccess(REGION, SESSION, "test credentials")


@dataclass(frozen=True)
class Leg:
    """The attributes of blocks.invariants.LegSpec that the provider reads."""

    name: str = "nvidia"
    vendor: str = "nvidia"
    ami: str = "ami-0c2b8ca305e393e06"
    instance_type: str = "g5.xlarge"
    subnet_id: str | None = None
    security_group_ids: list[str] = field(default_factory=list)
    timeouts: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(poll_seconds=5))


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def make_provider(fake: FakeTime | None = None, **kwargs) -> Ec2HostProvider:
    kwargs.setdefault("instance_profile", None)
    kwargs.setdefault("aws", ACCESS)
    if fake is not None:
        kwargs.update(sleep=fake.sleep, clock=fake.clock)
    return Ec2HostProvider(REGION, **kwargs)


def stub_host() -> Host:
    return Host(id=INSTANCE, provider="ec2", region=REGION, launched_at=T0)


def launch(provider: Ec2HostProvider, token: str, purpose=PURPOSE, leg: Leg | None = None):
    tags = leg_tags(purpose, "run-1", leg or Leg(), 4, utc_now())
    return provider.provision(leg or Leg(), run_id="run-1", client_token=token, tags=tags)


def tag_dict(tags: list[dict]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags}
