"""Fixtures shared by the unit tests: one definition each, instead of a copy per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tasks.lora.registry import LocalRegistry
from tests.lora_adapters import write_adapters

if TYPE_CHECKING:
    from tests.unit.ec2_fakes import FakeTime


@pytest.fixture
def adapters(tmp_path: Path) -> dict[str, Path]:
    """Three distinct valid LoRA adapters, ``v1``..``v3`` (different seeds: different bytes)."""
    return write_adapters(tmp_path)


@pytest.fixture
def registry(tmp_path: Path) -> LocalRegistry:
    """An empty local LoRA adapter registry whose model names are ``warden-<version>``."""
    return LocalRegistry(tmp_path / "registry", name_prefix="warden")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials and region in the environment; no profile, token or endpoint."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def mock_ec2(aws_env: None) -> Iterator[None]:
    """moto's in-process AWS (EC2, SSM, IAM) for one test."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def fake_time() -> FakeTime:
    """A clock that moves only when the code under test sleeps."""
    from tests.unit.ec2_fakes import FakeTime

    return FakeTime()
