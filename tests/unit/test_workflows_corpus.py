"""Planning a classification run: defaults, overrides, settings refused because they would do
nothing, runs without a workflows file, and corpora that hold nothing to check."""

from __future__ import annotations

from pathlib import Path

import pytest

import blocks.workflows as workflows_config
from blocks.errors import ConfigError, ExitCode, UsageError
from blocks.workflows import Corpus, NoCorpusToRun, WorkflowsFile, adhoc_workflows_file
from tasks.workflows.classify import NothingToCheck, discover_corpus
from tasks.workflows.corpus import InertOption, UnknownCorpus, plan_corpus, suppression_list


def config(**corpus: object) -> WorkflowsFile:
    return WorkflowsFile(corpora={"main": Corpus(paths=["flows"], **corpus)})


def test_jobs_default_to_the_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows_config.os, "sched_getaffinity", lambda pid: set(range(7)))
    assert Corpus(paths=["flows"]).jobs == 7
    assert plan_corpus(config(), "main").corpus.jobs == 7
    assert plan_corpus(config(jobs=3), "main").corpus.jobs == 3
    assert plan_corpus(config(jobs=3), "main", jobs=5).corpus.jobs == 5


# fmt: off
REFUSED = [
    pytest.param({"checker": "yaml", "mode": "execute"}, id="yaml-cannot-execute"),
    pytest.param({"checker": "python", "schema": "s.json"}, id="schema-without-yaml"),
]
# fmt: on


@pytest.mark.parametrize("fields", REFUSED)
def test_a_setting_the_checker_would_ignore_is_refused(fields: dict) -> None:
    with pytest.raises(ValueError):
        Corpus.model_validate({"paths": ["flows"], **fields})


def test_an_override_that_cannot_run_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        plan_corpus(config(checker="yaml"), "main", mode="execute")
    assert caught.value.code == ExitCode.USAGE_ERROR


def test_history_dir_and_patterns_override_the_file(tmp_path: Path) -> None:
    plan = plan_corpus(config(), "main", patterns=["*.aether"], snapshots_dir=str(tmp_path))
    assert plan.corpus.patterns == ["*.aether"]
    assert plan.snapshots_dir == str(tmp_path) and plan.record


def test_history_dir_without_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InertOption) as caught:
        plan_corpus(config(), "main", snapshots_dir=str(tmp_path), record=False)
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert "--history-dir" in caught.value.message  # the one message test: it names the option


def test_a_run_without_a_workflows_file_needs_paths_and_a_checker() -> None:
    made = adhoc_workflows_file("adhoc", ["flows"], "python")
    assert made.corpora["adhoc"].patterns == ["*.py"]
    assert made.corpora["adhoc"].mode == "parse"
    assert adhoc_workflows_file("adhoc", ["x"], "yaml").corpora["adhoc"].patterns == [
        "*.yaml",
        "*.yml",
    ]
    for paths, checker in [(None, "python"), (["flows"], None)]:
        with pytest.raises(NoCorpusToRun) as caught:
            adhoc_workflows_file("adhoc", paths, checker)
        assert caught.value.code == ExitCode.USAGE_ERROR
    with pytest.raises(ConfigError) as caught:
        adhoc_workflows_file("adhoc", ["flows"], "cat")  # a command without {file}
    assert not isinstance(caught.value, NoCorpusToRun)


def test_a_folder_with_nothing_to_check_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.py").write_text("x = 1\n")
    (tmp_path / "full" / "notes.txt").write_text("")
    assert discover_corpus([tmp_path / "full"], ["*.py"]) == [tmp_path / "full" / "a.py"]
    with pytest.raises(NothingToCheck) as caught:
        discover_corpus([tmp_path / "full", tmp_path / "empty"], ["*.py"])
    assert caught.value.code == ExitCode.USAGE_ERROR
    assert str(tmp_path / "empty") in caught.value.message
    with pytest.raises(NothingToCheck):
        discover_corpus([tmp_path / "full"], ["*.aether"])


def test_the_suppression_list_for_gating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path))
    assert suppression_list(False, None) is None
    assert suppression_list(True, None) == tmp_path / "workflow_suppressions.txt"
    given = WorkflowsFile(suppressions=str(tmp_path / "team.txt"), corpora=config().corpora)
    assert suppression_list(True, None, given) == tmp_path / "team.txt"
    assert suppression_list(True, str(tmp_path / "x.txt"), given) == tmp_path / "x.txt"
    with pytest.raises(InertOption):
        suppression_list(False, str(tmp_path / "x.txt"))


def test_an_unknown_corpus_is_its_own_usage_error() -> None:
    with pytest.raises(UnknownCorpus) as caught:  # its message: tests/flows/test_cli_workflows.py
        plan_corpus(config(), "nope")
    assert caught.value.code == ExitCode.USAGE_ERROR
