"""prefect.yaml: each deployment names a flow that imports, with parameters that flow accepts.

Checking this imports flows/ by entrypoint, which tasks/ never does (flows -> tasks -> blocks), so
it lives at the CLI boundary; ``warden config validate`` hands it to
``tasks.platform.configs.validate_configs``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from blocks.errors import ConfigError
from blocks.yaml_source import read_yaml


def check_prefect_yaml(path: Path, data: Any) -> list[str]:
    """Every deployment names a flow that imports and parameters that flow accepts."""
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, list) or not deployments:
        return [f"{path}: no 'deployments' list"]
    problems = []
    for index, deployment in enumerate(deployments):
        if not isinstance(deployment, dict):
            problems.append(_not_a_mapping(path, index, deployment))
            continue
        name = deployment.get("name", f"#{index}")
        entrypoint = deployment.get("entrypoint", "")
        if deployment.get("triggers"):  # one way of declaring reactions: automations.yaml
            problems.append(
                f"{path}: deployment {name!r}: triggers: declare reactions as automations in "
                "deployments/automations.yaml (applied by make run), not here"
            )
        try:
            flow = load_entrypoint(entrypoint)
            given = deployment.get("parameters") or {}
            missing = sorted(set(flow.parameters.required or []) - set(given))
            if missing and deployment.get("schedules"):
                raise ValueError(f"its scheduled runs would lack required parameter(s) {missing}")
            if missing:  # unscheduled: left to whoever starts a run, as Prefect's deploy allows
                _validate_given(flow, given)
            else:
                flow.validate_parameters(given)
        except Exception as exc:  # any failure to import or validate is the finding
            problems.append(f"{path}: deployment {name!r}: {type(exc).__name__}: {exc}")
    return problems


def _not_a_mapping(path: Path, index: int, deployment: Any) -> str:
    """``file:line: deployments.N: ...`` for an entry that has no name or entrypoint to read."""
    try:
        _, lines = read_yaml(path)
    except ConfigError:
        lines = {}
    line = lines.get(("deployments", index))
    where = f"{path}:{line}" if line else str(path)
    return (
        f"{where}: deployments.{index}: a deployment must be a mapping with 'name' and "
        f"'entrypoint', not {type(deployment).__name__} {deployment!r}"
    )


def load_entrypoint(entrypoint: str) -> Any:
    """``flows/go_no_go.py:go_no_go_gates`` -> the flow object."""
    file_part, _, attribute = entrypoint.partition(":")
    if not file_part.endswith(".py") or not attribute:
        raise ValueError(f"entrypoint {entrypoint!r} must look like 'flows/module.py:function'")
    module = importlib.import_module(file_part.removesuffix(".py").replace("/", "."))
    return getattr(module, attribute)


def _validate_given(flow: Any, given: dict[str, Any]) -> None:
    """The given parameters against the flow's schema, its required ones not required here."""
    from prefect.utilities.schema_tools import validate

    unknown = sorted(set(given) - set(flow.parameters.properties))
    errors = validate(given, flow.parameters.model_dump(), ignore_required=True)
    if unknown or errors:
        found = [f"unknown parameter(s) {unknown}"] if unknown else []
        raise ValueError("; ".join(found + [error.message for error in errors]))
