"""Discovery, batches, classify_batch (suppression, crashing checker), summaries, pools."""

from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from blocks.errors import ConfigError
from tasks.workflows.checkers import PythonChecker
from tasks.workflows.classify import (
    WorkerPool,
    batches,
    classify_batch,
    discover,
    summarize,
)
from tasks.workflows.fingerprint import fingerprint
from tasks.workflows.models import CheckStatus, FileResult, Phase, WorkflowCode


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    for name in ["b.py", "a.py", "sub/c.py", "sub/deep/d.py", "sub/e.yaml", ".hidden/f.py"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    return tmp_path


# fmt: off
DISCOVERY = [
    # inputs (relative), patterns, limit, expected (relative)
    pytest.param(["."], ["*.py"], None, ["a.py", "b.py", "sub/c.py", "sub/deep/d.py"],
                 id="walk-skips-hidden"),
    pytest.param(["."], ["*.py", "*.yaml"], None,
                 ["a.py", "b.py", "sub/c.py", "sub/deep/d.py", "sub/e.yaml"], id="two-patterns"),
    pytest.param(["sub", "sub/c.py", "./sub/c.py"], ["*.py"], None, ["sub/c.py", "sub/deep/d.py"],
                 id="deduplicated"),
    pytest.param(["sub/e.yaml"], ["*.py"], None, ["sub/e.yaml"], id="direct-file-kept"),
    pytest.param([".hidden/f.py"], ["*.py"], None, [".hidden/f.py"], id="direct-hidden-kept"),
    pytest.param(["gone.py"], ["*.py"], None, ["gone.py"], id="missing-kept-to-be-reported"),
    pytest.param(["."], ["*.py"], 2, ["a.py", "b.py"], id="limit"),
    pytest.param(["."], ["*.py"], 0, [], id="limit-zero"),
]
# fmt: on


@pytest.mark.parametrize(("inputs", "patterns", "limit", "expected"), DISCOVERY)
def test_discover(
    corpus: Path, inputs: list[str], patterns: list[str], limit: int | None, expected: list[str]
) -> None:
    found = discover([corpus / name for name in inputs], patterns, limit)
    assert [p.resolve().relative_to(corpus).as_posix() for p in found] == expected


@pytest.mark.parametrize(
    ("items", "size", "expected"),
    [
        ([], 3, []),
        ([1, 2, 3], 3, [[1, 2, 3]]),
        ([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]),
        ([1, 2], 10, [[1, 2]]),
    ],
)
def test_batches(items: list[int], size: int, expected: list[list[int]]) -> None:
    assert batches(items, size) == expected


def test_batches_reject_a_size_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], 0)


class ScriptedChecker:
    """Answers from a table by file name; raises for names it was told to crash on."""

    name = "scripted"

    def __init__(self, answers: dict[str, tuple[WorkflowCode, str, int | None]]) -> None:
        self.answers = answers

    def check(self, path: Path, phase: Phase) -> tuple[CheckStatus, bool]:
        answer = self.answers[path.name]
        if answer is None:
            raise RuntimeError("checker bug\nsecond line")
        code, message, line = answer
        ok = code is WorkflowCode.SUCCESS
        status = CheckStatus(
            ok=ok, code=code, file=str(path), phase=phase, message=message, line=line
        )
        return status, True


ANSWERS = {
    "ok.wf": (WorkflowCode.SUCCESS, "", None),
    "parse.wf": (WorkflowCode.PARSE_ERROR, "Parse error (assignment) line 12: goal", 12),
    "parse2.wf": (WorkflowCode.PARSE_ERROR, "Parse error (assignment) line 12: goal", 12),
    "sig.wf": (WorkflowCode.SIGNATURE_ERROR, "unsigned", None),
    "io.wf": (WorkflowCode.IO_ERROR, "file not found", None),
    "crash.wf": None,
}
SUPPRESSED = frozenset({fingerprint("PARSE_ERROR", 12, "Parse error (assignment) line 12: goal")})


def classified() -> list[FileResult]:
    return classify_batch(list(ANSWERS), ScriptedChecker(ANSWERS), Phase.PARSE, SUPPRESSED)


# fmt: off
ROWS = [
    # file, ok, code, category, suppressed, has fingerprint
    ("ok.wf", True, WorkflowCode.SUCCESS, "OK", False, False),
    ("parse.wf", False, WorkflowCode.PARSE_ERROR, "Suppressed-ParseError", True, True),
    ("parse2.wf", False, WorkflowCode.PARSE_ERROR, "Suppressed-ParseError", True, True),
    ("sig.wf", False, WorkflowCode.SIGNATURE_ERROR, "SignatureMissing", False, True),
    ("io.wf", False, WorkflowCode.IO_ERROR, "Other", False, True),
    ("crash.wf", False, WorkflowCode.INTERNAL_ERROR, "Other", False, True),
]
# fmt: on


@pytest.mark.parametrize(("name", "ok", "code", "category", "suppressed", "marked"), ROWS)
def test_classify_batch_rows(
    name: str, ok: bool, code: WorkflowCode, category: str, suppressed: bool, marked: bool
) -> None:
    row = {r.path: r for r in classified()}[name]
    assert (row.ok, row.code, row.code_name) == (ok, int(code), code.name)
    assert (row.category, row.suppressed) == (category, suppressed)
    assert (row.fingerprint is not None) is marked
    assert row.duration_sec >= 0


def test_classify_batch_keeps_order_and_survives_a_crash() -> None:
    results = classified()
    assert [r.path for r in results] == list(ANSWERS)
    crash = results[-1]
    assert crash.message == "checker crashed: RuntimeError: checker bug"
    assert crash.structured is False


def test_summarize_counts() -> None:
    summary = summarize(classified())
    assert (summary.total, summary.failed, summary.suppressed_failures) == (6, 3, 2)
    assert summary.by_category == {
        "OK": 1,
        "Other": 2,
        "SignatureMissing": 1,
        "Suppressed-ParseError": 2,
    }
    assert summary.by_code == {
        "INTERNAL_ERROR": 1,
        "IO_ERROR": 1,
        "PARSE_ERROR": 2,
        "SIGNATURE_ERROR": 1,
        "SUCCESS": 1,
    }
    assert summarize([]).total == 0


def _sample_files(tmp_path: Path) -> list[str]:
    texts = ["x = 1\n", "y = (\n", "print(nope)\n", "z = 2\n", "def f(:\n"]
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"w{index}.py"
        path.write_text(text)
        paths.append(str(path))
    paths.insert(2, str(tmp_path / "missing.py"))
    return paths


def timeless(groups: list[list[FileResult]]) -> list[list[FileResult]]:
    return [[r.model_copy(update={"duration_sec": 0.0}) for r in rows] for rows in groups]


SAMPLE_CODES = [
    "SUCCESS",
    "PARSE_ERROR",
    "IO_ERROR",
    "VALIDATION_ERROR",
    "SUCCESS",
    "PARSE_ERROR",
]


def test_worker_pool_matches_classify_batch_from_threads_in_other_processes(
    tmp_path: Path,
) -> None:
    paths = _sample_files(tmp_path)
    suppressed = fingerprint("PARSE_ERROR", 1, "SyntaxError: '(' was never closed")
    with WorkerPool(2, "python", {"timeout_sec": 5}) as pool:
        with ThreadPoolExecutor(4) as threads:
            chunks = batches(paths, 2) * 3
            answers = list(
                threads.map(
                    lambda c: pool.classify(c, Phase.PARSE, frozenset([suppressed])), chunks
                )
            )
        workers = {w.proc.pid for w in pool._started}
    assert [r.path for r in answers[0] + answers[1] + answers[2]] == paths
    assert [r.code_name for rows in answers[:3] for r in rows] == SAMPLE_CODES
    assert answers[0][1].suppressed and answers[0][1].category == "Suppressed-ParseError"
    assert timeless(answers[:3]) == timeless(answers[3:6]) == timeless(answers[6:])
    in_process = classify_batch(paths, PythonChecker(), Phase.PARSE, frozenset([suppressed]))
    assert timeless(answers[:3]) == timeless([in_process[0:2], in_process[2:4], in_process[4:]])
    assert 1 <= len(workers) <= 2 and os.getpid() not in workers  # never more than jobs


def test_worker_pool_replaces_a_dead_worker_and_retries_the_batch(tmp_path: Path) -> None:
    paths = _sample_files(tmp_path)
    with WorkerPool(1, "python", {"timeout_sec": 5}) as pool:
        first = pool.classify(paths, Phase.PARSE, frozenset())
        victim = pool._started[0].proc
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        again = pool.classify(paths, Phase.PARSE, frozenset())
        assert pool._started[0].proc.pid != victim.pid
    assert timeless([again]) == timeless([first])
    assert [r.code_name for r in again] == [r.code_name for r in first] == SAMPLE_CODES


def test_worker_pool_turns_a_batch_that_keeps_killing_workers_into_internal_errors(
    tmp_path: Path,
) -> None:
    """The worker dies on every request (its interpreter is told to exit on start): the
    batch comes back as INTERNAL_ERROR rows naming the worker's exit, nothing lost."""
    paths = _sample_files(tmp_path)
    pool = WorkerPool(1, "python", {"timeout_sec": 5})
    pool._argv = [
        sys.executable,
        "-c",
        "import sys; print('cannot start', file=sys.stderr); sys.exit(3)",
    ]
    with pool:
        rows = pool.classify(paths, Phase.PARSE, frozenset())
    assert [r.path for r in rows] == paths
    assert {r.code_name for r in rows} == {"INTERNAL_ERROR"}
    assert "batch worker" in rows[0].message and "exit status 3" in rows[0].message
    assert "cannot start" in rows[0].message


WRONG_REPLIES = {
    "a-row-missing": "rows[:-1]",
    "rows-reordered": "rows[::-1]",
    "a-row-for-another-file": "[dict(rows[0], path='elsewhere.py'), *rows[1:]]",
}


@pytest.mark.parametrize("case", sorted(WRONG_REPLIES))
def test_worker_pool_rejects_a_reply_that_does_not_answer_every_file(
    tmp_path: Path, case: str
) -> None:
    """A worker that answers for other files than it was asked about loses none of them: the
    batch is retried, then reported as INTERNAL_ERROR rows."""
    paths = _sample_files(tmp_path)
    script = (
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    paths = json.loads(line)['paths']\n"
        "    rows = [dict(path=p, ok=True, code=0, code_name='SUCCESS', category='OK',\n"
        "                 phase='parse') for p in paths]\n"
        f"    print(json.dumps({{'results': {WRONG_REPLIES[case]}}}), flush=True)\n"
    )
    pool = WorkerPool(1, "python", {"timeout_sec": 5})
    pool._argv = [sys.executable, "-c", script]
    with pool:
        rows = pool.classify(paths, Phase.PARSE, frozenset())
    assert [r.path for r in rows] == paths
    assert {r.code_name for r in rows} == {"INTERNAL_ERROR"}


# fmt: off
CONTRADICTORY_RECORDS = [
    pytest.param(CheckStatus, {"ok": True, "code": 20, "file": "f", "phase": "parse"},
                 id="status-ok-with-failure-code"),
    pytest.param(CheckStatus, {"ok": False, "code": 0, "file": "f", "phase": "parse"},
                 id="status-failed-with-success-code"),
    pytest.param(FileResult, {"path": "f", "ok": True, "code": 20, "code_name": "PARSE_ERROR",
                              "category": "OK", "phase": "parse"}, id="row-ok-with-failure-code"),
    pytest.param(FileResult, {"path": "f", "ok": False, "code": 20, "code_name": "SUCCESS",
                              "category": "ParseError", "phase": "parse"},
                 id="row-code-name-mismatch"),
    pytest.param(FileResult, {"path": "f", "ok": False, "code": 99, "code_name": "X",
                              "category": "Other", "phase": "parse"}, id="row-unknown-code"),
    pytest.param(FileResult, {"path": "f", "ok": True, "code": 0, "code_name": "SUCCESS",
                              "category": "OK", "phase": "parse", "suppressed": True},
                 id="row-suppressed-pass"),
]
# fmt: on


@pytest.mark.parametrize(("model", "fields"), CONTRADICTORY_RECORDS)
def test_a_verdict_record_cannot_contradict_itself(model: type, fields: dict) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        model.model_validate(fields)


def test_worker_pool_refuses_a_bad_or_external_checker_before_any_work() -> None:
    with pytest.raises(ConfigError):
        WorkerPool(2, "no-such-tool-xyz {file}", {"timeout_sec": 5})
    with pytest.raises(ConfigError, match="built-in checkers only"):
        WorkerPool(2, "cat {file}", {"timeout_sec": 5})
