"""The gauntlet switches: precedence default < .env < environment < block < parameter, strict
values, the seed's .env sample as written, and a .env that cannot be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blocks.dotenv import parse_dotenv, read_dotenv
from blocks.errors import ConfigError, ExitCode
from blocks.lora import SWITCH_NAMES, LoraFile, SwitchInputs, load_lora_file
from blocks.lora_settings import read_switch_inputs
from tasks.lora.switches import (
    GauntletMode,
    Switches,
    SwitchSource,
    describe_switches,
    resolve_switches,
    switch_parameters,
)

# The seed's ".env Configuration" sample, verbatim (its "≥" arrives mis-encoded; kept as is).
SEED_DOTENV = """\
# LoRA Gauntlet Hook Configuration
GAUNTLET_ENABLED=false  # Set to 'true' only when Ops â‰¥20 UP, 0 alerts
A2A_ENABLED=false       # Optional: Enable A2A event publishing
"""


def resolve(
    tmp_path: Path,
    dotenv: str | None = None,
    env: dict[str, str] | None = None,
    block: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
) -> Switches:
    inputs = SwitchInputs(environment=env or {}, block=block or {})
    if dotenv is not None:
        path = tmp_path / ".env"
        path.write_text(dotenv, encoding="utf-8")
        inputs = inputs.model_copy(update={"dotenv": read_dotenv(path), "dotenv_path": str(path)})
    return resolve_switches(inputs, parameters or {})


def test_defaults_keep_the_hook_inert(tmp_path: Path) -> None:
    switches = resolve(tmp_path)
    assert switches == Switches()
    assert (switches.gauntlet_enabled, switches.a2a_enabled, switches.skip_gauntlet) == (
        False,
        False,
        False,
    )
    assert switches.gauntlet_mode is GauntletMode.CANARY
    assert switches.source == dict.fromkeys(SWITCH_NAMES, SwitchSource.DEFAULT)


# fmt: off
PRECEDENCE = [
    # .env, environment, block, parameters -> GAUNTLET_ENABLED, its source
    pytest.param(None, {}, None, {}, False, "default", id="default"),
    pytest.param("GAUNTLET_ENABLED=true\n", {}, None, {}, True, ".env", id="dotenv"),
    pytest.param("GAUNTLET_ENABLED=true\n", {"GAUNTLET_ENABLED": "false"}, None, {},
                 False, "environment", id="env-beats-dotenv"),
    pytest.param(None, {"GAUNTLET_ENABLED": "yes"}, None, {}, True, "environment", id="env"),
    pytest.param(None, {"GAUNTLET_ENABLED": "false"}, {"gauntlet_enabled": True}, {},
                 True, "block", id="block-beats-env"),
    pytest.param("GAUNTLET_ENABLED=true\n", {}, {"GAUNTLET_ENABLED": False}, {},
                 False, "block", id="block-beats-dotenv"),
    pytest.param(None, {"GAUNTLET_ENABLED": "1"}, {"gauntlet_enabled": True},
                 {"gauntlet_enabled": False}, False, "parameter", id="parameter-beats-all"),
    pytest.param(None, {"GAUNTLET_ENABLED": "true"}, {"gauntlet_enabled": None},
                 {"gauntlet_enabled": None}, True, "environment", id="none-is-not-set"),
    pytest.param(None, {"gauntlet_enabled": "true"}, None, {}, False, "default",
                 id="env-names-are-upper-case"),
    pytest.param("GAUNTLET_ENABLED=false\nGAUNTLET_ENABLED=true\n", {}, None, {},
                 True, ".env", id="appended-line-wins"),
]
# fmt: on


@pytest.mark.parametrize(("dotenv", "env", "block", "parameters", "value", "origin"), PRECEDENCE)
def test_precedence(
    tmp_path: Path,
    dotenv: str | None,
    env: dict,
    block: dict | None,
    parameters: dict,
    value: bool,
    origin: str,
) -> None:
    switches = resolve(tmp_path, dotenv, env, block, parameters)
    assert switches.gauntlet_enabled is value
    assert switches.source["GAUNTLET_ENABLED"] == SwitchSource(origin)
    assert switches.source["A2A_ENABLED"] == SwitchSource.DEFAULT


def test_each_switch_keeps_its_own_source(tmp_path: Path) -> None:
    switches = resolve(
        tmp_path,
        dotenv="A2A_ENABLED=true\n",
        env={"GAUNTLET_MODE": "FULL", "PATH": "/usr/bin"},
        block={"skip_gauntlet": "yes"},
        parameters={"GAUNTLET_ENABLED": True},
    )
    assert switches.model_dump(exclude={"source"}) == {
        "gauntlet_enabled": True,
        "a2a_enabled": True,
        "gauntlet_mode": GauntletMode.FULL,
        "skip_gauntlet": True,
    }
    assert describe_switches(switches) == (
        "GAUNTLET_ENABLED=true (parameter) A2A_ENABLED=true (.env) "
        "GAUNTLET_MODE=full (environment) SKIP_GAUNTLET=true (block)"
    )


def test_the_seed_dotenv_sample(tmp_path: Path) -> None:
    assert parse_dotenv(SEED_DOTENV) == {"GAUNTLET_ENABLED": "false", "A2A_ENABLED": "false"}
    switches = resolve(tmp_path, SEED_DOTENV)
    assert describe_switches(switches) == (
        "GAUNTLET_ENABLED=false (.env) A2A_ENABLED=false (.env) "
        "GAUNTLET_MODE=canary (default) SKIP_GAUNTLET=false (default)"
    )
    # the seed's "Enable Gauntlet" step appends a line; the later line wins
    enabled = resolve(tmp_path, SEED_DOTENV + "GAUNTLET_ENABLED=true\n")
    assert enabled.gauntlet_enabled and enabled.source["GAUNTLET_ENABLED"] == ".env"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[(text, True) for text in ("true", "TRUE", "True", "1", "yes", "Yes", " yes ")],
        *[(text, False) for text in ("false", "FALSE", "0", "no", "NO", " 0 ")],
    ],
)
def test_booleans_in_any_case(tmp_path: Path, text: str, value: bool) -> None:
    env = {"GAUNTLET_ENABLED": text, "A2A_ENABLED": text, "SKIP_GAUNTLET": text}
    switches = resolve(tmp_path, env=env)
    assert (switches.gauntlet_enabled, switches.a2a_enabled, switches.skip_gauntlet) == (
        value,
        value,
        value,
    )


# fmt: off
BAD_VALUES = [
    # layer, key, value, message fragment
    pytest.param("env", "GAUNTLET_ENABLED", "on",
                 "GAUNTLET_ENABLED='on' from environment is not a boolean", id="on"),
    pytest.param("env", "A2A_ENABLED", "", "A2A_ENABLED='' from environment is not a boolean",
                 id="empty"),
    pytest.param("env", "SKIP_GAUNTLET", "ture", "SKIP_GAUNTLET='ture' from environment",
                 id="typo"),
    pytest.param("dotenv", "GAUNTLET_ENABLED", "enabled",
                 "GAUNTLET_ENABLED='enabled' from .env (", id="dotenv"),
    pytest.param("block", "gauntlet_enabled", 1, "GAUNTLET_ENABLED=1 from block is not a boolean",
                 id="block-int"),
    pytest.param("parameters", "a2a_enabled", "maybe",
                 "A2A_ENABLED='maybe' from parameter is not a boolean", id="parameter"),
    pytest.param("env", "GAUNTLET_MODE", "shadow",
                 "GAUNTLET_MODE='shadow' from environment is not a gauntlet mode (canary|full)",
                 id="mode"),
    pytest.param("parameters", "GAUNTLET_MODE", True, "GAUNTLET_MODE=True from parameter",
                 id="mode-bool"),
    pytest.param("block", "GAUNTLET_ENABLE", "true", "block sets unknown switch 'GAUNTLET_ENABLE'",
                 id="unknown-block-key"),
    pytest.param("parameters", "mode", "full", "parameter sets unknown switch 'mode'",
                 id="unknown-parameter"),
]
# fmt: on


@pytest.mark.parametrize(("layer", "key", "value", "fragment"), BAD_VALUES)
def test_bad_values_are_refused_naming_variable_value_and_source(
    tmp_path: Path, layer: str, key: str, value: Any, fragment: str
) -> None:
    given: dict[str, Any] = {"env": {}, "block": None, "parameters": {}, "dotenv": None}
    if layer == "dotenv":
        given["dotenv"] = f"{key}={value}\n"
    else:
        given[layer] = {key: value}
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, given["dotenv"], given["env"], given["block"], given["parameters"])
    assert fragment in caught.value.message
    if layer == "dotenv":
        assert str(tmp_path / ".env") in caught.value.message


def test_a_switch_given_twice_in_one_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, parameters={"gauntlet_enabled": True, "GAUNTLET_ENABLED": False})
    assert caught.value.code == ExitCode.USAGE_ERROR


def _lora(tmp_path: Path, **changes: Any) -> LoraFile:
    return load_lora_file(Path("deployments/lora.yaml")).model_copy(update=changes)


def test_switch_inputs_are_read_from_dotenv_and_environment_only_by_their_names(
    tmp_path: Path,
) -> None:
    dotenv = tmp_path / "switches.env"
    dotenv.write_text("A2A_ENABLED=true\nOTHER=1\n", encoding="utf-8")
    environ = {"GAUNTLET_MODE": "full", "PATH": "/usr/bin", "gauntlet_enabled": "true"}
    inputs = read_switch_inputs(_lora(tmp_path, dotenv=str(dotenv)), environ)
    assert inputs == SwitchInputs(
        dotenv={"A2A_ENABLED": "true", "OTHER": "1"},
        dotenv_path=str(dotenv),
        environment={"GAUNTLET_MODE": "full"},
    )
    # a .env that does not exist is no source at all (the shipped default is ".env")
    absent = read_switch_inputs(_lora(tmp_path, dotenv=str(tmp_path / "absent.env")), {})
    assert absent == SwitchInputs()


def test_the_flows_parameters_are_the_top_layer_and_none_defers_to_the_rest() -> None:
    parameters = switch_parameters(True, None, "full", None)
    assert parameters == {
        "GAUNTLET_ENABLED": True,
        "A2A_ENABLED": None,
        "GAUNTLET_MODE": "full",
        "SKIP_GAUNTLET": None,
    }
    inputs = SwitchInputs(dotenv={}, environment={"A2A_ENABLED": "true"}, block={})
    switches = resolve_switches(inputs, parameters)
    assert (switches.gauntlet_enabled, switches.a2a_enabled) == (True, True)
    assert switches.gauntlet_mode is GauntletMode.FULL
    assert switches.source["A2A_ENABLED"] is SwitchSource.ENVIRONMENT
    assert switches.source["GAUNTLET_MODE"] is SwitchSource.PARAMETER
