"""SSM RunCommand on an EC2 host: send, poll to a final status, cancel at the deadline."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from blocks.errors import ExitCode, UsageError
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.ssm_commands import DELIVERY_TIMEOUT_SECONDS, command_result
from tasks.platform.aws import aws_code
from tests.unit.ec2_fakes import (
    COMMAND_ID,
    INSTANCE,
    FakeTime,
    launch,
    make_provider,
    stub_host,
)


def test_run_under_moto_reports_success_with_empty_output(mock_ec2: None) -> None:
    provider = make_provider(ready_check="instance-state")
    host = launch(provider, "tok")

    result = provider.run(host, "nvidia-smi && echo ok", timeout_seconds=600)

    # moto runs nothing: Success, exit 0 and no output, whatever the script.
    assert (result.exit_code, result.stdout, result.stderr, result.ok) == (0, "", "", True)
    command = provider.ssm.list_commands()["Commands"][0]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["InstanceIds"] == [host.id]
    assert command["Parameters"]["commands"] == ["nvidia-smi && echo ok"]
    assert command["Parameters"]["executionTimeout"] == ["600"]


def test_run_polls_through_a_missing_invocation_to_the_exit_code(
    aws_env: None, fake_time: FakeTime
) -> None:
    provider = make_provider(fake_time, poll_seconds=5)
    poll = {"CommandId": COMMAND_ID, "InstanceId": INSTANCE}
    with Stubber(provider.ssm) as ssm:
        ssm.add_response(
            "send_command",
            {"Command": {"CommandId": COMMAND_ID}},
            {
                "InstanceIds": [INSTANCE],
                "DocumentName": "AWS-RunShellScript",
                "Parameters": {"commands": ["rocm-smi"], "executionTimeout": ["300"]},
                "TimeoutSeconds": DELIVERY_TIMEOUT_SECONDS,
            },
        )
        ssm.add_client_error(
            "get_command_invocation", "InvocationDoesNotExist", http_status_code=400
        )
        ssm.add_response(
            "get_command_invocation", {"Status": "InProgress", "ResponseCode": -1}, poll
        )
        ssm.add_response(
            "get_command_invocation",
            {
                "Status": "Failed",
                "StatusDetails": "Failed",
                "ResponseCode": 2,
                "StandardOutputContent": "probing GPUs\n",
                "StandardErrorContent": "rocm-smi: command not found\n",
            },
            poll,
        )
        result = provider.run(stub_host(), "rocm-smi", timeout_seconds=300)
        ssm.assert_no_pending_responses()
    assert (result.exit_code, result.timed_out, result.ok) == (2, False, False)
    assert result.stdout == "probing GPUs\n"
    assert result.stderr == "rocm-smi: command not found\n"
    assert result.duration_seconds == 10
    assert fake_time.slept == [5, 5]


def test_run_cancels_at_the_client_deadline(aws_env: None, fake_time: FakeTime) -> None:
    provider = make_provider(fake_time, poll_seconds=50)
    with Stubber(provider.ssm) as ssm:
        ssm.add_response("send_command", {"Command": {"CommandId": COMMAND_ID}})
        for _ in range(3):  # at 0, 50 and 100 s; the deadline is 10 s + the 90 s margin
            ssm.add_response("get_command_invocation", {"Status": "InProgress"})
        ssm.add_response("cancel_command", {}, {"CommandId": COMMAND_ID, "InstanceIds": [INSTANCE]})
        result = provider.run(stub_host(), "sleep 999", timeout_seconds=10)
        ssm.assert_no_pending_responses()
    assert (result.exit_code, result.timed_out) == (None, True)
    assert COMMAND_ID in result.stderr
    assert result.duration_seconds == 100


@pytest.mark.parametrize(
    ("invocation", "exit_code", "timed_out"),
    [
        ({"Status": "Success", "ResponseCode": 0}, 0, False),
        ({"Status": "Failed", "ResponseCode": 127}, 127, False),
        (
            {"Status": "TimedOut", "StatusDetails": "ExecutionTimedOut", "ResponseCode": -1},
            None,
            True,
        ),
        ({"Status": "Failed", "StatusDetails": "DeliveryTimedOut", "ResponseCode": -1}, None, True),
        ({"Status": "Cancelled", "StatusDetails": "Cancelled", "ResponseCode": -1}, None, False),
        ({"Status": "Failed", "StatusDetails": "Undeliverable", "ResponseCode": -1}, None, False),
    ],
)
def test_final_statuses_become_command_results(
    invocation: dict, exit_code: int | None, timed_out: bool
) -> None:
    result = command_result(invocation, 3.0)
    assert (result.exit_code, result.timed_out) == (exit_code, timed_out)
    assert ("[warden] SSM status" in result.stderr) is (exit_code is None)


@pytest.mark.parametrize(
    ("code", "failure", "retryable"),
    [
        ("InvalidInstanceId", LegFailure.HOST_NOT_READY, False),
        ("ThrottlingException", LegFailure.LEG_CRASHED, True),
        ("AccessDeniedException", LegFailure.LEG_CRASHED, False),
    ],
)
def test_send_command_errors_map_by_code(
    aws_env: None, code: str, failure: LegFailure, retryable: bool
) -> None:
    provider = make_provider()
    with Stubber(provider.ssm) as ssm:
        ssm.add_client_error("send_command", service_error_code=code)
        with pytest.raises(LegError) as caught:
            provider.run(stub_host(), "true", timeout_seconds=60)
    assert (caught.value.failure, caught.value.retryable) == (failure, retryable)
    assert aws_code(caught.value.__cause__) == code


@pytest.mark.parametrize(
    ("script", "timeout"), [("", 60), ("   ", 60), ("true", 0), ("true", 172_801)]
)
def test_run_refuses_bad_input(aws_env: None, script: str, timeout: float):
    provider = make_provider()
    with Stubber(provider.ssm), pytest.raises(UsageError) as caught:
        provider.run(stub_host(), script, timeout_seconds=timeout)
    assert caught.value.code == ExitCode.USAGE_ERROR
