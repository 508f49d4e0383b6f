"""One complete evidence pack per run, whatever ends it; the kill switch at the promotion."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from prefect.concurrency.sync import concurrency
from prefect.variables import Variable

from blocks.errors import ExitCode
from blocks.storage import warden_home
from flows import gpu_matrix
from flows.gpu_matrix import _clean_up_after, gpu_matrix_janitor
from tasks.matrix.errors import PromotionNotVisible
from tasks.matrix.evidence import EvidencePack, Verdict
from tasks.matrix.janitor import leg_tags
from tasks.matrix.local_host import LocalHostProvider
from tasks.matrix.record import read_pack
from tasks.matrix.store import LocalDigestStore
from tasks.platform.clock import utc_now
from tasks.platform.kill_switch import KILL_SWITCH_VARIABLE
from tasks.platform.steps import ensure_concurrency_limits
from tests.flows.matrix_files import CANDIDATE, OTHER, hosts_left, leg, run, store, write_invariants


@pytest.fixture
def kill_switch():
    """Turns the switch on when called; always off again after the test."""
    yield lambda: Variable.set(KILL_SWITCH_VARIABLE, True, overwrite=True)
    Variable.set(KILL_SWITCH_VARIABLE, False, overwrite=True)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def in_thread(target: Callable[[], None]) -> threading.Thread:
    """Run ``target`` in a thread that sees this test's Prefect settings (context variables)."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,))
    thread.start()
    return thread


def all_packs() -> list[Path]:
    return sorted(warden_home().glob("out/matrix/*/*/evidence.json"))


def test_a_kill_switch_turned_on_during_the_legs_stops_the_promotion(
    tmp_path: Path, kill_switch
) -> None:
    started, go = tmp_path / "smoke-started", tmp_path / "go"
    smoke = f"touch {started}; while [ ! -f {go} ]; do sleep 0.05; done; echo ok"
    invariants = write_invariants(tmp_path, [leg("cpu", smoke_job=smoke)])

    def operator() -> None:
        wait_for(started.exists, "the smoke job")
        kill_switch()
        go.touch()

    thread = in_thread(operator)
    state, pack = run(invariants)
    thread.join(timeout=30)

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code, pack.promoted) == (Verdict.REFUSED, 3, False)
    assert "before promotion" in pack.reasons[0]
    assert pack.legs[0].passed  # the legs' evidence is kept
    assert store().read() is None  # nothing promoted
    assert pack.approved_digest_after is not None and pack.approved_digest_after.value is None


def test_a_kill_switch_turned_on_while_queued_stops_the_run_before_any_host(
    tmp_path: Path, kill_switch
) -> None:
    invariants = write_invariants(tmp_path, [leg("cpu")])
    out = tmp_path / "ev"
    results: list = []
    ensure_concurrency_limits({"gpu-matrix-t": 1})
    with concurrency("gpu-matrix-t", occupy=1, strict=True):  # another run holds the slot
        thread = in_thread(lambda: results.append(run(invariants, out=str(out))))
        # the pack names the region once the run passed its first check and read its config
        wait_for(lambda: (p := read_pack(out)) is not None and p.region, "the queued run")
        kill_switch()
    thread.join(timeout=60)

    ((state, pack),) = results
    assert (pack.verdict, pack.exit_code) == (Verdict.REFUSED, 3)
    assert pack.legs == [] and hosts_left() == [] and pack.auth_method is None


def test_the_janitor_keeps_cleaning_under_the_kill_switch(tmp_path: Path, kill_switch) -> None:
    invariants = write_invariants(tmp_path, [leg("cpu")])
    provider = LocalHostProvider(warden_home() / "matrix" / "hosts")
    spec = SimpleNamespace(name="cpu", vendor="cpu", gpu="none")
    tags = leg_tags(("radix:purpose", "gpu-matrix-test"), "dead-run", "cpu", 4, utc_now())
    left = provider.provision(spec, run_id="dead-run", client_token="e" * 32, tags=tags)
    kill_switch()

    assert gpu_matrix_janitor(environment="t", invariants=str(invariants), ttl_hours=0) == [left.id]
    assert hosts_left() == []


class Interrupted(BaseException):
    """Stands in for what crashes a run in-process (not an Exception: nothing catches it)."""


def test_a_crashed_run_leaves_one_complete_pack_in_its_out_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args, **kwargs):
        raise Interrupted("worker lost")

    monkeypatch.setattr(gpu_matrix, "promote_digest", crash)
    store().write(OTHER, expected_version=None, writer="bootstrap")
    out = tmp_path / "ev"
    with pytest.raises(Interrupted):
        run(write_invariants(tmp_path, [leg("cpu")]), out=str(out))

    assert all_packs() == []  # nothing outside `out`: one pack for the run
    pack = read_pack(out)
    assert (pack.verdict, pack.exit_code, pack.promoted) == (Verdict.ERROR, 5, False)
    assert pack.approved_digest_before.value == OTHER  # what the run read before its legs
    assert pack.approved_digest_after.value == OTHER  # read again by the crash hook
    assert pack.legs[0].passed and pack.finished_at is not None
    assert any("Interrupted: worker lost" in reason for reason in pack.reasons)
    assert any("the run ended Crashed" in reason for reason in pack.reasons)
    assert hosts_left() == []


def test_the_cancellation_hook_completes_the_runs_own_pack(tmp_path: Path) -> None:
    """A run cancelled mid-leg: the hook (maybe another process) finds the run's pack by id."""
    invariants = write_invariants(tmp_path, [leg("cpu")])
    provider = LocalHostProvider(warden_home() / "matrix" / "hosts")
    spec = SimpleNamespace(name="cpu", vendor="cpu", gpu="none")
    tags = leg_tags(("radix:purpose", "gpu-matrix-test"), "run-c", "cpu", 4, utc_now())
    ours = provider.provision(spec, run_id="run-c", client_token="f" * 32, tags=tags)
    begun = utc_now()
    folder = warden_home() / "out" / "matrix" / "t" / "20260101T000000000000Z-run-c"
    folder.mkdir(parents=True)
    in_progress = EvidencePack(
        run_id="run-c",
        environment="t",
        git_sha=None,
        started_at=begun,
        candidate_digest=CANDIDATE,
        dry_run=False,
        region="local",
        approved_digest_before={"value": None},
        verdict=Verdict.INCOMPLETE,
    )
    (folder / "evidence.json").write_text(in_progress.model_dump_json())
    flow_run = SimpleNamespace(
        id="run-c",
        start_time=utc_now(),
        parameters={"environment": "t", "invariants": str(invariants), "candidate_digest": ""},
    )
    _clean_up_after(None, flow_run, SimpleNamespace(name="Cancelled", message="by an operator"))

    assert all_packs() == [folder / "evidence.json"]
    pack = read_pack(folder)
    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, 5)
    assert pack.candidate_digest == CANDIDATE and pack.started_at == begun
    assert pack.approved_digest_before.value is None and pack.approved_digest_after is not None
    assert pack.janitor_terminated == [ours.id] and hosts_left() == []
    assert "Cancelled: by an operator" in pack.reasons[0]


def test_a_bad_invariants_file_still_writes_the_runs_pack(tmp_path: Path) -> None:
    broken = tmp_path / "invariants.yaml"
    broken.write_text("environments:\n  t:\n    region: [not, a, string]\n")
    out = tmp_path / "ev"
    state, pack = run(broken, out=str(out))

    assert state.is_failed()
    assert (pack.verdict, pack.exit_code) == (Verdict.ERROR, int(ExitCode.USAGE_ERROR))
    assert pack.region is None and pack.approved_digest_before is None
    assert read_pack(out) == pack


class InvisibleStore(LocalDigestStore):
    """Acknowledges the write and keeps the old value: the promotion is not visible."""

    def write(self, value, *, expected_version, writer):
        return self.read().model_copy(update={"value": value, "version": expected_version + 1})


def test_a_promotion_the_store_does_not_show_fails_promotion_not_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store().write(OTHER, expected_version=None, writer="bootstrap")
    monkeypatch.setattr("tasks.matrix.store.LocalDigestStore", InvisibleStore)  # open_store's
    state, pack = run(write_invariants(tmp_path, [leg("cpu")]))

    assert state.is_failed()
    assert (pack.verdict, pack.promoted) == (Verdict.ERROR, False)
    assert pack.exit_code == PromotionNotVisible.code == 22 and pack.legs[0].passed
    assert pack.approved_digest_after.value == OTHER  # what was read back, not the candidate
