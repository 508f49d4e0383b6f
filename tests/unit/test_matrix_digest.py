"""Pinned image references and the manifest check, against a real registry on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from blocks.errors import BackendUnavailable, ExitCode
from tasks.matrix.digest import (
    MANIFEST_MEDIA_TYPES,
    ImageRef,
    ManifestCheck,
    parse_approved,
    parse_candidate,
    verify_manifest,
)
from tasks.matrix.errors import ApprovedDigestInvalid, CandidateDigestInvalid, ManifestMissing
from tests.loopback import QuietHandler, free_port, host_port, loopback_server

HEX = "0123456789abcdef" * 4
OTHER_HEX = "f" * 64
OCI_INDEX = MANIFEST_MEDIA_TYPES[0]
MANIFEST_BODY_SIZE = 1234
TOKEN = "tok-" + "x" * 20
SERVICE = "registry.test"
USER, PASSWORD = "robot", "s3cret"

# --- parsing ---------------------------------------------------------------------------------

# fmt: off
VALID = [
    pytest.param(f"ghcr.io/org/radix-agent@sha256:{HEX}", ("ghcr.io", "org/radix-agent"),
                 id="ghcr"),
    pytest.param(f"127.0.0.1:5000/agent@sha256:{HEX}", ("127.0.0.1:5000", "agent"),
                 id="ip-and-port"),
    pytest.param(f"localhost/a/b.c/d_e-f@sha256:{HEX}", ("localhost", "a/b.c/d_e-f"),
                 id="localhost-nested"),
    pytest.param(f"registry:5000/agent@sha256:{HEX}", ("registry:5000", "agent"),
                 id="host-with-port-no-dot"),
    pytest.param(f"  ghcr.io/org/agent@sha256:{HEX}\n", ("ghcr.io", "org/agent"),
                 id="surrounding-whitespace"),
]

INVALID = [
    pytest.param("", "it is empty", id="empty"),
    pytest.param(None, "expected text, got NoneType", id="not-text"),
    pytest.param(f"org/agent@sha256:{HEX}", "missing registry: 'org' is not a host",
                 id="missing-registry"),
    pytest.param(f"agent@sha256:{HEX}", "needs registry/repository", id="repository-only"),
    pytest.param("ghcr.io/org/agent:v1.2", "has tag 'v1.2' instead of @sha256", id="tag"),
    pytest.param("ghcr.io/org/agent", "has no digest instead of @sha256", id="no-digest"),
    pytest.param(f"ghcr.io/org/agent:v1@sha256:{HEX}", "both tag 'v1' and a digest",
                 id="tag-and-digest"),
    pytest.param(f"ghcr.io/org/agent@sha256:{HEX[:-1]}",
                 "has 63 hex digits, a sha256 digest has 64", id="short-hex"),
    pytest.param(f"ghcr.io/org/agent@sha256:{HEX}0", "has 65 hex digits", id="long-hex"),
    pytest.param(f"ghcr.io/org/agent@sha256:{HEX.upper()}", "hex must be lowercase",
                 id="uppercase-hex"),
    pytest.param(f"ghcr.io/org/agent@sha256:{HEX[:-1]}g", "not hex digits", id="non-hex"),
    pytest.param(f"ghcr.io/org/agent@sha512:{HEX}", "must be sha256:", id="other-algorithm"),
    pytest.param(f"ghcr.io/org/agent@{HEX}", "must be sha256:", id="bare-hex"),
    pytest.param(f"ghcr.io/Org/Agent@sha256:{HEX}", "repository 'Org/Agent' must be lowercase",
                 id="uppercase-repository"),
    pytest.param(f"GHCR.io/org/agent@sha256:{HEX}", "registry 'GHCR.io' must be lowercase",
                 id="uppercase-registry"),
    pytest.param(f"ghcr.io/org//agent@sha256:{HEX}", "must be '/'-separated lowercase",
                 id="empty-component"),
    pytest.param(f"ghcr.io/org/a__b@sha256:{HEX}", "must be '/'-separated lowercase",
                 id="double-separator"),
    pytest.param(f"ghcr.io/org/-agent@sha256:{HEX}", "must be '/'-separated lowercase",
                 id="leading-separator"),
    pytest.param(f"https://ghcr.io/org/agent@sha256:{HEX}", r"drop the scheme \(https://\)",
                 id="scheme"),
    pytest.param(f"ghcr.io/org/agent @sha256:{HEX}", "contains whitespace", id="inner-space"),
    pytest.param(f"ghcr..io/org/agent@sha256:{HEX}", "is not a host", id="bad-host"),
]
# fmt: on


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_references_parse_and_print_back(text: str, expected: tuple[str, str]) -> None:
    ref = parse_candidate(text)
    assert (ref.registry, ref.repository, ref.digest) == (*expected, f"sha256:{HEX}")
    assert str(ref) == text.strip()
    assert parse_approved(str(ref)) == ref


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_candidates_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(CandidateDigestInvalid, match=reason) as caught:
        parse_candidate(text)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert "by digest" in caught.value.remediation


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_approved_digests_are_exit_21(text: str, reason: str) -> None:
    with pytest.raises(ApprovedDigestInvalid) as caught:
        parse_approved(text)
    assert caught.value.code == 21
    assert caught.value.remediation == ApprovedDigestInvalid.remediation


def test_image_ref_validates_its_fields_when_built_directly() -> None:
    with pytest.raises(ValidationError) as bad_registry:
        ImageRef(registry="org", repository="agent", digest=f"sha256:{HEX}")
    with pytest.raises(ValidationError) as bad_digest:
        ImageRef(registry="ghcr.io", repository="agent", digest="sha256:abc")
    assert [error["loc"] for error in bad_registry.value.errors()] == [("registry",)]
    assert [error["loc"] for error in bad_digest.value.errors()] == [("digest",)]


# --- the registry ------------------------------------------------------------------------------
# Repositories choose the server's behaviour: org/agent (anonymous bearer token), org/private
# (token only with basic credentials), org/access (token as access_token), org/garbage (token
# endpoint answers non-JSON), org/empty-token (JSON without a token), org/lying (wrong
# Docker-Content-Digest), org/slow (sleeps), org/broken (503), org/open (no auth at all),
# org/basic (Basic challenge).


class Registry(QuietHandler):
    requests: list[tuple[str, str, dict[str, str]]] = []

    def do_HEAD(self) -> None:  # noqa: N802 (the stdlib's name)
        self._record()
        parts = urlsplit(self.path).path.split("/manifests/")
        repository, digest = parts[0].removeprefix("/v2/"), parts[-1]
        if repository == "org/slow":
            time.sleep(1.0)
        if repository == "org/broken":
            return self._send(503)
        if repository == "org/basic":
            if self.headers.get("Authorization") != _basic(USER, PASSWORD):
                return self._send(401, {"WWW-Authenticate": 'Basic realm="registry"'})
        elif repository != "org/open" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer realm="http://127.0.0.1:{self.server.server_address[1]}/token",'
                f'service="{SERVICE}",'
                f'scope="repository:{repository}:pull"'
            )
            return self._send(401, {"WWW-Authenticate": challenge})
        if digest != f"sha256:{HEX}":
            return self._send(404)
        registry_digest = f"sha256:{OTHER_HEX}" if repository == "org/lying" else digest
        headers = {"Content-Type": OCI_INDEX, "Docker-Content-Digest": registry_digest}
        self._send(200, headers, length=MANIFEST_BODY_SIZE)

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        query = parse_qs(urlsplit(self.path).query)
        scope = query.get("scope", [""])[0]
        if urlsplit(self.path).path != "/token" or query.get("service") != [SERVICE]:
            return self._send(400)
        if "org/private" in scope and self.headers.get("Authorization") != _basic(USER, PASSWORD):
            return self._send(401)
        bodies = {
            "org/garbage": b"<html>not a token</html>",
            "org/empty-token": b'{"expires_in": 300}',
            "org/access": json.dumps({"access_token": TOKEN}).encode(),
        }
        default = json.dumps({"token": TOKEN, "expires_in": 300}).encode()
        body = next((b for repo, b in bodies.items() if f":{repo}:" in scope), default)
        self._send(200, {"Content-Type": "application/json"}, body=body)

    def _record(self) -> None:
        self.requests.append((self.command, self.path, dict(self.headers)))

    def _send(
        self, status: int, headers: dict[str, str] | None = None, *, body=b"", length=None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    with loopback_server(Registry) as server:
        yield host_port(server)


@pytest.fixture(autouse=True)
def _fresh_request_log() -> None:
    Registry.requests = []


def ref(registry: str, repository: str = "org/agent", hex_digest: str = HEX) -> ImageRef:
    return ImageRef(registry=registry, repository=repository, digest=f"sha256:{hex_digest}")


def check(registry: str, repository: str = "org/agent", **kwargs) -> ManifestCheck:
    kwargs.setdefault("insecure_registries", [registry])
    kwargs.setdefault("timeout", 2.0)
    return verify_manifest(ref(registry, repository), **kwargs)


@pytest.mark.parametrize("repository", ["org/agent", "org/access", "org/open"])
def test_existing_manifest(registry: str, repository: str) -> None:
    result = check(registry, repository)
    assert result == ManifestCheck(
        exists=True, media_type=OCI_INDEX, size=MANIFEST_BODY_SIZE, registry_digest=f"sha256:{HEX}"
    )
    head = Registry.requests[-1]
    assert head[0] == "HEAD" and head[1] == f"/v2/{repository}/manifests/sha256:{HEX}"
    assert head[2]["Accept"].split(", ") == list(MANIFEST_MEDIA_TYPES)


def test_bearer_challenge_is_answered_with_service_and_scope(registry: str) -> None:
    check(registry)
    methods = [(method, path.split("?")[0]) for method, path, _ in Registry.requests]
    assert methods == [
        ("HEAD", f"/v2/org/agent/manifests/sha256:{HEX}"),
        ("GET", "/token"),
        ("HEAD", f"/v2/org/agent/manifests/sha256:{HEX}"),
    ]
    token_query = parse_qs(urlsplit(Registry.requests[1][1]).query)
    assert token_query == {"service": [SERVICE], "scope": ["repository:org/agent:pull"]}
    assert "Authorization" not in Registry.requests[1][2]  # anonymous: no credentials sent
    assert Registry.requests[2][2]["Authorization"] == f"Bearer {TOKEN}"


def test_credentials_go_to_the_token_endpoint_as_basic_auth(registry: str) -> None:
    assert check(registry, "org/private", username=USER, password=PASSWORD).exists
    assert Registry.requests[1][2]["Authorization"] == _basic(USER, PASSWORD)


def test_basic_challenge_is_answered_with_the_credentials(registry: str) -> None:
    assert check(registry, "org/basic", username=USER, password=PASSWORD).exists


def test_missing_manifest(registry: str) -> None:
    with pytest.raises(ManifestMissing) as c:
        verify_manifest(ref(registry, hex_digest=OTHER_HEX), insecure_registries=[registry])
    assert c.value.code == ExitCode.VERDICT_FAILED and not c.value.retryable
    assert c.value.remediation == ManifestMissing.remediation


def test_wrong_docker_content_digest_names_both(registry: str) -> None:
    with pytest.raises(ManifestMissing) as caught:
        check(registry, "org/lying")
    assert f"sha256:{OTHER_HEX} != requested sha256:{HEX}" in caught.value.message


# fmt: off
UNAVAILABLE = [
    pytest.param("org/garbage", {}, "answered a body that is not JSON", True, id="garbage-token"),
    pytest.param("org/empty-token", {}, "JSON without token/access_token", True,
                 id="token-missing-from-json"),
    pytest.param("org/private", {}, r"refused the credentials \(HTTP 401\)", False,
                 id="token-refused-without-credentials"),
    pytest.param("org/private", {"username": USER, "password": "wrong"},
                 r"refused the credentials \(HTTP 401\)", False, id="wrong-credentials"),
    pytest.param("org/basic", {}, "asks for Basic credentials and none were given", False,
                 id="basic-without-credentials"),
    pytest.param("org/broken", {}, "manifest request answered HTTP 503", True, id="5xx"),
    pytest.param("org/slow", {"timeout": 0.3}, r"no answer within 0\.3s", True, id="slow-server"),
]
# fmt: on


@pytest.mark.parametrize(("repository", "kwargs", "message", "retryable"), UNAVAILABLE)
def test_registry_failures_are_backend_unavailable(
    registry: str, repository: str, kwargs: dict, message: str, retryable: bool
) -> None:
    with pytest.raises(BackendUnavailable, match=message) as caught:
        check(registry, repository, **kwargs)
    assert caught.value.message.startswith(f"registry {registry}: cannot check manifest")
    assert caught.value.retryable is retryable
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE
    assert PASSWORD not in str(caught.value) and TOKEN not in str(caught.value)


def test_closed_port_is_backend_unavailable() -> None:
    port = free_port()
    with pytest.raises(BackendUnavailable) as caught:
        check(f"127.0.0.1:{port}")
    assert caught.value.retryable and caught.value.code == ExitCode.BACKEND_UNAVAILABLE


def test_registries_not_listed_insecure_are_reached_over_https(registry: str) -> None:
    # The plain-http server cannot speak TLS: the https attempt fails, and that is the point.
    with pytest.raises(BackendUnavailable) as caught:
        check(registry, insecure_registries=[])
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE
    assert all(method != "HEAD" or "/v2/" not in path for method, path, _ in Registry.requests)


def test_credentials_are_not_sent_to_a_plain_http_realm_of_an_https_registry(
    registry: str,
) -> None:
    # The registry (localhost:port) is listed insecure; its realm (127.0.0.1:port) is not.
    other = f"localhost:{registry.split(':')[1]}"
    with pytest.raises(BackendUnavailable) as caught:
        verify_manifest(
            ref(other), insecure_registries=[other], username=USER, password=PASSWORD, timeout=2
        )
    assert caught.value.code == ExitCode.BACKEND_UNAVAILABLE and not caught.value.retryable
    assert all("Authorization" not in headers for _, _, headers in Registry.requests)
