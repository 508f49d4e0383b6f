"""The checker protocol: turn one checker run into a CheckStatus (seed 003).

A checker says what it found in the most precise way it can: a JSON status line on stdout
(``{"ok", "code", "code_name", "file", "phase", "message", "line"}``), else a
``<PREFIX>_ERROR_CODE:<int>`` line on stderr, else only its exit code and output text, which
the heuristics below sort into the seed's categories. A checker that was killed at its timeout
has no verdict of its own, so a timeout wins over whatever it printed before being killed.
"""

from __future__ import annotations

import json
import re

from tasks.workflows.models import Category, CheckStatus, Phase, WorkflowCode

DEFAULT_PREFIXES: tuple[str, ...] = ("WARDEN", "AETHER")
STATUS_KEYS = frozenset({"ok", "code", "code_name", "file", "phase", "message", "line"})
STATED_CODE = frozenset({"code", "code_name"})
PHASES = frozenset(member.value for member in Phase)
MESSAGE_LIMIT = 500

_LINE_NUMBER = re.compile(r"\bline\s+(\d+)", re.IGNORECASE)
_TRACEBACK_HEAD = "traceback (most recent call last):"

# Tried in order on the output of a failed run that said nothing structured.
HEURISTICS: tuple[tuple[WorkflowCode, re.Pattern[str]], ...] = (
    (WorkflowCode.PARSE_ERROR, re.compile(r"(parse|syntax)[ _-]?error", re.IGNORECASE)),
    (WorkflowCode.SIGNATURE_ERROR, re.compile(r"signature|unsigned", re.IGNORECASE)),
    (
        WorkflowCode.UNSUPPORTED_FEATURE,
        re.compile(r"not[ _-]?implemented|unsupported", re.IGNORECASE),
    ),
    (WorkflowCode.RUNTIME_ERROR, re.compile(r"traceback|error", re.IGNORECASE)),
)

CATEGORY_BY_CODE: dict[WorkflowCode, Category] = {
    WorkflowCode.SUCCESS: Category.OK,
    WorkflowCode.PARSE_ERROR: Category.PARSE_ERROR,
    WorkflowCode.SIGNATURE_ERROR: Category.SIGNATURE_MISSING,
    WorkflowCode.RUNTIME_ERROR: Category.RUNTIME_ERROR,
    WorkflowCode.TIMEOUT_ERROR: Category.TIMEOUT,
    WorkflowCode.UNSUPPORTED_FEATURE: Category.NOT_IMPLEMENTED,
}


def category_for(code: WorkflowCode) -> Category:
    """The seed's category of a code; codes without their own category are ``Other``."""
    return CATEGORY_BY_CODE.get(code, Category.OTHER)


def parse_status_line(stdout: str) -> dict | None:
    """The last line that is a JSON object with "ok" and a "code" or "code_name", limited to
    the protocol's keys."""
    for raw in reversed(stdout.splitlines()):
        line = raw.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        if isinstance(payload, dict) and "ok" in payload and STATED_CODE & payload.keys():
            return {key: value for key, value in payload.items() if key in STATUS_KEYS}
    return None


def parse_error_code(stderr: str, prefixes: tuple[str, ...] = DEFAULT_PREFIXES) -> int | None:
    """The number of the last ``<PREFIX>_ERROR_CODE:<int>`` line, for any accepted prefix."""
    if not prefixes:
        return None
    names = "|".join(re.escape(prefix) for prefix in prefixes)
    matches = re.findall(rf"\b(?:{names})_ERROR_CODE:\s*(-?\d+)", stderr)
    return int(matches[-1]) if matches else None


def interpret(
    file: str,
    phase: Phase,
    exit_code: int | None,
    stdout: str,
    stderr: str,
    timed_out: bool,
    prefixes: tuple[str, ...] = DEFAULT_PREFIXES,
) -> tuple[CheckStatus, bool]:
    """One checker run's verdict and whether the checker stated it (structured) or we guessed.

    Both streams are searched for the protocol lines: run_command merges them.
    """
    text = f"{stdout}\n{stderr}"
    if timed_out:
        message = "checker killed at its timeout before giving a verdict"
        return _status(file, phase, WorkflowCode.TIMEOUT_ERROR, message, None), False
    if exit_code is None:
        message = "checker did not run: " + (_first_meaningful(text) or "no exit code")
        return _status(file, phase, WorkflowCode.INTERNAL_ERROR, message, None), False
    payload = parse_status_line(stdout) or parse_status_line(stderr)
    number = parse_error_code(text, prefixes)
    if payload is not None:
        status = _from_payload(file, phase, exit_code, payload, text)
        return _against_error_code(status, number), True
    if number is not None:
        return _from_error_code(file, phase, exit_code, number, text), True
    return _from_heuristics(file, phase, exit_code, text), False


def _from_payload(file: str, phase: Phase, exit_code: int, payload: dict, text: str) -> CheckStatus:
    """A JSON status line's verdict. Its fields must agree with each other, with the exit code
    and with the phase asked for; any contradiction is INTERNAL_ERROR naming it."""
    message = _clip(str(payload.get("message") or "")) or _first_meaningful(text)
    line = payload.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) else None
    # A parse failure found in execute mode says so in its phase.
    stated = Phase(payload["phase"]) if payload.get("phase") in PHASES else phase
    code, problem = _stated_code(payload)
    if code is not None:
        problem = _contradiction(payload["ok"], code, phase, stated)
    if problem is not None or code is None:
        message = f"{problem}: {message}".rstrip(": ")
        return _status(file, phase, WorkflowCode.INTERNAL_ERROR, message, line)
    code, message = _checked_success(code, exit_code, message)
    return _status(file, stated, code, message, line)


def _stated_code(payload: dict) -> tuple[WorkflowCode | None, str | None]:
    """The code a status line states by number and/or name, or what is wrong with it."""
    raw_code, raw_name = payload.get("code"), payload.get("code_name")
    code = None
    if "code" in payload:
        code = _known_code(raw_code)
        if code is None:
            return None, f"checker reported unknown code {raw_code!r}"
    if "code_name" in payload:
        named = WorkflowCode.__members__.get(raw_name) if isinstance(raw_name, str) else None
        if named is None:
            return None, f"checker reported unknown code_name {raw_name!r}"
        if code is not None and named is not code:
            return None, (
                f"status line contradicts itself: code {int(code)} is {code.name}, "
                f"code_name says {named.name}"
            )
        code = named
    return code, None


def _contradiction(ok: object, code: WorkflowCode, asked: Phase, stated: Phase) -> str | None:
    """Why ``ok`` and the phase cannot stand with ``code``; None when they agree."""
    if not isinstance(ok, bool):
        return f"status line 'ok' is {ok!r}, not true or false"
    if ok is not (code is WorkflowCode.SUCCESS):
        said = "true" if ok else "false"
        return f"status line contradicts itself: ok {said} with code {int(code)} ({code.name})"
    if ok and asked is Phase.EXECUTE and stated is Phase.PARSE:
        return "asked to execute, the checker reported success of the parse phase only"
    return None


def _against_error_code(status: CheckStatus, number: int | None) -> CheckStatus:
    """A status line and an error-code line that disagree on success prove nothing."""
    if number is None or number == int(status.code):
        return status
    if status.code is not WorkflowCode.SUCCESS and number != int(WorkflowCode.SUCCESS):
        return status  # two failures: the status line, the more precise, names it
    message = f"status line says {status.code.name}, the error-code line {number}"
    message = f"{message}: {status.message}".rstrip(": ")
    return _status(status.file, status.phase, WorkflowCode.INTERNAL_ERROR, message, status.line)


def _from_error_code(
    file: str, phase: Phase, exit_code: int, number: int, text: str
) -> CheckStatus:
    """An ``_ERROR_CODE:`` line's verdict, with the message and line read from the output."""
    message = _first_meaningful(text)
    code = _known_code(number)
    if code is None:
        message = f"checker reported unknown code {number}: {message}".rstrip(": ")
        return _status(file, phase, WorkflowCode.INTERNAL_ERROR, message, None)
    line = _line_number(message, text, code)
    code, message = _checked_success(code, exit_code, message)
    return _status(file, phase, code, message, line)


def _from_heuristics(file: str, phase: Phase, exit_code: int, text: str) -> CheckStatus:
    """Exit 0 is SUCCESS; otherwise the first heuristic whose pattern the output matches."""
    if exit_code == 0:
        return _status(file, phase, WorkflowCode.SUCCESS, "", None)
    lines = _meaningful_lines(text)
    searchable = "\n".join(line for line in text.splitlines() if not _is_protocol_line(line))
    for code, pattern in HEURISTICS:
        hit = next((line for line in lines if pattern.search(line)), None)
        if hit is None and pattern.search(searchable):  # e.g. only in a traceback frame
            hit = lines[0] if lines else ""
        if hit is not None:
            message = _clip(hit) or f"exit code {exit_code}"
            return _status(file, phase, code, message, _line_number(message, text, code))
    message = _clip(lines[0]) if lines else f"exit code {exit_code} with no output"
    return _status(file, phase, WorkflowCode.GENERIC_FAILURE, message, None)


def _checked_success(code: WorkflowCode, exit_code: int, message: str) -> tuple[WorkflowCode, str]:
    """A SUCCESS that the exit code contradicts is not a pass: the checker misbehaved."""
    if code is WorkflowCode.SUCCESS and exit_code != 0:
        message = f"checker reported SUCCESS but exited with {exit_code}: {message}"
        return WorkflowCode.INTERNAL_ERROR, message.rstrip(": ")
    return code, message


def _known_code(raw: object) -> WorkflowCode | None:
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    try:
        return WorkflowCode(raw)
    except ValueError:
        return None


def _status(
    file: str, phase: Phase, code: WorkflowCode, message: str, line: int | None
) -> CheckStatus:
    ok = code is WorkflowCode.SUCCESS
    return CheckStatus(
        ok=ok, code=code, file=file, phase=phase, message=_clip(message), line=None if ok else line
    )


def _line_number(message: str, text: str, code: WorkflowCode) -> int | None:
    """The line named in the message; for parse errors, else the last one named in the output."""
    match = _LINE_NUMBER.search(message)
    if match:
        return int(match.group(1))
    if code is WorkflowCode.PARSE_ERROR:
        found = _LINE_NUMBER.findall(text)
        return int(found[-1]) if found else None
    return None


def _meaningful_lines(text: str) -> list[str]:
    """Output lines that say something: no blanks, protocol lines or traceback frames."""
    kept = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or raw[:1].isspace() or line.lower() == _TRACEBACK_HEAD:
            continue
        if _is_protocol_line(line):
            continue
        kept.append(line)
    return kept


def _is_protocol_line(line: str) -> bool:
    """An error-code line or a JSON object: never a message, never evidence for a heuristic."""
    stripped = line.strip()
    return "_ERROR_CODE:" in stripped or (stripped.startswith("{") and stripped.endswith("}"))


def _first_meaningful(text: str) -> str:
    lines = _meaningful_lines(text)
    return _clip(lines[0]) if lines else ""


def _clip(message: str) -> str:
    return message.strip()[:MESSAGE_LIMIT]
