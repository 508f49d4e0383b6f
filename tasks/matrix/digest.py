"""Pinned image references: parse a candidate or approved digest, check its manifest exists.

Only ``registry/repository@sha256:<64 lowercase hex>`` is accepted: a tag is mutable and is
never tested or promoted. The manifest check is the OCI distribution API's
``HEAD /v2/<repository>/manifests/<digest>``, with the registry's bearer-token challenge.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

import httpx
from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import BackendUnavailable
from tasks.matrix.errors import ApprovedDigestInvalid, CandidateDigestInvalid, ManifestMissing

_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_PORT = r":[0-9]{1,5}"
REGISTRY_PATTERN = rf"^(localhost({_PORT})?|{_LABEL}(\.{_LABEL})+({_PORT})?|{_LABEL}{_PORT})$"
COMPONENT_PATTERN = r"[a-z0-9]+([._-][a-z0-9]+)*"
REPOSITORY_PATTERN = rf"^{COMPONENT_PATTERN}(/{COMPONENT_PATTERN})*$"
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"

_REGISTRY = re.compile(REGISTRY_PATTERN)
_REPOSITORY = re.compile(REPOSITORY_PATTERN)
_DIGEST = re.compile(DIGEST_PATTERN)
_EXAMPLE = "ghcr.io/org/agent@sha256:<64 lowercase hex>"

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class ImageRef(BaseModel):
    """An image pinned by digest; ``str()`` is ``registry/repository@digest``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    registry: str = Field(pattern=REGISTRY_PATTERN, description="host[:port], e.g. ghcr.io")
    repository: str = Field(pattern=REPOSITORY_PATTERN, description="e.g. org/radix-agent")
    digest: str = Field(pattern=DIGEST_PATTERN, description="sha256:<64 lowercase hex>")

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"


class ManifestCheck(BaseModel):
    """What the registry said about the manifest (recorded in the evidence pack)."""

    model_config = ConfigDict(frozen=True)

    exists: bool
    media_type: str | None = None
    size: int | None = None
    registry_digest: str | None = None


def parse_candidate(text: str) -> ImageRef:
    """Parse the candidate a run was given; CandidateDigestInvalid says what is wrong."""
    try:
        return _parse(text)
    except _Invalid as exc:
        raise CandidateDigestInvalid(f"candidate {text!r} is not a pinned image: {exc}") from None


def parse_approved(text: str) -> ImageRef:
    """Parse the stored approved digest; ApprovedDigestInvalid (exit 21) says what is wrong."""
    try:
        return _parse(text)
    except _Invalid as exc:
        raise ApprovedDigestInvalid(f"approved digest {text!r} is invalid: {exc}") from None


class _Invalid(ValueError):
    """Why a reference is not ``registry/repository@sha256:<64 hex>``."""


def _parse(text: str) -> ImageRef:
    if not isinstance(text, str):
        raise _Invalid(f"expected text, got {type(text).__name__}")
    ref = text.strip()
    if not ref:
        raise _Invalid(f"it is empty; expected {_EXAMPLE}")
    if any(char.isspace() for char in ref):
        raise _Invalid("it contains whitespace")
    if "://" in ref:
        raise _Invalid(f"drop the scheme ({ref.split('://')[0]}://); expected {_EXAMPLE}")
    name, at, digest = ref.partition("@")
    if not at:
        last = name.rsplit("/", 1)[-1]
        what = f"tag {last.split(':', 1)[1]!r}" if ":" in last else "no digest"
        raise _Invalid(f"it has {what} instead of @sha256:<digest>; tags are mutable")
    registry, slash, repository = name.partition("/")
    if not slash or not repository:
        raise _Invalid(f"it needs registry/repository before the @; expected {_EXAMPLE}")
    if not _looks_like_host(registry):
        raise _Invalid(
            f"missing registry: {registry!r} is not a host (no dot or port); expected {_EXAMPLE}"
        )
    if ":" in repository.rsplit("/", 1)[-1]:
        tag = repository.rsplit(":", 1)[1]
        raise _Invalid(f"it has both tag {tag!r} and a digest; drop the tag")
    _check_registry(registry)
    _check_repository(repository)
    _check_digest(digest)
    return ImageRef(registry=registry, repository=repository, digest=digest)


def _looks_like_host(component: str) -> bool:
    """Docker's rule: the first component is a registry if it has a dot or port, or is localhost."""
    return "." in component or ":" in component or component == "localhost"


def _check_registry(registry: str) -> None:
    if registry != registry.lower():
        raise _Invalid(f"registry {registry!r} must be lowercase")
    if not _REGISTRY.match(registry):
        raise _Invalid(f"registry {registry!r} is not a host[:port]")


def _check_repository(repository: str) -> None:
    if repository != repository.lower():
        raise _Invalid(f"repository {repository!r} must be lowercase")
    if not _REPOSITORY.match(repository):
        raise _Invalid(
            f"repository {repository!r} must be '/'-separated lowercase components of letters "
            "and digits, joined inside by '.', '_' or '-'"
        )


def _check_digest(digest: str) -> None:
    algorithm, colon, hex_part = digest.partition(":")
    if not colon or algorithm != "sha256":
        raise _Invalid(f"digest {digest!r} must be sha256:<64 lowercase hex>")
    if hex_part != hex_part.lower():
        raise _Invalid("digest hex must be lowercase")
    if not re.fullmatch(r"[0-9a-f]*", hex_part):
        raise _Invalid("digest has characters that are not hex digits")
    if len(hex_part) != 64:
        raise _Invalid(f"digest has {len(hex_part)} hex digits, a sha256 digest has 64")


def verify_manifest(
    ref: ImageRef,
    *,
    insecure_registries: Iterable[str] = (),
    timeout: float = 10.0,
    username: str | None = None,
    password: str | None = None,
) -> ManifestCheck:
    """HEAD the manifest of ``ref``; ManifestMissing if absent, BackendUnavailable if unsure.

    ``insecure_registries`` are reached over http (a local test registry); every other one
    over https. Credentials, when given, go only to the registry's token endpoint.
    """
    insecure = set(insecure_registries)
    scheme = "http" if ref.registry in insecure else "https"
    url = f"{scheme}://{ref.registry}/v2/{ref.repository}/manifests/{ref.digest}"
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    auth = (username, password) if username is not None and password is not None else None
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True) as client:
            response = client.head(url, headers=headers)
            if response.status_code == 401:
                headers["Authorization"] = _authorize(client, ref, response, auth, insecure)
                response = client.head(url, headers=headers)
    except httpx.TimeoutException as exc:
        raise _unavailable(ref, f"no answer within {timeout:g}s ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise _unavailable(ref, f"{type(exc).__name__}: {exc}") from exc
    return _judge(ref, response)


def _judge(ref: ImageRef, response: httpx.Response) -> ManifestCheck:
    status = response.status_code
    if status == 404:
        raise ManifestMissing(f"manifest {ref} not found in {ref.registry} (HTTP 404)")
    if status in (401, 403):
        raise _unavailable(
            ref,
            f"HTTP {status}: access to {ref.repository} denied",
            remediation="Check the registry credentials and that they may pull the repository.",
            retryable=False,
        )
    if status != 200:
        retryable = status == 429 or status >= 500
        raise _unavailable(ref, f"manifest request answered HTTP {status}", retryable=retryable)
    registry_digest = response.headers.get("Docker-Content-Digest")
    if registry_digest is not None and registry_digest != ref.digest:
        raise ManifestMissing(
            f"{ref.registry} answered for {ref} with a different manifest: "
            f"Docker-Content-Digest {registry_digest} != requested {ref.digest}"
        )
    length = response.headers.get("Content-Length")
    return ManifestCheck(
        exists=True,
        media_type=response.headers.get("Content-Type"),
        size=int(length) if length and length.isdigit() else None,
        registry_digest=registry_digest,
    )


def _authorize(
    client: httpx.Client,
    ref: ImageRef,
    challenge: httpx.Response,
    auth: tuple[str, str] | None,
    insecure: set[str],
) -> str:
    """Answer a 401 challenge: the ``Authorization`` header to retry with."""
    header = challenge.headers.get("WWW-Authenticate", "")
    kind, _, params_text = header.partition(" ")
    params = dict(_CHALLENGE_PARAM.findall(params_text))
    if kind.lower() == "basic":
        if auth is None:
            raise _unavailable(
                ref,
                "HTTP 401: the registry asks for Basic credentials and none were given",
                remediation="Pass the registry username and password (or token).",
                retryable=False,
            )
        return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
    realm = httpx.URL(params.get("realm", ""))
    if kind.lower() != "bearer" or realm.scheme not in ("http", "https"):
        raise _unavailable(
            ref,
            f"HTTP 401 with an unusable challenge {header or '(none)'!r}",
            remediation="Check the registry's auth setup (a Bearer realm URL is expected).",
            retryable=False,
        )
    if realm.scheme != "https" and auth is not None and _host_port(realm) not in insecure:
        raise _unavailable(
            ref,
            f"token realm {realm} is not https; credentials are not sent over plain http",
            remediation="Use an https token realm, or list its host in insecure_registries.",
            retryable=False,
        )
    query = {key: params[key] for key in ("service", "scope") if key in params}
    response = client.get(realm, params=query, auth=auth)
    if response.status_code in (401, 403):
        raise _unavailable(
            ref,
            f"token endpoint {realm} refused the credentials (HTTP {response.status_code})",
            remediation="Check the registry username and token/password.",
            retryable=False,
        )
    if response.status_code != 200:
        raise _unavailable(ref, f"token endpoint {realm} answered HTTP {response.status_code}")
    return f"Bearer {_token_from(ref, realm, response)}"


def _token_from(ref: ImageRef, realm: httpx.URL, response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        raise _unavailable(
            ref, f"token endpoint {realm} answered a body that is not JSON"
        ) from None
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise _unavailable(ref, f"token endpoint {realm} answered JSON without token/access_token")
    return token.strip()


def _host_port(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _unavailable(
    ref: ImageRef, what: str, *, remediation: str | None = None, retryable: bool = True
) -> BackendUnavailable:
    return BackendUnavailable(
        f"registry {ref.registry}: cannot check manifest of {ref.repository}: {what}",
        remediation=remediation
        or "Check that the registry is reachable from this worker, then retry.",
        retryable=retryable,
    )
