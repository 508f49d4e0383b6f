"""The intent router's pure parts: the intents file, tiers, alignment, parameter checks, HMAC
proofs and quorum counting."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from blocks.errors import ConfigError, IntentCode, IntentInputError
from blocks.intents import TIER_NAMES, load_intents_file
from tasks.intents.proofs import Ballot, Choice, Tally, proof
from tasks.intents.routing import (
    Intent,
    alignment,
    base_answer,
    check_parameters,
    priority_of,
    run_tags,
    tier_of,
)
from tests.conftest import ROOT

INTENTS = load_intents_file(ROOT / "deployments" / "intents.yaml")
SECRETS = {"alice": "s-alice", "bob": "s-bob", "carol": "s-carol"}
RUN = "7d4c6c1e-0000-4000-8000-000000000001"
SCHEMA = {
    "type": "object",
    "properties": {"target": {"type": "string"}, "retries": {"type": "integer"}},
    "required": ["target"],
}


def ballot(who: str, decision: str = "approve", run: str = RUN, secret: str | None = None):
    key = secret if secret is not None else SECRETS.get(who, "x")
    return Ballot(approver=who, decision=decision, proof=proof(key, run, decision))


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("modify_governance", 0),
        ("change_charter", 0),
        ("execute_sandbox", 1),
        ("deploy_model", 1),
        ("query_knowledge", 2),
        ("schedule_task", 2),
        ("self_improve", 3),
        ("extend_grace", 3),
        ("emergency_recovery", 4),
    ],
)
def test_the_shipped_file_maps_the_seeds_intents_to_their_tiers(name: str, tier: int) -> None:
    entry = tier_of(INTENTS, Intent(intent_type=name, actor="a"))
    assert entry.tier == tier
    answer = base_answer(Intent(intent_type=name, actor="a"), entry, INTENTS)
    assert (answer.autonomy_tier, answer.tier_name) == (tier, TIER_NAMES[tier])
    assert answer.requires_vote is (tier == 3)
    assert not answer.approved and answer.routed_to == entry.deployment


def test_unknown_type_and_missing_actor_are_bad_input() -> None:
    with pytest.raises(IntentInputError) as unknown:
        tier_of(INTENTS, Intent(intent_type="launch_rockets", actor="a"))
    assert unknown.value.reason is IntentCode.UNKNOWN_INTENT and unknown.value.code == 2
    with pytest.raises(IntentInputError) as no_actor:
        tier_of(INTENTS, Intent(intent_type="query_knowledge", actor="  "))
    assert no_actor.value.reason is IntentCode.MISSING_ACTOR


def test_alignment_is_the_highest_charter_weight_named_else_the_baseline() -> None:
    charter = INTENTS.charter
    assert alignment({"resilience_impact": True, "learning": True}, charter, 0.5) == 1.0
    assert alignment({"revenue_impact": True}, charter, 0.5) == 0.8
    assert alignment({"autonomy": 1, "resilience": False}, charter, 0.5) == 0.7
    assert alignment({}, charter, 0.5) == 0.5
    with pytest.raises(IntentInputError) as bad:
        alignment({"glory_impact": True}, charter, 0.5)
    assert bad.value.reason is IntentCode.BAD_CONTEXT


def test_the_score_sets_the_priority_tag_the_load_shedding_reads() -> None:
    assert [priority_of(s) for s in (0.0, 0.6, 0.74, 1.0)] == [0, 6, 7, 10]
    entry = INTENTS.intent("emergency_recovery")
    intent = Intent(intent_type="emergency_recovery", actor="ops")
    assert run_tags(entry, intent, 1.0)[:2] == ["tier:4", "priority:10"]
    answer = base_answer(
        intent.model_copy(update={"mission_context": {"revenue": True}}), entry, INTENTS
    )
    assert answer.priority == 8 and any("80%" in r for r in answer.reasoning)


def test_parameters_are_checked_against_the_deployments_schema_with_its_defaults() -> None:
    check_parameters({"retries": 2}, SCHEMA, {"target": "demo"})  # the default fills target
    for params, defaults in (({"retries": "two"}, {"target": "x"}), ({}, {}), ({"nope": 1}, {})):
        with pytest.raises(IntentInputError) as bad:
            check_parameters(params, SCHEMA, defaults)
        assert bad.value.reason is IntentCode.BAD_PARAMETERS


def test_a_proof_is_the_hex_hmac_of_run_and_decision() -> None:
    expected = hmac.new(b"k", f"{RUN}:approve".encode(), hashlib.sha256).hexdigest()
    assert proof("k", RUN, "approve") == expected
    assert proof("k", RUN, Choice.REJECT) != expected


def test_a_valid_proof_counts_and_wrong_foreign_or_other_decision_proofs_do_not() -> None:
    tally = Tally(flow_run_id=RUN, quorum=1)
    wrong_secret = tally.judge(ballot("alice", secret="guess"), SECRETS)
    other_run = tally.judge(ballot("alice", run="another-run"), SECRETS)
    forged = Ballot(approver="alice", decision="approve", proof=proof("s-alice", RUN, "reject"))
    other_decision = tally.judge(forged, SECRETS)
    stranger = tally.judge(ballot("mallory", secret="s-mallory"), SECRETS)
    assert not any(j.counted for j in (wrong_secret, other_run, other_decision, stranger))
    assert not tally.reached
    assert tally.judge(ballot("alice"), SECRETS).counted and tally.reached


def test_a_quorum_counts_distinct_approvers_and_a_reused_proof_is_rejected() -> None:
    tally = Tally(flow_run_id=RUN, quorum=2)
    first = ballot("alice")
    assert tally.judge(first, SECRETS).counted
    again = tally.judge(first, SECRETS)  # the same approver, the same proof, twice
    assert not again.counted and not tally.reached
    assert tally.approvers == ["alice"]
    assert tally.judge(ballot("bob"), SECRETS).counted
    assert tally.reached and tally.approvers == ["alice", "bob"]


def test_a_proven_rejection_vetoes_the_proposal() -> None:
    tally = Tally(flow_run_id=RUN, quorum=2)
    tally.judge(ballot("alice"), SECRETS)
    assert tally.judge(ballot("bob", "reject"), SECRETS).counted
    tally.judge(ballot("carol"), SECRETS)
    assert tally.rejected_by is not None and not tally.reached


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intents.yaml"
    path.write_text(text)
    return path


APPROVERS = "approvers:\n  - {name: alice, secret_block: a}\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (APPROVERS + "intents:\n  - {name: x, tier: 5, deployment: f/d}\n", 4),
        (APPROVERS + "intents:\n  - {name: x, tier: 1, deployment: nodash}\n", 4),
        (APPROVERS + "quorum: 2\nintents:\n  - {name: x, tier: 1, deployment: f/d}\n", None),
        (APPROVERS + "intents:\n  - {name: x, tier: 1, deployment: f/d, extra: 1}\n", 4),
        ("charter: {resilience: 1.5}\n" + APPROVERS + "intents: []\n", None),
    ],
)
def test_a_bad_intents_file_is_refused_with_its_place(
    tmp_path: Path, text: str, line: int | None
) -> None:
    with pytest.raises(ConfigError) as bad:
        load_intents_file(write(tmp_path, text))
    assert bad.value.code == 2 and bad.value.problems
    if line is not None:
        assert any(f"intents.yaml:{line}" in p for p in bad.value.problems)


def test_every_intent_routes_to_a_deployment_of_prefect_yaml() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    flows = {}
    for entry in data["deployments"]:
        module, _, function = entry["entrypoint"].partition(":")
        source = (ROOT / module).read_text()
        name = source.split(f"def {function}(")[0].rsplit('name="', 1)[1].split('"')[0]
        flows[f"{name}/{entry['name']}"] = entry
    assert "route-intent/default" in flows and "schedules" not in flows["route-intent/default"]
    missing = [i.deployment for i in INTENTS.intents if i.deployment not in flows]
    assert not missing, missing
