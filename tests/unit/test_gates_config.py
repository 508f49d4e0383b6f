"""Gates files: a catalog of named invalid inputs, each with the clear error it must give."""

from __future__ import annotations

from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.gates import RelativeThreshold, load_gates_file
from tasks.gates.selection import plan_run

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
    # options that would be accepted and then do nothing are refused
    "metric-on-a-manual-gate": (
        "gates:\n  - {name: a, kind: manual, metric: {name: m}}\n",
        "a manual gate measures no number",
    ),
    "metric-on-a-flow-run-gate": (
        "gates:\n  - {name: a, kind: flow-run, deployment: f/d, metric: {name: m}}\n",
        "a flow-run gate measures no number",
    ),
    "command-metric-without-regex": (
        "gates:\n  - {name: a, kind: command, argv: [x], metric: {name: m, json_path: v}}\n",
        "give metric.regex",
    ),
    "coverage-metric-with-regex": (
        "gates:\n  - {name: a, kind: coverage, report: r, baseline: b,"
        " metric: {name: m, regex: '(?P<value>1)'}}\n",
        "metric is the report's total",
    ),
    "sse-with-json": (
        "gates:\n  - {name: a, kind: http, url: 'http://x', expect_json: {a: 1},"
        " expect_sse: {order: [x]}}\n",
        "cannot be combined with expect_json",
    ),
    "head-with-json": (
        "gates:\n  - {name: a, kind: http, url: 'http://x', method: HEAD, expect_json: {a: 1}}\n",
        "a HEAD response has no body",
    ),
    "header-bad-regex": (
        "gates:\n  - {name: a, kind: http, url: 'http://x',"
        " expect_headers: {X-P: {matches: '('}}}\n",
        "invalid regex",
    ),
    "sse-within-first-zero": (
        "gates:\n  - {name: a, kind: http, url: 'http://x',"
        " expect_sse: {within_first: {policy: 0}}}\n",
        "within_first needs a count of at least 1",
    ),
    "timeout-on-a-manual-gate": (
        "gates:\n  - {name: a, kind: manual, timeout_sec: 30}\n",
        "a manual gate runs no timed check",
    ),
    "timeout-on-a-coverage-gate": (
        "gates:\n  - {name: a, kind: coverage, report: r, baseline: b, timeout_sec: 30}\n",
        "a coverage gate runs no timed check",
    ),
    "coverage-max-age-zero": (
        "gates:\n  - {name: a, kind: coverage, report: r, baseline: b, max_age_minutes: 0}\n",
        "max_age_minutes: Input should be greater than 0",
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


def test_relative_thresholds_in_points_parse() -> None:
    threshold = RelativeThreshold.parse(">= -0.5pt")
    assert (threshold.op, threshold.amount, threshold.unit) == (">=", -0.5, "pt")
    assert threshold.percent is None and str(threshold) == ">= -0.5pt"


# -- --all and the profile from AETHERRA_PROFILE ----------------------------------------------


def test_all_runs_every_gate_whatever_the_profile_lists(gates_file) -> None:
    assert plan_run(gates_file, profile="ci", environ={}).names == ["unit"]
    plan = plan_run(gates_file, profile="ci", all_gates=True, environ={})
    assert plan.names == ["unit", "api", "sign"]
    assert plan.env["STAGE"] == "ci"  # the profile's env and strictness still apply


def test_all_and_a_subset_together_are_a_usage_error(gates_file) -> None:
    with pytest.raises(UsageError) as caught:
        plan_run(gates_file, selected=["unit"], all_gates=True, environ={})
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_the_profile_comes_from_aetherra_profile_when_not_given(gates_file) -> None:
    plan = plan_run(gates_file, environ={"AETHERRA_PROFILE": "ci"})
    assert (plan.profile, plan.names) == ("ci", ["unit"])
    assert plan_run(gates_file, profile="default", environ={"AETHERRA_PROFILE": "ci"}).names == [
        "unit",
        "api",
        "sign",
    ]


def test_an_unknown_profile_from_aetherra_profile_is_a_usage_error(gates_file) -> None:
    with pytest.raises(UsageError, match="AETHERRA_PROFILE") as caught:
        plan_run(gates_file, environ={"AETHERRA_PROFILE": "test"})
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_the_shipped_gates_file_is_valid() -> None:
    gates_file = load_gates_file("deployments/gates.yaml")
    assert "unit-tests" in gates_file.names
    assert plan_run(gates_file, profile="ci", environ={}).names
