"""The python checker agrees with the interpreter: each corner case is also run as
``python FILE`` (sys.executable), and the checker passes exactly the files it compiles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.workflows.checkers import PythonChecker
from tasks.workflows.models import Phase, WorkflowCode
from tasks.workflows.python_source import declared_encoding, undecodable

BOM = b"\xef\xbb\xbf"
OK, PARSE, IO = WorkflowCode.SUCCESS, WorkflowCode.PARSE_ERROR, WorkflowCode.IO_ERROR

# fmt: off
CORNER_CASES = [
    # bytes of the file (nothing in them runs for long or prints much), expected verdict
    pytest.param(b"# -*- coding: latin-1 -*-\nx = 'caf\xe9'\n", OK, id="latin-1-declared"),
    pytest.param(b"#!/usr/bin/env python\n# vim: set fileencoding=latin-1 :\nx = '\xe9'\n", OK,
                 id="declaration-on-line-2-after-shebang"),
    pytest.param(b"# coding=cp1252\nx = '\x80'\n", OK, id="cp1252-declared"),
    pytest.param(BOM + b"x = 'bom'\n", OK, id="utf-8-bom"),
    pytest.param(BOM + b"# coding: utf-8\nx = 1\n", OK, id="bom-and-utf-8-declaration"),
    pytest.param(b"# coding: utf-8-sig\nx = 1\n", OK, id="utf-8-sig-declared"),
    pytest.param(b"x = 1\r\ny = 2\r\n", OK, id="crlf"),
    pytest.param("x = 'café'\n".encode(), OK, id="utf-8-default"),
    pytest.param(BOM + b"# coding: latin-1\nx = 1\n", PARSE, id="bom-contradicts-declaration"),
    pytest.param(b"# coding: no-such-codec\nx = 1\n", PARSE, id="unknown-codec"),
    pytest.param(b"# coding: utf-16\nx = 1\n", PARSE, id="utf-16-declared-in-ascii"),
    pytest.param(b"# coding: rot13\nx = 1\n", PARSE, id="text-to-text-codec"),
    pytest.param(b"# coding: hex\nx = 1\n", PARSE, id="bytes-to-bytes-codec"),
    pytest.param(b"# coding: utf-7\nx = 1\n", OK, id="utf-7-declared"),
    pytest.param(b"\n\n# coding: latin-1\nx = '\xe9'\n", IO, id="declaration-on-line-3"),
    pytest.param("# coding: ascii\nx = 'café'\n".encode(), IO,
                 id="utf-8-bytes-invalid-for-declared-ascii"),
    pytest.param(b"# coding: ascii\nx = 'caf\xe9'\n", IO, id="byte-invalid-for-declared-ascii"),
    pytest.param(b"x = 'caf\xe9'\n", IO, id="latin-1-bytes-undeclared"),
    pytest.param(b"x = 1\n# coding: latin-1\nx = '\xe9'\n", IO, id="declaration-too-late"),
    pytest.param(b"x = 1\x00\n", IO, id="null-byte"),
    pytest.param(b"x = 1\n# " + b"a" * 9000 + b"\x00\n", IO, id="null-byte-after-8-kib"),
    pytest.param(b"\x00\x01binary", IO, id="binary-blob"),
    pytest.param(b"x = (\n", PARSE, id="syntax-error"),
    pytest.param(b"x = 1\nreturn x\n", PARSE, id="compiler-only-error"),
]
# fmt: on


def interpreter_compiles(path: Path) -> bool:
    """What ``python FILE`` does with the file: exit 0, or a refusal before anything runs."""
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, timeout=60, cwd=path.parent
    )
    return done.returncode == 0


@pytest.mark.parametrize(("data", "expected"), CORNER_CASES)
def test_the_python_checker_agrees_with_the_interpreter(
    tmp_path: Path, data: bytes, expected: WorkflowCode
) -> None:
    path = tmp_path / "workflow.py"
    path.write_bytes(data)
    status, _ = PythonChecker(timeout_sec=30).check(path, Phase.PARSE)
    assert status.ok is interpreter_compiles(path)
    assert status.code is expected, status.message


@pytest.mark.parametrize(("data", "expected"), CORNER_CASES)
def test_execute_mode_agrees_too(tmp_path: Path, data: bytes, expected: WorkflowCode) -> None:
    path = tmp_path / "workflow.py"
    path.write_bytes(data)
    status, _ = PythonChecker(timeout_sec=30).check(path, Phase.EXECUTE)
    assert status.code is expected, status.message
    assert status.phase is (Phase.EXECUTE if status.ok else Phase.PARSE)


def test_unreadable_bytes_name_the_encoding_and_offset() -> None:
    assert (
        undecodable(b"# coding: ascii\nx = '\xe9'\n") == "not valid ascii: byte 0xe9 at offset 21"
    )
    assert undecodable(b"x = '\xe9'\n") == "not valid UTF-8: byte 0xe9 at offset 5"
    assert undecodable(b"x = 1\n") is None


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"x = 1\n", "utf-8"),
        (b"# -*- coding: Latin-1 -*-\n", "iso8859-1"),
        (b"\n# coding: cp1252\n", "cp1252"),
        (b"x = 1\n# coding: cp1252\n", "utf-8"),
        (BOM + b"# coding: utf-8\n", "utf-8"),
        (BOM + b"# coding: latin-1\n", None),
        (b"# coding: no-such-codec\n", None),
    ],
)
def test_declared_encoding_follows_pep_263(data: bytes, encoding: str | None) -> None:
    assert declared_encoding(data) == encoding
