"""The JSON history of classification runs: one snapshot per run, and ``trends.json`` (the
last 20 snapshots), all written atomically.

A snapshot is the same document as ``workflow_failures.json``; its ``timestamp`` is when the
run finished, its file name when it started. ``trends.json`` is rebuilt from the snapshots
themselves, so a corrupt or truncated one is skipped (and counted), never fatal.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.platform.clock import iso_utc
from tasks.platform.files import write_atomic
from tasks.workflows.failure_report import failures_document
from tasks.workflows.models import ClassificationReport

TRENDS_JSON = "trends.json"
SNAPSHOT_SUFFIX = "_classification.json"
TRENDS_KEEP = 20

log = logging.getLogger(__name__)


def write_snapshot(report: ClassificationReport, history_dir: Path) -> Path:
    """Keep this run in the history as ``<YYYYMMDDTHHMMSS>_classification.json`` (UTC start);
    a second run in the same second gets microseconds, then a counter, never an overwrite."""
    history_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.fromisoformat(iso_utc(report.started_at).replace("Z", "+00:00"))
    path = history_dir / f"{started:%Y%m%dT%H%M%S}{SNAPSHOT_SUFFIX}"
    if path.exists():
        path = history_dir / f"{started:%Y%m%dT%H%M%S%f}{SNAPSHOT_SUFFIX}"
    counter = 1
    while path.exists():
        path = history_dir / f"{started:%Y%m%dT%H%M%S%f}-{counter}{SNAPSHOT_SUFFIX}"
        counter += 1
    write_atomic(path, json.dumps(failures_document(report), indent=2) + "\n")
    return path


class TrendPoints(BaseModel):
    """Every readable snapshot's trend point (oldest first) and the snapshots skipped."""

    model_config = ConfigDict(frozen=True)

    points: list[dict] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)  # "<file>: why"


def read_trend_points(history_dir: Path, newest: int | None = None) -> TrendPoints:
    """``{file, timestamp, failed, total}`` of the snapshots, oldest first: all of them, or the
    ``newest`` readable ones — read newest first and no further, so a run does not re-read a
    year of history to keep 20 points. Corrupt snapshots met on the way are skipped."""
    dated: list[tuple[datetime, str, dict]] = []
    skipped: list[str] = []
    for path in sorted(history_dir.glob(f"*{SNAPSHOT_SUFFIX}"), key=_written_order, reverse=True):
        if newest is not None and len(dated) >= newest:
            break
        try:
            moment, point = _trend_point(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            skipped.append(f"{path.name}: {type(exc).__name__}: {exc}")
            continue
        dated.append((moment, path.name, point))
    dated.sort(key=lambda item: (item[0], item[1]))
    return TrendPoints(points=[point for _, _, point in dated], skipped=skipped[::-1])


_SNAPSHOT_NAME = re.compile(r"^(\d{8}T\d{6})(\d{6})?(?:-(\d+))?" + re.escape(SNAPSHOT_SUFFIX) + "$")


def _written_order(path: Path) -> tuple[str, str, int, str]:
    """The order write_snapshot named them in: second, then microseconds, then counter (a
    plain sort puts ``..T101500123456_`` before ``..T101500_``); other names first."""
    match = _SNAPSHOT_NAME.match(path.name)
    if match is None:
        return ("", "", 0, path.name)
    stamp, micros, counter = match.groups()
    return (stamp, micros or "", int(counter or 0), path.name)


def _trend_point(path: Path) -> tuple[datetime, dict]:
    """One snapshot's point; raises ValueError/KeyError/TypeError for a corrupt snapshot."""
    document = json.loads(path.read_text(encoding="utf-8"))
    summary = document["summary"]
    failed, total = summary["failed"], summary["total"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (failed, total)):
        raise TypeError("summary.failed and summary.total must be integers")
    moment = datetime.fromisoformat(str(document["timestamp"]).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    point = {
        "file": path.name,
        "timestamp": iso_utc(moment, "seconds"),
        "failed": failed,
        "total": total,
    }
    return moment, point


def update_trends(history_dir: Path, keep: int = TRENDS_KEEP) -> list[dict]:
    """Rebuild ``trends.json`` as the last ``keep`` snapshots, exactly the seed's shape."""
    history_dir.mkdir(parents=True, exist_ok=True)
    found = read_trend_points(history_dir, newest=max(keep, 0))
    for reason in found.skipped:
        log.warning("skipped corrupt history snapshot %s", reason)
    points = found.points
    write_atomic(history_dir / TRENDS_JSON, json.dumps(points, indent=2) + "\n")
    return points
