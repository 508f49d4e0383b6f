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
    data = _read_bytes(path, max_bytes)
    if isinstance(data, CheckStatus):
        return data
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        offset = data.index(b"\x00")
        return io_error(path, f"binary file (NUL byte at offset {offset}), not a text workflow")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return io_error(
            path, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        )
    return text.removeprefix("\ufeff")


def _read_bytes(path: Path, max_bytes: int) -> bytes | CheckStatus:
    """At most ``max_bytes`` + 1 bytes of a regular file, or the IO_ERROR explaining why not."""
    try:
        if path.is_dir():
            return io_error(path, "is a directory, not a file")
        if path.exists() and not path.is_file():
            return io_error(path, "not a regular file (device, socket or pipe)")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # never load a huge file whole
    except FileNotFoundError:
        return io_error(path, "file not found")
    except PermissionError:
        return io_error(path, "permission denied")
    except IsADirectoryError:
        return io_error(path, "is a directory, not a file")
    except OSError as exc:
        return io_error(path, f"cannot read: {exc.strerror or exc}")
    if len(data) > max_bytes:
        return io_error(path, f"file larger than the size limit of {max_bytes:,} bytes")
    return data


def io_error(path: Path, message: str) -> CheckStatus:
    """The parse-phase IO_ERROR verdict for ``path``."""
    return CheckStatus(
        ok=False, code=WorkflowCode.IO_ERROR, file=str(path), phase=Phase.PARSE, message=message
    )
