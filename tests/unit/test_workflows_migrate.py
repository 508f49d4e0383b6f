"""Legacy syntax migration: rules files, dry run vs apply, no lost edits, unreadable files."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode
from blocks.migration_rules import EXAMPLE_RULES_YAML, RuleSet, load_rules
from tasks.workflows.migrate import (
    CHANGED_SINCE_PLANNING,
    REPORT_FILE,
    MigrationPlan,
    MigrationSummary,
    apply_migration,
    apply_plan,
    migration_report_md,
    migration_rows,
    migration_summary,
    plan_migration,
    read_text,
    rewrite,
    write_report,
)

LEGACY = "workflow demo\nintent: ship it   \n  intent: nested\nstep: run\n"
MIGRATED = "workflow demo\ngoal: ship it\n  goal: nested\nstep: run\n"
CLEAN = "workflow clean\ngoal: done\n"


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    path = tmp_path / "migration_rules.yaml"
    path.write_text(EXAMPLE_RULES_YAML)
    return load_rules(path)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "workflows"
    root.mkdir()
    (root / "legacy.aether").write_text(LEGACY)
    (root / "clean.aether").write_text(CLEAN)
    (root / "blob.aether").write_bytes(b"intent: x\0\x01")
    (root / "latin1.aether").write_bytes(b"intent: caf\xe9\n")
    return root


def files_of(root: Path) -> list[Path]:
    return sorted(root.iterdir())


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in root.iterdir()
    }


REWRITES = {
    "intent-to-goal-keeps-indent": ("  intent: a\n", "  goal: a\n", {"intent-to-goal": 1}),
    "intent-mid-line-untouched": ("say intent: a\n", "say intent: a\n", {}),
    "trailing-whitespace": ("a \t\nb  \n", "a\nb\n", {"trailing-whitespace": 2}),
    "both": (
        "intent: a \nintent: b\n",
        "goal: a\ngoal: b\n",
        {"intent-to-goal": 2, "trailing-whitespace": 1},
    ),
    "crlf-kept": ("intent: a\r\n", "goal: a\r\n", {"intent-to-goal": 1}),
    "nothing-to-do": ("goal: a\n", "goal: a\n", {}),
}


@pytest.mark.parametrize("case", sorted(REWRITES))
def test_example_rules_rewrite(case: str, rules: RuleSet) -> None:
    text, expected, hits = REWRITES[case]
    new, found = rewrite(text, rules)
    assert new == expected
    assert {hit.rule: hit.count for hit in found} == hits


def test_dry_run_plans_diffs_and_writes_nothing(rules: RuleSet, corpus: Path) -> None:
    before = snapshot(corpus)
    plan = plan_migration(files_of(corpus), rules, root=corpus)
    assert snapshot(corpus) == before  # byte-identical, mtimes and modes untouched
    (change,) = plan.changed
    assert change.path == corpus / "legacy.aether"
    assert change.new == MIGRATED
    assert {hit.rule: hit.count for hit in change.hits} == {
        "intent-to-goal": 2,
        "trailing-whitespace": 1,
    }
    assert change.diff == (
        "--- a/legacy.aether\n+++ b/legacy.aether\n@@ -1,4 +1,4 @@\n workflow demo\n"
        "-intent: ship it   \n-  intent: nested\n+goal: ship it\n+  goal: nested\n step: run\n"
    )
    assert plan.unchanged == [corpus / "clean.aether"]
    assert {item.path.name: item.reason for item in plan.skipped} == {
        "blob.aether": "binary file (NUL byte at offset 9), not a text workflow",
        "latin1.aether": "not valid UTF-8: byte 0xe9 at offset 11",
    }
    assert (plan.total_files, plan.total_changes) == (4, 3)


def test_apply_changes_only_matching_files(rules: RuleSet, corpus: Path) -> None:
    legacy = corpus / "legacy.aether"
    legacy.chmod(0o750)
    os.utime(corpus / "clean.aether", ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(corpus)
    written = apply_migration(plan_migration(files_of(corpus), rules))
    assert written == [legacy]
    assert legacy.read_text() == MIGRATED
    assert oct(legacy.stat().st_mode & 0o777) == oct(0o750)  # mode kept
    after = snapshot(corpus)
    for name in ("clean.aether", "blob.aether", "latin1.aether"):
        assert after[name] == before[name]  # bytes, mtime and mode untouched
    assert not [p for p in corpus.iterdir() if p.name.endswith(".tmp")]


def test_file_changed_since_planning_is_skipped(rules: RuleSet, corpus: Path) -> None:
    legacy = corpus / "legacy.aether"
    plan = plan_migration([legacy], rules)
    legacy.write_text(LEGACY + "intent: added by a colleague\n")
    outcome = apply_plan(plan)
    assert outcome.written == []
    assert [(s.path, s.reason) for s in outcome.skipped] == [(legacy, CHANGED_SINCE_PLANNING)]
    assert legacy.read_text().endswith("intent: added by a colleague\n")  # no lost edit


def test_file_removed_since_planning_is_skipped(rules: RuleSet, corpus: Path) -> None:
    legacy = corpus / "legacy.aether"
    plan = plan_migration([legacy], rules)
    legacy.unlink()
    (skipped,) = apply_plan(plan).skipped
    assert skipped.reason.startswith("unreadable at apply")
    assert not legacy.exists()


def test_symlink_is_followed_and_kept(rules: RuleSet, corpus: Path) -> None:
    link = corpus / "link.aether"
    link.symlink_to(corpus / "legacy.aether")
    assert apply_migration(plan_migration([link], rules)) == [link]
    assert link.is_symlink()
    assert (corpus / "legacy.aether").read_text() == MIGRATED


def test_each_file_is_planned_once(rules: RuleSet, corpus: Path) -> None:
    legacy = corpus / "legacy.aether"
    plan = plan_migration([legacy, legacy], rules)
    assert len(plan.changed) == 1


UNREADABLE = {
    "binary": (b"intent: a\0", "binary file (NUL byte at offset 9), not a text workflow"),
    "undecodable": (b"\xff\xfe", "not valid UTF-8: byte 0xff at offset 0"),
    "too-large": (b"intent: a\n" * 10, "file larger than the size limit of 50 bytes"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unusable_files_are_skipped_with_a_reason(case: str, tmp_path: Path) -> None:
    data, reason = UNREADABLE[case]
    path = tmp_path / case
    path.write_bytes(data)
    assert read_text(path, max_bytes=50) == (None, reason)


def test_missing_and_directory_paths_are_unreadable(tmp_path: Path) -> None:
    assert read_text(tmp_path / "nope") == (None, "file not found")
    assert read_text(tmp_path) == (None, "is a directory, not a file")


def test_file_without_final_newline_gets_a_marked_diff(rules: RuleSet, tmp_path: Path) -> None:
    path = tmp_path / "x.aether"
    path.write_text("intent: a")
    (change,) = plan_migration([path], rules, root=tmp_path).changed
    assert change.diff.endswith("+goal: a\n\\ No newline at end of file\n")


def test_report_for_dry_run_and_apply(rules: RuleSet, corpus: Path) -> None:
    plan = plan_migration(files_of(corpus), rules)
    dry = migration_report_md(plan, applied=False)
    assert "Dry run: nothing was written" in dry
    assert "| file | rules | changes | status |" in dry
    row = "intent-to-goal ×2, trailing-whitespace ×1 | 3 | would change |"
    assert f"| {corpus / 'legacy.aether'} | {row}" in dry
    assert "skipped: binary file (NUL byte at offset" in dry
    assert "4 file(s) scanned, 1 to change, 1 unchanged, 2 skipped; 3 replacement(s)." in dry
    outcome = apply_plan(plan)
    done = migration_report_md(plan, applied=True, outcome=outcome)
    assert "nothing was written" not in done
    assert "| 3 | written |" in done
    assert "1 file(s) written." in done


def test_report_names_files_not_written(rules: RuleSet, corpus: Path) -> None:
    plan = plan_migration([corpus / "legacy.aether"], rules)
    (corpus / "legacy.aether").write_text("edited\n")
    text = migration_report_md(plan, applied=True, outcome=apply_plan(plan))
    assert f"not written: {CHANGED_SINCE_PLANNING}" in text


RULE = "rules:\n  - name: {name}\n    pattern: '{pattern}'\n    replacement: '{replacement}'\n"

INVALID_RULES = {
    "bad-regex": (
        RULE.format(name="broken", pattern="(unclosed", replacement="x"),
        r":2: rules.0: Value error, rule 'broken': pattern does not compile: missing \)",
    ),
    "replacement-unknown-group": (
        RULE.format(name="grp", pattern="(a)", replacement="\\2"),
        r"rule 'grp': invalid replacement: invalid group reference 2",
    ),
    "replacement-unknown-named-group": (
        RULE.format(name="named", pattern="(?P<x>a)", replacement="\\g<y>"),
        r"rule 'named': invalid replacement: unknown group name 'y'",
    ),
    "unknown-flag": (
        RULE.format(name="f", pattern="a", replacement="b") + "    flags: [VERBOSE]\n",
        r":5: rules.0.flags.0: Input should be 'MULTILINE', 'IGNORECASE' or 'DOTALL'",
    ),
    "duplicate-names": (
        RULE.format(name="a", pattern="x", replacement="y")
        + RULE.format(name="a", pattern="z", replacement="w")[7:],
        r"duplicate rule name 'a'",
    ),
    "no-rules": ("rules: []\n", r"rules: List should have at least 1 item"),
    "missing-replacement": (
        "rules:\n  - name: a\n    pattern: x\n",
        r":2: rules.0.replacement: Field required",
    ),
    "unknown-field": (
        RULE.format(name="a", pattern="x", replacement="y") + "    replacment: z\n",
        r":5: rules.0.replacment: Extra inputs are not permitted",
    ),
    "bad-name": (
        RULE.format(name="Has Space", pattern="x", replacement="y"),
        r"rules.0.name: String should match",
    ),
    "empty-file": ("", "file is empty"),
}


@pytest.mark.parametrize("case", sorted(INVALID_RULES))
def test_invalid_rules_files_name_file_line_and_rule(case: str, tmp_path: Path) -> None:
    text, expected = INVALID_RULES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert str(path) in str(caught.value)
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_example_rules_carry_flags_and_descriptions(rules: RuleSet) -> None:
    assert [rule.name for rule in rules.rules] == ["intent-to-goal", "trailing-whitespace"]
    assert all(rule.description for rule in rules.rules)
    assert rules.rules[0].regex.flags & re.MULTILINE


def two_legacy_files(tmp_path: Path, rules: RuleSet) -> MigrationPlan:
    (tmp_path / "a.aether").write_text(LEGACY)
    (tmp_path / "b.aether").write_text("intent: b\n")
    (tmp_path / "c.aether").write_text(CLEAN)
    return plan_migration(sorted(tmp_path.glob("*.aether")), rules, root=tmp_path)


def test_summary_of_a_dry_run_and_of_an_apply(rules: RuleSet, tmp_path: Path) -> None:
    plan = two_legacy_files(tmp_path, rules)
    dry = migration_summary(plan, None, None)
    assert (dry.applied, dry.written, dry.report_file) == (False, [], None)
    assert dry.changed == [tmp_path / "a.aether", tmp_path / "b.aether"]
    assert dry.unchanged == [tmp_path / "c.aether"] and dry.skipped == []
    assert dry.diffs[str(tmp_path / "b.aether")].startswith("--- a/b.aether\n")
    applied = migration_summary(plan, apply_plan(plan), str(tmp_path / REPORT_FILE))
    assert applied.applied and applied.written == dry.changed
    assert applied.report_file == tmp_path / REPORT_FILE
    assert MigrationSummary.model_validate_json(applied.model_dump_json()) == applied


def test_table_rows_name_each_changed_file_and_its_rules(rules: RuleSet, tmp_path: Path) -> None:
    rows = migration_rows(two_legacy_files(tmp_path, rules))
    assert rows == [
        {"file": str(tmp_path / "a.aether"), "rules": "intent-to-goal, trailing-whitespace"},
        {"file": str(tmp_path / "b.aether"), "rules": "intent-to-goal"},
    ]
    nothing = plan_migration([tmp_path / "c.aether"], rules)
    assert migration_rows(nothing) == [{"file": "(no file changed)", "rules": ""}]


def test_the_report_file_is_written_only_when_several_files_change(
    rules: RuleSet, tmp_path: Path
) -> None:
    plan = two_legacy_files(tmp_path, rules)
    written = write_report(plan, "# report\n", tmp_path / "out")
    assert written == tmp_path / "out" / REPORT_FILE and written.read_text() == "# report\n"
    one = plan_migration([tmp_path / "b.aether"], rules)
    assert write_report(one, "# report\n", tmp_path / "none") is None
    assert not (tmp_path / "none").exists()
