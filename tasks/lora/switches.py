"""The gauntlet's switches: each effective value, parsed strictly, and where it came from.

The seed reads its switches "from the environment and from a ``.env`` file, overridable by flow
parameters and a settings block". Precedence, lowest first:

    default < .env < environment < block < parameter

``.env`` is the host's persistent local file; a variable exported in the process environment
overrides it (the usual dotenv rule, and the seed's ``GAUNTLET_ENABLED=true ./deploy_lora.sh``);
the settings block is the deployment's server-side configuration and beats whatever the worker's
environment holds; a flow parameter is the explicit choice for one run and beats everything. So
an ``export GAUNTLET_ENABLED=false`` does not disable a gauntlet that the block or a parameter
enables: the emergency stop for those is the block itself, or the ``warden_kill_switch``.

Values are parsed strictly: a boolean is true/false/1/0/yes/no (any case), a mode is canary or
full; anything else is a :class:`ConfigError` naming the variable, the value and its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ConfigError
from blocks.lora import SWITCH_NAMES, SwitchInputs


class GauntletMode(StrEnum):
    CANARY = "canary"  # the seed's `run_titanic_gauntlet.py --mode canary`
    FULL = "full"


class SwitchSource(StrEnum):
    """Where an effective value came from, lowest precedence first."""

    DEFAULT = "default"
    DOTENV = ".env"
    ENVIRONMENT = "environment"
    BLOCK = "block"
    PARAMETER = "parameter"


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class Switches(BaseModel):
    """The effective switches; ``source`` maps each variable name to where its value came from."""

    model_config = ConfigDict(frozen=True)

    gauntlet_enabled: bool = False  # master switch; the seed keeps the hook inert by default
    a2a_enabled: bool = False  # publish GAUNTLET_BEGIN/PASS/FAIL to the A2A bus
    gauntlet_mode: GauntletMode = GauntletMode.CANARY
    skip_gauntlet: bool = False  # the seed's mock gauntlet for CI: hook runs, gauntlet does not
    source: dict[str, SwitchSource] = Field(
        default_factory=lambda: dict.fromkeys(SWITCH_NAMES, SwitchSource.DEFAULT)
    )


def resolve_switches(inputs: SwitchInputs, parameters: Mapping[str, Any]) -> Switches:
    """Layer default < .env < environment < block < parameters; a None value is "not set".

    ``inputs`` is what ``blocks.lora_settings.read_switch_inputs`` read from each source. Block
    and parameter keys are the variable names in either case (``gauntlet_enabled`` or
    ``GAUNTLET_ENABLED``); an unknown key there is refused, since it can only be a typo. The
    environment and ``.env`` hold other variables too, so only the four names are read there.
    """
    layers: list[tuple[SwitchSource, Mapping[str, Any]]] = [
        (SwitchSource.DOTENV, inputs.dotenv),
        (SwitchSource.ENVIRONMENT, inputs.environment),
        (SwitchSource.BLOCK, _known_keys(inputs.block, SwitchSource.BLOCK)),
        (SwitchSource.PARAMETER, _known_keys(parameters, SwitchSource.PARAMETER)),
    ]
    values: dict[str, Any] = {}
    source = dict.fromkeys(SWITCH_NAMES, SwitchSource.DEFAULT)
    for origin, layer in layers:
        for name in SWITCH_NAMES:
            if layer.get(name) is not None:
                values[name.lower()] = _parse(name, layer[name], origin, inputs.dotenv_path)
                source[name] = origin
    return Switches(**values, source=source)


def switch_parameters(
    gauntlet_enabled: bool | None = None,
    a2a_enabled: bool | None = None,
    gauntlet_mode: str | None = None,
    skip_gauntlet: bool | None = None,
) -> dict[str, Any]:
    """A flow's four switch parameters as the top layer, by variable name; None: not set."""
    values = (gauntlet_enabled, a2a_enabled, gauntlet_mode, skip_gauntlet)
    return dict(zip(SWITCH_NAMES, values, strict=True))


def describe_switches(switches: Switches) -> str:
    """One log line: ``GAUNTLET_ENABLED=false (default) A2A_ENABLED=true (.env) ...``."""
    parts = []
    for name in SWITCH_NAMES:
        value = getattr(switches, name.lower())
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{name}={shown} ({switches.source.get(name, SwitchSource.DEFAULT)})")
    return " ".join(parts)


def _known_keys(layer: Mapping[str, Any], origin: SwitchSource) -> dict[str, Any]:
    """Upper-case the keys of a block or parameter mapping; refuse unknown and repeated ones."""
    found: dict[str, Any] = {}
    for key, value in layer.items():
        name = str(key).upper()
        if name not in SWITCH_NAMES:
            raise ConfigError(
                f"{origin} sets unknown switch {key!r}",
                remediation=f"Use one of {', '.join(SWITCH_NAMES)} (any case).",
            )
        if name in found:
            raise ConfigError(
                f"{origin} sets {name} twice (as {key!r} and in another case)",
                remediation="Keep one spelling of each switch.",
            )
        found[name] = value
    return found


def _parse(name: str, value: Any, origin: SwitchSource, dotenv_path: str | None) -> Any:
    where = f"{origin} ({dotenv_path})" if origin is SwitchSource.DOTENV else str(origin)
    if name == "GAUNTLET_MODE":
        text = value.strip().lower() if isinstance(value, str) else None
        if text in set(GauntletMode):
            return GauntletMode(text)
        allowed = "|".join(GauntletMode)
        raise ConfigError(
            f"{name}={value!r} from {where} is not a gauntlet mode ({allowed})",
            remediation=f"Set {name} to one of {allowed}, or unset it for canary.",
        )
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(
        f"{name}={value!r} from {where} is not a boolean",
        remediation=f"Set {name} to true or false (also 1/0, yes/no), or unset it.",
    )
