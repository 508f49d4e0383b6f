"""The data contract a history snapshot must meet before it is kept (Great Expectations).

Column rules (code in the table; code_name, ok and category matching the code and the
suppression; fingerprint shape, known category, path unique within a run) run through a GX
expectation suite so they appear in Data Docs; the cross-table rule (the run row's counts
against its file rows) is checked in pandas, since GX has no expectation spanning two tables,
and reported in the same list. A failing contract means the flow fails and keeps nothing: no
JSON snapshot, no trends.json, no Parquet append.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from blocks.errors import ExitCode, WardenError
from tasks.workflows.models import Category, WorkflowCode
from tasks.workflows.protocol import category_for

FINGERPRINT_REGEX = r"^[0-9a-f]{16}$"
KNOWN_CODES = sorted(int(code) for code in WorkflowCode)
KNOWN_CATEGORIES = sorted(
    [str(c) for c in Category] + [f"Suppressed-{c}" for c in Category if c != Category.OK]
)
FILE_COLUMNS = (
    "run_id",
    "path",
    "ok",
    "code",
    "code_name",
    "category",
    "fingerprint",
    "suppressed",
)
RUN_COLUMNS = ("run_id", "total", "failed", "suppressed_failures")
EXAMPLES = 5


class ContractViolation(WardenError):
    """A snapshot broke its contract; nothing was appended to the history."""

    code = ExitCode.VERDICT_FAILED
    remediation = "Read the listed expectations (and Data Docs), fix the classifier, run again."


@dataclass
class ContractResult:
    """The verdict, every broken rule in words, and the Data Docs page when one was written."""

    success: bool
    failures: list[str] = field(default_factory=list)
    docs_index: Path | None = None

    def raise_if_failed(self) -> None:
        """Turn a failed contract into the typed error a flow fails with."""
        if not self.success:
            docs = f" (Data Docs: {self.docs_index})" if self.docs_index else ""
            lines = "\n".join(f"  - {f}" for f in self.failures)
            raise ContractViolation(f"history snapshot broke its contract{docs}:\n{lines}")


def validate_snapshot(
    files_df: pd.DataFrame, runs_df: pd.DataFrame, *, docs_dir: Path | None = None
) -> ContractResult:
    """Check a snapshot (frames from ``history.rows_from_report``); never raises on bad data."""
    missing = _missing_columns(files_df, FILE_COLUMNS, "files") + _missing_columns(
        runs_df, RUN_COLUMNS, "runs"
    )
    if missing:
        return ContractResult(success=False, failures=missing)
    failures, docs_index = _run_suite(_with_expected_names(files_df), docs_dir)
    failures += cross_table_failures(files_df, runs_df)
    return ContractResult(success=not failures, failures=failures, docs_index=docs_index)


def expected_code_name(code: Any) -> str:
    """The name the code table gives a code; a marker for codes outside the table."""
    try:
        return WorkflowCode(int(code)).name
    except (TypeError, ValueError):
        return f"<not in code table: {code}>"


def cross_table_failures(files_df: pd.DataFrame, runs_df: pd.DataFrame) -> list[str]:
    """Each run row's total/failed/suppressed and summary counts against its file rows."""
    failures = []
    unknown = sorted(set(files_df["run_id"]) - set(runs_df["run_id"]))
    if unknown:
        failures.append(f"files rows reference run_id(s) without a run row: observed {unknown}")
    for run in runs_df.to_dict("records"):
        rows = files_df[files_df["run_id"] == run["run_id"]]
        failing = ~rows["ok"].astype(bool)
        suppressed = rows["suppressed"].astype(bool)
        observed = {
            "total": len(rows),
            "failed": int((failing & ~suppressed).sum()),
            "suppressed_failures": int(suppressed.sum()),
        }
        for column, count in observed.items():
            if int(run[column]) != count:
                failures.append(
                    f"run {run['run_id']} {column} equals its file rows on runs.{column}: "
                    f"observed {run[column]} in the summary, {count} in the files"
                )
        failures += _summary_count_failures(run, rows)
    return failures


def _summary_count_failures(run: dict[str, Any], rows: pd.DataFrame) -> list[str]:
    """Every count the summary gives by category/code matches the file rows."""
    failures = []
    for column, against in (("by_category", "category"), ("by_code", "code_name")):
        counts = json.loads(run.get(column) or "{}")
        actual = rows[against].value_counts()
        for key, count in sorted(counts.items()):
            observed = int(actual.get(key, 0))
            if observed != int(count):
                failures.append(
                    f"run {run['run_id']} per-{against} count on runs.{column}[{key!r}]: "
                    f"observed {count} in the summary, {observed} in the files"
                )
    return failures


def _missing_columns(frame: pd.DataFrame, required: tuple[str, ...], table: str) -> list[str]:
    missing = [c for c in required if c not in frame.columns]
    return (
        [f"{table} table has all contract columns: observed missing {missing}"] if missing else []
    )


def expected_category(code: Any, suppressed: Any) -> str:
    """The category the code table gives a code, ``Suppressed-`` when it was suppressed."""
    try:
        category = str(category_for(WorkflowCode(int(code))))
    except (TypeError, ValueError):
        return f"<not in code table: {code}>"
    return f"Suppressed-{category}" if bool(suppressed) else category


def _with_expected_names(files_df: pd.DataFrame) -> pd.DataFrame:
    """The files with what each verdict field must be, given its code: name, ok, category."""
    frame = files_df.copy()
    frame["expected_code_name"] = [expected_code_name(code) for code in frame["code"]]
    frame["code"] = pd.to_numeric(frame["code"], errors="coerce").astype("Int64")
    frame["expected_ok"] = [bool(code == 0) if pd.notna(code) else None for code in frame["code"]]
    frame["expected_category"] = [
        expected_category(code, suppressed)
        for code, suppressed in zip(files_df["code"], files_df["suppressed"], strict=True)
    ]
    return frame


def _expectations() -> list[Any]:
    """The column rules, each with the sentence Data Docs and failure messages show."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="code", value_set=KNOWN_CODES, description="code is in the seed's code table"
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="code_name",
            column_B="expected_code_name",
            description="code_name is the code table's name for code",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="ok",
            column_B="expected_ok",
            description="ok is true exactly when code is SUCCESS",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="category",
            column_B="expected_category",
            description="category is the code's, Suppressed- exactly when suppressed",
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="fingerprint",
            regex=FINGERPRINT_REGEX,
            description="fingerprint is 16 lowercase hex characters",
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="fingerprint",
            row_condition="ok==False",
            condition_parser="pandas",
            description="every failing file has a fingerprint",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="category", value_set=KNOWN_CATEGORIES, description="category is known"
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["run_id", "path"], description="path is unique within a run"
        ),
    ]


def _run_suite(frame: pd.DataFrame, docs_dir: Path | None) -> tuple[list[str], Path | None]:
    """Validate with an ephemeral GX context; build a local Data Docs site when asked."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral", project_config=_context_config(docs_dir))
    batch = (
        context.data_sources.add_pandas("history_snapshot")
        .add_dataframe_asset("files")
        .add_batch_definition_whole_dataframe("snapshot")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="history_files_contract"))
    for expectation in _expectations():
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="history_snapshot", data=batch, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["warden"])]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="history_snapshot",
            validation_definitions=[definition],
            actions=actions if docs_dir else [],
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    failures = [
        _describe(r) for run in result.run_results.values() for r in run.results if not r.success
    ]
    return failures, (Path(docs_dir) / "index.html" if docs_dir else None)


def _context_config(docs_dir: Path | None) -> Any:
    """In-memory stores, no analytics, no progress bars; one filesystem docs site if asked."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir:
        Path(docs_dir).mkdir(parents=True, exist_ok=True)
        sites["warden"] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(docs_dir).resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    return DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
    )


def _describe(result: Any) -> str:
    """``<rule> — <expectation> on <column>: observed ...`` for one failed expectation."""
    config = result.expectation_config
    kwargs = config.kwargs
    column = kwargs.get("column") or "/".join(
        kwargs.get("column_list") or [kwargs.get("column_A", "?"), kwargs.get("column_B", "?")]
    )
    head = f"{config.description} — {config.type} on {column}"
    exception = (result.exception_info or {}).get("exception_message")
    if exception:
        return f"{head}: could not run: {exception}"
    info = result.result or {}
    examples = [_plain(v) for v in list(info.get("partial_unexpected_list") or [])[:EXAMPLES]]
    return (
        f"{head}: observed {info.get('unexpected_count', '?')} of "
        f"{info.get('element_count', '?')} rows unexpected, e.g. {examples}"
    )


def _plain(value: Any) -> Any:
    """Readable examples: Python scalars, None for a missing value, tuples element-wise."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value
