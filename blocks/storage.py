"""Where flow results are persisted: chosen by configuration, never by fallback.

``WARDEN_RESULT_STORAGE`` names a saved storage block by slug — ``local-file-system/warden-results``
on the local platform (saved by ``make run``), ``s3-bucket/warden-results`` (prefect-aws) in
production. Unset, results go to ``$WARDEN_HOME/results`` on local disk, which is what tests
and one-off CLI runs against the ephemeral API use.
"""

from __future__ import annotations

import os
from pathlib import Path

RESULT_STORAGE_ENV = "WARDEN_RESULT_STORAGE"
LOCAL_RESULTS_BLOCK = "warden-results"
RESULT_SERIALIZER = "json"  # never pickle: results stay readable and safe to load


def warden_home() -> Path:
    """Where local state lives: ``$WARDEN_HOME``, else ``.warden/`` of the working directory."""
    return Path(os.environ.get("WARDEN_HOME") or Path.cwd() / ".warden").resolve()


def persisted_results() -> dict[str, object]:
    """The flow decorator's persistence settings: JSON results in the configured storage."""
    return {
        "persist_result": True,
        "result_storage": result_storage(),
        "result_serializer": RESULT_SERIALIZER,
    }


def result_storage() -> str | Path:
    """The result storage a flow decorator gets: a block slug, or a local folder."""
    slug = os.environ.get(RESULT_STORAGE_ENV, "").strip()
    if slug:
        return slug
    return warden_home() / "results"
