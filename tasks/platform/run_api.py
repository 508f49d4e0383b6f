"""What a flow run asks of its own Prefect API around its side effects: the result storage's
preflight once per run (:func:`ensure_storage_ready`), and a slot of a global concurrency limit
taken on the run's own client (:func:`held_slot`).

Slots: Prefect's ``prefect.concurrency.sync.concurrency`` takes the same lease from the same
endpoint (``/v2/concurrency_limits/increment-with-lease``), but the first acquisition in a
process first starts an event-loop thread, an acquisition service with a thread and loop of its
own, and a new API client (TLS context, connection): 0.15-0.25 s on an idle 2-core machine,
0.8 s p95 under load, on every flow run, since each run is a fresh process
(bench/platform_throughput.py, bench/RESULTS.md). Here the acquisition is one request on the
client the flow engine already holds open (``get_client(sync_client=True)`` returns it inside a
run); the rest is Prefect's own: the same lease, its renewal thread, the acquired/released
events, and the same answer to 423 Locked (wait the server's Retry-After, ask again).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.concurrency._events import (
    emit_concurrency_acquisition_events,
    emit_concurrency_release_events,
)
from prefect.concurrency._leases import maintain_concurrency_lease
from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
from prefect.context import FlowRunContext

from blocks.storage import result_storage_choice

LEASE_SEC = 300.0  # Prefect's default lease, renewed at 3/4 of it while the slot is held
LOCKED = 423
logger = logging.getLogger(__name__)


def ensure_storage_ready() -> None:
    """Before a run's first side effect: the result storage ``WARDEN_RESULT_STORAGE`` names works
    (an S3 bucket exists and takes a probe write; a typed error names it and the fix), proven
    once per flow run. Engine-less runs have no run context and keep no results there."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or result_storage_choice() is None:
        return  # results under $WARDEN_HOME: nothing to prove
    from tasks.platform.s3 import check_result_storage_once  # boto3: only when a block is named

    check_result_storage_once(str(context.flow_run.id))


@contextlib.contextmanager
def held_slot(limit: str, occupy: int = 1) -> Iterator[None]:
    """Hold ``occupy`` slots of ``limit`` (strict: a limit that does not exist fails)."""
    with get_client(sync_client=True) as client:
        answer = _acquire(client, limit, occupy)
    lease = ConcurrencyLimitWithLeaseResponse.model_validate(answer.json())
    if not lease.limits:
        raise ConcurrencySlotAcquisitionError(
            f"Concurrency limits {[limit]!r} must be created before acquiring slots"
        )
    events = emit_concurrency_acquisition_events(lease.limits, occupy)
    try:
        with maintain_concurrency_lease(
            lease.lease_id, LEASE_SEC, raise_on_lease_renewal_failure=True
        ):
            yield
    finally:
        with get_client(sync_client=True) as client:
            client.release_concurrency_slots_with_lease(lease_id=lease.lease_id)
        emit_concurrency_release_events(lease.limits, occupy, events)


def _acquire(client, limit: str, occupy: int) -> httpx.Response:
    while True:
        try:
            return client.increment_concurrency_slots_with_lease(
                names=[limit], slots=occupy, mode="concurrency", lease_duration=LEASE_SEC
            )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != LOCKED:
                raise ConcurrencySlotAcquisitionError(
                    f"Unable to acquire concurrency slots on {[limit]!r}: "
                    f"{exc.response.status_code}"
                ) from exc
            retry_after = float(exc.response.headers["Retry-After"])
            logger.debug("every slot of %s taken: asking again in %.2f s", limit, retry_after)
            time.sleep(retry_after)  # all slots busy: the server's own Retry-After, as Prefect
