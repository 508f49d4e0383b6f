"""A prefect-aws AwsCredentials block named by the environment gives the matrix its AWS clients.

Saved under the session's Prefect test harness, pointed at moto's server on 127.0.0.1.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters

from blocks.aws import AwsCredentialsBlockMissing
from blocks.errors import ConfigError, ExitCode
from blocks.invariants import EnvironmentSpec
from tasks.matrix.wiring import aws_access, digest_store
from tasks.platform.aws import DEFAULT_CHAIN

REGION = "us-west-2"
SECRET = "block-secret-" + uuid.uuid4().hex[:8]
CANDIDATE = "ghcr.io/org/agent@sha256:" + "a" * 64


def environment(block: str | None, parameter: str = "/radix/dev/agent_digest_approved"):
    leg = {"name": "nvidia", "vendor": "nvidia", "provider": "ec2", "gpu": "nvidia"}
    leg |= {"ami": "ami-0c2b8ca305e393e06", "instance_type": "g5.xlarge"}
    leg |= {"onboarding_check": "true", "smoke_job": "echo ok"}
    promotion = {
        "digest_store": {"kind": "ssm", "parameter": parameter},
        "auth": {"user_pool_id": "p", "client_id": "c", "username_secret": "u"}
        | {"password_secret": "w"},
        "control_plane": {"url": "https://control-plane.example.com/api"},
        "concurrency_limit": "gpu-matrix-dev",
        "installer": {"script": "true"},
        "legs": [leg],
    }
    document = {"region": REGION, "agent_promotion": promotion, "aws_credentials_block": block}
    return EnvironmentSpec.model_validate(document)


@pytest.fixture
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the block can make these calls work: no credentials or endpoint in the environment."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def test_a_saved_block_with_moto_s_endpoint_yields_working_clients(
    moto_endpoint: str, no_ambient_aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"warden-aws-{uuid.uuid4().hex[:8]}"
    AwsCredentials(
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
        aws_client_parameters=AwsClientParameters(endpoint_url=moto_endpoint),
    ).save(name)
    caplog.set_level(logging.INFO, logger="tasks.platform.aws")
    env = environment(name, f"/radix/{name}/agent_digest_approved")

    store = digest_store(env)
    written = store.write(CANDIDATE, expected_version=None, writer="test")
    assert (written.version, store.read().value) == (1, CANDIDATE)
    assert f"AWS clients in {REGION} use the AwsCredentials block '{name}'" in caplog.text
    assert SECRET not in caplog.text


def test_no_block_name_uses_the_default_chain_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tasks.platform.aws")
    assert aws_access(environment(None)).source == DEFAULT_CHAIN
    assert f"AWS clients in {REGION} use {DEFAULT_CHAIN}" in caplog.text


def test_an_unknown_block_name_is_a_typed_config_error() -> None:
    with pytest.raises(AwsCredentialsBlockMissing) as raised:
        aws_access(environment(f"no-such-block-{uuid.uuid4().hex[:8]}"))
    assert isinstance(raised.value, ConfigError) and raised.value.code == ExitCode.USAGE_ERROR


def test_a_block_for_another_region_is_refused() -> None:
    name = f"warden-aws-{uuid.uuid4().hex[:8]}"
    AwsCredentials(region_name="eu-west-1").save(name)
    with pytest.raises(ConfigError) as raised:
        aws_access(environment(name))
    assert type(raised.value) is ConfigError and raised.value.code == ExitCode.USAGE_ERROR
