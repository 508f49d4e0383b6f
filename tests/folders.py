"""What a folder holds, to prove that a command which only reads changed nothing there."""

from __future__ import annotations

from pathlib import Path


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Each entry's name -> (size, mtime in ns)."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
