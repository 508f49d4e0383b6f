"""The gauntlet switches: precedence default < .env < environment < block < parameter, strict
values, the seed's .env sample as written, and a .env that cannot be read."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from blocks.errors import ConfigError
from tasks.lora.switches import (
    NAMES,
    GauntletMode,
    Switches,
    SwitchSource,
    describe,
    parse_dotenv,
    read_dotenv,
    resolve_switches,
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
    path = None
    if dotenv is not None:
        path = tmp_path / ".env"
        path.write_text(dotenv, encoding="utf-8")
    return resolve_switches(
        env=env or {}, dotenv_path=path, block=block, parameters=parameters or {}
    )


def test_defaults_keep_the_hook_inert(tmp_path: Path) -> None:
    switches = resolve(tmp_path)
    assert switches == Switches()
    assert (switches.gauntlet_enabled, switches.a2a_enabled, switches.skip_gauntlet) == (
        False,
        False,
        False,
    )
    assert switches.gauntlet_mode is GauntletMode.CANARY
    assert switches.source == dict.fromkeys(NAMES, SwitchSource.DEFAULT)


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
    assert describe(switches) == (
        "GAUNTLET_ENABLED=true (parameter) A2A_ENABLED=true (.env) "
        "GAUNTLET_MODE=full (environment) SKIP_GAUNTLET=true (block)"
    )


def test_the_seed_dotenv_sample(tmp_path: Path) -> None:
    assert parse_dotenv(SEED_DOTENV) == {"GAUNTLET_ENABLED": "false", "A2A_ENABLED": "false"}
    switches = resolve(tmp_path, SEED_DOTENV)
    assert describe(switches) == (
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
DOTENV_LINES = [
    # line, parsed
    pytest.param("A=1", {"A": "1"}, id="plain"),
    pytest.param("export A=1", {"A": "1"}, id="export"),
    pytest.param("  A = 1  ", {"A": "1"}, id="spaces"),
    pytest.param("A='x # not a comment'  # comment", {"A": "x # not a comment"}, id="single"),
    pytest.param('A="say \\"hi\\"\\n"', {"A": 'say "hi"\n'}, id="double-escapes"),
    pytest.param("A='c:\\\\path'", {"A": "c:\\\\path"}, id="single-is-literal"),
    pytest.param("A=http://h/#top", {"A": "http://h/#top"}, id="hash-inside-value"),
    pytest.param("A=x\t# tab comment", {"A": "x"}, id="tab-comment"),
    pytest.param("A=", {"A": ""}, id="empty"),
    pytest.param("A= # only a comment", {"A": ""}, id="comment-only-value"),
    pytest.param("# A=1\n\n   # indented comment", {}, id="comments"),
]
# fmt: on


@pytest.mark.parametrize(("line", "parsed"), DOTENV_LINES)
def test_dotenv_lines(line: str, parsed: dict[str, str]) -> None:
    assert parse_dotenv(line) == parsed


def test_malformed_dotenv_lines_are_all_reported_with_their_numbers() -> None:
    text = 'A=1\nJUST_A_WORD\n2X=1\nB=\'open\nC="x" y\n'
    with pytest.raises(ConfigError) as caught:
        parse_dotenv(text, origin="/srv/.env")
    assert caught.value.problems == [
        "/srv/.env:2: no '=' in the line: 'JUST_A_WORD'",
        "/srv/.env:3: '2X' is not a variable name: '2X=1'",
        "/srv/.env:4: no closing ': \"B='open\"",
        '/srv/.env:5: text after the closing ": \'C="x" y\'',
    ]
    assert "KEY=VALUE" in caught.value.remediation


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
    with pytest.raises(ConfigError, match="parameter sets GAUNTLET_ENABLED twice"):
        resolve(tmp_path, parameters={"gauntlet_enabled": True, "GAUNTLET_ENABLED": False})


def test_an_unreadable_dotenv_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.env"
    with pytest.raises(ConfigError, match=f"cannot read the .env file {missing}"):
        resolve_switches(env={}, dotenv_path=missing, block=None, parameters={})
    with pytest.raises(ConfigError, match="IsADirectoryError"):
        read_dotenv(tmp_path)
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"GAUNTLET_ENABLED=true # caf\xe9\n")
    with pytest.raises(ConfigError, match="UnicodeDecodeError"):
        read_dotenv(latin)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_dotenv_without_read_permission_is_a_config_error(tmp_path: Path) -> None:
    locked = tmp_path / ".env"
    locked.write_text("GAUNTLET_ENABLED=true\n")
    locked.chmod(0)
    with pytest.raises(ConfigError, match="PermissionError"):
        read_dotenv(locked)
