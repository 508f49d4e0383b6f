"""The local adapter registry: immutable versions, ``stable``/``canary`` pointers, a history.

Layout under ``root``::

    versions/<version>/adapter/...     the adapter, copied in and verified against its manifest
    versions/<version>/manifest.json   {version, sha256, files, stored_at, source, rank, ...}
    stable, canary                     pointer files {version, previous_stable, at}, atomic
    history.jsonl                      append-only {at, action, version, previous_stable}
    .lock                              fcntl.flock around every mutation

A version is immutable: storing it again with other bytes is refused. The canary pointer
records the stable it replaced, so a rollback restores exactly that one. This is the local
:class:`~tasks.lora.deploy_targets.DeployTarget`, and the pointer/history store of the vLLM target.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from blocks.errors import BackendUnavailable, ConfigError, ExitCode, UsageError, WardenError
from tasks.lora.adapter import DEFAULT_MAX_BYTES, AdapterReport, inspect_adapter, manifest_of
from tasks.platform.clock import iso_utc, utc_now
from tasks.platform.files import write_atomic

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # versions and name prefixes
DEFAULT_LOCK_TIMEOUT = 30.0


class Slot(StrEnum):
    STABLE = "stable"
    CANARY = "canary"


class HistoryAction(StrEnum):
    DEPLOY_CANARY = "deploy_canary"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


class Pointers(BaseModel):
    model_config = ConfigDict(frozen=True)

    stable: str | None = None
    canary: str | None = None


class PointerRecord(BaseModel):
    """A pointer file: which version, and the stable it replaced (for the canary: the one a
    rollback restores; for the stable: the one it superseded)."""

    model_config = ConfigDict(frozen=True)

    version: str
    previous_stable: str | None = None
    at: str


class RollbackResult(BaseModel):
    """What a rollback did, or found when there was nothing to do (``rolled_back`` False)."""

    model_config = ConfigDict(frozen=True)

    target: str
    rolled_back: bool
    canary: str | None  # the canary removed (None: there was none)
    stable: str | None  # the stable pointer afterwards
    stable_restored: bool = False  # the stable pointer had moved and was put back
    canary_was_loaded: bool | None = None  # servers only: whether the canary was still loaded
    stable_reloaded: bool = False  # servers only: the stable adapter was missing and reloaded
    message: str


class AdapterRejected(WardenError):
    """The adapter failed its integrity checks; it was not stored."""

    code = ExitCode.VERDICT_FAILED
    remediation = "Fix the problems listed (re-export the adapter) and deploy it again."

    def __init__(self, message: str, *, problems: list[str]) -> None:
        super().__init__(message + "".join(f"\n  - {p}" for p in problems))
        self.problems = problems


class VersionConflict(UsageError):
    """A version already exists with other bytes: versions are immutable."""

    remediation = "Deploy the new bytes under a new version name; a version never changes."


class RegistryBusy(BackendUnavailable):
    """Another process held the registry lock for longer than the lock timeout."""

    remediation = "Wait for the other deploy/promote/rollback to finish, then run again."


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def default_version(sha256: str) -> str:
    """A version name for an adapter deployed without one: ``sha-<first 12 of its SHA-256>``."""
    return f"sha-{sha256[:12]}"


def adapter_model_name(prefix: str, version: str) -> str:
    """The name an OpenAI-compatible server knows a version by: ``<prefix>-<version>``."""
    return f"{prefix}-{version}"


class LocalRegistry:
    """Adapter versions and deploy pointers on a local filesystem; safe across processes."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        name_prefix: str = "lora",
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.root = Path(root)
        self.name_prefix = check_name(name_prefix, "name_prefix")
        if lock_timeout <= 0 or max_bytes < 1:
            raise UsageError(f"lock_timeout ({lock_timeout}) and max_bytes must be positive")
        self.lock_timeout, self.max_bytes = lock_timeout, max_bytes
        self._held = threading.local()
        (self.root / "versions").mkdir(parents=True, exist_ok=True)

    # -- reading ---------------------------------------------------------------------------
    def current(self) -> Pointers:
        stable, canary = self._read_pointer(Slot.STABLE), self._read_pointer(Slot.CANARY)
        return Pointers(
            stable=stable.version if stable else None, canary=canary.version if canary else None
        )

    def canary_record(self) -> PointerRecord | None:
        return self._read_pointer(Slot.CANARY)

    def version_in(self, slot: Slot | str) -> str | None:
        """The version a slot points at; a slot other than stable/canary is a UsageError."""
        try:
            slot = Slot(slot)
        except ValueError:
            raise UsageError(f"slot {slot!r} is not one of: stable, canary") from None
        return getattr(self.current(), slot.value)

    def model_name(self, slot: Slot | str) -> str | None:
        version = self.version_in(slot)
        return adapter_model_name(self.name_prefix, version) if version else None

    def versions(self) -> list[str]:
        return sorted(p.parent.name for p in (self.root / "versions").glob("*/manifest.json"))

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.root / "versions" / check_name(version, "version") / "manifest.json"
        if not path.is_file():
            known = ", ".join(self.versions()) or "none"
            raise UsageError(f"version {version!r} is not in {self.root} (stored: {known})")
        return json.loads(path.read_text(encoding="utf-8"))

    def adapter_path(self, version: str) -> Path:
        self.manifest(version)  # raises for an unknown version
        return (self.root / "versions" / version / "adapter").resolve()

    def history(self) -> list[dict[str, Any]]:
        path = self.root / "history.jsonl"
        if not path.exists():
            return []
        entries = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise ConfigError(
                    f"{path}:{number}: not a JSON line ({exc})",
                    remediation="Restore the file from backup; history is append-only.",
                ) from exc
        return entries

    # -- mutating --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the registry lock; re-entrant within one thread, exclusive across processes."""
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._acquire(fd)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RegistryBusy(
                        f"registry {self.root} is locked by another process "
                        f"(waited {self.lock_timeout:g}s)"
                    ) from None
                time.sleep(0.01)

    def check_deployable(self, version: str) -> None:
        """Refuse a canary while another is live, and a canary of the current stable."""
        check_name(version, "version")
        pointers = self.current()
        if pointers.canary not in (None, version):
            raise UsageError(
                f"canary {pointers.canary!r} is already deployed; it must be promoted or "
                f"rolled back before {version!r} can be deployed",
                remediation="Promote or roll back the live canary first.",
            )
        if pointers.stable == version and pointers.canary is None:
            raise UsageError(
                f"version {version!r} is already stable; a canary must be a new version",
                remediation="Deploy the new adapter under a new version name.",
            )

    def store_version(self, version: str, adapter_dir: Path) -> Path:
        """Check and copy an adapter in as ``version``; a same-bytes re-store is a no-op."""
        check_name(version, "version")
        report = inspect_adapter(Path(adapter_dir), max_bytes=self.max_bytes)
        if not report.ok:
            problems = [f"{p.code}: {p.message}" for p in report.problems]
            raise AdapterRejected(f"adapter {adapter_dir} failed its checks", problems=problems)
        with self.transaction():
            target = self.root / "versions" / version
            if (target / "manifest.json").is_file():
                stored = self.manifest(version)["sha256"]
                if stored != report.sha256:
                    raise VersionConflict(
                        f"version {version!r} already holds adapter {stored[:12]}; "
                        f"{adapter_dir} is {report.sha256[:12]}"
                    )
                return self.adapter_path(version)
            if target.exists():
                raise ConfigError(
                    f"{target} exists but has no manifest.json",
                    remediation=f"It was not written by the registry; move {target} aside.",
                )
            self._publish(version, Path(adapter_dir), report)
        return self.adapter_path(version)

    def _publish(self, version: str, adapter_dir: Path, report: AdapterReport) -> None:
        """Copy into a staging folder, verify the copy, then rename it into place at once."""
        staging = self.root / "versions" / f".staging-{version}-{uuid.uuid4().hex}"
        try:
            shutil.copytree(adapter_dir, staging / "adapter")
            if manifest_of(staging / "adapter") != report.manifest:
                raise AdapterRejected(
                    f"the copy of {adapter_dir} differs from what was checked",
                    problems=["the source changed while it was being stored; retry"],
                )
            manifest = {
                "version": version,
                "sha256": report.sha256,
                "files": report.manifest,
                "stored_at": iso_utc(utc_now()),
                "source": str(adapter_dir.resolve()),
                "rank": report.rank,
                "alpha": report.alpha,
                "target_modules": report.target_modules,
                "parameters": report.parameters,
            }
            write_atomic(staging / "manifest.json", json.dumps(manifest, indent=2) + "\n")
            staging.rename(self.root / "versions" / version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def set_canary(self, version: str) -> None:
        """Point ``canary`` at a stored version; re-pointing at the live canary is a no-op."""
        with self.transaction():
            self.check_deployable(version)
            self.manifest(version)
            pointers = self.current()
            if pointers.canary == version:
                return
            self._write_pointer(Slot.CANARY, version, pointers.stable)
            self._append(HistoryAction.DEPLOY_CANARY, version, pointers.stable)

    def deploy_canary(self, version: str, adapter_dir: Path) -> None:
        check_name(version, "version")  # bad input touches nothing, not even the lock file
        with self.transaction():
            self.check_deployable(version)
            self.store_version(version, adapter_dir)
            self.set_canary(version)

    def promote_canary(self) -> None:
        with self.transaction():
            pointers = self.current()
            if pointers.canary is None:
                raise UsageError(
                    f"registry {self.root} has no canary to promote",
                    remediation="Deploy a canary first (and let it pass the gauntlet).",
                )
            if pointers.stable != pointers.canary:  # equal: a promote was cut short; finish it
                self._write_pointer(Slot.STABLE, pointers.canary, pointers.stable)
            (self.root / Slot.CANARY).unlink()
            self._append(HistoryAction.PROMOTE, pointers.canary, pointers.stable)

    def rollback(self) -> RollbackResult:
        """Remove the canary and restore the stable it replaced; without a canary, a no-op."""
        with self.transaction():
            record = self.canary_record()
            stable = self.current().stable
            if record is None:
                return RollbackResult(
                    target=self.name,
                    rolled_back=False,
                    canary=None,
                    stable=stable,
                    message=f"no canary deployed: nothing to roll back (stable is {stable})",
                )
            restored = stable != record.previous_stable
            if restored and record.previous_stable is None:
                (self.root / Slot.STABLE).unlink(missing_ok=True)
            elif restored:
                self._write_pointer(Slot.STABLE, record.previous_stable, stable)
            (self.root / Slot.CANARY).unlink()
            self._append(HistoryAction.ROLLBACK, record.version, record.previous_stable)
            return RollbackResult(
                target=self.name,
                rolled_back=True,
                canary=record.version,
                stable=record.previous_stable,
                stable_restored=restored,
                message=f"rolled back canary {record.version}; stable is {record.previous_stable}",
            )

    # -- files -----------------------------------------------------------------------------
    def _read_pointer(self, slot: Slot) -> PointerRecord | None:
        path = self.root / slot
        try:
            return PointerRecord.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise ConfigError(
                f"pointer file {path} is unreadable: {exc}",
                remediation=f"Restore {path} from the last entry of history.jsonl.",
            ) from exc

    def _write_pointer(self, slot: Slot, version: str, previous_stable: str | None) -> None:
        record = {"version": version, "previous_stable": previous_stable, "at": iso_utc(utc_now())}
        write_atomic(self.root / slot, json.dumps(record) + "\n")

    def _append(self, action: HistoryAction, version: str, previous_stable: str | None) -> None:
        entry = {
            "at": iso_utc(utc_now()),
            "action": str(action),
            "version": version,
            "previous_stable": previous_stable,
        }
        fd = os.open(self.root / "history.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
