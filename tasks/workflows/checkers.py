"""Checkers: what decides whether one workflow file parses, validates and runs.

Any argv template with ``{file}`` is a checker (:class:`CommandChecker`, never run through a
shell). Two built-ins make the tool useful before anyone writes one — ``python`` and ``yaml`` —
and run in-process when chosen by name, for speed; ``python -m tasks.workflows.checker_command``
runs them as a command speaking the same protocol. Failures found before execution are reported in
the parse phase, whichever phase was asked for, as the seed's ``--check`` does.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jsonschema
import yaml
from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from blocks.errors import ConfigError
from tasks.platform.processes import run_command
from tasks.workflows.models import CheckStatus, Phase, WorkflowCode
from tasks.workflows.protocol import DEFAULT_PREFIXES, interpret
from tasks.workflows.python_source import compile_source
from tasks.workflows.reading import DEFAULT_MAX_BYTES, io_error, read_bytes, read_source

BUILTIN_CHECKERS = ("python", "yaml")
_UNDEFINED = (
    pyflakes_messages.UndefinedName,
    pyflakes_messages.UndefinedLocal,
    pyflakes_messages.UndefinedExport,
)
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')


class CheckerProblem(StrEnum):
    """Why a checker cannot run; decided before any file is judged."""

    EMPTY_COMMAND = "empty_command"
    NO_FILE_PLACEHOLDER = "no_file_placeholder"
    PROGRAM_NOT_FOUND = "program_not_found"
    UNSPLITTABLE_COMMAND = "unsplittable_command"
    SCHEMA_NOT_FOR_CHECKER = "schema_not_for_checker"  # a schema given to another checker
    SCHEMA_UNLOADABLE = "schema_unloadable"
    SCHEMA_NOT_AN_OBJECT = "schema_not_an_object"
    SCHEMA_INVALID = "schema_invalid"


class CheckerUnusable(ConfigError):
    """The corpus's checker (or its schema) cannot run; ``problem`` says why."""

    def __init__(self, message: str, *, problem: CheckerProblem, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.problem = problem


@runtime_checkable
class Checker(Protocol):
    """Judges one file in one phase: its verdict, and whether it was stated or guessed."""

    name: str

    def check(self, path: Path, phase: Phase) -> tuple[CheckStatus, bool]: ...


def _verdict(
    path: Path, phase: Phase, code: WorkflowCode, message: str = "", line: int | None = None
) -> CheckStatus:
    ok = code is WorkflowCode.SUCCESS
    return CheckStatus(ok=ok, code=code, file=str(path), phase=phase, message=message, line=line)


class PythonChecker:
    """Python files: compile, pyflakes' undefined names, then (execute) run with a timeout."""

    name = "python"

    def __init__(self, timeout_sec: float = 30.0, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.timeout_sec = timeout_sec
        self.max_bytes = max_bytes

    def check(self, path: Path, phase: Phase) -> tuple[CheckStatus, bool]:
        static = self._static_check(path)
        if static is not None or phase is Phase.PARSE:
            return static or _verdict(path, phase, WorkflowCode.SUCCESS), True
        return self._execute(path), True

    def _static_check(self, path: Path) -> CheckStatus | None:
        """The first parse or validation failure, or None when the file is clean. The file's
        bytes are compiled as the interpreter compiles them (python_source)."""
        data = read_bytes(path, self.max_bytes)
        if isinstance(data, str):
            return io_error(path, data)
        tree = compile_source(path, data)
        if isinstance(tree, CheckStatus):
            return tree
        found = pyflakes_checker.Checker(tree, filename=str(path)).messages
        undefined = sorted((m for m in found if isinstance(m, _UNDEFINED)), key=_position)
        if not undefined:
            return None
        first = undefined[0]
        message = first.message % first.message_args
        return _verdict(path, Phase.PARSE, WorkflowCode.VALIDATION_ERROR, message, first.lineno)

    def _execute(self, path: Path) -> CheckStatus:
        """Run the file with this interpreter; a traceback is RUNTIME_ERROR at its last frame."""
        target = path.resolve()
        run = run_command(
            [sys.executable, str(target)], timeout_sec=self.timeout_sec, cwd=target.parent, env={}
        )
        if run.error is not None:
            return _verdict(path, Phase.EXECUTE, WorkflowCode.INTERNAL_ERROR, run.error)
        if run.timed_out:
            message = f"killed after {self.timeout_sec:g}s (timeout)"
            return _verdict(path, Phase.EXECUTE, WorkflowCode.TIMEOUT_ERROR, message)
        if run.exit_code == 0:
            return _verdict(path, Phase.EXECUTE, WorkflowCode.SUCCESS)
        lines = [line.strip() for line in run.output.splitlines() if line.strip()]
        message = lines[-1][:500] if lines else f"exited with code {run.exit_code}"
        frames = [m for m in _FRAME.finditer(run.output) if m.group("file") == str(target)]
        line = int(frames[-1].group("line")) if frames else None
        return _verdict(path, Phase.EXECUTE, WorkflowCode.RUNTIME_ERROR, message, line)


def _position(message: pyflakes_messages.Message) -> tuple[int, int]:
    return message.lineno, getattr(message, "col", 0)


class YamlChecker:
    """YAML files: parse (line from the problem mark), then an optional JSON Schema. YAML is
    never run, so every verdict is a parse-phase verdict, whatever phase was asked for."""

    name = "yaml"

    def __init__(self, schema: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.schema = schema
        self.max_bytes = max_bytes
        self._validator = None
        if schema is not None:
            validator_class = jsonschema.validators.validator_for(schema)
            try:
                validator_class.check_schema(schema)
            except jsonschema.SchemaError as exc:
                problem = CheckerProblem.SCHEMA_INVALID
                raise CheckerUnusable(
                    f"invalid JSON Schema: {exc.message}", problem=problem
                ) from exc
            self._validator = validator_class(schema)

    def check(self, path: Path, phase: Phase) -> tuple[CheckStatus, bool]:
        source = read_source(path, self.max_bytes)
        if isinstance(source, CheckStatus):
            return source, True
        try:
            documents = list(yaml.safe_load_all(source))
        except yaml.YAMLError as exc:
            return _yaml_parse_error(path, exc), True
        if self._validator is not None:
            if not documents:  # nothing was validated: that is not a valid document
                message = "no YAML document to validate against the schema"
                return _verdict(path, Phase.PARSE, WorkflowCode.VALIDATION_ERROR, message), True
            for index, document in enumerate(documents):
                error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
                if error is not None:
                    return _schema_error(path, source, index, len(documents), error), True
        return _verdict(path, Phase.PARSE, WorkflowCode.SUCCESS), True


def _yaml_parse_error(path: Path, exc: yaml.YAMLError) -> CheckStatus:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"{context}: {problem}" if context else str(problem)
    return _verdict(path, Phase.PARSE, WorkflowCode.PARSE_ERROR, message, line)


def _schema_error(
    path: Path, source: str, index: int, count: int, error: jsonschema.ValidationError
) -> CheckStatus:
    where = error.json_path if count == 1 else f"document {index + 1} {error.json_path}"
    message = f"{where}: {error.message}"
    line = _yaml_line(source, index, list(error.absolute_path))
    return _verdict(path, Phase.PARSE, WorkflowCode.VALIDATION_ERROR, message, line)


def _yaml_line(source: str, index: int, json_path: list[str | int]) -> int | None:
    """The 1-based line of the node at ``json_path`` in document ``index`` (deepest found)."""
    nodes = list(yaml.compose_all(source))
    if index >= len(nodes) or nodes[index] is None:
        return None
    node = nodes[index]
    for part in json_path:
        if isinstance(node, yaml.MappingNode):
            match = [value for key, value in node.value if key.value == str(part)]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


class CommandChecker:
    """An external checker: an argv template with ``{file}`` (and optionally ``{phase}``)."""

    def __init__(
        self,
        argv: list[str],
        timeout_sec: float = 60.0,
        prefixes: tuple[str, ...] = DEFAULT_PREFIXES,
    ) -> None:
        _validate_template(argv)
        self.argv = list(argv)
        self.timeout_sec = timeout_sec
        self.prefixes = tuple(prefixes)
        self.name = shlex.join(self.argv)

    def check(self, path: Path, phase: Phase) -> tuple[CheckStatus, bool]:
        argv = [
            arg.replace("{file}", str(path)).replace("{phase}", phase.value) for arg in self.argv
        ]
        run = run_command(argv, timeout_sec=self.timeout_sec, cwd=None, env={})
        if run.error is not None:
            status = _verdict(path, phase, WorkflowCode.INTERNAL_ERROR, f"checker: {run.error}")
            return status, False
        return interpret(
            str(path), phase, run.exit_code, run.output, "", run.timed_out, self.prefixes
        )


def _validate_template(argv: list[str]) -> None:
    """A checker that cannot run is a configuration error, found before any file is judged."""
    if not argv or not argv[0]:
        raise CheckerUnusable(
            "checker command is empty: give the program and a {file} argument",
            problem=CheckerProblem.EMPTY_COMMAND,
        )
    if not any("{file}" in arg for arg in argv[1:]):
        raise CheckerUnusable(
            f"checker command {shlex.join(argv)!r} has no {{file}} placeholder",
            problem=CheckerProblem.NO_FILE_PLACEHOLDER,
        )
    if "{" in argv[0] or shutil.which(argv[0]) is None:
        raise CheckerUnusable(
            f"checker program {argv[0]!r} not found or not executable",
            problem=CheckerProblem.PROGRAM_NOT_FOUND,
            remediation="Install it, put it on PATH, or give its full path.",
        )


def checker_from_spec(
    spec: str,
    *,
    timeout_sec: float,
    schema_path: Path | None = None,
    prefixes: tuple[str, ...] = DEFAULT_PREFIXES,
) -> Checker:
    """``python`` or ``yaml`` pick a built-in; anything else is split (never shelled) into argv."""
    name = spec.strip()
    if schema_path is not None and name != "yaml":
        raise CheckerUnusable(
            f"a schema applies only to the yaml checker, not to {spec!r}",
            problem=CheckerProblem.SCHEMA_NOT_FOR_CHECKER,
        )
    if name == "python":
        return PythonChecker(timeout_sec=timeout_sec)
    if name == "yaml":
        return _yaml_checker(schema_path)
    try:
        argv = shlex.split(spec)
    except ValueError as exc:
        raise CheckerUnusable(
            f"checker command {spec!r} cannot be split: {exc}",
            problem=CheckerProblem.UNSPLITTABLE_COMMAND,
        ) from exc
    return CommandChecker(argv, timeout_sec=timeout_sec, prefixes=prefixes)


def _yaml_checker(schema_path: Path | None) -> YamlChecker:
    if schema_path is None:
        return YamlChecker()
    try:
        return YamlChecker(schema=load_schema(schema_path))
    except CheckerUnusable as exc:
        if exc.message.startswith(str(schema_path)):
            raise
        raise CheckerUnusable(f"{schema_path}: {exc.message}", problem=exc.problem) from exc


def load_schema(path: Path) -> dict:
    """A JSON Schema from a .json file or a YAML file; a bad one is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
        schema = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise CheckerUnusable(
            f"{path}: cannot load the JSON Schema: {exc}", problem=CheckerProblem.SCHEMA_UNLOADABLE
        ) from exc
    if not isinstance(schema, dict):
        raise CheckerUnusable(
            f"{path}: a JSON Schema must be an object, not {type(schema).__name__}",
            problem=CheckerProblem.SCHEMA_NOT_AN_OBJECT,
        )
    return schema
