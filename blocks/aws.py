"""AWS settings read from configuration: the named prefect-aws ``AwsCredentials`` block, and the
rule for an SSM parameter name.

An environment in ``invariants.yaml`` may name an ``AwsCredentials`` block
(``aws_credentials_block``); :func:`load_aws_credentials` loads it, or returns None so clients
use boto3's default credential chain. Clients themselves are built in
:mod:`tasks.platform.aws` with the project's one botocore Config.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from blocks.errors import BackendUnavailable, ConfigError

if TYPE_CHECKING:
    from prefect_aws import AwsCredentials

BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # what Prefect accepts as a block name
SSM_PARAMETER = re.compile(r"^(?:/[A-Za-z0-9_.-]+)+$")  # /level/level: no empty or trailing level
SSM_PARAMETER_MAX_CHARS = 1011


class AwsCredentialsBlockMissing(ConfigError):
    """The environment names an AwsCredentials block that does not exist."""

    remediation = (
        "Create it (Blocks → AWS Credentials in the UI, or AwsCredentials(...).save(<name>)) "
        "or fix aws_credentials_block in invariants.yaml; remove the field to use the worker's "
        "default AWS credential chain."
    )


def ssm_parameter_problem(name: object) -> str | None:
    """Why ``name`` is not an SSM parameter path (``/radix/dev/agent_digest_approved``), or None."""
    if not isinstance(name, str) or not SSM_PARAMETER.match(name):
        return (
            f"{name!r} must be an SSM parameter path starting with '/' ('/'-separated levels "
            "of letters, digits, '_', '.' and '-'), e.g. /radix/dev/agent_digest_approved"
        )
    if len(name) > SSM_PARAMETER_MAX_CHARS:
        return f"{name[:40]!r}… is over {SSM_PARAMETER_MAX_CHARS} characters"
    return None


def credentials_source(block_name: str) -> str:
    """How the log names a block's credentials (never its contents)."""
    return f"the AwsCredentials block {block_name!r}"


def load_aws_credentials(block_name: str | None, region: str) -> AwsCredentials | None:
    """The ``AwsCredentials`` block ``block_name``, or None (the default chain) when unnamed.

    A block whose ``region_name`` contradicts the environment's region is refused: the
    environment's region decides where instances and parameters live.
    """
    if block_name is None:
        return None
    import httpx
    from prefect_aws import AwsCredentials  # imports Prefect: only when a block is named

    try:
        block = AwsCredentials.load(block_name)
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise AwsCredentialsBlockMissing(
            f"the AwsCredentials block {block_name!r} (aws_credentials_block in "
            "invariants.yaml) cannot be loaded"
        ) from exc
    except (httpx.HTTPError, OSError) as exc:  # the Prefect API cannot be reached
        raise BackendUnavailable(
            f"the Prefect API could not be asked for the AwsCredentials block {block_name!r} "
            f"({type(exc).__name__})",
            remediation="Start the Prefect server (make run) or fix PREFECT_API_URL.",
        ) from exc
    if block.region_name and block.region_name != region:
        raise ConfigError(
            f"the AwsCredentials block {block_name!r} is for region {block.region_name!r}, "
            f"but the environment's region is {region!r}",
            remediation="Clear the block's region (the environment's region is used) or make "
            "the two agree.",
        )
    return block
