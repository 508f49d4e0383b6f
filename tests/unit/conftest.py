"""Fixtures shared by the unit tests: one definition each, instead of a copy per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.lora.registry import LocalRegistry
from tests.lora_adapters import write_adapters


@pytest.fixture
def adapters(tmp_path: Path) -> dict[str, Path]:
    """Three distinct valid LoRA adapters, ``v1``..``v3`` (different seeds: different bytes)."""
    return write_adapters(tmp_path)


@pytest.fixture
def registry(tmp_path: Path) -> LocalRegistry:
    """An empty local LoRA adapter registry whose model names are ``warden-<version>``."""
    return LocalRegistry(tmp_path / "registry", name_prefix="warden")
