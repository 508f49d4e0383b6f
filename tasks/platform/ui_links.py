"""Where the Prefect UI is, and links into it for logs and reports."""

from __future__ import annotations

import os


def local_api_url() -> str:
    """The API of ``make run``'s local Prefect server (``WARDEN_PORT``, default 4200)."""
    return f"http://127.0.0.1:{int(os.environ.get('WARDEN_PORT', '4200'))}/api"


def ui_url(api_url: str | None = None) -> str:
    api = (api_url or os.environ.get("PREFECT_API_URL") or local_api_url()).rstrip("/")
    return api.removesuffix("/api")


def flow_run_link(flow_run_id: object, api_url: str | None = None) -> str:
    return f"{ui_url(api_url)}/runs/flow-run/{flow_run_id}"
