"""What ``make run`` is asked to run, decided before anything starts: the database, the worker
count, the PostgreSQL port, basic auth. No Prefect import; bad input raises a typed error that
names the setting and the fix, and nothing has been started or changed yet.

- ``WARDEN_DB``: ``sqlite`` (the embedded default) or ``postgres`` (the fleet setup: a
  PostgreSQL cluster under ``$WARDEN_HOME/postgres``, and basic auth on the API).
- ``WARDEN_WORKERS``: how many process workers ``make run`` keeps alive (default 1).
- ``WARDEN_WORKER_LIMIT``: at most this many flow runs in flight per worker (``prefect worker
  start --limit``; default: no limit), for the workers make run starts (processes.worker).
- ``WARDEN_PG_PORT``: the cluster's loopback port (default 5433: 5432 is left to a system one).
- ``WARDEN_AUTH_FILE``: the ``user:password`` file for basic auth (default
  ``$WARDEN_HOME/auth``, created with mode 0600); setting it turns auth on for SQLite too.
"""

from __future__ import annotations

import os
import secrets
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from blocks.errors import ConfigError

DATABASES = ("sqlite", "postgres")
MAX_WORKERS = 16
MAX_WORKER_LIMIT = 256
DEFAULT_PG_PORT = 5433
AUTH_USER = "warden"


@dataclass(frozen=True)
class FleetSettings:
    db: str
    workers: int
    worker_limit: int | None  # None: Prefect's default, no limit
    pg_port: int
    auth_file: Path | None  # None: no basic auth (the embedded default, loopback only)

    @property
    def auth(self) -> bool:
        return self.auth_file is not None


def read_settings(env: Mapping[str, str], home: Path) -> FleetSettings:
    """The settings from the environment, each checked; raises ``ConfigError`` naming the fix."""
    db = env.get("WARDEN_DB", "").strip().lower() or "sqlite"
    if db not in DATABASES:
        raise ConfigError(
            f"WARDEN_DB={env['WARDEN_DB']!r} is not a database make run can run on",
            remediation=f"set WARDEN_DB to one of {', '.join(DATABASES)} (or leave it unset)",
        )
    workers = _int_setting(env, "WARDEN_WORKERS", 1, 1, MAX_WORKERS)
    worker_limit = _int_setting(env, "WARDEN_WORKER_LIMIT", None, 1, MAX_WORKER_LIMIT)
    pg_port = _int_setting(env, "WARDEN_PG_PORT", DEFAULT_PG_PORT, 1024, 65535)
    if db != "postgres" and env.get("WARDEN_PG_PORT", "").strip():
        raise ConfigError(
            "WARDEN_PG_PORT is set but WARDEN_DB is not postgres: it would do nothing",
            remediation="set WARDEN_DB=postgres, or unset WARDEN_PG_PORT",
        )
    named = env.get("WARDEN_AUTH_FILE", "").strip()
    auth_file = Path(named).expanduser().resolve() if named else None
    if auth_file is None and db == "postgres":
        auth_file = home / "auth"
    return FleetSettings(
        db=db,
        workers=workers,
        worker_limit=worker_limit,
        pg_port=pg_port,
        auth_file=auth_file,
    )


def _int_setting(
    env: Mapping[str, str], name: str, default: int | None, low: int, high: int
) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number from {low} to {high}",
            remediation=f"set {name} to a number from {low} to {high} (or unset it: "
            f"{'no limit' if default is None else default})",
        )
    return value


def ensure_auth_string(path: Path, repo_root: Path) -> str:
    """The ``user:password`` in ``path``, created (mode 0600, random password) if absent.

    Refuses a file inside the checkout (it could be committed), one that group or others can
    read, and one that is not ``user:password``. The value is never printed.
    """
    if path.is_relative_to(repo_root) and not _git_ignored(path, repo_root):
        raise ConfigError(
            f"auth file {path} is inside the checkout and not ignored by git",
            remediation="keep it outside git: under .warden/ or set WARDEN_AUTH_FILE elsewhere",
        )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{AUTH_USER}:{secrets.token_urlsafe(24)}\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"auth file {path} can be read by others (mode {mode:o})",
            remediation=f"chmod 600 {path}",
        )
    value = path.read_text().strip()
    user, _, password = value.partition(":")
    if not user or not password or "\n" in value:
        raise ConfigError(
            f"auth file {path} does not hold one line 'user:password'",
            remediation=f"write one line user:password into {path} (or delete it: one is made)",
        )
    return value


def _git_ignored(path: Path, repo_root: Path) -> bool:
    """Whether ``path`` sits under a folder this project's .gitignore names (``.warden/``)."""
    relative = path.relative_to(repo_root).parts
    ignored = {".warden", ".venv"}
    return bool(relative) and relative[0] in ignored


def port_in_use(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (so we must not start there)."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
