"""``WARDEN_DB=postgres make run``'s database: Debian's PostgreSQL 15, one cluster under
``$WARDEN_HOME/postgres`` owned by the ``postgres`` user (PostgreSQL refuses to run as root),
listening on 127.0.0.1 only, its unix socket in the same folder, password auth (scram) for
the one role ``warden``. The password is made once into ``$WARDEN_HOME/postgres.password``
(mode 0600) and handed to the Prefect server only, inside its connection URL.

Every check that can fail runs before the cluster (or anything else) starts; a failure is a
typed error naming what is wrong and the fix.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from fleet import port_in_use

from blocks.errors import BackendUnavailable, ConfigError

PG_BIN = Path(os.environ.get("WARDEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
ROLE = "warden"
DATABASE = "prefect"
HOST = "127.0.0.1"
START_TIMEOUT_SEC = 60


class Cluster:
    def __init__(self, home: Path, port: int) -> None:
        self.folder = home / "postgres"
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "run"
        self.log = self.folder / "postgres.log"
        self.password_file = home / "postgres.password"
        self.port = port

    # --- deciding ----------------------------------------------------------------------------

    def as_owner(self, argv: list[str]) -> list[str]:
        """Run ``argv`` as the cluster's owner: ``postgres`` when we are root, else ourselves."""
        return ["runuser", "-u", OS_USER, "--", *argv] if os.geteuid() == 0 else argv

    def url(self) -> str:
        """The server's ``PREFECT_API_DATABASE_CONNECTION_URL`` (holds the password: never log)."""
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql+asyncpg://{ROLE}:{password}@{HOST}:{self.port}/{DATABASE}"

    def running_port(self) -> int | None:
        """The port of a cluster running from our data folder (postmaster.pid's 4th line)."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return port

    def check(self) -> None:
        """Refuse, before anything starts, what would keep the cluster from starting."""
        if not (PG_BIN / "pg_ctl").exists():
            raise ConfigError(
                f"PostgreSQL's programs are not in {PG_BIN}",
                remediation="apt-get install postgresql-15 (or set WARDEN_PG_BIN to its bin/)",
            )
        running = self.running_port()
        if running is not None:
            if running != self.port:
                raise ConfigError(
                    f"the cluster under {self.folder} already runs on port {running}",
                    remediation=f"set WARDEN_PG_PORT={running}, or make stop first",
                )
            return
        if port_in_use(HOST, self.port):
            raise ConfigError(
                f"port {self.port} on {HOST} is taken by a program make run did not start",
                remediation="stop that program or set WARDEN_PG_PORT to a free port",
            )
        self._check_writable()

    def _check_writable(self) -> None:
        """The owner must be able to create and write the data folder (every parent: o+x)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._chown(self.folder)
            self.folder.chmod(0o700)
        except (OSError, KeyError) as exc:
            raise ConfigError(
                f"cannot prepare the PostgreSQL folder {self.folder}: {exc}",
                remediation="set WARDEN_HOME to a folder you can write",
            ) from exc
        probe = self.as_owner(["test", "-w", str(self.folder), "-a", "-x", str(self.folder)])
        if subprocess.run(probe, capture_output=True).returncode:
            raise ConfigError(
                f"the {OS_USER} user cannot write {self.folder} (a parent folder is closed to it)",
                remediation=(
                    f"chmod o+x each parent of {self.folder}, or set WARDEN_HOME to a folder the "
                    f"{OS_USER} user can reach"
                ),
            )

    # --- doing -------------------------------------------------------------------------------

    def up(self) -> str:
        """Start the cluster (creating it the first time); return what happened, in words."""
        self.check()
        if self.running_port() is not None:
            return f"postgres: already running on {HOST}:{self.port}"
        created = not (self.data / "PG_VERSION").exists()
        if created:
            self._init()
        options = f"-c listen_addresses={HOST} -p {self.port} -k {self.socket_dir}"
        self.socket_dir.mkdir(exist_ok=True)
        self._chown(self.socket_dir)
        self._owner_run(
            "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_SEC), "-D", str(self.data),
            "-l", str(self.log), "-o", options,
        )  # fmt: skip
        self._ensure_database()
        return f"postgres: {'created and ' if created else ''}started on {HOST}:{self.port}"

    def down(self) -> str:
        if self.running_port() is None:
            return "postgres: not running"
        self._owner_run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
        return "postgres: stopped"

    def _init(self) -> None:
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
        if self.data.exists():  # a half-made cluster from an interrupted first run
            shutil.rmtree(self.data)
        pwfile = self.folder / "initdb.pw"  # readable by the owner for initdb only
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password_file.read_text())
        self._chown(pwfile)
        try:
            self._owner_run(
                "initdb", "-D", str(self.data), "-U", ROLE, "--pwfile", str(pwfile),
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def _ensure_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": self.password_file.read_text().strip()}
        where = ["-h", HOST, "-p", str(self.port), "-U", ROLE]
        query = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
        found = subprocess.run(
            [str(PG_BIN / "psql"), *where, "-d", "postgres", "-tAc", query],
            env=env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if found.returncode:
            raise BackendUnavailable(
                f"PostgreSQL on {HOST}:{self.port} refused our query: {found.stderr.strip()}",
                remediation=f"see {self.log}; make stop, then make run again",
            )
        if found.stdout.strip() != "1":
            subprocess.run(
                [str(PG_BIN / "createdb"), *where, DATABASE],
                env=env, capture_output=True, check=True, timeout=30,
            )  # fmt: skip

    def _owner_run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            self.as_owner([str(PG_BIN / program), *args]),
            cwd="/",  # the owner may not be able to enter our working folder
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SEC + 30,
        )
        if done.returncode:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise BackendUnavailable(
                f"PostgreSQL's {program} failed (exit {done.returncode}): "
                f"{done.stderr.strip() or done.stdout.strip()}\n{tail}",
                remediation=f"read {self.log}; fix what it says, then make run again",
            )

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(OS_USER)
            os.chown(path, owner.pw_uid, owner.pw_gid)
