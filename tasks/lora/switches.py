"""The gauntlet's switches, where each effective value came from, and the ``.env`` they may live in.

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

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ConfigError


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


NAMES = ("GAUNTLET_ENABLED", "A2A_ENABLED", "GAUNTLET_MODE", "SKIP_GAUNTLET")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Switches(BaseModel):
    """The effective switches; ``source`` maps each variable name to where its value came from."""

    model_config = ConfigDict(frozen=True)

    gauntlet_enabled: bool = False  # master switch; the seed keeps the hook inert by default
    a2a_enabled: bool = False  # publish GAUNTLET_BEGIN/PASS/FAIL to the A2A bus
    gauntlet_mode: GauntletMode = GauntletMode.CANARY
    skip_gauntlet: bool = False  # the seed's mock gauntlet for CI: hook runs, gauntlet does not
    source: dict[str, SwitchSource] = Field(
        default_factory=lambda: dict.fromkeys(NAMES, SwitchSource.DEFAULT)
    )


def resolve_switches(
    *,
    env: Mapping[str, str],
    dotenv_path: Path | None,
    block: Mapping[str, Any] | None,
    parameters: Mapping[str, Any],
) -> Switches:
    """Layer default < .env < environment < block < parameters; a None value is "not set".

    Block and parameter keys are the variable names in either case (``gauntlet_enabled`` or
    ``GAUNTLET_ENABLED``); an unknown key there is refused, since it can only be a typo. The
    environment and ``.env`` hold other variables too, so only the four names are read there.
    """
    layers: list[tuple[SwitchSource, Mapping[str, Any]]] = [
        (SwitchSource.DOTENV, read_dotenv(dotenv_path) if dotenv_path is not None else {}),
        (SwitchSource.ENVIRONMENT, env),
        (SwitchSource.BLOCK, _known_keys(block or {}, SwitchSource.BLOCK)),
        (SwitchSource.PARAMETER, _known_keys(parameters, SwitchSource.PARAMETER)),
    ]
    values: dict[str, Any] = {}
    source = dict.fromkeys(NAMES, SwitchSource.DEFAULT)
    for origin, layer in layers:
        for name in NAMES:
            if layer.get(name) is not None:
                values[name.lower()] = _parse(name, layer[name], origin, dotenv_path)
                source[name] = origin
    return Switches(**values, source=source)


def describe(switches: Switches) -> str:
    """One log line: ``GAUNTLET_ENABLED=false (default) A2A_ENABLED=true (.env) ...``."""
    parts = []
    for name in NAMES:
        value = getattr(switches, name.lower())
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f"{name}={shown} ({switches.source.get(name, SwitchSource.DEFAULT)})")
    return " ".join(parts)


def read_dotenv(path: Path) -> dict[str, str]:
    """Read a ``.env`` file; a missing, unreadable or malformed one is a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the .env file {path}: {type(exc).__name__}: {exc}",
            remediation="Fix the path or the file's permissions/encoding, or pass no .env file.",
        ) from exc
    return parse_dotenv(text, origin=str(path))


def parse_dotenv(text: str, *, origin: str = ".env") -> dict[str, str]:
    """``KEY=VALUE`` lines; ``export `` prefix, quotes, ``#`` comments; the last repeat wins.

    Unquoted values end at a ``#`` that follows whitespace (``X=false  # note``); a ``#`` inside
    a value (``URL=http://h/#top``) stays. Single quotes are literal; double quotes understand
    ``\\"``, ``\\\\`` and ``\\n``. Every malformed line is reported at once, with its number.
    """
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key, value = _parse_line(line)
        except ValueError as exc:
            problems.append(f"{origin}:{number}: {exc}: {raw.strip()!r}")
            continue
        values[key] = value
    if problems:
        raise ConfigError(
            f"{origin} has {len(problems)} malformed line(s)",
            problems=problems,
            remediation="Write each setting as KEY=VALUE (quote values with spaces or #).",
        )
    return values


def _parse_line(line: str) -> tuple[str, str]:
    if line.startswith("export ") or line.startswith("export\t"):
        line = line[len("export") :].lstrip()
    key, equals, rest = line.partition("=")
    key = key.strip()
    if not equals:
        raise ValueError("no '=' in the line")
    if not _KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not a variable name")
    if rest.strip()[:1] in ("'", '"'):
        return key, _quoted(rest.strip())
    comment = re.search(r"\s#", rest)  # "X= # note" is empty, "X=#x" is "#x", as in a shell
    return key, (rest[: comment.start()] if comment else rest).strip()


def _quoted(rest: str) -> str:
    quote, chars, index = rest[0], [], 1
    escapes = {'"': '"', "\\": "\\", "n": "\n"} if quote == '"' else {}
    while index < len(rest):
        char = rest[index]
        if char == "\\" and rest[index + 1 : index + 2] in escapes:
            chars.append(escapes[rest[index + 1]])
            index += 2
            continue
        if char == quote:
            tail = rest[index + 1 :].strip()
            if tail and not tail.startswith("#"):
                raise ValueError(f"text after the closing {quote}")
            return "".join(chars)
        chars.append(char)
        index += 1
    raise ValueError(f"no closing {quote}")


def _known_keys(layer: Mapping[str, Any], origin: SwitchSource) -> dict[str, Any]:
    """Upper-case the keys of a block or parameter mapping; refuse unknown and repeated ones."""
    found: dict[str, Any] = {}
    for key, value in layer.items():
        name = str(key).upper()
        if name not in NAMES:
            raise ConfigError(
                f"{origin} sets unknown switch {key!r}",
                remediation=f"Use one of {', '.join(NAMES)} (any case).",
            )
        if name in found:
            raise ConfigError(
                f"{origin} sets {name} twice (as {key!r} and in another case)",
                remediation="Keep one spelling of each switch.",
            )
        found[name] = value
    return found


def _parse(name: str, value: Any, origin: SwitchSource, dotenv_path: Path | None) -> Any:
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
