"""Where a CLI run is recorded: a Prefect API when one is configured or ``make run``'s server is
up, otherwise an engine-less run (the flow's own steps without the Prefect engine).

Decided before Prefect is imported, without importing it: reading commands never pay for it,
and an engine-less run never starts the temporary server Prefect would otherwise start (~12 s).
"""

from __future__ import annotations

import os
import sys
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from blocks.errors import BackendUnavailable
from tasks.platform.ui_links import local_api_url

API_ENV = "PREFECT_API_URL"
HEALTH_TIMEOUT_SEC = 2.0


@dataclass(frozen=True)
class Engine:
    """``api_url`` None: engine-less. ``source`` says where the choice came from."""

    api_url: str | None
    source: str

    def describe(self) -> str:
        if self.api_url is None:
            return (
                "engine-less run (no Prefect API configured or running): outputs as printed, "
                "events and summaries in $WARDEN_HOME/local-runs/"
            )
        return f"Prefect API {self.api_url} ({self.source})"


def choose_engine() -> Engine:
    """The configured API (environment, then the active Prefect profile), else the local
    platform's server if it answers its health check, else engine-less.

    A configured API that does not answer is an error (exit 4), never a silent engine-less run:
    the operator asked for the run to be recorded there.
    """
    hosted = _process_api()
    if hosted:
        return Engine(hosted, "this process's Prefect settings")
    configured, source = _configured_api()
    if configured:
        if not _answers(configured):
            raise BackendUnavailable(
                f"the Prefect API {configured} (from {source}) does not answer",
                remediation=f"Start that server, or unset {API_ENV} to run without one.",
            )
        return Engine(configured, source)
    local = local_api_url()
    if _answers(local, healthy=True):
        os.environ[API_ENV] = local  # before Prefect is imported: the run shows in the UI
        return Engine(local, "make run's local server")
    if "prefect" not in sys.modules:  # nothing may start Prefect's temporary server behind us
        os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
    return Engine(None, "none")


def _process_api() -> str | None:
    """The API of a host process (a test harness, a notebook) that already set Prefect up."""
    if "prefect" not in sys.modules:
        return None
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def _configured_api() -> tuple[str | None, str]:
    if os.environ.get(API_ENV):
        return os.environ[API_ENV], API_ENV
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml")
    try:
        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None, ""
    name = os.environ.get("PREFECT_PROFILE") or data.get("active")
    url = data.get("profiles", {}).get(name, {}).get(API_ENV) if name else None
    return (str(url), f"Prefect profile {name!r}") if url else (None, "")


def _answers(api_url: str, healthy: bool = False) -> bool:
    """Something answers HTTP at ``api_url`` (any status: a hosted API may guard /health);
    with ``healthy``, its /health says 200, as the local Prefect server's does."""
    try:
        with urllib.request.urlopen(
            f"{api_url.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_SEC
        ) as reply:
            return reply.status == 200
    except urllib.error.HTTPError:
        return not healthy
    except (urllib.error.URLError, OSError, ValueError):
        return False
