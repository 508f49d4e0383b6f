"""The ``{{name}}`` placeholders of the invariants file's scripts: which exist, and filling them.

An installer, onboarding check or smoke job may use only the known placeholders (checked when
the file is validated); ``render`` fills them with trusted one-line values when a leg runs.
"""

from __future__ import annotations

import re

from blocks.errors import UsageError

PLACEHOLDERS = frozenset({"digest", "run_id", "leg", "region", "scratch"})
# ``{{name}}`` with a bare identifier is a placeholder; anything else in double braces (a Go
# template such as ``docker inspect -f '{{.State.Status}}'``) is left as it is.
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders_in(template: str) -> set[str]:
    """The placeholder names a script uses."""
    return set(_PLACEHOLDER.findall(template))


def known_placeholders(template: str) -> str:
    """``template`` as it is, if every placeholder it uses is known; ValueError naming the rest."""
    unknown = sorted(placeholders_in(template) - PLACEHOLDERS)
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        known = ", ".join("{{" + name + "}}" for name in sorted(PLACEHOLDERS))
        raise ValueError(f"unknown placeholder {names}; the known placeholders are {known}")
    return template


def render(template: str, **values: object) -> str:
    """Fill a script's ``{{name}}`` placeholders with ``values``, inserted verbatim.

    Values are trusted and may be shell expressions (``scratch="${WARDEN_SCRATCH}"`` expands
    on the host), so scripts double-quote a placeholder that may hold spaces:
    ``test -f "{{scratch}}/agent/active"``. A value holding a newline or NUL is refused.
    """
    unknown_values = sorted(set(values) - PLACEHOLDERS)
    if unknown_values:
        raise UsageError(
            f"render() got unknown placeholder value(s) {unknown_values}",
            remediation=f"Pass only {sorted(PLACEHOLDERS)}.",
        )
    multi_line = sorted(
        name for name, value in values.items() if re.search(r"[\n\r\0]", str(value))
    )
    if multi_line:
        raise UsageError(
            f"placeholder value(s) {multi_line} hold a newline or NUL",
            remediation="Pass one-line values (a digest, a run id, a path).",
        )
    used = placeholders_in(template)
    unknown = sorted(used - PLACEHOLDERS)
    missing = sorted((used & PLACEHOLDERS) - set(values))
    if unknown or missing:
        raise UsageError(
            f"cannot render script: unknown placeholder(s) {unknown}, no value for {missing}",
            remediation="Give a value for every placeholder the script uses (see invariants.yaml).",
        )
    return _PLACEHOLDER.sub(lambda match: str(values[match[1]]), template)
