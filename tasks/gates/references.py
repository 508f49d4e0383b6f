"""What relative thresholds compare with: the metric values of the last *accepted* run.

A run is accepted when its verdict is go or go-with-warnings. Its passing gates' metric values
go to one store, ``$WARDEN_HOME/gates/accepted_metrics.json``, keyed by profile and gate, that
every run reads whatever its ``--out``: a failed run never becomes the reference, and a subset
run only updates the gates it ran. The file is replaced atomically under a lock.

An operator may name a reference instead (``--previous``: a gate_results.json, or a folder of
runs whose newest accepted run of the profile is used); it must be usable, or nothing runs.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from blocks.errors import UsageError
from blocks.gates import Gate
from tasks.gates.metrics import metric_name_for
from tasks.gates.models import (
    GateStatus,
    GateSuiteReport,
    GateVerdict,
    Reference,
    ReferenceSource,
)
from tasks.platform.files import write_atomic

STORE_FILE = Path("gates") / "accepted_metrics.json"
RESULTS_FILE = "gate_results.json"
ACCEPTED = (GateVerdict.GO, GateVerdict.WARN)
RECORDED = (GateStatus.PASSED, GateStatus.SIGNED_OFF)


class AcceptedMetric(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    value: float
    run: str
    verdict: str
    accepted_at: datetime


class AcceptedStore(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    profiles: dict[str, dict[str, AcceptedMetric]] = Field(default_factory=dict)


class StoreUnreadable(Exception):
    """The store exists but cannot be read: nothing may be compared with it or written over it."""


def store_path(home: Path) -> Path:
    return home / STORE_FILE


def load_store(path: Path) -> AcceptedStore:
    """The store; an empty one when the file does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AcceptedStore()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreUnreadable(f"{path} cannot be read: {exc}") from exc
    try:
        return AcceptedStore.model_validate_json(text)
    except ValidationError as exc:
        raise StoreUnreadable(
            f"{path} is not an accepted-metrics store ({exc.error_count()} problem(s)): "
            "restore it from a backup, or delete it to start a new reference"
        ) from exc


def accepted_references(path: Path, profile: str, gates: Sequence[Gate]) -> dict[str, Reference]:
    """A reference for each gate with a metric: the last accepted value, or none yet."""
    try:
        store = load_store(path)
    except StoreUnreadable as exc:
        broken = Reference(problem=str(exc))
        return {gate.name: broken for gate in gates if metric_name_for(gate)}
    entries = store.profiles.get(profile, {})
    references = {}
    for gate in gates:
        name = metric_name_for(gate)
        entry = entries.get(gate.name)
        if name is None:
            continue
        if entry is None or entry.metric != name:
            references[gate.name] = Reference()
        else:
            references[gate.name] = Reference(value=entry.value, run=entry.run)
    return references


def record_accepted(path: Path, report: GateSuiteReport) -> list[str]:
    """Store the metric values of an accepted run's passing gates; return the gates recorded.

    A run that is not accepted records nothing. Gates the run did not pass keep their earlier
    reference. Raises StoreUnreadable rather than overwrite a store it cannot read.
    """
    if report.verdict not in ACCEPTED:
        return []
    fresh = {
        result.name: AcceptedMetric(
            metric=result.metric.name,
            value=result.metric.value,
            run=report.out_dir or report.started_at.isoformat(),
            verdict=str(report.verdict),
            accepted_at=report.finished_at,
        )
        for result in report.gates
        if result.status in RECORDED and result.metric and result.metric.value is not None
    }
    if not fresh:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        store = load_store(path)
        profiles = dict(store.profiles)
        profiles[report.profile] = {**profiles.get(report.profile, {}), **fresh}
        updated = AcceptedStore(profiles=profiles)
        write_atomic(path, updated.model_dump_json(indent=2) + "\n")
    return sorted(fresh)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time: concurrent accepted runs must not lose each other's values."""
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def given_references(source: Path, profile: str, gates: Sequence[Gate]) -> dict[str, Reference]:
    """References from an operator-named run; UsageError when it cannot serve as one.

    ``source`` is a gate_results.json of an accepted run of ``profile``, or a folder whose
    newest accepted run of ``profile`` is used. A gate the named run has no value for fails its
    relative threshold.
    """
    path, document = _given_document(source, profile)
    references = {}
    for gate in gates:
        name = metric_name_for(gate)
        if name is None:
            continue
        value = _metric_value(document.get(gate.name), name)
        problem = "" if value is not None else f"{path} has no {name} value for gate {gate.name}"
        references[gate.name] = Reference(
            value=value, source=ReferenceSource.GIVEN, run=str(path), problem=problem
        )
    return references


def _given_document(source: Path, profile: str) -> tuple[Path, dict[str, Any]]:
    fix = "Name the gate_results.json of an accepted (go or go-with-warnings) run, or omit it."
    if source.is_file():
        document = read_results(source)
        if document is None:
            raise UsageError(f"--previous {source} is not a gate_results.json", remediation=fix)
        verdict = document["_meta"].get("verdict")
        if document["_meta"].get("profile") != profile:
            raise UsageError(
                f"--previous {source} is a run of profile "
                f"{document['_meta'].get('profile')!r}, not {profile!r}",
                remediation=fix,
            )
        if verdict not in ACCEPTED:
            raise UsageError(
                f"--previous {source} is a {verdict!r} run: only an accepted run is a reference",
                remediation=fix,
            )
        return source, document
    if source.is_dir():
        found = newest_accepted(source, profile)
        if found is None:
            raise UsageError(
                f"--previous {source} holds no accepted run of profile {profile!r}",
                remediation=fix,
            )
        return found
    raise UsageError(f"--previous {source} does not exist", remediation=fix)


def newest_accepted(root: Path, profile: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest (by ``_meta.ts``) accepted run of ``profile`` in ``root`` or its subfolders."""
    newest: tuple[float, Path, dict[str, Any]] | None = None
    for path in [root / RESULTS_FILE, *sorted(root.glob(f"*/{RESULTS_FILE}"))]:
        document = read_results(path)
        if document is None:
            continue
        meta = document["_meta"]
        ts = meta.get("ts")
        if meta.get("profile") != profile or meta.get("verdict") not in ACCEPTED:
            continue
        if isinstance(ts, int | float) and (newest is None or ts > newest[0]):
            newest = (float(ts), path, document)
    return (newest[1], newest[2]) if newest else None


def read_results(path: Path) -> dict[str, Any] | None:
    """A results document, or None when it is missing, unreadable or not of that shape."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_meta"), dict):
        return None
    return document


def _metric_value(entry: Any, name: str) -> float | None:
    metric = entry.get("metric") if isinstance(entry, dict) else None
    if not isinstance(metric, dict) or metric.get("name") != name:
        return None
    value = metric.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if entry.get("status") not in {str(status) for status in RECORDED}:
        return None
    return float(value)
