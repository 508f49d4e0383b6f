"""Reading the kill switch's value (the ``warden_kill_switch`` Variable, or ``WARDEN_KILL_SWITCH``
in engine-less runs), which operators may set loosely."""

from __future__ import annotations

from typing import Any

KILL_SWITCH_VARIABLE = "warden_kill_switch"
# Engine-less CLI runs (no Prefect API) read the switch from this environment variable instead.
KILL_SWITCH_ENV = "WARDEN_KILL_SWITCH"
_OFF = {"false", "0", "no", "off", ""}


def is_on(value: Any) -> bool:
    """True/False from a Variable value; anything unrecognised counts as on (fail safe)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text not in _OFF  # "true", "on", but also any typo: an unclear switch stops flows
