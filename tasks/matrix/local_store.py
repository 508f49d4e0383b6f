"""The approved digest in a local JSON file per parameter, versioned like SSM's history: the
embedded default store. Compare-and-set holds across processes on one host (``flock``)."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from blocks.errors import BackendUnavailable
from tasks.matrix import digest_records
from tasks.matrix.digest_records import (
    DigestRecord,
    DigestStoreCorrupt,
    DigestStoreError,
    check_limit,
    check_parameter,
    check_write,
    raced,
)
from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.files import write_atomic
from tasks.platform.keys import slug

LOCK_TIMEOUT_S = 30.0


class _StoreFile(BaseModel):
    parameter: str
    versions: list[DigestRecord] = Field(min_length=1)


class LocalDigestStore:
    """One JSON file per parameter keeping its versions, oldest first, like SSM's history.

    Writes hold an exclusive ``flock`` on a sibling ``.lock`` file, check the version inside
    it and replace the file atomically, so compare-and-set holds across processes on one host.
    Reads need no lock: a reader sees the whole old file or the whole new one.
    """

    def __init__(
        self,
        parameter: str,
        directory: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        lock_timeout_seconds: float = LOCK_TIMEOUT_S,
    ) -> None:
        self.parameter = check_parameter(parameter)
        self.directory = Path(directory)
        self.path = self.directory / f"{slug(parameter)}.json"
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._clock = clock
        self._lock_timeout = lock_timeout_seconds

    def __repr__(self) -> str:
        return f"LocalDigestStore(parameter={self.parameter!r}, path='{self.path}')"

    def read(self) -> DigestRecord | None:
        versions = self._load()
        return versions[-1] if versions else None

    def history(self, limit: int = 20) -> list[DigestRecord]:
        check_limit(limit)
        return self._load()[::-1][:limit]

    def write(self, value: str, *, expected_version: int | None, writer: str) -> DigestRecord:
        check_write(self.parameter, value, expected_version, writer)
        with self._locked():
            versions = self._load()
            current = versions[-1].version if versions else None
            if current != expected_version:
                raise raced(self.parameter, expected_version, current)
            record = DigestRecord(
                value=value, version=(current or 0) + 1, modified_at=self._clock(), writer=writer
            )
            kept = [*versions, record][-digest_records.MAX_VERSIONS :]
            rows = [{**r.model_dump(), "modified_at": iso_utc(r.modified_at)} for r in kept]
            document = json.dumps({"parameter": self.parameter, "versions": rows}, indent=2)
            try:
                write_atomic(self.path, document + "\n")
            except OSError as exc:
                raise self._unusable("write", exc) from exc
        return record

    def _load(self) -> list[DigestRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise DigestStoreCorrupt(
                f"cannot read the digest store file {self.path}: {exc}"
            ) from exc
        try:
            stored = _StoreFile.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "file"
            raise DigestStoreCorrupt(
                f"the digest store file {self.path} is corrupt: {where}: {first['msg']}"
            ) from exc
        if stored.parameter != self.parameter:  # never "repair": it is another's history
            raise DigestStoreError(
                f"the digest store file {self.path} holds parameter {stored.parameter!r}, not "
                f"{self.parameter!r}: the two names share one file name",
                remediation="Rename one of the two parameters in invariants.yaml.",
            )
        numbers = [record.version for record in stored.versions]
        if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
            raise DigestStoreCorrupt(
                f"the digest store file {self.path} is corrupt: versions {numbers} do not increase"
            )
        return stored.versions

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(self._lock_path, "a")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise self._unusable("lock", exc) from exc
        with handle:
            deadline = time.monotonic() + self._lock_timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise BackendUnavailable(
                            f"another writer held {self._lock_path} for {self._lock_timeout:g}s",
                            remediation="Wait for the other promotion to finish, then re-run.",
                        ) from None
                    time.sleep(0.01)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _unusable(self, doing: str, exc: OSError) -> DigestStoreError:
        return DigestStoreError(
            f"cannot {doing} the digest store in {self.directory}: {exc.strerror or exc}",
            remediation="Point digest_store.path at a directory the worker can write.",
        )
