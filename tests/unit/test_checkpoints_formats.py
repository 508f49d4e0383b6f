"""Weights files checked without loading them: pickles refused unless weights-only."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from blocks.errors import CheckpointCode
from tasks.checkpoints import formats
from tasks.checkpoints.allow_list import WEIGHTS_ONLY_GLOBALS, canonical_global
from tasks.checkpoints.report import FileFormat, Finding
from tasks.checkpoints.verify import seal_checkpoint, verify_checkpoint
from tests.checkpoint_files import (
    PROTO2,
    STOP,
    malicious_pickle,
    op_global,
    state_dict_pickle,
    write_torch_zip,
    write_weights,
)

C = CheckpointCode


def verify_one(tmp_path: Path, name: str, data: bytes | None = None):
    directory = tmp_path / "ckpt"
    directory.mkdir(exist_ok=True)
    if data is not None:
        (directory / name).write_bytes(data)
    return verify_checkpoint(directory, require_manifest=False)


@pytest.mark.parametrize(
    ("name", "protocol"),
    [("model.pkl", 2), ("model.bin", 4), ("model.ckpt", 5), ("weights.data", 2)],
)
def test_a_malicious_pickle_is_refused_and_never_run(
    tmp_path: Path, name: str, protocol: int
) -> None:
    marker = tmp_path / "pwned"
    report = verify_one(tmp_path, name, malicious_pickle(marker, protocol=protocol))

    assert (report.ok, report.code) == (False, C.PICKLE_UNSAFE_GLOBAL)
    assert report.files[0].format is FileFormat.PICKLE  # ".data": found by its magic bytes
    assert "posix.system" in report.findings[0].message or "os.system" in report.findings[0].message
    assert not marker.exists()  # the exploit works when unpickled; here it never ran
    sealing = seal_checkpoint(tmp_path / "ckpt")
    assert (sealing.sealed, sealing.code) == (False, C.PICKLE_UNSAFE_GLOBAL)
    assert not marker.exists()


def test_the_exploit_is_real(tmp_path: Path) -> None:
    """The payload above does run when unpickled: the marker proves a refusal, not a dud."""
    marker = tmp_path / "pwned"
    pickle.loads(malicious_pickle(marker))  # noqa: S301 - the point of the test
    assert marker.exists()


def test_a_malicious_torch_zip_archive_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = tmp_path / "ckpt"
    directory.mkdir()
    write_torch_zip(directory / "model.pt", data_pkl=malicious_pickle(marker))
    write_weights(directory / "model.safetensors")

    report = verify_checkpoint(directory, require_manifest=False)

    assert (report.code, report.findings[0].path) == (C.PICKLE_UNSAFE_GLOBAL, "model.pt")
    assert "model/data.pkl" in report.findings[0].message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("extra", "global_"),
    [
        (op_global("builtins", "eval"), "builtins.eval"),
        (op_global("numpy.core.multiarray", "_reconstruct"), "numpy.core.multiarray._reconstruct"),
        (op_global("torch.serialization", "load"), "torch.serialization.load"),
    ],
)
def test_any_global_off_the_weights_only_list_is_refused(
    tmp_path: Path, extra: bytes, global_: str
) -> None:
    data = state_dict_pickle({"w": (2, 2)}, extra=extra + b"0")  # pushed and popped: unused
    report = verify_one(tmp_path, "model.pt", data)

    assert report.code is C.PICKLE_UNSAFE_GLOBAL
    assert global_ in report.findings[0].message


def test_a_plain_weights_only_pickle_passes(tmp_path: Path) -> None:
    report = verify_one(tmp_path, "state.pkl", state_dict_pickle({"w": (2, 2)}))
    assert (report.ok, report.code) == (True, C.VERIFIED)
    assert report.files[0].globals == [
        "collections.OrderedDict",
        "torch.FloatStorage",
        "torch._utils._rebuild_tensor_v2",
    ]


def test_python2_names_of_protocol_2_map_back_like_the_unpickler() -> None:
    assert canonical_global("__builtin__", "set") == "builtins.set"
    assert canonical_global("copy_reg", "_reconstructor") == "copyreg._reconstructor"
    assert "builtins.set" in WEIGHTS_ONLY_GLOBALS
    assert "copyreg._reconstructor" not in WEIGHTS_ONLY_GLOBALS


def test_the_allow_list_is_torchs() -> None:
    for name in (
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch.FloatStorage",
        "torch.BFloat16Storage",
        "collections.OrderedDict",
        "torch.bfloat16",
        "_codecs.encode",
    ):
        assert name in WEIGHTS_ONLY_GLOBALS
    assert not {g for g in WEIGHTS_ONLY_GLOBALS if g.split(".")[0] in {"os", "posix", "sys"}}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(state_dict_pickle({"w": (2, 2)})[:-9], id="truncated"),
        pytest.param(state_dict_pickle({"w": (2, 2)}) + b"\xff\xfe", id="trailing-garbage"),
        pytest.param(b"not a pickle at all", id="text"),
    ],
)
def test_a_broken_pickle_is_invalid(tmp_path: Path, data: bytes) -> None:
    report = verify_one(tmp_path, "model.pt", data)
    assert (report.ok, report.code) == (False, C.PICKLE_INVALID)


def test_a_legacy_torch_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    report = verify_one(tmp_path, "old.pt", magic + pickle.dumps(1001, protocol=2))
    assert report.code is C.PICKLE_INVALID
    assert "legacy" in report.findings[0].message


def test_a_truncated_torch_zip_is_invalid(tmp_path: Path) -> None:
    path = write_torch_zip(tmp_path / "model.pt")
    data = path.read_bytes()
    report = verify_one(tmp_path, "model.pt", data[: len(data) // 2])
    assert report.code is C.PICKLE_INVALID


def test_a_zip_without_data_pkl_or_with_code_is_invalid(tmp_path: Path) -> None:
    directory = tmp_path / "ckpt"
    directory.mkdir()
    with zipfile.ZipFile(directory / "model.pt", "w") as archive:
        archive.writestr("model/readme.txt", "no pickle")
    write_torch_zip(directory / "script.pt")
    with zipfile.ZipFile(directory / "script.pt", "a") as archive:
        archive.writestr("script/code/__torch__.py", "def forward(self): ...")

    report = verify_checkpoint(directory, require_manifest=False)

    assert [(f.code, f.path) for f in report.findings] == [
        (C.PICKLE_INVALID, "model.pt"),
        (C.PICKLE_INVALID, "script.pt"),
    ]
    assert "TorchScript" in report.findings[1].message


def test_an_invalid_safetensors_header_fails(tmp_path: Path) -> None:
    path = write_weights(tmp_path / "good.safetensors")
    data = bytearray(path.read_bytes())
    data[8:9] = b"["  # the JSON header no longer parses
    report = verify_one(tmp_path, "model.safetensors", bytes(data))
    assert report.code is C.SAFETENSORS_INVALID


def test_a_stack_global_whose_names_cannot_be_read_is_unsafe(tmp_path: Path) -> None:
    data = PROTO2 + b"\x93" + STOP  # STACK_GLOBAL with nothing before it
    report = verify_one(tmp_path, "model.pkl", data)
    assert report.code is C.PICKLE_UNSAFE_GLOBAL


def test_a_pickle_over_the_scan_limit_is_refused_unscanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_PICKLE_BYTES", 64)
    directory = tmp_path / "ckpt"
    directory.mkdir()
    (directory / "big.pkl").write_bytes(state_dict_pickle({"w": (2, 2)}))
    write_torch_zip(directory / "big.pt")

    report = verify_checkpoint(directory, require_manifest=False)

    assert [(f.code, f.path) for f in report.findings] == [
        (C.PICKLE_INVALID, "big.pkl"),
        (C.PICKLE_INVALID, "big.pt"),
    ]
    assert "scan limit" in report.findings[0].message


def test_a_finding_never_carries_the_verdict_or_an_input_code() -> None:
    with pytest.raises(ValueError, match="not a finding"):
        Finding(code=C.VERIFIED, message="fine")


def test_a_global_loaded_through_the_extension_registry_is_unsafe(tmp_path: Path) -> None:
    """EXT1 names no module (picklescan lists nothing), so it cannot be on the allow-list."""
    data = PROTO2 + b"\x82\x01" + b")" + b"R" + STOP  # EXT1 1, (), REDUCE
    report = verify_one(tmp_path, "model.pkl", data)
    assert report.code is C.PICKLE_UNSAFE_GLOBAL
    assert "EXT1" in report.findings[0].message
