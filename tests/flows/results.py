"""A flow run's typed result, as a caller reads it."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def typed_result(state: Any, model: type[M]) -> M:
    """The run's result as ``model``. Usually Prefect hands back the object the flow returned;
    when the final state came back from the API instead (a state write retried after the test
    harness's SQLite stalled), it is the persisted JSON, read back as a dict: the same record."""
    value = state.result(raise_on_failure=False)
    if isinstance(value, dict):
        value = model.model_validate(value)
    assert isinstance(value, model), value
    return value
