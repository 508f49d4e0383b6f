"""The safetensors file format, read and written by hand: no pickle, no torch, no safetensors.

A file is an 8-byte little-endian header length, a JSON header ``{name: {dtype, shape,
data_offsets}, "__metadata__": {...}}`` and the raw little-endian tensor data. The header is
validated whole (bounded length, known dtypes, sizes, offsets tiling the data exactly) before
any tensor byte is looked at. Shared by the LoRA adapter inspector and the checkpoint verifier.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import ExitCode, WardenError

MAX_HEADER_BYTES = 100_000_000  # the safetensors format's own bound

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
FLOAT_VIEWS = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2"}
_SCAN_CHUNK = 1 << 22  # elements per isfinite() pass: bounded memory on large tensors


class TensorInfo(BaseModel):
    """One header entry; ``start``/``end`` are byte offsets into the data section."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


class SafetensorsHeader(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_start: int  # 8 + header length: where tensor offsets count from
    tensors: list[TensorInfo]
    metadata: dict[str, str] = Field(default_factory=dict)


class SafetensorsError(WardenError):
    """A file is not valid safetensors; nothing in it was loaded."""

    code = ExitCode.VERDICT_FAILED
    remediation = (
        "Re-export the weights with safetensors, e.g. model.save_pretrained(dir, "
        "safe_serialization=True), and upload or write them again."
    )


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """Parse and validate a safetensors header; raise :class:`SafetensorsError` naming the fault."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise SafetensorsError(f"{path.name}: {size} bytes, shorter than the 8-byte length")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES:
            raise SafetensorsError(
                f"{path.name}: header length {length} exceeds the {MAX_HEADER_BYTES} byte limit"
            )
        if 8 + length > size:
            raise SafetensorsError(
                f"{path.name}: header length {length} runs past the end of the {size}-byte file"
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SafetensorsError(f"{path.name}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path.name}: header is {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path.name}: __metadata__ must map strings to strings")
    tensors = [_tensor_info(path.name, name, entry) for name, entry in header.items()]
    _check_layout(path.name, tensors, data_size=size - 8 - length)
    return SafetensorsHeader(data_start=8 + length, tensors=tensors, metadata=metadata)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _tensor_info(file: str, name: str, entry: Any) -> TensorInfo:
    if not isinstance(entry, dict):
        raise SafetensorsError(f"{file}: tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise SafetensorsError(f"{file}: tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(is_count(d) for d in shape):
        raise SafetensorsError(f"{file}: tensor {name!r} shape {shape!r} is not a list of ints")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise SafetensorsError(f"{file}: tensor {name!r} data_offsets {offsets!r} are invalid")
    info = TensorInfo(name=name, dtype=dtype, shape=tuple(shape), start=offsets[0], end=offsets[1])
    expected = info.elements * DTYPE_BYTES[dtype]
    if info.end - info.start != expected:
        raise SafetensorsError(
            f"{file}: tensor {name!r} spans {info.end - info.start} bytes but {dtype} "
            f"{list(shape)} needs {expected}"
        )
    return info


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_layout(file: str, tensors: list[TensorInfo], *, data_size: int) -> None:
    """Offsets must tile the data section exactly: no gap, no overlap, nothing after the end."""
    cursor, previous = 0, None
    for info in sorted(tensors, key=lambda t: (t.start, t.end)):
        if info.start < cursor:
            raise SafetensorsError(f"{file}: tensor {info.name!r} overlaps {previous!r}")
        if info.start > cursor:
            raise SafetensorsError(
                f"{file}: gap of {info.start - cursor} bytes before {info.name!r}"
            )
        cursor, previous = info.end, info.name
    if cursor != data_size:
        raise SafetensorsError(
            f"{file}: tensors cover {cursor} data bytes but the file holds {data_size}"
        )


def scan_non_finite(path: Path, header: SafetensorsHeader) -> list[str]:
    """Count NaN and Inf in every F16/BF16/F32/F64 tensor, reading the file through a memmap."""
    floats = [t for t in header.tensors if t.dtype in FLOAT_VIEWS and t.elements]
    if not floats:
        return []
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=header.data_start)
    problems = []
    for info in floats:
        values = data[info.start : info.end].view(FLOAT_VIEWS[info.dtype])
        nan = inf = 0
        for begin in range(0, values.size, _SCAN_CHUNK):
            chunk = values[begin : begin + _SCAN_CHUNK]
            if info.dtype == "BF16":  # bfloat16 is the top half of a float32
                chunk = (chunk.astype(np.uint32) << 16).view(np.float32)
            nan += int(np.isnan(chunk).sum())
            inf += int(np.isinf(chunk).sum())
        if nan or inf:
            problems.append(f"{info.name} ({info.dtype}) holds {nan} NaN and {inf} Inf values")
    del data
    return problems
