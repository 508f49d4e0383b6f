"""GPU info from real-shaped nvidia-smi / rocm-smi output, local detection, smoke-job verdicts."""

from __future__ import annotations

import subprocess

import pytest

from blocks.errors import ExitCode, UsageError
from tasks.matrix.errors import LegFailure
from tasks.matrix.gpuinfo import (
    DETECT_TIMEOUT_SEC,
    GpuInfo,
    GpuVendor,
    classify_smoke,
    detect_local_gpus,
    parse_gpu_info,
)

NVIDIA_A10G = "NVIDIA A10G, 535.104.05\n"
NVIDIA_FOUR = "NVIDIA A100-SXM4-80GB, 550.54.15\n" * 4
NVIDIA_MIXED = "Tesla T4, 535.129.03\nNVIDIA A10G, 535.129.03\n"
NVIDIA_TABLE = """\
Mon Jan 19 10:12:44 2026
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |         Memory-Usage | GPU-Util  Compute M. |
|=========================================+======================+======================|
|   0  NVIDIA A10G                    On  | 00000000:00:1E.0 Off |                    0 |
|  0%   27C    P8              15W / 300W |      4MiB / 23028MiB |      0%      Default |
+-----------------------------------------+----------------------+----------------------+
| Processes:                                                                            |
|    0   N/A  N/A      2231      C   python                                    412MiB |
+---------------------------------------------------------------------------------------+
"""
NVIDIA_FAILED = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
    "that the latest NVIDIA driver is installed and running.\n"
)
ROCM_V520 = """\


============================ ROCm System Management Interface ============================
====================================== Product Info ======================================
GPU[0]\t\t: Card series: \t\tNavi 12 [Radeon Pro V520/V540]
GPU[0]\t\t: Card model: \t\t0x0a34
GPU[0]\t\t: Card vendor: \t\tAdvanced Micro Devices, Inc. [AMD/ATI]
GPU[0]\t\t: Card SKU: \t\tD30901
GPU[0]\t\t: Subsystem ID: \t0x0a34
GPU[0]\t\t: Device Rev: \t\t0x00
GPU[0]\t\t: Node ID: \t\t1
GPU[0]\t\t: GUID: \t\t11694
GPU[0]\t\t: GFX Version: \t\tgfx1011
==========================================================================================
=============================== Version of System Component ==============================
Driver version: 6.2.4
==========================================================================================
================================== End of ROCm SMI Log ===================================
"""
ROCM_MI100_PAIR = """\
======================= ROCm System Management Interface =======================
================================= Product Info =================================
GPU[0]          : Card series:          Arcturus GL-XL [AMD Instinct MI100]
GPU[0]          : Card model:           0x0c34
GPU[0]          : Card vendor:          Advanced Micro Devices, Inc. [AMD/ATI]
GPU[1]          : Card series:          Arcturus GL-XL [AMD Instinct MI100]
GPU[1]          : Card model:           0x0c34
GPU[1]          : Card vendor:          Advanced Micro Devices, Inc. [AMD/ATI]
================================================================================
GPU[0]          : Driver version: 4.18.0-348.12.2.el8_5.x86_64
============================= End of ROCm SMI Log ==============================
"""
ROCM_OLD_HEX_SERIES = """\
GPU[0]\t\t: Card series: \t\t0x66a1
GPU[0]\t\t: Card model: \t\tRadeon Pro VII
GPU[0]\t\t: Card vendor: \t\tAdvanced Micro Devices, Inc. [AMD/ATI]
"""
ROCM_NONE = """\
======================= ROCm System Management Interface =======================
WARNING: No AMD GPUs specified
Driver version: 6.2.4
============================= End of ROCm SMI Log ==============================
"""
ROCM_NO_DRIVER = "ERROR:root:Driver not initialized (amdgpu not found in modules)\n"

# fmt: off
PARSES = [
    pytest.param("nvidia", NVIDIA_A10G, "NVIDIA A10G", "535.104.05", 1, id="nvidia-one"),
    pytest.param("nvidia", NVIDIA_FOUR, "NVIDIA A100-SXM4-80GB", "550.54.15", 4,
                 id="nvidia-four-same"),
    pytest.param("nvidia", NVIDIA_MIXED, "Tesla T4; NVIDIA A10G", "535.129.03", 2,
                 id="nvidia-mixed-models"),
    pytest.param("nvidia", NVIDIA_TABLE, "NVIDIA A10G", "535.104.05", 1, id="nvidia-table"),
    pytest.param("nvidia", NVIDIA_FAILED, None, None, 0, id="nvidia-smi-failed"),
    pytest.param("nvidia", "No devices were found\n", None, None, 0, id="nvidia-no-devices"),
    pytest.param("nvidia", "", None, None, 0, id="nvidia-empty"),
    pytest.param("nvidia", ROCM_V520, None, None, 0, id="nvidia-asked-amd-shown"),
    pytest.param("amd", ROCM_V520, "Navi 12 [Radeon Pro V520/V540]", "6.2.4", 1,
                 id="amd-v520-rocm6"),
    pytest.param("amd", ROCM_MI100_PAIR, "Arcturus GL-XL [AMD Instinct MI100]",
                 "4.18.0-348.12.2.el8_5.x86_64", 2, id="amd-two-mi100-old-driver-line"),
    pytest.param("amd", ROCM_OLD_HEX_SERIES, "Radeon Pro VII", None, 1,
                 id="amd-hex-series-uses-model"),
    pytest.param("amd", ROCM_NONE, None, "6.2.4", 0, id="amd-driver-but-no-gpu"),
    pytest.param("amd", ROCM_NO_DRIVER, None, None, 0, id="amd-driver-not-loaded"),
    pytest.param("amd", NVIDIA_A10G, None, None, 0, id="amd-asked-nvidia-shown"),
    pytest.param("none", NVIDIA_A10G, None, None, 0, id="vendor-none"),
]
# fmt: on


@pytest.mark.parametrize(("vendor", "output", "model", "driver", "count"), PARSES)
def test_parse_gpu_info(
    vendor: str, output: str, model: str | None, driver: str | None, count: int
) -> None:
    info = parse_gpu_info(vendor, output)
    assert info == GpuInfo(vendor=vendor, model=model, driver_version=driver, count=count)


def test_parse_rejects_an_unknown_vendor() -> None:
    with pytest.raises(UsageError, match="unknown GPU vendor 'intel'.*nvidia, amd, none"):
        parse_gpu_info("intel", "")


class FakeHost:
    """Stands in for shutil.which and subprocess.run: which tools exist, what each prints."""

    def __init__(self, tools: dict[str, str | Exception]) -> None:
        self.tools = tools
        self.calls: list[tuple[list[str], dict]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.tools else None

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        reply = self.tools[argv[0].rsplit("/", 1)[-1]]
        if isinstance(reply, Exception):
            raise reply
        return subprocess.CompletedProcess(argv, 0, stdout=reply, stderr="")


TIMEOUT = subprocess.TimeoutExpired(["nvidia-smi"], DETECT_TIMEOUT_SEC)

# fmt: off
DETECTS = [
    pytest.param({}, GpuInfo(vendor="none", count=0), id="no-tools"),
    pytest.param({"nvidia-smi": NVIDIA_A10G},
                 GpuInfo(vendor="nvidia", model="NVIDIA A10G", driver_version="535.104.05",
                         count=1), id="nvidia"),
    pytest.param({"rocm-smi": ROCM_V520},
                 GpuInfo(vendor="amd", model="Navi 12 [Radeon Pro V520/V540]",
                         driver_version="6.2.4", count=1), id="amd"),
    pytest.param({"nvidia-smi": NVIDIA_FAILED, "rocm-smi": ROCM_V520},
                 GpuInfo(vendor="amd", model="Navi 12 [Radeon Pro V520/V540]",
                         driver_version="6.2.4", count=1), id="broken-nvidia-then-amd"),
    pytest.param({"nvidia-smi": NVIDIA_FAILED}, GpuInfo(vendor="nvidia", count=0),
                 id="nvidia-tool-without-gpu"),
    pytest.param({"nvidia-smi": TIMEOUT}, GpuInfo(vendor="nvidia", count=0),
                 id="nvidia-hangs"),
    pytest.param({"rocm-smi": PermissionError(13, "denied")}, GpuInfo(vendor="amd", count=0),
                 id="rocm-not-executable"),
]
# fmt: on


@pytest.mark.parametrize(("tools", "expected"), DETECTS)
def test_detect_local_gpus(tools: dict, expected: GpuInfo) -> None:
    host = FakeHost(tools)
    assert detect_local_gpus(host.run, which=host.which) == expected
    for argv, kwargs in host.calls:
        assert argv[0].startswith("/usr/bin/")
        assert kwargs["timeout"] == DETECT_TIMEOUT_SEC == 10
        assert kwargs["check"] is False


def test_detect_asks_the_documented_queries() -> None:
    host = FakeHost({"nvidia-smi": "", "rocm-smi": ""})
    detect_local_gpus(host.run, which=host.which)
    assert [argv for argv, _ in host.calls] == [
        ["/usr/bin/nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
        ["/usr/bin/rocm-smi", "--showproductname", "--showdriverversion"],
    ]


def test_detect_local_gpus_on_this_machine_returns_a_valid_answer() -> None:
    info = detect_local_gpus()  # no GPU tools here: "none"; on a GPU worker, its GPUs
    assert info.vendor in set(GpuVendor)
    assert (info.count == 0) is (info.model is None)


DOCKER_NO_RUNTIME = (
    'docker: Error response from daemon: could not select device driver "" with capabilities: '
    "[[gpu]].\n"
)
CONTAINER_CLI = (
    "docker: Error response from daemon: failed to create task for container: failed to create "
    "shim task: OCI runtime create failed: runc create failed: unable to start container "
    "process: error during container init: error running hook #0: error running hook: exit "
    "status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: "
    "cannot open shared object file: no such file or directory: unknown.\n"
)
UNKNOWN_RUNTIME = "docker: Error response from daemon: unknown or invalid runtime name: nvidia.\n"
NO_KFD = (
    "docker: Error response from daemon: error gathering device information while adding "
    'custom device "/dev/kfd": no such file or directory.\n'
)

# fmt: off
SMOKES = [
    # gpu_required, exit code, output, failure
    pytest.param("nvidia", 0, NVIDIA_A10G + "smoke ok\n", None, id="nvidia-passes"),
    pytest.param("amd", 0, ROCM_V520 + "smoke ok\n", None, id="amd-passes"),
    pytest.param("none", 0, "cpu smoke ok\n", None, id="cpu-leg-passes"),
    pytest.param("nvidia", 0, "smoke ok\n", LegFailure.NO_GPU_DETECTED,
                 id="exit-0-but-no-gpu-shown"),
    pytest.param("nvidia", 0, ROCM_V520, LegFailure.NO_GPU_DETECTED, id="wrong-vendor-shown"),
    pytest.param("nvidia", 9, "No devices were found\n", LegFailure.NO_GPU_DETECTED,
                 id="nvidia-no-devices"),
    pytest.param("nvidia", 0, NVIDIA_A10G + NVIDIA_FAILED, LegFailure.NO_GPU_DETECTED,
                 id="nvidia-smi-failed-wins-over-exit-0"),
    pytest.param("amd", 2, ROCM_NONE, LegFailure.NO_GPU_DETECTED, id="no-amd-gpus"),
    pytest.param("nvidia", 127, "bash: line 1: nvidia-smi: command not found\n",
                 LegFailure.NO_GPU_DETECTED, id="no-driver-tool"),
    pytest.param("nvidia", 125, DOCKER_NO_RUNTIME, LegFailure.RUNTIME_MISSING,
                 id="no-gpu-capable-runtime"),
    pytest.param("nvidia", 125, CONTAINER_CLI, LegFailure.RUNTIME_MISSING,
                 id="nvidia-container-cli"),
    pytest.param("nvidia", 125, UNKNOWN_RUNTIME, LegFailure.RUNTIME_MISSING,
                 id="unknown-runtime"),
    pytest.param("amd", 125, NO_KFD, LegFailure.RUNTIME_MISSING, id="no-dev-kfd"),
    pytest.param("amd", 125, "open /dev/kfd: no such file or directory\n",
                 LegFailure.RUNTIME_MISSING, id="no-dev-kfd-unquoted"),
    pytest.param("nvidia", 1, NVIDIA_A10G + "Traceback: CUDA error: out of memory\n",
                 LegFailure.SMOKE_JOB_FAILED, id="job-fails-on-a-gpu"),
    pytest.param("nvidia", 1, "Error: manifest unknown\n", LegFailure.SMOKE_JOB_FAILED,
                 id="job-fails-before-gpu"),
    pytest.param("none", 1, "No devices were found\n", LegFailure.SMOKE_JOB_FAILED,
                 id="cpu-leg-ignores-gpu-messages"),
    pytest.param("nvidia", None, NVIDIA_A10G, LegFailure.SMOKE_JOB_TIMEOUT,
                 id="never-finished"),
]
# fmt: on


@pytest.mark.parametrize(("gpu", "exit_code", "output", "failure"), SMOKES)
def test_classify_smoke(
    gpu: str, exit_code: int | None, output: str, failure: LegFailure | None
) -> None:
    assert classify_smoke(gpu, exit_code, output) is failure


def test_classify_rejects_an_unknown_gpu_requirement() -> None:
    with pytest.raises(UsageError) as caught:
        classify_smoke("cuda", 0, NVIDIA_A10G)
    assert caught.value.code == ExitCode.USAGE_ERROR
