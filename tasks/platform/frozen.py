"""The base of the concerns' record types: immutable once built, and no field it does not
declare (a misspelt field is an error, not a silently dropped value)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
