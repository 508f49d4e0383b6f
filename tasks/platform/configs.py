"""Validate every YAML config under deployments/: gates files, prefect.yaml, automations.

Used by ``warden config validate`` and by the default gates, so a broken config is caught
before anything deploys. Each problem names the file (and line where it can).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from blocks.errors import ConfigError
from blocks.gates import GatesFile
from blocks.invariants import InvariantsFile
from blocks.lora import LoraFile
from blocks.migration_rules import RuleSet
from blocks.workflows import WorkflowsFile
from blocks.yaml_source import load_model, read_yaml


def validate_configs(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Return the files checked and every problem found in them."""
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
            elif path.name == "prefect.yaml":
                problems.extend(check_prefect_yaml(path, data))
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
    )
    for key, model in models:
        if key in data:
            return model
    return None


def check_prefect_yaml(path: Path, data: Any) -> list[str]:
    """Every deployment names a flow that imports and parameters that flow accepts."""
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, list) or not deployments:
        return [f"{path}: no 'deployments' list"]
    problems = []
    for index, deployment in enumerate(deployments):
        name = deployment.get("name", f"#{index}")
        entrypoint = deployment.get("entrypoint", "")
        try:
            flow = load_entrypoint(entrypoint)
            flow.validate_parameters(deployment.get("parameters") or {})
        except Exception as exc:  # any failure to import or validate is the finding
            problems.append(f"{path}: deployment {name!r}: {type(exc).__name__}: {exc}")
    return problems


def load_entrypoint(entrypoint: str) -> Any:
    """``flows/go_no_go.py:go_no_go_gates`` -> the flow object."""
    file_part, _, attribute = entrypoint.partition(":")
    if not file_part.endswith(".py") or not attribute:
        raise ValueError(f"entrypoint {entrypoint!r} must look like 'flows/module.py:function'")
    module = importlib.import_module(file_part.removesuffix(".py").replace("/", "."))
    return getattr(module, attribute)
