"""AWS clients for every concern: one botocore Config, one way to open a session, one error table.

A session comes from a prefect-aws ``AwsCredentials`` block (loaded by :mod:`blocks.aws`, the
only place that reads configuration) or, when none is named, from boto3's default credential
chain; the log says which, and never a secret. Every client gets :func:`boto_config`'s
client-side timeouts and retries. Botocore errors become the project's typed errors through
:func:`translate`: ``ClientError`` by ``response["Error"]["Code"]`` (a caller's table first,
then the codes every service shares), never by reading the message; connection errors and
missing credentials by their type.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from blocks.errors import BackendUnavailable, ExitCode, WardenError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30
TOTAL_MAX_ATTEMPTS = 4  # the first try and 3 retries ("standard": throttling, transient errors)
DEFAULT_CHAIN = "boto3's default credential chain"


def boto_config() -> Config:
    """The one botocore Config: timeouts on every call, standard retries (new each time, since
    botocore mutates the retries dict of a Config it is given)."""
    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
    )


@dataclass(frozen=True)
class AwsAccess:
    """A boto3 session for one region, where its credentials came from, and client options.

    ``source`` is what the log says (a block's name, or the default chain); ``client_options``
    are the block's ``aws_client_parameters`` (endpoint, TLS verification, a Config merged over
    ours). An ``endpoint_url`` given here wins over the block's; with neither, boto3 honours
    ``AWS_ENDPOINT_URL``.
    """

    region: str
    session: boto3.session.Session = field(repr=False)
    source: str = DEFAULT_CHAIN
    endpoint_url: str | None = None
    client_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` with the one Config (and the block's options)."""
        options = dict(self.client_options)
        config = boto_config()
        if options.get("config") is not None:
            config = config.merge(options.pop("config"))
        options.pop("config", None)
        endpoint = self.endpoint_url or options.pop("endpoint_url", None)
        options.pop("endpoint_url", None)
        return self.session.client(
            service, region_name=self.region, endpoint_url=endpoint, config=config, **options
        )


def open_aws(
    region: str,
    credentials: Any = None,
    *,
    source: str | None = None,
    endpoint_url: str | None = None,
) -> AwsAccess:
    """Clients' access for ``region``: from ``credentials`` (a prefect-aws ``AwsCredentials``,
    duck-typed: its ``get_boto3_session()`` and ``aws_client_parameters``), else the default
    chain. Opening a block's session may call STS (``assume_role_arn``): its errors translate.
    """
    if credentials is None:
        session = boto3.session.Session(region_name=region)
        access = AwsAccess(region, session, DEFAULT_CHAIN, endpoint_url)
    else:
        described = source or "an AwsCredentials block"
        with aws_errors("AWS", "session", described, region):  # STS, with assume_role_arn
            session = credentials.get_boto3_session()
        options = credentials.aws_client_parameters.get_params_override()
        access = AwsAccess(region, session, described, endpoint_url, options)
    log.info("AWS clients in %s use %s", region, access.source)
    return access


# -- errors ----------------------------------------------------------------------------------


class AwsCredentialsUnusable(WardenError):
    """AWS has no credentials for this worker, or refused the ones it has."""

    code = ExitCode.USAGE_ERROR
    remediation = (
        "Fix the worker's AWS credentials: name an AwsCredentials block in the environment's "
        "aws_credentials_block (invariants.yaml), or give the worker a role / profile."
    )


class Fault(NamedTuple):
    """What one AWS error code becomes: the error type, whether a retry can help, and the
    remediation (a ``str.format`` template over the caller's ``hints``)."""

    error: type[WardenError]
    retryable: bool
    remediation: str


_RETRY = "AWS is throttling or failing; retry later."
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
    | {"TooManyUpdates"}
)
SERVER_CODES = frozenset(
    {"InternalError", "InternalErrorException", "InternalServerError", "InternalFailure"}
    | {"ServiceUnavailable", "Unavailable"}
)
TRANSIENT_CODES = THROTTLING_CODES | SERVER_CODES
CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException"}
    | {"ExpiredToken", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken"}
)
SHARED_FAULTS: dict[str, Fault] = {
    **dict.fromkeys(TRANSIENT_CODES, Fault(BackendUnavailable, True, _RETRY)),
    **dict.fromkeys(
        CREDENTIAL_CODES, Fault(AwsCredentialsUnusable, False, AwsCredentialsUnusable.remediation)
    ),
}
_UNKNOWN = Fault(BackendUnavailable, False, "Read the AWS error code and fix its cause.")
_MISSING_CREDENTIALS = (
    NoCredentialsError,
    PartialCredentialsError,
    CredentialRetrievalError,
    ProfileNotFound,
)
_UNREACHABLE = (BotoConnectionError, HTTPClientError)


def aws_code(exc: BaseException | None) -> str | None:
    """The AWS error code of a ``ClientError`` (``Unknown`` if it has none), else None."""
    if not isinstance(exc, ClientError):
        return None
    return exc.response.get("Error", {}).get("Code", "Unknown")


def aws_message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "")


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again can help: throttling, server errors, no connection.

    Missing or refused credentials and any other botocore error are not.
    """
    if isinstance(exc, ClientError):
        return (aws_code(exc) or "") in TRANSIENT_CODES
    return isinstance(exc, _UNREACHABLE) and not isinstance(exc, _MISSING_CREDENTIALS)


def translate(
    exc: BaseException,
    service: str,
    operation: str,
    target: str,
    region: str,
    *,
    faults: Mapping[str, Fault] | None = None,
    hints: Mapping[str, str] | None = None,
) -> WardenError:
    """The typed error for a botocore error of ``service``'s ``operation`` on ``target``.

    ``faults`` (the caller's codes) win over the shared ones; ``hints`` fill the remediation's
    placeholders. The message names the service, operation, target, region and AWS code only.
    """
    where = f"{service} {operation} on {target} in {region}"
    if isinstance(exc, ClientError):
        code = aws_code(exc) or "Unknown"
        fault = (faults or {}).get(code) or SHARED_FAULTS.get(code) or _UNKNOWN
        remediation = fault.remediation.format(**(hints or {}))
        message = f"{where} failed: {code}"
        return fault.error(message, remediation=remediation, retryable=fault.retryable)
    if isinstance(exc, _MISSING_CREDENTIALS):
        return AwsCredentialsUnusable(f"no usable AWS credentials for {where}")
    if isinstance(exc, _UNREACHABLE):
        return BackendUnavailable(
            f"{where}: AWS could not be reached ({type(exc).__name__})",
            remediation=f"Check network access to the {service} endpoint (or its endpoint URL).",
        )
    return BackendUnavailable(
        f"{where} failed in botocore ({type(exc).__name__})",
        retryable=False,
        remediation="Read the botocore error named in the message and fix its cause.",
    )


@contextmanager
def aws_errors(
    service: str,
    operation: str,
    target: str,
    region: str,
    *,
    faults: Mapping[str, Fault] | None = None,
    hints: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Raise :func:`translate`'s typed error, ``from`` the botocore one, for errors inside."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        error = translate(exc, service, operation, target, region, faults=faults, hints=hints)
        raise error from exc
