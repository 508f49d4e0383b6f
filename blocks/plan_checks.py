"""The ``verify:`` of a plan task: what proves the task done, one model per check kind.

Every kind declared here has its runner in ``flows/plan_dispatch.py`` (a flow test pins the
two together): nothing is accepted that nothing would check.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NODE_ID = re.compile(r"^[\w./-]+\.py(::[\w\[\]\-.,= ]+)*$")
MAX_TIMEOUT = 6 * 3600


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckKind(StrEnum):
    COMMAND = "command"
    PYTEST = "pytest"
    GATE = "gate"
    FLOW_RUN = "flow-run"
    CHECKPOINT = "checkpoint"
    DRILL = "drill"
    MANUAL = "manual"
    REHEARSAL = "rehearsal"


def _argv(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError("argv must be a list of arguments, never a shell string")
    return value


class CommandCheck(Strict):
    """Run ``argv`` (no shell); verified when it exits with one of ``expect_exit`` in time."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    timeout_sec: float = Field(60.0, gt=0, le=MAX_TIMEOUT)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    expect_exit: list[int] = Field(default_factory=lambda: [0])

    @field_validator("argv", mode="before")
    @classmethod
    def _argv_list(cls, value: Any) -> Any:
        return _argv(value)

    @field_validator("expect_exit", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) else value


class PytestCheck(Strict):
    """Run pytest on these node ids; verified only when it exits 0 having run tests."""

    kind: Literal["pytest"]
    node_ids: list[str] = Field(min_length=1)
    args: list[str] = Field(default_factory=list, description="extra pytest arguments")
    timeout_sec: float = Field(300.0, gt=0, le=MAX_TIMEOUT)

    @field_validator("node_ids")
    @classmethod
    def _node_ids(cls, value: list[str]) -> list[str]:
        bad = [node for node in value if not NODE_ID.match(node)]
        if bad:
            raise ValueError(f"not pytest node ids (path.py[::name]): {', '.join(bad)}")
        return value


class GateCheck(Strict):
    """One gate of a gates file, run by the go/no-go suite's own step."""

    kind: Literal["gate"]
    gate: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    config: str = "deployments/gates.yaml"


class FlowRunCheck(Strict):
    """The latest run of a deployment completed within ``max_age_hours`` (the gates' check)."""

    kind: Literal["flow-run"]
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$", description="'<flow name>/<deployment>'")
    max_age_hours: float = Field(24.0, gt=0)


class CheckpointCheck(Strict):
    """A checkpoint directory verifies (tasks/checkpoints): its manifest (unless
    ``require_manifest`` is false) and every weights file's format, pickles never unpickled."""

    kind: Literal["checkpoint"]
    path: str = Field(min_length=1)
    require_manifest: bool = True


class DrillCheck(Strict):
    """SIGKILL a child that spools ``events`` through the publisher after ``kill_after`` acks;
    verified when every acknowledged event is found in the spool afterwards."""

    kind: Literal["drill"]
    events: int = Field(200, ge=1, le=100_000)
    kill_after: int = Field(100, ge=1)
    queue_size: int = Field(8, ge=1, le=100_000, description="the publisher's in-memory cap")
    timeout_sec: float = Field(60.0, gt=0, le=MAX_TIMEOUT)

    @model_validator(mode="after")
    def _kill_mid_way(self) -> DrillCheck:
        if self.kill_after >= self.events:
            raise ValueError("kill_after must be below events: the kill has to land mid-way")
        return self


class ManualCheck(Strict):
    """An operator's sign-off; refused (not verified) in a run nobody can answer."""

    kind: Literal["manual"]
    sign_off: str = Field(min_length=1, description="who signs off: a role or a name")
    instructions: str = ""


class RehearsalCheck(Strict):
    """Snapshot ``paths``, run ``apply``, run ``rollback``; verified when every byte is back.

    Runs in a scratch copy of the paths unless ``in_place`` is true.
    """

    kind: Literal["rehearsal"]
    paths: list[str] = Field(min_length=1, description="files or folders, relative to the base")
    apply: list[str] = Field(min_length=1)
    rollback: list[str] = Field(min_length=1)
    in_place: bool = False
    timeout_sec: float = Field(60.0, gt=0, le=MAX_TIMEOUT)

    @field_validator("apply", "rollback", mode="before")
    @classmethod
    def _argv_lists(cls, value: Any) -> Any:
        return _argv(value)

    @field_validator("paths")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        bad = [path for path in value if path.startswith("/") or ".." in path.split("/")]
        if bad:
            raise ValueError(f"paths must stay inside the base folder: {', '.join(bad)}")
        return value


Check = Annotated[
    CommandCheck
    | PytestCheck
    | GateCheck
    | FlowRunCheck
    | CheckpointCheck
    | DrillCheck
    | ManualCheck
    | RehearsalCheck,
    Field(discriminator="kind"),
]


class RollbackSpec(Strict):
    """Run when the task's check fails: ``argv`` undoes, ``check`` proves the state restored."""

    argv: list[str] = Field(min_length=1)
    check: list[str] = Field(min_length=1, description="argv; exit 0 means restored")
    timeout_sec: float = Field(60.0, gt=0, le=MAX_TIMEOUT)

    @field_validator("argv", "check", mode="before")
    @classmethod
    def _argv_lists(cls, value: Any) -> Any:
        return _argv(value)
