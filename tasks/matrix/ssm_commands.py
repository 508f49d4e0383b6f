"""Scripts on an EC2 host through SSM RunCommand (``AWS-RunShellScript``): send, poll, cancel.

Polling is bounded by the script's timeout plus a delivery margin; ``sleep`` and ``clock`` are
injectable so tests drive it without waiting. moto's ``send_command`` runs nothing and reports
``Success`` with empty output. SSM keeps at most the first 24,000 characters of stdout and
8,000 of stderr.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from blocks.errors import UsageError
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.hosts import CommandResult, Host
from tasks.platform.aws import TRANSIENT_CODES, aws_code, aws_message, is_transient
from tasks.platform.clock import utc_now

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 60  # SSM TimeoutSeconds: how long a command may wait to start
RUN_MARGIN_SECONDS = DELIVERY_TIMEOUT_SECONDS + 30.0  # client deadline beyond the script's
MAX_EXECUTION_SECONDS = 172_800  # AWS-RunShellScript's executionTimeout ceiling (48 h)
FINAL_STATUSES = frozenset({"Success", "Failed", "Cancelled", "TimedOut"})
TIMED_OUT_DETAILS = frozenset({"ExecutionTimedOut", "DeliveryTimedOut"})
POLL_AGAIN_CODES = TRANSIENT_CODES | {"InvalidInstanceID.NotFound", "InvocationDoesNotExist"}


class SsmCommands:
    """Runs one script at a time on an instance with the SSM client it is given."""

    def __init__(
        self,
        ssm: Any,
        region: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = 5.0,
    ) -> None:
        self.ssm, self.region, self.poll_seconds = ssm, region, poll_seconds
        self._sleep, self._clock = sleep, clock

    def run(self, host: Host, script: str, timeout_seconds: float) -> CommandResult:
        """Run ``script`` with AWS-RunShellScript; poll until SSM reports a final status."""
        if not isinstance(script, str) or not script.strip():
            raise usage("run() needs a non-empty bash script")
        check_seconds(timeout_seconds, "run timeout_seconds", maximum=MAX_EXECUTION_SECONDS)
        started = self._clock()
        command_id = self._send(host, script, timeout_seconds)
        deadline = started + timedelta(seconds=timeout_seconds + RUN_MARGIN_SECONDS)
        while True:
            invocation = self._invocation(command_id, host.id)
            if invocation is not None and invocation.get("Status") in FINAL_STATUSES:
                return command_result(invocation, self._since(started))
            left = (deadline - self._clock()).total_seconds()
            if left <= 0:
                self._cancel(command_id, host.id)
                note = f"[warden] no final status from SSM for command {command_id}; cancelled"
                return CommandResult(
                    exit_code=None,
                    stderr=note,
                    duration_seconds=self._since(started),
                    timed_out=True,
                )
            self._sleep(min(self.poll_seconds, left))

    def _send(self, host: Host, script: str, timeout_seconds: float) -> str:
        try:
            response = self.ssm.send_command(
                InstanceIds=[host.id],
                DocumentName="AWS-RunShellScript",
                Parameters={
                    "commands": [script],
                    "executionTimeout": [str(math.ceil(timeout_seconds))],
                },
                TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            )
        except ClientError as exc:
            code = aws_code(exc)
            failure = (
                LegFailure.HOST_NOT_READY if code == "InvalidInstanceId" else LegFailure.LEG_CRASHED
            )
            message = f"SSM refused the command for host {host.id}: {code}: {aws_message(exc)}"
            raise LegError(message, failure=failure, retryable=is_transient(exc)) from exc
        except BotoCoreError as exc:
            message = f"could not reach SSM in {self.region} for host {host.id}: {exc}"
            again = is_transient(exc)
            raise LegError(message, failure=LegFailure.LEG_CRASHED, retryable=again) from exc
        return response["Command"]["CommandId"]

    def _invocation(self, command_id: str, instance_id: str) -> dict | None:
        """The invocation, or None while SSM has not registered it yet (normal right after send)."""
        try:
            return self.ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if aws_code(exc) in POLL_AGAIN_CODES:
                return None
            message = f"cannot read command {command_id} on {instance_id}: {aws_code(exc)}"
            raise LegError(message, failure=LegFailure.LEG_CRASHED) from exc
        except BotoCoreError:
            return None  # a network blip while polling: the deadline still bounds the wait

    def _cancel(self, command_id: str, instance_id: str) -> None:
        try:
            self.ssm.cancel_command(CommandId=command_id, InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not cancel SSM command %s on %s: %s", command_id, instance_id, exc)

    def _since(self, started: datetime) -> float:
        return max(0.0, (self._clock() - started).total_seconds())


def command_result(invocation: dict, duration_seconds: float) -> CommandResult:
    status = invocation.get("Status", "")
    details = invocation.get("StatusDetails", "")
    timed_out = status == "TimedOut" or details in TIMED_OUT_DETAILS
    code = invocation.get("ResponseCode", -1)
    finished = status in {"Success", "Failed"} and not timed_out and code >= 0
    stderr = invocation.get("StandardErrorContent", "")
    if not finished:  # no exit code: say why, so the evidence pack is not just empty
        stderr = "\n".join(filter(None, [stderr, f"[warden] SSM status {status} ({details})"]))
    return CommandResult(
        exit_code=code if finished else None,
        stdout=invocation.get("StandardOutputContent", ""),
        stderr=stderr,
        duration_seconds=duration_seconds,
        timed_out=timed_out,
    )


def check_seconds(value: float, what: str, *, maximum: float = 7 * 86_400.0) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= maximum:
        raise usage(f"{what} must be a number of seconds in (0, {maximum:g}], got {value!r}")


def usage(message: str) -> UsageError:
    return UsageError(message, remediation="Fix the value named in the message and run again.")
