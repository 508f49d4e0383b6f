"""The ``local`` host provider: a vendor leg's installer and smoke job on the worker's own host.

Each "host" is a scratch directory ``root/<host_id>/`` whose ``lease.json`` records who made it,
when, and every process group its scripts started. Installers leave background processes (an
agent loop started with ``nohup ... &``) that outlive the script and the worker that ran it, so
``terminate`` and the janitor stop them from the lease, not from memory. This is the embedded
default, and how GPU machines that run a Prefect worker are used.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from blocks.errors import UsageError, WardenError
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.hosts import CommandResult, Host
from tasks.platform.clock import utc_now
from tasks.platform.files import write_atomic
from tasks.platform.processes import TERM_GRACE_SEC, kill_process_group

PROVIDER = "local"
LEASE_FILE = "lease.json"
SCRATCH_ENV = "WARDEN_SCRATCH"  # set for every script; also marks its processes in /proc
TOKEN_CHARS = 12  # the part of the client token in the host id
OUTPUT_LIMIT = 64_000  # characters kept (the tail) of each of stdout and stderr
EXIT_WAIT_SEC = 3.0  # how long terminate waits for SIGKILLed processes to vanish
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_HOST_ID = re.compile(r"^local-[A-Za-z0-9_-]+$")


class Lease(BaseModel):
    """``lease.json``: the record that lets a later process find and stop what a host started."""

    model_config = ConfigDict(frozen=True)

    host_id: str
    leg: str
    vendor: str | None = None
    gpu: str | None = None
    run_id: str
    tags: dict[str, str] = Field(default_factory=dict)
    launched_at: AwareDatetime
    hostname: str
    instance_type: str | None = None
    pgids: tuple[int, ...] = ()

    def host(self) -> Host:
        return Host(
            id=self.host_id,
            provider=PROVIDER,
            region=PROVIDER,
            instance_type=self.instance_type,
            launched_at=self.launched_at,
            tags=self.tags,
        )


class LocalHostProvider:
    """Hosts are scratch directories under ``root``; scripts run with ``bash -c`` in them."""

    name = PROVIDER

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lease_lock = threading.Lock()  # runs on one host may record pgids concurrently

    def provision(self, leg, *, run_id: str, client_token: str, tags: dict[str, str]) -> Host:
        """Create ``root/local-<leg>-<token[:12]>/`` and its lease; the same token returns it."""
        leg_name = str(getattr(leg, "name", ""))
        _require_name_part("leg name", leg_name)
        _require_name_part("client_token", client_token)
        host_id = f"local-{leg_name}-{client_token[:TOKEN_CHARS]}"
        scratch = self.root / host_id
        existing = read_lease(scratch)
        if existing is not None:
            return existing.host()
        lease = Lease(
            host_id=host_id,
            leg=leg_name,
            vendor=_optional_str(getattr(leg, "vendor", None)),
            gpu=_optional_str(getattr(leg, "gpu", None)),
            run_id=run_id,
            tags=tags,
            launched_at=utc_now(),
            hostname=socket.gethostname(),
            instance_type=platform.machine() or None,
        )
        try:
            scratch.mkdir(parents=True, exist_ok=True)
            _write_lease(scratch, lease)
        except OSError as exc:
            raise LegError(
                f"cannot create the scratch directory {scratch}: {exc.strerror or exc}",
                failure=LegFailure.PROVISION_FAILED,
            ) from exc
        return lease.host()

    def wait_ready(self, host: Host, timeout_seconds: float) -> None:
        """Check at once (a directory does not become ready later): writable, leased, bash."""
        scratch = self._scratch(host)
        if not scratch.is_dir():
            raise _not_ready(f"scratch directory {scratch} does not exist (provision it first)")
        if read_lease(scratch) is None:
            raise _not_ready(f"{scratch / LEASE_FILE} is missing or unreadable")
        try:
            with tempfile.TemporaryFile(dir=scratch):
                pass
        except OSError as exc:
            raise _not_ready(f"scratch directory {scratch} is not writable: {exc}") from exc
        if shutil.which("bash") is None:
            raise _not_ready("bash is not on PATH on this worker")

    def run(self, host: Host, script: str, timeout_seconds: float) -> CommandResult:
        """``bash -c script`` in the scratch dir, in its own process group, killed at the timeout.

        Output goes to files, not pipes: a background child that keeps stdout open (an agent
        started with ``&``) must not make a finished script look hung.
        """
        if not script.strip():
            raise UsageError("script is empty: pass the installer or smoke-job bash to run")
        if not timeout_seconds > 0:
            raise UsageError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        scratch = self._scratch(host)
        if read_lease(scratch) is None:
            raise _not_ready(f"host {host.id} has no readable lease in {scratch}")
        env = {**os.environ, SCRATCH_ENV: str(scratch)}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.monotonic()
            proc = self._start(scratch, script, env, out, err)
            timed_out = _wait_or_kill(proc, timeout_seconds)
            duration = time.monotonic() - started
            return CommandResult(
                exit_code=None if timed_out else proc.returncode,
                stdout=_tail(out),
                stderr=_tail(err),
                duration_seconds=duration,
                timed_out=timed_out,
            )

    def terminate(self, host: Host) -> None:
        """Stop every recorded process group still alive, then remove the scratch directory."""
        scratch = self._scratch(host)
        if not scratch.exists():
            return
        lease = read_lease(scratch)
        groups = [g for g in (lease.pgids if lease else ()) if _group_is_ours(g, scratch)]
        stop_processes(groups, marked_pids(scratch))
        try:
            shutil.rmtree(scratch)
        except FileNotFoundError:
            return  # another terminate got there first
        except OSError as exc:
            raise WardenError(
                f"cannot remove the scratch directory {scratch}: {exc.strerror or exc}",
                remediation="Remove the directory by hand; its processes are already stopped.",
                retryable=True,
            ) from exc

    def find_expired(self, purpose_tag: tuple[str, str], older_than: datetime) -> list[Host]:
        """Leased hosts with the purpose tag launched before ``older_than``.

        A directory whose lease is missing or corrupt counts as expired by its mtime whatever
        its tags: nothing else will ever clean it up.
        """
        if older_than.tzinfo is None:
            raise UsageError(
                f"older_than must be timezone-aware UTC, got naive {older_than.isoformat()}"
            )
        if not self.root.is_dir():
            return []
        key, value = purpose_tag
        expired: list[Host] = []
        for scratch in sorted(self.root.iterdir()):
            if not _HOST_ID.match(scratch.name) or not scratch.is_dir():
                continue
            lease = read_lease(scratch)
            if lease is not None:
                if lease.tags.get(key) == value and lease.launched_at < older_than:
                    expired.append(lease.host())
                continue
            with contextlib.suppress(FileNotFoundError):  # terminated while we looked
                mtime = datetime.fromtimestamp(scratch.stat().st_mtime, UTC)
                if mtime < older_than:
                    expired.append(
                        Host(id=scratch.name, provider=PROVIDER, region=PROVIDER, launched_at=mtime)
                    )
        return expired

    def _scratch(self, host: Host) -> Path:
        if host.provider != PROVIDER:
            raise UsageError(
                f"host {host.id} belongs to the {host.provider!r} provider, not {PROVIDER!r}: "
                "pass it to the provider that provisioned it"
            )
        if not _HOST_ID.match(host.id):
            raise UsageError(f"{host.id!r} is not a local host id (local-<leg>-<token>)")
        return self.root / host.id

    def _start(
        self, scratch: Path, script: str, env: dict[str, str], out: IO[bytes], err: IO[bytes]
    ) -> subprocess.Popen[bytes]:
        """Start the script as a process-group leader and record its pgid before waiting."""
        try:
            proc = subprocess.Popen(
                ["bash", "-c", script],
                cwd=scratch,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # background children inherit this pgid
            )
        except OSError as exc:
            raise _not_ready(f"cannot start bash in {scratch}: {exc.strerror or exc}") from exc
        try:
            self._record_pgid(scratch, proc.pid)
        except (OSError, LegError):
            kill_process_group(proc)  # an unrecorded group could never be cleaned up
            raise
        return proc

    def _record_pgid(self, scratch: Path, pgid: int) -> None:
        with self._lease_lock:
            lease = read_lease(scratch)
            if lease is None:
                raise _not_ready(f"{scratch / LEASE_FILE} vanished while starting a script")
            _write_lease(scratch, lease.model_copy(update={"pgids": (*lease.pgids, pgid)}))


def read_lease(scratch: Path) -> Lease | None:
    """The host's lease, or None when it is missing or corrupt."""
    try:
        return Lease.model_validate_json((scratch / LEASE_FILE).read_bytes())
    except (OSError, ValidationError):
        return None


def marked_pids(scratch: Path) -> list[int]:
    """Processes started for this scratch dir, found by their environment (Linux ``/proc``).

    Catches what the lease cannot: a corrupt lease, or a child that left the group (setsid).
    """
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return []
    own = {os.getpid(), os.getppid()}
    pids = []
    for entry in proc_root.iterdir():
        if entry.name.isdigit() and int(entry.name) not in own and _is_marked(entry, scratch):
            pids.append(int(entry.name))
    return pids


def stop_processes(pgids: Iterable[int], pids: Iterable[int]) -> None:
    """SIGTERM the groups and processes, wait a grace period, SIGKILL what is left, wait."""
    groups, singles = set(pgids), set(pids)
    if not groups and not singles:
        return
    _send(groups, singles, signal.SIGTERM)
    _wait_gone(groups, singles, TERM_GRACE_SEC)
    _send(groups, singles, signal.SIGKILL)
    _wait_gone(groups, singles, EXIT_WAIT_SEC)


def _send(groups: set[int], singles: set[int], sig: signal.Signals) -> None:
    for send, idents in ((os.killpg, groups), (os.kill, singles)):
        for ident in idents:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                send(ident, sig)


def _wait_gone(groups: set[int], singles: set[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _any_running(groups, singles) and time.monotonic() < deadline:
        time.sleep(0.05)


def _any_running(groups: set[int], singles: set[int]) -> bool:
    """Whether any target still runs; a zombie has stopped (only its reaper is missing)."""
    table = _running_processes()
    if table is None:  # no /proc: ask the kernel, zombies included
        return any(_alive(os.killpg, g) for g in groups) or any(_alive(os.kill, p) for p in singles)
    return any(pid in singles or pgrp in groups for pid, pgrp in table)


def _running_processes(proc_root: Path = Path("/proc")) -> list[tuple[int, int]] | None:
    """(pid, pgid) of every process that is not a zombie, or None without Linux ``/proc``."""
    if not proc_root.is_dir():
        return None
    table = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces
        if fields and fields[0] != "Z":
            table.append((int(entry.name), int(fields[2])))
    return table


def _alive(send, ident: int) -> bool:
    try:
        send(ident, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_is_ours(pgid: int, scratch: Path) -> bool:
    """False when the group's leader is now another program (a recycled pid number)."""
    if not _alive(os.killpg, pgid):
        return False
    try:
        environ = (Path("/proc") / str(pgid) / "environ").read_bytes()
    except FileNotFoundError:
        return True  # leader gone (its children remain) or no /proc: trust the lease
    except PermissionError:
        return False  # another user's process: not one we started
    return not environ or _marker(scratch) in environ.split(b"\0")


def _is_marked(entry: Path, scratch: Path) -> bool:
    try:
        return _marker(scratch) in (entry / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _marker(scratch: Path) -> bytes:
    return f"{SCRATCH_ENV}={scratch}".encode()


def _wait_or_kill(proc: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    """Wait for the script; at the timeout (or if we are interrupted) kill its whole group."""
    try:
        proc.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        kill_process_group(proc)
        return True
    except BaseException:
        kill_process_group(proc)
        raise
    return False


def _tail(handle: IO[bytes]) -> str:
    """The last ``OUTPUT_LIMIT`` characters, without reading a huge log whole."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - 4 * OUTPUT_LIMIT))  # at most 4 bytes a character in UTF-8
    return handle.read().decode("utf-8", errors="replace")[-OUTPUT_LIMIT:]


def _write_lease(scratch: Path, lease: Lease) -> None:
    write_atomic(scratch / LEASE_FILE, lease.model_dump_json(indent=2) + "\n")


def _require_name_part(what: str, value: str) -> None:
    if not _NAME_PART.match(value):
        raise UsageError(
            f"{what} {value!r} cannot name a local host: use letters, digits, '-' and '_' "
            "(starting with a letter or digit)"
        )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _not_ready(message: str) -> LegError:
    return LegError(message, failure=LegFailure.HOST_NOT_READY)
