"""prefect.yaml's deployments are checked at the CLI boundary: the flows they name import there.

tasks/platform/configs.py validates every other config; it hands each prefect.yaml to the check
its caller passes, since tasks/ never imports flows/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli.prefect_yaml import check_prefect_yaml, load_entrypoint
from tasks.platform.configs import validate_configs

FLOW = "flows/go_no_go.py:go_no_go_gates"


# fmt: off
BAD_ENTRYPOINTS = [
    pytest.param("flows/go_no_go.py", ValueError, id="no-function"),
    pytest.param("flows.go_no_go:go_no_go_gates", ValueError, id="not-a-file-path"),
    pytest.param("flows/nope.py:missing", ModuleNotFoundError, id="no-such-module"),
    pytest.param("flows/go_no_go.py:nope", AttributeError, id="no-such-function"),
]
# fmt: on


@pytest.mark.parametrize(("entrypoint", "error"), BAD_ENTRYPOINTS)
def test_a_bad_entrypoint_raises_its_error_type(entrypoint: str, error: type) -> None:
    with pytest.raises(error):
        load_entrypoint(entrypoint)


def test_an_entrypoint_loads_its_flow() -> None:
    assert load_entrypoint(FLOW).name == "go-no-go-gates"


# fmt: off
NO_DEPLOYMENTS = [
    pytest.param(None, id="empty-file"),
    pytest.param(["a"], id="not-a-mapping"),
    pytest.param({"name": "x"}, id="no-deployments-key"),
    pytest.param({"deployments": []}, id="empty-list"),
    pytest.param({"deployments": {"a": 1}}, id="not-a-list"),
]
# fmt: on


@pytest.mark.parametrize("data", NO_DEPLOYMENTS)
def test_a_file_without_a_deployments_list_is_one_problem(data: Any) -> None:
    assert len(check_prefect_yaml(Path("prefect.yaml"), data)) == 1


def test_each_bad_deployment_is_one_problem_naming_it() -> None:
    data = {
        "deployments": [
            {"name": "good", "entrypoint": FLOW, "parameters": {"interactive": True}},
            {"name": "missing", "entrypoint": "flows/nope.py:missing"},
            {"name": "bad-params", "entrypoint": FLOW, "parameters": {"sign_off_timeout_sec": []}},
        ]
    }
    problems = check_prefect_yaml(Path("prefect.yaml"), data)
    assert len(problems) == 2
    assert "'missing'" in problems[0] and "ModuleNotFoundError" in problems[0]
    assert "'bad-params'" in problems[1] and "ParameterTypeError" in problems[1]


def test_a_deployment_trigger_is_refused_reactions_live_in_automations_yaml() -> None:
    trigger = {"type": "event", "expect": ["warden.x"]}
    data = {"deployments": [{"name": "t", "entrypoint": FLOW, "triggers": [trigger]}]}
    (problem,) = check_prefect_yaml(Path("prefect.yaml"), data)
    assert "'t'" in problem and "automations.yaml" in problem


def test_validate_configs_hands_each_prefect_yaml_to_the_given_check(tmp_path: Path) -> None:
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text("deployments: []\n")
    (tmp_path / "other.yaml").write_text("just: data\n")
    seen: list[Path] = []

    def check(path: Path, data: Any) -> list[str]:
        seen.append(path)
        return ["checked"]

    files, problems = validate_configs([tmp_path], prefect_yaml=check)
    assert files == [tmp_path / "other.yaml", prefect_yaml]
    assert (seen, problems) == ([prefect_yaml], ["checked"])


@pytest.mark.parametrize("entry", ["- just-a-name", "- [a, list]", "- 42"])
def test_a_deployment_that_is_not_a_mapping_is_one_problem_at_its_line(
    tmp_path: Path, entry: str
) -> None:
    path = tmp_path / "prefect.yaml"
    path.write_text(f"deployments:\n  - name: good\n    entrypoint: {FLOW}\n  {entry}\n")
    files, problems = validate_configs([path], prefect_yaml=check_prefect_yaml)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:4: deployments.1: ")


LEG = "flows/gpu_matrix_leg.py:gpu_matrix_leg"  # every parameter required: its caller gives them


# fmt: off
LEFT_TO_CALLER = [
    pytest.param({}, 0, id="unscheduled-leaves-required-to-the-caller"),
    pytest.param({"parameters": {"leg": "nvidia"}}, 0, id="given-ones-valid"),
    pytest.param({"parameters": {"leg": ["x"]}}, 1, id="given-one-invalid"),
    pytest.param({"parameters": {"nope": 1}}, 1, id="unknown-parameter"),
    pytest.param({"schedules": [{"cron": "0 * * * *"}]}, 1, id="scheduled-runs-would-lack-them"),
]
# fmt: on


@pytest.mark.parametrize(("fields", "problems"), LEFT_TO_CALLER)
def test_required_parameters_may_be_left_to_whoever_starts_the_run(fields, problems) -> None:
    data = {"deployments": [{"name": "leg", "entrypoint": LEG, **fields}]}
    assert len(check_prefect_yaml(Path("prefect.yaml"), data)) == problems
