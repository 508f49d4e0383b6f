"""`warden checkpoint seal|verify`: exit 0 verified, 1 a finding, 2 input that cannot be checked."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tasks.checkpoints.manifest import MANIFEST_NAME
from tests.checkpoint_files import malicious_pickle, write_checkpoint

runner = CliRunner()


def warden(*args: str):
    return runner.invoke(app, ["checkpoint", *args], catch_exceptions=False)


def test_seal_then_verify_exits_0(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")

    sealed = warden("seal", str(directory))
    verified = warden("verify", str(directory), "--json")

    assert sealed.exit_code == 0, sealed.output
    assert (directory / MANIFEST_NAME).exists()
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    assert (report["ok"], report["code"], report["manifest_checked"]) == (True, "VERIFIED", True)


def test_a_finding_exits_1_and_names_the_file(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    assert warden("seal", str(directory)).exit_code == 0
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])

    result = warden("verify", str(directory))

    assert result.exit_code == 1
    assert "SIZE_MISMATCH model.safetensors" in result.stdout


def test_a_malicious_pickle_exits_1_and_is_not_sealed(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    (directory / "extra_state.pkl").write_bytes(malicious_pickle(marker))

    sealed = warden("seal", str(directory), "--json")
    verified = warden("verify", str(directory), "--no-require-manifest")

    assert sealed.exit_code == 1
    assert json.loads(sealed.stdout)["code"] == "PICKLE_UNSAFE_GLOBAL"
    assert not (directory / MANIFEST_NAME).exists()
    assert verified.exit_code == 1
    assert "PICKLE_UNSAFE_GLOBAL extra_state.pkl" in verified.stdout
    assert not marker.exists()


def test_without_a_manifest_verify_fails_unless_formats_only_is_asked(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")

    assert warden("verify", str(directory)).exit_code == 1
    formats_only = warden("verify", str(directory), "--no-require-manifest")
    assert formats_only.exit_code == 0
    assert "formats only" in formats_only.stdout


def test_bad_input_exits_2(tmp_path: Path) -> None:
    directory = write_checkpoint(tmp_path / "ckpt")
    assert warden("verify", str(tmp_path / "missing")).exit_code == 2
    assert warden("seal", str(directory / "config.json")).exit_code == 2

    assert warden("seal", str(directory)).exit_code == 0
    manifest = (directory / MANIFEST_NAME).read_text()
    assert warden("seal", str(directory)).exit_code == 2  # already sealed: --overwrite needed
    assert (directory / MANIFEST_NAME).read_text() == manifest

    (directory / MANIFEST_NAME).write_text("{truncated")
    corrupt = warden("verify", str(directory))
    assert corrupt.exit_code == 2
    assert "MANIFEST_CORRUPT" in corrupt.stderr
