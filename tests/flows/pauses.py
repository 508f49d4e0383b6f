"""Waiting for a flow run to pause for sign-off, on the shared test harness."""

from __future__ import annotations

import time
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateName,
)


def wait_for_paused_run(flow_name: str, timeout_sec: float = 60.0) -> UUID:
    """The id of a Paused run of ``flow_name``, once there is one (polled, bounded)."""
    deadline = time.monotonic() + timeout_sec
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
                ),
            )
            if runs:
                return runs[0].id
            time.sleep(0.5)
    pytest.fail(f"no run of {flow_name} paused for sign-off within {timeout_sec:.0f} s")
