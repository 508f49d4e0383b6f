"""A safety plan (YAML): phases of steps of tasks, each task with the check that proves it.

``warden plan import`` writes one from the team's markdown; a plan is validated whole before
anything runs, and every problem is reported at once as ``file:line: field: [CODE] message``
(codes in :class:`PlanProblemCode`). Claimed statuses are kept as written: only evidence from
a run replaces them.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from blocks.errors import ConfigError, ExitCode
from blocks.gates import load_gates_file
from blocks.plan_checks import Check, GateCheck, ManualCheck, RollbackSpec
from blocks.yaml_source import Location, _nearest_line, describe_errors, read_yaml

PHASE_ID = r"^\d+$"
STEP_ID = r"^\d+\.\d+$"
TASK_ID = r"^\d+\.\d+\.\d+$"
RiskLevel = Literal["P0", "P1", "P2", "P3"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text_id(value: Any) -> Any:
    """YAML reads ``id: 0`` as a number; ids are text ("0", "0.1", "0.1.1")."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Severity(StrEnum):
    SAFETY_CRITICAL = "safety-critical"  # unverified, it keeps its subsystem at the start level
    STANDARD = "standard"


class PlanTask(Strict):
    id: str = Field(pattern=TASK_ID)
    text: str
    verify: Check | None = None
    owner: str | None = None
    subsystem: str | None = None
    severity: Severity = Field(
        Severity.SAFETY_CRITICAL, description="fail closed: safety-critical unless declared less"
    )
    rollback: RollbackSpec | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return _text_id(value)


class PlanStep(Strict):
    id: str = Field(pattern=STEP_ID)
    title: str
    status: str | None = Field(None, description="the claimed status line, as written")
    notes: list[str] = Field(default_factory=list, description="other lines of the step, kept")
    tasks: list[PlanTask] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return _text_id(value)


class PlanPhase(Strict):
    id: str = Field(pattern=PHASE_ID)
    title: str
    label: str | None = Field(None, description="the heading's parenthesis, e.g. a risk tag")
    goal: str = ""
    outcomes: str = ""
    status: str | None = None
    notes: list[str] = Field(default_factory=list)
    steps: list[PlanStep] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return _text_id(value)


class SubsystemRiskSpec(Strict):
    name: str = Field(min_length=1)
    text: str = ""
    claimed: RiskLevel | None = None


class ResidualRiskSpec(Strict):
    """The declared rules: an unverified safety-critical task keeps its subsystem at
    ``unverified_critical``; other unverified tasks at ``unverified``; all verified: ``target``."""

    intro: str = ""
    target: RiskLevel = "P1"
    unverified_critical: RiskLevel = "P0"
    unverified: RiskLevel = "P1"
    subsystems: list[SubsystemRiskSpec] = Field(default_factory=list)
    overall: str = Field("", description="the overall paragraph as written (its claim)")
    claimed_overall: RiskLevel | None = None


class PlanFile(Strict):
    version: Literal[1] = 1
    title: str
    objectives: list[str] = Field(default_factory=list)
    phases: list[PlanPhase] = Field(default_factory=list)
    residual_risk: ResidualRiskSpec = Field(default_factory=ResidualRiskSpec)

    def tasks(self) -> list[tuple[PlanPhase, PlanStep, PlanTask]]:
        return [(p, s, t) for p in self.phases for s in p.steps for t in s.tasks]

    def ids(self) -> list[str]:
        return [
            item.id
            for phase in self.phases
            for item in [phase, *phase.steps, *(t for s in phase.steps for t in s.tasks)]
        ]


class PlanProblemCode(StrEnum):
    SCHEMA = "PLAN_SCHEMA"  # a field is missing, of the wrong type, or unknown
    DUPLICATE_ID = "DUPLICATE_ID"
    ID_OUTSIDE_PARENT = "ID_OUTSIDE_PARENT"  # task 1.2.3 under step 1.3
    PHASE_WITHOUT_STEPS = "PHASE_WITHOUT_STEPS"
    NO_PHASES = "NO_PHASES"
    TASK_WITHOUT_CHECK = "TASK_WITHOUT_CHECK"
    UNKNOWN_SUBSYSTEM = "UNKNOWN_SUBSYSTEM"
    UNKNOWN_ID = "UNKNOWN_ID"  # --from/--only names no phase, step or task
    UNKNOWN_GATE = "UNKNOWN_GATE"  # a gate check names no gate of its (valid) gates file


class PlanProblem(Strict):
    code: PlanProblemCode
    where: str  # file:line: field
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.code.value}] {self.message}"


class PlanInvalid(ConfigError):
    """The plan cannot run as written; nothing was run. ``codes`` lists each problem's code."""

    code = ExitCode.USAGE_ERROR
    remediation = "Fix the plan at the reported places (README: Safety plan) and run again."

    def __init__(self, path: Path, problems: list[PlanProblem]) -> None:
        self.plan_problems = problems
        self.codes = [problem.code for problem in problems]
        super().__init__(f"{path}: {len(problems)} problem(s)", problems=[str(p) for p in problems])


def load_plan(path: Path | str, *, runnable: bool = True) -> PlanFile:
    """Load a plan; ``runnable`` also requires a runnable check on every task."""
    path = Path(path)
    data, lines = read_yaml(path)
    try:
        plan = PlanFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            PlanProblem(code=PlanProblemCode.SCHEMA, where=text[: -len(msg) - 2], message=msg)
            for text, msg in zip(
                describe_errors(path, exc, lines, data),
                [error["msg"] for error in exc.errors()],
                strict=True,
            )
        ]
        raise PlanInvalid(path, problems) from exc
    problems = plan_problems(plan, path, lines, runnable=runnable)
    if problems:
        raise PlanInvalid(path, problems)
    return plan


def plan_problems(
    plan: PlanFile, path: Path, lines: dict[Location, int], *, runnable: bool
) -> list[PlanProblem]:
    """Every cross-field problem of a schema-valid plan, with its place in the file."""
    problems: list[PlanProblem] = []

    def add(code: PlanProblemCode, loc: Location, message: str) -> None:
        line = _nearest_line(lines, loc)
        field = ".".join(str(part) for part in loc)
        where = f"{path}:{line}: {field}" if line else f"{path}: {field}"
        problems.append(PlanProblem(code=code, where=where, message=message))

    if not plan.phases:
        add(PlanProblemCode.NO_PHASES, ("phases",), "the plan declares no phase")
    seen: set[str] = set()
    declared = {subsystem.name for subsystem in plan.residual_risk.subsystems}
    for p, phase in enumerate(plan.phases):
        here: Location = ("phases", p)
        _unique(phase.id, seen, add, (*here, "id"))
        if not phase.steps:
            add(PlanProblemCode.PHASE_WITHOUT_STEPS, here, f"phase {phase.id} has no steps")
        for s, step in enumerate(phase.steps):
            at: Location = (*here, "steps", s)
            _unique(step.id, seen, add, (*at, "id"))
            if step.id.split(".")[0] != phase.id:
                add(PlanProblemCode.ID_OUTSIDE_PARENT, (*at, "id"), _outside(step.id, phase.id))
            for t, task in enumerate(step.tasks):
                loc: Location = (*at, "tasks", t)
                _unique(task.id, seen, add, (*loc, "id"))
                if task.id.rsplit(".", 1)[0] != step.id:
                    add(PlanProblemCode.ID_OUTSIDE_PARENT, (*loc, "id"), _outside(task.id, step.id))
                if task.subsystem and declared and task.subsystem not in declared:
                    add(
                        PlanProblemCode.UNKNOWN_SUBSYSTEM,
                        (*loc, "subsystem"),
                        f"task {task.id}: subsystem {task.subsystem!r} is not one of "
                        f"residual_risk.subsystems ({', '.join(sorted(declared))})",
                    )
                if runnable:
                    _check_runnable(task, add, loc)
    return problems


def _check_runnable(task: PlanTask, add: Any, loc: Location) -> None:
    if task.verify is None:
        add(
            PlanProblemCode.TASK_WITHOUT_CHECK,
            loc,
            f"task {task.id} has no verify: give it a check, or "
            "verify: {kind: manual, sign_off: <who>} to need an operator's sign-off",
        )
    elif isinstance(task.verify, GateCheck):
        problem = _gate_problem(task.verify)
        if problem:
            add(
                PlanProblemCode.UNKNOWN_GATE, (*loc, "verify", "gate"), f"task {task.id}: {problem}"
            )


def _gate_problem(check: GateCheck) -> str:
    """Why the gate cannot be found, or ""; relative gates files are read from the cwd."""
    try:
        gates = load_gates_file(check.config)
    except ConfigError as exc:
        return f"gates file {check.config} is not usable: {exc.message.splitlines()[0]}"
    if check.gate not in gates.names:
        return f"gate {check.gate!r} is not in {check.config} ({', '.join(gates.names)})"
    return ""


def _unique(item_id: str, seen: set[str], add: Any, loc: Location) -> None:
    if item_id in seen:
        add(PlanProblemCode.DUPLICATE_ID, loc, f"id {item_id} is used twice")
    seen.add(item_id)


def _outside(child: str, parent: str) -> str:
    return f"id {child} does not belong under {parent}: renumber it or move it"


def check_selection(plan: PlanFile, path: Path, names: list[str]) -> None:
    """``--from``/``--only`` ids must name a phase, step or task of the plan."""
    known = set(plan.ids())
    unknown = [name for name in names if name not in known]
    if unknown:
        problems = [
            PlanProblem(
                code=PlanProblemCode.UNKNOWN_ID,
                where=str(path),
                message=f"{name!r} is no phase, step or task id of the plan",
            )
            for name in unknown
        ]
        raise PlanInvalid(path, problems)


def is_manual(task: PlanTask) -> bool:
    return isinstance(task.verify, ManualCheck)
