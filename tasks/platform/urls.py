"""URLs fit for logs, messages and artifacts: a password in one is never shown."""

from __future__ import annotations

import httpx


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (the user name kept); unparsable as is."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if not parsed.password:
        return url
    return str(parsed.copy_with(username=parsed.username, password="***"))
