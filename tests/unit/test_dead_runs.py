"""Which flow runs died with a local worker (tasks/platform/dead_runs.py): the worker
supervisor's pure rule, on Prefect API flow-run records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasks.platform.dead_runs import PENDING_GRACE_SEC, Sweep, dead_runs, local_pid

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOST = "this-host"
OURS = {"warden-local-worker": T0 - timedelta(hours=1), "warden-local-worker-2": T0}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(
    run_id: str, kind: str, since: float, pid: str | None = None, worker: str | None = None
) -> dict:
    labels = {"prefect.worker.name": worker} if worker else {}
    state = {"id": f"{run_id}-state", "timestamp": at(since).isoformat().replace("+00:00", "Z")}
    return {
        "id": run_id,
        "name": f"run-{run_id}",
        "state_type": kind,
        "state": state,
        "infrastructure_pid": pid,
        "labels": labels,
    }


def judged(runs: list[dict], sweeps: list[Sweep], live: dict[int, float], **kw) -> list[str]:
    """Ids judged dead at ``now`` (default T0 + 60 s); ``live``: pid -> started at (seconds)."""
    found = dead_runs(
        runs,
        sweeps,
        workers=kw.pop("workers", OURS),
        process_started=lambda pid: at(live[pid]) if pid in live else None,
        host=HOST,
        now=kw.pop("now", at(60)),
        **kw,
    )
    return [d.run["id"] for d in found]


WORKER_2_GONE = Sweep(since=T0, dead_worker="warden-local-worker-2", old_pid=20, last_seen=at(-2))


def test_a_running_run_whose_process_on_this_machine_is_gone_is_dead_whoever_ran_it() -> None:
    runs = [
        run("gone", "RUNNING", -30, f"{HOST}:11", "warden-local-worker"),  # a live worker's run
        run("bare", "RUNNING", -30, "12", "warden-local-worker-2"),  # Prefect 3.8: a bare pid
        run("alive", "RUNNING", -30, f"{HOST}:13", "warden-local-worker-2"),
        run("reused", "RUNNING", -30, f"{HOST}:14"),  # pid 14 now a process started later
        run("remote", "RUNNING", -30, "other-host:15"),
        run("bare-not-ours", "RUNNING", -30, "16", "someone-elses-worker"),
        run("no-pid-yet", "RUNNING", -1, None, "warden-local-worker-2"),
    ]
    live = {13: -31.0, 14: -5.0}
    assert judged(runs, [WORKER_2_GONE], live) == ["gone", "bare", "reused"]


def test_a_pending_run_is_dead_when_the_worker_that_took_it_is_gone() -> None:
    runs = [
        run("before", "PENDING", -1, worker="warden-local-worker-2"),  # before its restart (T0)
        run("after", "PENDING", 1, worker="warden-local-worker-2"),  # the restarted one took it
        run("live-worker", "PENDING", -50, worker="warden-local-worker"),
        run("not-ours", "PENDING", -50, worker="someone-elses-worker"),
        run("unlabelled-old", "PENDING", -PENDING_GRACE_SEC - 1),
        run("unlabelled-new", "PENDING", -1),  # maybe a live worker labelling it right now
    ]
    now = at(0)
    assert judged(runs, [WORKER_2_GONE], {}, now=now) == ["before", "unlabelled-old"]
    later = at(PENDING_GRACE_SEC)  # unlabelled-new pending long enough, since before the sweep
    assert judged(runs, [WORKER_2_GONE], {}, now=later) == [
        "before",
        "unlabelled-old",
        "unlabelled-new",
    ]


def test_a_crashed_run_is_dead_only_when_it_crashed_with_the_worker_found_gone() -> None:
    runs = [
        run("with-it", "CRASHED", -1, worker="warden-local-worker-2"),
        run("earlier", "CRASHED", -600, worker="warden-local-worker-2"),
        run("other-worker", "CRASHED", -1, worker="warden-local-worker"),
        run("no-worker", "CRASHED", -1),
    ]
    assert judged(runs, [WORKER_2_GONE], {}) == ["with-it"]
    assert judged(runs, [Sweep(since=T0)], {}) == []  # start-up: left to the operator


def test_the_start_up_sweep_finds_runs_left_dead_from_before_the_supervisor() -> None:
    workers = {"warden-local-worker": T0}  # started (again) just now, e.g. the machine restarted
    runs = [
        run("was-running", "RUNNING", -3600, "21", "warden-local-worker"),  # pid 21 is gone
        run("was-pending", "PENDING", -3600, worker="warden-local-worker"),
        run("crashed", "CRASHED", -3600, worker="warden-local-worker"),
    ]
    assert judged(runs, [Sweep(since=T0)], {}, workers=workers) == ["was-running", "was-pending"]


def test_finished_runs_are_never_dead_and_nothing_is_judged_without_a_sweep() -> None:
    worker = "warden-local-worker-2"
    runs = [run(r, kind, -30, "11", worker) for r, kind in [("c", "COMPLETED"), ("f", "FAILED")]]
    runs += [run("x", "CANCELLED", -30, "11", worker), run("s", "SCHEDULED", -30, None, worker)]
    assert judged(runs, [WORKER_2_GONE], {}) == []
    assert judged([run("a", "RUNNING", -30, "11", worker)], [], {}) == []


def test_a_dead_state_is_acted_on_once() -> None:
    runs = [run("a", "RUNNING", -30, "11", "warden-local-worker-2")]
    assert judged(runs, [WORKER_2_GONE], {}) == ["a"]
    assert judged(runs, [WORKER_2_GONE], {}, handled={"a-state"}) == []
    rerun = run("a", "RUNNING", 30, "12", "warden-local-worker") | {"state_id": "a-rerun"}
    assert judged([rerun], [WORKER_2_GONE], {}, handled={"a-state"}) == ["a"]  # died again


def test_a_dead_run_names_the_worker_and_the_sweep_that_found_it() -> None:
    other = Sweep(since=T0, dead_worker="warden-local-worker", old_pid=10, last_seen=at(-2))
    runs = [run("a", "RUNNING", -30, "11", "warden-local-worker-2")]
    (found,) = dead_runs(
        runs, [other, WORKER_2_GONE], workers=OURS, process_started=lambda pid: None,
        host=HOST, now=at(1),
    )  # fmt: skip
    assert found.sweep == WORKER_2_GONE and found.worker == "warden-local-worker-2"
    assert found.state_id == "a-state"


def test_the_local_pid_is_this_hosts_or_a_bare_one_of_our_workers() -> None:
    assert local_pid(run("a", "RUNNING", 0, f"{HOST}:7"), HOST, OURS) == 7
    assert local_pid(run("a", "RUNNING", 0, "elsewhere:7"), HOST, OURS) is None
    assert local_pid(run("a", "RUNNING", 0, "7", "warden-local-worker"), HOST, OURS) == 7
    assert local_pid(run("a", "RUNNING", 0, "7"), HOST, OURS) is None
    assert local_pid(run("a", "RUNNING", 0, f"{HOST}:x"), HOST, OURS) is None
