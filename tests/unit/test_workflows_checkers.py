"""Built-in checkers (python, yaml), command checkers, and the check module's protocol."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from blocks.errors import ConfigError, ExitCode
from tasks.workflows.checkers import (
    CheckerProblem,
    CheckerUnusable,
    CommandChecker,
    PythonChecker,
    YamlChecker,
    checker_from_spec,
    load_schema,
)
from tasks.workflows.models import Phase, WorkflowCode

PY = sys.executable
CHECK_MODULE = [PY, "-m", "tasks.workflows.checker_command"]

PYTHON_FILES = {
    "ok.py": "import os\nprint(os.sep)\n",
    "syntax.py": "x = 1\ny = (\n",
    "outside.py": "x = 1\nreturn x\n",
    "undefined.py": "import os\n\nprint(os.sep)\nprint(missing_name)\nprint(other)\n",
    "raises.py": "def go():\n    raise ValueError('boom')\n\n\ngo()\n",
    "exits.py": "import sys\nsys.exit(3)\n",
    "hangs.py": "while True:\n    pass\n",
}

# fmt: off
PYTHON_CASES = [
    # file, phase, code, phase reported, message words, line
    ("ok.py", Phase.PARSE, WorkflowCode.SUCCESS, Phase.PARSE, "", None),
    ("ok.py", Phase.EXECUTE, WorkflowCode.SUCCESS, Phase.EXECUTE, "", None),
    ("syntax.py", Phase.PARSE, WorkflowCode.PARSE_ERROR, Phase.PARSE, "never closed", 2),
    ("syntax.py", Phase.EXECUTE, WorkflowCode.PARSE_ERROR, Phase.PARSE, "never closed", 2),
    ("outside.py", Phase.PARSE, WorkflowCode.PARSE_ERROR, Phase.PARSE, "outside function", 2),
    ("undefined.py", Phase.PARSE, WorkflowCode.VALIDATION_ERROR, Phase.PARSE,
     "undefined name 'missing_name'", 4),
    ("raises.py", Phase.PARSE, WorkflowCode.SUCCESS, Phase.PARSE, "", None),
    ("raises.py", Phase.EXECUTE, WorkflowCode.RUNTIME_ERROR, Phase.EXECUTE,
     "ValueError: boom", 2),
    ("exits.py", Phase.EXECUTE, WorkflowCode.RUNTIME_ERROR, Phase.EXECUTE,
     "exited with code 3", None),
    ("hangs.py", Phase.EXECUTE, WorkflowCode.TIMEOUT_ERROR, Phase.EXECUTE, "timeout", None),
]
# fmt: on


@pytest.fixture
def python_files(tmp_path: Path) -> Path:
    for name, text in PYTHON_FILES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("name", "phase", "code", "reported", "words", "line"), PYTHON_CASES)
def test_python_checker(
    python_files: Path,
    name: str,
    phase: Phase,
    code: WorkflowCode,
    reported: Phase,
    words: str,
    line: int | None,
) -> None:
    status, structured = PythonChecker(timeout_sec=1).check(python_files / name, phase)
    assert structured is True
    assert (status.code, status.phase, status.line) == (code, reported, line)
    assert words in status.message
    assert status.file == str(python_files / name)


def test_python_checker_io_error_for_a_directory(tmp_path: Path) -> None:
    (tmp_path / "pkg.py").mkdir()
    status, _ = PythonChecker().check(tmp_path / "pkg.py", Phase.EXECUTE)
    assert (status.code, status.phase) == (WorkflowCode.IO_ERROR, Phase.PARSE)


SCHEMA = {
    "type": "object",
    "required": ["name", "steps"],
    "properties": {
        "name": {"type": "string"},
        "steps": {"type": "array", "items": {"type": "object", "required": ["run"]}},
    },
}

# fmt: off
YAML_CASES = [
    # text, schema, code, message words, line
    ("name: a\nsteps: []\n", None, WorkflowCode.SUCCESS, "", None),
    ("name: a\nsteps: [\n", None, WorkflowCode.PARSE_ERROR, "flow node", 3),
    ("name: a\n  bad: indent\n", None, WorkflowCode.PARSE_ERROR, "mapping values", 2),
    ("key: !!python/object:os.system x\n", None, WorkflowCode.PARSE_ERROR, "constructor", 1),
    ("name: a\nsteps:\n  - run: x\n", SCHEMA, WorkflowCode.SUCCESS, "", None),
    ("name: a\nsteps:\n  - run: x\n  - other: y\n", SCHEMA, WorkflowCode.VALIDATION_ERROR,
     "$.steps[1]: 'run' is a required property", 4),
    ("name: 3\nsteps: []\n", SCHEMA, WorkflowCode.VALIDATION_ERROR,
     "$.name: 3 is not of type 'string'", 1),
    ("steps: []\n", SCHEMA, WorkflowCode.VALIDATION_ERROR, "'name' is a required property", 1),
    ("name: a\nsteps: []\n---\nname: b\n", SCHEMA, WorkflowCode.VALIDATION_ERROR,
     "document 2 $: 'steps' is a required property", 4),
    ("name: a\nsteps: [\n", SCHEMA, WorkflowCode.PARSE_ERROR, "flow node", 3),
    ("", SCHEMA, WorkflowCode.VALIDATION_ERROR, "no YAML document", None),
    ("# only a comment\n", SCHEMA, WorkflowCode.VALIDATION_ERROR, "no YAML document", None),
    ("", None, WorkflowCode.SUCCESS, "", None),
]
# fmt: on


@pytest.mark.parametrize(("text", "schema", "code", "words", "line"), YAML_CASES)
def test_yaml_checker(
    tmp_path: Path, text: str, schema: dict | None, code: WorkflowCode, words: str, line: int | None
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    for phase in Phase:  # execute means the same as parse for YAML
        status, structured = YamlChecker(schema=schema).check(path, phase)
        assert structured is True
        assert (status.code, status.line) == (code, line)
        assert words in status.message


def test_yaml_checker_rejects_an_invalid_schema() -> None:
    with pytest.raises(CheckerUnusable) as caught:
        YamlChecker(schema={"type": "no-such-type"})
    assert caught.value.problem is CheckerProblem.SCHEMA_INVALID
    assert caught.value.code == ExitCode.USAGE_ERROR


# fmt: off
SCHEMA_FILES = [
    ("schema.json", json.dumps(SCHEMA), None),
    ("schema.yaml", "type: object\nrequired: [name]\n", None),
    ("schema.json", "{broken", CheckerProblem.SCHEMA_UNLOADABLE),
    ("schema.yaml", "- a list\n", CheckerProblem.SCHEMA_NOT_AN_OBJECT),
    ("absent.json", None, CheckerProblem.SCHEMA_UNLOADABLE),
    ("schema.yaml", "type: 7\n", CheckerProblem.SCHEMA_INVALID),
]
# fmt: on


@pytest.mark.parametrize(("name", "text", "error"), SCHEMA_FILES)
def test_schema_files(
    tmp_path: Path, name: str, text: str | None, error: CheckerProblem | None
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    if error is None:
        assert isinstance(checker_from_spec("yaml", timeout_sec=1, schema_path=path), YamlChecker)
        assert isinstance(load_schema(path), dict)
    else:
        with pytest.raises(CheckerUnusable) as caught:
            checker_from_spec("yaml", timeout_sec=1, schema_path=path)
        assert caught.value.problem is error and caught.value.code == ExitCode.USAGE_ERROR
        assert caught.value.message.startswith(f"{path}: ")  # the file is named first


# fmt: off
BAD_COMMANDS = [
    pytest.param([], CheckerProblem.EMPTY_COMMAND, id="empty"),
    pytest.param([PY, "-c", "pass"], CheckerProblem.NO_FILE_PLACEHOLDER, id="no-file-placeholder"),
    pytest.param(["{file}", "x"], CheckerProblem.NO_FILE_PLACEHOLDER, id="file-only-as-program"),
    pytest.param(["no-such-checker-xyz", "{file}"], CheckerProblem.PROGRAM_NOT_FOUND,
                 id="program-not-found"),
    pytest.param(["/no/such/checker", "{file}"], CheckerProblem.PROGRAM_NOT_FOUND,
                 id="path-not-found"),
]
# fmt: on


@pytest.mark.parametrize(("argv", "problem"), BAD_COMMANDS)
def test_command_checker_that_cannot_run_is_a_config_error(
    argv: list[str], problem: CheckerProblem
) -> None:
    with pytest.raises(CheckerUnusable) as caught:
        CommandChecker(argv)
    assert caught.value.problem is problem and isinstance(caught.value, ConfigError)


def test_a_missing_checker_program_is_named_with_how_to_fix_it() -> None:
    """The one message test of CheckerUnusable."""
    with pytest.raises(CheckerUnusable) as caught:
        CommandChecker(["no-such-checker-xyz", "{file}"])
    assert "'no-such-checker-xyz' not found" in caught.value.message
    assert "PATH" in caught.value.remediation


def test_command_checker_fills_placeholders_without_a_shell(tmp_path: Path) -> None:
    flow = tmp_path / "my flow; rm -rf x.wf"
    flow.write_text("")
    code = "import sys, json; print(json.dumps({'ok': True, 'code': 0})); print(sys.argv[1:])"
    checker = CommandChecker([PY, "-c", code, "--file={file}", "{phase}"])
    status, structured = checker.check(flow, Phase.EXECUTE)
    assert (status.code, structured, status.file) == (WorkflowCode.SUCCESS, True, str(flow))
    assert checker.name == shlex.join([PY, "-c", code, "--file={file}", "{phase}"])


def test_command_checker_heuristics_and_timeout(tmp_path: Path) -> None:
    flow = tmp_path / "f.wf"
    flow.write_text("")
    said = CommandChecker([PY, "-c", "print('syntax error at line 7'); exit(1)", "{file}"])
    status, structured = said.check(flow, Phase.PARSE)
    assert (status.code, status.line, structured) == (WorkflowCode.PARSE_ERROR, 7, False)
    hangs = CommandChecker([PY, "-c", "import time; time.sleep(30)", "{file}"], timeout_sec=0.5)
    status, structured = hangs.check(flow, Phase.PARSE)
    assert (status.code, structured) == (WorkflowCode.TIMEOUT_ERROR, False)


def test_spec_is_split_never_shelled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    spec = f"{PY} -c 'import sys; print(sys.argv[1:])' {{file}} && touch {marker}"
    checker = checker_from_spec(spec, timeout_sec=5)
    assert isinstance(checker, CommandChecker)
    code = "import sys; print(sys.argv[1:])"
    assert checker.argv == [PY, "-c", code, "{file}", "&&", "touch", str(marker)]
    status, _ = checker.check(tmp_path / "x.wf", Phase.PARSE)
    assert status.code is WorkflowCode.SUCCESS
    assert not marker.exists()


# fmt: off
SPECS = [
    pytest.param("python", {}, PythonChecker, id="python"),
    pytest.param(" yaml ", {}, YamlChecker, id="yaml"),
    pytest.param(f"{PY} -m tasks.workflows.checker_command --checker python {{file}}", {},
                 CommandChecker, id="command"),
    pytest.param("python 'unclosed {file}", {}, ConfigError, id="unbalanced-quote"),
    pytest.param("python", {"schema_path": Path("s.json")}, ConfigError, id="schema-not-yaml"),
    pytest.param("no-such-tool-xyz {file}", {}, ConfigError, id="missing-program"),
]
# fmt: on


@pytest.mark.parametrize(("spec", "extra", "expected"), SPECS)
def test_checker_from_spec(spec: str, extra: dict, expected: type) -> None:
    if expected is ConfigError:
        with pytest.raises(ConfigError):
            checker_from_spec(spec, timeout_sec=5, **extra)
    else:
        checker = checker_from_spec(spec, timeout_sec=5, **extra)
        assert isinstance(checker, expected)
        assert checker.name


# fmt: off
EQUIVALENCE = [
    # checker, file, phase
    ("python", "ok.py", Phase.PARSE),
    ("python", "syntax.py", Phase.EXECUTE),
    ("python", "undefined.py", Phase.PARSE),
    ("python", "raises.py", Phase.EXECUTE),
    ("python", "hangs.py", Phase.EXECUTE),
    ("yaml", "bad.yaml", Phase.PARSE),
    ("yaml", "invalid.yaml", Phase.PARSE),
    ("yaml", "folder.yaml", Phase.PARSE),
]
# fmt: on


@pytest.mark.parametrize(("name", "file", "phase"), EQUIVALENCE)
def test_check_module_speaks_the_protocol_like_the_in_process_checker(
    python_files: Path, name: str, file: str, phase: Phase
) -> None:
    (python_files / "bad.yaml").write_text("a: [\n")
    (python_files / "invalid.yaml").write_text("name: 3\nsteps: []\n")
    (python_files / "folder.yaml").mkdir()
    schema = python_files / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    extra = ["--schema", str(schema)] if name == "yaml" else ["--timeout", "1"]
    argv = [*CHECK_MODULE, "--checker", name, *extra, "{file}"]
    if phase is Phase.EXECUTE:
        argv.insert(-1, "--execute")
    in_process = checker_from_spec(
        name, timeout_sec=1, schema_path=schema if name == "yaml" else None
    )
    expected, _ = in_process.check(python_files / file, phase)
    got, structured = CommandChecker(argv, timeout_sec=20).check(python_files / file, phase)
    assert structured is True
    assert got == expected


def test_check_module_exit_status_and_error_code_line(python_files: Path) -> None:
    from tasks.platform.processes import run_command

    run = run_command(
        [*CHECK_MODULE, "--checker", "python", str(python_files / "undefined.py")],
        timeout_sec=20,
        cwd=None,
        env={},
    )
    assert run.exit_code == 1  # the seed's --check: 0 passed, 1 did not
    assert "WARDEN_ERROR_CODE:25" in run.output
    payload = json.loads(next(line for line in run.output.splitlines() if line.startswith("{")))
    assert set(payload) == {"ok", "code", "code_name", "file", "phase", "message", "line"}
    assert (payload["code_name"], payload["line"]) == ("VALIDATION_ERROR", 4)


def check_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK_MODULE, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "exit_code", "code"),
    [("ok.py", 0, 0), ("syntax.py", 1, 20), ("undefined.py", 1, 25), ("missing.py", 1, 26)],
)
def test_check_module_exits_0_or_1_like_the_seeds_check(
    python_files: Path, name: str, exit_code: int, code: int
) -> None:
    done = check_module("--checker", "python", str(python_files / name))
    assert done.returncode == exit_code, done.stderr
    assert json.loads(done.stdout)["code"] == code


def test_check_module_prints_the_error_code_line_with_the_prefix_asked_for(
    python_files: Path,
) -> None:
    done = check_module(
        "--checker", "python", "--prefix", "AETHER", str(python_files / "syntax.py")
    )
    assert done.returncode == 1
    assert "AETHER_ERROR_CODE:20" in done.stderr and "WARDEN_ERROR_CODE" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--checker", "python", "--prefix", "aether; rm"], id="bad-prefix"),
        pytest.param(["--checker", "yaml", "--execute"], id="yaml-cannot-execute"),
    ],
)
def test_check_module_refuses_an_option_it_cannot_honour(
    python_files: Path, args: list[str]
) -> None:
    done = check_module(*args, str(python_files / "ok.py"))
    assert done.returncode == 2 and not done.stdout


def test_yaml_checker_reports_the_parse_phase_it_ran_whatever_was_asked(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: a\n")
    status, _ = YamlChecker().check(path, Phase.EXECUTE)
    assert (status.ok, status.phase) == (True, Phase.PARSE)


def test_serve_mode_answers_batches_until_stdin_closes(python_files: Path) -> None:
    """The batch worker behind WorkerPool: JSON lines in, JSON lines out; the checked files
    run in execute mode print nothing into the reply stream."""
    requests = [
        {"paths": [str(python_files / "ok.py")], "phase": "execute", "suppressions": []},
        {"paths": [str(python_files / "undefined.py")], "phase": "parse", "suppressions": []},
    ]
    done = subprocess.run(
        [*CHECK_MODULE, "--serve", "--checker", "python", "--timeout", "10"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [[row["code_name"] for row in r["results"]] for r in replies] == [
        ["SUCCESS"],
        ["VALIDATION_ERROR"],
    ]
    assert replies[1]["results"][0]["line"] == 4


@pytest.mark.parametrize("args", [["--serve", "x.py"], []])
def test_serve_mode_and_a_file_are_exclusive(args: list[str]) -> None:
    done = subprocess.run(
        [*CHECK_MODULE, "--checker", "python", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "exactly one of FILE and --serve" in done.stderr
