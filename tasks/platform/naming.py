"""Stable names: artifact keys, event names, resource ids, output folders and UI links."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

_NOT_KEY = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lowercase, dashes only: what Prefect accepts in an artifact key."""
    return _NOT_KEY.sub("-", text.lower()).strip("-") or "default"


def artifact_key(process: str, scope: str) -> str:
    """``<process>-<scope>``: the UI's Artifacts page shows the latest per key."""
    return f"{slug(process)}-{slug(scope)}"


def event_name(process: str, verb: str) -> str:
    return f"warden.{slug(process)}.{slug(verb)}"


def resource_id(kind: str, name: str) -> str:
    return f"warden.{slug(kind)}.{slug(name)}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime, timespec: str = "auto") -> str:
    """ISO 8601 in UTC with a ``Z``; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def md_cell(text: str, limit: int | None = None) -> str:
    """Text safe inside one markdown table cell: one line, pipes escaped, optionally cut."""
    cell = " ".join(text.split()).replace("|", "\\|")
    return cell if limit is None else cell[:limit]


def run_stamp(moment: datetime) -> str:
    """A folder name that sorts by time: 20261121T213000123456Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def local_api_url() -> str:
    """The API of ``make run``'s local Prefect server (``WARDEN_PORT``, default 4200)."""
    return f"http://127.0.0.1:{int(os.environ.get('WARDEN_PORT', '4200'))}/api"


def ui_url(api_url: str | None = None) -> str:
    api = (api_url or os.environ.get("PREFECT_API_URL") or local_api_url()).rstrip("/")
    return api.removesuffix("/api")


def flow_run_link(flow_run_id: object, api_url: str | None = None) -> str:
    return f"{ui_url(api_url)}/runs/flow-run/{flow_run_id}"
