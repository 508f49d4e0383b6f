"""Real checkpoint files written by hand for tests: torch is not installed, and not needed.

A torch zip archive (what ``torch.save`` writes since 1.6) is a stored zip of
``<name>/data.pkl`` (a protocol-2 pickle of the state dict whose tensors point at storages by
persistent id), ``<name>/data/<key>`` (raw little-endian storage bytes), ``<name>/byteorder``
and ``<name>/version``. :func:`state_dict_pickle` writes that pickle opcode by opcode, exactly
as torch's pickler spells it (GLOBAL torch._utils _rebuild_tensor_v2, torch FloatStorage...).
:func:`malicious_pickle` is a real exploit: loading it runs a shell command that creates
``marker``, so a test can prove it never ran.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from tests.lora_adapters import write_safetensors

PROTO2, STOP, MARK, TUPLE, TUPLE2 = b"\x80\x02", b".", b"(", b"t", b"\x86"
REDUCE, SETITEM, EMPTY_TUPLE, BINPERSID, NEWFALSE = b"R", b"s", b")", b"Q", b"\x89"


def op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def op_int(value: int) -> bytes:
    return b"K" + bytes([value]) if value < 256 else b"J" + struct.pack("<i", value)


def _tensor(key: str, shape: tuple[int, int]) -> bytes:
    """``_rebuild_tensor_v2(storage, 0, shape, stride, False, OrderedDict())``, as torch has it."""
    rows, cols = shape
    storage = (
        MARK + op_str("storage") + op_global("torch", "FloatStorage") + op_str(key)
        + op_str("cpu") + op_int(rows * cols) + TUPLE + BINPERSID
    )  # fmt: skip
    return (
        op_global("torch._utils", "_rebuild_tensor_v2")
        + MARK + storage + op_int(0)
        + op_int(rows) + op_int(cols) + TUPLE2 + op_int(cols) + op_int(1) + TUPLE2
        + NEWFALSE + op_global("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
        + TUPLE + REDUCE
    )  # fmt: skip


def state_dict_pickle(tensors: dict[str, tuple[int, int]], extra: bytes = b"") -> bytes:
    """An ``OrderedDict`` of float32 tensors ``{name: shape}``; storage keys are '0', '1'..."""
    body = PROTO2 + op_global("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    for index, (name, shape) in enumerate(tensors.items()):
        body += op_str(name) + _tensor(str(index), shape) + SETITEM
    return body + extra + STOP


def write_torch_zip(
    path: Path, tensors: dict[str, tuple[int, int]] | None = None, *, data_pkl: bytes | None = None
) -> Path:
    """A torch.save-style zip archive; ``data_pkl`` replaces the state dict's pickle."""
    tensors = tensors or {"layer.weight": (4, 3), "layer.bias": (1, 4)}
    prefix = path.stem
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", data_pkl or state_dict_pickle(tensors))
        archive.writestr(f"{prefix}/byteorder", "little")
        for index, (rows, cols) in enumerate(tensors.values()):
            values = np.arange(rows * cols, dtype="<f4")
            archive.writestr(f"{prefix}/data/{index}", values.tobytes())
        archive.writestr(f"{prefix}/version", "3\n")
        archive.writestr(f"{prefix}/.data/serialization_id", "0123456789")
    return path


def write_weights(path: Path) -> Path:
    """A small valid safetensors file (two float32 tensors)."""
    rng = np.random.default_rng(0)
    write_safetensors(
        path,
        {
            "model.embed.weight": ("F32", rng.standard_normal((8, 4)).astype(np.float32)),
            "model.head.weight": ("F32", rng.standard_normal((4, 8)).astype(np.float32)),
        },
        metadata={"format": "pt"},
    )
    return path


class _Exploit:
    """Unpickling this runs ``touch marker`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def malicious_pickle(marker: Path, *, protocol: int = 2) -> bytes:
    """A state dict with an exploit inside: ``{"weight": <os.system('touch marker')>}``."""
    return pickle.dumps({"weight": _Exploit(marker)}, protocol=protocol)


def write_checkpoint(directory: Path) -> Path:
    """A typical checkpoint directory: safetensors weights, a torch zip, a config file."""
    directory.mkdir(parents=True, exist_ok=True)
    write_weights(directory / "model.safetensors")
    write_torch_zip(directory / "optimizer.pt")
    (directory / "config.json").write_text('{"hidden": 8}\n')
    return directory
