"""Prefect steps of the safety plan: thin wrappers with their policies, then pure code."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from prefect.cache_policies import NO_CACHE

from blocks.plan_checks import ManualCheck
from blocks.plans import PlanFile, PlanTask, check_selection, load_plan
from tasks.plans.checks import run_local_check, run_rollback
from tasks.plans.models import PlanReport, RollbackOutcome, TaskOutcome
from tasks.plans.outputs import write_outputs
from tasks.plans.report import crashed_outcome
from tasks.platform.files import write_atomic
from tasks.platform.processes import run_command
from tasks.platform.steps import SignOffNotReceived, ask_sign_off, step

GIT_TIMEOUT_SEC = 30.0
MAX_GIT_OUTPUT = 8_000_000  # a longer diff is not hashed whole: nothing cached is reused


@step(cache_policy=NO_CACHE)
def plan_safety_tasks(plan_file: str, from_id: str | None, only: list[str] | None) -> PlanFile:
    """Load and validate the plan whole (every task runnable), and the ids to re-check."""
    plan = load_plan(plan_file)
    check_selection(plan, Path(plan_file), [name for name in [from_id, *(only or [])] if name])
    return plan


@step(cache_policy=NO_CACHE)
def read_run_inputs(base_dir: str) -> dict[str, str]:
    """What a cached proof depends on besides its check: the git revision and the edits not
    committed yet. Outside a git checkout every run is new (nothing cached is reused)."""
    base = Path(base_dir)
    head = run_command(["git", "rev-parse", "HEAD"], timeout_sec=GIT_TIMEOUT_SEC, cwd=base, env={})
    if head.exit_code != 0 or head.error:
        return {"git_revision": "none", "run": uuid.uuid4().hex}
    edits = run_command(
        ["git", "diff", "HEAD", "--binary"],
        timeout_sec=GIT_TIMEOUT_SEC,
        cwd=base,
        env={},
        output_limit=MAX_GIT_OUTPUT,
    )
    untracked = run_command(
        ["git", "ls-files", "-z", "--others", "--exclude-standard"],
        timeout_sec=GIT_TIMEOUT_SEC,
        cwd=base,
        env={},
        output_limit=MAX_GIT_OUTPUT,
    )
    whole = all(len(run.output) < MAX_GIT_OUTPUT for run in (edits, untracked))
    if edits.exit_code != 0 or untracked.exit_code != 0 or not whole:  # unknown: no reuse
        return {"git_revision": head.output.strip(), "run": uuid.uuid4().hex}
    digest = hashlib.sha256(edits.output.encode())
    for name in sorted(filter(None, untracked.output.split("\0"))):
        digest.update(name.encode())
        try:
            digest.update(hashlib.sha256((base / name).read_bytes()).digest())
        except OSError:
            digest.update(b"unreadable")
    return {"git_revision": head.output.strip(), "worktree": digest.hexdigest()}


@step(task_run_name="run_plan_check-{task.id}", cache_policy=NO_CACHE)
def run_plan_check(task: PlanTask, base_dir: str, scratch: str) -> TaskOutcome:
    """A check this concern runs (command, pytest, rehearsal, drill); a crash is a failure."""
    try:
        return run_local_check(task.verify, Path(base_dir), Path(scratch))
    except Exception as exc:
        return crashed_outcome(exc)


@step(task_run_name="roll_back_task-{task.id}", cache_policy=NO_CACHE)
def roll_back_task(task: PlanTask, base_dir: str) -> RollbackOutcome:
    """The failed task's declared rollback, and the check that proves the state restored."""
    assert task.rollback is not None
    try:
        return run_rollback(task.rollback, Path(base_dir))
    except Exception as exc:
        return RollbackOutcome(ran=False, restored=False, message=crashed_outcome(exc).message)


def request_task_sign_off(task: PlanTask, timeout_sec: int) -> TaskOutcome:
    """Pause the flow run until an operator signs the task off (flow context only)."""
    check = task.verify
    assert isinstance(check, ManualCheck)
    description = (
        f"Sign off task **{task.id}** ({check.sign_off}): {task.text}. {check.instructions}"
    )
    try:
        answer = ask_sign_off(description, f"task-{task.id}", timeout_sec)
    except SignOffNotReceived as exc:
        return TaskOutcome(ok=False, reason="sign_off_missing", message=str(exc))
    evidence = {"signer": answer.signer, "evidence_link": answer.evidence_link}
    if not answer.signer.strip():
        return TaskOutcome(ok=False, reason="sign_off_invalid", message="no signer given")
    if not answer.approved:
        message = f"{answer.signer} did not approve"
        return TaskOutcome(ok=False, reason="sign_off_rejected", message=message, evidence=evidence)
    return TaskOutcome(ok=True, message=f"signed off by {answer.signer}", evidence=evidence)


def refused_sign_off(task: PlanTask) -> TaskOutcome:
    """A manual task in a run nobody can answer: not verified, never assumed."""
    return TaskOutcome(
        ok=False,
        reason="sign_off_refused",
        message="manual sign-off needs an interactive run (interactive=true in the UI)",
    )


@step(cache_policy=NO_CACHE)
def write_plan_outputs(plan: PlanFile, report: PlanReport, out_dir: str, latest: str) -> list[str]:
    """The run's files, and the plan's latest report (what ``warden plan status`` reads)."""
    written = write_outputs(plan, report, Path(out_dir))
    write_atomic(Path(latest), report.model_dump_json(indent=2))
    return [str(path) for path in [*written, Path(latest)]]
