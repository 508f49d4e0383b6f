"""Whether the interpreter compiles a Python file: decided from its bytes, as ``python FILE`` is.

The interpreter never sees text: it reads bytes and decodes them itself (PEP 263: a UTF-8 BOM,
a ``coding`` declaration on line 1 or 2, UTF-8 otherwise). So the file's bytes go to
``compile`` exactly as read, and the compiler is the judge: whatever it refuses is refused,
whatever the reason. Only the category of a refusal is ours to say: bytes that the encoding
the file declares (or the UTF-8 default) cannot decode, or NUL bytes, are IO_ERROR (the file
is not readable source); every other refusal — a syntax error, an unknown codec name, a BOM
contradicting its declaration — is PARSE_ERROR.
"""

from __future__ import annotations

import ast
import codecs
import re
from pathlib import Path

from tasks.workflows.models import CheckStatus, Phase, WorkflowCode
from tasks.workflows.reading import io_error

# PEP 263's declaration and the lines before it that may precede it (blank or comment).
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
_BLANK_OR_COMMENT = re.compile(rb"^[ \t\f]*(?:[#\r\n]|$)", re.ASCII)
NUL = b"\x00"
_REFUSALS = (SyntaxError, ValueError, RecursionError, MemoryError)


def compile_source(path: Path, data: bytes) -> ast.Module | CheckStatus:
    """The file's syntax tree when the interpreter would compile ``data``, else the refusal.

    ``compile`` runs first, on the bytes (the verdict); the tree for validation comes from
    the same bytes. A tree that cannot be built after the compiler accepted the file is the
    checker's limit, not the file's fault: INTERNAL_ERROR.
    """
    try:
        compile(data, str(path), "exec", dont_inherit=True)
    except _REFUSALS as exc:
        return refusal(path, data, exc)
    try:
        return ast.parse(data, filename=str(path))
    except _REFUSALS as exc:
        message = f"compiled, but no syntax tree to validate: {type(exc).__name__}: {exc}"
        return CheckStatus(
            ok=False,
            code=WorkflowCode.INTERNAL_ERROR,
            file=str(path),
            phase=Phase.PARSE,
            message=message,
        )


def refusal(path: Path, data: bytes, exc: Exception) -> CheckStatus:
    """The verdict on bytes the compiler refused with ``exc``: IO_ERROR or PARSE_ERROR."""
    unreadable = undecodable(data)
    if unreadable is not None:
        return io_error(path, unreadable)
    if isinstance(exc, SyntaxError):
        message = f"{type(exc).__name__}: {exc.msg}"
        line = exc.lineno or None  # decoding problems are reported on line 0
    else:
        message, line = f"{type(exc).__name__}: {exc}".rstrip(": "), None
    return CheckStatus(
        ok=False,
        code=WorkflowCode.PARSE_ERROR,
        file=str(path),
        phase=Phase.PARSE,
        message=message,
        line=line,
    )


def undecodable(data: bytes) -> str | None:
    """Why ``data`` is not readable source in the encoding it declares; None when it is.

    A declaration that cannot be used (an unknown codec, a BOM with another encoding) is not
    an unreadable byte: that is the compiler's PARSE_ERROR to report.
    """
    if NUL in data:
        return f"binary file (NUL byte at offset {data.index(NUL)}), not Python source"
    encoding = declared_encoding(data)
    if encoding is None:
        return None
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        body.decode(encoding)
    except UnicodeDecodeError as exc:
        label = "UTF-8" if encoding == "utf-8" else encoding
        return f"not valid {label}: byte 0x{body[exc.start]:02x} at offset {exc.start}"
    return None


def declared_encoding(data: bytes) -> str | None:
    """The codec the interpreter decodes ``data`` with (PEP 263), by its canonical name; None
    when the declaration itself is unusable (an unknown codec, one that does not encode ASCII
    as ASCII, or a BOM contradicting it)."""
    name = _cookie(data)
    if name is None:
        return "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    if data.startswith(codecs.BOM_UTF8) and codec not in ("utf-8", "utf-8-sig"):
        return None
    if not _ascii_compatible(codec):  # e.g. utf-16: the declaration cannot declare itself
        return None
    return "utf-8" if codec == "utf-8-sig" else codec


def _cookie(data: bytes) -> str | None:
    """The encoding named on line 1, or on line 2 when line 1 is blank or a comment."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    for number, line in enumerate(body.splitlines(keepends=True)[:2]):
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode("ascii")
        if number == 0 and not _BLANK_OR_COMMENT.match(line):
            return None
    return None


def _ascii_compatible(codec: str) -> bool:
    probe = "# coding: x\n"
    try:
        return probe.encode(codec) == probe.encode("ascii")
    except (UnicodeError, LookupError, TypeError):  # e.g. a bytes-to-bytes codec
        return False
