"""``${NAME}`` and ``${NAME:-default}`` in configuration values, expanded from a mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def expand(value: Any, variables: Mapping[str, str]) -> tuple[Any, list[str]]:
    """``value`` (a string, or lists and dicts of them) expanded; and the unset names it used."""
    missing: list[str] = []

    def lookup(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        missing.append(name)
        return match.group(0)

    def sub(item: Any) -> Any:
        if isinstance(item, str):
            return _VARIABLE.sub(lookup, item)
        if isinstance(item, list):
            return [sub(element) for element in item]
        if isinstance(item, dict):
            return {key: sub(element) for key, element in item.items()}
        return item

    return sub(value), sorted(set(missing))
