"""The automations file (default ``deployments/automations.yaml``): the platform's reactions, as
Prefect automations that ``make run`` applies (tasks/guard/reactions.py decides what changes).

One way of doing things: every reaction Release Warden ships is declared here (prefect.yaml
declares no deployment ``triggers:``). A reaction is one trigger (an event name, and the
resource labels it must carry: Prefect's triggers cannot look at payloads) and its actions.
Only events this project emits can be named (:data:`REACTABLE_EVENTS`), with the labels and
values they really carry. Validated whole; every problem names file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import jinja2
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from blocks.defaults import DEFAULT_AUTOMATIONS_FILE
from blocks.yaml_source import Location, load_model

VERDICT_LABEL = "warden.verdict"  # the verdict events carry their verdict as a resource label
ANY_VALUE_LABELS = frozenset({"prefect.resource.id", "prefect.resource.name"})
# The events a reaction may name, with the labels (beyond ANY_VALUE_LABELS) each carries and
# their values (the verdict enums of tasks/matrix/evidence.py and tasks/gates/models.py: a
# unit test keeps them equal).
REACTABLE_EVENTS: dict[str, dict[str, frozenset[str]]] = {
    "warden.orchestrator.queue-critical": {},
    "warden.orchestrator.alert": {},
    "warden.orchestrator.circuit-open": {},
    "warden.orchestrator.cascade-stop": {},
    "warden.gpu-matrix.verdict": {
        VERDICT_LABEL: frozenset(
            {
                "promoted",
                "not_promoted",
                "dry_run_passed",
                "dry_run_failed",
                "refused",
                "error",
                "incomplete",
            }
        )
    },
    "warden.go-no-go.verdict": {
        VERDICT_LABEL: frozenset({"go", "go-with-warnings", "no-go", "kill-switch-on"})
    },
    "warden.gauntlet.fail": {},
    "warden.gauntlet.rollback": {},
}
TAG = "warden-automations-file"  # on every automation applied from the file (and only those)
_JINJA = jinja2.Environment()


def _template(value: str) -> str:
    try:
        _JINJA.parse(value)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"not a valid Jinja template: {exc.message}") from exc
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunDeploymentAction(Strict):
    """Run a deployment (``flow/deployment``); string parameters may be Jinja templates over
    the triggering ``event`` (e.g. ``{{ event.payload.pool }}``)."""

    type: Literal["run-deployment"]
    deployment: str = Field(pattern=r"^[^/]+/[^/]+$")
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("parameters")
    @classmethod
    def _templates(cls, value: dict) -> dict:
        for item in value.values():
            if isinstance(item, str):
                _template(item)
        return value


class SendNotificationAction(Strict):
    """Send ``subject`` and ``body`` (Jinja templates over ``event``) through the file's
    ``notification_block``."""

    type: Literal["send-notification"]
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1)

    @field_validator("subject", "body")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _template(value)


Action = Annotated[RunDeploymentAction | SendNotificationAction, Field(discriminator="type")]


class Reaction(Strict):
    """One automation: on ``event`` whose resource carries every ``match`` label, run
    ``actions`` (Reactive, once per event)."""

    name: str = Field(pattern=r"^warden-[a-z0-9-]+$", max_length=100)
    description: str = Field(min_length=1)
    enabled: bool = True
    event: str
    match: dict[str, str | list[str]] = Field(default_factory=dict)
    actions: list[Action] = Field(min_length=1)

    @field_validator("event")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in REACTABLE_EVENTS:
            known = ", ".join(sorted(REACTABLE_EVENTS))
            raise ValueError(f"unknown event {value!r} (this project emits: {known})")
        return value

    @model_validator(mode="after")
    def _known_labels(self) -> Reaction:
        labels = REACTABLE_EVENTS[self.event]
        for key, wanted in self.match.items():
            values = [wanted] if isinstance(wanted, str) else wanted
            if key in ANY_VALUE_LABELS:
                continue
            if key not in labels:
                known = ", ".join(sorted({*labels, *ANY_VALUE_LABELS}))
                raise ValueError(f"{self.event} carries no label {key!r} (it carries: {known})")
            unknown = sorted(set(values) - labels[key])
            if unknown or not values:
                raise ValueError(
                    f"label {key!r} of {self.event} never has the value(s) {unknown or values}"
                    f" (its values: {', '.join(sorted(labels[key]))})"
                )
        return self

    @property
    def notifies(self) -> bool:
        return any(isinstance(a, SendNotificationAction) for a in self.actions)


class AutomationsFile(Strict):
    """The whole file; ``notification_block`` (``<block-type-slug>/<name>``, any Prefect
    notification block) is where every ``send-notification`` action sends."""

    notification_block: str | None = Field(None, pattern=r"^[a-z0-9-]+/[A-Za-z0-9_-]+$")
    automations: list[Reaction] = Field(min_length=1)
    _lines: dict[Location, int] = PrivateAttr(default_factory=dict)
    _path: str = PrivateAttr("")

    @model_validator(mode="after")
    def _whole(self, info: ValidationInfo) -> AutomationsFile:
        names = [a.name for a in self.automations]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"automations named more than once: {', '.join(twice)}")
        if self.notification_block is None and any(a.notifies for a in self.automations):
            raise ValueError("send-notification actions need notification_block: <type>/<name>")
        context = info.context or {}
        self._lines = context.get("lines", {})
        self._path = str(context.get("path", ""))
        return self

    def where(self, *loc: str | int) -> str:
        """``file:line: a.b.c`` for a place in the file (for problems found when applying)."""
        lines = [self._lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in self._lines]
        line = lines[0] if lines else None
        field = ".".join(str(part) for part in loc)
        return f"{self._path}:{line}: {field}" if line else f"{self._path}: {field}"


def load_automations_file(path: Path | str = DEFAULT_AUTOMATIONS_FILE) -> AutomationsFile:
    """Load and validate the automations file; raises ConfigError naming file, line, field."""
    return load_model(path, AutomationsFile, context={"path": str(path)})
