"""The ec2 host provider (provision, readiness, terminate, find_expired) under moto and Stubber.

moto runs nothing through SSM (``send_command`` reports Success with empty output) and lists
no EC2 instance in ``describe_instance_information``: readiness through SSM and the command
status sequence are driven by a Stubber, with a fake clock so no test waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from botocore.stub import ANY, Stubber

from blocks.errors import ExitCode, UsageError
from tasks.matrix.ec2 import TOKEN_TAG, Ec2HostProvider, Ec2RequestFailed
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.janitor import (
    TAG_LEG,
    TAG_RUN_ID,
    terminate_expired,
)
from tasks.platform.aws import aws_code
from tasks.platform.clock import utc_now
from tests.unit.ec2_fakes import (
    ACCESS,
    INSTANCE,
    PURPOSE,
    REGION,
    SESSION,
    T0,
    FakeTime,
    Leg,
    launch,
    make_provider,
    stub_host,
    tag_dict,
)

# -- provision ------------------------------------------------------------------------------


def test_clients_carry_client_side_timeouts(aws_env: None) -> None:
    provider = make_provider()
    for client in (provider.ec2, provider.ssm):
        assert client.meta.config.connect_timeout == 5
        assert client.meta.config.read_timeout == 30
        # the first attempt and three retries
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}


def test_provision_launches_with_the_legs_settings_and_tags(mock_ec2: None) -> None:
    iam = SESSION.client("iam")
    iam.create_instance_profile(InstanceProfileName="RadixSentinelSSMProfile")
    ec2 = SESSION.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="warden", Description="d", VpcId=vpc)["GroupId"]
    leg = Leg(subnet_id=subnet, security_group_ids=[group])
    provider = make_provider(instance_profile="RadixSentinelSSMProfile")

    host = launch(provider, "run-1-nvidia", leg=leg)

    instance = ec2.describe_instances(InstanceIds=[host.id])["Reservations"][0]["Instances"][0]
    assert (instance["ImageId"], instance["InstanceType"]) == (leg.ami, "g5.xlarge")
    assert instance["IamInstanceProfile"]["Arn"].endswith("/RadixSentinelSSMProfile")
    assert instance["SubnetId"] == subnet
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    shutdown = ec2.describe_instance_attribute(
        InstanceId=host.id, Attribute="instanceInitiatedShutdownBehavior"
    )
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    tags = tag_dict(instance["Tags"])
    assert tags["Name"] == "warden-gpu-matrix-nvidia"
    assert tags[PURPOSE[0]] == PURPOSE[1]
    assert (tags[TAG_RUN_ID], tags[TAG_LEG], tags[TOKEN_TAG]) == ("run-1", "nvidia", "run-1-nvidia")
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [host.id]}]
    )["Volumes"]
    assert volumes, "the root volume is attached"
    assert all(tag_dict(v["Tags"]) == tags for v in volumes)
    assert host.tags == tags
    assert (host.provider, host.region, host.ami, host.instance_type) == (
        "ec2",
        REGION,
        leg.ami,
        "g5.xlarge",
    )
    assert host.launched_at.tzinfo is not None
    assert abs(host.launched_at - utc_now()) < timedelta(minutes=1)


def test_same_client_token_returns_the_same_instance(mock_ec2: None) -> None:
    provider = make_provider()
    first = launch(provider, "run-1-nvidia")
    again = launch(provider, "run-1-nvidia")
    other = launch(provider, "run-1-amd")

    assert again.id == first.id
    assert other.id != first.id
    ec2 = SESSION.client("ec2")
    reservations = ec2.describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 2


def test_request_omits_profile_subnet_and_groups_when_unset(aws_env: None) -> None:
    provider = make_provider()
    leg = Leg()
    tags = {"radix:purpose": "gpu-matrix"}
    expected_tags = [
        {"Key": TAG_RUN_ID, "Value": "run-9"},
        {"Key": "radix:purpose", "Value": "gpu-matrix"},
        {"Key": "Name", "Value": "warden-gpu-matrix-nvidia"},
        {"Key": TOKEN_TAG, "Value": "tok-1"},
    ]
    with Stubber(provider.ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": []}, {"Filters": ANY})
        stub.add_response(
            "run_instances",
            {"Instances": [{"InstanceId": INSTANCE, "LaunchTime": T0, "ImageId": leg.ami}]},
            {
                "ImageId": leg.ami,
                "InstanceType": "g5.xlarge",
                "MinCount": 1,
                "MaxCount": 1,
                "ClientToken": "tok-1",
                "TagSpecifications": [
                    {"ResourceType": "instance", "Tags": expected_tags},
                    {"ResourceType": "volume", "Tags": expected_tags},
                ],
                "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
                "InstanceInitiatedShutdownBehavior": "terminate",
            },
        )
        host = provider.provision(leg, run_id="run-9", client_token="tok-1", tags=tags)
        stub.assert_no_pending_responses()
    assert host.id == INSTANCE
    assert host.launched_at == T0
    assert host.tags == tag_dict(expected_tags)


@pytest.mark.parametrize(
    ("code", "failure", "retryable"),
    [
        ("InsufficientInstanceCapacity", LegFailure.CAPACITY_UNAVAILABLE, True),
        ("InstanceLimitExceeded", LegFailure.CAPACITY_UNAVAILABLE, True),
        ("Unsupported", LegFailure.CAPACITY_UNAVAILABLE, True),
        ("RequestLimitExceeded", LegFailure.CAPACITY_UNAVAILABLE, True),
        ("InvalidAMIID.NotFound", LegFailure.PROVISION_FAILED, False),
        ("InvalidAMIID.Malformed", LegFailure.PROVISION_FAILED, False),
        ("InvalidParameterValue", LegFailure.PROVISION_FAILED, False),
        ("UnauthorizedOperation", LegFailure.PROVISION_FAILED, False),
        ("InvalidInstanceType", LegFailure.PROVISION_FAILED, False),
        ("InternalError", LegFailure.PROVISION_FAILED, True),
        ("SomethingNew", LegFailure.PROVISION_FAILED, False),
    ],
)
def test_launch_errors_map_by_code(
    aws_env: None, code: str, failure: LegFailure, retryable: bool
) -> None:
    provider = make_provider()
    with Stubber(provider.ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": []})
        stub.add_client_error("run_instances", service_error_code=code, service_message="no")
        with pytest.raises(LegError) as caught:
            provider.provision(Leg(), run_id="r", client_token="t", tags={})
    error = caught.value
    assert (error.failure, error.retryable) == (failure, retryable)
    assert isinstance(error.__cause__, ClientError) and aws_code(error.__cause__) == code


def test_a_refused_launch_names_the_leg_and_the_region(aws_env: None) -> None:
    provider = make_provider()
    with Stubber(provider.ec2) as stub:
        stub.add_response("describe_instances", {"Reservations": []})
        stub.add_client_error("run_instances", service_error_code="OptInRequired")
        with pytest.raises(LegError) as caught:
            provider.provision(Leg(), run_id="r", client_token="t", tags={})
    assert "refused to launch leg nvidia (g5.xlarge, " in caught.value.message
    assert f"in {REGION}: OptInRequired" in caught.value.message


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (EndpointConnectionError(endpoint_url="https://ec2.us-west-2.amazonaws.com"), True),
        (NoCredentialsError(), False),  # retrying cannot bring credentials
    ],
)
def test_botocore_errors_while_provisioning_are_provision_failures(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, error: Exception, retryable: bool
) -> None:
    provider = make_provider()

    def failing(**_: object) -> None:
        raise error

    monkeypatch.setattr(provider.ec2, "describe_instances", failing)
    with pytest.raises(LegError) as caught:
        provider.provision(Leg(), run_id="r", client_token="t", tags={})
    assert (caught.value.failure, caught.value.retryable) == (
        LegFailure.PROVISION_FAILED,
        retryable,
    )
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("token", ["", "x" * 65, "jeton-é", "a\nb"])
def test_bad_client_token_is_refused_before_any_call(aws_env: None, token: str) -> None:
    provider = make_provider()
    with Stubber(provider.ec2), pytest.raises(UsageError) as caught:
        provider.provision(Leg(), run_id="r", client_token=token, tags={})
    assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "kwargs",
    [
        {"region": ""},
        {"poll_seconds": 0},
        {"poll_seconds": float("nan")},
        {"ready_check": "ping"},
        {"page_size": 2},
    ],
)
def test_bad_constructor_arguments(aws_env: None, kwargs: dict) -> None:
    region = kwargs.pop("region", REGION)
    with pytest.raises(UsageError):
        Ec2HostProvider(region, instance_profile=None, aws=ACCESS, **kwargs)


# -- wait_ready -----------------------------------------------------------------------------


def instances(state: str) -> dict:
    return {"Reservations": [{"Instances": [{"InstanceId": INSTANCE, "State": {"Name": state}}]}]}


def ssm_info(ping: str | None) -> dict:
    listed = [] if ping is None else [{"InstanceId": INSTANCE, "PingStatus": ping}]
    return {"InstanceInformationList": listed}


def test_wait_ready_instance_state_under_moto(mock_ec2: None, fake_time: FakeTime) -> None:
    provider = make_provider(fake_time, ready_check="instance-state")
    host = launch(provider, "tok")
    provider.wait_ready(host, timeout_seconds=60)
    assert fake_time.slept == []  # moto starts instances in "running" at once


def test_wait_ready_waits_for_running_then_the_ssm_agent(
    aws_env: None, fake_time: FakeTime
) -> None:
    provider = make_provider(fake_time, poll_seconds=5)
    with Stubber(provider.ec2) as ec2, Stubber(provider.ssm) as ssm:
        ec2.add_response("describe_instances", instances("pending"), {"InstanceIds": [INSTANCE]})
        ec2.add_client_error("describe_instances", service_error_code="RequestLimitExceeded")
        ec2.add_response("describe_instances", instances("running"))
        ssm.add_response("describe_instance_information", ssm_info("ConnectionLost"))
        ec2.add_response("describe_instances", instances("running"))
        ssm.add_response(
            "describe_instance_information",
            ssm_info("Online"),
            {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE]}]},
        )
        provider.wait_ready(stub_host(), timeout_seconds=60)
        ec2.assert_no_pending_responses()
        ssm.assert_no_pending_responses()
    assert fake_time.slept == [5, 5, 5]


def test_wait_ready_times_out_when_the_agent_never_registers(
    aws_env: None, fake_time: FakeTime
) -> None:
    provider = make_provider(fake_time, poll_seconds=5)
    with Stubber(provider.ec2) as ec2, Stubber(provider.ssm) as ssm:
        for _ in range(4):  # at 0, 5, 10 and 12 seconds
            ec2.add_response("describe_instances", instances("running"))
            ssm.add_response("describe_instance_information", ssm_info(None))
        with pytest.raises(LegError) as caught:
            provider.wait_ready(stub_host(), timeout_seconds=12)
    assert caught.value.failure is LegFailure.HOST_NOT_READY
    assert fake_time.slept == [5, 5, 2]


@pytest.mark.parametrize("state", ["terminated", "shutting-down", "stopped"])
def test_wait_ready_fails_at_once_for_a_dead_instance(
    aws_env: None, fake_time: FakeTime, state: str
) -> None:
    provider = make_provider(fake_time)
    with Stubber(provider.ec2) as ec2:
        ec2.add_response("describe_instances", instances(state))
        with pytest.raises(LegError) as caught:
            provider.wait_ready(stub_host(), timeout_seconds=600)
    assert caught.value.failure is LegFailure.HOST_NOT_READY
    assert fake_time.slept == []


def test_wait_ready_stops_on_a_permission_error(aws_env: None, fake_time: FakeTime) -> None:
    provider = make_provider(fake_time)
    with Stubber(provider.ec2) as ec2:
        ec2.add_client_error("describe_instances", service_error_code="UnauthorizedOperation")
        with pytest.raises(LegError) as caught:
            provider.wait_ready(stub_host(), timeout_seconds=600)
    assert caught.value.failure is LegFailure.HOST_NOT_READY
    assert aws_code(caught.value.__cause__) == "UnauthorizedOperation"


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), True])
def test_wait_ready_refuses_a_bad_timeout(aws_env: None, timeout: float) -> None:
    with pytest.raises(UsageError) as caught:
        make_provider().wait_ready(stub_host(), timeout_seconds=timeout)
    assert caught.value.code == ExitCode.USAGE_ERROR


# -- terminate ------------------------------------------------------------------------------


def test_terminate_is_idempotent(mock_ec2: None) -> None:
    provider = make_provider()
    host = launch(provider, "tok")
    provider.terminate(host)
    provider.terminate(host)
    provider.terminate(stub_host())  # never existed: InvalidInstanceID.NotFound is fine
    ec2 = SESSION.client("ec2")
    state = ec2.describe_instances(InstanceIds=[host.id])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "terminated"


@pytest.mark.parametrize(
    ("code", "retryable"), [("UnauthorizedOperation", False), ("RequestLimitExceeded", True)]
)
def test_terminate_failure_is_typed(aws_env: None, code: str, retryable: bool) -> None:
    provider = make_provider()
    with Stubber(provider.ec2) as ec2:
        ec2.add_client_error("terminate_instances", service_error_code=code)
        with pytest.raises(Ec2RequestFailed) as caught:
            provider.terminate(stub_host())
    assert (caught.value.code, caught.value.retryable) == (ExitCode.BACKEND_UNAVAILABLE, retryable)
    assert aws_code(caught.value.__cause__) == code


# -- find_expired and the janitor -----------------------------------------------------------


@pytest.fixture
def fleet(mock_ec2: None) -> tuple[Ec2HostProvider, set[str], set[str]]:
    """Six matrix hosts and one of another purpose; one more matrix host already terminated."""
    provider = make_provider(page_size=5)
    ours = {launch(provider, f"tok-{i}").id for i in range(6)}
    theirs = {launch(provider, f"other-{i}", purpose=("radix:purpose", "ci")).id for i in range(1)}
    provider.terminate(launch(provider, "tok-gone"))
    return provider, ours, theirs


def test_find_expired_pages_and_selects_by_tag_and_age(fleet) -> None:
    provider, ours, _ = fleet
    calls: list[str] = []
    provider.ec2.meta.events.register(
        "before-call.ec2.DescribeInstances", lambda **_: calls.append("page")
    )

    expired = provider.find_expired(PURPOSE, older_than=utc_now() + timedelta(hours=1))

    assert {host.id for host in expired} == ours
    assert len(calls) >= 2, "six hosts at five a page take more than one page"
    assert [h.launched_at for h in expired] == sorted(h.launched_at for h in expired)
    assert all(host.tags[PURPOSE[0]] == PURPOSE[1] for host in expired)
    assert provider.find_expired(PURPOSE, older_than=utc_now() - timedelta(hours=1)) == []


def test_terminate_expired_leaves_other_purposes_running(fleet) -> None:
    provider, ours, theirs = fleet
    later = utc_now() + timedelta(hours=5)

    terminated = terminate_expired(provider, PURPOSE, ttl_hours=4, now=later)

    assert {host.id for host in terminated} == ours
    ec2 = SESSION.client("ec2")
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    }
    assert {states[i] for i in ours} == {"terminated"}
    assert {states[i] for i in theirs} == {"running"}
    assert terminate_expired(provider, PURPOSE, ttl_hours=4, now=later) == []
    assert terminate_expired(provider, ("radix:purpose", "ci"), ttl_hours=4, now=utc_now()) == []
    # TTL 0 from a moment ahead sweeps everything with the tag: a crashed run's own hosts
    swept = terminate_expired(
        provider, ("radix:purpose", "ci"), 0, utc_now() + timedelta(minutes=1)
    )
    assert {host.id for host in swept} == theirs


@pytest.mark.parametrize(
    ("purpose", "older_than"),
    [(PURPOSE, datetime(2026, 1, 19)), (("radix:purpose", "?"), T0)],
)
def test_find_expired_refuses_bad_input(aws_env: None, purpose, older_than):
    provider = make_provider()
    with Stubber(provider.ec2), pytest.raises(UsageError) as caught:
        provider.find_expired(purpose, older_than)
    assert caught.value.code == ExitCode.USAGE_ERROR
