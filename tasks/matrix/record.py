"""The run record: one evidence pack per run, kept on disk as the run goes.

The flow begins the pack from a :class:`RunStart` (verdict ``incomplete``), updates it after
each step and ends it with an :class:`~tasks.matrix.verdicts.Ending`; every update is validated
whole (a contradictory pack is never written) and written atomically. The crash hook, which
Prefect may run in another process, builds the same RunStart from the run's parameters, finds
the same folder by the run id, terminates the run's hosts and completes the same pack — never a
second one. The report, the artifacts and the event all read the pack.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from blocks.defaults import DEFAULT_INVARIANTS
from blocks.errors import ExitCode, WardenError
from blocks.invariants import EnvironmentSpec, load_invariants
from tasks.matrix.evidence import (
    EVIDENCE_JSON,
    EVIDENCE_MD,
    DigestState,
    EvidencePack,
    Verdict,
    evidence_root,
    git_sha,
)
from tasks.matrix.janitor import TAG_RUN_ID, terminate_expired
from tasks.matrix.promotion import read_approved
from tasks.matrix.report import render_markdown
from tasks.matrix.verdicts import Ending
from tasks.matrix.wiring import digest_store, providers_of
from tasks.platform.clock import run_stamp, utc_now
from tasks.platform.files import write_atomic

CANDIDATE_ENV = "RADIX_CANDIDATE_DIGEST"  # the seed's CI input when no digest is passed


class RunStart(BaseModel):
    """What a run is, known before its first step: the fields every pack of it begins with."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    environment: str
    git_sha: str | None
    started_at: datetime
    candidate_digest: str
    dry_run: bool

    @classmethod
    def of(
        cls,
        run_id: object,
        started: datetime,
        environment: object = "local",
        candidate_digest: object = "",
        dry_run: object = False,
        **_other_parameters: object,
    ) -> RunStart:
        """From the flow's parameters (the flow and its crash hook alike). An empty candidate
        is read from ``RADIX_CANDIDATE_DIGEST``; a run without a Prefect id is ``local-<stamp>``."""
        return cls(
            run_id=str(run_id or f"local-{run_stamp(started)}"),
            environment=str(environment),
            git_sha=git_sha(),
            started_at=started,
            candidate_digest=str(candidate_digest or os.environ.get(CANDIDATE_ENV, "")),
            dry_run=bool(dry_run),
        )

    def folder(self, out: str | None) -> Path:
        return evidence_folder(self.environment, self.run_id, self.started_at, out)


def evidence_folder(environment: str, run_id: str, started: datetime, out: str | None) -> Path:
    """``out`` if given; else this run's folder under the environment's evidence root
    (``<start stamp>-<run id>``: it sorts by time and the crash hook finds it by the id)."""
    if out:
        return Path(out)
    root = evidence_root(environment)
    suffix = f"-{run_id}"
    existing = sorted(p for p in root.iterdir() if p.name.endswith(suffix)) if root.is_dir() else []
    return existing[-1] if existing else root / f"{run_stamp(started)}{suffix}"


def read_pack(folder: Path) -> EvidencePack | None:
    """The pack in ``folder``, or None when there is none or it cannot be read."""
    try:
        return EvidencePack.model_validate_json((folder / EVIDENCE_JSON).read_bytes())
    except (OSError, ValueError):
        return None


class EvidenceJournal:
    """The run's one pack in ``folder``; each change is validated, then written at once."""

    def __init__(self, folder: Path, pack: EvidencePack) -> None:
        self.folder = folder
        self.pack = pack
        write_evidence(pack, folder)

    @classmethod
    def begin(cls, folder: Path, **fields: Any) -> EvidenceJournal:
        """A new pack: ``incomplete`` (exit 5) until :meth:`finish` says otherwise."""
        pack = EvidencePack(
            **fields, verdict=Verdict.INCOMPLETE, exit_code=int(ExitCode.INTERNAL_ERROR)
        )
        return cls(folder, pack)

    def update(self, **fields: Any) -> EvidencePack:
        self.pack = _with(self.pack, **fields)
        write_evidence(self.pack, self.folder)
        return self.pack

    def finish(self, **fields: Any) -> EvidencePack:
        """The final pack; one that would contradict itself is written as ``error`` instead."""
        self.pack = finished(self.pack, **fields)
        write_evidence(self.pack, self.folder)
        return self.pack

    def end(self, ending: Ending, after: DigestState | None = None) -> EvidencePack:
        """Finish with ``ending``; ``after`` is the approved digest read again, if it was."""
        return self.finish(**ending.fields(after))


def write_evidence(pack: EvidencePack, out_dir: Path) -> tuple[Path, Path]:
    """``evidence.json`` and ``evidence.md`` under ``out_dir`` (atomic writes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / EVIDENCE_JSON, out_dir / EVIDENCE_MD
    write_atomic(json_path, pack.model_dump_json(indent=2) + "\n")
    write_atomic(md_path, render_markdown(pack))
    return json_path, md_path


def finished(pack: EvidencePack, **fields: Any) -> EvidencePack:
    """``pack`` with its final fields and ``finished_at``; contradictions become an error."""
    fields.setdefault("finished_at", utc_now())
    try:
        return _with(pack, **fields)
    except ValidationError as exc:
        problem = "; ".join(error["msg"] for error in exc.errors())
        return _with(
            pack,
            verdict=Verdict.ERROR,
            promoted=False,
            exit_code=int(ExitCode.INTERNAL_ERROR),
            reasons=[*pack.reasons, *fields.get("reasons", []), f"internal error: {problem}"],
            finished_at=fields["finished_at"],
        )


def _with(pack: EvidencePack, **fields: Any) -> EvidencePack:
    return EvidencePack.model_validate({**pack.model_dump(), **fields})


def clean_up_after_run(
    start: RunStart, invariants: str | None, out: str | None, ended: str
) -> EvidencePack:
    """The crash / cancellation hook: read the environment again (if it can be), then
    :func:`complete_after_crash` the run's one pack in the folder the run wrote to."""
    env, problem = None, None
    try:
        env = load_invariants(invariants or DEFAULT_INVARIANTS).environment(start.environment)
    except WardenError as exc:
        problem = f"no host could be looked for: {exc}"
    return complete_after_crash(
        env=env,
        folder=start.folder(out),
        base=start.model_dump(),
        ended=ended,
        problem=problem,
    )


def complete_after_crash(
    *,
    env: EnvironmentSpec | None,
    folder: Path,
    base: dict[str, Any],
    ended: str,
    problem: str | None = None,
) -> EvidencePack:
    """The crash / cancellation hook's work: terminate the run's hosts, complete its one pack.

    ``base`` holds the fields of a pack to begin when the run never wrote one (run_id,
    environment, git_sha, started_at, candidate_digest, dry_run). ``env`` None: the
    invariants could not be read (``problem`` says why), so no host could be looked for.
    """
    pack = read_pack(folder)
    if pack is None or pack.run_id != base["run_id"]:
        pack = EvidencePack(**base, verdict=Verdict.INCOMPLETE)
    notes = [f"the run ended {ended}"] + ([problem] if problem else [])
    gone: list[str] = []
    after = pack.approved_digest_after
    if env is not None:
        pack = _with(pack, region=env.region)
        gone, more = _terminate_run_hosts(env, pack.run_id)
        after, read_problem = _read_store(env)
        notes += more + ([read_problem] if read_problem else [])
        notes += _promotion_note(pack, after)
    terminated = [*pack.janitor_terminated, *gone]
    if pack.verdict is not Verdict.INCOMPLETE:  # the run finished its verdict; it stands
        more = {"janitor_terminated": terminated, "reasons": [*pack.reasons, *notes]}
        if pack.approved_digest_after is None:  # never set by the run: what the store holds now
            more["approved_digest_after"] = after
        return _write(_with(pack, **more), folder)
    final = finished(
        pack,
        janitor_terminated=terminated,
        approved_digest_after=after,
        verdict=Verdict.ERROR,
        promoted=False,
        exit_code=int(ExitCode.INTERNAL_ERROR),
        reasons=[*pack.reasons, *notes],
    )
    return _write(final, folder)


def _write(pack: EvidencePack, folder: Path) -> EvidencePack:
    write_evidence(pack, folder)
    return pack


def _terminate_run_hosts(env: EnvironmentSpec, run_id: str) -> tuple[list[str], list[str]]:
    """Every host tagged with this run's id, whatever its age: (terminated ids, problems)."""
    this_run = (TAG_RUN_ID, run_id)
    soon = utc_now() + timedelta(minutes=1)  # TTL 0 from a moment ahead: every host of this run
    gone: list[str] = []
    problems: list[str] = []
    for provider in providers_of(env):
        try:
            gone += [host.id for host in terminate_expired(provider, this_run, 0, soon)]
        except WardenError as exc:
            problems.append(f"could not terminate every host of this run: {exc}")
    return gone, problems


def _read_store(env: EnvironmentSpec) -> tuple[DigestState | None, str | None]:
    try:
        return read_approved(digest_store(env)), None
    except WardenError as exc:
        return None, f"could not read the approved digest after the run: {exc}"


def _promotion_note(pack: EvidencePack, after: DigestState | None) -> list[str]:
    """A promotion interrupted mid-write may have landed: say so, never count it as proven."""
    before = pack.approved_digest_before
    if after is None or after.value != pack.candidate_digest or before == after:
        return []
    return [
        f"the store now holds the candidate (version {after.version}): a promotion may have "
        "completed before the run ended; it is not counted as proven"
    ]
