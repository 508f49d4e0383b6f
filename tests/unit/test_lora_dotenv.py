"""The ``.env`` file (blocks/dotenv.py): lines as a shell reads them, and every fault reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blocks.dotenv import parse_dotenv, read_dotenv
from blocks.errors import ConfigError, ExitCode

# fmt: off
DOTENV_LINES = [
    # line, parsed
    pytest.param("A=1", {"A": "1"}, id="plain"),
    pytest.param("export A=1", {"A": "1"}, id="export"),
    pytest.param("  A = 1  ", {"A": "1"}, id="spaces"),
    pytest.param("A='x # not a comment'  # comment", {"A": "x # not a comment"}, id="single"),
    pytest.param('A="say \\"hi\\"\\n"', {"A": 'say "hi"\n'}, id="double-escapes"),
    pytest.param("A='c:\\\\path'", {"A": "c:\\\\path"}, id="single-is-literal"),
    pytest.param("A=http://h/#top", {"A": "http://h/#top"}, id="hash-inside-value"),
    pytest.param("A=x\t# tab comment", {"A": "x"}, id="tab-comment"),
    pytest.param("A=", {"A": ""}, id="empty"),
    pytest.param("A= # only a comment", {"A": ""}, id="comment-only-value"),
    pytest.param("# A=1\n\n   # indented comment", {}, id="comments"),
]
# fmt: on


@pytest.mark.parametrize(("line", "parsed"), DOTENV_LINES)
def test_dotenv_lines(line: str, parsed: dict[str, str]) -> None:
    assert parse_dotenv(line) == parsed


def test_malformed_dotenv_lines_are_all_reported_with_their_numbers() -> None:
    text = 'A=1\nJUST_A_WORD\n2X=1\nB=\'open\nC="x" y\n'
    with pytest.raises(ConfigError) as caught:
        parse_dotenv(text, origin="/srv/.env")
    assert caught.value.problems == [
        "/srv/.env:2: no '=' in the line: 'JUST_A_WORD'",
        "/srv/.env:3: '2X' is not a variable name: '2X=1'",
        "/srv/.env:4: no closing ': \"B='open\"",
        '/srv/.env:5: text after the closing ": \'C="x" y\'',
    ]
    assert "KEY=VALUE" in caught.value.remediation


def test_an_unreadable_dotenv_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.env"
    with pytest.raises(ConfigError, match=f"cannot read the .env file {missing}"):
        read_dotenv(missing)
    latin = tmp_path / "latin.env"
    latin.write_bytes(b"GAUNTLET_ENABLED=true # caf\xe9\n")
    for unreadable in (tmp_path, latin):  # a folder; not UTF-8
        with pytest.raises(ConfigError) as caught:
            read_dotenv(unreadable)
        assert caught.value.code == ExitCode.USAGE_ERROR


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_dotenv_without_read_permission_is_a_config_error(tmp_path: Path) -> None:
    locked = tmp_path / ".env"
    locked.write_text("GAUNTLET_ENABLED=true\n")
    locked.chmod(0)
    with pytest.raises(ConfigError) as caught:
        read_dotenv(locked)
    assert caught.value.code == ExitCode.USAGE_ERROR
