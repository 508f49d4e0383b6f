"""Markdown that reports render: text made safe for a table cell."""

from __future__ import annotations


def md_cell(text: str, limit: int | None = None) -> str:
    """Text safe inside one markdown table cell: one line, pipes escaped, optionally cut."""
    cell = " ".join(text.split()).replace("|", "\\|")
    return cell if limit is None else cell[:limit]
