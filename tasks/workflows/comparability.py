"""Whether two parse baselines can be compared at all, before the regression gate counts.

Counts alone cannot tell an improvement from a run that saw fewer files: a new baseline that
is empty, truncated, stale or of another corpus would pass the gate as "no regression" about
files it never checked. So, before any count is compared:

- neither baseline may be empty, or contradict itself (its listing against its counts);
- the new baseline may not be older than the reference (a stale artifact);
- the new baseline must count at least ``1 - max_missing`` of the reference's files;
- when both list every file, at most ``max_missing`` of the reference's files may be absent
  from the new listing. Paths are compared after dropping each baseline's common folder and
  by trailing components, so checkouts in different places (or a Windows path) still match.

A baseline that lists fewer files than its total (the seed's writer may) cannot be checked
file by file; the gate report then says so in its ``notes``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from blocks.errors import UsageError
from tasks.workflows.baseline import BaselineError
from tasks.workflows.fingerprint import fingerprint

DEFAULT_MAX_MISSING = 0.10
EXAMPLES = 3
SUCCESS = "SUCCESS"
_MOMENT = TypeAdapter(datetime)


class Mismatch(StrEnum):
    """Why two baselines cannot be compared; one per problem found."""

    NEW_EMPTY = "new_empty"
    REFERENCE_EMPTY = "reference_empty"
    NEW_CONTRADICTS_ITSELF = "new_contradicts_itself"
    REFERENCE_CONTRADICTS_ITSELF = "reference_contradicts_itself"
    STALE = "stale"  # the new baseline is older than the reference
    TRUNCATED = "truncated"  # the new baseline counts too few files
    FILES_MISSING = "files_missing"  # too many of the reference's files are not listed


class BaselinesNotComparable(BaselineError):
    """The two baselines do not describe the same corpus checked whole; nothing was compared.
    ``mismatches`` says why, one entry per problem the message describes."""

    remediation = (
        "Compare baselines of the same corpus, each written by a complete run; if the corpus "
        "really shrank, pass a larger --max-missing."
    )

    def __init__(self, message: str, *, mismatches: Iterable[Mismatch] = (), **kwargs: Any):
        super().__init__(message, **kwargs)
        self.mismatches = tuple(mismatches)


def check_comparable(
    new: dict[str, Any], ref: dict[str, Any], *, max_missing: float = DEFAULT_MAX_MISSING
) -> list[str]:
    """Raise BaselinesNotComparable naming every reason; return notes on what went unchecked."""
    if not 0.0 <= max_missing < 1.0:
        raise UsageError(f"--max-missing must be a fraction from 0 up to 1, got {max_missing}")
    problems = _self_contradictions(new, "new") + _self_contradictions(ref, "reference")
    if _moment(new["timestamp"]) < _moment(ref["timestamp"]):
        problems.append(
            (
                Mismatch.STALE,
                f"the new baseline ({new['timestamp']}) is older than the reference "
                f"({ref['timestamp']}): a stale artifact",
            )
        )
    new_total, ref_total = int(new["total"]), int(ref["total"])
    if ref_total and new_total < ref_total * (1 - max_missing):
        problems.append(
            (
                Mismatch.TRUNCATED,
                f"the new baseline counts {new_total} files, the reference {ref_total}: more "
                f"than {max_missing:.0%} fewer (a truncated run, or another corpus)",
            )
        )
    notes = []
    if _lists_every_file(new) and _lists_every_file(ref):
        problems += _missing_files(new, ref, max_missing)
    else:
        notes.append(
            "paths not compared: a baseline lists fewer files than its total "
            f"(new {len(new['files'])} of {new_total}, reference {len(ref['files'])} of "
            f"{ref_total}); only the totals show it is the same corpus"
        )
    if problems:
        raise BaselinesNotComparable(
            "baselines cannot be compared: " + "; ".join(text for _, text in problems),
            mismatches=[kind for kind, _ in problems],
        )
    return notes


def without_suppressed(baseline: dict[str, Any], fingerprints: frozenset[str]) -> tuple[dict, int]:
    """The baseline with its listed suppressed failures taken out of ``by_code``, and how many.

    A file's fingerprint is computed from its listed code_name, line and message, exactly as
    the classifier computes it; a failure the baseline does not list stays counted.
    """
    removed: Counter[str] = Counter()
    for entry in baseline["files"]:
        name = entry["code_name"]
        mark = fingerprint(name, entry.get("line"), entry.get("message") or "")
        if name != SUCCESS and mark in fingerprints:
            removed[name] += 1
    by_code = {name: count - removed[name] for name, count in baseline["by_code"].items()}
    return {**baseline, "by_code": by_code}, sum(removed.values())


def _self_contradictions(baseline: dict[str, Any], which: str) -> list[tuple[Mismatch, str]]:
    """An empty baseline, or a listing that counts more of a code than ``by_code`` does."""
    new = which == "new"
    if int(baseline["total"]) == 0:
        empty = Mismatch.NEW_EMPTY if new else Mismatch.REFERENCE_EMPTY
        return [(empty, f"the {which} baseline is empty: no file was checked")]
    listed = Counter(entry["code_name"] for entry in baseline["files"])
    by_code = baseline["by_code"]
    if _lists_every_file(baseline):
        wrong = sorted(
            name for name in set(listed) | set(by_code) if listed[name] != by_code.get(name, 0)
        )
    else:
        wrong = sorted(name for name in listed if listed[name] > by_code.get(name, 0))
    if not wrong:
        return []
    detail = ", ".join(
        f"{name} {listed[name]} listed, {by_code.get(name, 0)} counted" for name in wrong
    )
    kind = Mismatch.NEW_CONTRADICTS_ITSELF if new else Mismatch.REFERENCE_CONTRADICTS_ITSELF
    return [(kind, f"the {which} baseline contradicts itself: {detail}")]


def _lists_every_file(baseline: dict[str, Any]) -> bool:
    return len(baseline["files"]) == int(baseline["total"])


def _missing_files(
    new: dict[str, Any], ref: dict[str, Any], max_missing: float
) -> list[tuple[Mismatch, str]]:
    """The reference's files absent from the new listing, when more than ``max_missing``."""
    new_paths = _relative(new["files"])
    new_exact = set(new_paths)
    new_suffixes = {path[start:] for path in new_paths for start in range(len(path))}
    missing = [
        "/".join(path)
        for path in _relative(ref["files"])
        if path not in new_suffixes and not any(path[s:] in new_exact for s in range(len(path)))
    ]
    if len(missing) <= max_missing * len(ref["files"]):
        return []
    share = len(missing) / len(ref["files"])
    return [
        (
            Mismatch.FILES_MISSING,
            f"{len(missing)} of the reference's {len(ref['files'])} files ({share:.0%}) are "
            f"not in the new baseline, e.g. {', '.join(missing[:EXAMPLES])} (another corpus, "
            "or a truncated run)",
        )
    ]


def _relative(files: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Each listed path as components, below the folder all of them share."""
    parts = [
        tuple(p for p in entry["path"].replace("\\", "/").split("/") if p not in ("", "."))
        for entry in files
    ]
    common = len(os.path.commonprefix([path[:-1] for path in parts])) if parts else 0
    return [path[common:] for path in parts]


def _moment(value: Any) -> datetime:
    moment = _MOMENT.validate_python(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
