"""Seal and verify real checkpoint directories: torn, truncated, missing, extra files."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from blocks.errors import CheckpointCode, CheckpointInputError, ExitCode
from tasks.checkpoints import manifest as manifest_module
from tasks.checkpoints.manifest import MANIFEST_NAME, digest, read_manifest
from tasks.checkpoints.report import FileFormat
from tasks.checkpoints.verify import seal_checkpoint, verify_checkpoint
from tests.checkpoint_files import write_checkpoint, write_weights

C = CheckpointCode


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    directory = write_checkpoint(tmp_path / "ckpt")
    assert seal_checkpoint(directory).sealed
    return directory


def test_a_sealed_checkpoint_verifies(sealed: Path) -> None:
    report = verify_checkpoint(sealed)

    assert (report.ok, report.code, report.manifest_checked) == (True, C.VERIFIED, True)
    formats = {check.path: check.format for check in report.files}
    assert formats == {
        "config.json": FileFormat.OTHER,
        "model.safetensors": FileFormat.SAFETENSORS,
        "optimizer.pt": FileFormat.TORCH_ZIP,
    }
    torch_zip = next(check for check in report.files if check.path == "optimizer.pt")
    assert "torch._utils._rebuild_tensor_v2" in torch_zip.globals


def test_the_manifest_holds_size_sha256_crc32_and_format(sealed: Path) -> None:
    manifest = read_manifest(sealed)
    assert manifest is not None
    entry = manifest.by_path()["model.safetensors"]
    data = (sealed / "model.safetensors").read_bytes()
    assert entry.size == len(data)
    assert entry.sha256 == hashlib.sha256(data).hexdigest()
    assert entry.crc32 == f"{zlib.crc32(data):08x}"
    assert entry.format is FileFormat.SAFETENSORS
    assert MANIFEST_NAME not in manifest.by_path()


def test_a_truncated_file_is_a_size_mismatch(sealed: Path) -> None:
    weights = sealed / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-16])  # a torn write

    report = verify_checkpoint(sealed)

    assert (report.ok, report.code) == (False, C.SIZE_MISMATCH)
    assert {(f.code, f.path) for f in report.findings} >= {(C.SIZE_MISMATCH, "model.safetensors")}
    assert C.SAFETENSORS_INVALID in report.codes  # the format check sees it too


def test_same_size_other_bytes_is_a_digest_mismatch(sealed: Path) -> None:
    config = sealed / "config.json"
    config.write_text('{"hidden": 9}\n')

    report = verify_checkpoint(sealed)

    assert (report.ok, report.code) == (False, C.DIGEST_MISMATCH)
    assert [f.path for f in report.findings] == ["config.json"]


def test_a_missing_file_fails(sealed: Path) -> None:
    (sealed / "optimizer.pt").unlink()

    report = verify_checkpoint(sealed)

    assert (report.ok, report.code) == (False, C.FILE_MISSING)
    assert [(f.code, f.path) for f in report.findings] == [(C.FILE_MISSING, "optimizer.pt")]


def test_an_extra_file_fails(sealed: Path) -> None:
    (sealed / "sub").mkdir()
    (sealed / "sub" / "notes.txt").write_text("added later")

    report = verify_checkpoint(sealed)

    assert (report.ok, report.code) == (False, C.FILE_EXTRA)
    assert [(f.code, f.path) for f in report.findings] == [(C.FILE_EXTRA, "sub/notes.txt")]


def test_no_manifest_fails_unless_only_formats_are_asked_for(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")

    required = verify_checkpoint(directory)
    formats_only = verify_checkpoint(directory, require_manifest=False)

    assert (required.ok, required.code) == (False, C.MANIFEST_MISSING)
    assert (formats_only.ok, formats_only.code) == (True, C.VERIFIED)
    assert formats_only.manifest_checked is False  # says what was not proven
    assert all(check.sha256 is None for check in formats_only.files)


@pytest.mark.parametrize("contents", ["{not json", "[]", '{"version": 1, "files": []}', ""])
def test_a_corrupt_manifest_is_a_typed_input_error(sealed: Path, contents: str) -> None:
    (sealed / MANIFEST_NAME).write_text(contents)

    with pytest.raises(CheckpointInputError) as caught:
        verify_checkpoint(sealed)

    assert (caught.value.reason, caught.value.code) == (C.MANIFEST_CORRUPT, ExitCode.USAGE_ERROR)
    assert MANIFEST_NAME in caught.value.message


def test_a_manifest_path_outside_the_directory_is_corrupt(sealed: Path) -> None:
    document = json.loads((sealed / MANIFEST_NAME).read_text())
    document["files"][0]["path"] = "../escape"
    (sealed / MANIFEST_NAME).write_text(json.dumps(document))

    with pytest.raises(CheckpointInputError) as caught:
        verify_checkpoint(sealed)
    assert caught.value.reason is C.MANIFEST_CORRUPT


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_not_a_directory_is_a_typed_input_error(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "nowhere"
    if kind == "file":
        target.write_text("x")

    for call in (verify_checkpoint, seal_checkpoint):
        with pytest.raises(CheckpointInputError) as caught:
            call(target)
        assert caught.value.reason is C.NOT_A_DIRECTORY


def test_an_unreadable_file_is_a_typed_input_error(
    sealed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = sealed / "model.safetensors"
    real_open = Path.open

    def refuse(self: Path, *args, **kwargs):  # chmod 0 does not stop root: refuse it here
        if self == weights:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(CheckpointInputError) as caught:
        verify_checkpoint(sealed)
    assert (caught.value.reason, caught.value.code) == (C.UNREADABLE, ExitCode.USAGE_ERROR)
    assert "model.safetensors" in caught.value.message


def test_a_directory_with_no_weights_file_fails(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")

    assert verify_checkpoint(tmp_path, require_manifest=False).code is C.NO_SUPPORTED_FILE
    empty = tmp_path / "empty"
    empty.mkdir()
    sealing = seal_checkpoint(empty)
    assert (sealing.ok, sealing.sealed, sealing.code) == (False, False, C.NO_SUPPORTED_FILE)
    assert not (empty / MANIFEST_NAME).exists()


def test_a_fifo_is_reported_and_never_opened(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    os.mkfifo(directory / "pipe.bin")  # opening it for reading would block forever

    report = verify_checkpoint(directory, require_manifest=False)

    assert report.code is C.NOT_A_REGULAR_FILE
    assert [f.path for f in report.findings] == ["pipe.bin"]


def test_seal_keeps_an_existing_manifest_unless_told(sealed: Path) -> None:
    before = (sealed / MANIFEST_NAME).read_text()
    (sealed / "config.json").write_text('{"hidden": 16}\n')

    with pytest.raises(CheckpointInputError) as caught:
        seal_checkpoint(sealed)
    assert caught.value.reason is C.MANIFEST_EXISTS
    assert (sealed / MANIFEST_NAME).read_text() == before

    assert seal_checkpoint(sealed, overwrite=True).sealed
    assert verify_checkpoint(sealed).ok


def test_seal_writes_no_manifest_for_a_bad_checkpoint(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    (directory / "broken.safetensors").write_bytes(b"\x01\x00")

    report = seal_checkpoint(directory)

    assert (report.ok, report.sealed, report.code) == (False, False, C.SAFETENSORS_INVALID)
    assert not (directory / MANIFEST_NAME).exists()
    assert not [p for p in directory.iterdir() if p.name.startswith(f".{MANIFEST_NAME}")]


def test_digest_streams_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is hashed chunk by chunk (never read whole); the result equals one-shot hashes."""
    monkeypatch.setattr(manifest_module, "CHUNK_BYTES", 7)
    path = write_weights(tmp_path / "w.safetensors")
    data = path.read_bytes()

    assert digest(path) == (hashlib.sha256(data).hexdigest(), f"{zlib.crc32(data):08x}")


def test_the_report_cannot_claim_more_than_its_findings(sealed: Path) -> None:
    report = verify_checkpoint(sealed)
    with pytest.raises(ValueError, match="contradict"):
        type(report).model_validate({**report.model_dump(), "code": "FILE_EXTRA"})
