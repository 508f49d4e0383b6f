"""What GPUs a host has, read from ``nvidia-smi`` / ``rocm-smi`` output, and why a smoke job failed.

The evidence pack records vendor, model and driver version per leg; the smoke job's output is
classified into a :class:`~tasks.matrix.errors.LegFailure` so a failing leg names the fix
(a missing driver is not a missing container runtime, and neither is a broken candidate).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import UsageError
from tasks.matrix.errors import LegFailure

DETECT_TIMEOUT_SEC = 10.0  # per vendor tool; a hung driver must not hang the leg


class GpuVendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"
    NONE = "none"


class GpuInfo(BaseModel):
    """The GPUs one vendor tool reported; ``count`` 0 means it showed none."""

    model_config = ConfigDict(frozen=True)

    vendor: GpuVendor
    model: str | None = None  # distinct models joined by "; " on a mixed host
    driver_version: str | None = None
    count: int = Field(default=0, ge=0)


# The probe each vendor's host is asked; the smoke job may print the same lines.
PROBES: dict[GpuVendor, list[str]] = {
    GpuVendor.NVIDIA: ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
    GpuVendor.AMD: ["rocm-smi", "--showproductname", "--showdriverversion"],
}

_VERSION = r"\d+(?:\.\d+)+(?:[-.\w]*)"
# `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader`: "NVIDIA A10G, 535.104.05"
_NVIDIA_CSV = re.compile(rf"^\s*(?P<name>[^,|]+?)\s*,\s*(?P<driver>{_VERSION})\s*$")
# plain `nvidia-smi` table: "|   0  NVIDIA A10G        On  | 00000000:00:1E.0 Off | ..."
_NVIDIA_ROW = re.compile(r"^\|\s*(?P<index>\d+)\s+(?P<name>\S.*?)\s+(?:On|Off)\s*\|")
_NVIDIA_DRIVER = re.compile(rf"Driver Version:\s*(?P<driver>{_VERSION})")
# `rocm-smi --showproductname`: "GPU[0]		: Card series:		Navi 12 [Radeon Pro V520]"
_ROCM_CARD = re.compile(
    r"^GPU\[(?P<index>\d+)\]\s*:\s*Card (?P<field>series|model)\s*:\s*(?P<value>\S.*?)\s*$",
    re.IGNORECASE,
)
_ROCM_DRIVER = re.compile(r"Driver version\s*:\s*(?P<driver>\S+)", re.IGNORECASE)
_HEX_ID = re.compile(r"^0x[0-9a-f]+$", re.IGNORECASE)

# Smoke-job output that names the cause, checked in order before the exit code is.
_NO_GPU_SIGNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"No devices were found",
        r"NVIDIA-SMI has failed",
        r"No AMD GPUs",
        r"(nvidia|rocm)-smi: (command )?not found",
    )
)
_RUNTIME_SIGNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"could not select device driver",
        r"nvidia-container-cli",
        r"unknown (or invalid )?runtime",
        r"/dev/kfd\"?: no such file",
    )
)


def parse_gpu_info(vendor: str, output: str) -> GpuInfo:
    """Read the probe's output for ``vendor``; count 0 (and model None) when no GPU line parses."""
    kind = _vendor(vendor)
    if kind is GpuVendor.NVIDIA:
        return _parse_nvidia(output)
    if kind is GpuVendor.AMD:
        return _parse_rocm(output)
    return GpuInfo(vendor=GpuVendor.NONE)


def detect_local_gpus(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
    *,
    which: Callable[[str], str | None] = shutil.which,
) -> GpuInfo:
    """Ask each vendor tool on PATH; the first that shows a GPU wins.

    A tool that exists but shows none (driver not loaded, timeout) is reported with count 0,
    so the evidence says "nvidia-smi found nothing" rather than "no tool"; neither tool gives
    vendor ``none``.
    """
    found: GpuInfo | None = None
    for vendor, argv in PROBES.items():
        path = which(argv[0])
        if path is None:
            continue
        try:
            proc = run(
                [path, *argv[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=DETECT_TIMEOUT_SEC,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError):
            info = GpuInfo(vendor=vendor)
        else:
            info = parse_gpu_info(vendor, f"{proc.stdout or ''}\n{proc.stderr or ''}")
        if info.count:
            return info
        found = found or info
    return found or GpuInfo(vendor=GpuVendor.NONE)


def classify_smoke(
    gpu_required: str, result_exit_code: int | None, output: str
) -> LegFailure | None:
    """Why a smoke job failed, or None when it passed.

    Order: output naming a missing GPU, then a missing container runtime; then the exit code
    (None = never finished); a job that exits 0 without showing the required vendor's GPU still
    fails with NO_GPU_DETECTED. A non-zero exit with no sign of either is the candidate's fault.
    """
    needs_gpu = _vendor(gpu_required) is not GpuVendor.NONE
    if needs_gpu and any(sign.search(output) for sign in _NO_GPU_SIGNS):
        return LegFailure.NO_GPU_DETECTED
    if any(sign.search(output) for sign in _RUNTIME_SIGNS):
        return LegFailure.RUNTIME_MISSING
    if result_exit_code is None:
        return LegFailure.SMOKE_JOB_TIMEOUT
    if result_exit_code != 0:
        return LegFailure.SMOKE_JOB_FAILED
    if needs_gpu and parse_gpu_info(gpu_required, output).count == 0:
        return LegFailure.NO_GPU_DETECTED
    return None


def _parse_nvidia(output: str) -> GpuInfo:
    lines = output.splitlines()
    rows = [m for m in map(_NVIDIA_CSV.match, lines) if m]
    if rows:
        names = [m["name"] for m in rows]
        driver = rows[0]["driver"]
    else:  # the plain `nvidia-smi` table
        names = [m["name"] for m in map(_NVIDIA_ROW.match, lines) if m]
        version = _NVIDIA_DRIVER.search(output)
        driver = version["driver"] if version else None
    return GpuInfo(
        vendor=GpuVendor.NVIDIA, model=_models(names), driver_version=driver, count=len(names)
    )


def _parse_rocm(output: str) -> GpuInfo:
    cards: dict[int, dict[str, str]] = {}
    for line in output.splitlines():
        match = _ROCM_CARD.match(line.strip())
        if match:
            cards.setdefault(int(match["index"]), {})[match["field"].lower()] = match["value"]
    version = _ROCM_DRIVER.search(output)
    names = [_card_name(fields) for _, fields in sorted(cards.items())]
    return GpuInfo(
        vendor=GpuVendor.AMD,
        model=_models(names),
        driver_version=version["driver"] if version else None,
        count=len(cards),
    )


def _card_name(fields: dict[str, str]) -> str:
    """The card series, unless it is a bare PCI id and the model is a real name (old ROCm)."""
    series, model = fields.get("series"), fields.get("model")
    if series and (not _HEX_ID.match(series) or not model or _HEX_ID.match(model)):
        return series
    return model or series or ""


def _models(names: list[str]) -> str | None:
    distinct = list(dict.fromkeys(n for n in names if n))
    return "; ".join(distinct) or None


def _vendor(value: str) -> GpuVendor:
    try:
        return GpuVendor(value)
    except ValueError:
        allowed = ", ".join(v.value for v in GpuVendor)
        raise UsageError(
            f"unknown GPU vendor {value!r}: use one of {allowed} (the leg's `gpu` field)"
        ) from None
