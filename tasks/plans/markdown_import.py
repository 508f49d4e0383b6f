"""Read a plan written the way release teams write them (the WP0 seed's markdown) into a plan.

Recognised: ``# Title``; ``Objectives:`` and its bullets; the ``## Phase Overview`` table;
``## Phase N – Title (label)``; ``**Status:**`` lines (bare or as a bullet) of a phase or a
step; ``**Step N.M – Title**``; ``- Task N.M.K: text``; the ``## Residual Risk Assessment``
section (intro, ``- **Subsystem**: text``, ``**Overall residual risk**: text``). Every other
line of a phase or step is kept as a note, so nothing the team wrote is lost. Ids, titles and
claimed statuses are kept exactly; tasks get no ``verify:`` (the plan's owner adds them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from blocks.plans import PlanFile

DASH = r"\s*[–—-]\s*"
TITLE = re.compile(r"^#\s+(?P<title>.+?)\s*$")
PHASE = re.compile(
    rf"^##\s+Phase\s+(?P<id>\d+){DASH}(?P<title>.+?)(?:\s+\((?P<label>[^()]+)\))?\s*$"
)
OVERVIEW_HEADING = re.compile(r"^##\s+Phase Overview\s*$", re.I)
RISK_HEADING = re.compile(r"^##\s+Residual Risk", re.I)
OVERVIEW_ROW = re.compile(
    rf"^\|\s*\*\*Phase\s+(?P<id>\d+){DASH}(?P<title>.+?)\*\*\s*\|(?P<goal>.*?)\|(?P<outcomes>.*?)\|"
)
STATUS = re.compile(r"^(?:-\s+)?\*\*Status:\*\*\s*(?P<text>.*?)\s*$")
STEP = re.compile(rf"^\*\*Step\s+(?P<id>\d+\.\d+){DASH}(?P<title>.+?)\*\*\s*$")
TASK = re.compile(r"^-\s+Task\s+(?P<id>\d+\.\d+\.\d+):\s*(?P<text>.*?)\s*$")
SUBSYSTEM = re.compile(r"^-\s+\*\*(?P<name>[^*]+)\*\*:\s*(?P<text>.*?)\s*$")
OVERALL = re.compile(r"^\*\*Overall residual risk\*\*:\s*(?P<text>.*?)\s*$", re.I)
LEVEL_CLAIM = re.compile(r"Risk level\s*(?:≈|~|=|is)?\s*(?P<level>P[0-3])")
LEADING_LEVEL = re.compile(r"^(?P<level>P[0-3])\b")
RISK_FROM_TO = re.compile(r"from\s+(?P<start>P[0-3])\s+to\s+(?P<target>P[0-3])")


@dataclass
class _Reader:
    title: str = ""
    objectives: list[str] = field(default_factory=list)
    overview: dict[str, dict[str, str]] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    risk: dict[str, Any] = field(default_factory=lambda: {"subsystems": []})
    section: str = "preamble"  # preamble | overview | phase | risk

    def line(self, text: str) -> None:
        stripped = text.strip()
        if self._heading(stripped) or not stripped:
            return
        handler = {
            "preamble": self._preamble,
            "overview": self._overview,
            "phase": self._phase_line,
            "risk": self._risk_line,
        }[self.section]
        handler(stripped)

    def _heading(self, text: str) -> bool:
        if match := PHASE.match(text):
            self.section = "phase"
            phase = {"id": match["id"], "title": match["title"], "steps": [], "notes": []}
            if match["label"]:
                phase["label"] = match["label"]
            self.phases.append(phase)
        elif OVERVIEW_HEADING.match(text):
            self.section = "overview"
        elif RISK_HEADING.match(text):
            self.section = "risk"
        elif (match := TITLE.match(text)) and not self.title:
            self.title = match["title"]
        else:
            return False
        return True

    def _preamble(self, text: str) -> None:
        if text.startswith("- "):
            self.objectives.append(text[2:].strip())

    def _overview(self, text: str) -> None:
        if match := OVERVIEW_ROW.match(text):
            self.overview[match["id"]] = {
                "title": match["title"].strip(),
                "goal": match["goal"].strip(),
                "outcomes": match["outcomes"].strip(),
            }

    def _phase_line(self, text: str) -> None:
        phase = self.phases[-1]
        step = phase["steps"][-1] if phase["steps"] else None
        if match := STEP.match(text):
            phase["steps"].append(
                {"id": match["id"], "title": match["title"], "notes": [], "tasks": []}
            )
        elif match := STATUS.match(text):
            (step or phase)["status"] = match["text"]
        elif (match := TASK.match(text)) and step is not None:
            step["tasks"].append({"id": match["id"], "text": match["text"]})
        else:
            (step or phase)["notes"].append(text)

    def _risk_line(self, text: str) -> None:
        if match := SUBSYSTEM.match(text):
            entry = {"name": match["name"].strip(), "text": match["text"]}
            if claim := LEVEL_CLAIM.search(match["text"]):
                entry["claimed"] = claim["level"]
            self.risk["subsystems"].append(entry)
        elif match := OVERALL.match(text):
            self.risk["overall"] = match["text"]
            if claim := LEADING_LEVEL.match(match["text"]):
                self.risk["claimed_overall"] = claim["level"]
        else:
            self.risk["intro"] = f"{self.risk.get('intro', '')} {text}".strip()

    def document(self) -> dict[str, Any]:
        for phase in self.phases:
            row = self.overview.get(phase["id"], {})
            phase["goal"], phase["outcomes"] = row.get("goal", ""), row.get("outcomes", "")
            if not phase["notes"]:
                del phase["notes"]
            for step in phase["steps"]:
                if not step["notes"]:
                    del step["notes"]
        risk = self.risk
        _infer_subsystems(self.phases, [item["name"] for item in risk["subsystems"]])
        if span := RISK_FROM_TO.search(risk.get("intro", "")):
            risk["unverified_critical"], risk["target"] = span["start"], span["target"]
        elif "claimed_overall" in risk:
            risk["target"] = risk["claimed_overall"]
        return {
            "version": 1,
            "title": self.title,
            "objectives": self.objectives,
            "phases": self.phases,
            "residual_risk": risk,
        }


def _infer_subsystems(phases: list[dict[str, Any]], names: list[str]) -> None:
    """A phase titled after exactly one subsystem ("Kasmina Safety Fixes") owns its tasks."""
    for phase in phases:
        named = [name for name in names if name.lower() in phase["title"].lower()]
        if len(named) == 1:
            for step in phase["steps"]:
                for task in step["tasks"]:
                    task.setdefault("subsystem", named[0])


def plan_yaml(plan: PlanFile) -> str:
    """The plan as YAML, in the model's field order, without empty or unset fields."""
    data = plan.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(_pruned(data), sort_keys=False, allow_unicode=True, width=100)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v not in ([], {}, "")}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def parse_plan_markdown(text: str) -> dict[str, Any]:
    """The plan document (YAML-ready data) of a markdown plan."""
    reader = _Reader()
    for line in text.splitlines():
        reader.line(line)
    return reader.document()


def import_plan(text: str) -> PlanFile:
    """The markdown plan as a (schema-valid, not yet runnable) plan."""
    return PlanFile.model_validate(parse_plan_markdown(text))
