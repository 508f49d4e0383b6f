"""What a checkpoint check found: one finding per fault, one entry per file, one verdict."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blocks.errors import CHECKPOINT_REMEDIATION, CheckpointCode

NOT_FINDINGS = frozenset(  # the verdict, and bad input (raised as CheckpointInputError)
    {
        CheckpointCode.VERIFIED,
        CheckpointCode.NOT_A_DIRECTORY,
        CheckpointCode.UNREADABLE,
        CheckpointCode.MANIFEST_CORRUPT,
        CheckpointCode.MANIFEST_EXISTS,
    }
)


class FileFormat(StrEnum):
    SAFETENSORS = "safetensors"  # header validated
    TORCH_ZIP = "torch-zip"  # torch.save's zip archive: its pickles' globals checked
    PICKLE = "pickle"  # a plain pickle stream: its globals checked
    OTHER = "other"  # config, tokenizer...: size and hashes only

    @property
    def supported(self) -> bool:
        """A weights format whose content is checked (not only hashed)."""
        return self is not FileFormat.OTHER


class Finding(BaseModel):
    """One fault; ``path`` is relative to the checkpoint directory ('' for the directory)."""

    model_config = ConfigDict(frozen=True)

    code: CheckpointCode
    path: str = ""
    message: str

    @model_validator(mode="after")
    def _a_finding_code(self) -> Finding:
        if self.code in NOT_FINDINGS:
            raise ValueError(f"{self.code} is not a finding's code")
        return self

    @property
    def remediation(self) -> str:
        return CHECKPOINT_REMEDIATION[self.code]


class FileCheck(BaseModel):
    """One regular file as found on disk (hashes only where they were computed)."""

    model_config = ConfigDict(frozen=True)

    path: str  # relative posix path
    size: int
    format: FileFormat
    sha256: str | None = None  # None: not hashed (verify without a manifest)
    crc32: str | None = None  # 8 lowercase hex digits
    globals: list[str] = Field(default_factory=list)  # pickles: every global they import


class CheckpointReport(BaseModel):
    """The verdict on one checkpoint directory.

    ``ok``: every check that applies ran and passed, and at least one weights file was found.
    ``manifest_checked``: files were compared with a manifest (presence, size, SHA-256, CRC32);
    false when verifying with ``require_manifest=False`` and none was there, or when sealing.
    ``sealed``: this call wrote the manifest (``seal`` only; never when a finding was made).
    ``code``: VERIFIED, or the first finding's code in :class:`CheckpointCode` order.
    """

    model_config = ConfigDict(frozen=True)

    directory: str
    ok: bool
    code: CheckpointCode
    manifest_checked: bool = False
    sealed: bool = False
    files: list[FileCheck] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    @model_validator(mode="after")
    def _verdict_follows_findings(self) -> CheckpointReport:
        """``ok`` and ``code`` are derived from the findings; no path may claim more."""
        expected = worst_code(self.findings)
        if self.code is not expected or self.ok is not (expected is CheckpointCode.VERIFIED):
            raise ValueError(f"ok={self.ok}, code={self.code} contradict the findings")
        if self.sealed and not self.ok:
            raise ValueError("a checkpoint with findings is never sealed")
        return self

    @classmethod
    def of(cls, directory: str, files: list[FileCheck], findings: list[Finding], **kw: bool):
        code = worst_code(findings)
        return cls(
            directory=directory,
            ok=code is CheckpointCode.VERIFIED,
            code=code,
            files=files,
            findings=findings,
            **kw,
        )

    @property
    def codes(self) -> set[CheckpointCode]:
        return {finding.code for finding in self.findings}


_ORDER = {code: index for index, code in enumerate(CheckpointCode)}


def worst_code(findings: list[Finding]) -> CheckpointCode:
    """The report's code: the first finding code in declaration order, VERIFIED if none."""
    if not findings:
        return CheckpointCode.VERIFIED
    return min((finding.code for finding in findings), key=_ORDER.__getitem__)
