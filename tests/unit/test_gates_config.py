"""Gates files: a catalog of named invalid inputs, each with the clear error it must give."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.gates import RelativeThreshold, load_gates_file
from tasks.gates.plan import plan_run

VALID = """\
version: 1
profiles:
  ci: {gates: [unit], env: {STAGE: ci}}
gates:
  - name: unit
    kind: command
    argv: [python, -c, "print('${STAGE:-local}')"]
  - name: api
    kind: http
    url: "${API:-http://127.0.0.1:1}/health"
    depends_on: [unit]
  - name: sign
    kind: manual
"""

INVALID = {
    "malformed-yaml": (
        "gates:\n  - name: a\n    kind: [command\n",
        r":4: malformed YAML: expected .,. or .\].",
    ),
    "empty-file": ("", "file is empty"),
    "no-gates": ("version: 1\ngates: []\n", "gates: List should have at least 1 item"),
    "unknown-kind": (
        "gates:\n  - name: a\n    kind: telepathy\n",
        r":2: gates.0: Input tag 'telepathy'",
    ),
    "duplicate-names": (
        "gates:\n  - {name: a, kind: manual}\n  - {name: a, kind: manual}\n",
        "line 3: duplicate gate name 'a'",
    ),
    "shell-string-argv": (
        "gates:\n  - name: a\n    kind: command\n    argv: 'rm -rf /'\n",
        r":4: gates.0.argv: .*never a shell string",
    ),
    "missing-field": ("gates:\n  - name: a\n    kind: http\n", r"gates.0.url: Field required"),
    "unknown-field": (
        "gates:\n  - name: a\n    kind: manual\n    tiemout_sec: 3\n",
        r":4: gates.0.tiemout_sec: Extra inputs are not permitted",
    ),
    "bad-relative": (
        "gates:\n  - name: a\n    kind: command\n    argv: [x]\n"
        "    metric: {name: m, regex: '(?P<value>1)', relative: 'ten percent'}\n",
        "must look like '<= \\+10%'",
    ),
    "regex-without-value-group": (
        "gates:\n  - name: a\n    kind: command\n    argv: [x]\n"
        "    metric: {name: m, regex: '(\\d+)'}\n",
        r"named group \(\?P<value>",
    ),
    "unknown-dependency": (
        "gates:\n  - {name: a, kind: manual, depends_on: [ghost]}\n",
        "depends on unknown gate 'ghost'",
    ),
    "negative-timeout": (
        "gates:\n  - {name: a, kind: manual, timeout_sec: -1}\n",
        r"timeout_sec: Input should be greater than 0",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_gates_files_name_file_line_and_field(case: str, tmp_path: Path) -> None:
    text, expected = INVALID[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_gates_file(path)
    assert str(path) in str(caught.value)
    assert caught.value.code == ExitCode.USAGE_ERROR
    import re

    assert re.search(expected, str(caught.value)), str(caught.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_gates_file(tmp_path / "nope.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read file"):
        load_gates_file(binary)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "gates:\n  - {name: a, kind: http, url: ftp://x}\n  - {name: B!, kind: manual}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_gates_file(path)
    assert len(caught.value.problems) == 2


@pytest.fixture
def gates_file(tmp_path: Path):
    path = tmp_path / "gates.yaml"
    path.write_text(VALID)
    return load_gates_file(path)


def test_plan_defaults_to_every_gate_in_dependency_order(gates_file) -> None:
    plan = plan_run(gates_file, environ={})
    assert plan.names == ["unit", "api", "sign"]
    assert plan.gates[0].argv[-1] == "print('local')"
    assert plan.gates[1].url == "http://127.0.0.1:1/health"
    assert plan.env == {"WARDEN_PROFILE": "default"}


def test_profile_chooses_gates_and_env(gates_file) -> None:
    plan = plan_run(gates_file, profile="ci", environ={})
    assert plan.names == ["unit"] and plan.gates[0].argv[-1] == "print('ci')"
    assert plan.env["STAGE"] == "ci" and plan.env["WARDEN_PROFILE"] == "ci"


def test_subset_drops_unselected_dependencies_with_a_note(gates_file) -> None:
    plan = plan_run(gates_file, selected=["api"], environ={})
    assert plan.names == ["api"] and plan.gates[0].depends_on == []
    assert "unit" in plan.notes[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"selected": ["unit", "nope"]}, "unknown gate(s): nope; valid gates: unit, api, sign"),
        ({"profile": "prod"}, "unknown profile 'prod'; valid profiles: default, ci"),
    ],
)
def test_unknown_names_list_the_valid_ones(gates_file, options, message) -> None:
    with pytest.raises(UsageError) as caught:
        plan_run(gates_file, environ={}, **options)
    assert message in str(caught.value)
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_unset_variable_without_default_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("gates:\n  - {name: a, kind: command, argv: [echo, '${TOKEN}']}\n")
    with pytest.raises(ConfigError, match="unset variable.*TOKEN"):
        plan_run(load_gates_file(path), environ={})


def test_dependency_cycle_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "gates:\n  - {name: a, kind: manual, depends_on: [b]}\n"
        "  - {name: b, kind: manual, depends_on: [a]}\n"
    )
    with pytest.raises(ConfigError, match="cycle: a -> b -> a"):
        plan_run(load_gates_file(path), environ={})


@pytest.mark.parametrize(
    ("text", "op", "percent"),
    [("<= +10%", "<=", 10.0), (">= -2.5%", ">=", -2.5), ("<=0%", "<=", 0.0)],
)
def test_relative_thresholds_parse(text: str, op: str, percent: float) -> None:
    threshold = RelativeThreshold.parse(text)
    assert (threshold.op, threshold.percent) == (op, percent)


def test_the_shipped_gates_file_is_valid() -> None:
    gates_file = load_gates_file("deployments/gates.yaml")
    assert "unit-tests" in gates_file.names
    assert plan_run(gates_file, profile="ci", environ={}).names
