"""Legacy syntax migration (seed 003): plan regex rewrites, show diffs, apply them safely.

Planning reads every file and writes nothing (the dry run); applying writes only files whose
text a rule changed, atomically, keeping their mode, and only if the file is still exactly
what was planned — an edit made in between is never lost. A file that cannot be read as
text (unreadable, binary, not UTF-8, too large) is skipped with its reason, never a crash.
"""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from blocks.migration_rules import RuleSet
from tasks.platform.files import write_atomic
from tasks.platform.markdown import md_cell
from tasks.workflows.reading import read_text

MAX_BYTES = 10 * 1024 * 1024
CHANGED_SINCE_PLANNING = "changed since planning"
REPORT_FILE = "migration_report.md"


class RuleHit(BaseModel):
    """A rule that changed a file, and how many matches it replaced."""

    model_config = ConfigDict(frozen=True)

    rule: str
    count: int


class FileChange(BaseModel):
    """One file the rules change: both texts (for the apply-time check), hits and diff."""

    model_config = ConfigDict(frozen=True)

    path: Path
    original: str
    new: str
    hits: list[RuleHit]
    diff: str

    @property
    def changes(self) -> int:
        return sum(hit.count for hit in self.hits)


class SkippedFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    reason: str


class MigrationPlan(BaseModel):
    """What a migration would do: changed files, untouched files, files it could not read."""

    model_config = ConfigDict(frozen=True)

    changed: list[FileChange]
    unchanged: list[Path]
    skipped: list[SkippedFile]

    @property
    def total_files(self) -> int:
        return len(self.changed) + len(self.unchanged) + len(self.skipped)

    @property
    def total_changes(self) -> int:
        return sum(change.changes for change in self.changed)


class ApplyOutcome(BaseModel):
    """What applying wrote, and which planned files it left alone and why."""

    model_config = ConfigDict(frozen=True)

    written: list[Path]
    skipped: list[SkippedFile]


def rewrite(text: str, rules: RuleSet) -> tuple[str, list[RuleHit]]:
    """Apply every rule in order; a rule whose matches change nothing is not a hit."""
    hits = []
    for rule in rules.rules:
        rewritten, count = rule.regex.subn(rule.replacement, text)
        if rewritten != text:
            hits.append(RuleHit(rule=rule.name, count=count))
            text = rewritten
    return text, hits


def _label(path: Path, root: Path | None) -> str:
    """The path a diff shows: relative to ``root`` when under it, without a leading '/'."""
    if root is not None and path.is_relative_to(root):
        path = path.relative_to(root)
    return path.as_posix().lstrip("/")


def unified_diff(original: str, new: str, label: str) -> str:
    """A ``diff -u`` of two texts with a/ and b/ paths, marking a missing final newline."""
    lines = difflib.unified_diff(
        original.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{label}",
        tofile=f"b/{label}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def plan_migration(
    files: list[Path], rules: RuleSet, *, root: Path | None = None, max_bytes: int = MAX_BYTES
) -> MigrationPlan:
    """Plan the rules over ``files`` (each once, in order) and write nothing.

    ``root``, when given, makes the diffs' paths relative to it.
    """
    changed, unchanged, skipped = [], [], []
    for path in dict.fromkeys(Path(item) for item in files):
        text, reason = read_text(path, max_bytes)
        if text is None:
            skipped.append(SkippedFile(path=path, reason=reason or "unreadable"))
            continue
        new, hits = rewrite(text, rules)
        if new == text:
            unchanged.append(path)
            continue
        diff = unified_diff(text, new, _label(path, root))
        changed.append(FileChange(path=path, original=text, new=new, hits=hits, diff=diff))
    return MigrationPlan(changed=changed, unchanged=unchanged, skipped=skipped)


def _apply_one(change: FileChange) -> str | None:
    """Write one planned change; the reason it was not written, or None when it was."""
    target = Path(os.path.realpath(change.path))  # through a symlink, keep the link
    try:
        current = target.read_bytes()
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError as exc:
        return f"unreadable at apply: {exc.strerror or exc}"
    if current != change.original.encode("utf-8"):
        return CHANGED_SINCE_PLANNING
    try:
        write_atomic(target, change.new, mode=mode)
    except OSError as exc:
        return f"write failed: {exc.strerror or exc}"
    return None


def apply_plan(plan: MigrationPlan) -> ApplyOutcome:
    """Write every planned change that still applies; report the others with their reason."""
    written, skipped = [], []
    for change in plan.changed:
        reason = _apply_one(change)
        if reason is None:
            written.append(change.path)
        else:
            skipped.append(SkippedFile(path=change.path, reason=reason))
    return ApplyOutcome(written=written, skipped=skipped)


def apply_migration(plan: MigrationPlan) -> list[Path]:
    """Write the planned changes (see :func:`apply_plan`); the paths actually written."""
    return apply_plan(plan).written


def _status(change: FileChange, applied: bool, outcome: ApplyOutcome | None) -> str:
    if not applied:
        return "would change"
    if outcome is None:
        return "changed"
    reasons = {item.path: item.reason for item in outcome.skipped}
    return f"not written: {reasons[change.path]}" if change.path in reasons else "written"


def _table(plan: MigrationPlan, applied: bool, outcome: ApplyOutcome | None) -> list[str]:
    rows = ["| file | rules | changes | status |", "|---|---|---:|---|"]
    for change in plan.changed:
        rules = ", ".join(f"{hit.rule} ×{hit.count}" for hit in change.hits)
        status = _status(change, applied, outcome)
        rows.append(f"| {md_cell(str(change.path))} | {rules} | {change.changes} | {status} |")
    for item in plan.skipped:
        rows.append(f"| {md_cell(str(item.path))} | — | 0 | skipped: {md_cell(item.reason)} |")
    return rows


def migration_report_md(
    plan: MigrationPlan, applied: bool, outcome: ApplyOutcome | None = None
) -> str:
    """migration_report.md: one row per changed or skipped file, then the totals.

    Pass the ``outcome`` of :func:`apply_plan` so each row says whether it was written.
    """
    title = "applied" if applied else "dry run"
    lines = [f"# Legacy syntax migration ({title})", ""]
    if not applied:
        lines += [
            f"Dry run: nothing was written; --apply would change {len(plan.changed)} file(s).",
            "",
        ]
    lines += _table(plan, applied, outcome)
    written = len(outcome.written) if outcome is not None else None
    lines += [
        "",
        f"**Totals:** {plan.total_files} file(s) scanned, {len(plan.changed)} to change, "
        f"{len(plan.unchanged)} unchanged, {len(plan.skipped)} skipped; "
        f"{plan.total_changes} replacement(s)"
        + (f"; {written} file(s) written." if written is not None else "."),
    ]
    return "\n".join(lines) + "\n"


class MigrationSummary(BaseModel):
    """What the migration flow returns: the planned files, what applying wrote, each changed
    file's diff, and where migration_report.md went (None: it was not written)."""

    model_config = ConfigDict(frozen=True)

    applied: bool
    changed: list[Path]
    unchanged: list[Path]
    skipped: list[SkippedFile]
    written: list[Path]
    diffs: dict[str, str]
    report_file: Path | None = None


def migration_summary(
    plan: MigrationPlan, outcome: ApplyOutcome | None, report_file: str | Path | None
) -> MigrationSummary:
    """The run's summary; ``outcome`` is None on a dry run."""
    return MigrationSummary(
        applied=outcome is not None,
        changed=[change.path for change in plan.changed],
        unchanged=list(plan.unchanged),
        skipped=list(plan.skipped),
        written=list(outcome.written) if outcome else [],
        diffs={str(change.path): change.diff for change in plan.changed},
        report_file=Path(report_file) if report_file else None,
    )


def migration_rows(plan: MigrationPlan) -> list[dict[str, str]]:
    """The table artifact: each changed file and the rules that changed it."""
    rows = [{"file": str(c.path), "rules": ", ".join(h.rule for h in c.hits)} for c in plan.changed]
    return rows or [{"file": "(no file changed)", "rules": ""}]


def write_report(plan: MigrationPlan, markdown: str, folder: Path) -> Path | None:
    """Write migration_report.md into ``folder`` when several files change (one file's diff
    says it all); the path written, or None."""
    if len(plan.changed) <= 1:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    write_atomic(path, markdown)
    return path
