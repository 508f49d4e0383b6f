"""Fingerprints against golden values, and suppression files with malformed lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tasks.workflows.fingerprint import (
    Suppressions,
    fingerprint,
    is_fingerprint,
    load_suppressions,
)

# fmt: off
GOLDEN = [
    # code_name, line, message, the exact string hashed, its fingerprint (hand-computed)
    ("PARSE_ERROR", 12, "Parse error (assignment) line 12: goal",
     "PARSE_ERROR|12|Parse error (assignment) line 12: goal", "5c93e1c62ffe177c"),
    ("RUNTIME_ERROR", None, "ValueError: boom\nmore detail",
     "RUNTIME_ERROR||ValueError: boom", "89759555f51ad041"),
    ("VALIDATION_ERROR", 3, "undefined name 'foo'",
     "VALIDATION_ERROR|3|undefined name 'foo'", "4564b2f39550e131"),
    ("IO_ERROR", None, "", "IO_ERROR||", None),
]
# fmt: on


@pytest.mark.parametrize(("code_name", "line", "message", "hashed", "golden"), GOLDEN)
def test_fingerprint_golden_values(
    code_name: str, line: int | None, message: str, hashed: str, golden: str | None
) -> None:
    expected = hashlib.sha256(hashed.encode("utf-8")).hexdigest()[:16]
    assert fingerprint(code_name, line, message) == expected
    if golden is not None:
        assert expected == golden
    assert is_fingerprint(expected)


def test_only_the_first_message_line_counts() -> None:
    assert fingerprint("PARSE_ERROR", 1, "a\nb") == fingerprint("PARSE_ERROR", 1, "a\nc")
    assert fingerprint("PARSE_ERROR", 1, "a") != fingerprint("PARSE_ERROR", 2, "a")


SUPPRESSION_FILE = """# Experimental quantum workflows under redesign
a1b2c3d4e5f67890  # deprecated goal syntax
deadbeefcafe1234\t# awaiting plugin migration

   5c93e1c62ffe177c
A1B2C3D4E5F67890
a1b2c3d4e5f6789
not-a-fingerprint # with a comment
a1b2c3d4e5f67890#glued
"""


def test_suppression_file_with_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "workflow_suppressions.txt"
    path.write_text(SUPPRESSION_FILE)
    loaded = load_suppressions(path)
    assert loaded.fingerprints == {"a1b2c3d4e5f67890", "deadbeefcafe1234", "5c93e1c62ffe177c"}
    assert [w.split(": ")[0] for w in loaded.warnings] == [
        f"{path}:6",
        f"{path}:7",
        f"{path}:8",
        f"{path}:9",
    ]
    assert "'not-a-fingerprint'" in loaded.warnings[2]


@pytest.mark.parametrize(
    ("make", "warned"),
    [
        pytest.param(lambda p: None, False, id="missing-file"),
        pytest.param(lambda p: p.write_text(""), False, id="empty-file"),
        pytest.param(lambda p: p.mkdir(), True, id="unreadable-directory"),
        pytest.param(lambda p: p.write_bytes(b"\xff\xfe"), True, id="undecodable"),
    ],
)
def test_suppression_file_that_gives_nothing(tmp_path: Path, make, warned: bool) -> None:
    path = tmp_path / "suppressions.txt"
    make(path)
    loaded = load_suppressions(path)
    assert loaded.fingerprints == frozenset()
    assert bool(loaded.warnings) is warned
    if warned:
        assert loaded.warnings[0].startswith(f"{path}: cannot read")


def test_suppressions_are_frozen() -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        Suppressions().fingerprints = frozenset({"x"})  # type: ignore[misc]
