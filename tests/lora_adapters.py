"""Small, valid PEFT LoRA adapters written for tests: the writer the product never needs.

:func:`write_adapter` writes ``adapter_config.json`` and ``adapter_model.safetensors`` (random
lora_A/lora_B tensors of the given rank) through :func:`write_safetensors`, the safetensors
writer that mirrors ``tasks.checkpoints.safetensors_format``'s reader. ``poison`` plants one
NaN/Inf.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from blocks.errors import UsageError
from tasks.checkpoints.safetensors_format import FLOAT_VIEWS
from tasks.lora.adapter import CONFIG_FILE, WEIGHTS_FILE

MLP_MODULES = frozenset({"gate_proj", "up_proj", "down_proj"})


def write_adapter(
    path: Path,
    *,
    rank: int,
    target_modules: list[str],
    layers: int = 2,
    hidden: int = 64,
    dtype: str = "F32",
    seed: int = 0,
    poison: str | None = None,
) -> Path:
    """Write a small valid PEFT LoRA adapter; return its dir.

    ``poison`` "nan" or "inf" puts one non-finite value in the first lora_A tensor.
    """
    if rank < 1 or layers < 1 or hidden < 1:
        raise UsageError(f"rank, layers and hidden must be >= 1, got {rank}, {layers}, {hidden}")
    if dtype not in FLOAT_VIEWS:
        raise UsageError(f"dtype {dtype!r} is not one of {', '.join(FLOAT_VIEWS)}")
    if poison not in (None, "nan", "inf"):
        raise UsageError(f"poison {poison!r} must be 'nan', 'inf' or None")
    if not target_modules or not all(isinstance(m, str) and m for m in target_modules):
        raise UsageError("target_modules must be a non-empty list of module names")
    rng = np.random.default_rng(seed)
    tensors: dict[str, tuple[str, np.ndarray]] = {}
    for layer in range(layers):
        for module in target_modules:
            block = "mlp" if module in MLP_MODULES else "self_attn"
            stem = f"base_model.model.model.layers.{layer}.{block}.{module}"
            for side, shape in (("A", (rank, hidden)), ("B", (hidden, rank))):
                values = rng.normal(0.0, 0.02, size=shape)
                tensors[f"{stem}.lora_{side}.weight"] = (dtype, values)
    if poison:
        first = next(iter(tensors.values()))[1]
        first[0, 0] = np.nan if poison == "nan" else np.inf
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    encoded = {name: (dt, _encode(values, dt)) for name, (dt, values) in tensors.items()}
    write_safetensors(path / WEIGHTS_FILE, encoded, metadata={"format": "pt"})
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "warden/synthetic-base",
        "r": rank,
        "lora_alpha": 2 * rank,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": list(target_modules),
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def write_adapters(folder: Path, count: int = 3) -> dict[str, Path]:
    """``count`` distinct valid adapters ``v1``, ``v2``, ... (different seeds: different bytes)."""
    return {
        f"v{i}": write_adapter(folder / f"src-v{i}", rank=4, target_modules=["q_proj"], seed=i)
        for i in range(1, count + 1)
    }


def write_safetensors(
    path: Path, tensors: dict[str, tuple[str, np.ndarray]], metadata: dict[str, str] | None = None
) -> None:
    """Write ``{name: (dtype, array)}`` as safetensors; BF16 arrays are given as uint16 bits."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, (dtype, array) in tensors.items():
        blob = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        span = [offset, offset + len(blob)]
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": span}
        blobs.append(blob)
        offset += len(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def _encode(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":  # keep the top 16 bits of each float32 (NaN and Inf survive)
        return (values.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return values.astype(FLOAT_VIEWS[dtype])
