"""Bench: a trend query over a year of history — under 1 s, and ≥ 20× faster than JSON + pandas.

Builds 365 daily snapshots × 10,000 files twice, side by side in one temporary folder:
  * the Parquet history (``tasks.workflows.history``), queried by
    ``trends.failures_by_day(by="code_name")`` — DuckDB over the hive-partitioned dataset;
  * the seed's per-run JSON snapshots (``<stamp>_classification.json``), loaded with
    ``json`` + pandas and grouped the same way.
Both answers are compared, then timed (the DuckDB query best of 5 and its first call; the
JSON path once — it takes tens of seconds). Usage: python bench/trend_query.py [DAYS FILES]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tasks.workflows.fingerprint import fingerprint  # noqa: E402
from tasks.workflows.history import HistoryStore  # noqa: E402
from tasks.workflows.models import WorkflowCode  # noqa: E402
from tasks.workflows.trends import TrendQuery, failures_by_day  # noqa: E402

START = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
CODES = [c for c in WorkflowCode if c != WorkflowCode.SUCCESS]
CATEGORY = {20: "ParseError", 21: "RuntimeError", 22: "SignatureMissing", 23: "Timeout"}
KINDS = 400  # distinct failures (code, line, message) the corpus keeps producing
LIMIT_S, SPEEDUP = 1.0, 20.0


def failure_kinds() -> pd.DataFrame:
    """A pool of recurring failures, each with its fingerprint."""
    rows = []
    for kind in range(KINDS):
        code = CODES[kind % len(CODES)]
        line, message = kind % 97 + 1, f"{code.name.lower()} near token {kind}"
        rows.append(
            {
                "code": int(code),
                "code_name": code.name,
                "category": CATEGORY.get(int(code), "Other"),
                "line": line,
                "message": message,
                "fingerprint": fingerprint(code.name, line, message),
            }
        )
    return pd.DataFrame(rows)


def snapshot(day: int, n_files: int, kinds: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One run's (files, runs) frames, ~30 % failing with a slow drift."""
    rng = np.random.default_rng(day)
    failing = rng.random(n_files) < 0.25 + 0.1 * day / 365
    kind = rng.integers(0, KINDS, n_files)
    ts = START + timedelta(days=day)
    files = pd.DataFrame({"path": [f"wf/{i:06d}.aether" for i in range(n_files)], "ok": ~failing})
    picked = kinds.iloc[kind].reset_index(drop=True)
    for column in ("code", "code_name", "category", "line", "message", "fingerprint"):
        files[column] = picked[column].where(failing, None)
    files["code"] = files["code"].fillna(0).astype("int16")
    files["code_name"] = files["code_name"].fillna("SUCCESS")
    files["category"] = files["category"].fillna("OK")
    files["message"] = files["message"].fillna("")
    files = files.assign(
        run_id=f"run-{day:04d}", corpus="bench", run_ts=ts, date=ts.strftime("%Y-%m-%d"),
        phase="parse", suppressed=False, structured=True, duration_sec=0.01,
    )  # fmt: skip
    runs = pd.DataFrame(
        [{"run_id": f"run-{day:04d}", "corpus": "bench", "run_ts": ts, "total": n_files,
          "failed": int(failing.sum()), "suppressed_failures": 0, "checker": "python",
          "mode": "parse", "by_category": "{}", "by_code": "{}", "date": ts.strftime("%Y-%m-%d")}]
    )  # fmt: skip
    return files, runs


def build(folder: Path, days: int, n_files: int) -> tuple[HistoryStore, Path]:
    """The Parquet history and the JSON snapshots of the same runs."""
    store, snapshots = HistoryStore(folder / "history"), folder / "json"
    snapshots.mkdir()
    kinds = failure_kinds()
    for day in range(days):
        files, runs = snapshot(day, n_files, kinds)
        store.append_frames(files, runs, f"run-{day:04d}")
        stamp = (START + timedelta(days=day)).strftime("%Y%m%dT%H%M%S")
        document = {
            "timestamp": (START + timedelta(days=day)).isoformat(),
            "summary": {"total": n_files, "failed": int((~files["ok"]).sum())},
            "files": files.drop(columns=["run_ts"]).to_dict("records"),
        }
        (snapshots / f"{stamp}_classification.json").write_text(json.dumps(document))
    return store, snapshots


def json_trend(snapshots: Path) -> pd.DataFrame:
    """The same trend the pandas way: load every JSON snapshot, concatenate, group."""
    frames = []
    for path in sorted(snapshots.glob("*_classification.json")):
        document = json.loads(path.read_text())
        frame = pd.DataFrame(document["files"])
        frame["day"] = pd.Timestamp(document["timestamp"]).date()
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[~rows["ok"]]
    return rows.groupby(["day", "code_name"]).size().rename("failures").reset_index()


def _rows(frame: pd.DataFrame, key: str) -> list[tuple[str, str, int]]:
    """An answer as sorted plain tuples, so both paths compare whatever their dtypes."""
    columns = zip(frame["day"], frame[key], frame["failures"], strict=True)
    return sorted((str(day), str(k), int(n)) for day, k, n in columns)


def main(days: int = 365, n_files: int = 10_000) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store, snapshots = build(Path(tmp), days, n_files)
        print(f"built {days} snapshots × {n_files} files in {time.perf_counter() - started:.0f} s")
        now = START + timedelta(days=days)
        query = TrendQuery(by="code_name", since_days=days + 1)
        timings = []
        for _ in range(6):
            started = time.perf_counter()
            result = failures_by_day(store, query, now=now)
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        expected = json_trend(snapshots)
        json_s = time.perf_counter() - started
    same = _rows(result, "key") == _rows(expected, "code_name")
    first, later = timings[0], timings[1:]
    print(f"rows in answer: {len(result)} (identical to the JSON answer: {same})")
    print("| path | seconds |\n|---|---|")
    print(f"| DuckDB over Parquet, first call | {first:.3f} |")
    print(f"| DuckDB over Parquet, next 5 calls: median / best | {statistics.median(later):.3f}"
          f" / {min(later):.3f} |")  # fmt: skip
    print(f"| JSON snapshots + pandas | {json_s:.2f} |")
    print(f"speed-up (JSON / DuckDB first call): {json_s / first:.0f}x")
    ok = same and first < LIMIT_S and json_s / first >= SPEEDUP
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
