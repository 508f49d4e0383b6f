"""The checker protocol: JSON status lines, error-code lines, heuristics, categories."""

from __future__ import annotations

import json

import pytest

from tasks.workflows.models import Category, Phase, WorkflowCode
from tasks.workflows.protocol import (
    category_for,
    interpret,
    parse_error_code,
    parse_status_line,
)


def status_json(code: int, **fields) -> str:
    name = WorkflowCode(code).name if code in WorkflowCode._value2member_map_ else "X"
    payload = {"ok": code == 0, "code": code, "code_name": name, "file": "f", "phase": "parse"}
    return json.dumps({**payload, **fields})


# fmt: off
STATUS_LINES = [
    pytest.param("", None, id="empty"),
    pytest.param("hello\nworld", None, id="no-json"),
    pytest.param('{"ok": true}', None, id="no-code"),
    pytest.param('{"code": 20}', None, id="no-ok"),
    pytest.param("[1, 2]", None, id="not-an-object"),
    pytest.param("{not json}", None, id="broken-json"),
    pytest.param('{"ok": false, "code": 20, "extra": 1}', {"ok": False, "code": 20},
                 id="extra-keys-dropped"),
    pytest.param('{"ok": false, "code": 20}\nnoise\n  {"ok": true, "code": 0}  \ntail',
                 {"ok": True, "code": 0}, id="last-one-wins"),
    pytest.param('{"ok": false, "code": 20, "line": 3}\n{"ok": 1}', {"ok": False, "code": 20,
                 "line": 3}, id="last-complete-one"),
    pytest.param('{"ok": false, "code_name": "PARSE_ERROR"}',
                 {"ok": False, "code_name": "PARSE_ERROR"}, id="code-name-without-code"),
    pytest.param('{"code_name": "SUCCESS"}', None, id="code-name-no-ok"),
]
# fmt: on


@pytest.mark.parametrize(("stdout", "expected"), STATUS_LINES)
def test_parse_status_line(stdout: str, expected: dict | None) -> None:
    assert parse_status_line(stdout) == expected


# fmt: off
ERROR_CODES = [
    pytest.param("WARDEN_ERROR_CODE:20", ("WARDEN", "AETHER"), 20, id="warden"),
    pytest.param("noise\nAETHER_ERROR_CODE: 25\n", ("WARDEN", "AETHER"), 25, id="aether"),
    pytest.param("MYTOOL_ERROR_CODE:21", ("MYTOOL",), 21, id="custom-prefix"),
    pytest.param("MYTOOL_ERROR_CODE:21", ("WARDEN", "AETHER"), None, id="prefix-not-accepted"),
    pytest.param("WARDEN_ERROR_CODE:20\nWARDEN_ERROR_CODE:0", ("WARDEN",), 0, id="last-wins"),
    pytest.param("XWARDEN_ERROR_CODE:20", ("WARDEN",), None, id="whole-word-prefix"),
    pytest.param("nothing here", ("WARDEN",), None, id="absent"),
    pytest.param("WARDEN_ERROR_CODE:20", (), None, id="no-prefixes"),
]
# fmt: on


@pytest.mark.parametrize(("stderr", "prefixes", "expected"), ERROR_CODES)
def test_parse_error_code(stderr: str, prefixes: tuple[str, ...], expected: int | None) -> None:
    assert parse_error_code(stderr, prefixes) == expected


@pytest.mark.parametrize("code", list(WorkflowCode), ids=lambda c: c.name)
def test_every_code_is_reachable_through_a_json_status_line(code: WorkflowCode) -> None:
    stdout = "progress\n" + status_json(int(code), message="what happened", line=7)
    status, structured = interpret("f.wf", Phase.PARSE, int(code), stdout, "", False)
    assert structured is True
    assert (status.code, status.ok) == (code, code is WorkflowCode.SUCCESS)
    assert status.file == "f.wf"
    assert status.message == "what happened"
    assert status.line == (None if code is WorkflowCode.SUCCESS else 7)


@pytest.mark.parametrize("code", list(WorkflowCode), ids=lambda c: c.name)
def test_every_code_is_reachable_through_an_error_code_line(code: WorkflowCode) -> None:
    stderr = f"Problem at line 4: bad thing\nAETHER_ERROR_CODE:{int(code)}\n"
    status, structured = interpret("f.wf", Phase.EXECUTE, int(code), "", stderr, False)
    assert structured is True
    assert status.code is code
    assert status.phase is Phase.EXECUTE
    if code is not WorkflowCode.SUCCESS:
        assert (status.message, status.line) == ("Problem at line 4: bad thing", 4)


TRACEBACK = """Traceback (most recent call last):
  File "/w/flow.wf", line 3, in <module>
    run()
ValueError: boom
"""
PY_SYNTAX = """  File "/w/flow.wf", line 9
    x = (
        ^
SyntaxError: '(' was never closed
"""

# fmt: off
HEURISTICS = [
    # exit code, output, timed out, code, message, line
    pytest.param(0, "all fine", False, WorkflowCode.SUCCESS, "", None, id="exit-0"),
    pytest.param(None, "", True, WorkflowCode.TIMEOUT_ERROR, "timeout", None, id="timeout"),
    pytest.param(1, "Parse error (assignment) line 12: goal", False, WorkflowCode.PARSE_ERROR,
                 "Parse error (assignment) line 12: goal", 12, id="parse-error"),
    pytest.param(1, PY_SYNTAX, False, WorkflowCode.PARSE_ERROR,
                 "SyntaxError: '(' was never closed", 9, id="python-syntax-error"),
    pytest.param(2, "SYNTAX ERROR near token", False, WorkflowCode.PARSE_ERROR,
                 "SYNTAX ERROR near token", None, id="parse-error-no-line"),
    pytest.param(1, "script is unsigned", False, WorkflowCode.SIGNATURE_ERROR,
                 "script is unsigned", None, id="unsigned"),
    pytest.param(1, "bad Signature for flow", False, WorkflowCode.SIGNATURE_ERROR,
                 "bad Signature for flow", None, id="signature"),
    pytest.param(1, "loop: Not Implemented yet", False, WorkflowCode.UNSUPPORTED_FEATURE,
                 "loop: Not Implemented yet", None, id="not-implemented"),
    pytest.param(1, "feature X unsupported", False, WorkflowCode.UNSUPPORTED_FEATURE,
                 "feature X unsupported", None, id="unsupported"),
    pytest.param(1, TRACEBACK.replace("ValueError", "NotImplementedError"), False,
                 WorkflowCode.UNSUPPORTED_FEATURE, "NotImplementedError: boom", None,
                 id="not-implemented-error"),
    pytest.param(1, TRACEBACK, False, WorkflowCode.RUNTIME_ERROR, "ValueError: boom", None,
                 id="traceback"),
    pytest.param(3, "\n\nerror: service missing\n", False, WorkflowCode.RUNTIME_ERROR,
                 "error: service missing", None, id="error-word"),
    pytest.param(1, "it went wrong", False, WorkflowCode.GENERIC_FAILURE, "it went wrong", None,
                 id="generic"),
    pytest.param(1, "MYTOOL_ERROR_CODE:21", False, WorkflowCode.GENERIC_FAILURE,
                 "exit code 1", None, id="foreign-code-line-is-no-evidence"),
    pytest.param(-9, "", False, WorkflowCode.GENERIC_FAILURE, "exit code -9 with no output",
                 None, id="generic-silent"),
    pytest.param(None, "", False, WorkflowCode.INTERNAL_ERROR, "did not run", None,
                 id="never-ran"),
]
# fmt: on


@pytest.mark.parametrize(
    ("exit_code", "output", "timed_out", "code", "message", "line"), HEURISTICS
)
def test_heuristics(
    exit_code: int | None,
    output: str,
    timed_out: bool,
    code: WorkflowCode,
    message: str,
    line: int | None,
) -> None:
    status, structured = interpret("f.wf", Phase.PARSE, exit_code, output, "", timed_out)
    assert structured is False
    assert status.code is code
    assert message in status.message
    assert status.line == line


def test_stderr_is_searched_as_well_as_stdout() -> None:
    status, _ = interpret("f", Phase.PARSE, 1, "", "Parse error at line 2", False)
    assert (status.code, status.line) == (WorkflowCode.PARSE_ERROR, 2)


# fmt: off
ODD_STRUCTURED = [
    # stdout, exit code, code, words in the message
    pytest.param(status_json(99), 1, WorkflowCode.INTERNAL_ERROR, "unknown code 99",
                 id="json-unknown-code"),
    pytest.param(json.dumps({"ok": False, "code": "PARSE_ERROR"}), 1, WorkflowCode.INTERNAL_ERROR,
                 "unknown code 'PARSE_ERROR'", id="json-code-not-a-number"),
    pytest.param("WARDEN_ERROR_CODE:42", 1, WorkflowCode.INTERNAL_ERROR, "unknown code 42",
                 id="line-unknown-code"),
    pytest.param(status_json(0, message="fine"), 3, WorkflowCode.INTERNAL_ERROR,
                 "SUCCESS but exited with 3", id="json-success-contradicted"),
    pytest.param("WARDEN_ERROR_CODE:0", 2, WorkflowCode.INTERNAL_ERROR,
                 "SUCCESS but exited with 2", id="line-success-contradicted"),
    pytest.param(status_json(20, message="") + "\nParse error line 5", 20,
                 WorkflowCode.PARSE_ERROR, "Parse error line 5", id="json-message-from-output"),
]
# fmt: on


@pytest.mark.parametrize(("stdout", "exit_code", "code", "words"), ODD_STRUCTURED)
def test_odd_structured_output(stdout: str, exit_code: int, code: WorkflowCode, words: str) -> None:
    status, structured = interpret("f", Phase.PARSE, exit_code, stdout, "", False)
    assert structured is True
    assert status.code is code
    assert words in status.message


# fmt: off
CONTRADICTIONS = [
    # stdout, stderr, exit code, phase asked: each is INTERNAL_ERROR, never a pass
    pytest.param('{"ok": false, "code": 0}', "", 0, Phase.PARSE, id="ok-false-code-0"),
    pytest.param('{"ok": true, "code": 20}', "", 20, Phase.PARSE, id="ok-true-code-20"),
    pytest.param('{"ok": true, "code": 0, "code_name": "PARSE_ERROR"}', "", 0, Phase.PARSE,
                 id="code-and-name-disagree"),
    pytest.param('{"ok": false, "code": 20, "code_name": "SUCCESS"}', "", 1, Phase.PARSE,
                 id="failure-code-named-success"),
    pytest.param('{"ok": true, "code_name": "RUNTIME_ERROR"}', "", 0, Phase.PARSE,
                 id="name-only-ok-disagrees"),
    pytest.param('{"ok": true, "code_name": "NOT_A_CODE"}', "", 0, Phase.PARSE,
                 id="unknown-code-name"),
    pytest.param('{"ok": "yes", "code": 0}', "", 0, Phase.PARSE, id="ok-not-a-boolean"),
    pytest.param(status_json(0), "AETHER_ERROR_CODE:20", 0, Phase.PARSE,
                 id="status-success-error-line-failure"),
    pytest.param(status_json(20), "AETHER_ERROR_CODE:0", 1, Phase.PARSE,
                 id="status-failure-error-line-success"),
    pytest.param(status_json(0, phase="parse"), "", 0, Phase.EXECUTE,
                 id="asked-to-execute-parse-success"),
]
# fmt: on


@pytest.mark.parametrize(("stdout", "stderr", "exit_code", "phase"), CONTRADICTIONS)
def test_a_status_that_contradicts_itself_is_internal_error(
    stdout: str, stderr: str, exit_code: int, phase: Phase
) -> None:
    status, structured = interpret("f", phase, exit_code, stdout, stderr, False)
    assert (status.code, status.ok, structured) == (WorkflowCode.INTERNAL_ERROR, False, True)


def test_the_contradiction_is_named() -> None:
    status, _ = interpret("f", Phase.PARSE, 0, '{"ok": false, "code": 0}', "", False)
    assert "ok false with code 0 (SUCCESS)" in status.message


@pytest.mark.parametrize("code", list(WorkflowCode), ids=lambda c: c.name)
def test_a_status_line_with_only_a_code_name_is_read(code: WorkflowCode) -> None:
    stdout = json.dumps({"ok": code is WorkflowCode.SUCCESS, "code_name": code.name})
    exit_code = 0 if code is WorkflowCode.SUCCESS else 1
    status, structured = interpret("f", Phase.PARSE, exit_code, stdout, "", False)
    assert (status.code, structured) == (code, True)


def test_json_wins_over_error_code_line_and_timeout_wins_over_both() -> None:
    stdout = status_json(25, message="unknown function x")
    stderr = "WARDEN_ERROR_CODE:20"
    status, _ = interpret("f", Phase.PARSE, 25, stdout, stderr, False)
    assert status.code is WorkflowCode.VALIDATION_ERROR
    status, structured = interpret("f", Phase.PARSE, None, stdout, stderr, True)
    assert (status.code, structured) == (WorkflowCode.TIMEOUT_ERROR, False)


def test_json_phase_is_kept_and_message_is_capped() -> None:
    stdout = status_json(20, phase="parse", message="x" * 900)
    status, _ = interpret("f", Phase.EXECUTE, 20, stdout, "", False)
    assert status.phase is Phase.PARSE
    assert len(status.message) == 500


# fmt: off
CATEGORIES = [
    (WorkflowCode.SUCCESS, Category.OK),
    (WorkflowCode.GENERIC_FAILURE, Category.OTHER),
    (WorkflowCode.PARSE_ERROR, Category.PARSE_ERROR),
    (WorkflowCode.RUNTIME_ERROR, Category.RUNTIME_ERROR),
    (WorkflowCode.SIGNATURE_ERROR, Category.SIGNATURE_MISSING),
    (WorkflowCode.TIMEOUT_ERROR, Category.TIMEOUT),
    (WorkflowCode.UNSUPPORTED_FEATURE, Category.NOT_IMPLEMENTED),
    (WorkflowCode.VALIDATION_ERROR, Category.OTHER),
    (WorkflowCode.IO_ERROR, Category.OTHER),
    (WorkflowCode.INTERNAL_ERROR, Category.OTHER),
]
# fmt: on


@pytest.mark.parametrize(("code", "category"), CATEGORIES, ids=lambda v: str(v))
def test_category_for(code: WorkflowCode, category: Category) -> None:
    assert category_for(code) is category


def test_category_table_covers_every_code() -> None:
    assert {code for code, _ in CATEGORIES} == set(WorkflowCode)
