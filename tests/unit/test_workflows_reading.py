"""Reading workflow files: text, or IO_ERROR for anything that cannot be read as text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.workflows.models import CheckStatus, Phase, WorkflowCode
from tasks.workflows.reading import read_source

# fmt: off
UNREADABLE = [
    # name, content (None: a directory), max_bytes, words the message must hold
    pytest.param("missing.py", "absent", 100, "not found", id="missing"),
    pytest.param("folder.py", None, 100, "directory", id="directory"),
    pytest.param("huge.py", b"x" * 101, 100, "size limit of 100 bytes", id="huge"),
    pytest.param("blob.py", b"print(1)\n\x00\x01\x02", 100, "binary", id="binary"),
    pytest.param("latin.py", b"name = 'caf\xe9'\n", 100, "offset 11", id="undecodable"),
]
# fmt: on


def _make(tmp_path: Path, name: str, content: bytes | str | None) -> Path:
    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    return path  # a str content stands for a file that is not there


@pytest.mark.parametrize(("name", "content", "max_bytes", "words"), UNREADABLE)
def test_unreadable_files_are_io_errors(
    tmp_path: Path, name: str, content: bytes | str | None, max_bytes: int, words: str
) -> None:
    path = _make(tmp_path, name, content)
    status = read_source(path, max_bytes=max_bytes)
    assert isinstance(status, CheckStatus)
    assert (status.ok, status.code, status.phase) == (False, WorkflowCode.IO_ERROR, Phase.PARSE)
    assert status.file == str(path)
    assert words in status.message


@pytest.mark.parametrize(
    ("content", "max_bytes", "expected"),
    [
        pytest.param(b"x = 1\n", 100, "x = 1\n", id="plain"),
        pytest.param(b"\xef\xbb\xbfx = 1\n", 100, "x = 1\n", id="bom-dropped"),
        pytest.param("é\n".encode(), 100, "é\n", id="utf8"),
        pytest.param(b"x" * 100, 100, "x" * 100, id="exactly-the-limit"),
        pytest.param(b"", 100, "", id="empty"),
    ],
)
def test_readable_files_give_text(
    tmp_path: Path, content: bytes, max_bytes: int, expected: str
) -> None:
    path = tmp_path / "ok.py"
    path.write_bytes(content)
    assert read_source(path, max_bytes=max_bytes) == expected


def test_nul_byte_after_the_sniffed_prefix_is_an_undecodable_error_not_a_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "late.py"
    path.write_bytes(b"#" * 9000 + b"\xff")
    status = read_source(path)
    assert isinstance(status, CheckStatus)
    assert "offset 9000" in status.message


def test_permission_denied_is_an_io_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root here, where chmod 000 does not stop a read: simulate the kernel's answer.
    path = tmp_path / "secret.py"
    path.write_text("x = 1\n")
    real_open = Path.open

    def deny(self: Path, *args, **kwargs):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)
    status = read_source(path)
    assert isinstance(status, CheckStatus)
    assert status.code is WorkflowCode.IO_ERROR
    assert status.message == "permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_chmod_000_is_an_io_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.py"
    path.write_text("x = 1\n")
    path.chmod(0)
    status = read_source(path)
    assert isinstance(status, CheckStatus)
    assert status.message == "permission denied"


def test_a_pipe_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "pipe.py"
    os.mkfifo(path)
    status = read_source(path)
    assert isinstance(status, CheckStatus)
    assert "not a regular file" in status.message
