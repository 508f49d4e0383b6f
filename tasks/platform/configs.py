"""Validate every YAML config under deployments/: gates files, plans, prefect.yaml, automations.

Used by ``warden config validate`` and by the default gates, so a broken config is caught
before anything deploys. Each problem names the file (and line where it can). A prefect.yaml
is checked by the caller's ``prefect_yaml`` function: it imports flows/, which tasks/ never does
(the CLI passes ``cli.prefect_yaml.check_prefect_yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from blocks.automations import AutomationsFile
from blocks.drills import DrillsFile
from blocks.errors import ConfigError
from blocks.gates import GatesFile
from blocks.guard import GuardFile, ShedPlaybook
from blocks.invariants import InvariantsFile
from blocks.lora import LoraFile
from blocks.migration_rules import RuleSet
from blocks.plans import load_plan
from blocks.workflows import WorkflowsFile
from blocks.yaml_source import load_model, read_yaml

DocumentCheck = Callable[[Path, Any], list[str]]  # (file, parsed YAML) -> problems


def validate_configs(
    paths: list[Path], *, prefect_yaml: DocumentCheck
) -> tuple[list[Path], list[str]]:
    """Return the files checked and every problem found in them.

    ``prefect_yaml`` judges each prefect.yaml; it is required, so none is passed over unchecked.
    """
    files = sorted(
        {f for p in paths for f in (p.rglob("*.y*ml") if p.is_dir() else [p])},
        key=str,
    )
    problems: list[str] = []
    for path in files:
        try:
            data, _ = read_yaml(path)
            model = _model_for(data)
            if model is not None:
                load_model(path, model)
            elif isinstance(data, dict) and "phases" in data:
                load_plan(path)  # a safety plan: whole, with its cross-field problems
            elif path.name == "prefect.yaml":
                problems.extend(prefect_yaml(path, data))
        except ConfigError as exc:
            problems.append(exc.message)
    return files, problems


def _model_for(data: Any) -> type | None:
    """Which config model a YAML document is, by its top-level keys."""
    if not isinstance(data, dict):
        return None
    models = (
        ("gates", GatesFile),
        ("corpora", WorkflowsFile),
        ("rules", RuleSet),
        ("environments", InvariantsFile),
        ("targets", LoraFile),
        ("drills", DrillsFile),  # before "pools": the drills catalog holds a guard file
        ("pools", GuardFile),
        ("playbook", ShedPlaybook),
        ("automations", AutomationsFile),
    )
    for key, model in models:
        if key in data:
            return model
    return None
