"""Failure fingerprints and the suppression list that names them (seed 003).

A fingerprint identifies a kind of failure independently of the file it occurred in, so the
same breakage in many files is counted once and can be suppressed by one line. It is exactly
the seed's: the first 16 hex characters of SHA-256 over ``code_name|line|first message line``.
A missing line renders as the empty string (``PARSE_ERROR||message``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

FINGERPRINT_CHARS = 16
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


def fingerprint(code_name: str, line: int | None, message: str) -> str:
    """The 16-hex-character fingerprint of a failure."""
    first_line = message.splitlines()[0] if message else ""
    rendered_line = "" if line is None else str(line)
    digest = hashlib.sha256(f"{code_name}|{rendered_line}|{first_line}".encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def is_fingerprint(value: str) -> bool:
    """Whether ``value`` is a well-formed fingerprint (16 lowercase hex characters)."""
    return bool(_FINGERPRINT.match(value))


class Suppressions(BaseModel):
    """The fingerprints a suppression file lists, and what in it could not be used."""

    model_config = ConfigDict(frozen=True)

    fingerprints: frozenset[str] = frozenset()
    warnings: list[str] = Field(default_factory=list)


def load_suppressions(path: Path) -> Suppressions:
    """Read a suppression file; a missing file is no suppression, a bad line only a warning."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Suppressions()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Suppressions(warnings=[f"{path}: cannot read suppression file: {reason}"])
    return parse_suppressions(text, source=str(path))


def parse_suppressions(text: str, *, source: str) -> Suppressions:
    """One fingerprint a line; ``#`` starts a comment (inline after whitespace)."""
    found: set[str] = set()
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = _INLINE_COMMENT.sub("", raw).strip()
        if not entry or entry.startswith("#"):
            continue
        if is_fingerprint(entry):
            found.add(entry)
        else:
            warnings.append(
                f"{source}:{number}: ignored {entry[:40]!r}: "
                f"a fingerprint is {FINGERPRINT_CHARS} lowercase hex characters"
            )
    return Suppressions(fingerprints=frozenset(found), warnings=warnings)
