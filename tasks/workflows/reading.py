"""Reading a workflow file for a checker: text, or an IO_ERROR verdict — never an exception.

A corpus of thousands of files always holds a few that cannot be read (a directory named like
a workflow, a binary blob, a huge generated file, a Latin-1 leftover). Each of those is a
classified IO_ERROR for that file, so one bad file never aborts a run.
"""

from __future__ import annotations

from pathlib import Path

from tasks.workflows.models import CheckStatus, Phase, WorkflowCode

DEFAULT_MAX_BYTES = 2_000_000
BINARY_SNIFF_BYTES = 8 * 1024  # a NUL byte in this prefix marks the file as binary


def read_source(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str | CheckStatus:
    """The file's UTF-8 text (a leading BOM dropped), or a CheckStatus saying why not."""
    text, problem = read_text(path, max_bytes)
    if text is None:
        return io_error(path, problem or "cannot read")
    return text.removeprefix("\ufeff")


def read_text(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str | None, str | None]:
    """``(text, None)`` for a UTF-8 text file (a BOM kept), else ``(None, why not)``; never raises.

    The one reader of workflow files: the classifier turns the reason into IO_ERROR, the
    migration into a skipped file.
    """
    data = read_bytes(path, max_bytes)
    if isinstance(data, str):
        return None, data
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        offset = data.index(b"\x00")
        return None, f"binary file (NUL byte at offset {offset}), not a text workflow"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes | str:
    """The bytes of a regular file of at most ``max_bytes``, or why they cannot be read."""
    try:
        if path.is_dir():
            return "is a directory, not a file"
        if path.exists() and not path.is_file():
            return "not a regular file (device, socket or pipe)"
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # never load a huge file whole
    except FileNotFoundError:
        return "file not found"
    except PermissionError:
        return "permission denied"
    except IsADirectoryError:
        return "is a directory, not a file"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if len(data) > max_bytes:
        return f"file larger than the size limit of {max_bytes:,} bytes"
    return data


def io_error(path: Path, message: str) -> CheckStatus:
    """The parse-phase IO_ERROR verdict for ``path``."""
    return CheckStatus(
        ok=False, code=WorkflowCode.IO_ERROR, file=str(path), phase=Phase.PARSE, message=message
    )
