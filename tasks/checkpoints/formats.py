"""Is each weights file what it claims to be, and safe to load? Checked without loading it.

safetensors: the header is parsed and validated whole (:mod:`.safetensors_format`).
Pickle-based files (``.pt``, ``.pth``, ``.bin``, ``.ckpt``, ``.pkl``, ``.pickle``, or any file
that starts like a pickle or a torch zip archive): every global each pickle imports is listed
with picklescan — which only disassembles the opcodes — and refused unless it is on torch's
weights-only allow-list (:mod:`.allow_list`). Nothing is ever unpickled.
"""

from __future__ import annotations

import pickletools
import zipfile
import zlib
from pathlib import Path
from typing import IO

from picklescan import scanner
from picklescan.torch import MAGIC_NUMBER, get_magic_number

from blocks.errors import CheckpointCode
from tasks.checkpoints.allow_list import canonical_global, is_weights_only
from tasks.checkpoints.report import FileFormat, Finding
from tasks.checkpoints.safetensors_format import SafetensorsError, read_safetensors_header

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle"})
ZIP_MAGIC = b"PK\x03\x04"
# Disassembly keeps every opcode's argument in memory. A weights-only pickle is small: torch
# keeps tensor bytes outside it (in the zip's data/ members), and a plain pickle that passes
# the allow-list can hold no storage at all. A larger one is refused rather than scanned.
MAX_PICKLE_BYTES = 256 * 1024 * 1024
_EXTENSION_OPCODES = frozenset({"EXT1", "EXT2", "EXT4"})
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, RuntimeError, NotImplementedError)


def detect_format(path: Path, head: bytes) -> FileFormat:
    """The format by suffix, or by the first bytes (a pickle hidden under another name)."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return FileFormat.SAFETENSORS
    if head.startswith(ZIP_MAGIC):
        if suffix in PICKLE_SUFFIXES or _has_data_pkl(path):
            return FileFormat.TORCH_ZIP
        return FileFormat.OTHER
    if suffix in PICKLE_SUFFIXES or (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5):
        return FileFormat.PICKLE
    return FileFormat.OTHER


def check_file(path: Path, rel: str, fmt: FileFormat) -> tuple[list[str], list[Finding]]:
    """``(globals, findings)`` for one file of a supported format; OSError propagates."""
    if fmt is FileFormat.SAFETENSORS:
        try:
            read_safetensors_header(path)
        except SafetensorsError as exc:
            return [], [_finding(CheckpointCode.SAFETENSORS_INVALID, rel, exc.message)]
        return [], []
    if fmt is FileFormat.TORCH_ZIP:
        return _check_torch_zip(path, rel)
    if fmt is FileFormat.PICKLE:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size <= MAX_PICKLE_BYTES and _magic_number(handle) == MAGIC_NUMBER:
                message = (
                    "legacy torch serialization (before torch 1.6: several pickles then raw "
                    "storage bytes) is not supported; re-save it with torch.save"
                )
                return [], [_finding(CheckpointCode.PICKLE_INVALID, rel, message)]
            handle.seek(0)
            return check_pickle_stream(handle, rel, size=size)
    return [], []


def check_pickle_stream(
    stream: IO[bytes], rel: str, *, size: int, member: str = ""
) -> tuple[list[str], list[Finding]]:
    """List a pickle stream's globals; refuse any off the allow-list, and any broken stream.

    ``member``: the archive member the stream is (named in the messages), '' for a whole file.
    """
    where = f"{member}: " if member else ""
    if size > MAX_PICKLE_BYTES:
        message = f"{where}a {size}-byte pickle is over the {MAX_PICKLE_BYTES}-byte scan limit"
        return [], [_finding(CheckpointCode.PICKLE_INVALID, rel, message)]
    if not stream.read(1):
        return [], [_finding(CheckpointCode.PICKLE_INVALID, rel, f"{where}empty, not a pickle")]
    stream.seek(0)
    findings: list[Finding] = []
    try:
        raw = scanner._list_globals(stream, multiple_pickles=True)  # opcodes only, no unpickling
    except scanner.GenOpsError as exc:  # globals found before the stream broke are checked too
        raw = exc.globals or set()
        message = f"{where}not a complete pickle: {exc}"
        findings.append(_finding(CheckpointCode.PICKLE_INVALID, rel, message))
    except ValueError as exc:  # a STACK_GLOBAL without two names: obfuscated on purpose
        raw = set()
        message = f"{where}imports a global whose name cannot be read statically ({exc})"
        findings.append(_finding(CheckpointCode.PICKLE_UNSAFE_GLOBAL, rel, message))
    names = sorted({canonical_global(*_pair(item)) for item in raw})
    unsafe = sorted(
        canonical_global(*_pair(item)) for item in raw if not is_weights_only(*_pair(item))
    )
    if unsafe:
        message = (
            f"{where}imports {', '.join(unsafe)}: not on torch's weights-only allow-list, so "
            "loading it could run code"
        )
        findings.insert(0, _finding(CheckpointCode.PICKLE_UNSAFE_GLOBAL, rel, message))
    stream.seek(0)
    if _uses_extension_registry(stream):
        message = (
            f"{where}imports a global through copyreg's extension registry (EXT1/EXT2/EXT4), "
            "which names no module to check"
        )
        findings.insert(0, _finding(CheckpointCode.PICKLE_UNSAFE_GLOBAL, rel, message))
    return names, findings


def _uses_extension_registry(stream: IO[bytes]) -> bool:
    """EXT opcodes load a callable registered under a number: picklescan does not list them."""
    while True:
        try:
            for opcode, _arg, _pos in pickletools.genops(stream):
                if opcode.name in _EXTENSION_OPCODES:
                    return True
        except ValueError:  # a broken stream: already a finding of the globals pass
            return False
        if not stream.read(1):
            return False
        stream.seek(-1, 1)


def _finding(code: CheckpointCode, rel: str, message: str) -> Finding:
    return Finding(code=code, path=rel, message=message)


def _magic_number(handle: IO[bytes]) -> int | None:
    """The first integer in the first pickle: torch's legacy format starts with its magic."""
    try:
        return get_magic_number(handle)
    except Exception:  # noqa: BLE001 - any disassembly failure: not the legacy format
        return None


def _pair(item: tuple[str, ...]) -> tuple[str, str]:
    """picklescan gives ``(module, name)``; a GLOBAL with no space gives a 1-tuple."""
    return (item[0], item[1]) if len(item) == 2 else (item[0], "")


def _has_data_pkl(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(_is_data_pkl(name) for name in archive.namelist())
    except _ZIP_ERRORS:
        return True  # a broken archive that may be a checkpoint: check it, and fail it


def _is_data_pkl(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "data.pkl"


def _check_torch_zip(path: Path, rel: str) -> tuple[list[str], list[Finding]]:
    """torch.save's archive: exactly one ``<name>/data.pkl``, no code; every .pkl scanned."""

    def invalid(message: str) -> tuple[list[str], list[Finding]]:
        return [], [_finding(CheckpointCode.PICKLE_INVALID, rel, message)]

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            data = [name for name in names if _is_data_pkl(name)]
            if len(data) != 1:
                return invalid(
                    f"a torch zip archive holds one <name>/data.pkl; this one holds {len(data)}"
                )
            code = [name for name in names if name.endswith(".py") or "/code/" in name]
            if code:
                return invalid(
                    f"TorchScript archive (code: {code[0]}): torch.jit.load runs its code; "
                    "save a state_dict instead"
                )
            globals_: set[str] = set()
            findings: list[Finding] = []
            for info in (i for i in archive.infolist() if i.filename.endswith(".pkl")):
                with archive.open(info) as member:
                    found, problems = check_pickle_stream(
                        member, rel, size=info.file_size, member=info.filename
                    )
                globals_.update(found)
                findings.extend(problems)
    except _ZIP_ERRORS as exc:
        return invalid(f"not a readable zip archive (torn or truncated?): {exc}")
    return sorted(globals_), findings
