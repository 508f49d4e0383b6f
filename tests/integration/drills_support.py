"""The chaos-drill integration tests' shared helpers: the catalog, and one drill run through
the real ``chaos-drill`` flow that must come back ``ok``."""

from __future__ import annotations

import json
from pathlib import Path

from blocks.drills import load_drills_file
from flows.chaos_drill import chaos_drill
from tasks.drills.local_platform import LocalPlatform
from tasks.drills.report import DrillResult
from tasks.platform.engineless import run_engineless
from tests.conftest import ROOT
from tests.integration.conftest import using_api

CATALOG = load_drills_file(ROOT / "deployments" / "drills.yaml")


def drill(name: str, platform: LocalPlatform | None = None, engine: bool = False) -> DrillResult:
    """The chaos-drill flow: engine-less (no Prefect API of its own to record on), or with
    ``engine`` a Prefect flow run recorded on the drilled platform's own API."""
    parameters = {"drill": name, "scale": "ci"}
    if platform is not None:
        parameters |= {"api_url": platform.api_url, "platform_home": str(platform.home)}
    with using_api(platform.api_url if platform else "http://127.0.0.1:9/api"):
        if engine:
            final = chaos_drill(**parameters, return_state=True)
            state, result = final.name, final.result(raise_on_failure=False)
        else:
            state, result = run_engineless(chaos_drill, parameters)
    assert isinstance(result, DrillResult), result
    failed = [v for v in result.verifications if not v.passed]
    assert result.ok, (state, result.status, result.error, failed, result.readiness)
    assert state == "Completed"
    journal = json.loads(Path(result.journal_file).read_text())
    assert journal["status"] == "completed" and journal["deviated"] is False
    return result


def measured(result: DrillResult, verification: str) -> dict:
    return next(v.measured for v in result.verifications if v.name == verification)
