"""The automations file (blocks/automations.py) validated whole with file:line errors, and what
applying it changes (tasks/guard/reactions.py), on plain data without a Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from blocks.automations import (
    REACTABLE_EVENTS,
    VERDICT_LABEL,
    AutomationsFile,
    load_automations_file,
)
from blocks.errors import ConfigError, ExitCode
from tasks.gates.models import GateVerdict
from tasks.guard.reactions import (
    AutomationChange,
    ChangeKind,
    Existing,
    definition,
    describe_changes,
    plan_changes,
)
from tasks.matrix.evidence import Verdict
from tests.conftest import ROOT

SHED = {
    "name": "warden-shed",
    "description": "shed",
    "event": "warden.orchestrator.queue-critical",
    "actions": [
        {
            "type": "run-deployment",
            "deployment": "orchestration-load-shedding/on-demand",
            "parameters": {"pool": "{{ event.payload.pool }}"},
        }
    ],
}
NOTIFY = {
    "name": "warden-notify",
    "description": "no-go",
    "event": "warden.go-no-go.verdict",
    "match": {VERDICT_LABEL: "no-go"},
    "actions": [{"type": "send-notification", "subject": "s", "body": "{{ event.id }}"}],
}


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "automations.yaml"
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    path.write_text(text)
    return path


def a_file(*automations: dict, block: str | None = "custom-webhook/op") -> dict:
    return {"notification_block": block, "automations": list(automations)}


def test_the_shipped_file_loads_with_one_reaction_per_case() -> None:
    spec = load_automations_file(ROOT / "deployments" / "automations.yaml")
    events = {a.event for a in spec.automations}
    assert events == {
        "warden.orchestrator.queue-critical",
        "warden.gpu-matrix.verdict",
        "warden.gauntlet.rollback",
        "warden.go-no-go.verdict",
    }
    assert all(a.name.startswith("warden-") for a in spec.automations)


def test_the_verdict_labels_are_the_flows_verdicts() -> None:
    labels = {
        "warden.gpu-matrix.verdict": {str(v) for v in Verdict},
        "warden.go-no-go.verdict": {str(v) for v in GateVerdict},
    }
    for event, values in labels.items():
        assert REACTABLE_EVENTS[event][VERDICT_LABEL] == values


def bad(automation_update: dict, **file_update) -> dict:
    return a_file({**NOTIFY, **automation_update}) | file_update


# fmt: off
BAD_FILES = [
    pytest.param("automations: [\n  - name: x\n  bad", 2, id="malformed-yaml"),
    pytest.param(bad({"event": "warden.nothing.happened"}), 5, id="unknown-event"),
    pytest.param(bad({"actions": [{"type": "page-someone"}]}), 9, id="unknown-action-type"),
    pytest.param(bad({"actions": [{"type": "run-deployment", "deployment": "no-slash"}]}), 10,
                 id="deployment-not-flow-slash-name"),
    pytest.param(bad({"actions": [{"type": "send-notification", "subject": "{{ x", "body": "b"}]}),
                 10, id="bad-template"),
    pytest.param(bad({"actions": []}), 8, id="no-action"),
    pytest.param(bad({"match": {"warden.colour": "red"}}), 3, id="unknown-label"),
    pytest.param(bad({"match": {VERDICT_LABEL: "maybe"}}), 3, id="unknown-label-value"),
    pytest.param(bad({"name": "shed-things"}), 3, id="name-not-warden-"),
    pytest.param(bad({"when": "always"}), 12, id="unknown-field"),
    pytest.param(bad({}, notification_block=None), 1, id="notification-without-block"),
    pytest.param(a_file(NOTIFY, NOTIFY), 1, id="duplicate-names"),
    pytest.param({"automations": []}, 1, id="no-automations"),
]
# fmt: on


@pytest.mark.parametrize(("document", "line"), BAD_FILES)
def test_a_bad_file_is_a_config_error_naming_file_and_line(
    tmp_path: Path, document: object, line: int
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_automations_file(path)
    assert caught.value.code == ExitCode.USAGE_ERROR
    where = [*caught.value.problems, caught.value.message]
    assert any(f"{path}:{line}" in text for text in where), where


def test_where_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, a_file(NOTIFY, SHED))
    spec = load_automations_file(path)
    assert spec.where("automations", 1, "actions", 0, "deployment") == (
        f"{path}:17: automations.1.actions.0.deployment"
    )


def existing(name: str, wanted: dict, tags=("t",), id_: str = "id-1") -> Existing:
    return Existing(id=id_, name=name, tags=list(tags), definition={"id": id_, **wanted})


DEFINITION = {"name": "a", "description": "d", "enabled": True, "trigger": {"id": "x", "k": 1}}


def test_enabled_ids_and_the_triggers_id_are_not_part_of_a_definition() -> None:
    other = DEFINITION | {"enabled": False, "trigger": {"id": "y", "k": 1}, "id": "z"}
    assert definition(other) == definition(DEFINITION)
    assert definition(DEFINITION | {"description": "e"}) != definition(DEFINITION)


# fmt: off
PLANS = [
    pytest.param([], [("a", ChangeKind.CREATE, None)], id="new-created"),
    pytest.param([existing("a", DEFINITION | {"enabled": False})],
                 [("a", ChangeKind.UNCHANGED, "id-1")], id="same-left-alone-even-if-toggled"),
    pytest.param([existing("a", DEFINITION | {"description": "old"})],
                 [("a", ChangeKind.UPDATE, "id-1")], id="changed-updated"),
    pytest.param([existing("a", DEFINITION, tags=(), id_="legacy")],
                 [("a", ChangeKind.DELETE, "legacy"), ("a", ChangeKind.CREATE, None)],
                 id="same-name-not-ours-replaced"),
    pytest.param([existing("a", DEFINITION), existing("a", DEFINITION, id_="id-2")],
                 [("a", ChangeKind.DELETE, "id-2"), ("a", ChangeKind.UNCHANGED, "id-1")],
                 id="duplicate-deleted"),
    pytest.param([existing("gone", DEFINITION, id_="old")],
                 [("a", ChangeKind.CREATE, None), ("gone", ChangeKind.DELETE, "old")],
                 id="left-the-file-deleted"),
    pytest.param([existing("theirs", DEFINITION, tags=(), id_="op")],
                 [("a", ChangeKind.CREATE, None)], id="an-operators-own-untouched"),
]
# fmt: on


@pytest.mark.parametrize(("on_api", "expected"), PLANS)
def test_plan_changes(on_api: list[Existing], expected: list[tuple]) -> None:
    changes = plan_changes({"a": DEFINITION}, on_api, "t")
    assert [(c.name, c.kind, c.id) for c in changes] == expected


def test_describe_changes_says_what_waits_for_its_block() -> None:
    changes = [
        AutomationChange(name="a", kind=ChangeKind.CREATE),
        AutomationChange(name="b", kind=ChangeKind.UNCHANGED, disabled_because="waiting for X"),
    ]
    assert describe_changes(changes) == (
        "automations: created a; unchanged b\n  b: disabled, waiting for X"
    )


def test_the_model_is_the_one_config_validation_uses(tmp_path: Path) -> None:
    from tasks.platform.configs import _model_for

    assert _model_for(a_file(NOTIFY)) is AutomationsFile


class NoDeploymentsApi:
    """A Prefect client with neither the notification block nor any deployment: applying must
    stop before it reads or writes a single automation."""

    def read_block_document_by_name(self, name: str, block_type_slug: str = ""):
        from prefect.exceptions import ObjectNotFound

        raise ObjectNotFound(http_exc=Exception(name))

    read_deployment_by_name = read_block_document_by_name

    def __getattr__(self, name: str):
        raise AssertionError(f"{name} called before every name was resolved")


def test_a_deployment_missing_from_the_api_stops_the_apply_naming_file_and_line(
    tmp_path: Path,
) -> None:
    from tasks.guard.automation_writes import apply_automations

    path = write(tmp_path, a_file(NOTIFY, SHED))
    with pytest.raises(ConfigError) as caught:
        apply_automations(NoDeploymentsApi(), load_automations_file(path))
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert caught.value.message.startswith(f"{path}:17: automations.1.actions.0.deployment")
