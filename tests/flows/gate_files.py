"""Small gates files for flow and CLI tests, written to a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import py


def write_gates(folder: Path, gates: list[dict[str, Any]], **top: Any) -> Path:
    path = folder / "gates.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **top, "gates": gates}, sort_keys=False))
    return path


def passing(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "command", "argv": py("print('ok')"), **extra}


def failing(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "command", "argv": py("import sys; sys.exit(3)"), **extra}


def printing(name: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "command", "argv": py(f"print('value={value}')"), **extra}
