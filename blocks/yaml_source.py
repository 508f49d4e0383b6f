"""Load a YAML file into a pydantic model, reporting every problem with file, line and field.

Every YAML config of Release Warden goes through :func:`load_model`, so a malformed file is
always reported the same way and nothing runs on a half-valid config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from blocks.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

Location = tuple[str | int, ...]


def _line_map(node: yaml.Node, path: Location = ()) -> dict[Location, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    lines: dict[Location, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines.update(_line_map(value_node, child))
            lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_map(item, (*path, index)))
    return lines


def _nearest_line(lines: dict[Location, int], loc: Location) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def read_yaml(path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse ``path`` and return the data with its line map; raise ConfigError when unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path}: file not found",
            remediation="Pass an existing file (see deployments/ for the defaults).",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read file ({exc})",
            remediation="Make the file readable UTF-8 text.",
        ) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: malformed YAML: {problem}",
            remediation="Fix the YAML syntax at that line.",
        ) from exc
    if node is None:
        raise ConfigError(f"{path}: file is empty", remediation="Declare at least one entry.")
    return data, _line_map(node)


def describe_errors(
    path: Path, error: ValidationError, lines: dict[Location, int], data: Any = None
) -> list[str]:
    """One ``file:line: field: message`` string per pydantic error."""
    problems = []
    for item in error.errors():
        loc = _data_path(item["loc"], data)
        line = _nearest_line(lines, loc)
        field = ".".join(str(part) for part in loc) or "(document)"
        where = f"{path}:{line}" if line else str(path)
        problems.append(f"{where}: {field}: {item['msg']}")
    return problems


def _data_path(loc: tuple[str | int, ...], data: Any) -> Location:
    """Drop the tags that discriminated unions add to a location ("gates.0.http.url")."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in node.values():
            continue  # a union tag such as the gate's kind: not a key of the document
        kept.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(kept)


def load_model(path: Path | str, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Read ``path`` and validate it as ``model``; every problem is reported at once."""
    path = Path(path)
    data, lines = read_yaml(path)
    try:
        return model.model_validate(data, context={"lines": lines, **(context or {})})
    except ValidationError as exc:
        problems = describe_errors(path, exc, lines, data)
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems=problems) from exc
