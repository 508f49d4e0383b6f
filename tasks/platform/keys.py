"""Stable names Prefect shows: artifact keys, event names and event resource ids."""

from __future__ import annotations

import re

_NOT_KEY = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lowercase, dashes only: what Prefect accepts in an artifact key."""
    return _NOT_KEY.sub("-", text.lower()).strip("-") or "default"


def artifact_key(process: str, scope: str) -> str:
    """``<process>-<scope>``: the UI's Artifacts page shows the latest per key."""
    return f"{slug(process)}-{slug(scope)}"


def event_name(process: str, verb: str) -> str:
    return f"warden.{slug(process)}.{slug(verb)}"


def resource_id(kind: str, name: str) -> str:
    return f"warden.{slug(kind)}.{slug(name)}"
