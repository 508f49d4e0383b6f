"""The janitor's pure side: the tags every host carries, and terminating what outlived its TTL.

The TTL decision takes ``now`` as a parameter, so every case here runs at a fixed moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.matrix.ec2 import Ec2RequestFailed
from tasks.matrix.hosts import Host
from tasks.matrix.janitor import (
    TAG_EXPIRES_AT,
    TAG_LEG,
    TAG_RUN_ID,
    TAG_TTL_HOURS,
    JanitorIncomplete,
    leg_tags,
    terminate_expired,
)

REGION = "us-west-2"
PURPOSE = ("radix:purpose", "gpu-matrix")
T0 = datetime(2026, 1, 19, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Leg:
    name: str = "nvidia"


class FakeProvider:
    """A HostProvider whose terminate fails for chosen hosts."""

    name = "fake"

    def __init__(self, hosts: list[Host], failing: set[str]) -> None:
        self.hosts, self.failing = hosts, failing
        self.asked: list[tuple[tuple[str, str], datetime]] = []
        self.tried: list[str] = []

    def find_expired(self, purpose_tag: tuple[str, str], older_than: datetime) -> list[Host]:
        self.asked.append((purpose_tag, older_than))
        return self.hosts

    def terminate(self, host: Host) -> None:
        self.tried.append(host.id)
        if host.id in self.failing:
            raise Ec2RequestFailed(f"EC2 refused to terminate {host.id}")


def test_terminate_expired_tries_every_host_and_names_the_failures() -> None:
    hosts = [Host(id=f"i-{n}", provider="fake", region=REGION, launched_at=T0) for n in range(3)]
    provider = FakeProvider(hosts, failing={"i-0"})

    with pytest.raises(JanitorIncomplete) as caught:
        terminate_expired(provider, PURPOSE, ttl_hours=4, now=T0)

    assert provider.tried == ["i-0", "i-1", "i-2"]
    assert provider.asked == [(PURPOSE, T0 - timedelta(hours=4))]
    assert [h.id for h in caught.value.terminated] == ["i-1", "i-2"]
    assert list(caught.value.failures) == ["i-0"]
    assert caught.value.failures["i-0"].startswith("Ec2RequestFailed: ")
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE and caught.value.retryable


def test_leg_tags() -> None:
    tags = leg_tags(PURPOSE, "run-7", Leg(name="amd"), 4, T0)
    assert tags == {
        "radix:purpose": "gpu-matrix",
        TAG_RUN_ID: "run-7",
        TAG_LEG: "amd",
        TAG_EXPIRES_AT: "2026-01-19T14:00:00Z",
        TAG_TTL_HOURS: "4",
    }
    assert leg_tags(PURPOSE, "run-7", "nvidia", 0.5, T0)[TAG_TTL_HOURS] == "0.5"


@pytest.mark.parametrize(
    ("purpose", "run_id", "ttl", "now"),
    [
        (("radix:purpose",), "r", 4, T0),
        (("", "gpu-matrix"), "r", 4, T0),
        (("radix:purpose", "gpu-*"), "r", 4, T0),
        (("aws:purpose", "x"), "r", 4, T0),
        (("k" * 129, "x"), "r", 4, T0),
        (PURPOSE, "", 4, T0),
        (PURPOSE, "r", 0, T0),
        (PURPOSE, "r", float("inf"), T0),
        (PURPOSE, "r", "4", T0),
        (PURPOSE, "r", 4, datetime(2026, 1, 19)),
    ],
)
def test_leg_tags_refuses_bad_input(purpose, run_id, ttl, now) -> None:
    with pytest.raises(UsageError) as caught:
        leg_tags(purpose, run_id, "nvidia", ttl, now)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_a_bad_purpose_tag_is_named() -> None:
    with pytest.raises(UsageError) as caught:
        leg_tags(("radix:purpose", "gpu-*"), "r", "nvidia", 4, T0)
    assert "purpose_tag value 'gpu-*' holds a wildcard (* or ?)" in caught.value.message


@pytest.mark.parametrize("ttl", [-1, float("nan"), True, None])
def test_terminate_expired_refuses_a_bad_ttl(ttl: float) -> None:
    provider = FakeProvider([], failing=set())
    with pytest.raises(UsageError) as caught:
        terminate_expired(provider, PURPOSE, ttl_hours=ttl, now=T0)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert provider.asked == []
