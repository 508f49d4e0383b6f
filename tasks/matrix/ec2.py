"""The ``ec2`` host provider: a leg's host is an EC2 instance, its scripts run by SSM RunCommand.

This module provisions, waits for, terminates and lists instances; running a script is
:mod:`tasks.matrix.ssm_commands`. Clients come from :mod:`tasks.platform.aws` (one botocore
``Config``); AWS errors are mapped from their code through tables, never by reading the
message. A launch is idempotent twice over: a live instance tagged with the request's client
token is reused (moto ignores ``ClientToken``), and EC2 itself deduplicates ``ClientToken`` in
the window between that lookup and the launch.

Readiness: ``ready_check="ssm"`` (production) waits for ``running`` and for the SSM agent to
report ``Online``. ``"instance-state"`` waits for ``running`` only: moto lists no EC2 instance
in ``describe_instance_information``, so tests use it; it proves nothing about the agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from blocks.errors import ExitCode, WardenError
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.hosts import CommandResult, Host
from tasks.matrix.janitor import TAG_RUN_ID, check_aware, check_purpose_tag
from tasks.matrix.ssm_commands import POLL_AGAIN_CODES, SsmCommands, check_seconds, usage
from tasks.platform.aws import AwsAccess, aws_code, aws_message, is_transient, open_aws
from tasks.platform.clock import utc_now

ReadyCheck = Literal["ssm", "instance-state"]
READY_CHECKS: tuple[str, ...] = ("ssm", "instance-state")
NAME_PREFIX = "warden-gpu-matrix-"
TOKEN_TAG = "warden:client-token"
MAX_CLIENT_TOKEN_CHARS = 64
LIVE_STATES = ("pending", "running", "stopping", "stopped")  # what the janitor may terminate
NEVER_READY_STATES = frozenset({"shutting-down", "terminated", "stopping", "stopped"})

_CAPACITY = (LegFailure.CAPACITY_UNAVAILABLE, True)
_REFUSED = (LegFailure.PROVISION_FAILED, False)
_AWS_TROUBLE = (LegFailure.PROVISION_FAILED, True)
LAUNCH_ERRORS: dict[str, tuple[LegFailure, bool]] = {
    "InsufficientInstanceCapacity": _CAPACITY,
    "InstanceLimitExceeded": _CAPACITY,
    "VcpuLimitExceeded": _CAPACITY,
    "Unsupported": _CAPACITY,  # the instance type is not offered in this availability zone
    "RequestLimitExceeded": _CAPACITY,
    "InvalidParameterValue": _REFUSED,
    "InvalidParameterCombination": _REFUSED,
    "InvalidInstanceType": _REFUSED,
    "UnauthorizedOperation": _REFUSED,
    "AuthFailure": _REFUSED,
    "OptInRequired": _REFUSED,
    "InvalidSubnetID.NotFound": _REFUSED,
    "InvalidGroup.NotFound": _REFUSED,
    "InternalError": _AWS_TROUBLE,
    "Unavailable": _AWS_TROUBLE,
    "ServiceUnavailable": _AWS_TROUBLE,
}
LAUNCH_ERROR_PREFIXES: dict[str, tuple[LegFailure, bool]] = {"InvalidAMIID.": _REFUSED}


class Ec2RequestFailed(WardenError):
    """EC2 refused or did not answer a terminate or list call (the janitor's side)."""

    code = ExitCode.BACKEND_UNAVAILABLE
    remediation = (
        "Check the credentials' EC2 permissions and the region named in the message, then run "
        "again (terminating is idempotent)."
    )


class Ec2HostProvider:
    """:class:`~tasks.matrix.hosts.HostProvider` on EC2 with SSM RunCommand.

    ``sleep`` and ``clock`` are injectable so tests drive polling without waiting.
    """

    name = "ec2"

    def __init__(
        self,
        region: str,
        *,
        instance_profile: str | None,
        aws: AwsAccess | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = 5.0,
        ready_check: ReadyCheck = "ssm",
        page_size: int = 100,
    ) -> None:
        if not isinstance(region, str) or not region.strip():
            raise usage(f"region must name an AWS region (e.g. us-west-2), got {region!r}")
        check_seconds(poll_seconds, "poll_seconds", maximum=3600)
        if ready_check not in READY_CHECKS:
            raise usage(f"ready_check must be one of {READY_CHECKS}, got {ready_check!r}")
        if not isinstance(page_size, int) or not 5 <= page_size <= 1000:
            raise usage(f"page_size must be 5..1000 (EC2's MaxResults), got {page_size!r}")
        self.region = region
        self.instance_profile = instance_profile
        self.poll_seconds = float(poll_seconds)
        self.ready_check = ready_check
        self.page_size = page_size
        self._sleep = sleep
        self._clock = clock
        aws = aws or open_aws(region)
        self.ec2 = aws.client("ec2")
        self.ssm = aws.client("ssm")
        self.commands = SsmCommands(
            self.ssm, region, sleep=sleep, clock=clock, poll_seconds=self.poll_seconds
        )

    # -- provision -------------------------------------------------------------------------

    def provision(self, leg: Any, *, run_id: str, client_token: str, tags: dict[str, str]) -> Host:
        """Launch one instance for ``leg``, or return the live one this token already launched."""
        _check_client_token(client_token)
        all_tags = {TAG_RUN_ID: run_id, **tags, "Name": f"{NAME_PREFIX}{leg.name}"}
        all_tags[TOKEN_TAG] = client_token
        try:
            existing = self._live_instance_with_token(client_token)
            if existing is not None:
                return self._host(existing)
            request = self._launch_request(leg, client_token, all_tags)
            instance = self.ec2.run_instances(**request)["Instances"][0]
        except ClientError as exc:
            raise _launch_error(leg, self.region, exc) from exc
        except BotoCoreError as exc:
            message = f"could not reach EC2 in {self.region} to launch leg {leg.name}: {exc}"
            again = is_transient(exc)  # safe: the same ClientToken launches nothing new
            raise LegError(message, failure=LegFailure.PROVISION_FAILED, retryable=again) from exc
        return self._host(instance, fallback_tags=all_tags)

    def _launch_request(self, leg: Any, client_token: str, tags: dict[str, str]) -> dict:
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        request: dict[str, Any] = {
            "ImageId": leg.ami,
            "InstanceType": leg.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": client_token,
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tag_list},
                {"ResourceType": "volume", "Tags": tag_list},
            ],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "InstanceInitiatedShutdownBehavior": "terminate",
        }
        if self.instance_profile:
            request["IamInstanceProfile"] = {"Name": self.instance_profile}
        if leg.subnet_id:
            request["SubnetId"] = leg.subnet_id
        if leg.security_group_ids:
            request["SecurityGroupIds"] = list(leg.security_group_ids)
        return request

    def _live_instance_with_token(self, client_token: str) -> dict | None:
        filters = [
            {"Name": f"tag:{TOKEN_TAG}", "Values": [client_token]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
        for reservation in self.ec2.describe_instances(Filters=filters)["Reservations"]:
            for instance in reservation["Instances"]:
                return instance
        return None

    def _host(self, instance: dict, fallback_tags: dict[str, str] | None = None) -> Host:
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
        return Host(
            id=instance["InstanceId"],
            provider=self.name,
            region=self.region,
            ami=instance.get("ImageId"),
            instance_type=instance.get("InstanceType"),
            launched_at=instance["LaunchTime"].astimezone(UTC),
            tags={**(fallback_tags or {}), **tags},
        )

    # -- wait_ready ------------------------------------------------------------------------

    def wait_ready(self, host: Host, timeout_seconds: float) -> None:
        """Poll until the host accepts commands; :class:`LegError` HOST_NOT_READY at the timeout."""
        check_seconds(timeout_seconds, "wait_ready timeout_seconds")
        deadline = self._clock() + timedelta(seconds=timeout_seconds)
        while True:
            ready, seen = self._readiness(host.id)
            if ready:
                return
            left = (deadline - self._clock()).total_seconds()
            if left <= 0:
                raise LegError(
                    f"host {host.id} not ready after {timeout_seconds:g}s (last seen: {seen})",
                    failure=LegFailure.HOST_NOT_READY,
                )
            self._sleep(min(self.poll_seconds, left))

    def _readiness(self, instance_id: str) -> tuple[bool, str]:
        try:
            reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            state = reservations[0]["Instances"][0]["State"]["Name"] if reservations else "absent"
            if state in NEVER_READY_STATES:
                raise LegError(
                    f"host {instance_id} is {state}: it will never accept commands",
                    failure=LegFailure.HOST_NOT_READY,
                )
            if state != "running" or self.ready_check == "instance-state":
                return state == "running", f"instance {state}"
            info = self.ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )["InstanceInformationList"]
            ping = info[0].get("PingStatus", "unknown") if info else "not registered"
            return ping == "Online", f"SSM agent {ping}"
        except ClientError as exc:
            code = aws_code(exc)
            if code in POLL_AGAIN_CODES:
                return False, f"AWS answered {code}"
            message = f"cannot check host {instance_id}: AWS answered {code}"
            raise LegError(message, failure=LegFailure.HOST_NOT_READY) from exc
        except BotoCoreError as exc:
            return False, f"AWS unreachable ({type(exc).__name__})"

    # -- run -------------------------------------------------------------------------------

    def run(self, host: Host, script: str, timeout_seconds: float) -> CommandResult:
        """Run ``script`` on the host by SSM RunCommand (:mod:`tasks.matrix.ssm_commands`)."""
        return self.commands.run(host, script, timeout_seconds)

    # -- terminate / find_expired -----------------------------------------------------------

    def terminate(self, host: Host) -> None:
        """Terminate the instance; one already gone is fine."""
        try:
            self.ec2.terminate_instances(InstanceIds=[host.id])
        except ClientError as exc:
            if aws_code(exc) == "InvalidInstanceID.NotFound":
                return
            raise _request_error(f"terminate {host.id}", self.region, exc) from exc
        except BotoCoreError as exc:
            raise _request_error(f"terminate {host.id}", self.region, exc) from exc

    def find_expired(self, purpose_tag: tuple[str, str], older_than: datetime) -> list[Host]:
        """Live instances with the purpose tag launched before ``older_than``, oldest first.

        moto has no ``launch-time`` filter, so launch times are compared here.
        """
        key, value = check_purpose_tag(purpose_tag)
        check_aware(older_than, "older_than")
        filters = [
            {"Name": f"tag:{key}", "Values": [value]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        paginator = self.ec2.get_paginator("describe_instances")
        pages = paginator.paginate(Filters=filters, PaginationConfig={"PageSize": self.page_size})
        expired: list[Host] = []
        try:
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        host = self._host(instance)
                        if host.tags.get(key) == value and host.launched_at < older_than:
                            expired.append(host)
        except (ClientError, BotoCoreError) as exc:
            raise _request_error(f"list instances tagged {key}={value}", self.region, exc) from exc
        return sorted(expired, key=lambda host: (host.launched_at, host.id))


def _check_client_token(token: str) -> None:
    if not isinstance(token, str) or not token or not token.isascii() or not token.isprintable():
        raise usage(f"client_token must be non-empty printable ASCII, got {token!r}")
    if len(token) > MAX_CLIENT_TOKEN_CHARS:
        raise usage(f"client_token is {len(token)} characters; EC2 accepts at most 64")


def _launch_error(leg: Any, region: str, exc: ClientError) -> LegError:
    code = aws_code(exc)
    failure, retryable = LAUNCH_ERRORS.get(code, _REFUSED)
    for prefix, mapped in LAUNCH_ERROR_PREFIXES.items():
        if code.startswith(prefix):
            failure, retryable = mapped
    message = (
        f"EC2 refused to launch leg {leg.name} ({leg.instance_type}, {leg.ami}) in {region}: "
        f"{code}: {aws_message(exc)}"
    )
    return LegError(message, failure=failure, retryable=retryable)


def _request_error(action: str, region: str, exc: Exception) -> Ec2RequestFailed:
    if isinstance(exc, ClientError):
        code = aws_code(exc)
        return Ec2RequestFailed(
            f"EC2 in {region} refused to {action}: {code}: {aws_message(exc)}",
            retryable=is_transient(exc),
        )
    return Ec2RequestFailed(
        f"could not reach EC2 in {region} to {action}: {exc}", retryable=is_transient(exc)
    )
