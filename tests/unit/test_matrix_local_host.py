"""The local host provider with real processes: output, exit codes, timeouts, cleanup, janitor."""

from __future__ import annotations

import inspect
import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blocks.errors import UsageError, WardenError
from tasks.matrix.errors import LegError, LegFailure
from tasks.matrix.hosts import Host, HostProvider
from tasks.matrix.local_host import LocalHostProvider, read_lease

PURPOSE = ("radix:purpose", "gpu-matrix")
TAGS = {"radix:purpose": "gpu-matrix", "radix:run": "run-1"}
TOKEN = "0123456789abcdef-run-1"
# An installer that leaves an agent loop behind, its stdout still on the script's stdout.
LEAVES_AGENT = (
    "nohup bash -c 'while true; do sleep 0.1; done' & echo $! > agent.pid; echo installed"
)


@dataclass(frozen=True)
class Leg:
    name: str = "nvidia"
    vendor: str = "nvidia"
    gpu: str = "nvidia"


@pytest.fixture
def provider(tmp_path: Path) -> LocalHostProvider:
    return LocalHostProvider(tmp_path / "hosts")


@pytest.fixture
def host(provider: LocalHostProvider) -> Iterator[Host]:
    made = provider.provision(Leg(), run_id="run-1", client_token=TOKEN, tags=TAGS)
    yield made
    provider.terminate(made)  # a failing test must not leave its agent loop running


def gone(pid: int, within: float = 3.0) -> bool:
    """True once ``pid`` is dead: no such process, or a zombie its (slow) reaper has not reaped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


@pytest.mark.parametrize("method", ["provision", "wait_ready", "run", "terminate", "find_expired"])
def test_implements_the_protocol_signatures(method: str) -> None:
    expected = inspect.signature(getattr(HostProvider, method))
    actual = inspect.signature(getattr(LocalHostProvider, method))
    assert list(actual.parameters) == list(expected.parameters)
    assert LocalHostProvider.name == "local"


def test_provision_creates_scratch_dir_and_lease(provider: LocalHostProvider, host: Host) -> None:
    assert host.id == "local-nvidia-0123456789ab"
    assert (host.provider, host.region, host.ami) == ("local", "local", None)
    assert host.instance_type == platform.machine()
    assert host.tags == TAGS
    assert host.launched_at.tzinfo is not None
    lease = json.loads((provider.root / host.id / "lease.json").read_text())
    assert lease["leg"] == "nvidia"
    assert lease["tags"] == TAGS
    assert lease["hostname"]
    assert lease["launched_at"].endswith("Z")
    assert datetime.fromisoformat(lease["launched_at"]) == host.launched_at


def test_provision_is_idempotent_per_token(provider: LocalHostProvider, host: Host) -> None:
    again = provider.provision(Leg(), run_id="run-1", client_token=TOKEN, tags=TAGS)
    other = provider.provision(Leg(), run_id="run-1", client_token="ffffffffffff", tags=TAGS)
    assert again == host
    assert other.id == "local-nvidia-ffffffffffff"
    assert sorted(p.name for p in provider.root.iterdir()) == sorted([host.id, other.id])


@pytest.mark.parametrize(
    ("leg_name", "token", "named"),
    [
        pytest.param("../etc", TOKEN, "leg name", id="leg-path-traversal"),
        pytest.param("", TOKEN, "leg name", id="leg-empty"),
        pytest.param("nvidia", "", "client_token", id="token-empty"),
        pytest.param("nvidia", "run/1", "client_token", id="token-slash"),
    ],
)
def test_provision_rejects_names_that_cannot_be_a_directory(
    provider: LocalHostProvider, leg_name: str, token: str, named: str
) -> None:
    with pytest.raises(UsageError, match=named):
        provider.provision(Leg(name=leg_name), run_id="r", client_token=token, tags=TAGS)
    assert not provider.root.exists()


def test_wait_ready_accepts_a_provisioned_host(provider: LocalHostProvider, host: Host) -> None:
    scratch = provider.root / host.id
    assert provider.wait_ready(host, timeout_seconds=1) is None  # ready: it raised nothing
    lease = read_lease(scratch)
    assert lease is not None and (lease.host_id, lease.run_id) == (host.id, "run-1")
    assert sorted(p.name for p in scratch.iterdir()) == ["lease.json"]  # its check left nothing


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        pytest.param("remove", "does not exist", id="dir-missing"),
        pytest.param("file", "does not exist", id="path-is-a-file"),
        pytest.param("corrupt-lease", "lease.json", id="lease-corrupt"),
    ],
)
def test_wait_ready_fails_host_not_ready(
    provider: LocalHostProvider, host: Host, breakage: str, message: str
) -> None:
    scratch = provider.root / host.id
    if breakage in ("remove", "file"):
        provider.terminate(host)
    if breakage == "file":
        scratch.write_text("not a directory")
    if breakage == "corrupt-lease":
        (scratch / "lease.json").write_text("{not json")
    with pytest.raises(LegError, match=message) as caught:
        provider.wait_ready(host, timeout_seconds=1)
    assert caught.value.failure is LegFailure.HOST_NOT_READY
    if breakage == "file":
        scratch.unlink()


def test_a_host_of_another_provider_is_refused(provider: LocalHostProvider, host: Host) -> None:
    ec2_host = host.model_copy(update={"provider": "ec2", "id": "i-0123456789abcdef0"})
    with pytest.raises(UsageError, match="'ec2' provider"):
        provider.run(ec2_host, "true", timeout_seconds=5)


@pytest.mark.parametrize(
    ("script", "exit_code", "stdout", "stderr"),
    [
        pytest.param("echo hello", 0, "hello\n", "", id="stdout"),
        pytest.param("echo oops >&2; exit 3", 3, "", "oops\n", id="stderr-and-exit-code"),
        pytest.param('[ "$PWD" = "$WARDEN_SCRATCH" ] && echo in-scratch', 0, "in-scratch\n", "",
                     id="runs-in-scratch-dir"),
        pytest.param("echo before; kill -9 $$", -9, "before\n", "", id="killed-by-sigkill"),
        pytest.param("kill -TERM $$", -15, "", "", id="killed-by-sigterm"),
    ],
)  # fmt: skip
def test_run_reports_output_and_exit_code(
    provider: LocalHostProvider, host: Host, script: str, exit_code: int, stdout: str, stderr: str
) -> None:
    result = provider.run(host, script, timeout_seconds=10)
    assert (result.exit_code, result.stdout, result.stderr) == (exit_code, stdout, stderr)
    assert not result.timed_out
    assert result.ok is (exit_code == 0)


def test_run_records_each_process_group_in_the_lease(
    provider: LocalHostProvider, host: Host
) -> None:
    first = provider.run(host, "echo $$", timeout_seconds=10)
    second = provider.run(host, "echo $$", timeout_seconds=10)
    lease = read_lease(provider.root / host.id)
    assert lease is not None
    assert lease.pgids == (int(first.stdout), int(second.stdout))


def test_timeout_kills_the_whole_process_group(provider: LocalHostProvider, host: Host) -> None:
    script = "echo started; sleep 60 & echo $! > child.pid; wait"
    result = provider.run(host, script, timeout_seconds=0.5)
    assert (result.exit_code, result.timed_out) == (None, True)
    assert result.stdout == "started\n"  # output before the kill is kept
    assert result.duration_seconds < 5
    child = int((provider.root / host.id / "child.pid").read_text())
    assert gone(child), "the background sleep survived the timeout"


def test_background_child_holding_stdout_does_not_hang_run(
    provider: LocalHostProvider, host: Host
) -> None:
    started = time.monotonic()
    result = provider.run(host, LEAVES_AGENT, timeout_seconds=20)
    assert result.exit_code == 0 and result.stdout.endswith("installed\n")
    assert time.monotonic() - started < 5
    agent = int((provider.root / host.id / "agent.pid").read_text())
    assert not gone(agent, within=0.2), "the agent should keep running after the installer"
    provider.terminate(host)
    assert gone(agent)


def test_terminate_kills_agent_loop_and_removes_dir(
    provider: LocalHostProvider, host: Host
) -> None:
    provider.run(host, LEAVES_AGENT, timeout_seconds=20)
    agent = int((provider.root / host.id / "agent.pid").read_text())
    provider.terminate(host)
    assert gone(agent)
    assert not (provider.root / host.id).exists()
    provider.terminate(host)  # idempotent
    with pytest.raises(LegError) as caught:
        provider.run(host, "true", timeout_seconds=5)
    assert caught.value.failure is LegFailure.HOST_NOT_READY


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_terminate_with_corrupt_lease_finds_processes_by_environment(
    provider: LocalHostProvider, host: Host
) -> None:
    provider.run(host, LEAVES_AGENT, timeout_seconds=20)
    agent = int((provider.root / host.id / "agent.pid").read_text())
    (provider.root / host.id / "lease.json").write_text("{torn")
    provider.terminate(host)
    assert gone(agent)
    assert not (provider.root / host.id).exists()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_terminate_spares_a_recorded_pgid_now_used_by_another_program(
    provider: LocalHostProvider, host: Host
) -> None:
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        scratch = provider.root / host.id
        lease = read_lease(scratch)
        assert lease is not None
        text = lease.model_copy(update={"pgids": (stranger.pid,)}).model_dump_json()
        (scratch / "lease.json").write_text(text)
        provider.terminate(host)
        assert stranger.poll() is None, "an unrelated process group was killed"
        assert not scratch.exists()
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize(
    ("script", "timeout", "message"),
    [
        pytest.param("   ", 5, "script is empty", id="empty-script"),
        pytest.param("true", 0, "timeout_seconds must be > 0", id="zero-timeout"),
    ],
)
def test_run_rejects_bad_arguments(
    provider: LocalHostProvider, host: Host, script: str, timeout: float, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        provider.run(host, script, timeout_seconds=timeout)


def _age(provider: LocalHostProvider, host: Host, hours: float) -> None:
    """Move a host's launch time into the past, as if a dead run had left it."""
    path = provider.root / host.id / "lease.json"
    lease = json.loads(path.read_text())
    launched = datetime.now(UTC) - timedelta(hours=hours)
    lease["launched_at"] = launched.isoformat().replace("+00:00", "Z")
    path.write_text(json.dumps(lease))


def test_find_expired_by_tag_and_age(provider: LocalHostProvider) -> None:
    def make(token: str, tags: dict[str, str], hours: float) -> Host:
        made = provider.provision(Leg(), run_id="r", client_token=token, tags=tags)
        _age(provider, made, hours)
        return made

    old = make("old000000000", TAGS, hours=5)
    make("fresh0000000", TAGS, hours=1)
    make("othertag0000", {"radix:purpose": "something-else"}, hours=5)
    make("untagged0000", {}, hours=5)
    corrupt_old = make("corruptold00", TAGS, hours=5)
    corrupt_new = make("corruptnew00", TAGS, hours=5)
    for corrupt, hours in ((corrupt_old, 5), (corrupt_new, 0)):
        scratch = provider.root / corrupt.id
        (scratch / "lease.json").write_text("{half a lease")
        stamp = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
        os.utime(scratch, (stamp, stamp))
    (provider.root / "not-a-host").mkdir()  # foreign directories are never touched
    cutoff = datetime.now(UTC) - timedelta(hours=4)

    expired = provider.find_expired(PURPOSE, cutoff)

    assert sorted(h.id for h in expired) == sorted([old.id, corrupt_old.id])
    by_id = {h.id: h for h in expired}
    assert by_id[old.id].tags == TAGS
    assert by_id[corrupt_old.id].launched_at < cutoff  # from the directory's mtime


def test_find_expired_without_root_is_empty(tmp_path: Path) -> None:
    provider = LocalHostProvider(tmp_path / "never-created")
    assert provider.find_expired(PURPOSE, datetime.now(UTC)) == []


def test_find_expired_rejects_a_naive_time(provider: LocalHostProvider) -> None:
    with pytest.raises(UsageError, match="timezone-aware"):
        provider.find_expired(PURPOSE, datetime(2026, 1, 19, 12, 0))


def test_terminate_reports_a_directory_it_cannot_remove(
    provider: LocalHostProvider, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr("tasks.matrix.local_host.shutil.rmtree", refuse)
        with pytest.raises(WardenError) as caught:
            provider.terminate(host)
    assert type(caught.value) is WardenError and caught.value.retryable
    assert isinstance(caught.value.__cause__, PermissionError)


def test_interrupted_run_kills_its_group(
    provider: LocalHostProvider, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled task (KeyboardInterrupt in the worker) must not leave the script running."""
    real_wait = subprocess.Popen.wait
    child_file = provider.root / host.id / "child.pid"
    calls = []

    def interrupted(self: subprocess.Popen, timeout: float | None = None) -> int:
        if not calls:
            calls.append(self.pid)
            deadline = time.monotonic() + 3
            while not _text(child_file) and time.monotonic() < deadline:
                time.sleep(0.01)  # let the script start its child first
            raise KeyboardInterrupt
        return real_wait(self, timeout)

    with monkeypatch.context() as patch:
        patch.setattr(subprocess.Popen, "wait", interrupted)
        with pytest.raises(KeyboardInterrupt):
            provider.run(host, "sleep 60 & echo $! > child.pid; wait", timeout_seconds=30)
    child = int(child_file.read_text())
    assert gone(calls[0]) and gone(child)


def test_the_process_table_skips_a_process_that_exits_while_it_is_read(tmp_path: Path) -> None:
    """A pid folder whose stat cannot be read (the process exited between the listing and the
    read) is skipped; zombies do not count; anything not a pid is ignored. Without /proc: None.
    (Tested here rather than left to a race: the coverage gate compares exact coverage.)"""
    from tasks.matrix.local_host import _running_processes

    (tmp_path / "self").mkdir()
    (tmp_path / "41").mkdir()  # exited: no stat file any more
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "stat").write_text("42 (agent loop) S 1 4242 4242 0")
    (tmp_path / "43").mkdir()
    (tmp_path / "43" / "stat").write_text("43 (sh) Z 1 4343 4343 0")
    assert _running_processes(tmp_path) == [(42, 4242)]
    assert _running_processes(tmp_path / "absent") is None
