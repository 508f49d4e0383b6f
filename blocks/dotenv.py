"""The ``.env`` file: ``KEY=VALUE`` lines as a shell and python-dotenv read them, strictly.

A missing, unreadable or malformed file is a :class:`ConfigError`; every malformed line is
reported at once, with its number.
"""

from __future__ import annotations

import re
from pathlib import Path

from blocks.errors import ConfigError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_dotenv(path: Path) -> dict[str, str]:
    """Read a ``.env`` file; a missing, unreadable or malformed one is a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the .env file {path}: {type(exc).__name__}: {exc}",
            remediation="Fix the path or the file's permissions/encoding, or pass no .env file.",
        ) from exc
    return parse_dotenv(text, origin=str(path))


def parse_dotenv(text: str, *, origin: str = ".env") -> dict[str, str]:
    """``KEY=VALUE`` lines; ``export `` prefix, quotes, ``#`` comments; the last repeat wins.

    Unquoted values end at a ``#`` that follows whitespace (``X=false  # note``); a ``#`` inside
    a value (``URL=http://h/#top``) stays. Single quotes are literal; double quotes understand
    ``\\"``, ``\\\\`` and ``\\n``. Every malformed line is reported at once, with its number.
    """
    values: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key, value = _parse_line(line)
        except ValueError as exc:
            problems.append(f"{origin}:{number}: {exc}: {raw.strip()!r}")
            continue
        values[key] = value
    if problems:
        raise ConfigError(
            f"{origin} has {len(problems)} malformed line(s)",
            problems=problems,
            remediation="Write each setting as KEY=VALUE (quote values with spaces or #).",
        )
    return values


def _parse_line(line: str) -> tuple[str, str]:
    if line.startswith("export ") or line.startswith("export\t"):
        line = line[len("export") :].lstrip()
    key, equals, rest = line.partition("=")
    key = key.strip()
    if not equals:
        raise ValueError("no '=' in the line")
    if not _KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not a variable name")
    if rest.strip()[:1] in ("'", '"'):
        return key, _quoted(rest.strip())
    comment = re.search(r"\s#", rest)  # "X= # note" is empty, "X=#x" is "#x", as in a shell
    return key, (rest[: comment.start()] if comment else rest).strip()


def _quoted(rest: str) -> str:
    quote, chars, index = rest[0], [], 1
    escapes = {'"': '"', "\\": "\\", "n": "\n"} if quote == '"' else {}
    while index < len(rest):
        char = rest[index]
        if char == "\\" and rest[index + 1 : index + 2] in escapes:
            chars.append(escapes[rest[index + 1]])
            index += 2
            continue
        if char == quote:
            tail = rest[index + 1 :].strip()
            if tail and not tail.startswith("#"):
                raise ValueError(f"text after the closing {quote}")
            return "".join(chars)
        chars.append(char)
        index += 1
    raise ValueError(f"no closing {quote}")
