"""The GPU matrix flow with the ``ec2`` provider, end to end against moto's server on 127.0.0.1.

Every boto3 client the flow makes (EC2, SSM, Cognito) reaches the moto server through
``AWS_ENDPOINT_URL``; the run is the real flow under the session's Prefect test harness
(``prefect_api`` of tests/conftest.py), with an SSM digest store, Cognito sign-in from Prefect
Secret blocks and the janitor pre-step.

What the test supplies, because moto cannot: moto's ``send_command`` runs nothing and reports
``Success`` with empty output, and its SSM inventory lists no EC2 instance. So the hosts are
judged ready by instance state (``WARDEN_EC2_READY_CHECK=instance-state``), and
``Ec2HostProvider.run`` is wrapped: the real method still sends every script to moto and polls
its invocation, then, for the smoke-job scripts only, the wrapper puts realistic
``nvidia-smi`` / ``rocm-smi`` output in the result's stdout (what a GPU host would print). The
installer and onboarding check keep moto's empty, successful result.

For speed only: each step opens a new boto3 session (tasks.platform.aws), each loading the EC2
API model again (~0.4 s here); the ``aws`` fixture hands those sessions one shared botocore
model loader. Endpoint, credentials and every request are unchanged.

The janitor's TTL is judged against instances' launch times; the stale instance is launched
with moto's clock set hours back (``launched_ago``), so nothing waits for a TTL to pass.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import boto3
import botocore.loaders
import botocore.session
import moto.ec2.models.instances as moto_instances
import pytest
import yaml
from botocore.config import Config
from prefect.blocks.system import Secret

from blocks.errors import ExitCode
from flows.gpu_matrix import gpu_matrix_promotion
from tasks.matrix import auth as auth_module
from tasks.matrix.ec2 import Ec2HostProvider
from tasks.matrix.errors import LegFailure
from tasks.matrix.evidence import EvidencePack, LegStatus, Verdict
from tasks.matrix.janitor import TAG_EXPIRES_AT, TAG_RUN_ID
from tasks.platform import aws as platform_aws
from tests.control_plane import FakeControlPlane, control_plane
from tests.flows.matrix_files import CANDIDATE, OTHER

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_api")]

REGION = "us-west-2"
ENVIRONMENT = "aws"
PURPOSE_KEY, PURPOSE_VALUE = "radix:purpose", "gpu-matrix"
PROFILE = "RadixSentinelSSMProfile"
USERNAME_SECRET, PASSWORD_SECRET = "radix-test-username", "radix-test-password"
USERNAME, PASSWORD = "matrix-bot", "Corr3ct-Horse-Battery!"
NVIDIA_AMI, AMD_AMI = "ami-0c2b8ca305e393e06", "ami-0875d33dff2aae0d5"
BOTO = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2})
MODELS = botocore.loaders.create_loader()  # API models, loaded once (see the module docstring)

# What the vendor tools print on the dev matrix's hosts (g5.xlarge: A10G; g4ad.xlarge: V520).
NVIDIA_SMI = "NVIDIA A10G, 535.104.05\nGPU 0: NVIDIA A10G (UUID: GPU-5e0f3c8a-1b2c-4d5e)\n"
ROCM_SMI = (
    "========================= ROCm System Management Interface =========================\n"
    "=================================== Product Info ===================================\n"
    "GPU[0]\t\t: Card series: \t\tNavi 12 [Radeon Pro V520]\n"
    "GPU[0]\t\t: Card model: \t\t0x7362\n"
    "GPU[0]\t\t: Card vendor: \t\tAdvanced Micro Devices, Inc. [AMD/ATI]\n"
    "=============================== Version of System Component ========================\n"
    "Driver version: 6.2.4\n"
)
NVIDIA_PROBE = "nvidia-smi --query-gpu=name,driver_version --format=csv,noheader"
AMD_PROBE = "rocm-smi --showproductname --showdriverversion"

INSTALLER = """\
set -euo pipefail
docker pull {{digest}}
docker run -d --name radix-agent --restart unless-stopped \\
  -e RADIX_RUN_ID={{run_id}} -e RADIX_LEG={{leg}} -e AWS_REGION={{region}} {{digest}}
echo agent started from {{digest}}
"""
ONBOARDING = """\
test "$(docker inspect -f '{{.State.Running}}' radix-agent 2>/dev/null)" = true
"""
NVIDIA_SMOKE = f"""\
set -euo pipefail
{NVIDIA_PROBE}
docker run --rm --gpus all --entrypoint nvidia-smi {{{{digest}}}} -L
"""
AMD_SMOKE = f"""\
set -euo pipefail
{AMD_PROBE}
docker run --rm --device=/dev/kfd --device=/dev/dri --group-add video \\
  --entrypoint ls {{{{digest}}}} -l /dev/kfd /dev/dri
"""
TIMEOUTS = {
    "provision_seconds": 30,
    "ready_seconds": 10,
    "installer_seconds": 30,
    "onboarding_seconds": 10,
    "smoke_seconds": 30,
    "poll_seconds": 0.2,
}


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fake credentials, the region, and every boto3 client pointed at the moto server."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("WARDEN_EC2_READY_CHECK", "instance-state")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "RADIX_JWT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    real_session = boto3.session.Session

    def session(*args, **kwargs):
        core = botocore.session.get_session()
        core.register_component("data_loader", MODELS)
        return real_session(*args, botocore_session=core, **kwargs)

    monkeypatch.setattr(platform_aws.boto3.session, "Session", session)
    return moto_endpoint


@contextmanager
def launched_ago(hours: float) -> Iterator[None]:
    """Instances launched inside get a launch time ``hours`` back: moto's clock, not a sleep.

    The server runs in this process (ThreadedMotoServer), and moto stamps ``LaunchTime`` from
    ``moto.ec2.models.instances.utcnow``.
    """
    real = moto_instances.utcnow
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(moto_instances, "utcnow", lambda: real() - timedelta(hours=hours))
        yield


def client(service: str):
    return boto3.client(service, region_name=REGION, config=BOTO)


@pytest.fixture(scope="module")
def cognito(moto_endpoint: str) -> dict[str, str]:
    """Instance profile, user pool, app client and a user with a permanent password (once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
        patch.delenv("AWS_PROFILE", raising=False)
        iam = client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ec2.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName="RadixSentinelSSM", AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName="RadixSentinelSSM")
        idp = client("cognito-idp")
        pool = idp.create_user_pool(PoolName="radix-control-plane")["UserPool"]["Id"]
        app = idp.create_user_pool_client(
            UserPoolId=pool,
            ClientName="gpu-matrix",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        idp.admin_create_user(UserPoolId=pool, Username=USERNAME, MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool, Username=USERNAME, Password=PASSWORD, Permanent=True
        )
    return {"pool": pool, "client": app}


@pytest.fixture
def plane() -> Iterator[FakeControlPlane]:
    """The control plane onboarding is verified against: every host active, any bearer token
    accepted (the test checks it was the run's Cognito IdToken)."""
    with control_plane("active", token=None) as fake:
        yield fake


@pytest.fixture
def parameter(aws: str) -> str:
    """A fresh approved-digest parameter, bootstrapped with OTHER at version 1."""
    name = f"/radix/aws-{uuid.uuid4().hex[:8]}/agent_digest_approved"
    version = client("ssm").put_parameter(Name=name, Value=OTHER, Type="String")["Version"]
    assert version == 1
    return name


@pytest.fixture
def secrets(cognito: dict[str, str]) -> None:
    Secret(value=USERNAME).save(USERNAME_SECRET, overwrite=True)
    Secret(value=PASSWORD).save(PASSWORD_SECRET, overwrite=True)


@pytest.fixture
def live_at_smoke() -> dict[str, dict]:
    """Each host as EC2 described it while its smoke job ran (moto drops the instance profile
    association when it terminates an instance, so it is checked while the host is live)."""
    return {}


@pytest.fixture
def smoke_output(monkeypatch: pytest.MonkeyPatch, live_at_smoke: dict[str, dict]) -> dict[str, str]:
    """What each smoke job prints, by probe; a test may change it. See the module docstring."""
    outputs = {NVIDIA_PROBE: NVIDIA_SMI, AMD_PROBE: ROCM_SMI}
    real_run = Ec2HostProvider.run

    def run(self, host, script, timeout_seconds):
        result = real_run(self, host, script, timeout_seconds)  # really sent to moto and polled
        for probe, stdout in outputs.items():
            if probe in script:
                live_at_smoke.update(instances(**{"instance-id": [host.id]}))
                return result.model_copy(update={"stdout": stdout})
        return result

    monkeypatch.setattr(Ec2HostProvider, "run", run)
    return outputs


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every IdToken the flow's TokenProvider obtained (to prove none leaks)."""
    tokens: list[str] = []
    real = auth_module.TokenProvider._authenticate

    def authenticate(self):
        token, expires_at = real(self)
        tokens.append(token.get_secret_value())
        return token, expires_at

    monkeypatch.setattr(auth_module.TokenProvider, "_authenticate", authenticate)
    return tokens


def ec2_leg(name: str, ami: str, instance_type: str, smoke: str) -> dict:
    return {
        "name": name,
        "vendor": name,
        "provider": "ec2",
        "gpu": name,
        "ami": ami,
        "instance_type": instance_type,
        "timeouts": dict(TIMEOUTS),
        "onboarding_check": ONBOARDING,
        "smoke_job": smoke,
    }


def write_invariants(
    tmp_path: Path,
    parameter: str,
    cognito: dict[str, str],
    plane: FakeControlPlane,
    ttl_hours: float = 4,
) -> Path:
    promotion = {
        "digest_store": {"kind": "ssm", "parameter": parameter},
        "auth": {
            "user_pool_id": cognito["pool"],
            "client_id": cognito["client"],
            "username_secret": USERNAME_SECRET,
            "password_secret": PASSWORD_SECRET,
            "refresh_margin_seconds": 300,
        },
        "control_plane": {"url": plane.url},
        "concurrency_limit": "gpu-matrix-aws",
        "cleanup_ttl_hours": ttl_hours,
        "purpose_tag": f"{PURPOSE_KEY}={PURPOSE_VALUE}",
        "instance_profile": PROFILE,
        "installer": {"script": INSTALLER},
        "legs": [
            ec2_leg("nvidia", NVIDIA_AMI, "g5.xlarge", NVIDIA_SMOKE),
            ec2_leg("amd", AMD_AMI, "g4ad.xlarge", AMD_SMOKE),
        ],
    }
    document = {"environments": {ENVIRONMENT: {"region": REGION, "agent_promotion": promotion}}}
    path = tmp_path / "invariants.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(invariants: Path, out: Path) -> tuple[object, EvidencePack]:
    state = gpu_matrix_promotion(
        environment=ENVIRONMENT,
        candidate_digest=CANDIDATE,
        invariants=str(invariants),
        out=str(out),
        return_state=True,
    )
    pack = state.result(raise_on_failure=False)
    assert isinstance(pack, EvidencePack), pack
    return state, pack


def instances(**filters: list[str]) -> dict[str, dict]:
    """Every instance moto knows matching ``tag:<key>`` filters, by id."""
    named = [{"Name": key, "Values": values} for key, values in filters.items()]
    pages = client("ec2").get_paginator("describe_instances").paginate(Filters=named)
    return {
        i["InstanceId"]: i for page in pages for r in page["Reservations"] for i in r["Instances"]
    }


def tags_of(instance: dict) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def of_run(run_id: str) -> dict[str, dict]:
    return instances(**{f"tag:{TAG_RUN_ID}": [run_id]})


def test_every_leg_passes_and_the_ssm_parameter_is_promoted(
    tmp_path: Path,
    parameter: str,
    cognito: dict[str, str],
    secrets: None,
    smoke_output: dict[str, str],
    live_at_smoke: dict[str, dict],
    issued_tokens: list[str],
    plane: FakeControlPlane,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="botocore")  # request and response bodies too
    out = tmp_path / "evidence"
    state, pack = run(write_invariants(tmp_path, parameter, cognito, plane), out)

    assert state.is_completed(), pack.reasons
    assert (pack.verdict, pack.promoted, pack.exit_code) == (Verdict.PROMOTED, True, 0)
    stored = client("ssm").get_parameter(Name=parameter)["Parameter"]
    assert (stored["Value"], stored["Version"]) == (CANDIDATE, 2)
    before, after = pack.approved_digest_before, pack.approved_digest_after
    assert (before.value, before.version) == (OTHER, 1)
    assert (after.value, after.version) == (CANDIDATE, 2)
    assert pack.auth_method == "cognito" and pack.region == REGION
    assert pack.janitor_terminated == []

    expected = {"nvidia": (NVIDIA_AMI, "g5.xlarge"), "amd": (AMD_AMI, "g4ad.xlarge")}
    legs = {leg.name: leg for leg in pack.legs}
    assert set(legs) == set(expected)
    assert {name: leg.status for name, leg in legs.items()} == dict.fromkeys(
        expected, LegStatus.PASSED
    )
    assert (legs["nvidia"].gpu.model, legs["nvidia"].gpu.driver_version) == (
        "NVIDIA A10G",
        "535.104.05",
    )
    assert (legs["amd"].gpu.model, legs["amd"].gpu.driver_version) == (
        "Navi 12 [Radeon Pro V520]",
        "6.2.4",
    )
    launched = of_run(pack.run_id)
    assert {leg.host.id for leg in pack.legs} == set(launched)  # one instance per leg, no more
    for name, leg in legs.items():
        host = leg.host
        assert (host.provider, host.region) == ("ec2", REGION)
        assert (host.ami, host.instance_type) == expected[name]
        assert host.id.startswith("i-") and leg.terminated
        instance = launched[host.id]
        assert instance["State"]["Name"] == "terminated"
        assert (instance["ImageId"], instance["InstanceType"]) == expected[name]
        profile = live_at_smoke[host.id]["IamInstanceProfile"]["Arn"]
        assert profile.endswith(f":instance-profile/{PROFILE}")
        tags = tags_of(instance)
        assert tags[PURPOSE_KEY] == PURPOSE_VALUE and tags[TAG_RUN_ID] == pack.run_id
        assert tags[TAG_EXPIRES_AT] > pack.started_at.isoformat()[:19]
        # The scripts really went through SSM: the installer carried the candidate digest.
        sent = client("ssm").list_commands(InstanceId=host.id)["Commands"]
        scripts = [c["Parameters"]["commands"][0] for c in sent]
        assert any("docker pull " + CANDIDATE in s for s in scripts), scripts

    # The IdToken the run obtained (and a fresh one) appear in no record of the run, though
    # botocore logged every request and response body at DEBUG.
    records = {
        "evidence.json": (out / "evidence.json").read_text(),
        "evidence.md": (out / "evidence.md").read_text(),
        "logs": caplog.text,
    }
    assert CANDIDATE in records["evidence.json"] and "obtained a Cognito IdToken" in caplog.text
    assert (
        "cognito-identity-provider.InitiateAuth" in caplog.text and "[body redacted" in caplog.text
    )
    assert len(issued_tokens) == 1
    # Onboarding was verified for each leg's instance with that IdToken as bearer.
    assert sorted(plane.hosts_asked()) == sorted(leg.host.id for leg in pack.legs)
    assert {auth for _, auth in plane.asked} == {f"Bearer {issued_tokens[0]}"}
    assert pack.onboarding_verified and all(leg.time_to_active_seconds for leg in pack.legs)
    fresh = client("cognito-idp").initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=cognito["client"],
        AuthParameters={"USERNAME": USERNAME, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["IdToken"]
    for token in (*issued_tokens, fresh):
        signature = token.rsplit(".", 1)[1]
        for where, text in records.items():
            assert signature not in text, f"an IdToken leaked into {where}"
            assert PASSWORD not in text, f"the password leaked into {where}"


def test_the_janitor_terminates_only_stale_instances_with_the_purpose_tag(
    tmp_path: Path,
    parameter: str,
    cognito: dict[str, str],
    secrets: None,
    smoke_output: dict[str, str],
    plane: FakeControlPlane,
) -> None:
    ec2 = client("ec2")

    def launch(purpose: str) -> str:
        tags = [{"Key": PURPOSE_KEY, "Value": purpose}, {"Key": "Name", "Value": "left-over"}]
        return ec2.run_instances(
            ImageId=NVIDIA_AMI,
            InstanceType="g5.xlarge",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"][0]["InstanceId"]

    ttl_hours = 1
    with launched_ago(hours=ttl_hours + 1):
        stale, foreign = launch(PURPOSE_VALUE), launch("something-else")
    fresh = launch(PURPOSE_VALUE)  # launched now: inside its TTL
    _, pack = run(write_invariants(tmp_path, parameter, cognito, plane, ttl_hours), tmp_path / "ev")

    assert pack.verdict is Verdict.PROMOTED, pack.reasons
    assert pack.janitor_terminated == [stale]
    kept = (stale, foreign, fresh)
    states = {i: x["State"]["Name"] for i, x in instances().items() if i in kept}
    assert states == {stale: "terminated", foreign: "running", fresh: "running"}
    assert all(x["State"]["Name"] == "terminated" for x in of_run(pack.run_id).values())
    ec2.terminate_instances(InstanceIds=[foreign, fresh])


def test_a_leg_without_a_gpu_blocks_promotion_and_its_host_is_terminated(
    tmp_path: Path,
    parameter: str,
    cognito: dict[str, str],
    secrets: None,
    smoke_output: dict[str, str],
    plane: FakeControlPlane,
) -> None:
    smoke_output[AMD_PROBE] = ""  # rocm-smi shows no GPU
    state, pack = run(write_invariants(tmp_path, parameter, cognito, plane), tmp_path / "ev")

    assert state.is_failed()
    assert (pack.verdict, pack.promoted, pack.exit_code) == (
        Verdict.NOT_PROMOTED,
        False,
        int(ExitCode.VERDICT_FAILED),
    )
    legs = {leg.name: leg for leg in pack.legs}
    assert legs["nvidia"].passed
    amd = legs["amd"]
    assert amd.failure_code is LegFailure.NO_GPU_DETECTED and amd.gpu.count == 0
    assert amd.remediation and "amd" in " ".join(pack.reasons)
    stored = client("ssm").get_parameter(Name=parameter)["Parameter"]
    assert (stored["Value"], stored["Version"]) == (OTHER, 1)
    assert pack.approved_digest_after == pack.approved_digest_before
    launched = of_run(pack.run_id)
    assert len(launched) == 2
    assert all(x["State"]["Name"] == "terminated" for x in launched.values())
    assert all(leg.terminated for leg in pack.legs)


def test_a_wrong_cognito_password_stops_the_run_before_any_instance(
    tmp_path: Path,
    parameter: str,
    cognito: dict[str, str],
    secrets: None,
    smoke_output: dict[str, str],
    plane: FakeControlPlane,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "Wr0ng-Password-" + uuid.uuid4().hex[:8]
    Secret(value=wrong).save(PASSWORD_SECRET, overwrite=True)
    count = len(instances())
    out = tmp_path / "ev"
    state, pack = run(write_invariants(tmp_path, parameter, cognito, plane), out)

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, int(auth_module.AuthFailed.code))
    assert "NotAuthorizedException" in pack.reasons[0]
    assert "password_secret" in pack.reasons[0]  # the remediation names what to fix
    assert pack.auth_method is None and pack.legs == [] and not pack.promoted
    assert plane.asked == []
    assert len(instances()) == count  # nothing launched
    assert client("ssm").get_parameter(Name=parameter)["Parameter"]["Version"] == 1
    for text in ((out / "evidence.json").read_text(), (out / "evidence.md").read_text()):
        assert wrong not in text and PASSWORD not in text
    assert wrong not in caplog.text
