"""Writing the approved digest: compare-and-set, then prove it by reading it back.

A promotion counts only when the store, read after the write, holds the candidate; anything
else is :class:`PromotionNotVisible` (code 22) carrying what was read, so the evidence shows it.
"""

from __future__ import annotations

from tasks.matrix.errors import PromotionNotVisible
from tasks.matrix.evidence import DigestState
from tasks.matrix.store import DigestRecord, DigestStore


def digest_state(record: DigestRecord | None) -> DigestState:
    """What the store held: ``value`` None when it held nothing."""
    if record is None:
        return DigestState()
    return DigestState(value=record.value, version=record.version, modified_at=record.modified_at)


def read_approved(store: DigestStore) -> DigestState:
    return digest_state(store.read())


def promote(
    store: DigestStore, candidate: str, expected_version: int | None, writer: str
) -> DigestState:
    """Write ``candidate`` if the store is still at ``expected_version``; return the read-back.

    Raises PromotionRaced (nothing written) when another writer moved the store first, and
    PromotionNotVisible when the write returned but reading back does not show the candidate.
    """
    written = store.write(candidate, expected_version=expected_version, writer=writer)
    after = read_approved(store)
    if after.value != candidate:
        raise PromotionNotVisible(
            f"{store.parameter}: wrote {candidate} as version {written.version}, but reading "
            f"it back gives {after.value!r} (version {after.version})",
            read_back=after,
        )
    return after
