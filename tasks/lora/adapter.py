"""Is a PEFT LoRA adapter directory safe and sound to load? Checked without executing any of it.

The weights are read as safetensors by hand (8-byte little-endian header length, a JSON header,
raw little-endian data): no pickle, no safetensors or torch import. Every problem found is data
in an :class:`AdapterReport` with an :class:`AdapterProblem` code; a bad adapter never raises.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zipfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from blocks.errors import UsageError
from tasks.checkpoints.safetensors_format import (
    SafetensorsError,
    SafetensorsHeader,
    TensorInfo,
    is_count,
    read_safetensors_header,
    scan_non_finite,
)

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
DEFAULT_MAX_BYTES = 2 * 1024**3
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".ckpt"})
# ``...q_proj.lora_A.weight`` (saved) or ``...q_proj.lora_A.default.weight`` (in memory);
# embeddings: ``...embed_tokens.lora_embedding_A``.
_LORA_TENSOR = re.compile(
    r"^(?P<module>.+)\.(?:lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight|lora_embedding_(?P<eab>[AB]))$"
)


class AdapterProblem(StrEnum):
    MISSING_CONFIG = "MISSING_CONFIG"
    BAD_CONFIG = "BAD_CONFIG"
    MISSING_WEIGHTS = "MISSING_WEIGHTS"
    PICKLE_FILE = "PICKLE_FILE"
    BAD_HEADER = "BAD_HEADER"
    SIZE_LIMIT = "SIZE_LIMIT"
    SHAPE_MISMATCH = "SHAPE_MISMATCH"
    NON_FINITE = "NON_FINITE"
    EMPTY = "EMPTY"
    UNREADABLE = "UNREADABLE"  # a file could not be read at all (permissions, I/O error)


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: AdapterProblem
    message: str


class AdapterReport(BaseModel):
    """What :func:`inspect_adapter` found; ``ok`` only when there are no problems."""

    model_config = ConfigDict(frozen=True)

    path: str
    ok: bool
    problems: list[Problem] = Field(default_factory=list)
    rank: int | None = None
    alpha: float | None = None
    target_modules: list[str] = Field(default_factory=list)
    tensor_count: int = 0
    parameters: int = 0
    total_bytes: int = 0
    manifest: dict[str, str] = Field(default_factory=dict)  # relative posix path -> sha256
    sha256: str = ""  # see directory_sha256

    @property
    def codes(self) -> set[AdapterProblem]:
        return {problem.code for problem in self.problems}


def inspect_adapter(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, expected_rank: int | None = None
) -> AdapterReport:
    """Check a PEFT LoRA adapter directory; every fault is a :class:`Problem`, never an error.

    Over ``max_bytes`` only the cheap checks run (config, pickle names and magic): nothing is
    hashed or scanned, so an oversized upload costs no bulk I/O and has no manifest.
    """
    if max_bytes < 1:
        raise UsageError(f"max_bytes must be at least 1, got {max_bytes}")
    if expected_rank is not None and expected_rank < 1:
        raise UsageError(f"expected_rank must be at least 1, got {expected_rank}")
    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is a file, not a directory"
        return AdapterReport(
            path=str(path),
            ok=False,
            problems=[
                Problem(code=AdapterProblem.MISSING_CONFIG, message=f"{path} {what}"),
                Problem(code=AdapterProblem.MISSING_WEIGHTS, message=f"{path} {what}"),
            ],
        )
    return _Inspection(path, max_bytes, expected_rank).run()


class _Inspection:
    """One inspection's working state; :meth:`run` returns the frozen report."""

    def __init__(self, path: Path, max_bytes: int, expected_rank: int | None) -> None:
        self.path, self.max_bytes, self.expected_rank = path, max_bytes, expected_rank
        self.problems: list[Problem] = []
        self.files = sorted(p for p in path.rglob("*") if p.is_file())
        self.total_bytes = sum(p.stat().st_size for p in self.files)
        self.config: dict[str, Any] | None = None
        self.header: SafetensorsHeader | None = None

    def add(self, code: AdapterProblem, message: str) -> None:
        self.problems.append(Problem(code=code, message=message))

    def run(self) -> AdapterReport:
        if not self.files:
            self.add(AdapterProblem.EMPTY, f"{self.path} holds no files")
        self._check_pickles()
        self.config = _check_config(self.path / CONFIG_FILE, self.add)
        within_limit = self.total_bytes <= self.max_bytes
        if not within_limit:
            self.add(
                AdapterProblem.SIZE_LIMIT,
                f"adapter is {self.total_bytes} bytes, over the {self.max_bytes} byte limit",
            )
        manifest = self._manifest() if within_limit else {}
        if within_limit:
            self._check_weights()
        tensors = self.header.tensors if self.header else []
        config = self.config or {}
        return AdapterReport(
            path=str(self.path),
            ok=not self.problems,
            problems=self.problems,
            rank=config.get("r"),
            alpha=config.get("lora_alpha"),
            target_modules=_target_list(config.get("target_modules")),
            tensor_count=len(tensors),
            parameters=sum(t.elements for t in tensors),
            total_bytes=self.total_bytes,
            manifest=manifest,
            sha256=directory_sha256(manifest) if manifest else "",
        )

    def _check_pickles(self) -> None:
        for file in self.files:
            name = file.relative_to(self.path).as_posix()
            if file.suffix.lower() in PICKLE_SUFFIXES:
                self.add(AdapterProblem.PICKLE_FILE, f"{name}: pickle-format file refused")
            elif file.suffix.lower() != ".safetensors" and _looks_pickled(file):
                self.add(AdapterProblem.PICKLE_FILE, f"{name}: starts with pickle magic, refused")

    def _manifest(self) -> dict[str, str]:
        manifest = {}
        for file in self.files:
            name = file.relative_to(self.path).as_posix()
            try:
                manifest[name] = file_sha256(file)
            except OSError as exc:
                self.add(AdapterProblem.UNREADABLE, f"{name}: cannot be read ({exc.strerror})")
        return manifest

    def _check_weights(self) -> None:
        weights = self.path / WEIGHTS_FILE
        if not weights.is_file():
            self.add(AdapterProblem.MISSING_WEIGHTS, f"{WEIGHTS_FILE} is missing")
            return
        try:
            self.header = read_safetensors_header(weights)
        except SafetensorsError as exc:
            self.add(AdapterProblem.BAD_HEADER, exc.message)
            if _looks_pickled(weights):
                self.add(AdapterProblem.PICKLE_FILE, f"{WEIGHTS_FILE} is a pickle, refused")
            return
        except OSError as exc:
            self.add(AdapterProblem.UNREADABLE, f"{WEIGHTS_FILE}: cannot be read ({exc.strerror})")
            return
        if not self.header.tensors or not any(t.elements for t in self.header.tensors):
            self.add(AdapterProblem.EMPTY, f"{WEIGHTS_FILE} holds no tensor data")
            return
        if self.config is not None:
            for message in check_shapes(self.header.tensors, self.config, self.expected_rank):
                self.add(AdapterProblem.SHAPE_MISMATCH, message)
        for message in scan_non_finite(weights, self.header):
            self.add(AdapterProblem.NON_FINITE, message)


def _check_config(path: Path, add) -> dict[str, Any] | None:
    """The parsed config when it is a usable LoRA config; otherwise None, with problems added."""
    if not path.is_file():
        add(AdapterProblem.MISSING_CONFIG, f"{CONFIG_FILE} is missing")
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        add(AdapterProblem.BAD_CONFIG, f"{CONFIG_FILE} is not valid JSON ({exc})")
        return None
    except OSError as exc:
        add(AdapterProblem.UNREADABLE, f"{CONFIG_FILE}: cannot be read ({exc.strerror})")
        return None
    if not isinstance(config, dict):
        add(AdapterProblem.BAD_CONFIG, f"{CONFIG_FILE} must be a JSON object")
        return None
    faults = list(_config_faults(config))
    for fault in faults:
        add(AdapterProblem.BAD_CONFIG, f"{CONFIG_FILE}: {fault}")
    return None if faults else config


def _config_faults(config: dict[str, Any]) -> Iterable[str]:
    if config.get("peft_type") != "LORA":
        yield f"peft_type is {config.get('peft_type')!r}; only 'LORA' adapters are accepted"
    rank = config.get("r")
    if not is_count(rank) or rank < 1:
        yield f"r is {rank!r}; it must be a positive integer (the LoRA rank)"
    alpha = config.get("lora_alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
        yield f"lora_alpha is {alpha!r}; it must be a number"
    targets = config.get("target_modules")
    if isinstance(targets, str):
        if not _compiles(targets):
            yield f"target_modules {targets!r} is not a valid regular expression"
    elif not (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)):
        yield f"target_modules is {targets!r}; it must be a non-empty list of module names"
    pattern = config.get("rank_pattern") or {}
    if not isinstance(pattern, dict) or not all(
        is_count(v) and v >= 1 and _compiles(rf"(.*\.)?{k}$") for k, v in pattern.items()
    ):
        yield f"rank_pattern is {pattern!r}; it must map module names to positive integers"


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _target_list(targets: Any) -> list[str]:
    if isinstance(targets, str):
        return [targets]
    return [t for t in targets if isinstance(t, str)] if isinstance(targets, list) else []


def check_shapes(
    tensors: list[TensorInfo], config: dict[str, Any], expected_rank: int | None = None
) -> list[str]:
    """lora_A is [r, in, ...] and lora_B is [out, r, ...]; each targeted module has both."""
    rank = config["r"]
    problems = []
    if expected_rank is not None and rank != expected_rank:
        problems.append(f"config r={rank} but rank {expected_rank} was expected")
    modules: dict[str, dict[str, TensorInfo]] = {}
    for info in tensors:
        match = _LORA_TENSOR.match(info.name)
        if match:
            modules.setdefault(match["module"], {})[match["ab"] or match["eab"]] = info
    for module, pair in sorted(modules.items()):
        module_rank = _module_rank(module, config)
        for side in ("A", "B"):
            info = pair.get(side)
            if info is None:
                problems.append(f"{module} has lora_{'AB'.replace(side, '')} but no lora_{side}")
                continue
            axis = 0 if side == "A" else 1
            if len(info.shape) < 2 or info.shape[axis] != module_rank:
                want = "[r, in]" if side == "A" else "[out, r]"
                shape = list(info.shape)
                problems.append(f"{info.name} has shape {shape}; expected {want}, r={module_rank}")
    problems.extend(_targeting_faults(sorted(modules), config["target_modules"]))
    return problems


def _module_rank(module: str, config: dict[str, Any]) -> int:
    """PEFT's rank_pattern: a key matches a module by suffix (``re.match((.*\\.)?key$)``)."""
    for key, rank in (config.get("rank_pattern") or {}).items():
        if re.match(rf"(.*\.)?{key}$", module):
            return rank
    return config["r"]


def _targeting_faults(modules: list[str], targets: str | list[str]) -> list[str]:
    if isinstance(targets, str):  # PEFT: a regex the full module name must match
        if not any(re.fullmatch(targets, m) for m in modules):
            return [f"no LoRA tensors for any module matching target_modules {targets!r}"]
        stray = [m for m in modules if not re.fullmatch(targets, m)]
    else:
        missing = [t for t in targets if not any(_targets(m, t) for m in modules)]
        stray = [m for m in modules if not any(_targets(m, t) for t in targets)]
        if missing:
            return [f"target module {t!r} has no lora_A/lora_B tensors" for t in missing]
    return [f"{m} has LoRA tensors but is not in target_modules" for m in stray]


def _targets(module: str, target: str) -> bool:
    return module == target or module.endswith("." + target)


def _looks_pickled(path: Path) -> bool:
    """Pickle protocol 2+ opens with PROTO (0x80, version); torch's zip format holds a .pkl."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
            return True
        if head == b"PK\x03\x04" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return False


def manifest_of(path: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` for every file under ``path``; raises OSError."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    return {f.relative_to(path).as_posix(): file_sha256(f) for f in files}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_sha256(manifest: dict[str, str]) -> str:
    """sha256 over the sorted lines ``"<relative path> <sha256>\\n"``: one id for the whole dir."""
    lines = "".join(f"{name} {sha}\n" for name, sha in sorted(manifest.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
