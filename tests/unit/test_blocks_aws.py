"""blocks/aws.py and the environment's ``aws_credentials_block``: validated before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from blocks.aws import load_aws_credentials, ssm_parameter_problem
from blocks.invariants import EnvironmentSpec

LEG = {"onboarding_check": "true", "smoke_job": "echo ok"}
EC2_LEG = {"name": "nvidia", "vendor": "nvidia", "provider": "ec2", "gpu": "nvidia"}
EC2_LEG |= {"ami": "ami-0c2b8ca305e393e06", "instance_type": "g5.xlarge", **LEG}
LOCAL_LEG = {"name": "cpu", "vendor": "cpu", "provider": "local", "gpu": "none", **LEG}
VERIFIED = {
    "auth": {"user_pool_id": "p", "client_id": "c", "username_secret": "u", "password_secret": "w"},
    "control_plane": {"url": "https://control-plane.example.com/api"},
}


def environment(kind: str = "ssm", leg: dict = EC2_LEG, **fields: Any) -> dict[str, Any]:
    promotion = {
        "digest_store": {"kind": kind, "parameter": "/radix/dev/agent_digest_approved"},
        "concurrency_limit": "gpu-matrix-dev",
        "installer": {"script": "true"},
        "legs": [leg],
        **(VERIFIED if kind == "ssm" or leg is EC2_LEG else {}),
    }
    return {"region": "us-west-2", "agent_promotion": promotion, **fields}


def test_the_block_name_is_optional_and_kept() -> None:
    assert EnvironmentSpec.model_validate(environment()).aws_credentials_block is None
    spec = EnvironmentSpec.model_validate(environment(aws_credentials_block="aws-dev"))
    assert spec.aws_credentials_block == "aws-dev"


@pytest.mark.parametrize("name", ["AWS_Dev", "", "-dev", "aws dev", "aws/dev"])
def test_a_block_name_prefect_would_refuse_is_refused(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        EnvironmentSpec.model_validate(environment(aws_credentials_block=name))
    assert [error["loc"] for error in raised.value.errors()] == [("aws_credentials_block",)]


def test_a_block_for_an_environment_without_aws_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        EnvironmentSpec.model_validate(
            environment("local", LOCAL_LEG, aws_credentials_block="aws-dev")
        )
    assert "would do nothing" in raised.value.errors()[0]["msg"]


def test_no_block_name_means_the_default_chain_without_asking_prefect() -> None:
    assert load_aws_credentials(None, "us-west-2") is None


@pytest.mark.parametrize(
    "name",
    [
        "",
        "radix/dev/digest",
        "/radix//dev",
        "/radix dev",
        "/radix/dev/",
        "/a/" + "b" * 1010,
        None,
    ],
)
def test_the_one_ssm_parameter_rule_refuses(name) -> None:
    assert ssm_parameter_problem(name) is not None


@pytest.mark.parametrize("name", ["/radix/dev/agent_digest_approved", "/a", "/a.b/c-d/e_f"])
def test_the_one_ssm_parameter_rule_accepts(name: str) -> None:
    assert ssm_parameter_problem(name) is None
