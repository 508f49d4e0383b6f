"""A checkpoint's manifest: every file's size, SHA-256, CRC32 and format, written atomically.

The manifest (``checkpoint-manifest.json`` at the directory's top) is JSON, written to a
temporary file that is fsynced and renamed over: a reader sees the old manifest or the new
one, never half of one. Files are hashed in one streaming pass (SHA-256 and CRC32 together,
fixed-size chunks), so a multi-GB shard is never held in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zlib
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from blocks.errors import CheckpointCode, CheckpointInputError
from tasks.checkpoints.report import FileFormat
from tasks.platform.files import write_atomic

MANIFEST_NAME = "checkpoint-manifest.json"
CHUNK_BYTES = 4 * 1024 * 1024


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)  # relative posix path
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    crc32: str = Field(pattern=r"^[0-9a-f]{8}$")
    format: FileFormat

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        parts = value.split("/")
        if value.startswith("/") or any(part in {"", ".", ".."} for part in parts):
            raise ValueError(f"path {value!r} must be relative, inside the directory")
        return value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    sealed_at: datetime
    files: list[ManifestEntry]

    @field_validator("files")
    @classmethod
    def _unique(cls, files: list[ManifestEntry]) -> list[ManifestEntry]:
        paths = [entry.path for entry in files]
        if len(paths) != len(set(paths)):
            raise ValueError("a path is listed twice")
        return files

    def by_path(self) -> dict[str, ManifestEntry]:
        return {entry.path: entry for entry in self.files}


def read_manifest(directory: Path) -> Manifest | None:
    """The directory's manifest; None if there is none; a corrupt one raises (exit 2)."""
    path = directory / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointInputError(
            CheckpointCode.MANIFEST_CORRUPT, f"{path}: not UTF-8 text ({exc})"
        ) from exc
    except OSError as exc:
        raise unreadable(path, exc) from exc
    try:
        return Manifest.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        message = f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})"
        raise CheckpointInputError(CheckpointCode.MANIFEST_CORRUPT, message) from exc
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        message = f"{path}: not a checkpoint manifest ({fields})"
        raise CheckpointInputError(CheckpointCode.MANIFEST_CORRUPT, message) from exc


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = directory / MANIFEST_NAME
    write_atomic(path, manifest.model_dump_json(indent=2) + "\n")
    return path


def unreadable(path: Path, exc: OSError) -> CheckpointInputError:
    reason = exc.strerror or type(exc).__name__
    return CheckpointInputError(CheckpointCode.UNREADABLE, f"{path}: cannot be read ({reason})")


def list_entries(directory: Path) -> tuple[list[str], list[str]]:
    """``(regular files, other entries)`` as sorted relative posix paths, manifest excluded.

    Directory links are listed as other entries and not followed; FIFOs, sockets and devices
    are never opened (reading a FIFO would block). A link to a regular file counts as that
    file, as a loader would read it.
    """
    files, others = [], []
    for root, dirs, names in os.walk(directory, followlinks=False, onerror=_raise):
        here = Path(root)
        for name in list(dirs):
            if (here / name).is_symlink():
                others.append((here / name).relative_to(directory).as_posix())
                dirs.remove(name)
        for name in names:
            rel = (here / name).relative_to(directory).as_posix()
            if rel == MANIFEST_NAME:
                continue
            try:
                mode = (here / name).stat().st_mode  # follows a link to its target
            except FileNotFoundError:
                others.append(rel)  # a dangling link
                continue
            except OSError as exc:
                raise unreadable(here / name, exc) from exc
            (files if stat.S_ISREG(mode) else others).append(rel)
    return sorted(files), sorted(others)


def _raise(exc: OSError) -> None:
    raise unreadable(Path(exc.filename or "?"), exc) from exc


def digest(path: Path) -> tuple[str, str]:
    """``(sha256 hex, crc32 as 8 hex digits)`` in one streaming pass of fixed-size chunks."""
    sha, crc = hashlib.sha256(), 0
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    try:
        with path.open("rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                chunk = view[:count]
                sha.update(chunk)
                crc = zlib.crc32(chunk, crc)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    return sha.hexdigest(), f"{crc:08x}"
