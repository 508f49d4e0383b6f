"""What a drill does to the platform it runs against, over the Prefect REST API with plain
HTTP and an explicit base URL: the drill's platform is never the one this process's Prefect
settings point at, so nothing here reads them. Every call has a client-side timeout; an API
that does not answer raises :class:`BackendUnavailable`."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from blocks.errors import BackendUnavailable

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_FLOW = "chaos-drill-workload"
PAGE = 200
TIMEOUT_SEC = 30.0
WORKLOAD_SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "mode": {"type": "string", "enum": ["work", "chain"]},
        "seconds": {"type": "number", "minimum": 0},
        "marker": {"type": "string"},
        "level": {"type": "integer", "minimum": 1},
        "levels": {"type": "integer", "minimum": 1},
    },
    "required": ["mode"],
    "additionalProperties": False,
}


RETRIES = 8  # a SQLite-backed server answers 503 while its database is locked: retry (~25 s)
IDEMPOTENT = "X-Warden-Idempotent"  # a request that may be sent again after a timeout


class RetryBusy(httpx.HTTPTransport):
    """Retry a request the server answered 503 (busy), with a short exponential backoff; a
    read (GET, a ``/filter`` or ``/count`` query) or a request marked idempotent is also sent
    again after a timeout (a loaded server can stall for longer than one read timeout)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        again = request.method == "GET" or IDEMPOTENT in request.headers
        again |= request.url.path.endswith(("/filter", "/event"))
        for attempt in range(RETRIES):
            last = attempt == RETRIES - 1
            try:
                response = super().handle_request(request)
            except httpx.TimeoutException:
                if not again or last:
                    raise
                continue
            if response.status_code != 503 or last:
                return response
            response.close()
            time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")


@contextmanager
def api(url: str) -> Iterator[httpx.Client]:
    client = httpx.Client(
        base_url=url.rstrip("/") + "/", timeout=TIMEOUT_SEC, transport=RetryBusy()
    )
    try:
        yield client
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"the drill's Prefect API {url}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        client.close()


def reachable(url: str) -> bool:
    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _json(reply: httpx.Response) -> Any:
    reply.raise_for_status()
    return reply.json()


def ensure_workload(client: httpx.Client, pool: str, deployment: str) -> str:
    """The workload deployment ``chaos-drill-workload/<deployment>`` on ``pool`` (upserted)."""
    again = {IDEMPOTENT: "1"}  # both are upserts: sending them twice changes nothing
    flow = _json(client.post("flows/", json={"name": WORKLOAD_FLOW}, headers=again))
    body = {
        "name": deployment,
        "flow_id": flow["id"],
        "work_pool_name": pool,
        "entrypoint": "tasks/drills/workload.py:main",
        "path": str(ROOT),
        "parameter_openapi_schema": WORKLOAD_SCHEMA,
        "job_variables": {
            "command": f"{sys.executable} -m tasks.drills.workload",
            "working_dir": str(ROOT),
            "env": {"PYTHONPATH": str(ROOT)},
        },
        "enforce_parameter_schema": True,
    }
    return _json(client.post("deployments/", json=body, headers=again))["id"]


def read_deployment(client: httpx.Client, name: str) -> dict[str, Any] | None:
    """``flow/deployment`` by name; None when it does not exist."""
    flow, _, deployment = name.partition("/")
    reply = client.get(f"deployments/name/{flow}/{deployment}")
    return None if reply.status_code == 404 else _json(reply)


def create_run(
    client: httpx.Client, deployment_id: str, parameters: dict[str, Any], tags: list[str]
) -> str:
    """A run of the deployment; sent again after a timeout with the same idempotency key, so
    the server creates it once."""
    body = {"parameters": parameters, "tags": tags, "idempotency_key": uuid.uuid4().hex}
    reply = client.post(
        f"deployments/{deployment_id}/create_flow_run", json=body, headers={IDEMPOTENT: "1"}
    )
    return _json(reply)["id"]


def runs_tagged(client: httpx.Client, tag: str) -> list[dict[str, Any]]:
    """Every flow run carrying ``tag`` (the drill's own runs), any state."""
    found, offset = [], 0
    while True:
        body = {"flow_runs": {"tags": {"all_": [tag]}}, "limit": PAGE, "offset": offset}
        page = _json(client.post("flow_runs/filter", json=body))
        found += page
        if len(page) < PAGE:
            return found
        offset += PAGE


def count_tagged(client: httpx.Client, tag: str, state_type: str) -> int:
    """How many of the runs carrying ``tag`` are in ``state_type``: one cheap request, where
    reading every run (``runs_tagged``) costs the server a page per 200 runs."""
    body = {"flow_runs": {"tags": {"all_": [tag]}, "state": {"type": {"any_": [state_type]}}}}
    return int(_json(client.post("flow_runs/count", json=body)))


def cancel_tagged(client: httpx.Client, tag: str, state_types: set[str], message: str) -> int:
    """Cancel every run carrying ``tag`` in one of ``state_types``, the server's bulk limit (50)
    a request; how many were cancelled. Stops when a request cancels none (nothing left)."""
    body = {
        "flow_runs": {"tags": {"all_": [tag]}, "state": {"type": {"any_": sorted(state_types)}}},
        "state": {"type": "CANCELLED", "message": message},
        "force": True,
    }
    cancelled = 0
    while True:
        results = _json(client.post("flow_runs/bulk_set_state", json=body))["results"]
        accepted = sum(r["status"] == "ACCEPT" for r in results)
        cancelled += accepted
        if not accepted:
            return cancelled


def set_pool_paused(client: httpx.Client, pool: str, paused: bool) -> None:
    reply = client.patch(
        f"work_pools/{pool}", json={"is_paused": paused}, headers={IDEMPOTENT: "1"}
    )
    reply.raise_for_status()


def pool_paused(client: httpx.Client, pool: str) -> bool:
    return bool(_json(client.get(f"work_pools/{pool}"))["is_paused"])


def online_workers(
    client: httpx.Client, pool: str, since: datetime | None = None
) -> dict[str, str | None]:
    """Workers Prefect calls online (with a heartbeat after ``since``), by last heartbeat."""
    seen = _json(client.post(f"work_pools/{pool}/workers/filter", json={}))
    return {
        w["name"]: w.get("last_heartbeat_time")
        for w in seen
        if w.get("status") == "ONLINE"
        and (since is None or _after(w.get("last_heartbeat_time"), since))
    }


def _after(stamp: str | None, since: datetime) -> bool:
    return stamp is not None and datetime.fromisoformat(stamp.replace("Z", "+00:00")) > since


def create_source_automation(client: httpx.Client, name: str) -> str:
    """An automation that never fires: the storm's named source (the breaker pauses it)."""
    body = {
        "name": name,
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "expect": [f"{name}.never"],
            "threshold": 1,
            "within": 0,
        },
        "actions": [{"type": "do-nothing"}],
    }
    return _json(client.post("automations/", json=body))["id"]


def automation_enabled(client: httpx.Client, automation_id: str) -> bool:
    return bool(_json(client.get(f"automations/{automation_id}"))["enabled"])


def delete_automation(client: httpx.Client, automation_id: str) -> None:
    client.delete(f"automations/{automation_id}")


def post_events(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    client.post("events", json=events).raise_for_status()


def count_events(client: httpx.Client, name: str, since: str, until: str) -> int:
    """How many events called ``name`` the server stored between ``since`` and ``until``."""
    body = {
        "filter": {"occurred": {"since": since, "until": until}, "event": {"name": [name]}},
        "time_unit": "day",
        "time_interval": 1.0,
    }
    rows = _json(client.post("events/count-by/event", json=body))
    return sum(int(row["count"]) for row in rows)
