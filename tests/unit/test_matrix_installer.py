"""The installer's digest: the store or a coded error (20, 21), never an env var or default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from blocks.errors import BackendUnavailable
from tasks.matrix.errors import ApprovedDigestInvalid, ApprovedDigestMissing
from tasks.matrix.installer import (
    INVALID_TAG,
    MISSING_TAG,
    resolve_approved,
)
from tasks.matrix.store import LocalDigestStore

PARAMETER = "/radix/dev/agent_digest_approved"
APPROVED = "ghcr.io/org/agent@sha256:" + "a" * 64
CANDIDATE = "ghcr.io/org/agent@sha256:" + "c" * 64
_PINNED = re.compile(r"^[a-z0-9.-]+(?::\d+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")
TEMPLATE = "#!/bin/bash\nset -eu\ndocker pull {{digest}}\nagent --api {{ api_url }} {{digest}}\n"


def parse(value: str) -> str:
    """A stand-in for tasks.matrix.digest.parse_approved."""
    if not _PINNED.match(value):
        raise ApprovedDigestInvalid("not <registry>/<repository>@sha256:<64 hex>")
    return value


class _Unreachable:
    parameter = PARAMETER

    def read(self) -> None:
        raise BackendUnavailable("SSM in us-west-2 could not be reached")


@pytest.fixture
def store(tmp_path: Path) -> LocalDigestStore:
    return LocalDigestStore(PARAMETER, tmp_path)


@pytest.fixture
def leaky_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable an old handler fell back to, set to a digest that must never be served."""
    for name in ("RADIX_CANDIDATE_DIGEST", "RADIX_APPROVED_DIGEST", "AGENT_DIGEST", "DIGEST"):
        monkeypatch.setenv(name, CANDIDATE)


def test_approved_digest_comes_from_the_store(store) -> None:
    store.write(APPROVED, expected_version=None, writer="run-1")
    assert resolve_approved(store, parse) == APPROVED


@pytest.mark.usefixtures("leaky_environment")
def test_empty_store_is_missing_even_with_digests_in_the_environment(store) -> None:
    with pytest.raises(ApprovedDigestMissing) as raised:
        resolve_approved(store, parse)
    error = raised.value
    assert error.code == 20
    assert error.message.startswith(MISSING_TAG + "\n")
    assert f"parameter {PARAMETER} holds no approved digest" in error.message
    assert "  1. " in error.message and "  2. " in error.message and "  3. " in error.message
    assert f"--name {PARAMETER}" in error.message
    assert CANDIDATE not in error.message


@pytest.mark.parametrize(
    ("value", "parse_error"),
    [
        ("ghcr.io/org/agent:latest", ApprovedDigestInvalid("a tag, not a digest")),
        ("ghcr.io/org/agent@sha256:abc", ValueError("digest is not 64 hex characters")),
        ("garbage", TypeError("cannot parse")),
    ],
)
def test_value_the_parser_rejects_is_invalid(store, value, parse_error) -> None:
    store.write(value, expected_version=None, writer="hand-edit")

    def rejecting(_: str) -> object:
        raise parse_error

    with pytest.raises(ApprovedDigestInvalid) as raised:
        resolve_approved(store, rejecting)
    error = raised.value
    assert error.code == 21
    assert error.message.startswith(INVALID_TAG + "\n")
    assert f"parameter {PARAMETER} (version 1) holds {value!r}" in error.message
    assert str(parse_error).split(" — ")[0] in error.message
    assert "  1. " in error.message and "  3. " in error.message
    assert error.__cause__ is parse_error


def test_pydantic_validation_errors_count_as_invalid(store) -> None:
    class Ref(BaseModel):
        digest: int

    store.write("not-a-ref", expected_version=None, writer="w")
    with pytest.raises(ApprovedDigestInvalid) as raised:
        resolve_approved(store, lambda value: Ref(digest=value))
    assert raised.value.code == 21 and isinstance(raised.value.__cause__, ValidationError)


def test_a_long_invalid_value_is_shown_cut(store) -> None:
    store.write("x" * 500, expected_version=None, writer="w")
    with pytest.raises(ApprovedDigestInvalid) as raised:
        resolve_approved(store, parse)
    assert raised.value.code == 21
    assert "x" * 121 not in raised.value.message  # never the whole value (one message test: above)


def test_an_unreachable_store_is_not_reported_as_missing() -> None:
    with pytest.raises(BackendUnavailable):
        resolve_approved(_Unreachable(), parse)
