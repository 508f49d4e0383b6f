"""Seal a checkpoint directory, and verify it before anything loads its files.

:func:`verify_checkpoint` compares the directory with its manifest (missing, extra, torn or
truncated files: size, SHA-256 and CRC32) and checks every weights file's format
(:mod:`tasks.checkpoints.formats`); every fault is a :class:`Finding` in the report. Input that
cannot be checked at all (not a directory, an unreadable file, a corrupt manifest) raises
:class:`~blocks.errors.CheckpointInputError`. :func:`seal_checkpoint` runs the same format
checks and writes the manifest only when there is nothing to find.
"""

from __future__ import annotations

from pathlib import Path

from blocks.errors import CheckpointCode, CheckpointInputError
from tasks.checkpoints.formats import check_file, detect_format
from tasks.checkpoints.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    digest,
    list_entries,
    read_manifest,
    unreadable,
    write_manifest,
)
from tasks.checkpoints.report import CheckpointReport, FileCheck, Finding
from tasks.platform.clock import utc_now


def verify_checkpoint(directory: Path, *, require_manifest: bool = True) -> CheckpointReport:
    """Check ``directory`` against its manifest and check every weights file's format.

    Without a manifest, ``require_manifest=False`` checks the formats only (the report says
    ``manifest_checked=False``); with ``True`` the missing manifest is a finding.
    """
    directory = _checked_directory(directory)
    manifest = read_manifest(directory)
    files, others = list_entries(directory)
    findings = [_not_regular(rel) for rel in others]
    if manifest is None and require_manifest:
        findings.append(
            Finding(
                code=CheckpointCode.MANIFEST_MISSING,
                message=f"no {MANIFEST_NAME}: the files' integrity cannot be checked",
            )
        )
    expected = manifest.by_path() if manifest else {}
    for rel in sorted(set(expected) - set(files) - set(others)):
        findings.append(
            Finding(code=CheckpointCode.FILE_MISSING, path=rel, message="listed but not found")
        )
    checks = []
    for rel in files:
        entry = expected.get(rel)
        if manifest is not None and entry is None:
            message = "not in the manifest: added after sealing, or left by a failed write"
            findings.append(Finding(code=CheckpointCode.FILE_EXTRA, path=rel, message=message))
        check, found = _check(directory, rel, entry, hash_it=entry is not None)
        checks.append(check)
        findings.extend(found)
    findings.extend(_no_supported_file(checks))
    return CheckpointReport.of(
        str(directory), checks, findings, manifest_checked=manifest is not None
    )


def seal_checkpoint(directory: Path, *, overwrite: bool = False) -> CheckpointReport:
    """Hash every file and write the manifest, if every format check passes.

    An existing manifest is kept unless ``overwrite``: re-sealing must be a decision, since
    it would bless whatever the files hold now.
    """
    directory = _checked_directory(directory)
    if (directory / MANIFEST_NAME).exists() and not overwrite:
        raise CheckpointInputError(
            CheckpointCode.MANIFEST_EXISTS, f"{directory / MANIFEST_NAME} already exists"
        )
    files, others = list_entries(directory)
    findings = [_not_regular(rel) for rel in others]
    checks = []
    for rel in files:
        check, found = _check(directory, rel, None, hash_it=True)
        checks.append(check)
        findings.extend(found)
    findings.extend(_no_supported_file(checks))
    report = CheckpointReport.of(str(directory), checks, findings)
    if not report.ok:
        return report
    entries = [
        ManifestEntry(
            path=c.path, size=c.size, sha256=c.sha256 or "", crc32=c.crc32 or "", format=c.format
        )
        for c in checks
    ]
    write_manifest(directory, Manifest(sealed_at=utc_now(), files=entries))
    return report.model_copy(update={"sealed": True})


def _checked_directory(directory: Path) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        what = "is a file" if directory.exists() else "does not exist"
        raise CheckpointInputError(
            CheckpointCode.NOT_A_DIRECTORY, f"{directory} {what}, not a checkpoint directory"
        )
    return directory


def _check(
    directory: Path, rel: str, entry: ManifestEntry | None, *, hash_it: bool
) -> tuple[FileCheck, list[Finding]]:
    """One file: size (and hashes) against its manifest entry, then its format."""
    path = directory / rel
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
        fmt = detect_format(path, head)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    findings: list[Finding] = []
    sha256 = crc32 = None
    if entry is not None and entry.size != size:
        message = f"{size} bytes, sealed with {entry.size}: torn or truncated"
        findings.append(Finding(code=CheckpointCode.SIZE_MISMATCH, path=rel, message=message))
    elif hash_it:
        sha256, crc32 = digest(path)
        if entry is not None and (entry.sha256, entry.crc32) != (sha256, crc32):
            which = "SHA-256" if entry.sha256 != sha256 else "CRC32"
            message = f"same size, different bytes ({which} differs from the manifest)"
            findings.append(Finding(code=CheckpointCode.DIGEST_MISMATCH, path=rel, message=message))
    try:
        found_globals, format_findings = check_file(path, rel, fmt)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    findings.extend(format_findings)
    check = FileCheck(
        path=rel, size=size, format=fmt, sha256=sha256, crc32=crc32, globals=found_globals
    )
    return check, findings


def _not_regular(rel: str) -> Finding:
    return Finding(
        code=CheckpointCode.NOT_A_REGULAR_FILE,
        path=rel,
        message="not a regular file (a directory link, FIFO, socket, device or dangling link)",
    )


def _no_supported_file(checks: list[FileCheck]) -> list[Finding]:
    if any(check.format.supported for check in checks):
        return []
    message = "no safetensors, torch or pickle file: nothing here is a checkpoint"
    return [Finding(code=CheckpointCode.NO_SUPPORTED_FILE, message=message)]
